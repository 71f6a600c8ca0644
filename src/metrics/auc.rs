//! AUC, as Keras computes it: counts of true and false positives at `num_thresholds` evenly
//! spaced thresholds (`−ε`, `1/(N−1)`, …, `(N−2)/(N−1)`, `1 + ε`), then the area under the ROC
//! or precision–recall curve through those points.
//!
//! The counts at each threshold are kept as `thresholds.rs` describes (targets `y ≠ 0` are
//! positive).
//!
//! - ROC: the trapezoid rule over (false-positive rate, recall);
//! - PR: Davis & Goadrich's interpolation between the points, as Keras's `interpolate_pr_auc`.

use super::thresholds::{divide_no_nan, Buckets};
use super::{Direction, Metric};
use crate::tensor::Tensor;

/// Which curve an [`Auc`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Curve {
    /// Receiver operating characteristic: recall against false-positive rate.
    #[serde(rename = "ROC")]
    Roc,
    /// Precision against recall.
    #[serde(rename = "PR")]
    Pr,
}

/// Area under the ROC or PR curve (Keras's `AUC(num_thresholds=200, curve="ROC")`).
#[derive(Debug, Clone)]
pub struct Auc {
    name: String,
    curve: Curve,
    /// Weighted counts of positives and negatives per bucket.
    buckets: Buckets,
}

impl Auc {
    /// Keras's `AUC()`: ROC, 200 thresholds, reported as `auc`.
    pub fn new() -> Self {
        Auc::with("auc", Curve::Roc, 200)
    }

    /// The area under `curve` with `num_thresholds` thresholds (at least 2), reported as `name`.
    pub fn with(name: &str, curve: Curve, num_thresholds: usize) -> Self {
        Auc { name: name.into(), curve, buckets: Buckets::new(num_thresholds) }
    }

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The number of thresholds.
    pub fn num_thresholds(&self) -> usize {
        self.buckets.len()
    }
}

impl Default for Auc {
    fn default() -> Self {
        Auc::new()
    }
}

impl Metric for Auc {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        let buckets = &mut self.buckets;
        super::for_each_value(pred, target, weights, None, |p, y, w| buckets.add(p, y, w));
    }
    fn result(&self) -> f64 {
        // From the highest threshold down: the counts at threshold i + 1, then at i.
        let mut counts = self.buckets.descending().map(|(_, c)| c);
        let Some(mut above) = counts.next() else { return 0.0 };
        let (total_p, total_n) = (above.tp + above.fn_, above.fp + above.tn);
        let mut area = 0.0;
        for at in counts {
            let (tp0, fp0, tp1, fp1) = (at.tp, at.fp, above.tp, above.fp);
            area += match self.curve {
                Curve::Roc => {
                    let (r0, r1) = (divide_no_nan(tp0, total_p), divide_no_nan(tp1, total_p));
                    let (f0, f1) = (divide_no_nan(fp0, total_n), divide_no_nan(fp1, total_n));
                    (f0 - f1) * (r0 + r1) / 2.0
                }
                Curve::Pr => {
                    let (p0, p1) = (tp0 + fp0, tp1 + fp1);
                    let (dtp, dp) = (tp0 - tp1, p0 - p1);
                    let slope = divide_no_nan(dtp, dp.max(0.0));
                    let intercept = tp1 - slope * p1;
                    let ratio = if p0 > 0.0 && p1 > 0.0 { divide_no_nan(p0, p1.max(0.0)) } else { 1.0 };
                    divide_no_nan(slope * (dtp + intercept * ratio.ln()), total_p.max(0.0))
                }
            };
            above = at;
        }
        area
    }
    fn reset(&mut self) {
        self.buckets.reset();
    }
    fn state_len(&self) -> Option<usize> {
        Some(self.buckets.state_len())
    }
    fn save_state(&self, out: &mut [f64]) {
        self.buckets.save(out)
    }
    fn load_state(&mut self, state: &[f64]) {
        self.buckets.load(state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"class_name": "AUC", "config": {
            "name": self.name, "curve": self.curve, "num_thresholds": self.buckets.len()}}))
    }
}
