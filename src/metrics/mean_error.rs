//! Mean squared and mean absolute error as metrics: per sample, the mean over its values; then
//! the mean over samples.

use super::{Direction, Mean, Metric};
use crate::tensor::Tensor;

macro_rules! mean_error_metric {
    ($(#[$doc:meta])* $name:ident, $default:literal, $f:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            name: String,
            mean: Mean,
        }

        impl $name {
            /// The metric reported under `name`.
            pub fn named(name: &str) -> Self {
                $name { name: name.into(), mean: Mean::default() }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::named($default)
            }
        }

        impl Metric for $name {
            fn name(&self) -> &str {
                &self.name
            }
            fn direction(&self) -> Direction {
                Direction::Minimize
            }
            fn update(&mut self, pred: &Tensor, target: &Tensor) {
                let f: fn(f32) -> f64 = $f;
                let sum: f64 = pred.data().iter().zip(target.data()).map(|(&p, &t)| f(p - t)).sum();
                self.mean.add(sum / pred.row_len().max(1) as f64, pred.batch() as f64);
            }
            fn result(&self) -> f64 {
                self.mean.result()
            }
            fn reset(&mut self) {
                self.mean.reset();
            }
        }
    };
}

mean_error_metric!(
    /// `mean((p − y)²)`, reported as `mse` by default.
    MeanSquaredError, "mse", |d| (d as f64) * (d as f64)
);
mean_error_metric!(
    /// `mean(|p − y|)`, reported as `mae` by default.
    MeanAbsoluteError, "mae", |d| d.abs() as f64
);
