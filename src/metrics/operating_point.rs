//! The best of one rate while another holds a floor: Keras's `PrecisionAtRecall` family as
//! one type, [`OperatingPoint`].

use super::thresholds::{divide_no_nan, Buckets, Counts};
use super::{Direction, Metric};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Which rate an [`OperatingPoint`] maximizes, and which it holds at a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tradeoff {
    /// Precision, with recall at least the value.
    PrecisionAtRecall,
    /// Recall, with precision at least the value.
    RecallAtPrecision,
    /// Sensitivity (recall), with specificity at least the value.
    SensitivityAtSpecificity,
    /// Specificity, with sensitivity at least the value.
    SpecificityAtSensitivity,
}

impl Tradeoff {
    const ALL: [Tradeoff; 4] = [
        Tradeoff::PrecisionAtRecall,
        Tradeoff::RecallAtPrecision,
        Tradeoff::SensitivityAtSpecificity,
        Tradeoff::SpecificityAtSensitivity,
    ];

    /// Keras's class name.
    pub const fn class_name(self) -> &'static str {
        match self {
            Tradeoff::PrecisionAtRecall => "PrecisionAtRecall",
            Tradeoff::RecallAtPrecision => "RecallAtPrecision",
            Tradeoff::SensitivityAtSpecificity => "SensitivityAtSpecificity",
            Tradeoff::SpecificityAtSensitivity => "SpecificityAtSensitivity",
        }
    }

    /// Keras's name of the constructor's argument (and config key).
    const fn argument(self) -> &'static str {
        match self {
            Tradeoff::PrecisionAtRecall => "recall",
            Tradeoff::RecallAtPrecision => "precision",
            Tradeoff::SensitivityAtSpecificity => "specificity",
            Tradeoff::SpecificityAtSensitivity => "sensitivity",
        }
    }

    /// Keras's default name (the snake case of the class name).
    const fn default_name(self) -> &'static str {
        match self {
            Tradeoff::PrecisionAtRecall => "precision_at_recall",
            Tradeoff::RecallAtPrecision => "recall_at_precision",
            Tradeoff::SensitivityAtSpecificity => "sensitivity_at_specificity",
            Tradeoff::SpecificityAtSensitivity => "specificity_at_sensitivity",
        }
    }

    /// (the constrained rate, the rate maximized) at one threshold.
    fn rates(self, c: Counts) -> (f64, f64) {
        let recall = divide_no_nan(c.tp, c.tp + c.fn_);
        let precision = divide_no_nan(c.tp, c.tp + c.fp);
        let specificity = divide_no_nan(c.tn, c.tn + c.fp);
        match self {
            Tradeoff::PrecisionAtRecall => (recall, precision),
            Tradeoff::RecallAtPrecision => (precision, recall),
            Tradeoff::SensitivityAtSpecificity => (specificity, recall),
            Tradeoff::SpecificityAtSensitivity => (recall, specificity),
        }
    }
}

/// The best of one rate while another stays at or above a floor, at Keras's evenly spaced
/// thresholds (Keras's `SensitivitySpecificityBase`): `PrecisionAtRecall`,
/// `RecallAtPrecision`, `SensitivityAtSpecificity` and `SpecificityAtSensitivity`.
///
/// From the counts at each of the `N` thresholds (see `thresholds.rs`; here `t_0 = 0` and
/// `t_{N−1} = 1`):
///
/// ```text
/// recall = sensitivity = TP / (TP + FN)     precision = TP / (TP + FP)     specificity = TN / (TN + FP)
/// PrecisionAtRecall(r) = max { precision_i : recall_i ≥ r }        (0 when no threshold qualifies)
/// ```
///
/// and likewise for the other three. `class_id` restricts the counts to one column.
///
/// ```
/// use minibatch::metrics::{Metric, OperatingPoint};
/// use minibatch::Tensor;
/// // Keras's example: PrecisionAtRecall(0.5) on [0.0, 0.3, 0.8, 0.4, 0.3] against [0, 0, 0, 1, 1]:
/// // at the thresholds where at least half the positives are found, the best precision is 0.5.
/// let mut m = OperatingPoint::precision_at_recall(0.5).unwrap();
/// let pred = Tensor::from_slice(&[0.0, 0.3, 0.8, 0.4, 0.3]);
/// m.update(&pred, &Tensor::from_slice(&[0.0, 0.0, 0.0, 1.0, 1.0]), None);
/// assert!((m.result() - 0.5).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct OperatingPoint {
    name: String,
    tradeoff: Tradeoff,
    value: f32,
    class_id: Option<usize>,
    buckets: Buckets,
}

impl OperatingPoint {
    /// `tradeoff` with the floor `value` (in `[0, 1]`), Keras's 200 thresholds, every column.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value outside `[0, 1]`.
    pub fn new(tradeoff: Tradeoff, value: f32) -> Result<Self> {
        if !(0.0..=1.0).contains(&value) {
            return Err(Error::invalid(
                tradeoff.argument(),
                value,
                format!("a rate in [0, 1] for {}", tradeoff.class_name()),
            ));
        }
        Ok(OperatingPoint {
            name: tradeoff.default_name().into(),
            tradeoff,
            value,
            class_id: None,
            buckets: Buckets::new(200),
        })
    }

    /// Keras's `PrecisionAtRecall(recall)`.
    ///
    /// # Errors
    /// As [`OperatingPoint::new`].
    pub fn precision_at_recall(recall: f32) -> Result<Self> {
        OperatingPoint::new(Tradeoff::PrecisionAtRecall, recall)
    }

    /// Keras's `RecallAtPrecision(precision)`.
    ///
    /// # Errors
    /// As [`OperatingPoint::new`].
    pub fn recall_at_precision(precision: f32) -> Result<Self> {
        OperatingPoint::new(Tradeoff::RecallAtPrecision, precision)
    }

    /// Keras's `SensitivityAtSpecificity(specificity)`.
    ///
    /// # Errors
    /// As [`OperatingPoint::new`].
    pub fn sensitivity_at_specificity(specificity: f32) -> Result<Self> {
        OperatingPoint::new(Tradeoff::SensitivityAtSpecificity, specificity)
    }

    /// Keras's `SpecificityAtSensitivity(sensitivity)`.
    ///
    /// # Errors
    /// As [`OperatingPoint::new`].
    pub fn specificity_at_sensitivity(sensitivity: f32) -> Result<Self> {
        OperatingPoint::new(Tradeoff::SpecificityAtSensitivity, sensitivity)
    }

    /// Keras's `num_thresholds` (at least 2; Keras's 1, a single threshold at 0.5, is not
    /// offered).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for fewer than 2.
    pub fn num_thresholds(mut self, n: usize) -> Result<Self> {
        if n < 2 {
            return Err(Error::invalid("num_thresholds", n, "at least 2"));
        }
        self.buckets = Buckets::new(n);
        Ok(self)
    }

    /// Keras's `class_id`: count only this column of the predictions.
    pub fn class_id(mut self, class_id: usize) -> Self {
        self.class_id = Some(class_id);
        self
    }

    /// The key in logs and the History (Keras's `name`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

impl Metric for OperatingPoint {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        let buckets = &mut self.buckets;
        super::for_each_value(pred, target, weights, self.class_id, |p, y, w| buckets.add(p, y, w));
    }
    fn result(&self) -> f64 {
        let floor = self.value as f64;
        self.buckets
            .descending()
            .map(|(_, c)| self.tradeoff.rates(c))
            .filter(|&(constrained, _)| constrained >= floor)
            .fold(0.0, |best, (_, rate)| best.max(rate))
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
        let mut c = serde_json::json!({"name": self.name, "num_thresholds": self.buckets.len(),
            "class_id": self.class_id});
        c[self.tradeoff.argument()] = serde_json::json!(self.value);
        Some(serde_json::json!({"class_name": self.tradeoff.class_name(), "config": c}))
    }
}

/// Rebuilds a saved metric of Keras class `class` from its `config`; `None` for another class.
pub(crate) fn from_config(class: &str, c: &serde_json::Value) -> Option<Result<OperatingPoint>> {
    use serde_json::Value;
    let tradeoff = Tradeoff::ALL.into_iter().find(|t| t.class_name() == class)?;
    let make = || -> Result<OperatingPoint> {
        let value = c
            .get(tradeoff.argument())
            .and_then(Value::as_f64)
            .ok_or_else(|| Error::State(format!("the saved metric {class} {c}: no {}", tradeoff.argument())))?;
        let mut m = OperatingPoint::new(tradeoff, value as f32)?
            .num_thresholds(c.get("num_thresholds").and_then(Value::as_u64).unwrap_or(200) as usize)?;
        if let Some(id) = c.get("class_id").and_then(Value::as_u64) {
            m = m.class_id(id as usize);
        }
        if let Some(name) = c.get("name").and_then(Value::as_str) {
            m = m.name(name);
        }
        Ok(m)
    };
    Some(make())
}
