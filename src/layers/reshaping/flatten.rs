//! `Flatten`: reshapes each sample to one axis, `[…] → [product]`.

use crate::error::Result;
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Reshapes each sample to one axis, `[…] → [product]`.
///
/// ```
/// use minibatch::layers::Flatten;
/// let layer = Flatten::new();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Flatten {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Flatten::default()
    }

    /// The layer's name (Keras's `name=`): its key in the summary and its weights' paths.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
}

/// Flatten's saved arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct FlattenConfig {
    name: String,
}

impl Flatten {
    /// The layer a [`FlattenConfig`] describes.
    pub fn from_config(c: FlattenConfig) -> Self {
        Flatten { core: LayerCore::named(&c.name) }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(vec![input_shape.iter().product()])
    }

    // Row-major data is already flat: forward and backward copy the values unchanged.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        crate::layers::pass_forward(x, y);
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        crate::layers::pass_backward(dy, dx);
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(FlattenConfig { name: self.core.name.clone() }).ok()
    }
}
