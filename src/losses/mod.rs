//! Losses with Keras's names, formulas and reduction.
//!
//! Each loss is the mean over the batch of a per-sample loss (Keras's `sum_over_batch_size`).
//! Each file computes the value and its gradient side by side: [`Loss::compute`] returns the
//! *sum* of per-sample losses (so epoch means weight every sample equally) and writes
//! ∂(mean loss)/∂prediction.
//!
//! Cross-entropies on probabilities clip them to `[1e-7, 1 − 1e-7]` as Keras does. When the
//! model's last activation is the matching softmax or sigmoid, the model *fuses* the two: the
//! gradient with respect to the logits is the stable `(p − y) / n` and the softmax derivative
//! is never formed. The reported loss value stays Keras's clipped formula.

mod binary_crossentropy;
mod categorical_crossentropy;
mod mean_absolute_error;
mod mean_squared_error;
mod sparse_categorical_crossentropy;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's clipping constant for probabilities.
pub const EPSILON: f32 = 1e-7;

/// A loss function. See the [module docs](self).
///
/// Saved models write it as `{"class_name": "categorical_crossentropy", "config":
/// {"from_logits": false}}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config", rename_all = "snake_case")]
pub enum Loss {
    /// `mean((y − p)²)` over the last axis.
    MeanSquaredError,
    /// `mean(|y − p|)` over the last axis.
    MeanAbsoluteError,
    /// `mean(−y log p − (1 − y) log(1 − p))` over the last axis; targets in `[0, 1]`.
    BinaryCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
    },
    /// `−Σ y log p` over the last axis; targets one-hot (or any distribution).
    CategoricalCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
    },
    /// `−log p[label]`; targets are integer class indices, shape `[n]` or `[n, 1]`.
    SparseCategoricalCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
    },
}

/// The names [`Loss::from_name`] accepts.
pub const NAMES: &[&str] = &[
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
];

impl Loss {
    /// The loss Keras calls `name` (with `from_logits=False`).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a name not in [`NAMES`].
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "mean_squared_error" | "mse" => Loss::MeanSquaredError,
            "mean_absolute_error" | "mae" => Loss::MeanAbsoluteError,
            "binary_crossentropy" => Loss::BinaryCrossentropy { from_logits: false },
            "categorical_crossentropy" => Loss::CategoricalCrossentropy { from_logits: false },
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy { from_logits: false },
            _ => return Err(Error::UnknownName { kind: "loss", name: name.into(), known: NAMES.to_vec() }),
        })
    }

    /// Keras's name.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
        }
    }

    /// The output activation this loss fuses with (softmax or sigmoid on probabilities).
    pub fn fuses_with(&self) -> Option<Activation> {
        match self {
            Loss::BinaryCrossentropy { from_logits: false } => Some(Activation::Sigmoid),
            Loss::CategoricalCrossentropy { from_logits: false }
            | Loss::SparseCategoricalCrossentropy { from_logits: false } => Some(Activation::Softmax),
            _ => None,
        }
    }

    /// Sum over the batch of per-sample losses. When `grad` is given, also writes the gradient
    /// of the batch *mean* with respect to `pred` — or, when `fused`, with respect to the
    /// logits behind `pred` (see [`Loss::fuses_with`]).
    ///
    /// # Shapes
    /// `pred`: `[n, …, k]`. `target`: the same shape, except sparse: `[n]` or `[n, 1]`.
    pub fn compute(&self, pred: &Tensor, target: &Tensor, grad: Option<&mut [f32]>, fused: bool) -> f64 {
        let n = pred.batch();
        let k = *pred.shape().last().expect("non-empty shape");
        let (p, t) = (pred.data(), target.data());
        match *self {
            Loss::MeanSquaredError => mean_squared_error::compute(p, t, k, n, grad),
            Loss::MeanAbsoluteError => mean_absolute_error::compute(p, t, k, n, grad),
            Loss::BinaryCrossentropy { from_logits } => {
                binary_crossentropy::compute(p, t, k, n, from_logits, fused, grad)
            }
            Loss::CategoricalCrossentropy { from_logits } => {
                categorical_crossentropy::compute(p, t, k, n, from_logits, fused, grad)
            }
            Loss::SparseCategoricalCrossentropy { from_logits } => {
                sparse_categorical_crossentropy::compute(p, t, k, n, from_logits, fused, grad)
            }
        }
    }

    /// The fused path: the gradient with respect to the logits from the probabilities `probs`
    /// (`p − y`, see [`Loss::compute`] with `fused`), and the value from the `logits` behind
    /// them, unclipped, as Keras 3 on TensorFlow computes it (its softmax and sigmoid keep
    /// their logits for the loss). A sample whose label probability is 1e-14 reports
    /// `−log_softmax(z)[label]` ≈ 32, not the 16.118 of clipping at 1e-7. (Keras's jax and torch
    /// backends clip instead.) Losses that do not fuse compute as [`Loss::compute`].
    pub fn compute_fused(&self, probs: &Tensor, logits: &[f32], target: &Tensor, grad: Option<&mut [f32]>) -> f64 {
        let n = probs.batch();
        let k = *probs.shape().last().expect("non-empty shape");
        let t = target.data();
        let value = match *self {
            Loss::BinaryCrossentropy { from_logits: false } => {
                binary_crossentropy::compute(logits, t, k, n, true, false, None)
            }
            Loss::CategoricalCrossentropy { from_logits: false } => {
                categorical_crossentropy::compute(logits, t, k, n, true, false, None)
            }
            Loss::SparseCategoricalCrossentropy { from_logits: false } => {
                sparse_categorical_crossentropy::compute(logits, t, k, n, true, false, None)
            }
            _ => return self.compute(probs, target, grad, false),
        };
        if let Some(g) = grad {
            self.compute(probs, target, Some(g), true);
        }
        value
    }

    /// Checks that targets `y` fit predictions of per-sample shape `output` for this loss:
    /// shapes, and label ranges (binary targets in `[0, 1]`, sparse labels integers in
    /// `[0, k)`, categorical targets non-negative).
    pub fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        let k = *output.last().unwrap_or(&1);
        let out_len: usize = output.iter().product();
        let sparse = matches!(self, Loss::SparseCategoricalCrossentropy { .. });
        let want = if sparse { out_len / k } else { out_len };
        if y.row_len() != want {
            let expected = if sparse {
                format!("integer labels of shape [n] or [n, 1] for {} (model output {:?})", self.name(), output)
            } else {
                format!(
                    "[n, {}] to match the model's output {:?}",
                    output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                    output
                )
            };
            return Err(Error::Shape {
                what: format!("y for loss {}", self.name()),
                expected,
                received: format!("{:?}", y.shape()),
            });
        }
        let bad = |i: usize, expected: String| {
            Err(Error::Label { sample: i / y.row_len().max(1), label: y.data()[i], expected })
        };
        match self {
            Loss::SparseCategoricalCrossentropy { .. } => {
                if let Some(i) = y.data().iter().position(|&v| v < 0.0 || v >= k as f32 || v.fract() != 0.0) {
                    return bad(i, format!("an integer class index in [0, {k}) for {}", self.name()));
                }
            }
            Loss::BinaryCrossentropy { .. } => {
                if let Some(i) = y.data().iter().position(|&v| !(0.0..=1.0).contains(&v)) {
                    return bad(i, "a target in [0, 1] for binary_crossentropy".into());
                }
            }
            Loss::CategoricalCrossentropy { .. } => {
                if let Some(i) = y.data().iter().position(|&v| v < 0.0) {
                    return bad(i, "non-negative (one-hot) targets for categorical_crossentropy".into());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Something `compile` accepts as a loss: Keras's name or a [`Loss`].
pub trait IntoLoss {
    /// Resolves it.
    fn into_loss(self) -> Result<Loss>;
}

impl IntoLoss for Loss {
    fn into_loss(self) -> Result<Loss> {
        Ok(self)
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<Loss> {
        Loss::from_name(self)
    }
}
