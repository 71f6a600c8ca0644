//! What the targets ask of the model the commands build: the last layer's units and
//! activation, the loss and the metrics. Given `--loss`, that decides; else the targets do:
//! one-hot rows are classes (categorical cross-entropy), whole numbers from 0 are class
//! indices (sparse categorical cross-entropy), anything else is a quantity (regression: mean
//! squared error, with mean absolute error beside it, as Keras's regression examples compile).

use minibatch::{io, losses, Error, Model, Result, Tensor};

/// See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Class indices `0..count`: softmax over `count` units, sparse categorical cross-entropy.
    Classes { count: usize },
    /// One-hot rows of `count` columns: softmax, categorical cross-entropy.
    OneHot { count: usize },
    /// Targets in `[0, 1]`, `outputs` per sample: sigmoid units, binary cross-entropy.
    Binary { outputs: usize },
    /// Quantities, `outputs` per sample: linear units, `loss` (Keras's name).
    Regression { outputs: usize, loss: String },
}

impl Task {
    /// The task of targets `ys` (training first, then any test targets), under `loss` when
    /// given (Keras's name).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a loss minibatch does not know; [`Error::Label`] naming the
    /// sample for targets the loss cannot take (a class index that is negative or not whole
    /// under a cross-entropy, a one-hot loss given one column).
    pub fn infer(ys: &[&Tensor], loss: Option<&str>) -> Result<Task> {
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
            if outputs > 1 && ys.iter().all(|y| is_one_hot(y)) {
                return Ok(Task::OneHot { count: outputs });
            }
            let whole = |y: &&Tensor| y.data().iter().all(|v| v.fract() == 0.0);
            return Ok(if outputs == 1 && ys.iter().all(whole) {
                // Whole numbers are class indices; negative ones are named by num_classes.
                Task::Classes { count: classes()? }
            } else {
                Task::Regression { outputs, loss: "mean_squared_error".into() }
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
            "categorical_crossentropy" | "categorical_hinge" | "kl_divergence" if outputs == 1 => {
                let expected =
                    "one column per class (one-hot rows); class indices take sparse_categorical_crossentropy";
                return Err(Error::shape(format!("targets for {keras}"), expected, &ys[0].shape()[1..]));
            }
            "categorical_crossentropy" => Task::OneHot { count: outputs },
            "binary_crossentropy" => {
                for y in ys {
                    if let Some(sample) = y.data().iter().position(|v| !(0.0..=1.0).contains(v)) {
                        return Err(Error::Label {
                            sample: sample / outputs,
                            label: y.data()[sample],
                            expected: "targets from 0 to 1 for binary_crossentropy".into(),
                        });
                    }
                }
                Task::Binary { outputs }
            }
            other => Task::Regression { outputs, loss: other.into() },
        })
    }

    /// Units of the last layer.
    pub fn units(&self) -> usize {
        match self {
            Task::Classes { count } | Task::OneHot { count } => *count,
            Task::Binary { outputs } | Task::Regression { outputs, .. } => *outputs,
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
            Task::OneHot { .. } => "categorical_crossentropy",
            Task::Binary { .. } => "binary_crossentropy",
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
            Task::OneHot { count } => format!("{count} classes (one-hot rows; categorical_crossentropy)"),
            Task::Binary { outputs } => format!("{outputs} binary target(s) (binary_crossentropy)"),
            Task::Regression { outputs, loss } => {
                format!("regression, {outputs} target value(s) per sample ({loss}; metric {})", self.metrics()[0])
            }
        }
    }

    /// The task a saved model was compiled for, from its loss and output width.
    pub fn of(model: &Model) -> Option<Task> {
        let loss = model.loss()?.name().to_string();
        let units = model.output_shapes().first().map(|s| s.iter().product::<usize>())?;
        Some(match loss.as_str() {
            "sparse_categorical_crossentropy" => Task::Classes { count: units },
            "categorical_crossentropy" => Task::OneHot { count: units },
            "binary_crossentropy" => Task::Binary { outputs: units },
            _ => Task::Regression { outputs: units, loss },
        })
    }
}

/// Rows of 0s with a single 1.
fn is_one_hot(y: &Tensor) -> bool {
    let k = y.row_len();
    k > 1 && y.data().chunks(k).all(|row| row.iter().all(|&v| v == 0.0 || v == 1.0) && row.iter().sum::<f32>() == 1.0)
}
