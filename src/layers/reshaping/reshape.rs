//! `Reshape`: gives each sample a new shape with the same number of values.

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Gives each sample a new shape with the same number of values, e.g. MNIST's
/// `(28, 28)` images as `(28, 28, 1)` for a convolution.
///
/// ```
/// use minibatch::layers::Reshape;
/// let layer = Reshape::new(&[28, 28, 1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reshape {
    target_shape: Vec<usize>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// Reshape's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ReshapeConfig {
    name: String,
    target_shape: Vec<usize>,
}

impl Reshape {
    /// Samples become `target_shape` (without the batch axis, as in Keras).
    pub fn new(target_shape: &[usize]) -> Self {
        Reshape { target_shape: target_shape.to_vec(), core: LayerCore::default() }
    }

    /// The layer a [`ReshapeConfig`] describes.
    pub fn from_config(c: ReshapeConfig) -> Self {
        Reshape { target_shape: c.target_shape, core: LayerCore::named(&c.name) }
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
}

impl Layer for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (from, to) = (input_shape.iter().product::<usize>(), self.target_shape.iter().product::<usize>());
        if self.target_shape.is_empty() || from != to {
            return Err(Error::shape(
                format!("input to layer {}", self.core.name),
                format!("{to} values per sample, to reshape to {:?}", self.target_shape),
                input_shape,
            ));
        }
        Ok(self.target_shape.clone())
    }

    // Row-major data keeps its order: forward and backward copy the values unchanged.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        crate::layers::pass_forward(x, y);
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        crate::layers::pass_backward(dy, dx);
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(ReshapeConfig { name: self.core.name.clone(), target_shape: self.target_shape.clone() })
            .ok()
    }
}
