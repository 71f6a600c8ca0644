//! Error metrics: per sample, the mean over its values; then the (weighted) mean over samples.

use super::{Direction, Mean, Metric};
use crate::tensor::Tensor;

/// Which error a [`MeanError`] averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `(p − y)²`.
    Squared,
    /// `|p − y|`.
    Absolute,
    /// `(p − y)²`, with the square root of the mean reported.
    RootSquared,
    /// `(log(max(p, ε) + 1) − log(max(y, ε) + 1))²`.
    SquaredLogarithmic,
    /// `100 · |y − p| / max(|y|, ε)`.
    AbsolutePercentage,
}

/// The (weighted) mean of an error over samples: `mse`, `mae`, `root_mean_squared_error`,
/// `mean_squared_logarithmic_error`, `mean_absolute_percentage_error`.
#[derive(Debug, Clone)]
pub struct MeanError {
    name: String,
    kind: ErrorKind,
    mean: Mean,
}

impl MeanError {
    /// The metric reported under `name`.
    pub fn new(name: &str, kind: ErrorKind) -> Self {
        MeanError { name: name.into(), kind, mean: Mean::default() }
    }

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Mean squared error, reported under `name`.
    pub fn squared(name: &str) -> Self {
        MeanError::new(name, ErrorKind::Squared)
    }

    /// Mean absolute error, reported under `name`.
    pub fn absolute(name: &str) -> Self {
        MeanError::new(name, ErrorKind::Absolute)
    }
}

impl Metric for MeanError {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Minimize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        const EPS: f32 = crate::losses::EPSILON;
        let f = |p: f32, y: f32| -> f64 {
            match self.kind {
                ErrorKind::Squared | ErrorKind::RootSquared => ((p - y) as f64).powi(2),
                ErrorKind::Absolute => (p - y).abs() as f64,
                ErrorKind::SquaredLogarithmic => (((p.max(EPS) + 1.0).ln() - (y.max(EPS) + 1.0).ln()) as f64).powi(2),
                ErrorKind::AbsolutePercentage => 100.0 * ((y - p) / y.abs().max(EPS)).abs() as f64,
            }
        };
        let k = pred.row_len().max(1) as f64;
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            let s: f64 = pred.row(i).iter().zip(target.row(i)).map(|(&p, &y)| f(p, y)).sum();
            self.mean.add(w * s / k, w);
        }
    }
    fn result(&self) -> f64 {
        let m = self.mean.result();
        if self.kind == ErrorKind::RootSquared {
            m.sqrt()
        } else {
            m
        }
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
    fn state_len(&self) -> Option<usize> {
        Some(2)
    }
    fn save_state(&self, out: &mut [f64]) {
        self.mean.save(out)
    }
    fn load_state(&mut self, state: &[f64]) {
        self.mean.load(state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"class_name": "MeanError", "config": {"name": self.name, "kind": self.kind}}))
    }
}
