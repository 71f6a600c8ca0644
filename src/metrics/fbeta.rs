//! F-beta and F1 scores, as Keras's `FBetaScore` and `F1Score`: per class, from weighted
//! counts of true positives, false positives and false negatives over the epoch,
//!
//! ```text
//! precision = TP / (TP + FP + ε)      recall = TP / (TP + FN + ε)
//! F = (1 + β²) · precision · recall / (β² · precision + recall + ε)
//! ```
//!
//! then averaged over classes: `macro` (plain mean), `weighted` (by each class's weighted
//! count of true labels) or `micro` (counts pooled over classes first). A prediction is
//! positive above `threshold`, or, without one, where it is the row's largest value.
//! Targets are one-hot (or multi-label) rows.

use super::{Direction, Metric};
use crate::tensor::Tensor;

const EPS: f64 = 1e-7;

/// How per-class scores become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// Counts pooled over classes, one score.
    Micro,
    /// The mean of the per-class scores.
    Macro,
    /// The per-class scores weighted by each class's count of true labels.
    Weighted,
}

/// Keras's `FBetaScore(average, beta, threshold)`.
#[derive(Debug, Clone)]
pub struct FBetaScore {
    name: String,
    average: Average,
    beta: f64,
    threshold: Option<f32>,
    tp: Vec<f64>,
    fp: Vec<f64>,
    fn_: Vec<f64>,
    support: Vec<f64>,
}

impl FBetaScore {
    /// The F-beta score reported as `name`, macro-averaged, positive at the row's largest value.
    pub fn new(name: &str, beta: f64) -> Self {
        FBetaScore {
            name: name.into(),
            average: Average::Macro,
            beta,
            threshold: None,
            tp: Vec::new(),
            fp: Vec::new(),
            fn_: Vec::new(),
            support: Vec::new(),
        }
    }

    /// Keras's `F1Score`, macro-averaged, reported as `f1_score`.
    pub fn f1() -> Self {
        FBetaScore::new("f1_score", 1.0)
    }

    /// How per-class scores are averaged.
    pub fn average(mut self, average: Average) -> Self {
        self.average = average;
        self
    }

    /// A prediction above `threshold` is positive (instead of the row's largest).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

impl Metric for FBetaScore {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        let k = pred.row_len();
        if self.tp.len() != k {
            for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
                *v = vec![0.0; k];
            }
        }
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            let (p, t) = (pred.row(i), target.row(i));
            let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for j in 0..k.min(t.len()) {
                let positive = match self.threshold {
                    Some(th) => p[j] > th,
                    None => p[j] >= max && p[j].abs() > 1e-9,
                };
                let (yp, yt) = (if positive { 1.0 } else { 0.0 }, t[j] as f64);
                self.tp[j] += w * yp * yt;
                self.fp[j] += w * yp * (1.0 - yt);
                self.fn_[j] += w * (1.0 - yp) * yt;
                self.support[j] += w * yt;
            }
        }
    }
    fn result(&self) -> f64 {
        let b2 = self.beta * self.beta;
        let f = |tp: f64, fp: f64, fn_: f64| {
            let precision = tp / (tp + fp + EPS);
            let recall = tp / (tp + fn_ + EPS);
            (1.0 + b2) * precision * recall / (b2 * precision + recall + EPS)
        };
        let k = self.tp.len();
        if k == 0 {
            return 0.0;
        }
        match self.average {
            Average::Micro => f(self.tp.iter().sum(), self.fp.iter().sum(), self.fn_.iter().sum()),
            Average::Macro => (0..k).map(|j| f(self.tp[j], self.fp[j], self.fn_[j])).sum::<f64>() / k as f64,
            Average::Weighted => {
                let total: f64 = self.support.iter().sum::<f64>() + EPS;
                (0..k).map(|j| f(self.tp[j], self.fp[j], self.fn_[j]) * self.support[j] / total).sum()
            }
        }
    }
    fn reset(&mut self) {
        for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
            v.fill(0.0);
        }
    }
    fn state_len(&self) -> Option<usize> {
        Some(self.tp.len() * 4)
    }
    fn save_state(&self, out: &mut [f64]) {
        super::save_columns(&[&self.tp, &self.fp, &self.fn_, &self.support], out)
    }
    fn load_state(&mut self, state: &[f64]) {
        super::load_columns(&mut [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support], state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"class_name": "FBetaScore", "config": {
            "name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}}))
    }
}
