//! `EarlyStopping`: stops training when a monitored quantity has stopped improving.

use super::monitor::Monitor;
use super::{Callback, CallbackState, Context, Control, Logs};
use crate::error::Result;
use crate::tensor::Tensor;

/// Which direction counts as improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `min` for `loss`/`val_loss`, else the monitored metric's own direction.
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Stops training when a monitored quantity has stopped improving.
///
/// Keras 3's semantics, exactly:
/// - From epoch `start_from_epoch` on, each epoch's `monitor` value is compared with the best
///   so far; it improves when it beats it by more than `min_delta` (lower in `min` mode,
///   higher in `max` mode; `auto` picks `min` for losses and the metric's own direction
///   otherwise). The first value considered is always an improvement.
/// - `wait` counts epochs since the last improvement that also beat `baseline` (if any);
///   training stops when `wait >= patience` (and never after the very first epoch).
/// - With `restore_best_weights`, the best epoch's weights are restored when training ends —
///   whether or not it stopped early (Keras 3's behaviour).
///
/// ```
/// use minibatch::callbacks::EarlyStopping;
/// let stop = EarlyStopping::new().monitor("val_loss").patience(3).restore_best_weights(true);
/// ```
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    verbose: u8,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    // state of the current run
    wait: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    stopped_epoch: Option<usize>,
    best_weights: Option<Vec<Tensor>>,
    restored: bool,
    warned_missing: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping::new()
    }
}

impl EarlyStopping {
    /// Keras's defaults: monitor `val_loss`, min_delta 0, patience 0, verbose 0, mode auto,
    /// no baseline, no restoring, start_from_epoch 0.
    pub fn new() -> Self {
        EarlyStopping {
            monitor: Monitor::new("val_loss", 0.0),
            patience: 0,
            verbose: 0,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_epoch: None,
            stopped_epoch: None,
            best_weights: None,
            restored: false,
            warned_missing: false,
        }
    }

    /// The quantity to watch, a key of the epoch logs.
    pub fn monitor(mut self, monitor: &str) -> Self {
        self.monitor.name = monitor.into();
        self
    }
    /// Smallest change that counts as an improvement (its sign is ignored).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// 1 prints a line when stopping and when restoring weights.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
    /// Which direction improves.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }
    /// A value the monitored quantity must beat for `wait` to reset.
    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }
    /// Restore the best epoch's weights at the end of training.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
    /// Epochs to wait before watching at all (a warm-up).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The 0-based epoch with the best monitored value of the latest run.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
    /// The best monitored value of the latest run.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
    /// The 0-based epoch after which this callback stopped training, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
    /// Whether best weights were restored at the end of the latest run.
    pub fn restored(&self) -> bool {
        self.restored
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        self.monitor.resolve(ctx.model)?;
        self.wait = 0;
        self.best = None;
        self.best_epoch = None;
        self.stopped_epoch = None;
        self.best_weights = None;
        self.restored = false;
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        let Some(current) = logs.get(&self.monitor.name) else {
            if !self.warned_missing {
                self.warned_missing = true;
                let available: Vec<&str> = logs.keys().collect();
                eprintln!(
                    "warning: early stopping monitors {:?}, which this epoch did not report; available: {}",
                    self.monitor.name,
                    available.join(", ")
                );
            }
            return Ok(Control::Continue);
        };
        if epoch < self.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            // Until something improves, the first watched epoch's weights are the best.
            self.best_weights = Some(ctx.model.get_weights());
            self.best_epoch = Some(epoch);
        }
        self.wait += 1;
        if self.monitor.improves(current, self.best) {
            self.best = Some(current);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                let best = self.best_weights.get_or_insert_with(Vec::new);
                ctx.model.copy_weights_into(best);
            }
            if self.baseline.is_none() || self.monitor.improves(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn summary(&self) -> Option<String> {
        let best = self.best_epoch.map(|e| format!("best {} at epoch {}", self.monitor.name, e + 1));
        let stopped = match self.stopped_epoch {
            Some(e) => format!("stopped after epoch {}", e + 1),
            None => "did not stop early".into(),
        };
        let restored = if self.restored { "; best weights restored" } else { "" };
        Some(format!("Early stopping: {stopped}{}{restored}", best.map_or(String::new(), |b| format!(", {b}"))))
    }

    fn state(&self) -> Option<CallbackState> {
        let values = serde_json::json!({
            "wait": self.wait,
            "best": CallbackState::bits(self.best),
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
        });
        let tensors = self.best_weights.clone().unwrap_or_default();
        Some(CallbackState { class: "EarlyStopping".into(), values, tensors })
    }

    fn set_state(&mut self, state: &CallbackState) -> Result<()> {
        state.expect_class("EarlyStopping")?;
        self.wait = state.usize("wait").unwrap_or(0);
        self.best = state.f64("best");
        self.best_epoch = state.usize("best_epoch");
        self.stopped_epoch = state.usize("stopped_epoch");
        self.best_weights = (!state.tensors.is_empty()).then(|| state.tensors.clone());
        Ok(())
    }

    fn on_train_end(&mut self, ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        if let (Some(e), true) = (self.stopped_epoch, self.verbose > 0) {
            println!("Epoch {}: early stopping", e + 1);
        }
        if let (true, Some(weights)) = (self.restore_best_weights, &self.best_weights) {
            if self.verbose > 0 {
                println!(
                    "Restoring ctx.model weights from the end of the best epoch: {}.",
                    self.best_epoch.map_or(0, |e| e + 1)
                );
            }
            ctx.model.set_weights(weights)?;
            self.restored = true;
        }
        Ok(())
    }
}
