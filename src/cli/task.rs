//! What the targets ask of the model the commands build: the last layer's units and
//! activation, the loss and the metrics. Given `--loss` or `--task`, those decide; else the
//! targets do:
//!
//! - one-hot rows are classes (categorical cross-entropy);
//! - one column of whole numbers from 0 is class indices (sparse categorical cross-entropy)
//!   when they look like classes: at most [`max_classes`] of them (`max(10, n / 10)` for `n`
//!   samples, and never more than [`MOST_INFERRED_CLASSES`]), most of them present (at
//!   least half of `0..count` occur);
//! - anything else is a quantity (regression: mean squared error, with mean absolute error
//!   beside it, as Keras's regression examples compile). Whole numbers that do not look like
//!   classes (prices in whole dollars, negative counts) come with a note saying so and how to
//!   ask for classes (`--task classification`): Keras never guesses, and a guess that is wrong
//!   must at least be visible.

use minibatch::{io, losses, Error, Model, Result, Tensor};

/// The most classes whole-number targets are read as without `--task classification`.
pub const MOST_INFERRED_CLASSES: usize = 1000;

/// The most classes whole-number targets of `n` samples are read as: `max(10, n / 10)`, at
/// most [`MOST_INFERRED_CLASSES`].
pub fn max_classes(n: usize) -> usize {
    (n / 10).clamp(10, MOST_INFERRED_CLASSES)
}

/// `--task`: what the targets are, when inferring it is not wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskKind {
    /// Class indices (or one-hot rows).
    Classification,
    /// Quantities.
    Regression,
}

/// See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Class indices `0..count`: softmax over `count` units, sparse categorical cross-entropy.
    Classes { count: usize },
    /// One-hot rows of `count` columns: softmax, `loss` (categorical cross-entropy, or its
    /// focal form).
    OneHot { count: usize, loss: &'static str },
    /// Targets in `[0, 1]`, `outputs` per sample: sigmoid units, `loss` (binary cross-entropy,
    /// its focal form, Dice or Tversky).
    Binary { outputs: usize, loss: &'static str },
    /// Quantities, `outputs` per sample: linear units, `loss` (Keras's name).
    Regression { outputs: usize, loss: String },
}

impl Task {
    /// The task of targets `ys` (training first, then any test targets), under `loss` (Keras's
    /// name) or `kind` when given, with a note when whole-number targets were read as
    /// quantities (see the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a loss minibatch does not know; [`Error::Label`] naming the
    /// sample for targets the loss (or `--task classification`) cannot take (a class index
    /// that is negative or not whole under a cross-entropy, a one-hot loss given one column);
    /// [`Error::InvalidArgument`] for a `--task` the `--loss` contradicts.
    pub fn infer(ys: &[&Tensor], loss: Option<&str>, kind: Option<TaskKind>) -> Result<(Task, Option<String>)> {
        let task = Task::infer_by_loss(ys, loss, kind)?;
        if let Some(kind) = kind {
            if kind == TaskKind::Regression && task.is_classifier() {
                return Err(Error::invalid(
                    "--task",
                    "regression",
                    format!("a task the loss agrees with (--loss {} trains classes)", loss.unwrap_or_default()),
                ));
            }
            if kind == TaskKind::Classification && !task.is_classifier() && loss.is_some() {
                return Err(Error::invalid(
                    "--task",
                    "classification",
                    format!("a task the loss agrees with (--loss {} trains a regression)", loss.unwrap_or_default()),
                ));
            }
        }
        let note = match (&task, loss, kind) {
            (Task::Regression { outputs: 1, .. }, None, None) => as_classes(ys).err().flatten(),
            _ => None,
        };
        Ok((task, note))
    }

    fn infer_by_loss(ys: &[&Tensor], loss: Option<&str>, kind: Option<TaskKind>) -> Result<Task> {
        let width = |y: &Tensor| y.shape()[1..].iter().product::<usize>().max(1);
        let outputs = width(ys[0]);
        for y in &ys[1..] {
            if width(y) != outputs {
                let expected = format!("{outputs} target values per sample, as the training data has");
                return Err(Error::shape("test targets", expected, &y.shape()[1..]));
            }
        }
        let classes = || -> Result<usize> {
            let mut count = 0;
            for y in ys {
                count = count.max(io::num_classes(y)?);
            }
            Ok(count)
        };
        let Some(loss) = loss else {
            if kind == Some(TaskKind::Regression) {
                return Ok(Task::Regression { outputs, loss: "mean_squared_error".into() });
            }
            if outputs > 1 && ys.iter().all(|y| is_one_hot(y)) {
                return Ok(Task::OneHot { count: outputs, loss: "categorical_crossentropy" });
            }
            if kind == Some(TaskKind::Classification) {
                if outputs > 1 {
                    let expected = "one class index per sample, or one-hot rows";
                    return Err(Error::shape("targets for --task classification", expected, &ys[0].shape()[1..]));
                }
                // Asked for: any count of classes; a negative or fractional label is named.
                return Ok(Task::Classes { count: classes()? });
            }
            return Ok(match (outputs, as_classes(ys)) {
                (1, Ok(count)) => Task::Classes { count },
                _ => Task::Regression { outputs, loss: "mean_squared_error".into() },
            });
        };
        let keras = losses::BuiltinLoss::from_name(loss)?.keras_name();
        Ok(match keras {
            "sparse_categorical_crossentropy" => {
                if outputs != 1 {
                    let expected = "one class index per sample (one-hot rows take categorical_crossentropy)";
                    return Err(Error::shape(
                        "targets for sparse_categorical_crossentropy",
                        expected,
                        &ys[0].shape()[1..],
                    ));
                }
                Task::Classes { count: classes()? }
            }
            "categorical_crossentropy" | "categorical_focal_crossentropy" | "categorical_hinge" | "kl_divergence"
                if outputs == 1 =>
            {
                let expected =
                    "one column per class (one-hot rows); class indices take sparse_categorical_crossentropy";
                return Err(Error::shape(format!("targets for {keras}"), expected, &ys[0].shape()[1..]));
            }
            "categorical_crossentropy" | "categorical_focal_crossentropy" => {
                Task::OneHot { count: outputs, loss: keras }
            }
            "binary_crossentropy" | "binary_focal_crossentropy" | "dice" | "tversky" => {
                for y in ys {
                    if let Some(sample) = y.data().iter().position(|v| !(0.0..=1.0).contains(v)) {
                        return Err(Error::Label {
                            sample: sample / outputs,
                            label: y.data()[sample],
                            expected: format!("targets from 0 to 1 for {keras}"),
                        });
                    }
                }
                Task::Binary { outputs, loss: keras }
            }
            other => Task::Regression { outputs, loss: other.into() },
        })
    }

    /// Units of the last layer.
    pub fn units(&self) -> usize {
        match self {
            Task::Classes { count } | Task::OneHot { count, .. } => *count,
            Task::Binary { outputs, .. } | Task::Regression { outputs, .. } => *outputs,
        }
    }

    /// The last layer's activation.
    pub fn activation(&self) -> &'static str {
        match self {
            Task::Classes { .. } | Task::OneHot { .. } => "softmax",
            Task::Binary { .. } => "sigmoid",
            Task::Regression { .. } => "linear",
        }
    }

    /// Keras's name of the loss.
    pub fn loss(&self) -> &str {
        match self {
            Task::Classes { .. } => "sparse_categorical_crossentropy",
            Task::OneHot { loss, .. } | Task::Binary { loss, .. } => loss,
            Task::Regression { loss, .. } => loss,
        }
    }

    /// The metrics compiled beside the loss: accuracy for classes; for quantities the mean
    /// absolute error, which reads in the targets' units (the mean squared error when the
    /// absolute error is the loss).
    pub fn metrics(&self) -> &'static [&'static str] {
        match self {
            Task::Regression { loss, .. } if loss == "mean_absolute_error" => &["mse"],
            Task::Regression { .. } => &["mae"],
            _ => &["accuracy"],
        }
    }

    /// Whether the model predicts classes (predict writes a class column).
    pub fn is_classifier(&self) -> bool {
        !matches!(self, Task::Regression { .. })
    }

    /// In words, for the command's first line.
    pub fn describe(&self) -> String {
        match self {
            Task::Classes { count } => format!("{count} classes (class indices; sparse_categorical_crossentropy)"),
            Task::OneHot { count, loss } => format!("{count} classes (one-hot rows; {loss})"),
            Task::Binary { outputs, loss } => format!("{outputs} binary target(s) ({loss})"),
            Task::Regression { outputs, loss } => {
                format!("regression, {outputs} target value(s) per sample ({loss}; metric {})", self.metrics()[0])
            }
        }
    }

    /// The task a saved model was compiled for, from its loss and output width.
    pub fn of(model: &Model) -> Option<Task> {
        let loss = model.loss()?.name().to_string();
        let units = model.output_shapes().first().map(|s| s.iter().product::<usize>())?;
        let builtin = losses::BuiltinLoss::from_name(&loss).map(|l| l.keras_name());
        Some(match builtin {
            Ok("sparse_categorical_crossentropy") => Task::Classes { count: units },
            Ok(keras @ ("categorical_crossentropy" | "categorical_focal_crossentropy")) => {
                Task::OneHot { count: units, loss: keras }
            }
            Ok(keras @ ("binary_crossentropy" | "binary_focal_crossentropy" | "dice" | "tversky")) => {
                Task::Binary { outputs: units, loss: keras }
            }
            _ => Task::Regression { outputs: units, loss },
        })
    }
}

/// One column of targets read as class indices (see the [module docs](self)): their count
/// when they look like classes; else, for whole numbers, why not (a line that says so and how
/// to ask for classes), and nothing for targets that are not whole numbers at all.
fn as_classes(ys: &[&Tensor]) -> std::result::Result<usize, Option<String>> {
    let values = || ys.iter().flat_map(|y| y.data().iter().copied());
    if values().any(|v| v.fract() != 0.0 || !v.is_finite()) {
        return Err(None);
    }
    let n: usize = ys.iter().map(|y| y.data().len()).sum();
    let (lo, hi) = values().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (count, limit) = (hi as usize + 1, max_classes(n));
    let why = if lo < 0.0 {
        format!("negative values (from {lo}) are not class indices")
    } else if count > limit {
        format!("{count} classes would be more than {limit} for {n} samples (max(10, n/10), at most {MOST_INFERRED_CLASSES})")
    } else {
        let mut present = vec![false; count];
        values().for_each(|v| present[v as usize] = true);
        if 2 * present.iter().filter(|&&p| p).count() >= count {
            return Ok(count);
        }
        format!("fewer than half of the {count} class indices 0..{} occur", count - 1)
    };
    Err(Some(format!(
        "note: the targets are whole numbers from {lo} to {hi}, read as quantities (regression): {why}; \
         pass --task classification to train classes"
    )))
}

/// Rows of 0s with a single 1.
fn is_one_hot(y: &Tensor) -> bool {
    let k = y.row_len();
    k > 1 && y.data().chunks(k).all(|row| row.iter().all(|&v| v == 0.0 || v == 1.0) && row.iter().sum::<f32>() == 1.0)
}
