//! A metric of your own, written with the [`ops`](crate::ops): Keras's function metric
//! `def my_metric(y_true, y_pred)`, one value per sample, averaged over the epoch's samples
//! (weighted by the sample weights under `weighted_metrics`), as Keras's `MeanMetricWrapper`
//! averages it (see [`CustomMetric`]).

use super::{Direction, Mean, Metric};
use crate::error::{Error, Result};
use crate::ops::{per_sample, Graph, NoWeights, Program, Sources, Var};
use crate::registry::Registry;
use crate::tensor::Tensor;

/// A user's metric, as a Keras metric function: one sample's value from its targets and
/// predictions, written with the ops.
///
/// ```
/// use minibatch::metrics::{CustomMetric, OpsMetric};
/// use minibatch::ops::{Graph, Var};
///
/// /// The largest absolute error among a sample's outputs.
/// struct WorstError;
/// impl CustomMetric for WorstError {
///     fn name(&self) -> &'static str { "worst_error" }
///     fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
///         let e = ops.subtract(y_pred, y_true)?;
///         let e = ops.abs(e);
///         ops.max(e, -1, false)
///     }
/// }
/// let options = minibatch::CompileOptions::new().metric(OpsMetric::new(WorstError));
/// ```
pub trait CustomMetric: Send {
    /// The key the History reports it under and a saved model records.
    fn name(&self) -> &'static str;

    /// One sample's value (shape `[]`) from its targets `y_true` and predictions `y_pred`
    /// (each one sample's shape). Recorded once per shape.
    ///
    /// # Errors
    /// The ops' shape errors, reported when the data is checked.
    fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> Result<Var>;

    /// Whether larger or smaller is better (for `EarlyStopping`'s `mode="auto"`); smaller by
    /// default.
    fn direction(&self) -> Direction {
        Direction::Minimize
    }

    /// The metric's options, for [`register_metric`]'s function to rebuild it from when a model
    /// file is loaded; `None` (the default): a model compiled with it cannot be saved whole.
    fn get_config(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A function that rebuilds a user's metric from its [`CustomMetric::get_config`].
pub type MetricFromConfig = fn(&serde_json::Value) -> Result<Box<dyn CustomMetric>>;

static REGISTRY: Registry<MetricFromConfig> = Registry::new();

/// Keras's `register_keras_serializable` for a metric: `load` rebuilds a saved metric named
/// `name` with `from_config`. A later registration of the same name replaces the earlier.
///
/// # Errors
/// [`Error::InvalidArgument`] for the name of a built-in metric.
pub fn register_metric(name: &'static str, from_config: MetricFromConfig) -> Result<()> {
    if super::from_name(name).is_ok() {
        return Err(Error::invalid("name", name, "a name that no built-in metric has"));
    }
    REGISTRY.insert(name, from_config);
    Ok(())
}

/// The registered metric a saved config names (`{"class_name": name, "config": …}`), if its
/// class is registered.
pub(crate) fn from_registry(config: &serde_json::Value) -> Option<Result<Box<dyn Metric>>> {
    let (from_config, options) = REGISTRY.saved(config)?;
    Some(from_config(&options).map(|user| Box::new(OpsMetric::boxed(user)) as Box<dyn Metric>))
}

/// The recording for one pair of sample shapes, with the buffer of the batch's values.
struct Recorded {
    target: Vec<usize>,
    pred: Vec<usize>,
    program: Program,
    values: Vec<f32>,
}

/// A [`CustomMetric`] as a [`Metric`]: recorded for the targets' and predictions' sample shapes
/// when the data is checked, then run forward on each whole batch; the result is the
/// (sample-weighted) mean of the values.
pub struct OpsMetric {
    user: Box<dyn CustomMetric>,
    recorded: Option<Recorded>,
    mean: Mean,
    /// Set when a batch came in shapes the metric's `call` cannot take: the result is NaN.
    failed: bool,
}

impl OpsMetric {
    /// The metric `user`, to compile a model with.
    pub fn new(user: impl CustomMetric + 'static) -> OpsMetric {
        OpsMetric::boxed(Box::new(user))
    }

    fn boxed(user: Box<dyn CustomMetric>) -> OpsMetric {
        OpsMetric { user, recorded: None, mean: Mean::default(), failed: false }
    }

    /// Records the metric for samples of these shapes (kept when already recorded for them).
    fn record(&mut self, target: &[usize], pred: &[usize]) -> Result<()> {
        if self.recorded.as_ref().is_some_and(|r| r.target == target && r.pred == pred) {
            return Ok(());
        }
        let program = per_sample("metric", self.user.name(), target, pred, false, |g, t, p| self.user.call(g, t, p))?;
        self.recorded = Some(Recorded { target: target.to_vec(), pred: pred.to_vec(), program, values: vec![0.0] });
        Ok(())
    }
}

impl Metric for OpsMetric {
    fn name(&self) -> &str {
        self.user.name()
    }

    fn direction(&self) -> Direction {
        self.user.direction()
    }

    fn check_shapes(&mut self, target: &[usize], output: &[usize]) -> Result<()> {
        self.record(target, output)
    }

    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        let n = pred.batch();
        let target_shape = if target.shape().len() == 1 { &[1][..] } else { &target.shape()[1..] };
        if self.record(target_shape, &pred.shape()[1..]).is_err() {
            self.failed = true;
            return;
        }
        let r = self.recorded.as_mut().expect("recorded");
        r.program.plan(n);
        if r.values.len() < n {
            r.values.resize(n, 0.0);
        }
        let inputs = [target.data(), pred.data()];
        let src = Sources { inputs: &inputs, weights: &NoWeights, output: None, draw: Default::default() };
        r.program.forward(&src, n, &mut r.values);
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for (i, &v) in r.values[..n].iter().enumerate() {
            let w = weights.map_or(1.0, |w| f64::from(w[i]));
            sum += w * f64::from(v);
            count += w;
        }
        self.mean.add(sum, count);
    }

    fn result(&self) -> f64 {
        if self.failed {
            f64::NAN
        } else {
            self.mean.result()
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
        Some(serde_json::json!({ "class_name": self.user.name(), "config": self.user.get_config()? }))
    }
}
