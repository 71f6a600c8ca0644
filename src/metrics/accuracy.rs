//! `Accuracy`: the fraction of samples predicted right (see the type).

use super::{Direction, Mean, Metric};
use crate::tensor::{kernels::argmax, Tensor};

/// Fraction of samples predicted right.
///
/// Accuracy, resolved from the shapes the way Keras resolves the string `"accuracy"`:
///
/// - predictions with one value per sample: **binary** — `p > 0.5` against `y > 0.5`;
/// - targets with one value per sample, predictions with `k > 1`: **sparse** — `argmax p == y`;
/// - otherwise **categorical** — `argmax p == argmax y`.
#[derive(Debug, Clone)]
pub struct Accuracy {
    name: String,
    mean: Mean,
}

impl Accuracy {
    /// An accuracy metric reported as `accuracy`.
    pub fn new() -> Self {
        Accuracy::named("accuracy")
    }

    /// An accuracy metric reported under `name`.
    pub fn named(name: &str) -> Self {
        Accuracy { name: name.into(), mean: Mean::default() }
    }
}

impl Default for Accuracy {
    fn default() -> Self {
        Accuracy::new()
    }
}

/// Number of samples predicted right in one batch.
pub fn count_correct(pred: &Tensor, target: &Tensor) -> usize {
    let (pk, tk) = (pred.row_len(), target.row_len());
    (0..pred.batch())
        .filter(|&i| {
            let (p, t) = (pred.row(i), target.row(i));
            if pk == 1 {
                (p[0] > 0.5) == (t[0] > 0.5)
            } else if tk == 1 {
                argmax(p) == t[0] as usize
            } else {
                argmax(p) == argmax(t)
            }
        })
        .count()
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor) {
        self.mean.add(count_correct(pred, target) as f64, pred.batch() as f64);
    }
    fn result(&self) -> f64 {
        self.mean.result()
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
}
