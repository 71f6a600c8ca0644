//! Keras's dtype policies: the dtype a layer keeps its weights in and the one it computes in.
//!
//! | policy | weights and optimizer state | matrix products | layer outputs and their gradients |
//! |---|---|---|---|
//! | `float32` (default) | f32 | f32 | f32 |
//! | `mixed_bfloat16` | f32 | inputs rounded to bf16, sums in f32 ([`matmul_bf16`]) | rounded to bf16 |
//!
//! As Keras's `mixed_bfloat16`: variables stay f32 (the update is exact), the products run in
//! bf16 (on AMX or AVX512-BF16 where the processor has them, see
//! [`isa`](crate::tensor::isa)), and losses and metrics are computed in f32. Where Keras rounds
//! to bf16, minibatch does: a Dense layer's product, its bias and their sum, its activation's
//! output; the gradient arriving at a bf16 tensor, `dz`, and the weights' gradients (the
//! weights were used as bf16). Against Keras 3's own runs (`tests/all/mixed_precision.rs`) the
//! forward pass is Keras's bit for bit and a History agrees to 4e-4.
//!
//! Departures, by design:
//! - The layers that give the model's outputs compute in float32 unless given a policy of
//!   their own: Keras's mixed-precision guide asks for `dtype="float32"` on the last layer,
//!   minibatch does it for you.
//! - Activation derivatives, batch normalization and other element-wise work compute in f32
//!   and round their outputs once, where Keras's bf16 arithmetic rounds after each operation
//!   (tanh's derivative `1 − y²` three times): a little more accurate.
//! - Tensors are held in f32 storage with bf16 values: activations take f32's memory
//!   (Keras's take half).
//! - The convolutions, Dense and the products of the layers built on them compute in bf16;
//!   recurrent cells and attention still compute their products in f32 (their outputs are
//!   rounded to bf16 as every layer's).
//!
//! A layer takes the policy it is given ([`LayerCore::dtype`](super::LayerCore::dtype), Keras's
//! `dtype=`), else float32 if it gives a model output, else its model's
//! ([`Model::dtype_policy`](crate::models::Model::dtype_policy)), else the global one
//! ([`set_dtype_policy`], Keras's `keras.config.set_dtype_policy`), when the model is built.
//!
//! ```
//! use minibatch::layers::DTypePolicy;
//! assert_eq!(DTypePolicy::parse("mixed_bfloat16").unwrap(), DTypePolicy::MixedBfloat16);
//! assert!(DTypePolicy::parse("mixed_float16").is_err());
//! ```
//!
//! [`matmul_bf16`]: crate::tensor::kernels::matmul_bf16

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU8, Ordering};

/// A dtype policy (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DTypePolicy {
    /// Everything in f32.
    #[default]
    Float32,
    /// Weights in f32, products and layer outputs in bf16.
    MixedBfloat16,
}

impl DTypePolicy {
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            DTypePolicy::Float32 => "float32",
            DTypePolicy::MixedBfloat16 => "mixed_bfloat16",
        }
    }

    /// The policy a Keras name stands for (`float32`, `mixed_bfloat16`). `mixed_float16`
    /// (float16 with loss scaling) and `bfloat16` (weights in bf16 too) are refused by name.
    pub fn parse(name: &str) -> Result<DTypePolicy> {
        match name {
            "float32" => Ok(DTypePolicy::Float32),
            "mixed_bfloat16" => Ok(DTypePolicy::MixedBfloat16),
            _ => Err(Error::invalid("dtype policy", name, "float32 or mixed_bfloat16")),
        }
    }

    /// Whether the layer's products and outputs are bf16.
    pub fn computes_in_bf16(self) -> bool {
        self == DTypePolicy::MixedBfloat16
    }

    /// Keras's serialized form, as layer configs carry it.
    pub fn to_keras(self) -> serde_json::Value {
        serde_json::json!({ "module": "keras", "class_name": "DTypePolicy", "config": { "name": self.name() }, "registered_name": null })
    }

    /// The policy of a layer config's `dtype` (Keras's object, or a bare name); `None` when
    /// absent.
    pub fn from_keras(value: Option<&serde_json::Value>) -> Result<Option<DTypePolicy>> {
        let Some(v) = value.filter(|v| !v.is_null()) else { return Ok(None) };
        let name = v.pointer("/config/name").or(Some(v)).and_then(serde_json::Value::as_str);
        match name {
            Some(n) => DTypePolicy::parse(n).map(Some),
            None => Err(Error::invalid("dtype policy", v, "a policy name such as \"float32\"")),
        }
    }
}

static GLOBAL: AtomicU8 = AtomicU8::new(0);

/// Sets the policy of layers that have none of their own, in models built from now on
/// (Keras's `keras.config.set_dtype_policy`, formerly `mixed_precision.set_global_policy`).
pub fn set_dtype_policy(policy: DTypePolicy) {
    GLOBAL.store(policy as u8, Ordering::Relaxed);
}

/// The global policy ([`set_dtype_policy`]; `float32` unless set).
pub fn dtype_policy() -> DTypePolicy {
    match GLOBAL.load(Ordering::Relaxed) {
        0 => DTypePolicy::Float32,
        _ => DTypePolicy::MixedBfloat16,
    }
}
