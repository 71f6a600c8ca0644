//! Metrics: streaming statistics of predictions against targets, reported per epoch.
//!
//! A metric accumulates over the batches of an epoch ([`Metric::update`]) and reports over
//! every sample seen ([`Metric::result`]). Those listed in `compile`'s `metrics` see every
//! sample with weight 1; those in `weighted_metrics` see the sample weights (`sample_weight`
//! or `class_weight`), so a mean becomes `Σ w v / Σ w`, as in Keras.
//!
//! | name | meaning | better |
//! |---|---|---|
//! | `accuracy` (`acc`) | binary, categorical or sparse, resolved from the shapes as Keras does | higher |
//! | `binary_accuracy`, `categorical_accuracy`, `sparse_categorical_accuracy` | that rule by name | higher |
//! | `top_k_categorical_accuracy`, `sparse_top_k_categorical_accuracy` | target among the 5 highest scores | higher |
//! | `mse` (`mean_squared_error`), `root_mean_squared_error` | mean squared error, its root | lower |
//! | `mae` (`mean_absolute_error`) | mean absolute error | lower |
//! | `msle` (`mean_squared_logarithmic_error`), `mape` (`mean_absolute_percentage_error`) | as the losses | lower |
//! | `precision`, `recall` | at threshold 0.5 (see [`Confusion`] for thresholds and `class_id`) | higher |
//! | `auc` | area under the ROC curve, 200 thresholds (see [`Auc`] for PR) | higher |
//! | `f1_score` | macro-averaged F1 (see [`FBetaScore`]) | higher |
//! | `r2_score` | coefficient of determination | higher |
//!
//! Metrics that need arguments Keras has no default for are values, not names:
//! [`Iou`] (Keras's `IoU`, `MeanIoU`, `BinaryIoU`, `OneHotIoU`, `OneHotMeanIoU`) and
//! [`OperatingPoint`] (`PrecisionAtRecall`, `RecallAtPrecision`, `SensitivityAtSpecificity`,
//! `SpecificityAtSensitivity`), e.g. `CompileOptions::metric(Iou::mean(3)?)`.
//!
//! `compile` also takes metric values (any [`Metric`], your own included): see
//! [`crate::Model::compile_with`]. A metric written with the ops ([`CustomMetric`], Keras's
//! metric function) needs no state of its own: [`OpsMetric`] averages its per-sample values.

mod accuracy;
mod auc;
mod confusion;
mod custom;
mod fbeta;
mod iou;
mod mean_error;
mod operating_point;
mod r2;
mod thresholds;

pub use accuracy::{count_correct, Accuracy, Rule};
pub use auc::{Auc, Curve};
pub use confusion::{confusion_matrix, Confusion, Ratio};
pub use custom::{register_metric, CustomMetric, MetricFromConfig, OpsMetric};
pub use fbeta::{Average, FBetaScore};
pub use iou::{Iou, MOST_CLASSES as MOST_IOU_CLASSES};
pub use mean_error::{ErrorKind, MeanError};
pub use operating_point::{OperatingPoint, Tradeoff};
pub use r2::R2Score;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Whether larger or smaller values of a quantity are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better (losses, errors).
    Minimize,
    /// Larger is better (accuracy).
    Maximize,
}

/// A streaming metric. See the [module docs](self).
///
/// ```
/// use minibatch::metrics::{Direction, Metric};
/// use minibatch::Tensor;
///
/// /// The largest absolute error seen this epoch.
/// #[derive(Default)]
/// struct WorstError(f64);
/// impl Metric for WorstError {
///     fn name(&self) -> &str { "worst_error" }
///     fn direction(&self) -> Direction { Direction::Minimize }
///     fn update(&mut self, pred: &Tensor, target: &Tensor, _weights: Option<&[f32]>) {
///         for (p, y) in pred.data().iter().zip(target.data()) {
///             self.0 = self.0.max((p - y).abs() as f64);
///         }
///     }
///     fn result(&self) -> f64 { self.0 }
///     fn reset(&mut self) { self.0 = 0.0 }
/// }
///
/// let d = minibatch::datasets::load("exam", 0).unwrap();
/// let mut model = minibatch::Sequential::new().add(minibatch::layers::Dense::new(1));
/// let options = minibatch::CompileOptions::new().metric("mae").metric(WorstError::default());
/// model.compile_with("adam", "mse", options).unwrap();
/// let h = model.fit(&d.x_train, &d.y_train, minibatch::FitOptions::new().epochs(2).verbose(0)).unwrap();
/// assert!(h.get("worst_error").unwrap()[1] >= h.get("mae").unwrap()[1]);
/// ```
pub trait Metric: Send {
    /// The key under which it appears in logs and the History.
    fn name(&self) -> &str;
    /// Whether larger or smaller is better (EarlyStopping's `mode="auto"` reads this).
    fn direction(&self) -> Direction;
    /// Checks the metric can take targets and predictions of these per-sample shapes, before
    /// any work (a metric written with the ops records its `call` here). Accepts any by
    /// default.
    ///
    /// # Errors
    /// [`Error::Shape`] naming the metric and the shapes.
    fn check_shapes(&mut self, target: &[usize], output: &[usize]) -> Result<()> {
        let _ = (target, output);
        Ok(())
    }
    /// Adds one batch: predictions, targets, and one weight per sample when the metric is
    /// weighted (see the [module docs](self)).
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>);
    /// The value over all samples since the last reset (0 when none).
    fn result(&self) -> f64;
    /// Forgets everything seen.
    fn reset(&mut self);
    /// What a saved model records to rebuild it: Keras's name by default (`"accuracy"`), or
    /// `{"class_name", "config"}` for a metric with arguments; `None` for one that cannot be
    /// rebuilt from a file.
    fn config(&self) -> Option<serde_json::Value> {
        None
    }
    /// How many numbers the running state is, when it is sums and counts that add up across
    /// shards of the data, so that processes training together can sum theirs (see
    /// [`crate::distributed`]); `None` (the default) when it does not add up that way: then
    /// `fit` over several processes refuses the metric.
    fn state_len(&self) -> Option<usize> {
        None
    }
    /// Writes the running state, [`Metric::state_len`] numbers, into `out`.
    fn save_state(&self, _out: &mut [f64]) {}
    /// Replaces the running state by `state`, as [`Metric::save_state`] wrote it or a sum of
    /// such states.
    fn load_state(&mut self, _state: &[f64]) {}
}

/// Each (prediction, target, weight) a thresholded metric counts (precision, recall, AUC, the
/// operating points): every value of each sample's row, or only column `class_id` (Keras's
/// `class_id`; a row without that column counts nothing), weighing its sample's weight.
pub(crate) fn for_each_value(
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&[f32]>,
    class_id: Option<usize>,
    mut f: impl FnMut(f32, f32, f64),
) {
    for i in 0..pred.batch() {
        let w = weights.map_or(1.0, |w| w[i] as f64);
        let (p, t) = (pred.row(i), target.row(i));
        match class_id {
            Some(c) if c < p.len() && c < t.len() => f(p[c], t[c], w),
            Some(_) => {}
            None => p.iter().zip(t).for_each(|(&p, &y)| f(p, y, w)),
        }
    }
}

/// Per-column sums, one vector after another, as a metric's state.
pub(crate) fn save_columns(columns: &[&Vec<f64>], out: &mut [f64]) {
    let mut at = 0;
    for c in columns {
        out[at..at + c.len()].copy_from_slice(c);
        at += c.len();
    }
}

/// Reads what [`save_columns`] wrote into vectors of equal length (sized from the state: a
/// process that has seen no batch yet takes the others' width).
pub(crate) fn load_columns(columns: &mut [&mut Vec<f64>], state: &[f64]) {
    let k = state.len() / columns.len().max(1);
    for (c, part) in columns.iter_mut().zip(state.chunks_exact(k.max(1))) {
        c.resize(k, 0.0);
        c.copy_from_slice(part);
    }
}

/// Every built-in metric by its names (the first Keras's, then the others Keras accepts),
/// with Keras's defaults: one row per metric. [`NAMES`] and [`from_name`] read it; a row's
/// function makes the metric under the name it was asked for (its key in the logs).
#[allow(clippy::type_complexity)]
const TABLE: &[(&[&str], fn(&str) -> Box<dyn Metric>)] = &[
    (&["accuracy", "acc"], |n| accuracy(n, Rule::Auto)),
    (&["binary_accuracy"], |n| accuracy(n, Rule::Binary { threshold: 0.5 })),
    (&["categorical_accuracy"], |n| accuracy(n, Rule::Categorical)),
    (&["sparse_categorical_accuracy"], |n| accuracy(n, Rule::SparseCategorical)),
    (&["top_k_categorical_accuracy"], |n| accuracy(n, Rule::TopK { k: 5 })),
    (&["sparse_top_k_categorical_accuracy"], |n| accuracy(n, Rule::SparseTopK { k: 5 })),
    (&["mse", "mean_squared_error"], |n| error(n, ErrorKind::Squared)),
    (&["mae", "mean_absolute_error"], |n| error(n, ErrorKind::Absolute)),
    (&["root_mean_squared_error"], |n| error(n, ErrorKind::RootSquared)),
    (&["msle", "mean_squared_logarithmic_error"], |n| error(n, ErrorKind::SquaredLogarithmic)),
    (&["mape", "mean_absolute_percentage_error"], |n| error(n, ErrorKind::AbsolutePercentage)),
    (&["precision"], |_| Box::new(Named(Confusion::precision()))),
    (&["recall"], |_| Box::new(Named(Confusion::recall()))),
    (&["auc"], |_| Box::new(Named(Auc::new()))),
    (&["f1_score"], |_| Box::new(Named(FBetaScore::f1()))),
    (&["r2_score"], |_| Box::new(Named(R2Score::new()))),
];

/// An accuracy under `name`, by `rule`.
fn accuracy(name: &str, rule: Rule) -> Box<dyn Metric> {
    Box::new(Named(Accuracy::with_rule(name, rule)))
}

/// A mean error of `kind` under `name`.
fn error(name: &str, kind: ErrorKind) -> Box<dyn Metric> {
    Box::new(Named(MeanError::new(name, kind)))
}

/// Names in [`TABLE`].
const NAME_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < TABLE.len() {
        n += TABLE[i].0.len();
        i += 1;
    }
    n
};

/// The names [`from_name`] accepts: its table's, in order.
pub const NAMES: &[&str] = &{
    let mut names = [""; NAME_COUNT];
    let (mut at, mut i) = (0, 0);
    while i < TABLE.len() {
        let mut j = 0;
        while j < TABLE[i].0.len() {
            names[at] = TABLE[i].0[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    names
};

/// The metric Keras calls `name`, with Keras's defaults; its key in logs is `name` as given,
/// as in Keras.
///
/// # Errors
/// [`Error::UnknownName`] for a name not in [`NAMES`].
pub fn from_name(name: &str) -> Result<Box<dyn Metric>> {
    match TABLE.iter().find(|(names, _)| names.contains(&name)) {
        Some((_, make)) => Ok(make(name)),
        None => Err(Error::UnknownName { kind: "metric", name: name.into(), known: NAMES.to_vec() }),
    }
}

/// The metric a [`Metric::config`] describes: a name (see [`from_name`]) or a built-in
/// metric's `{"class_name", "config"}`.
///
/// # Errors
/// [`Error::UnknownName`] or [`Error::State`] for a config no built-in metric reads.
pub fn from_config(config: &serde_json::Value) -> Result<Box<dyn Metric>> {
    use serde_json::Value;
    if let Some(name) = config.as_str() {
        return from_name(name);
    }
    if let Some(registered) = custom::from_registry(config) {
        return registered;
    }
    let bad = |what: &str| Error::State(format!("the saved metric {config}: {what}"));
    let class = config.get("class_name").and_then(Value::as_str).unwrap_or_default();
    // Read by each class's arm, so an unknown class is named as that, not as a missing field.
    let c = config.get("config");
    let name = || -> Result<&str> {
        let c = c.ok_or_else(|| bad("no \"config\""))?;
        c.get("name").and_then(Value::as_str).ok_or_else(|| bad("no name"))
    };
    let field = |key: &str| c.and_then(|c| c.get(key)).filter(|v| !v.is_null());
    let number = |key: &str| field(key).and_then(Value::as_f64);
    let parse = |key: &str| -> Result<Value> { field(key).cloned().ok_or_else(|| bad(&format!("no {key}"))) };
    fn de<T: serde::de::DeserializeOwned>(v: Value, config: &Value) -> Result<T> {
        serde_json::from_value(v).map_err(|e| Error::State(format!("the saved metric {config}: {e}")))
    }
    if let Some(c) = c {
        if let Some(m) = iou::from_config(class, c) {
            return Ok(Box::new(m?));
        }
        if let Some(m) = operating_point::from_config(class, c) {
            return Ok(Box::new(m?));
        }
    }
    Ok(match class {
        class @ ("Precision" | "Recall") => {
            let ratio = if class == "Precision" { Ratio::Precision } else { Ratio::Recall };
            let mut m = Confusion::new(name()?, ratio).threshold(number("thresholds").unwrap_or(0.5) as f32);
            if let Some(id) = field("class_id").and_then(Value::as_u64) {
                m = m.class_id(id as usize);
            }
            Box::new(m)
        }
        "AUC" => Box::new(Auc::with(
            name()?,
            de(parse("curve")?, config)?,
            field("num_thresholds").and_then(Value::as_u64).unwrap_or(200) as usize,
        )),
        "FBetaScore" => {
            let mut m = FBetaScore::new(name()?, number("beta").unwrap_or(1.0)).average(de(parse("average")?, config)?);
            if let Some(t) = number("threshold") {
                m = m.threshold(t as f32);
            }
            Box::new(m)
        }
        "Accuracy" => Box::new(Accuracy::with_rule(name()?, de(parse("rule")?, config)?)),

        "MeanError" => Box::new(MeanError::new(name()?, de(parse("kind")?, config)?)),
        "R2Score" => Box::new(R2Score::new().name(name()?)),
        other => {
            return Err(bad(&format!(
                "unknown class {other:?} (a metric of your own: register it with metrics::register_metric)"
            )))
        }
    })
}

/// A built-in metric made from its name: its config is the name.
struct Named<M>(M);

impl<M: Metric> Metric for Named<M> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn direction(&self) -> Direction {
        self.0.direction()
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        self.0.update(pred, target, weights)
    }
    fn result(&self) -> f64 {
        self.0.result()
    }
    fn reset(&mut self) {
        self.0.reset()
    }
    fn state_len(&self) -> Option<usize> {
        self.0.state_len()
    }
    fn save_state(&self, out: &mut [f64]) {
        self.0.save_state(out)
    }
    fn load_state(&mut self, state: &[f64]) {
        self.0.load_state(state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.name().to_string()))
    }
}

/// Something `compile` accepts as a metric: Keras's name or any [`Metric`].
pub trait IntoMetric {
    /// Resolves it.
    fn into_metric(self) -> Result<Box<dyn Metric>>;
}

impl IntoMetric for &str {
    fn into_metric(self) -> Result<Box<dyn Metric>> {
        from_name(self)
    }
}

impl<M: Metric + 'static> IntoMetric for M {
    fn into_metric(self) -> Result<Box<dyn Metric>> {
        Ok(Box::new(self))
    }
}

impl<M: Metric + ?Sized> Metric for Box<M> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn direction(&self) -> Direction {
        (**self).direction()
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        (**self).update(pred, target, weights)
    }
    fn result(&self) -> f64 {
        (**self).result()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn state_len(&self) -> Option<usize> {
        (**self).state_len()
    }
    fn save_state(&self, out: &mut [f64]) {
        (**self).save_state(out)
    }
    fn load_state(&mut self, state: &[f64]) {
        (**self).load_state(state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        (**self).config()
    }
}

/// A running, sample-weighted mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    sum: f64,
    count: f64,
}

impl Mean {
    /// Adds a total over `count` samples.
    pub fn add(&mut self, sum: f64, count: f64) {
        self.sum += sum;
        self.count += count;
    }
    /// The mean (0 when empty).
    pub fn result(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }
    /// Empties it.
    pub fn reset(&mut self) {
        *self = Mean::default();
    }
    /// Its sum and count, as a metric's state.
    pub(crate) fn save(&self, out: &mut [f64]) {
        out[..2].copy_from_slice(&[self.sum, self.count]);
    }
    /// Sets the sum and count from a metric's state.
    pub(crate) fn load(&mut self, state: &[f64]) {
        (self.sum, self.count) = (state[0], state[1]);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// Every name of every row makes a metric under that name whose config rebuilds it, and
    /// rebuilt it gives the same result on the same batch.
    #[test]
    fn every_table_name_makes_its_metric_and_round_trips() {
        let pred = crate::tensor::Tensor::from_vec(&[4, 2], vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7]).unwrap();
        let target = crate::tensor::Tensor::from_vec(&[4, 2], vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]).unwrap();
        let sparse = crate::tensor::Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 1.0]).unwrap();
        for name in NAMES {
            let mut m = from_name(name).unwrap();
            let mut again = from_config(&m.config().unwrap_or_else(|| panic!("{name} gives no config"))).unwrap();
            let y = if name.starts_with("sparse") { &sparse } else { &target };
            m.update(&pred, y, None);
            again.update(&pred, y, None);
            assert_eq!(m.result().to_bits(), again.result().to_bits(), "{name}");
        }
        assert_eq!(NAMES.len(), NAME_COUNT);
        assert!(from_name("acuracy").err().unwrap().to_string().contains("r2_score"));
    }

    /// The metrics made with arguments (IoU, the operating points) round-trip through their
    /// saved config under Keras's class names, and refuse bad arguments by name.
    #[test]
    fn metrics_with_arguments_round_trip_and_refuse_bad_ones() {
        let scores =
            Tensor::from_vec(&[4, 3], vec![0.9, 0.1, 0.3, 0.2, 0.8, 0.6, 0.6, 0.4, 0.1, 0.3, 0.7, 0.9]).unwrap();
        let labels = Tensor::from_vec(&[4], vec![0.0, 1.0, 2.0, 1.0]).unwrap();
        let multi = Tensor::from_vec(&[4, 3], vec![1., 0., 0., 0., 1., 1., 1., 0., 0., 0., 1., 1.]).unwrap();
        let made: Vec<(Box<dyn Metric>, &Tensor)> = vec![
            (Box::new(Iou::mean(3).unwrap().sparse_y_pred(false).name("miou")), &labels),
            (Box::new(Iou::new(3, &[0, 2]).unwrap().ignore_class(1).sparse_y_pred(false)), &labels),
            (Box::new(Iou::binary(&[1], 0.3).unwrap()), &multi),
            (Box::new(Iou::one_hot(3, &[1]).unwrap()), &multi),
            (Box::new(Iou::one_hot_mean(3).unwrap()), &multi),
            (Box::new(OperatingPoint::precision_at_recall(0.5).unwrap().class_id(1)), &multi),
            (Box::new(OperatingPoint::recall_at_precision(0.6).unwrap().num_thresholds(20).unwrap()), &multi),
            (Box::new(OperatingPoint::sensitivity_at_specificity(0.7).unwrap()), &multi),
            (Box::new(OperatingPoint::specificity_at_sensitivity(0.4).unwrap().name("spec")), &multi),
        ];
        for (mut m, y) in made {
            let config = m.config().unwrap();
            let mut again = from_config(&config).unwrap();
            assert_eq!(again.name(), m.name(), "{config}");
            assert_eq!(again.config().unwrap(), config);
            m.update(&scores, y, None);
            again.update(&scores, y, None);
            assert_eq!(m.result().to_bits(), again.result().to_bits(), "{config}");
        }
        let bad = [
            Iou::new(3, &[3]).unwrap_err().to_string(),
            Iou::mean(0).unwrap_err().to_string(),
            Iou::mean(MOST_IOU_CLASSES + 1).unwrap_err().to_string(),
            Iou::new(3, &[]).unwrap_err().to_string(),
            OperatingPoint::precision_at_recall(1.5).unwrap_err().to_string(),
            OperatingPoint::recall_at_precision(f32::NAN).unwrap_err().to_string(),
            OperatingPoint::sensitivity_at_specificity(0.5).unwrap().num_thresholds(1).unwrap_err().to_string(),
        ];
        for (err, names) in bad.iter().zip([
            "target_class_ids",
            "num_classes",
            "num_classes",
            "target_class_ids",
            "recall",
            "precision",
            "num_thresholds",
        ]) {
            assert!(err.contains(names), "{err}");
        }
    }
}
