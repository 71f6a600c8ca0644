//! Metrics: streaming statistics of predictions against targets, reported per epoch.
//!
//! A metric accumulates over the batches of an epoch ([`Metric::update`]) and reports the mean
//! over every sample seen ([`Metric::result`]), so a partial last batch weighs in by its size.
//!
//! | name | meaning | better |
//! |---|---|---|
//! | `accuracy` (`acc`) | binary, categorical or sparse, resolved from the shapes as Keras does | higher |
//! | `mse` (`mean_squared_error`) | mean squared error | lower |
//! | `mae` (`mean_absolute_error`) | mean absolute error | lower |

mod accuracy;
mod mean_error;

pub use accuracy::{count_correct, Accuracy};
pub use mean_error::{MeanAbsoluteError, MeanSquaredError};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Whether larger or smaller values of a quantity are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better (losses, errors).
    Minimize,
    /// Larger is better (accuracy).
    Maximize,
}

/// A streaming metric. See the [module docs](self).
pub trait Metric: Send {
    /// The key under which it appears in logs and the History.
    fn name(&self) -> &str;
    /// Whether larger or smaller is better (EarlyStopping's `mode="auto"` reads this).
    fn direction(&self) -> Direction;
    /// Adds one batch.
    fn update(&mut self, pred: &Tensor, target: &Tensor);
    /// The mean over all samples since the last reset (0 when none).
    fn result(&self) -> f64;
    /// Forgets everything seen.
    fn reset(&mut self);
}

/// The names [`from_name`] accepts.
pub const NAMES: &[&str] = &["accuracy", "acc", "mse", "mean_squared_error", "mae", "mean_absolute_error"];

/// The metric Keras calls `name`; its key in logs is `name` as given, as in Keras.
///
/// # Errors
/// [`Error::UnknownName`] for a name not in [`NAMES`].
pub fn from_name(name: &str) -> Result<Box<dyn Metric>> {
    Ok(match name {
        "accuracy" | "acc" => Box::new(Accuracy::named(name)),
        "mse" | "mean_squared_error" => Box::new(MeanSquaredError::named(name)),
        "mae" | "mean_absolute_error" => Box::new(MeanAbsoluteError::named(name)),
        _ => return Err(Error::UnknownName { kind: "metric", name: name.into(), known: NAMES.to_vec() }),
    })
}

/// A running, sample-weighted mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    sum: f64,
    count: f64,
}

impl Mean {
    /// Adds a total over `count` samples.
    pub fn add(&mut self, sum: f64, count: f64) {
        self.sum += sum;
        self.count += count;
    }
    /// The mean (0 when empty).
    pub fn result(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }
    /// Empties it.
    pub fn reset(&mut self) {
        *self = Mean::default();
    }
}
