//! Intersection over union: Keras's `IoU` metrics as one type, [`Iou`].

use super::{Direction, Metric};
use crate::error::{Error, Result};
use crate::tensor::{kernels::argmax, Tensor};

/// Keras's class of an [`Iou`], which decides how it reads values and which classes it averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    IoU,
    MeanIoU,
    BinaryIoU,
    OneHotIoU,
    OneHotMeanIoU,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::IoU => "IoU",
            Kind::MeanIoU => "MeanIoU",
            Kind::BinaryIoU => "BinaryIoU",
            Kind::OneHotIoU => "OneHotIoU",
            Kind::OneHotMeanIoU => "OneHotMeanIoU",
        }
    }

    /// Keras's default name (the snake case of the class name).
    fn default_name(self) -> &'static str {
        match self {
            Kind::IoU => "io_u",
            Kind::MeanIoU => "mean_io_u",
            Kind::BinaryIoU => "binary_io_u",
            Kind::OneHotIoU => "one_hot_io_u",
            Kind::OneHotMeanIoU => "one_hot_mean_io_u",
        }
    }
}

/// The most classes an [`Iou`] counts (its confusion matrix then holds 16M counts, 128 MiB).
pub const MOST_CLASSES: usize = 1 << 12;

/// Intersection over union, as Keras's `IoU`, `MeanIoU`, `BinaryIoU`, `OneHotIoU` and
/// `OneHotMeanIoU`: every (target, predicted) class pair is counted, weighted, into a
/// `num_classes × num_classes` confusion matrix `C[true][predicted]`, and then for each class
/// `c` asked about
///
/// ```text
/// IoU_c = C[c][c] / (Σ_j C[c][j] + Σ_i C[i][c] − C[c][c])    (TP / (TP + FP + FN))
/// result = mean of IoU_c over the asked classes whose denominator is not 0
/// ```
///
/// (with Keras's `1e-7` in both divisions). How values become classes:
/// - sparse targets or predictions (the default): every value is a class index, truncated to
///   an integer as Keras's cast does;
/// - one-hot (`OneHotIoU`, or `sparse_y_pred(false)`): the argmax of each row of the last axis;
/// - `BinaryIoU`: predictions `≥ threshold` are class 1, the others class 0.
///
/// A pair with a class outside `[0, num_classes)`, or whose target is `ignore_class`, is not
/// counted.
///
/// ```
/// use minibatch::metrics::{Iou, Metric};
/// use minibatch::Tensor;
/// // Keras's example: cm = [[1, 1], [1, 1]], IoU of each class 1/3.
/// let mut m = Iou::mean(2).unwrap();
/// m.update(&Tensor::from_slice(&[0., 1., 0., 1.]), &Tensor::from_slice(&[0., 0., 1., 1.]), None);
/// assert!((m.result() - 1.0 / 3.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct Iou {
    name: String,
    kind: Kind,
    num_classes: usize,
    target_class_ids: Vec<usize>,
    ignore_class: Option<i64>,
    sparse_y_true: bool,
    sparse_y_pred: bool,
    threshold: f32,
    /// `C[true][predicted]`, weighted counts, row-major.
    matrix: Vec<f64>,
}

impl Iou {
    fn with(kind: Kind, num_classes: usize, target_class_ids: Vec<usize>) -> Result<Self> {
        // The confusion matrix is num_classes², sized by a saved config too: bounded.
        if !(1..=MOST_CLASSES).contains(&num_classes) {
            return Err(Error::invalid("num_classes", num_classes, format!("1 to {MOST_CLASSES}")));
        }
        if target_class_ids.is_empty() {
            return Err(Error::invalid("target_class_ids", "[]", "at least one class id"));
        }
        if let Some(&bad) = target_class_ids.iter().find(|&&c| c >= num_classes) {
            return Err(Error::invalid("target_class_ids", bad, format!("a class id in [0, {num_classes})")));
        }
        let one_hot = matches!(kind, Kind::OneHotIoU | Kind::OneHotMeanIoU);
        Ok(Iou {
            name: kind.default_name().into(),
            kind,
            num_classes,
            target_class_ids,
            ignore_class: None,
            sparse_y_true: !one_hot,
            sparse_y_pred: !one_hot,
            threshold: 0.5,
            matrix: vec![0.0; num_classes * num_classes],
        })
    }

    /// Keras's `IoU(num_classes, target_class_ids)`: the mean IoU of the classes asked about.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no classes or more than [`MOST_CLASSES`], no ids, or an id
    /// outside `[0, num_classes)`.
    pub fn new(num_classes: usize, target_class_ids: &[usize]) -> Result<Self> {
        Iou::with(Kind::IoU, num_classes, target_class_ids.to_vec())
    }

    /// Keras's `MeanIoU(num_classes)`: the mean IoU of every class.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `num_classes` 0 or more than [`MOST_CLASSES`].
    pub fn mean(num_classes: usize) -> Result<Self> {
        Iou::with(Kind::MeanIoU, num_classes, (0..num_classes).collect())
    }

    /// Keras's `BinaryIoU(target_class_ids, threshold)`: predictions at or above `threshold`
    /// are class 1 (Keras's defaults: `[0, 1]`, 0.5).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an id other than 0 or 1, or a threshold that is NaN.
    pub fn binary(target_class_ids: &[usize], threshold: f32) -> Result<Self> {
        if threshold.is_nan() {
            return Err(Error::invalid("threshold (BinaryIoU)", threshold, "a number"));
        }
        let mut m = Iou::with(Kind::BinaryIoU, 2, target_class_ids.to_vec())?;
        m.threshold = threshold;
        Ok(m)
    }

    /// Keras's `OneHotIoU(num_classes, target_class_ids)`: targets and predictions are rows of
    /// the last axis, read by their argmax.
    ///
    /// # Errors
    /// As [`Iou::new`].
    pub fn one_hot(num_classes: usize, target_class_ids: &[usize]) -> Result<Self> {
        Iou::with(Kind::OneHotIoU, num_classes, target_class_ids.to_vec())
    }

    /// Keras's `OneHotMeanIoU(num_classes)`.
    ///
    /// # Errors
    /// As [`Iou::mean`].
    pub fn one_hot_mean(num_classes: usize) -> Result<Self> {
        Iou::with(Kind::OneHotMeanIoU, num_classes, (0..num_classes).collect())
    }

    /// The key in logs and the History (Keras's `name`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Keras's `ignore_class`: pairs whose target is this class are not counted.
    pub fn ignore_class(mut self, class: i64) -> Self {
        self.ignore_class = Some(class);
        self
    }

    /// Keras's `sparse_y_pred`: `false` reads predictions as rows of scores (their argmax).
    pub fn sparse_y_pred(mut self, sparse: bool) -> Self {
        self.sparse_y_pred = sparse;
        self
    }

    /// Keras's `sparse_y_true` (on `IoU` and `MeanIoU`): `false` reads targets as one-hot rows.
    pub fn sparse_y_true(mut self, sparse: bool) -> Self {
        self.sparse_y_true = sparse;
        self
    }

    /// The weighted confusion matrix so far, `[true][predicted]`.
    pub fn confusion(&self) -> Vec<Vec<f64>> {
        self.matrix.chunks(self.num_classes).map(<[f64]>::to_vec).collect()
    }

    /// Counts one (target, predicted) pair, unless either is out of range or ignored.
    fn count(&mut self, truth: i64, predicted: i64, w: f64) {
        let n = self.num_classes as i64;
        let valid = (0..n).contains(&truth) && (0..n).contains(&predicted) && self.ignore_class != Some(truth);
        if valid {
            self.matrix[truth as usize * self.num_classes + predicted as usize] += w;
        }
    }
}

impl Metric for Iou {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn check_shapes(&mut self, target: &[usize], output: &[usize]) -> Result<()> {
        let width = |s: &[usize]| *s.last().unwrap_or(&1);
        let per = |s: &[usize], sparse: bool| {
            if sparse {
                s.iter().product::<usize>()
            } else {
                s.iter().product::<usize>() / width(s).max(1)
            }
        };
        let (t, p) = (per(target, self.sparse_y_true), per(output, self.sparse_y_pred));
        if t != p {
            return Err(Error::shape(
                format!("targets for {} {:?}", self.kind.class_name(), self.name),
                format!("as many classes per sample as predictions ({p}; model output {output:?})"),
                target,
            ));
        }
        Ok(())
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        // Values per class read: 1 sparse, a row of scores or one-hot otherwise.
        let pw = if self.sparse_y_pred { 1 } else { *pred.shape().last().unwrap_or(&1) };
        let tw = if self.sparse_y_true { 1 } else { *target.shape().last().unwrap_or(&1) };
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            let (p, t) = (pred.row(i), target.row(i));
            let pairs = (p.len() / pw.max(1)).min(t.len() / tw.max(1));
            for j in 0..pairs {
                let predicted = match (self.kind, self.sparse_y_pred) {
                    (Kind::BinaryIoU, _) => i64::from(p[j] >= self.threshold),
                    (_, true) => p[j] as i64,
                    (_, false) => argmax(&p[j * pw..(j + 1) * pw]) as i64,
                };
                let truth = if self.sparse_y_true { t[j] as i64 } else { argmax(&t[j * tw..(j + 1) * tw]) as i64 };
                self.count(truth, predicted, w);
            }
        }
    }
    fn result(&self) -> f64 {
        const EPSILON: f64 = 1e-7;
        let k = self.num_classes;
        let (mut sum, mut valid) = (0.0, 0.0);
        for &c in &self.target_class_ids {
            let tp = self.matrix[c * k + c];
            let row: f64 = self.matrix[c * k..(c + 1) * k].iter().sum();
            let column: f64 = (0..k).map(|i| self.matrix[i * k + c]).sum();
            let denominator = row + column - tp;
            if denominator > 1e-9 {
                sum += tp / (denominator + EPSILON);
                valid += 1.0;
            }
        }
        sum / (valid + EPSILON)
    }
    fn reset(&mut self) {
        self.matrix.fill(0.0);
    }
    fn state_len(&self) -> Option<usize> {
        Some(self.matrix.len())
    }
    fn save_state(&self, out: &mut [f64]) {
        out[..self.matrix.len()].copy_from_slice(&self.matrix)
    }
    fn load_state(&mut self, state: &[f64]) {
        let n = self.matrix.len();
        self.matrix.copy_from_slice(&state[..n])
    }
    fn config(&self) -> Option<serde_json::Value> {
        let mut c = serde_json::json!({"name": self.name, "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred});
        if self.kind == Kind::BinaryIoU {
            c = serde_json::json!({"name": self.name, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold});
        }
        Some(serde_json::json!({"class_name": self.kind.class_name(), "config": c}))
    }
}

/// Rebuilds a saved IoU metric of Keras class `class` from its `config`; `None` for another class.
pub(crate) fn from_config(class: &str, c: &serde_json::Value) -> Option<Result<Iou>> {
    use serde_json::Value;
    let kind = [Kind::IoU, Kind::MeanIoU, Kind::BinaryIoU, Kind::OneHotIoU, Kind::OneHotMeanIoU]
        .into_iter()
        .find(|k| k.class_name() == class)?;
    let bad = |what: &str| Error::State(format!("the saved metric {class} {c}: {what}"));
    let make = || -> Result<Iou> {
        let ids = |c: &Value| -> Option<Vec<usize>> {
            c.get("target_class_ids")?.as_array()?.iter().map(|v| v.as_u64().map(|v| v as usize)).collect()
        };
        let classes =
            || c.get("num_classes").and_then(Value::as_u64).map(|n| n as usize).ok_or_else(|| bad("no num_classes"));
        let mut m = match kind {
            Kind::BinaryIoU => Iou::binary(
                &ids(c).unwrap_or(vec![0, 1]),
                c.get("threshold").and_then(Value::as_f64).unwrap_or(0.5) as f32,
            )?,
            Kind::MeanIoU => Iou::mean(classes()?)?,
            Kind::OneHotMeanIoU => Iou::one_hot_mean(classes()?)?,
            Kind::IoU | Kind::OneHotIoU => {
                let ids = ids(c).ok_or_else(|| bad("no target_class_ids"))?;
                Iou::with(kind, classes()?, ids)?
            }
        };
        if let Some(name) = c.get("name").and_then(Value::as_str) {
            m = m.name(name);
        }
        if let Some(class) = c.get("ignore_class").and_then(Value::as_i64) {
            m = m.ignore_class(class);
        }
        if let Some(s) = c.get("sparse_y_true").and_then(Value::as_bool) {
            m = m.sparse_y_true(s);
        }
        if let Some(s) = c.get("sparse_y_pred").and_then(Value::as_bool) {
            m = m.sparse_y_pred(s);
        }
        Ok(m)
    };
    Some(make())
}
