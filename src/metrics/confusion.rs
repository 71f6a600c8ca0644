//! Precision and recall, as Keras counts them: every prediction value is one decision
//! (`p > threshold`) against its target (`y ≠ 0` is positive), weighted by its sample's
//! weight; `class_id` restricts the count to one column.
//!
//! - precision = TP / (TP + FP)
//! - recall = TP / (TP + FN)
//!
//! (0 when the denominator is 0.)

use super::{Direction, Metric};
use crate::tensor::Tensor;

/// What a [`Confusion`] metric reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    /// TP / (TP + FP).
    Precision,
    /// TP / (TP + FN).
    Recall,
}

/// Precision or recall at one threshold, optionally for one class.
#[derive(Debug, Clone)]
pub struct Confusion {
    name: String,
    ratio: Ratio,
    threshold: f32,
    class_id: Option<usize>,
    tp: f64,
    fp: f64,
    fn_: f64,
}

impl Confusion {
    /// Keras's `Precision()`: threshold 0.5, every column.
    pub fn precision() -> Self {
        Confusion::new("precision", Ratio::Precision)
    }

    /// Keras's `Recall()`: threshold 0.5, every column.
    pub fn recall() -> Self {
        Confusion::new("recall", Ratio::Recall)
    }

    /// `ratio` reported under `name`, at threshold 0.5 over every column.
    pub fn new(name: &str, ratio: Ratio) -> Self {
        Confusion { name: name.into(), ratio, threshold: 0.5, class_id: None, tp: 0.0, fp: 0.0, fn_: 0.0 }
    }

    /// Keras's `thresholds`: a prediction above it is positive.
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// Keras's `class_id`: count only this column of the predictions.
    pub fn class_id(mut self, class_id: usize) -> Self {
        self.class_id = Some(class_id);
        self
    }

    /// The column this metric reads, if one.
    pub fn column(&self) -> Option<usize> {
        self.class_id
    }
}

impl Metric for Confusion {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            let (p, t) = (pred.row(i), target.row(i));
            let mut count = |p: f32, y: f32| match (p > self.threshold, y != 0.0) {
                (true, true) => self.tp += w,
                (true, false) => self.fp += w,
                (false, true) => self.fn_ += w,
                (false, false) => {}
            };
            match self.class_id {
                Some(c) if c < p.len() && c < t.len() => count(p[c], t[c]),
                Some(_) => {}
                None => p.iter().zip(t).for_each(|(&p, &y)| count(p, y)),
            }
        }
    }
    fn result(&self) -> f64 {
        let denominator = match self.ratio {
            Ratio::Precision => self.tp + self.fp,
            Ratio::Recall => self.tp + self.fn_,
        };
        if denominator > 0.0 {
            self.tp / denominator
        } else {
            0.0
        }
    }
    fn reset(&mut self) {
        (self.tp, self.fp, self.fn_) = (0.0, 0.0, 0.0);
    }
    fn config(&self) -> Option<serde_json::Value> {
        let class = match self.ratio {
            Ratio::Precision => "Precision",
            Ratio::Recall => "Recall",
        };
        Some(serde_json::json!({"class_name": class, "config": {
            "name": self.name, "thresholds": self.threshold, "class_id": self.class_id}}))
    }
}
