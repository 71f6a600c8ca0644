//! `SwapEMAWeights`: validate (and optionally checkpoint) with the optimizer's moving average
//! of the weights, as Keras's `keras.callbacks.SwapEMAWeights`.

use super::{Callback, Context, Control, Logs};
use crate::error::Result;
use crate::models::Model;

/// Swaps the model's weights with the optimizer's moving averages (`use_ema`, see
/// [`crate::optimizers::base`]) around each validation, so `val_` metrics measure the
/// averaged model. With `swap_on_epoch`, the averages are also in the model from the end of
/// each epoch to the start of the next, so callbacks listed after this one (a
/// [`ModelCheckpoint`](super::ModelCheckpoint), say) see them, as in Keras.
///
/// Without `use_ema` on the optimizer it does nothing.
///
/// ```
/// use minibatch::callbacks::SwapEMAWeights;
/// let swap = SwapEMAWeights::new().swap_on_epoch(true);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SwapEMAWeights {
    swap_on_epoch: bool,
    /// The averages are in the model (and the raw weights in the optimizer).
    swapped: bool,
    epochs: usize,
}

impl SwapEMAWeights {
    /// Swaps around validation only.
    pub fn new() -> Self {
        SwapEMAWeights::default()
    }

    /// Keeps the averages in the model from each epoch's end to the next one's start (Keras's
    /// `swap_on_epoch`).
    pub fn swap_on_epoch(mut self, swap_on_epoch: bool) -> Self {
        self.swap_on_epoch = swap_on_epoch;
        self
    }

    fn swap(&mut self, model: &mut Model) {
        model.swap_ema_weights();
        self.swapped = !self.swapped;
    }
}

impl Callback for SwapEMAWeights {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        self.epochs = ctx.params.epochs;
        self.swapped = false;
        Ok(Control::Continue)
    }
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, _epoch: usize) -> Result<Control> {
        if self.swap_on_epoch && self.swapped {
            self.swap(ctx.model);
        }
        Ok(Control::Continue)
    }
    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if !self.swapped {
            self.swap(ctx.model);
        }
        Ok(())
    }
    fn on_test_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.swapped {
            self.swap(ctx.model);
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, _logs: &mut Logs) -> Result<Control> {
        if self.swap_on_epoch && !self.swapped {
            self.swap(ctx.model);
            if epoch + 1 == self.epochs {
                // The end of fit makes the weights their averages: keep both the same.
                ctx.model.swap_ema_weights();
                ctx.model.finalize_ema_weights();
                ctx.model.swap_ema_weights();
            }
        }
        Ok(Control::Continue)
    }
}
