//! What a callback sees of the running `fit`: the model, the run's settings and its History
//! so far ([`Context`]); and the per-run state behind it, which `fit` owns ([`FitState`]).
//!
//! Keras gives a callback `self.model` and `self.params`, and the model carries its
//! `history`. Here the model is only a model: what belongs to one run (its History, what a
//! backup restored, the callbacks' states, whether the data failed) lives in the run, and each
//! hook is lent a `Context` over both.

use super::{CallbackState, FitParams, History};
use crate::models::Model;
use std::collections::BTreeMap;

/// What a hook sees of the running `fit`: the model, the settings and the History so far.
///
/// Keras gives a callback `self.model` and `self.params`, and the model carries its
/// `history`; here the model is only a model, and what belongs to one run lives in the run.
pub struct Context<'a> {
    /// The model being trained (Keras's `callback.model`).
    pub model: &'a mut Model,
    /// The run's settings (Keras's `callback.params`).
    pub params: &'a FitParams,
    pub(crate) state: &'a mut FitState,
}

/// The state of one `fit` run that callbacks read and a backup restores: owned by the run,
/// not the model.
#[derive(Debug, Default)]
pub(crate) struct FitState {
    /// The History so far: every epoch recorded, a continued or restored run's included.
    pub history: History,
    /// A History and callbacks' states restored from a backup during `on_train_begin`: the
    /// run continues after that History and hands the states back.
    pub resume: Option<(History, BTreeMap<String, CallbackState>)>,
    /// The callbacks' states after the latest epoch, by place in the list (see
    /// [`super::Callback::state`]): what a backup saves.
    pub states: BTreeMap<String, CallbackState>,
    /// Whether the run stopped on an error in its data.
    pub failed: bool,
}

impl<'a> Context<'a> {
    pub(crate) fn new(model: &'a mut Model, params: &'a FitParams, state: &'a mut FitState) -> Self {
        Context { model, params, state }
    }

    /// The History of the run so far (Keras's `model.history` during `fit`): every epoch
    /// recorded, including those of a continued or restored run. An epoch is recorded after
    /// its `on_epoch_end` hooks (the progress bar's excepted).
    pub fn history(&self) -> &History {
        &self.state.history
    }

    /// Whether the run stopped on an error in its data (a dataset's batch that could not be
    /// read or failed the checks): set before `on_train_end`, so a callback can keep what a
    /// successful run would clean up.
    pub fn training_failed(&self) -> bool {
        self.state.failed
    }

    /// The other callbacks' states after the latest epoch, by their place in the list (only
    /// collected when a callback [saves states](super::Callback::saves_states)).
    pub fn callback_states(&self) -> &BTreeMap<String, CallbackState> {
        &self.state.states
    }

    /// Makes the run continue after the epochs of `history`, handing `states` back to the
    /// callbacks (by place in the list), as
    /// [`BackupAndRestore`](super::BackupAndRestore) does. Only meaningful in
    /// `on_train_begin`; the caller has already restored the weights and optimizer state.
    pub fn resume_after(&mut self, history: History, states: BTreeMap<String, CallbackState>) {
        self.state.resume = Some((history, states));
    }
}
