//! `ModelCheckpoint`: saves the model (or its weights) during training. See [`ModelCheckpoint`].

use super::filepath::format_path;
use super::monitor::Monitor;
use super::{Callback, CallbackState, Context, Control, Logs, Mode};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// How often [`ModelCheckpoint`] saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFreq {
    /// At the end of every epoch (Keras's `"epoch"`).
    Epoch,
    /// After every this many training batches (Keras's integer `save_freq`).
    Batches(usize),
}

/// `ModelCheckpoint`: saves the model (or its weights) during training.
///
/// Keras 3's arguments and semantics:
/// - `filepath` is a Python format string filled with `epoch` (1-based), `batch` (1-based,
///   when saving every N batches) and any log key: `ckpt/{epoch:02d}-{val_loss:.3f}.safetensors`.
/// - `save_freq`: [`SaveFreq::Epoch`] (default) saves at the end of every epoch;
///   [`SaveFreq::Batches`]`(n)` after every `n` training batches, counted across epochs.
/// - `save_best_only`: save only when `monitor` improves on the best value so far (strictly;
///   `mode` auto, min or max as EarlyStopping's). The best value starts at
///   `initial_value_threshold` if given. When `monitor` is missing from the logs, a warning is
///   printed and nothing is saved.
/// - `save_weights_only`: [`Model::save_weights`](crate::Model::save_weights) instead of [`Model::save`](crate::Model::save).
///
/// Every file is written crash-safely (see [`crate::saving`]): a kill during a save leaves the
/// previous file whole. minibatch's files are safetensors whatever the extension (Keras
/// insists on `.keras` / `.weights.h5`). One addition: in a run continued with
/// [`FitOptions::continue_history`](crate::FitOptions::continue_history) or resumed by
/// [`BackupAndRestore`](super::BackupAndRestore), the best value starts from the earlier
/// epochs' best, so a resumed run does not overwrite a better checkpoint with a worse one.
///
/// ```
/// use minibatch::callbacks::{ModelCheckpoint, SaveFreq};
/// let best = ModelCheckpoint::new("ckpt/best.safetensors").monitor("val_loss").save_best_only(true);
/// let every = ModelCheckpoint::new("ckpt/{epoch:02d}-{batch}.safetensors").save_freq(SaveFreq::Batches(100));
/// ```
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    filepath: String,
    monitor: Monitor,
    verbose: u8,
    save_best_only: bool,
    save_weights_only: bool,
    save_freq: SaveFreq,
    initial_value_threshold: Option<f64>,
    // state
    best: Option<f64>,
    seeded_from_history: bool,
    batches_since_save: usize,
    epoch: usize,
    saves: usize,
    last_path: Option<PathBuf>,
    warned_missing: bool,
}

impl ModelCheckpoint {
    /// Keras's defaults: monitor `val_loss`, verbose 0, save_best_only false,
    /// save_weights_only false, mode auto, save_freq epoch, no initial_value_threshold.
    pub fn new(filepath: impl Into<String>) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: Monitor::new("val_loss", 0.0),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            save_freq: SaveFreq::Epoch,
            initial_value_threshold: None,
            best: None,
            seeded_from_history: false,
            batches_since_save: 0,
            epoch: 0,
            saves: 0,
            last_path: None,
            warned_missing: false,
        }
    }
    /// The log key compared under `save_best_only`.
    pub fn monitor(mut self, key: &str) -> Self {
        self.monitor.name = key.into();
        self
    }
    /// Which direction is better for `monitor`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }
    /// 1: a line per save (and per skipped save under `save_best_only`).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
    /// Save only when `monitor` improves.
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }
    /// Save the weights alone.
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }
    /// Every epoch (default) or every N batches.
    pub fn save_freq(mut self, freq: SaveFreq) -> Self {
        self.save_freq = freq;
        self
    }
    /// The value `monitor` must beat for the first save under `save_best_only`.
    pub fn initial_value_threshold(mut self, value: f64) -> Self {
        self.initial_value_threshold = Some(value);
        self.best = Some(value);
        self
    }
    /// The best monitored value saved so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
    /// How many files were written.
    pub fn saves(&self) -> usize {
        self.saves
    }
    /// The path of the latest save.
    pub fn last_path(&self) -> Option<&Path> {
        self.last_path.as_deref()
    }

    fn save(&mut self, ctx: &mut Context<'_>, batch: Option<usize>, logs: &Logs) -> Result<()> {
        let path = PathBuf::from(format_path(&self.filepath, self.epoch, batch, logs)?);
        let e = self.epoch + 1;
        let root = crate::distributed::is_root();
        if self.save_best_only {
            if !self.seeded_from_history {
                self.seeded_from_history = true;
                if self.best.is_none() {
                    let earlier = ctx.history().get(&self.monitor.name).unwrap_or(&[]);
                    for &v in earlier.iter().filter(|v| v.is_finite()) {
                        if self.monitor.improves(v, self.best) {
                            self.best = Some(v);
                        }
                    }
                }
            }
            let Some(current) = logs.get(&self.monitor.name) else {
                if !self.warned_missing {
                    self.warned_missing = true;
                    eprintln!(
                        "warning: ModelCheckpoint can save the best model only with {:?} available, skipping",
                        self.monitor.name
                    );
                }
                return Ok(());
            };
            if !self.monitor.improves(current, self.best) {
                if self.verbose > 0 && root {
                    println!(
                        "Epoch {e}: {} did not improve from {:.5}",
                        self.monitor.name,
                        self.best.unwrap_or(f64::NAN)
                    );
                }
                return Ok(());
            }
            if self.verbose > 0 && root {
                let from = self.best.map_or("inf".to_string(), |b| format!("{b:.5}"));
                println!(
                    "Epoch {e}: {} improved from {from} to {current:.5}, saving model to {}",
                    self.monitor.name,
                    path.display()
                );
            }
            self.best = Some(current);
        } else if self.verbose > 0 && root {
            println!("Epoch {e}: saving model to {}", path.display());
        }
        // Over several processes, only rank 0 writes (see crate::distributed).
        if !root {
            // Tracks the best as rank 0 does, writes nothing.
        } else if self.save_weights_only {
            ctx.model.save_weights(&path)?;
        } else {
            ctx.model.save(&path)?;
        }
        self.saves += 1;
        self.last_path = Some(path);
        Ok(())
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::invalid("save_freq", 0, "a positive number of batches, or SaveFreq::Epoch"));
        }
        if self.save_best_only {
            self.monitor.resolve(ctx.model)?;
        }
        if let Some(dir) = Path::new(&self.filepath).parent().filter(|d| !d.to_string_lossy().contains('{')) {
            crate::saving::remove_stale_temp_files(dir);
        }
        self.batches_since_save = 0;
        Ok(Control::Continue)
    }

    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        self.epoch = epoch;
        Ok(Control::Continue)
    }

    fn on_train_batch_end(&mut self, ctx: &mut Context<'_>, batch: usize, logs: &Logs) -> Result<Control> {
        if let SaveFreq::Batches(n) = self.save_freq {
            self.batches_since_save += 1;
            if self.batches_since_save >= n {
                self.batches_since_save = 0;
                self.save(ctx, Some(batch), logs)?;
            }
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        self.epoch = epoch;
        if self.save_freq == SaveFreq::Epoch {
            self.save(ctx, None, logs)?;
        }
        Ok(Control::Continue)
    }

    fn state(&self) -> Option<CallbackState> {
        let values = serde_json::json!({
            "best": CallbackState::bits(self.best),
            "batches_since_save": self.batches_since_save,
            "saves": self.saves,
        });
        Some(CallbackState::new("ModelCheckpoint", values))
    }

    fn set_state(&mut self, state: &CallbackState) -> Result<()> {
        state.expect_class("ModelCheckpoint")?;
        self.best = state.f64("best");
        self.seeded_from_history = true;
        self.batches_since_save = state.usize("batches_since_save").unwrap_or(0);
        self.saves = state.usize("saves").unwrap_or(0);
        Ok(())
    }

    fn summary(&self) -> Option<String> {
        let last = self.last_path.as_ref()?;
        Some(format!("ModelCheckpoint: {} file(s) written, the latest {}", self.saves, last.display()))
    }
}
