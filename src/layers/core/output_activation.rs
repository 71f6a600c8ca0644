//! The activation at the end of `Dense` and `Conv`, with its derivative beside it: keeps the
//! pre-activation values when the derivative needs them or when the loss has fused the
//! activation (the loss then takes its value from these logits, and `backward` skips the
//! derivative; see [`Layer::fuse_output_activation`](crate::layers::Layer)).

use crate::activations::Activation;
use crate::tensor::Tensor;

/// An output activation's workspace and fusion flag.
#[derive(Debug, Clone)]
pub(crate) struct OutputActivation {
    /// Pre-activation values of the latest batch, for activations whose derivative needs them
    /// and for a fused loss.
    pre: Tensor,
    /// Values of the latest batch in `pre`.
    len: usize,
    /// The loss hands `backward` the gradient with respect to the pre-activation.
    pub fused: bool,
}

impl Default for OutputActivation {
    fn default() -> Self {
        OutputActivation { pre: Tensor::zeros(&[0]), len: 0, fused: false }
    }
}

impl OutputActivation {
    /// Room for `values` pre-activation values when `act` needs them.
    pub fn plan(&mut self, act: Activation, values: usize) {
        if (act.needs_input() || self.fused) && self.pre.len() < values {
            self.pre = Tensor::zeros(&[values]);
        }
    }

    /// The bytes [`OutputActivation::plan`] reserves for `values`, from nothing.
    pub fn planned_bytes(&self, act: Activation, values: usize) -> usize {
        if act.needs_input() || self.fused {
            4 * values
        } else {
            0
        }
    }

    /// Applies `act` to `y` (rows of `cols`), keeping the pre-activation if needed.
    pub fn forward(&mut self, act: Activation, y: &mut [f32], cols: usize) {
        if act.needs_input() || self.fused {
            if self.pre.len() < y.len() {
                // Fused after the buffers were planned (a recompiled model): sized once here.
                self.pre = Tensor::zeros(&[y.len()]);
            }
            self.pre.data_mut()[..y.len()].copy_from_slice(y);
            self.len = y.len();
        }
        act.forward(y, cols);
    }

    /// The logits of the latest batch when the loss has fused the activation.
    pub fn logits(&self) -> Option<&[f32]> {
        self.fused.then(|| &self.pre.data()[..self.len])
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
