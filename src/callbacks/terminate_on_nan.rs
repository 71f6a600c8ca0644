//! `TerminateOnNaN` (see the type).

use super::{Callback, Context, Control, Logs};
use crate::error::Result;

/// Stops training after the first batch whose running loss is NaN or
/// infinite (checked after every batch, as Keras does).
///
/// ```
/// use minibatch::callbacks::TerminateOnNaN;
/// let guard = TerminateOnNaN::new();
/// ```
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN {
    terminated_at: Option<usize>,
}

impl TerminateOnNaN {
    /// The callback.
    pub fn new() -> Self {
        TerminateOnNaN::default()
    }

    /// The 0-based batch of the latest epoch after which training was stopped, if it was.
    pub fn terminated_at(&self) -> Option<usize> {
        self.terminated_at
    }
}

impl Callback for TerminateOnNaN {
    fn on_train_batch_end(&mut self, _ctx: &mut Context<'_>, batch: usize, logs: &Logs) -> Result<Control> {
        match logs.get("loss") {
            Some(loss) if !loss.is_finite() => {
                println!("Batch {batch}: Invalid loss, terminating training");
                self.terminated_at = Some(batch);
                Ok(Control::Stop)
            }
            _ => Ok(Control::Continue),
        }
    }
}
