//! `Activation`: applies an activation function as a layer of its own.
//!
//! ```
//! use minibatch::layers::ActivationLayer;
//! let softmax = ActivationLayer::new("softmax");
//! ```

use super::{IntoActivation, Layer};
use crate::activations::Activation;
use crate::error::Result;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Activation` layer (named `ActivationLayer` here because [`Activation`] is the
/// function itself).
#[derive(Debug, Clone)]
pub struct ActivationLayer {
    activation: Result<Activation>,
    name: String,
    cols: usize,
    fused: bool,
}

impl ActivationLayer {
    /// A layer applying `activation` (an [`Activation`] or Keras's name).
    pub fn new(activation: impl IntoActivation) -> Self {
        ActivationLayer { activation: activation.into_activation(), name: String::new(), cols: 0, fused: false }
    }

    fn act(&self) -> Activation {
        *self.activation.as_ref().expect("activation checked in build")
    }
}

/// The Activation layer's saved arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ActivationConfig {
    name: String,
    activation: Activation,
}

impl ActivationLayer {
    /// The layer an [`ActivationConfig`] describes.
    pub fn from_config(c: ActivationConfig) -> Self {
        ActivationLayer { name: c.name, ..ActivationLayer::new(c.activation) }
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        "Activation"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.activation.clone()?;
        self.cols = *input_shape.last().unwrap_or(&1);
        Ok(input_shape.to_vec())
    }

    // # Shapes
    // x, y: [batch, …, cols]; softmax acts over cols
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        y.data_mut().copy_from_slice(x.data());
        self.act().forward(y.data_mut(), self.cols);
    }

    // dx = dy ⊙ f'(x)
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.data_mut().copy_from_slice(dy.data());
            if !self.fused {
                self.act().backward(dx.data_mut(), x.data(), y.data(), self.cols);
            }
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation.clone().unwrap_or(Activation::Linear)
    }

    fn fuse_output_activation(&mut self, fused: bool) {
        self.fused = fused;
    }

    fn config(&self) -> Option<serde_json::Value> {
        let activation = self.activation.clone().ok()?;
        serde_json::to_value(ActivationConfig { name: self.name.clone(), activation }).ok()
    }
}
