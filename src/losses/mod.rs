//! Losses with Keras's names, formulas and reduction, and the [`Loss`] trait a user implements
//! to train with their own.
//!
//! A loss is computed row by row: a *row* is one vector along the last axis of the output (a
//! sample's `k` class scores, say). [`Loss::row`] returns the row's loss and, when asked, its
//! gradient; the model then reduces as Keras's `sum_over_batch_size` does:
//!
//! ```text
//! batch loss = Σ_rows w(row) · L(row) / number of rows
//! ```
//!
//! where `w` is the row's sample weight (1 without `sample_weight` or `class_weight`). The
//! reported epoch `loss` is the mean of the batch losses weighted by batch size, as Keras's
//! loss tracker; regularization penalties are added to it (see [`crate::regularizers`]).
//!
//! | name | Keras class | per row |
//! |---|---|---|
//! | `mean_squared_error` (`mse`) | `MeanSquaredError` | `mean (p − y)²` |
//! | `mean_absolute_error` (`mae`) | `MeanAbsoluteError` | `mean |p − y|` |
//! | `mean_absolute_percentage_error` (`mape`) | `MeanAbsolutePercentageError` | `100 · mean |y − p| / max(|y|, ε)` |
//! | `mean_squared_logarithmic_error` (`msle`) | `MeanSquaredLogarithmicError` | `mean (log(p + 1) − log(y + 1))²` |
//! | `huber` | `Huber(delta=1)` | quadratic within `delta`, linear beyond |
//! | `log_cosh` | `LogCosh` | `mean log cosh(p − y)` |
//! | `binary_crossentropy` | `BinaryCrossentropy` | `mean −y log p − (1 − y) log(1 − p)` |
//! | `categorical_crossentropy` | `CategoricalCrossentropy` | `−Σ y log p` |
//! | `sparse_categorical_crossentropy` | `SparseCategoricalCrossentropy` | `−log p[label]` |
//! | `kl_divergence` (`kld`) | `KLDivergence` | `Σ y log(y / p)` |
//! | `poisson` | `Poisson` | `mean p − y log p` |
//! | `hinge`, `squared_hinge` | `Hinge`, `SquaredHinge` | `mean max(1 − y p, 0)` (squared) |
//! | `categorical_hinge` | `CategoricalHinge` | `max(max_{j≠y} p_j − p_y + 1, 0)` |
//! | `cosine_similarity` | `CosineSimilarity` | `−cos(y, p)` |
//! | `binary_focal_crossentropy` | `BinaryFocalCrossentropy` | `mean (1 − p_t)^γ · bce` (balanced by `α`) |
//! | `categorical_focal_crossentropy` | `CategoricalFocalCrossentropy` | `Σ α (1 − p)^γ · (−y log p)` |
//! | `dice` | `Dice` | `1 − 2 Σyp / (Σy + Σp)` over [`LossAxis`] |
//! | `tversky` | `Tversky` | `1 − Σyp / (Σyp + α·fp + β·fn)` over [`LossAxis`] |
//!
//! # What a loss is computed over
//! Most losses take one row at a time. Dice and Tversky take what Keras's `axis` says
//! ([`LossAxis`]): a row, a whole sample, or — Keras's default — the whole batch at once, as
//! one value ([`Loss::span`]). A value over the whole batch is weighted by the mean sample
//! weight (Keras's broadcast of a scalar loss against the weights). Under MPI each process
//! takes its own shard of the batch as "the batch".
//!
//!
//! [`Standardized`] wraps a regression loss for a model that ends by turning standardized
//! outputs back into the targets' units: it trains as on standardized targets, with
//! predictions and metrics in the original units (scikit-learn's `TransformedTargetRegressor`).
//!
//! Each file computes the value and its gradient side by side.
//!
//! # Cross-entropy and the output activation
//! Cross-entropies on probabilities clip them to `[1e-7, 1 − 1e-7]` as Keras does. When the
//! model's last activation is the matching softmax or sigmoid, the model *fuses* the two, as
//! Keras 3 on TensorFlow does (its softmax and sigmoid keep their logits for the loss): the
//! loss value comes from the logits, unclipped, and the gradient with respect to the logits is
//! the stable `p − y`. A sample whose label probability is 1e-14 reports
//! `−log_softmax(z)[label]` ≈ 32, not the 16.118 of clipping at 1e-7, and still gets a
//! gradient. (Keras's jax and torch backends clip instead, and so give confidently wrong
//! samples no gradient at all.)
//!
//! # Your own loss
//! ```
//! use minibatch::{datasets, layers::Dense, losses::Loss, FitOptions, Sequential};
//!
//! /// Half the squared error, summed over the row.
//! struct HalfSquares;
//! impl Loss for HalfSquares {
//!     fn name(&self) -> &str {
//!         "half_squares"
//!     }
//!     fn row(&self, p: &[f32], y: &[f32], grad: Option<&mut [f32]>) -> f32 {
//!         if let Some(g) = grad {
//!             g.iter_mut().zip(p.iter().zip(y)).for_each(|(g, (p, y))| *g = p - y);
//!         }
//!         p.iter().zip(y).map(|(p, y)| 0.5 * (p - y) * (p - y)).sum()
//!     }
//! }
//!
//! // Regress the 0/1 label of the spirals with one output.
//! let d = datasets::load("spirals", 0).unwrap();
//! let mut model = Sequential::new().add(Dense::new(16).activation("relu")).add(Dense::new(1));
//! model.compile("adam", HalfSquares, &["mse"]).unwrap();
//! let history = model.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(5).verbose(0)).unwrap();
//! assert!(history.get("loss").unwrap()[4] < history.get("loss").unwrap()[0]);
//! ```

mod binary_crossentropy;
mod categorical_crossentropy;
mod cosine_similarity;
mod custom;
mod focal;
mod hinge;
mod huber;
mod kl_divergence;
mod log_cosh;
mod mean_absolute_error;
mod mean_absolute_percentage_error;
mod mean_squared_error;
mod mean_squared_logarithmic_error;
mod overlap;
mod poisson;
mod sparse_categorical_crossentropy;
mod standardized;

pub use custom::{register_loss, CustomLoss, LossFromConfig, OpsLoss};
pub use standardized::Standardized;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's clipping constant for probabilities (`keras.config.epsilon()`).
pub const EPSILON: f32 = 1e-7;

/// A loss function, row by row. See the [module docs](self).
pub trait Loss: Send {
    /// The name under which it is reported and saved.
    fn name(&self) -> &str;

    /// The loss of one row of predictions `pred` against its targets `target` (`k` values, or
    /// [`Loss::target_len`]). When `grad` is given (as long as `pred`), writes ∂loss/∂pred
    /// into it: the row's own gradient, which the model scales by the sample weight and
    /// divides by the number of rows.
    fn row(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32;

    /// Target values per row of `k` predictions: `k` (the default), or 1 for integer labels.
    fn target_len(&self, k: usize) -> usize {
        k
    }

    /// What [`Loss::row`] is given at once: one row of the last axis (the default), a whole
    /// sample, or the whole batch.
    fn span(&self) -> Span {
        Span::Row
    }

    /// Checks that targets `y` fit predictions of per-sample shape `output`: by default their
    /// shape. Built-in losses also check label ranges.
    ///
    /// # Errors
    /// [`Error::Shape`] naming the loss and both shapes.
    fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        check_target_shape(self.name(), self.target_len(*output.last().unwrap_or(&1)), y, output)
    }

    /// The output activation this loss fuses with (see the [module docs](self)); none by default.
    fn fuses_with(&self) -> Option<Activation> {
        None
    }

    /// The fused row: the value from the `logits` behind the probabilities `probs`, the gradient
    /// with respect to the logits. Only called when [`Loss::fuses_with`] names the output's
    /// activation.
    fn fused_row(&self, probs: &[f32], logits: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32 {
        let _ = logits;
        self.row(probs, target, grad)
    }

    /// `{"class_name": ..., "config": {...}}` for a saved model; `None` (the default) for a loss
    /// that cannot be saved.
    fn config(&self) -> Option<serde_json::Value> {
        None
    }

    /// Checks the loss's own arguments; `compile` calls it. Nothing to check by default.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the argument and its value.
    fn check_arguments(&self) -> Result<()> {
        Ok(())
    }
}

impl<L: Loss + ?Sized> Loss for Box<L> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn row(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32 {
        (**self).row(pred, target, grad)
    }
    fn target_len(&self, k: usize) -> usize {
        (**self).target_len(k)
    }
    fn span(&self) -> Span {
        (**self).span()
    }
    fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        (**self).check_targets(y, output)
    }
    fn fuses_with(&self) -> Option<Activation> {
        (**self).fuses_with()
    }
    fn fused_row(&self, probs: &[f32], logits: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32 {
        (**self).fused_row(probs, logits, target, grad)
    }
    fn config(&self) -> Option<serde_json::Value> {
        (**self).config()
    }
    fn check_arguments(&self) -> Result<()> {
        (**self).check_arguments()
    }
}

/// What [`Loss::row`] is handed at once (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// One row: the values of the last axis.
    Row,
    /// One sample: every value of it, whatever its shape.
    Sample,
    /// The whole batch as one group: the loss is one value for the batch.
    Batch,
}

/// Keras's `axis` for the overlap losses ([`BuiltinLoss::Dice`], [`BuiltinLoss::Tversky`]):
/// which values one loss value sums over. Saved as `"batch"`, `"sample"` or `"last_axis"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossAxis {
    /// Keras's `axis=None` (its default): every value of the batch together.
    #[default]
    Batch,
    /// Keras's `axis=(1, …, rank − 1)`: each sample's values, one loss per sample.
    Sample,
    /// Keras's `axis=-1`: each row of the last axis.
    LastAxis,
}

impl LossAxis {
    /// The [`Span`] it gives [`Loss::row`].
    pub const fn span(self) -> Span {
        match self {
            LossAxis::Batch => Span::Batch,
            LossAxis::Sample => Span::Sample,
            LossAxis::LastAxis => Span::Row,
        }
    }
}

/// The losses Keras ships, with their arguments. Saved models write one as
/// `{"class_name": "categorical_crossentropy", "config": {"from_logits": false, ...}}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config", rename_all = "snake_case")]
pub enum BuiltinLoss {
    /// `mean((y − p)²)` over the last axis.
    MeanSquaredError,
    /// `mean(|y − p|)` over the last axis.
    MeanAbsoluteError,
    /// `100 · mean(|y − p| / max(|y|, ε))` over the last axis.
    MeanAbsolutePercentageError,
    /// `mean((log(max(p, ε) + 1) − log(max(y, ε) + 1))²)` over the last axis.
    MeanSquaredLogarithmicError,
    /// Quadratic for errors within `delta`, linear beyond; mean over the last axis.
    Huber {
        /// Where the loss turns linear (Keras's default 1).
        delta: f32,
    },
    /// `mean(log cosh(p − y))` over the last axis.
    LogCosh,
    /// `mean(−y log p − (1 − y) log(1 − p))` over the last axis; targets in `[0, 1]`.
    BinaryCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
        /// Targets become `y (1 − s) + s / 2` (Keras's default 0).
        #[serde(default)]
        label_smoothing: f32,
    },
    /// `−Σ y log p` over the last axis; targets one-hot (or any distribution).
    CategoricalCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
        /// Targets become `y (1 − s) + s / k` (Keras's default 0).
        #[serde(default)]
        label_smoothing: f32,
    },
    /// `−log p[label]`; targets are integer class indices, shape `[n]` or `[n, 1]`.
    SparseCategoricalCrossentropy {
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
    },
    /// `Σ y log(y / p)` over the last axis, both clipped to `[ε, 1]`.
    KlDivergence,
    /// `mean(p − y log(p + ε))` over the last axis.
    Poisson,
    /// `mean(max(1 − y p, 0))` over the last axis; targets −1 or 1 (0 is read as −1).
    Hinge,
    /// `mean(max(1 − y p, 0)²)` over the last axis; targets −1 or 1 (0 is read as −1).
    SquaredHinge,
    /// `max(max_{j≠c} p_j − p_c + 1, 0)` for one-hot targets of class `c`.
    CategoricalHinge,
    /// `−cos(y, p)` over the last axis (−1 is best).
    CosineSimilarity,
    /// Binary cross-entropy scaled by the focal factor `(1 − p_t)^γ`, averaged over the last
    /// axis; targets in `[0, 1]` (see `focal.rs`).
    BinaryFocalCrossentropy {
        /// Weigh class 1 by `alpha` and class 0 by `1 − alpha` (Keras's default false).
        apply_class_balancing: bool,
        /// The weight of class 1 under class balancing (Keras's default 0.25).
        alpha: f32,
        /// The focusing exponent (Keras's default 2; 0 is plain cross-entropy).
        gamma: f32,
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
        /// Targets become `y (1 − s) + s / 2` (Keras's default 0).
        label_smoothing: f32,
    },
    /// Categorical cross-entropy scaled by `α (1 − p)^γ` per class, summed over the last axis;
    /// targets one-hot.
    CategoricalFocalCrossentropy {
        /// The weight of every class (Keras's default 0.25; Keras also takes one per class).
        alpha: f32,
        /// The focusing exponent (Keras's default 2).
        gamma: f32,
        /// Predictions are logits rather than probabilities.
        from_logits: bool,
        /// Targets become `y (1 − s) + s / k` (Keras's default 0).
        label_smoothing: f32,
    },
    /// `1 − 2 Σ y p / (Σ y + Σ p + ε)` over the values `axis` groups; probabilities and targets
    /// in `[0, 1]`.
    Dice {
        /// Which values one loss sums over (Keras's default: the whole batch).
        #[serde(default)]
        axis: LossAxis,
    },
    /// `1 − Σ y p / (Σ y p + α·fp + β·fn + ε)` over the values `axis` groups.
    Tversky {
        /// The weight of false positives (Keras's default 0.5).
        alpha: f32,
        /// The weight of false negatives (Keras's default 0.5).
        beta: f32,
        /// Which values one loss sums over (Keras's default: the whole batch).
        #[serde(default)]
        axis: LossAxis,
    },
}

/// Every built-in loss with Keras's default arguments, and the other names Keras accepts for
/// it: one row per loss. [`NAMES`] and [`BuiltinLoss::from_name`] read it.
const TABLE: &[(BuiltinLoss, &[&str])] = {
    use BuiltinLoss::*;
    &[
        (MeanSquaredError, &["mse"]),
        (MeanAbsoluteError, &["mae"]),
        (MeanAbsolutePercentageError, &["mape"]),
        (MeanSquaredLogarithmicError, &["msle"]),
        (Huber { delta: 1.0 }, &[]),
        (LogCosh, &["logcosh"]),
        (BinaryCrossentropy { from_logits: false, label_smoothing: 0.0 }, &[]),
        (CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 }, &[]),
        (SparseCategoricalCrossentropy { from_logits: false }, &[]),
        (KlDivergence, &["kld"]),
        (Poisson, &[]),
        (Hinge, &[]),
        (SquaredHinge, &[]),
        (CategoricalHinge, &[]),
        (CosineSimilarity, &[]),
        (
            BinaryFocalCrossentropy {
                apply_class_balancing: false,
                alpha: 0.25,
                gamma: 2.0,
                from_logits: false,
                label_smoothing: 0.0,
            },
            &[],
        ),
        (CategoricalFocalCrossentropy { alpha: 0.25, gamma: 2.0, from_logits: false, label_smoothing: 0.0 }, &[]),
        (Dice { axis: LossAxis::Batch }, &[]),
        (Tversky { alpha: 0.5, beta: 0.5, axis: LossAxis::Batch }, &[]),
    ]
};

/// Names in [`TABLE`], each loss's own and then its other names.
const NAME_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < TABLE.len() {
        n += 1 + TABLE[i].1.len();
        i += 1;
    }
    n
};

/// The names [`BuiltinLoss::from_name`] accepts: each loss's Keras name, then its other names.
pub const NAMES: &[&str] = &{
    let mut names = [""; NAME_COUNT];
    let (mut at, mut i) = (0, 0);
    while i < TABLE.len() {
        names[at] = TABLE[i].0.keras_name();
        at += 1;
        let mut j = 0;
        while j < TABLE[i].1.len() {
            names[at] = TABLE[i].1[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    names
};

impl BuiltinLoss {
    /// The loss Keras calls `name`, with Keras's default arguments (`from_logits=False`,
    /// `delta=1`, no label smoothing).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a name not in [`NAMES`].
    pub fn from_name(name: &str) -> Result<Self> {
        TABLE
            .iter()
            .find(|(loss, aliases)| loss.keras_name() == name || aliases.contains(&name))
            .map(|(loss, _)| *loss)
            .ok_or_else(|| Error::UnknownName { kind: "loss", name: name.into(), known: NAMES.to_vec() })
    }

    /// Keras's name (the `class_name` a saved model gives it).
    pub const fn keras_name(&self) -> &'static str {
        use BuiltinLoss::*;
        match self {
            MeanSquaredError => "mean_squared_error",
            MeanAbsoluteError => "mean_absolute_error",
            MeanAbsolutePercentageError => "mean_absolute_percentage_error",
            MeanSquaredLogarithmicError => "mean_squared_logarithmic_error",
            Huber { .. } => "huber",
            LogCosh => "log_cosh",
            BinaryCrossentropy { .. } => "binary_crossentropy",
            CategoricalCrossentropy { .. } => "categorical_crossentropy",
            SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
            KlDivergence => "kl_divergence",
            Poisson => "poisson",
            Hinge => "hinge",
            SquaredHinge => "squared_hinge",
            CategoricalHinge => "categorical_hinge",
            CosineSimilarity => "cosine_similarity",
            BinaryFocalCrossentropy { .. } => "binary_focal_crossentropy",
            CategoricalFocalCrossentropy { .. } => "categorical_focal_crossentropy",
            Dice { .. } => "dice",
            Tversky { .. } => "tversky",
        }
    }

    /// Keras's `label_smoothing` on the binary and categorical cross-entropies (focal too).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value outside `[0, 1]`, or another loss.
    pub fn label_smoothing(self, s: f32) -> Result<Self> {
        if !(0.0..=1.0).contains(&s) {
            return Err(Error::invalid("label_smoothing", s, "a fraction in [0, 1]"));
        }
        match self {
            BuiltinLoss::BinaryCrossentropy { from_logits, .. } => {
                Ok(BuiltinLoss::BinaryCrossentropy { from_logits, label_smoothing: s })
            }
            BuiltinLoss::CategoricalCrossentropy { from_logits, .. } => {
                Ok(BuiltinLoss::CategoricalCrossentropy { from_logits, label_smoothing: s })
            }
            BuiltinLoss::BinaryFocalCrossentropy { apply_class_balancing, alpha, gamma, from_logits, .. } => {
                Ok(BuiltinLoss::BinaryFocalCrossentropy {
                    apply_class_balancing,
                    alpha,
                    gamma,
                    from_logits,
                    label_smoothing: s,
                })
            }
            BuiltinLoss::CategoricalFocalCrossentropy { alpha, gamma, from_logits, .. } => {
                Ok(BuiltinLoss::CategoricalFocalCrossentropy { alpha, gamma, from_logits, label_smoothing: s })
            }
            other => Err(Error::invalid(
                "label_smoothing",
                s,
                format!("binary or categorical cross-entropy (not {})", other.keras_name()),
            )),
        }
    }

    /// The same loss with `from_logits=True`, for the five cross-entropies.
    pub fn from_logits(self) -> Self {
        match self {
            BuiltinLoss::BinaryCrossentropy { label_smoothing, .. } => {
                BuiltinLoss::BinaryCrossentropy { from_logits: true, label_smoothing }
            }
            BuiltinLoss::CategoricalCrossentropy { label_smoothing, .. } => {
                BuiltinLoss::CategoricalCrossentropy { from_logits: true, label_smoothing }
            }
            BuiltinLoss::SparseCategoricalCrossentropy { .. } => {
                BuiltinLoss::SparseCategoricalCrossentropy { from_logits: true }
            }
            BuiltinLoss::BinaryFocalCrossentropy { apply_class_balancing, alpha, gamma, label_smoothing, .. } => {
                BuiltinLoss::BinaryFocalCrossentropy {
                    apply_class_balancing,
                    alpha,
                    gamma,
                    from_logits: true,
                    label_smoothing,
                }
            }
            BuiltinLoss::CategoricalFocalCrossentropy { alpha, gamma, label_smoothing, .. } => {
                BuiltinLoss::CategoricalFocalCrossentropy { alpha, gamma, from_logits: true, label_smoothing }
            }
            other => other,
        }
    }
}

impl Loss for BuiltinLoss {
    fn name(&self) -> &str {
        self.keras_name()
    }

    fn row(&self, p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
        use BuiltinLoss::*;
        match *self {
            MeanSquaredError => mean_squared_error::row(p, t, grad),
            MeanAbsoluteError => mean_absolute_error::row(p, t, grad),
            MeanAbsolutePercentageError => mean_absolute_percentage_error::row(p, t, grad),
            MeanSquaredLogarithmicError => mean_squared_logarithmic_error::row(p, t, grad),
            Huber { delta } => huber::row(p, t, delta, grad),
            LogCosh => log_cosh::row(p, t, grad),
            BinaryCrossentropy { from_logits, label_smoothing } => {
                binary_crossentropy::row(p, t, from_logits, label_smoothing, grad)
            }
            CategoricalCrossentropy { from_logits, label_smoothing } => {
                categorical_crossentropy::row(p, t, from_logits, label_smoothing, grad)
            }
            SparseCategoricalCrossentropy { from_logits } => {
                sparse_categorical_crossentropy::row(p, t[0], from_logits, grad)
            }
            KlDivergence => kl_divergence::row(p, t, grad),
            Poisson => poisson::row(p, t, grad),
            Hinge => hinge::row(p, t, false, grad),
            SquaredHinge => hinge::row(p, t, true, grad),
            CategoricalHinge => hinge::categorical_row(p, t, grad),
            CosineSimilarity => cosine_similarity::row(p, t, grad),
            BinaryFocalCrossentropy { apply_class_balancing, alpha, gamma, from_logits, label_smoothing } => {
                let balance = apply_class_balancing.then_some(alpha);
                focal::binary_row(p, t, balance, gamma, from_logits, label_smoothing, grad)
            }
            CategoricalFocalCrossentropy { alpha, gamma, from_logits, label_smoothing } => {
                focal::categorical_row(p, t, alpha, gamma, from_logits, label_smoothing, grad)
            }
            Dice { .. } => overlap::dice(p, t, grad),
            Tversky { alpha, beta, .. } => overlap::tversky(p, t, alpha, beta, grad),
        }
    }

    fn target_len(&self, k: usize) -> usize {
        if matches!(self, BuiltinLoss::SparseCategoricalCrossentropy { .. }) {
            1
        } else {
            k
        }
    }

    fn span(&self) -> Span {
        match self {
            BuiltinLoss::Dice { axis } | BuiltinLoss::Tversky { axis, .. } => axis.span(),
            _ => Span::Row,
        }
    }

    fn fuses_with(&self) -> Option<Activation> {
        match self {
            BuiltinLoss::BinaryCrossentropy { from_logits: false, .. } => Some(Activation::Sigmoid),
            BuiltinLoss::CategoricalCrossentropy { from_logits: false, .. }
            | BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false } => Some(Activation::Softmax),
            _ => None,
        }
    }

    fn fused_row(&self, probs: &[f32], logits: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
        match *self {
            BuiltinLoss::BinaryCrossentropy { from_logits: false, label_smoothing } => {
                binary_crossentropy::fused_row(probs, logits, t, label_smoothing, grad)
            }
            BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing } => {
                categorical_crossentropy::fused_row(probs, logits, t, label_smoothing, grad)
            }
            BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false } => {
                sparse_categorical_crossentropy::fused_row(probs, logits, t[0], grad)
            }
            _ => self.row(probs, t, grad),
        }
    }

    /// Shapes, and label ranges: binary targets in `[0, 1]`, sparse labels integers in
    /// `[0, k)`, categorical targets non-negative.
    fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        let k = *output.last().unwrap_or(&1);
        check_target_shape(self.keras_name(), self.target_len(k), y, output)?;
        let bad = |i: usize, expected: String| {
            Err(Error::Label { sample: i / y.row_len().max(1), label: y.data()[i], expected })
        };
        let name = self.keras_name();
        match self {
            BuiltinLoss::SparseCategoricalCrossentropy { .. } => {
                if let Some(i) = y.data().iter().position(|&v| v < 0.0 || v >= k as f32 || v.fract() != 0.0) {
                    return bad(i, format!("an integer class index in [0, {k}) for {name}"));
                }
            }
            BuiltinLoss::BinaryCrossentropy { .. }
            | BuiltinLoss::BinaryFocalCrossentropy { .. }
            | BuiltinLoss::Dice { .. }
            | BuiltinLoss::Tversky { .. } => {
                if let Some(i) = y.data().iter().position(|&v| !(0.0..=1.0).contains(&v)) {
                    return bad(i, format!("a target in [0, 1] for {name}"));
                }
            }
            BuiltinLoss::CategoricalCrossentropy { .. }
            | BuiltinLoss::CategoricalFocalCrossentropy { .. }
            | BuiltinLoss::CategoricalHinge => {
                if let Some(i) = y.data().iter().position(|&v| v < 0.0) {
                    return bad(i, format!("non-negative (one-hot) targets for {name}"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    /// `delta` positive and finite; `label_smoothing` in `[0, 1]`; focal `gamma` finite and
    /// not negative, `alpha` (and Tversky's `beta`) finite and not negative, a balancing
    /// `alpha` at most 1.
    fn check_arguments(&self) -> Result<()> {
        let non_negative = |name: &'static str, v: f32| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "a finite number, not negative"))
            }
        };
        match *self {
            BuiltinLoss::BinaryFocalCrossentropy { alpha, gamma, label_smoothing: s, .. }
            | BuiltinLoss::CategoricalFocalCrossentropy { alpha, gamma, label_smoothing: s, .. } => {
                non_negative("gamma (focal cross-entropy)", gamma)?;
                non_negative("alpha (focal cross-entropy)", alpha)?;
                if let BuiltinLoss::BinaryFocalCrossentropy { apply_class_balancing: true, .. } = self {
                    if alpha > 1.0 {
                        return Err(Error::invalid(
                            "alpha (binary focal cross-entropy)",
                            alpha,
                            "a fraction in [0, 1]",
                        ));
                    }
                }
                if !(0.0..=1.0).contains(&s) {
                    return Err(Error::invalid("label_smoothing", s, "a fraction in [0, 1]"));
                }
                Ok(())
            }
            BuiltinLoss::Tversky { alpha, beta, .. } => {
                non_negative("alpha (tversky)", alpha)?;
                non_negative("beta (tversky)", beta)
            }
            BuiltinLoss::Huber { delta } if !(delta > 0.0 && delta.is_finite()) => {
                Err(Error::invalid("delta (huber)", delta, "a positive, finite number"))
            }
            BuiltinLoss::BinaryCrossentropy { label_smoothing: s, .. }
            | BuiltinLoss::CategoricalCrossentropy { label_smoothing: s, .. }
                if !(0.0..=1.0).contains(&s) =>
            {
                Err(Error::invalid("label_smoothing", s, "a fraction in [0, 1]"))
            }
            _ => Ok(()),
        }
    }
}

/// Checks that `y` holds `target_len` values per row of the model's `output`.
fn check_target_shape(name: &str, target_len: usize, y: &Tensor, output: &[usize]) -> Result<()> {
    let k = *output.last().unwrap_or(&1);
    let out_len: usize = output.iter().product();
    let want = out_len / k.max(1) * target_len;
    if y.row_len() == want {
        return Ok(());
    }
    let expected = if target_len == k {
        format!(
            "[n, {}] to match the model's output {:?}",
            output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            output
        )
    } else {
        format!("{target_len} value(s) per row for {name} ({} per sample; model output {output:?})", want)
    };
    Err(Error::Shape { what: format!("y for loss {name}"), expected, received: format!("{:?}", y.shape()) })
}

/// The batch's loss, reduced as Keras's `sum_over_batch_size`, returned as the *sum* over
/// samples of each sample's mean row loss (`Σ_rows w · L / rows per sample`), so that epoch
/// means weigh every sample equally. When `grad` is given, writes the gradient of the batch
/// loss (`Σ_rows w · L / rows`) with respect to `pred`, or to the `logits` behind it when
/// given (the fused path). `weights`: one per sample. `rows`: scratch, one value per row;
/// nothing allocates.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce(
    loss: &dyn Loss,
    pred: &Tensor,
    logits: Option<&[f32]>,
    target: &Tensor,
    weights: Option<&[f32]>,
    mut grad: Option<&mut [f32]>,
) -> f64 {
    let n = pred.batch().max(1);
    let last = (*pred.shape().last().unwrap_or(&1)).max(1);
    let p = pred.data();
    // k: the values one call to `row` sees; tk: their targets.
    let k = match loss.span() {
        Span::Row => last,
        Span::Sample => (p.len() / n).max(1),
        Span::Batch => p.len().max(1),
    };
    let rows = p.len() / k;
    let per_sample = (rows / n).max(1);
    let tk = k / last * loss.target_len(last);
    let t = target.data();
    let mut sum = 0.0f64;
    for r in 0..rows {
        // A value over the whole batch (one row for n samples) is weighted by the mean weight:
        // Keras broadcasts the scalar loss against the sample weights before the reduction.
        let w = match weights {
            Some(w) if rows >= n => w[r / per_sample],
            Some(w) => w.iter().sum::<f32>() / w.len().max(1) as f32,
            None => 1.0,
        };
        let (pr, tr) = (&p[r * k..(r + 1) * k], &t[r * tk..(r + 1) * tk]);
        let mut g = grad.as_deref_mut().map(|g| &mut g[r * k..(r + 1) * k]);
        let value = match logits {
            Some(z) => loss.fused_row(pr, &z[r * k..(r + 1) * k], tr, g.as_deref_mut()),
            None => loss.row(pr, tr, g.as_deref_mut()),
        };
        sum += (w * value) as f64;
        if let Some(g) = g {
            let scale = w / rows as f32;
            g.iter_mut().for_each(|g| *g *= scale);
        }
    }
    // Σ over samples: each sample's mean over its rows, or its share of the batch's value.
    sum * n as f64 / rows.max(1) as f64
}

/// The mean loss of predictions `pred` against `target` (each sample weighing `weights`, or 1),
/// and its gradient with respect to `pred` when `grad` is given: what training computes for a
/// batch, as a function (for tests and tools).
///
/// # Errors
/// Targets that do not fit the predictions (see [`Loss::check_targets`]); weights not one per
/// sample; a gradient buffer not as long as `pred`.
pub fn mean_loss(
    loss: &dyn Loss,
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
) -> Result<f64> {
    loss.check_targets(target, &pred.shape()[1..])?;
    if let Some(w) = weights {
        if w.len() != pred.batch() {
            return Err(Error::shape("sample weights", format!("{} values, one per sample", pred.batch()), &[w.len()]));
        }
    }
    if let Some(g) = grad.as_deref() {
        if g.len() != pred.len() {
            return Err(Error::shape("loss gradient buffer", format!("{} values", pred.len()), &[g.len()]));
        }
    }
    Ok(reduce(loss, pred, None, target, weights, grad) / pred.batch().max(1) as f64)
}

/// Something `compile` accepts as a loss: Keras's name, a [`BuiltinLoss`], or any [`Loss`].
pub trait IntoLoss {
    /// Resolves it.
    fn into_loss(self) -> Result<Box<dyn Loss>>;
}

impl<L: Loss + 'static> IntoLoss for L {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(Box::new(self))
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(Box::new(BuiltinLoss::from_name(self)?))
    }
}

/// The loss a [`Loss::config`] describes: a built-in one, or one of your own registered with
/// [`register_loss`].
///
/// # Errors
/// [`Error::State`] for a config no built-in or registered loss reads.
pub fn from_config(config: &serde_json::Value) -> Result<Box<dyn Loss>> {
    if let Some(loss) = custom::from_registry(config) {
        return loss;
    }
    if config.get("class_name").and_then(|c| c.as_str()) == Some(standardized::CLASS_NAME) {
        let loss: Standardized = serde_json::from_value(config["config"].clone())
            .map_err(|e| Error::State(format!("the saved loss {config}: {e}")))?;
        loss.check_arguments()?;
        return Ok(Box::new(loss));
    }
    let loss: BuiltinLoss = serde_json::from_value(config.clone()).map_err(|e| {
        Error::State(format!(
            "the saved loss {config}: {e} (a loss of your own loads once registered: losses::register_loss)"
        ))
    })?;
    loss.check_arguments()?;
    Ok(Box::new(loss))
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// Every row: its Keras name is its saved `class_name` (serde's tag), its config
    /// round-trips, and each of its names resolves to it.
    #[test]
    fn every_table_row_is_its_saved_name_and_round_trips() {
        for (loss, aliases) in TABLE {
            let saved = serde_json::to_value(loss).unwrap();
            assert_eq!(saved["class_name"], loss.keras_name());
            assert_eq!(serde_json::from_value::<BuiltinLoss>(saved).unwrap(), *loss);
            for name in std::iter::once(&loss.keras_name()).chain(aliases.iter()) {
                assert_eq!(BuiltinLoss::from_name(name).unwrap(), *loss, "{name}");
                assert!(NAMES.contains(name), "{name}");
            }
        }
        assert!(BuiltinLoss::from_name("mse2").unwrap_err().to_string().contains("cosine_similarity"));
    }
}
