//! Callbacks: code that runs at Keras's hook points during `fit`.
//!
//! # The contract
//! Every hook has a default that does nothing and continues. A hook returns
//! [`Control::Continue`] or [`Control::Stop`]; `Stop` from a batch hook ends the epoch after
//! that batch, and from an epoch hook ends training after that epoch (Keras's
//! `model.stop_training = True`). Either way the epoch's validation, `on_epoch_end` and
//! `on_train_end` still run, so a stopped run still restores best weights and closes files.
//! An `Err` aborts training at once and is returned from `fit`; `on_train_end` does not run.
//!
//! Hooks run in order: the user's callbacks as given, then the History, then the progress bar.
//! Epoch numbers are 0-based here as in Keras's hooks; messages print them 1-based.

mod backup_and_restore;
mod context;
mod csv_logger;
pub mod diagnosis;
mod early_stopping;
mod filepath;
mod history;
mod lambda;
mod learning_rate_scheduler;
mod list;
mod logs;
mod model_checkpoint;
mod monitor;
mod progbar;
mod reduce_lr_on_plateau;
mod swap_ema_weights;
mod tensorboard;
mod terminate_on_nan;

pub use backup_and_restore::{BackupAndRestore, BACKUP_FILE};
pub use context::Context;
pub(crate) use context::FitState;
pub use csv_logger::CSVLogger;
pub use diagnosis::{diagnose, overfitting_onset, Finding, FindingKind};
pub use early_stopping::{EarlyStopping, Mode};
pub use history::History;
pub use lambda::LambdaCallback;
pub use learning_rate_scheduler::LearningRateScheduler;
pub(crate) use list::CallbackList;
pub use logs::Logs;
pub use model_checkpoint::{ModelCheckpoint, SaveFreq};
pub use progbar::{format_value, ProgbarLogger};
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use swap_ema_weights::SwapEMAWeights;
pub use tensorboard::{TensorBoard, UpdateFreq};
pub use terminate_on_nan::TerminateOnNaN;

use crate::error::Result;

/// What training should do after a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after the current batch or epoch (see the [module docs](self)).
    Stop,
}

/// The settings of a `fit` run that callbacks may read (Keras's `callback.params`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitParams {
    /// The epoch index training ends before (`epochs` as passed to `fit`).
    pub epochs: usize,
    /// The first epoch index run.
    pub initial_epoch: usize,
    /// Weight updates per epoch: `ceil(train_samples / batch_size)`.
    pub steps: usize,
    /// Samples trained on per epoch (after the validation split).
    pub train_samples: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    pub verbose: u8,
}

/// A hook into training. See the [module docs](self) for the contract.
#[allow(unused_variables)]
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// Before each epoch.
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// Before each training batch.
    fn on_train_batch_begin(&mut self, ctx: &mut Context<'_>, batch: usize) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After each training batch; `logs` hold the epoch's running means so far.
    fn on_train_batch_end(&mut self, ctx: &mut Context<'_>, batch: usize, logs: &Logs) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// Before the validation at the end of an epoch (Keras's `on_test_begin` within `fit`).
    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }
    /// After that validation (Keras's `on_test_end` within `fit`).
    fn on_test_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }
    /// After each epoch and its validation. A callback may add entries to `logs` (the History
    /// records them), as Keras's learning-rate callbacks add `learning_rate`.
    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch, also when a callback stopped training.
    fn on_train_end(&mut self, ctx: &mut Context<'_>, logs: &Logs) -> Result<()> {
        Ok(())
    }

    /// A line for the end-of-training summary (`fit` with verbose ≥ 1) saying what this
    /// callback did, if anything worth saying.
    fn summary(&self) -> Option<String> {
        None
    }

    /// The state a [`BackupAndRestore`] backup keeps for this callback, so that a resumed run
    /// continues exactly as an uninterrupted one: `None` (the default) for a callback with no
    /// state across epochs. `fit` takes it after each `on_epoch_end` when some callback
    /// [saves states](Callback::saves_states).
    fn state(&self) -> Option<CallbackState> {
        None
    }

    /// Whether this callback saves the other callbacks' [states](Callback::state) (true for
    /// [`BackupAndRestore`]); only then does `fit` collect them.
    fn saves_states(&self) -> bool {
        false
    }

    /// Restores a state [`Callback::state`] gave, after `on_train_begin` of a resumed run.
    ///
    /// # Errors
    /// A state this callback cannot take, naming it.
    fn set_state(&mut self, state: &CallbackState) -> Result<()> {
        Ok(())
    }
}

/// A callback's state across epochs, as a backup keeps it (see [`Callback::state`]).
///
/// Keras's `BackupAndRestore` keeps only the model and the epoch, so a resumed Keras run
/// forgets EarlyStopping's patience count; minibatch keeps callbacks' states too, so
/// resuming is bit-identical (a documented departure).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackState {
    /// The callback's class (`EarlyStopping`): a state goes back only to its own kind.
    pub class: String,
    /// Counters and values, as JSON.
    pub values: serde_json::Value,
    /// Tensors (EarlyStopping's best weights).
    pub tensors: Vec<crate::Tensor>,
}

impl CallbackState {
    /// A state of `class` with these values and no tensors.
    pub fn new(class: &str, values: serde_json::Value) -> Self {
        CallbackState { class: class.into(), values, tensors: Vec::new() }
    }

    /// `values[key]` as an optional float, stored by [`CallbackState::bits`] (`null` → `None`).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.values.get(key).and_then(serde_json::Value::as_u64).map(f64::from_bits)
    }

    /// A float as JSON that reads back with the same bits: its bits as an integer.
    pub fn bits(value: Option<f64>) -> serde_json::Value {
        value.map(f64::to_bits).into()
    }

    /// `values[key]` as an optional count (`null` → `None`).
    pub fn usize(&self, key: &str) -> Option<usize> {
        self.values.get(key).and_then(serde_json::Value::as_u64).map(|v| v as usize)
    }

    /// Checks that this state is one of `class`'s.
    ///
    /// # Errors
    /// [`crate::Error::State`] naming both classes.
    pub fn expect_class(&self, class: &str) -> Result<()> {
        if self.class == class {
            return Ok(());
        }
        Err(crate::Error::State(format!("a backup holds the state of a {} where this run has a {class}", self.class)))
    }
}
