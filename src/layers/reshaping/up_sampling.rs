//! `UpSampling2D` (see the type).

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Repeats each pixel of images `[h, w, c]` `size` times down and across, as Keras's
/// `UpSampling2D(size=(2, 2), interpolation="nearest")`: `y[i, j] = x[i / sh, j / sw]`.
/// Backward sums each block's gradient into its pixel.
///
/// With `interpolation("bilinear")`, each output pixel is the bilinear blend of the four
/// input pixels around its centre, as Keras's (`jax.image.resize`, half-pixel centres, the
/// edges clamped):
///
/// ```text
/// r = clamp((i + ½) / sh − ½, 0, h − 1),  i₀ = ⌊r⌋, i₁ = min(i₀ + 1, h − 1), t = r − i₀   (and j₀, j₁, u across)
/// y[i, j] = (1−t)(1−u) x[i₀, j₀] + (1−t) u x[i₀, j₁] + t (1−u) x[i₁, j₀] + t u x[i₁, j₁]
/// ```
///
/// and backward adds each output's gradient into those four pixels with the same weights.
/// (Keras's `bicubic`, `lanczos3`, `lanczos5` and `area` are refused by name.)
///
/// ```
/// use minibatch::layers::UpSampling2D;
/// let twice = UpSampling2D::new(2);
/// let wide = UpSampling2D::with_size(1, 3).interpolation("bilinear");
/// ```
#[derive(Debug, Clone, Default)]
pub struct UpSampling2D {
    size: [usize; 2],
    /// Keras's `interpolation` as given (`""` is the default, `nearest`), checked when built.
    interpolation: String,
    /// Bilinear: per output row and column, `(i₀, i₁, t)`.
    rows: Vec<(usize, usize, f32)>,
    cols: Vec<(usize, usize, f32)>,
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
    /// Keras's `interpolation`: `"nearest"` (the default) or `"bilinear"` (others are refused
    /// when the model is built).
    pub fn interpolation(mut self, interpolation: &str) -> Self {
        self.interpolation = interpolation.into();
        self
    }

    /// Blends the four neighbours (Keras's `bilinear`) rather than repeating (`nearest`).
    fn bilinear(&self) -> bool {
        self.interpolation == "bilinear"
    }
    /// The layer an [`UpSampling2DConfig`] describes.
    ///
    /// # Errors
    /// An interpolation other than `nearest` or `bilinear`.
    pub fn from_config(c: UpSampling2DConfig) -> Result<Self> {
        if !matches!(c.interpolation.as_str(), "nearest" | "bilinear") {
            return Err(Error::invalid("interpolation", c.interpolation, "nearest or bilinear"));
        }
        Ok(UpSampling2D::with_size(c.size[0], c.size[1]).interpolation(&c.interpolation).name(&c.name))
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
        if !matches!(self.interpolation.as_str(), "" | "nearest" | "bilinear") {
            return Err(Error::invalid(
                "interpolation",
                &self.interpolation,
                format!(
                    "nearest or bilinear (layer {}; Keras's bicubic, lanczos and area are not here)",
                    self.core.name
                ),
            ));
        }
        self.in_shape = [h, w, c];
        if self.bilinear() {
            self.rows = super::resample::steps(h, h * self.size[0], true);
            self.cols = super::resample::steps(w, w * self.size[1], true);
        }
        Ok(vec![h * self.size[0], w * self.size[1], c])
    }
    // # Shapes
    // x: [n, h, w, c]; y: [n, h·sh, w·sw, c]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let [h, w, c] = self.in_shape;
        let [sh, sw] = self.size;
        let (oh, ow) = (h * sh, w * sw);
        let out = y.data_mut();
        if self.bilinear() {
            super::resample::forward(x.data(), out, (h, w, c), &self.rows, &self.cols);
            return;
        }
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
        if self.bilinear() {
            super::resample::backward(g, d, (h, w, c), &self.rows, &self.cols);
            return;
        }
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
        let interpolation = if self.bilinear() { "bilinear" } else { "nearest" }.into();
        let c = UpSampling2DConfig { name: self.core.name.clone(), size: self.size, interpolation };
        serde_json::to_value(c).ok()
    }
}
