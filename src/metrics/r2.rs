//! The coefficient of determination, as Keras's `R2Score()`: per output column, from weighted
//! sums over the epoch,
//!
//! ```text
//! R² = 1 − Σ w (y − p)² / (Σ w y² − (Σ w y)² / Σ w)
//! ```
//!
//! (0 where the targets do not vary), then the mean over columns (`uniform_average`).

use super::{Direction, Metric};
use crate::tensor::Tensor;

/// Keras's `R2Score()` (class_aggregation `uniform_average`, no adjustment).
#[derive(Debug, Clone)]
pub struct R2Score {
    name: String,
    sum: Vec<f64>,
    squared_sum: Vec<f64>,
    residual: Vec<f64>,
    count: Vec<f64>,
}

impl R2Score {
    /// An empty score, reported as `r2_score`.
    pub fn new() -> Self {
        R2Score {
            name: "r2_score".into(),
            sum: Vec::new(),
            squared_sum: Vec::new(),
            residual: Vec::new(),
            count: Vec::new(),
        }
    }

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

impl Default for R2Score {
    fn default() -> Self {
        R2Score::new()
    }
}

impl Metric for R2Score {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        let k = pred.row_len();
        if self.sum.len() != k {
            for v in [&mut self.sum, &mut self.squared_sum, &mut self.residual, &mut self.count] {
                *v = vec![0.0; k];
            }
        }
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            for (j, (&p, &y)) in pred.row(i).iter().zip(target.row(i)).enumerate() {
                let (p, y) = (p as f64, y as f64);
                self.sum[j] += w * y;
                self.squared_sum[j] += w * y * y;
                self.residual[j] += w * (y - p) * (y - p);
                self.count[j] += w;
            }
        }
    }
    fn result(&self) -> f64 {
        let k = self.sum.len();
        if k == 0 {
            return 0.0;
        }
        let score = |j: usize| {
            let total = self.squared_sum[j] - self.sum[j] * self.sum[j] / self.count[j];
            let r = 1.0 - self.residual[j] / total;
            if r.is_infinite() {
                0.0
            } else {
                r
            }
        };
        (0..k).map(score).sum::<f64>() / k as f64
    }
    fn reset(&mut self) {
        for v in [&mut self.sum, &mut self.squared_sum, &mut self.residual, &mut self.count] {
            v.fill(0.0);
        }
    }
    fn state_len(&self) -> Option<usize> {
        Some(self.sum.len() * 4)
    }
    fn save_state(&self, out: &mut [f64]) {
        super::save_columns(&[&self.sum, &self.squared_sum, &self.residual, &self.count], out)
    }
    fn load_state(&mut self, state: &[f64]) {
        super::load_columns(&mut [&mut self.sum, &mut self.squared_sum, &mut self.residual, &mut self.count], state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"class_name": "R2Score", "config": {"name": self.name}}))
    }
}
