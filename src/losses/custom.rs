//! A loss of your own, written with the [`ops`](crate::ops): Keras's `call(y_true, y_pred)`
//! for one sample, its gradient from the recording (see [`CustomLoss`]).

use super::Loss;
use crate::error::{Error, Result};
use crate::ops::{per_sample, Graph, NoWeights, Program, Sources, Var};
use crate::registry::Registry;
use crate::tensor::Tensor;
use std::sync::Mutex;

/// A user's loss, as a Keras loss function: one sample's value from its targets and
/// predictions, written with the ops; no gradient to write.
///
/// ```
/// use minibatch::losses::{CustomLoss, OpsLoss};
/// use minibatch::ops::{Graph, Var};
///
/// /// Mean squared error that punishes under-prediction twice as hard.
/// struct Asymmetric;
/// impl CustomLoss for Asymmetric {
///     fn name(&self) -> &'static str { "asymmetric" }
///     fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
///         let e = ops.subtract(y_true, y_pred)?;         // > 0: predicted too low
///         let under = ops.relu(e);
///         let sq = ops.square(e);
///         let under_sq = ops.square(under);
///         let total = ops.add(sq, under_sq)?;
///         ops.mean(total, -1, false)
///     }
/// }
/// let loss = OpsLoss::new(Asymmetric);
/// ```
pub trait CustomLoss: Send {
    /// The name the History reports and a saved model records.
    fn name(&self) -> &'static str;

    /// One sample's loss (a value of shape `[]`) from its targets `y_true` and predictions
    /// `y_pred` (each one sample's shape). Recorded once per shape.
    ///
    /// # Errors
    /// The ops' shape errors, reported when the data is checked.
    fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> Result<Var>;

    /// Target values per sample for `k` predictions: `k` (the default).
    fn target_len(&self, k: usize) -> usize {
        k
    }

    /// The loss's options, for [`register_loss`]'s function to rebuild it from when a model file
    /// is loaded; `None` (the default): a model compiled with it cannot be saved whole.
    fn get_config(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A function that rebuilds a user's loss from its [`CustomLoss::get_config`].
pub type LossFromConfig = fn(&serde_json::Value) -> Result<Box<dyn CustomLoss>>;

static REGISTRY: Registry<LossFromConfig> = Registry::new();

/// Keras's `register_keras_serializable` for a loss: `load` rebuilds a saved loss named `name`
/// with `from_config`. A later registration of the same name replaces the earlier.
///
/// # Errors
/// [`Error::InvalidArgument`] for the name of a built-in loss.
pub fn register_loss(name: &'static str, from_config: LossFromConfig) -> Result<()> {
    if super::BuiltinLoss::from_name(name).is_ok() {
        return Err(Error::invalid("name", name, "a name that no built-in loss has"));
    }
    REGISTRY.insert(name, from_config);
    Ok(())
}

/// The registered loss a saved config names, if its class is registered.
pub(crate) fn from_registry(config: &serde_json::Value) -> Option<Result<Box<dyn Loss>>> {
    let (from_config, options) = REGISTRY.saved(config)?;
    Some(from_config(&options).map(|user| Box::new(OpsLoss::boxed(user)) as Box<dyn Loss>))
}

/// The recording for one pair of sample shapes.
struct Recorded {
    target: Vec<usize>,
    pred: Vec<usize>,
    program: Program,
    /// The row's value, and its own gradient (1), as buffers the program borrows.
    value: Vec<f32>,
    seed: Vec<f32>,
}

/// A [`CustomLoss`] as a [`Loss`]: recorded for the targets' and predictions' sample shapes when
/// the data is checked, then run per row forward and, for the gradient, in reverse.
pub struct OpsLoss {
    user: Box<dyn CustomLoss>,
    recorded: Mutex<Option<Recorded>>,
}

impl OpsLoss {
    /// The loss `user`, to compile a model with.
    pub fn new(user: impl CustomLoss + 'static) -> OpsLoss {
        OpsLoss::boxed(Box::new(user))
    }

    fn boxed(user: Box<dyn CustomLoss>) -> OpsLoss {
        OpsLoss { user, recorded: Mutex::new(None) }
    }

    /// Records the loss for samples of these shapes (kept when already recorded for them).
    fn record(&self, target: &[usize], pred: &[usize]) -> Result<()> {
        let mut slot = self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|r| r.target == target && r.pred == pred) {
            return Ok(());
        }
        let program = per_sample("loss", self.user.name(), target, pred, true, |g, t, p| self.user.call(g, t, p))?;
        *slot =
            Some(Recorded { target: target.to_vec(), pred: pred.to_vec(), program, value: vec![0.0], seed: vec![1.0] });
        Ok(())
    }
}

impl Loss for OpsLoss {
    fn name(&self) -> &str {
        self.user.name()
    }

    fn row(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32 {
        // Recorded when the data was checked; a row of other sizes (a loss used directly) is
        // recorded flat.
        let fits = |r: &Recorded| {
            r.pred.iter().product::<usize>() == pred.len() && r.target.iter().product::<usize>() == target.len()
        };
        let recorded =
            self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().is_some_and(fits);
        if !recorded && self.record(&[target.len()], &[pred.len()]).is_err() {
            return f32::NAN;
        }
        let mut slot = self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(r) = slot.as_mut() else { return f32::NAN };
        let inputs = [target, pred];
        let src = Sources { inputs: &inputs, weights: &NoWeights, output: None, draw: Default::default() };
        r.program.forward(&src, 1, &mut r.value);
        if let Some(grad) = grad {
            let src =
                Sources { inputs: &inputs, weights: &NoWeights, output: Some(&r.value), draw: Default::default() };
            r.program.backward(&src, 1, &mut r.seed, &mut [], &mut [], &[false, true]);
            grad.copy_from_slice(r.program.input_grad(1, 1));
        }
        r.value[0]
    }

    fn target_len(&self, k: usize) -> usize {
        self.user.target_len(k)
    }

    fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        let k: usize = output.iter().product();
        let per: usize = y.shape()[1..].iter().product();
        if per != self.user.target_len(k) {
            return Err(Error::shape(
                format!("targets of loss '{}'", self.user.name()),
                format!("{} values per sample", self.user.target_len(k)),
                y.shape(),
            ));
        }
        self.record(&y.shape()[1..], output)
    }

    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "class_name": self.user.name(), "config": self.user.get_config()? }))
    }
}
