//! `Rescaling` (see the type).

use crate::error::Result;
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Rescaling(scale, offset=0.0)`: `y = x · scale + offset` (pixels of 0..255 to
/// `[0, 1]` with `scale` 1/255), the same in training and inference.
///
/// ```
/// use minibatch::layers::Rescaling;
/// let to_unit = Rescaling::new(1.0 / 255.0);
/// let to_symmetric = Rescaling::new(1.0 / 127.5).offset(-1.0);
/// ```
#[derive(Debug, Clone)]
pub struct Rescaling {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    scale: f32,
    offset: f32,
}

/// Rescaling's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RescalingConfig {
    name: String,
    scale: f32,
    offset: f32,
}

impl Rescaling {
    /// `y = x · scale`.
    pub fn new(scale: f32) -> Self {
        Rescaling { scale, offset: 0.0, core: LayerCore::default() }
    }

    /// Added after scaling (default 0).
    pub fn offset(mut self, offset: f32) -> Self {
        self.offset = offset;
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`RescalingConfig`] describes.
    pub fn from_config(c: RescalingConfig) -> Self {
        Rescaling::new(c.scale).offset(c.offset).name(&c.name)
    }
}

impl Layer for Rescaling {
    fn kind(&self) -> &'static str {
        "Rescaling"
    }

    crate::layers::lends_core!();

    fn check_arguments(&self) -> Result<()> {
        if self.scale.is_finite() && self.offset.is_finite() {
            return Ok(());
        }
        let value = format!("scale {} and offset {}", self.scale, self.offset);
        Err(crate::Error::invalid("Rescaling", value, format!("finite numbers (layer {})", self.core.name)))
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let (s, o) = (self.scale, self.offset);
        y.data_mut().iter_mut().zip(x.data()).for_each(|(y, &x)| *y = x * s + o);
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            let s = self.scale;
            dx.data_mut().iter_mut().zip(dy.data()).for_each(|(d, &g)| *d = g * s);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = RescalingConfig { name: self.core.name.clone(), scale: self.scale, offset: self.offset };
        serde_json::to_value(c).ok()
    }
}
