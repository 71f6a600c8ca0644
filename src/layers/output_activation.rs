//! The activation at the end of `Dense` and `Conv`, with its derivative beside it: keeps the
//! pre-activation values only when the derivative needs them, and skips the derivative when
//! the loss has fused it (see [`Layer::fuse_output_activation`](super::Layer)).

use crate::activations::Activation;
use crate::tensor::Tensor;

/// An output activation's workspace and fusion flag.
#[derive(Debug, Clone)]
pub(crate) struct OutputActivation {
    /// Pre-activation values of the latest batch, for activations whose derivative needs them.
    pre: Tensor,
    /// The loss hands `backward` the gradient with respect to the pre-activation.
    pub fused: bool,
}

impl Default for OutputActivation {
    fn default() -> Self {
        OutputActivation { pre: Tensor::zeros(&[0]), fused: false }
    }
}

impl OutputActivation {
    /// Room for `values` pre-activation values when `act` needs them.
    pub fn plan(&mut self, act: Activation, values: usize) {
        if act.needs_input() && self.pre.len() < values {
            self.pre = Tensor::zeros(&[values]);
        }
    }

    /// Applies `act` to `y` (rows of `cols`), keeping the pre-activation if needed.
    pub fn forward(&mut self, act: Activation, y: &mut [f32], cols: usize) {
        if act.needs_input() {
            self.pre.data_mut()[..y.len()].copy_from_slice(y);
        }
        act.forward(y, cols);
    }

    /// Turns `dy` (∂loss/∂y) into ∂loss/∂(pre-activation), unless fused.
    pub fn backward(&self, act: Activation, dy: &mut [f32], y: &[f32], cols: usize) {
        if !self.fused {
            let pre = &self.pre.data()[..if act.needs_input() { y.len() } else { 0 }];
            act.backward(dy, pre, y, cols);
        }
    }

    /// Bytes of the workspace.
    pub fn bytes(&self) -> usize {
        self.pre.len() * 4
    }
}
