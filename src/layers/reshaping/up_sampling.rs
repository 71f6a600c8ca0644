//! `UpSampling2D` (see the type).

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Repeats each pixel of images `[h, w, c]` `size` times down and across, as Keras's
/// `UpSampling2D(size=(2, 2), interpolation="nearest")`: `y[i, j] = x[i / sh, j / sw]`.
/// Backward sums each block's gradient into its pixel. (Keras's `bilinear` and the other
/// interpolations are not here.)
///
/// ```
/// use minibatch::layers::UpSampling2D;
/// let twice = UpSampling2D::new(2);
/// let wide = UpSampling2D::with_size(1, 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct UpSampling2D {
    size: [usize; 2],
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    in_shape: [usize; 3],
}

/// UpSampling2D's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct UpSampling2DConfig {
    name: String,
    size: [usize; 2],
    interpolation: String,
}

impl UpSampling2D {
    /// `s` times in both directions.
    pub fn new(s: usize) -> Self {
        UpSampling2D::with_size(s, s)
    }
    /// `sh` times down, `sw` times across.
    pub fn with_size(sh: usize, sw: usize) -> Self {
        UpSampling2D { size: [sh, sw], ..UpSampling2D::default() }
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// The layer an [`UpSampling2DConfig`] describes.
    ///
    /// # Errors
    /// An interpolation other than `nearest`.
    pub fn from_config(c: UpSampling2DConfig) -> Result<Self> {
        if c.interpolation != "nearest" {
            return Err(Error::invalid("interpolation", c.interpolation, "nearest"));
        }
        Ok(UpSampling2D::with_size(c.size[0], c.size[1]).name(&c.name))
    }
}

impl Layer for UpSampling2D {
    fn kind(&self) -> &'static str {
        "UpSampling2D"
    }

    crate::layers::lends_core!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let [h, w, c] = crate::tensor::window::spatial_input(2, input_shape, &self.core.name)?;
        if self.size.contains(&0) {
            return Err(Error::invalid(
                "size",
                format!("{:?}", self.size),
                format!("positive factors (layer {})", self.core.name),
            ));
        }
        self.in_shape = [h, w, c];
        Ok(vec![h * self.size[0], w * self.size[1], c])
    }
    // # Shapes
    // x: [n, h, w, c]; y: [n, h·sh, w·sw, c]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let [h, w, c] = self.in_shape;
        let [sh, sw] = self.size;
        let (oh, ow) = (h * sh, w * sw);
        let out = y.data_mut();
        for (b, img) in x.data().chunks_exact(h * w * c).enumerate() {
            for i in 0..oh {
                for j in 0..ow {
                    let src = ((i / sh) * w + j / sw) * c;
                    let dst = ((b * oh + i) * ow + j) * c;
                    out[dst..dst + c].copy_from_slice(&img[src..src + c]);
                }
            }
        }
    }
    // dx[i, j] = Σ over its block of dy
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let [h, w, c] = self.in_shape;
        let [sh, sw] = self.size;
        let (oh, ow) = (h * sh, w * sw);
        let (g, d) = (dy.data(), dx.data_mut());
        d.fill(0.0);
        for b in 0..x.batch() {
            for i in 0..oh {
                for j in 0..ow {
                    let dst = ((b * h + i / sh) * w + j / sw) * c;
                    let src = ((b * oh + i) * ow + j) * c;
                    crate::tensor::kernels::add(&mut d[dst..dst + c], &g[src..src + c]);
                }
            }
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        let c = UpSampling2DConfig { name: self.core.name.clone(), size: self.size, interpolation: "nearest".into() };
        serde_json::to_value(c).ok()
    }
}
