//! `LambdaCallback`: a callback made of closures, as Keras's `LambdaCallback`.

use super::{Callback, Context, Control, Logs};
use crate::error::Result;

/// A hook with no arguments.
type Plain = Option<Box<dyn FnMut()>>;
/// A hook given the logs.
type WithLogs = Option<Box<dyn FnMut(&Logs)>>;
/// A hook given an epoch or batch index.
type Indexed = Option<Box<dyn FnMut(usize)>>;
/// A hook given an index and the logs.
type IndexedWithLogs = Option<Box<dyn FnMut(usize, &Logs)>>;

/// A callback made of closures, as Keras's `LambdaCallback`.
///
/// ```
/// use minibatch::callbacks::LambdaCallback;
/// let printer = LambdaCallback::new().on_epoch_end(|epoch, logs| println!("epoch {}: {logs}", epoch + 1));
/// ```
#[derive(Default)]
pub struct LambdaCallback {
    train_begin: Plain,
    train_end: WithLogs,
    epoch_begin: Indexed,
    epoch_end: IndexedWithLogs,
    batch_begin: Indexed,
    batch_end: IndexedWithLogs,
}

impl LambdaCallback {
    /// A callback with no hooks yet.
    pub fn new() -> Self {
        LambdaCallback::default()
    }
    /// Runs before training.
    pub fn on_train_begin(mut self, f: impl FnMut() + 'static) -> Self {
        self.train_begin = Some(Box::new(f));
        self
    }
    /// Runs after training, with the last epoch's logs.
    pub fn on_train_end(mut self, f: impl FnMut(&Logs) + 'static) -> Self {
        self.train_end = Some(Box::new(f));
        self
    }
    /// Runs before each epoch (0-based index).
    pub fn on_epoch_begin(mut self, f: impl FnMut(usize) + 'static) -> Self {
        self.epoch_begin = Some(Box::new(f));
        self
    }
    /// Runs after each epoch with its logs.
    pub fn on_epoch_end(mut self, f: impl FnMut(usize, &Logs) + 'static) -> Self {
        self.epoch_end = Some(Box::new(f));
        self
    }
    /// Runs before each training batch.
    pub fn on_train_batch_begin(mut self, f: impl FnMut(usize) + 'static) -> Self {
        self.batch_begin = Some(Box::new(f));
        self
    }
    /// Runs after each training batch with the epoch's running logs.
    pub fn on_train_batch_end(mut self, f: impl FnMut(usize, &Logs) + 'static) -> Self {
        self.batch_end = Some(Box::new(f));
        self
    }
}

impl Callback for LambdaCallback {
    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> Result<Control> {
        if let Some(f) = &mut self.train_begin {
            f();
        }
        Ok(Control::Continue)
    }
    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        if let Some(f) = &mut self.epoch_begin {
            f(epoch);
        }
        Ok(Control::Continue)
    }
    fn on_train_batch_begin(&mut self, _ctx: &mut Context<'_>, batch: usize) -> Result<Control> {
        if let Some(f) = &mut self.batch_begin {
            f(batch);
        }
        Ok(Control::Continue)
    }
    fn on_train_batch_end(&mut self, _ctx: &mut Context<'_>, batch: usize, logs: &Logs) -> Result<Control> {
        if let Some(f) = &mut self.batch_end {
            f(batch, logs);
        }
        Ok(Control::Continue)
    }
    fn on_epoch_end(&mut self, _ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        if let Some(f) = &mut self.epoch_end {
            f(epoch, logs);
        }
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, _ctx: &mut Context<'_>, logs: &Logs) -> Result<()> {
        if let Some(f) = &mut self.train_end {
            f(logs);
        }
        Ok(())
    }
}
