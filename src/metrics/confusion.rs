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

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
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
        let (threshold, class_id) = (self.threshold, self.class_id);
        super::for_each_value(pred, target, weights, class_id, |p, y, w| match (p > threshold, y != 0.0) {
            (true, true) => self.tp += w,
            (true, false) => self.fp += w,
            (false, true) => self.fn_ += w,
            (false, false) => {}
        });
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
    fn state_len(&self) -> Option<usize> {
        Some(3)
    }
    fn save_state(&self, out: &mut [f64]) {
        out[..3].copy_from_slice(&[self.tp, self.fp, self.fn_])
    }
    fn load_state(&mut self, state: &[f64]) {
        (self.tp, self.fp, self.fn_) = (state[0], state[1], state[2])
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

/// The confusion matrix of a classifier's predictions `pred` (`[n, classes]` probabilities,
/// or `[n, 1]` sigmoid outputs read at 0.5) against targets `y` (class indices, or one-hot
/// rows): `matrix[true][predicted]` counts samples, as scikit-learn's `confusion_matrix`.
///
/// ```
/// use minibatch::{metrics::confusion_matrix, Tensor};
/// let pred = Tensor::from_vec(&[3, 2], vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4]).unwrap();
/// let y = Tensor::from_slice(&[0.0, 1.0, 1.0]);
/// assert_eq!(confusion_matrix(&pred, &y), vec![vec![1, 0], vec![1, 1]]);
/// ```
pub fn confusion_matrix(pred: &Tensor, y: &Tensor) -> Vec<Vec<u64>> {
    let k = pred.row_len();
    let classes = if k == 1 { 2 } else { k };
    let mut matrix = vec![vec![0u64; classes]; classes];
    let width = y.row_len();
    for (i, p) in pred.data().chunks(k.max(1)).enumerate() {
        let predicted = if k == 1 { usize::from(p[0] > 0.5) } else { crate::tensor::kernels::argmax(p) };
        let target = &y.data()[i * width..(i + 1) * width];
        let truth = if width == 1 { target[0].max(0.0) as usize } else { crate::tensor::kernels::argmax(target) };
        if truth < classes {
            matrix[truth][predicted] += 1;
        }
    }
    matrix
}
