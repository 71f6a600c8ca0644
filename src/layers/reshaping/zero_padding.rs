//! `ZeroPadding2D` (see the type).

use crate::error::Result;
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Pads images `[h, w, c]` with zeros: `((top, bottom), (left, right))` rows and columns, as
/// Keras's `ZeroPadding2D(padding=(1, 1))` (channels last). Backward crops the gradient.
///
/// ```
/// use minibatch::layers::ZeroPadding2D;
/// let same_border = ZeroPadding2D::new(1);                 // one pixel all round
/// let uneven = ZeroPadding2D::with_padding([[0, 1], [2, 2]]); // top, bottom; left, right
/// ```
#[derive(Debug, Clone, Default)]
pub struct ZeroPadding2D {
    padding: [[usize; 2]; 2],
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    in_shape: [usize; 3],
}

/// ZeroPadding2D's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ZeroPadding2DConfig {
    name: String,
    padding: [[usize; 2]; 2],
}

impl ZeroPadding2D {
    /// `p` rows and columns on every side.
    pub fn new(p: usize) -> Self {
        ZeroPadding2D::with_padding([[p, p], [p, p]])
    }
    /// `[[top, bottom], [left, right]]`.
    pub fn with_padding(padding: [[usize; 2]; 2]) -> Self {
        ZeroPadding2D { padding, ..ZeroPadding2D::default() }
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// The layer a [`ZeroPadding2DConfig`] describes.
    pub fn from_config(c: ZeroPadding2DConfig) -> Self {
        ZeroPadding2D::with_padding(c.padding).name(&c.name)
    }
    fn out_hw(&self) -> (usize, usize) {
        let [h, w, _] = self.in_shape;
        (h + self.padding[0][0] + self.padding[0][1], w + self.padding[1][0] + self.padding[1][1])
    }
}

impl Layer for ZeroPadding2D {
    fn kind(&self) -> &'static str {
        "ZeroPadding2D"
    }

    crate::layers::lends_core!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let [h, w, c] = crate::tensor::window::spatial_input(2, input_shape, &self.core.name)?;
        self.in_shape = [h, w, c];
        let (oh, ow) = self.out_hw();
        Ok(vec![oh, ow, c])
    }
    // # Shapes
    // x: [n, h, w, c]; y: [n, h + top + bottom, w + left + right, c]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let [h, w, c] = self.in_shape;
        let (oh, ow) = self.out_hw();
        let (top, left) = (self.padding[0][0], self.padding[1][0]);
        let out = y.data_mut();
        out.fill(0.0);
        for (b, img) in x.data().chunks_exact(h * w * c).enumerate() {
            for i in 0..h {
                let dst = ((b * oh + top + i) * ow + left) * c;
                out[dst..dst + w * c].copy_from_slice(&img[i * w * c..(i + 1) * w * c]);
            }
        }
    }
    // dx = the inner window of dy
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let [h, w, c] = self.in_shape;
        let (oh, ow) = self.out_hw();
        let (top, left) = (self.padding[0][0], self.padding[1][0]);
        let g = dy.data();
        for b in 0..x.batch() {
            for i in 0..h {
                let src = ((b * oh + top + i) * ow + left) * c;
                let dst = (b * h + i) * w * c;
                dx.data_mut()[dst..dst + w * c].copy_from_slice(&g[src..src + w * c]);
            }
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(ZeroPadding2DConfig { name: self.core.name.clone(), padding: self.padding }).ok()
    }
}
