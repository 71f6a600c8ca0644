//! [`CallbackList`]: the user's callbacks, then the progress bar, run at each hook point as
//! Keras's `CallbackList` runs them; the History is recorded between the two at epoch end.

use super::context::{Context, FitState};
use super::{Callback, Control, FitParams, History, Logs, ProgbarLogger};
use crate::error::Result;
use crate::models::Model;

/// The callbacks of one `fit` run, always ending with the progress bar (see the
/// [module docs](self)). Each hook method returns whether any callback asked to stop.
pub(crate) struct CallbackList<'o> {
    callbacks: Vec<&'o mut dyn Callback>,
    progbar: ProgbarLogger,
    params: FitParams,
    /// Some callback saves the others' states (a backup): collect them after each epoch.
    collect_states: bool,
}

impl<'o> CallbackList<'o> {
    /// The user's `callbacks` and a progress bar of `params.verbose`.
    pub fn new(callbacks: Vec<&'o mut dyn Callback>, params: FitParams) -> Self {
        let collect_states = callbacks.iter().any(|cb| cb.saves_states());
        CallbackList { callbacks, progbar: ProgbarLogger::new(params.verbose), params, collect_states }
    }

    /// Runs `hook` on each callback (the progress bar too when `progbar`), each lent a
    /// [`Context`]; true if any asked to stop. An error returns at once.
    fn each(
        &mut self,
        model: &mut Model,
        state: &mut FitState,
        progbar: bool,
        mut hook: impl FnMut(&mut dyn Callback, &mut Context<'_>) -> Result<Control>,
    ) -> Result<bool> {
        let CallbackList { callbacks, progbar: bar, params, .. } = self;
        let mut stop = false;
        let mut context = Context::new(model, params, state);
        for cb in callbacks.iter_mut() {
            stop |= hook(&mut **cb, &mut context)? == Control::Stop;
        }
        if progbar {
            stop |= hook(bar, &mut context)? == Control::Stop;
        }
        Ok(stop)
    }

    /// `on_train_begin`; then, when a callback restored a backup, the History continues from
    /// it and each callback gets its saved state back. Returns whether to stop and the first
    /// epoch to run (`initial_epoch`, or the one after the backup's).
    pub fn train_begin(&mut self, model: &mut Model, state: &mut FitState) -> Result<(bool, usize)> {
        let stop = self.each(model, state, true, |cb, cx| cb.on_train_begin(cx))?;
        let p = &self.params;
        let counts = |h: History| History {
            steps_per_epoch: p.steps,
            train_samples: p.train_samples,
            batch_size: p.batch_size,
            ..h
        };
        let mut first = p.initial_epoch;
        state.states.clear();
        if let Some((history, states)) = state.resume.take() {
            first = history.next_epoch();
            state.history = counts(history);
            for (i, cb) in self.callbacks.iter_mut().enumerate() {
                if let Some(saved) = states.get(&state_key(i)) {
                    cb.set_state(saved)?;
                }
            }
            state.states = states;
        }
        Ok((stop, first))
    }

    /// `on_epoch_begin`.
    pub fn epoch_begin(&mut self, model: &mut Model, state: &mut FitState, epoch: usize) -> Result<bool> {
        self.each(model, state, true, |cb, cx| cb.on_epoch_begin(cx, epoch))
    }

    /// `on_train_batch_begin`.
    pub fn batch_begin(&mut self, model: &mut Model, state: &mut FitState, batch: usize) -> Result<bool> {
        self.each(model, state, true, |cb, cx| cb.on_train_batch_begin(cx, batch))
    }

    /// `on_train_batch_end`, the epoch's running `logs` so far.
    pub fn batch_end(&mut self, model: &mut Model, state: &mut FitState, batch: usize, logs: &Logs) -> Result<bool> {
        self.each(model, state, true, |cb, cx| cb.on_train_batch_end(cx, batch, logs))
    }

    /// `on_test_begin` (not the progress bar's).
    pub fn test_begin(&mut self, model: &mut Model, state: &mut FitState) -> Result<()> {
        self.each(model, state, false, |cb, cx| cb.on_test_begin(cx).map(|()| Control::Continue)).map(drop)
    }

    /// `on_test_end` (not the progress bar's).
    pub fn test_end(&mut self, model: &mut Model, state: &mut FitState) -> Result<()> {
        self.each(model, state, false, |cb, cx| cb.on_test_end(cx).map(|()| Control::Continue)).map(drop)
    }

    /// `on_epoch_end` of the user's callbacks (which may add to `logs`), each one's state
    /// collected after its hook when a backup wants them (so a backup listed later saves
    /// it); then the History records the epoch; then the progress bar prints it.
    pub fn epoch_end(
        &mut self,
        model: &mut Model,
        state: &mut FitState,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<bool> {
        let CallbackList { callbacks, progbar, params, collect_states } = self;
        let mut stop = false;
        for (i, cb) in callbacks.iter_mut().enumerate() {
            stop |= cb.on_epoch_end(&mut Context::new(model, params, state), epoch, logs)? == Control::Stop;
            if let Some(saved) = collect_states.then(|| cb.state()).flatten() {
                state.states.insert(state_key(i), saved);
            }
        }
        state.history.record(epoch, logs);
        stop |= progbar.on_epoch_end(&mut Context::new(model, params, state), epoch, logs)? == Control::Stop;
        Ok(stop)
    }

    /// `on_train_end`, the last epoch's `logs`.
    pub fn train_end(&mut self, model: &mut Model, state: &mut FitState, logs: &Logs) -> Result<()> {
        self.each(model, state, true, |cb, cx| cb.on_train_end(cx, logs).map(|()| Control::Continue)).map(drop)
    }

    /// The user's callbacks' lines for the end-of-training summary.
    pub fn summaries(&self) -> impl Iterator<Item = String> + use<'_, 'o> {
        self.callbacks.iter().filter_map(|cb| cb.summary())
    }
}

/// The name a callback's state goes by in a backup: its place in the list (the state names
/// its class, which the callback checks).
fn state_key(index: usize) -> String {
    index.to_string()
}
