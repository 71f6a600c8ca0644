//! `ReduceLROnPlateau` (see the type).

use super::monitor::Monitor;
use super::{Callback, CallbackState, Context, Control, Logs, Mode};
use crate::error::{Error, Result};

/// Multiplies the learning rate by `factor` when a monitored quantity has
/// stopped improving for `patience` epochs.
///
/// Keras 3's semantics: an epoch improves when the value beats the best by more than
/// `min_delta` (lower in `min` mode; `auto` is `min` for losses, else the metric's direction);
/// after `patience` epochs without improvement the rate becomes `max(lr · factor, min_lr)`
/// (only while above `min_lr`), then `cooldown` epochs pass during which `wait` stays 0. The
/// rate used in each epoch is logged as `learning_rate`, so it appears in the History.
///
/// ```
/// use minibatch::callbacks::ReduceLROnPlateau;
/// let reduce = ReduceLROnPlateau::new().factor(0.5).patience(2).min_lr(1e-5);
/// ```
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f32,
    patience: usize,
    verbose: u8,
    cooldown: usize,
    min_lr: f32,
    wait: usize,
    cooldown_counter: usize,
    best: Option<f64>,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        ReduceLROnPlateau::new()
    }
}

impl ReduceLROnPlateau {
    /// Keras's defaults: monitor `val_loss`, factor 0.1, patience 10, mode auto, min_delta
    /// 1e-4, cooldown 0, min_lr 0.
    pub fn new() -> Self {
        ReduceLROnPlateau {
            monitor: Monitor::new("val_loss", 1e-4),
            factor: 0.1,
            patience: 10,
            verbose: 0,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
            best: None,
        }
    }
    /// The quantity to watch.
    pub fn monitor(mut self, monitor: &str) -> Self {
        self.monitor.name = monitor.into();
        self
    }
    /// The factor the rate is multiplied by, in [0, 1).
    pub fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }
    /// Epochs without improvement before reducing.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// 1 prints a line at each reduction.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
    /// Which direction improves.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }
    /// Smallest change that counts as an improvement (its sign is ignored).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }
    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// The rate is never reduced below this.
    pub fn min_lr(mut self, min_lr: f32) -> Self {
        self.min_lr = min_lr;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(Error::invalid(
                "factor",
                self.factor,
                "a factor in [0, 1): ReduceLROnPlateau does not increase the rate",
            ));
        }
        self.monitor.resolve(ctx.model)?;
        self.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        let Some(optimizer) = ctx.model.optimizer_mut() else { return Ok(Control::Continue) };
        let lr = optimizer.learning_rate();
        logs.set("learning_rate", lr as f64);
        let Some(current) = logs.get(&self.monitor.name) else { return Ok(Control::Continue) };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(current, self.best) {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience && lr > self.min_lr {
                let new_lr = (lr * self.factor).max(self.min_lr);
                optimizer.set_learning_rate(new_lr);
                if self.verbose > 0 {
                    println!("Epoch {}: ReduceLROnPlateau reducing learning rate to {new_lr}.", epoch + 1);
                }
                self.cooldown_counter = self.cooldown;
                self.wait = 0;
            }
        }
        Ok(Control::Continue)
    }

    fn state(&self) -> Option<CallbackState> {
        let values = serde_json::json!({
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "best": CallbackState::bits(self.best),
        });
        Some(CallbackState::new("ReduceLROnPlateau", values))
    }

    fn set_state(&mut self, state: &CallbackState) -> Result<()> {
        state.expect_class("ReduceLROnPlateau")?;
        self.wait = state.usize("wait").unwrap_or(0);
        self.cooldown_counter = state.usize("cooldown_counter").unwrap_or(0);
        self.best = state.f64("best");
        Ok(())
    }
}
