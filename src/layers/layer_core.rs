//! [`LayerCore`]: what every layer holds the same way, so that the [`Layer`](super::Layer)
//! trait is left with what differs — as [`Optimizer::base`](crate::optimizers::Optimizer::base)
//! holds what every optimizer shares.

use super::core::output_activation::OutputActivation;
use super::{DTypePolicy, GradientNorms, Param};
use crate::activations::Activation;
use crate::layers::Regularization;
use crate::rng::Rng;
use crate::tensor::kernels::Precision;

/// The parts every layer has: its name, whether it trains, its weights, their penalties and constraints, its
/// fused output activation, and a random layer's seed and draws. A layer holds one and lends
/// it through [`Layer::core`](super::Layer::core) and
/// [`Layer::core_mut`](super::Layer::core_mut); the trait's defaults for `name`, `params`,
/// the output fusion, the activity penalty and the sample offset read it.
///
/// ```
/// use minibatch::layers::LayerCore;
/// let core = LayerCore::named("encoder");
/// assert_eq!(core.name, "encoder");
/// assert!(core.params.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct LayerCore {
    /// Given by the user, else assigned by the model (`dense`, `dense_1`).
    pub name: String,
    /// The trainable parameters, in the order the optimizer and the saved file walk them.
    pub params: Vec<Param>,
    /// The penalties on the weights and the output, and the weights' constraints
    /// (Keras's `kernel_regularizer`, …, `kernel_constraint`, …).
    pub reg: Regularization,
    /// The activation applied last and, when the loss fuses it, the logits the loss reads
    /// (see [`Layer::fuse_output_activation`](super::Layer::fuse_output_activation)).
    pub(crate) output: OutputActivation,
    /// A random layer's own seed (else one is drawn from the model's when it is built).
    pub seed: Option<u64>,
    /// A random layer's generator: one key per training step, drawn from it.
    pub rng: Rng,
    /// The position in the global batch of the batch's first sample: a random layer keys each
    /// sample's draw by it (see [`Layer::set_sample_offset`](super::Layer::set_sample_offset)).
    pub offset: usize,
    /// Keras's `trainable`: false freezes the layer (see
    /// [`Layer::set_trainable`](super::Layer::set_trainable)).
    pub trainable: bool,
    /// Per-sample gradient norms, computed in backward when asked for by the gradient noise
    /// scale (a Dense layer on one row per sample does; see [`GradientNorms`]).
    pub gradient_norms: GradientNorms,
    /// The layer's own dtype policy (Keras's `dtype=`, see [`DTypePolicy`]); `None`: the
    /// model's, else the global one.
    pub dtype: Option<DTypePolicy>,
    /// The policy in force, fixed when the model is built.
    pub(crate) policy: DTypePolicy,
}

impl Default for LayerCore {
    fn default() -> Self {
        LayerCore {
            name: String::new(),
            params: Vec::new(),
            reg: Regularization::default(),
            output: OutputActivation::default(),
            seed: None,
            rng: Rng::new(0),
            offset: 0,
            trainable: true,
            gradient_norms: GradientNorms::default(),
            dtype: None,
            policy: DTypePolicy::Float32,
        }
    }
}

impl LayerCore {
    /// A core with this name and nothing else yet.
    pub fn named(name: &str) -> Self {
        LayerCore { name: name.into(), ..LayerCore::default() }
    }

    /// The precision of the layer's matrix products under its policy (see [`DTypePolicy`]).
    pub fn precision(&self) -> Precision {
        if self.policy.computes_in_bf16() {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }

    /// The policy in force (fixed when the model is built; `float32` before).
    pub fn policy(&self) -> DTypePolicy {
        self.policy
    }

    /// `dz = dy ⊙ f'(z)` in place, through the fused output activation `act` (`cols` values a
    /// row). Under `mixed_bfloat16`, `dz` is a bf16 tensor, as Keras's is: rounded here.
    pub(crate) fn activation_backward(&self, act: Activation, dy: &mut [f32], y: &[f32], cols: usize) {
        self.output.backward(act, dy, y, cols);
        if self.policy.computes_in_bf16() {
            crate::tensor::bf16::round_in_place(dy);
        }
    }
}

/// `.dtype(policy)` on every layer, as Keras's `dtype=` argument:
/// `Dense::new(10).dtype(DTypePolicy::Float32)` keeps a layer in f32 under a
/// `mixed_bfloat16` model.
pub trait WithDType: super::Layer + Sized {
    /// The layer's own dtype policy (see [`DTypePolicy`]).
    fn dtype(mut self, policy: DTypePolicy) -> Self {
        self.core_mut().dtype = Some(policy);
        self
    }
}

impl<L: super::Layer + Sized> WithDType for L {}

/// `core()` and `core_mut()` for a layer that keeps its [`LayerCore`] in a field `core`, written
/// inside its `impl Layer` (`crate::layers::lends_core!();`).
macro_rules! lends_core {
    () => {
        fn core(&self) -> &$crate::layers::LayerCore {
            &self.core
        }

        fn core_mut(&mut self) -> &mut $crate::layers::LayerCore {
            &mut self.core
        }
    };
}
pub(crate) use lends_core;
