//! `LearningRateScheduler` (see the type).

use super::{Callback, Context, Control, Logs};
use crate::error::{Error, Result};

/// Sets the learning rate at the start of each epoch from a function
/// of the epoch index (0-based) and the current rate, as Keras's `schedule(epoch, lr)`; the rate
/// used is logged as `learning_rate`.
///
/// ```
/// use minibatch::callbacks::LearningRateScheduler;
/// // Keras's documented example: keep the rate for 10 epochs, then decay it by e^-0.1 per epoch.
/// let scheduler = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * (-0.1f32).exp() });
/// ```
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f32) -> f32>,
    verbose: u8,
}

impl LearningRateScheduler {
    /// A scheduler calling `schedule(epoch, lr)` before each epoch.
    pub fn new(schedule: impl FnMut(usize, f32) -> f32 + 'static) -> Self {
        LearningRateScheduler { schedule: Box::new(schedule), verbose: 0 }
    }

    /// 1 prints the rate set at each epoch.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        let Some(optimizer) = ctx.model.optimizer_mut() else { return Ok(Control::Continue) };
        let lr = (self.schedule)(epoch, optimizer.learning_rate());
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                lr,
                format!("a finite, non-negative rate from the schedule at epoch {}", epoch + 1),
            ));
        }
        optimizer.set_learning_rate(lr);
        if self.verbose > 0 {
            println!("Epoch {}: LearningRateScheduler setting learning rate to {lr}.", epoch + 1);
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, _epoch: usize, logs: &mut Logs) -> Result<Control> {
        if let Some(optimizer) = ctx.model.optimizer_mut() {
            logs.set("learning_rate", optimizer.learning_rate() as f64);
        }
        Ok(Control::Continue)
    }
}
