//! `Activation`: applies an activation function as a layer of its own.
//!
//! ```
//! use minibatch::layers::ActivationLayer;
//! let softmax = ActivationLayer::new("softmax");
//! ```

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{IntoActivation, Layer};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Activation` layer (named `ActivationLayer` here because [`Activation`] is the
/// function itself).
#[derive(Debug, Clone)]
pub struct ActivationLayer {
    activation: Result<Activation>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    cols: usize,
    fused: bool,
    /// Keras's class when made as `LeakyReLU`, `ELU` or `Softmax`; else `Activation`.
    class: &'static str,
}

impl ActivationLayer {
    /// A layer applying `activation` (an [`Activation`] or Keras's name).
    pub fn new(activation: impl IntoActivation) -> Self {
        ActivationLayer {
            activation: activation.into_activation(),
            cols: 0,
            fused: false,
            class: "Activation",
            core: LayerCore::default(),
        }
    }

    /// The layer's name (Keras's `name=`): its key in the summary and its weights' paths.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The same layer under another of Keras's class names (`LeakyReLU`, `ELU`, `Softmax`).
    pub(crate) fn class(mut self, class: &'static str) -> Self {
        self.class = class;
        self
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
        let mut layer = ActivationLayer::new(c.activation);
        layer.core.name = c.name;
        layer
    }

    /// A `LeakyReLU`, `ELU` or `Softmax` layer from Keras's config of that class.
    ///
    /// # Errors
    /// Another class, or a softmax over an axis other than the last.
    pub fn from_class_config(class: &str, c: &serde_json::Value) -> Result<Self> {
        let name = c.get("name").and_then(|v| v.as_str()).unwrap_or_default();
        let number = |key: &str, default: f64| c.get(key).and_then(|v| v.as_f64()).unwrap_or(default) as f32;
        let layer = match class {
            "LeakyReLU" => crate::layers::LeakyReLU::with_slope(number("negative_slope", 0.3)),
            "ELU" => crate::layers::ELU::with_alpha(number("alpha", 1.0)),
            "Softmax" => {
                let axis = c.get("axis").and_then(|v| v.as_i64()).unwrap_or(-1);
                if axis != -1 {
                    return Err(crate::Error::invalid("axis", axis, "-1 (the last axis)"));
                }
                crate::layers::Softmax::new()
            }
            other => return Err(crate::Error::State(format!("no activation layer class {other}"))),
        };
        let mut layer = layer;
        layer.core.name = name.into();
        Ok(layer)
    }
}

impl Layer for ActivationLayer {
    fn check_arguments(&self) -> Result<()> {
        self.activation.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        self.class
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let activation = self.activation.clone()?;
        if input_shape.is_empty() && activation == Activation::Softmax {
            // Keras would take the softmax over the batch axis, the only one there is.
            return Err(Error::shape(
                format!("input to layer {} (softmax)", self.core.name),
                "samples of at least one axis: a softmax over one value per sample would run across the batch in Keras",
                input_shape,
            ));
        }
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

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        let activation = self.activation.clone().ok()?;
        match (self.class, activation) {
            ("LeakyReLU", Activation::LeakyRelu { negative_slope }) => {
                Some(serde_json::json!({ "name": self.core.name, "negative_slope": negative_slope }))
            }
            ("ELU", Activation::Elu { alpha }) => Some(serde_json::json!({ "name": self.core.name, "alpha": alpha })),
            ("Softmax", _) => Some(serde_json::json!({ "name": self.core.name, "axis": -1 })),
            _ => serde_json::to_value(ActivationConfig { name: self.core.name.clone(), activation }).ok(),
        }
    }
}
