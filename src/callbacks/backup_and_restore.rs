//! `BackupAndRestore`: resume training after a crash or a kill. See [`BackupAndRestore`].

use super::{Callback, CallbackState, Context, Control, History, Logs};
use crate::error::{Error, Result};
use crate::layers::State;
use crate::models::Model;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The file name inside the backup directory.
pub const BACKUP_FILE: &str = "backup.safetensors";

/// The prefix of callbacks' tensors in a backup.
const CALLBACKS: &str = "callbacks/";

/// `BackupAndRestore`: resume training after a crash or a kill.
///
/// At the end of every epoch the callback writes one file, `backup_dir/backup.safetensors`
/// (crash-safely, see [`crate::saving`]): the weights, the layers' state (dropout's random
/// generator), the optimizer's state (moments, step count, learning rate), the History so far
/// and the number of the next epoch. When `fit` begins and that file exists, it is loaded and
/// training goes on from the epoch after the last completed one, with the History continued.
/// Shuffles depend only on the seed and the epoch number, so a run killed and restarted with
/// the same command (same seed and thread count) ends with the same weights, bit for bit, as
/// one never interrupted. When training ends the backup is deleted (`delete_checkpoint`).
///
/// As in Keras: list it among the callbacks of every attempt of the same run. Departures: the
/// History is restored too, so the resumed run's learning curve is whole; so are the states of
/// the callbacks listed before it (EarlyStopping's patience count, best value and best
/// weights; ReduceLROnPlateau's counters; ModelCheckpoint's best), which Keras forgets, so a
/// resumed run with them ends bit for bit as an uninterrupted one; the backup is one file, so
/// weights and progress can never disagree; only `save_freq="epoch"` is offered (the last
/// completed epoch is what resumes). The file also records the model's configuration and its
/// optimizer and loss, and a backup made by a different model or optimizer is refused. Put it
/// *last* in the callback list so the History and the states it saves include what earlier
/// callbacks did in the epoch.
///
/// ```
/// use minibatch::callbacks::BackupAndRestore;
/// let backup = BackupAndRestore::new("runs/mnist/backup");
/// ```
#[derive(Debug, Clone)]
pub struct BackupAndRestore {
    dir: PathBuf,
    delete_checkpoint: bool,
    resumed_at: Option<usize>,
}

impl BackupAndRestore {
    /// Backs up into `backup_dir` (created when needed); Keras's default
    /// `delete_checkpoint=True`.
    pub fn new(backup_dir: impl Into<PathBuf>) -> Self {
        BackupAndRestore { dir: backup_dir.into(), delete_checkpoint: true, resumed_at: None }
    }
    /// Whether to delete the backup when training ends (default true).
    pub fn delete_checkpoint(mut self, yes: bool) -> Self {
        self.delete_checkpoint = yes;
        self
    }
    /// The backup file.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP_FILE)
    }
    /// The 0-based epoch the latest `fit` resumed at, if it resumed.
    pub fn resumed_at(&self) -> Option<usize> {
        self.resumed_at
    }
    /// Whether `dir` holds a backup of an unfinished run.
    pub fn exists(dir: &Path) -> bool {
        dir.join(BACKUP_FILE).is_file()
    }

    /// Restores the model from the backup `file` (read from `path`); returns the run's
    /// History and the callbacks' states it holds, for the run to continue from.
    fn restore(&mut self, model: &mut Model, mut file: crate::saving::TensorFile, path: &Path) -> Result<Restored> {
        let doc = file.doc.take().ok_or_else(|| Error::format(path, "not a minibatch backup (no document)"))?;
        let training = doc.get("training").filter(|_| doc.get("kind") == Some(&json!("backup")));
        let training = training.ok_or_else(|| Error::format(path, "not a minibatch backup (no training state)"))?;
        if doc.get("model") != Some(&model.to_config()?) {
            return Err(Error::format(
                path,
                "the backup was made by a different model (architecture or seed differ): remove it or train the model it was made for",
            ));
        }
        let (optimizer, loss) = (doc.pointer("/compile/optimizer/class_name"), doc.pointer("/compile/loss"));
        let compiled = model.compile_config()?;
        if (optimizer, loss) != (compiled.pointer("/optimizer/class_name"), compiled.pointer("/loss")) {
            return Err(Error::format(
                path,
                "the backup was made with a different optimizer or loss: remove it or compile the model as it was",
            ));
        }
        let history = training
            .get("history")
            .and_then(History::from_json)
            .ok_or_else(|| Error::format(path, "corrupt backup: its History cannot be read"))?;
        // The callbacks' states: their values in the document, their tensors beside the
        // weights under `callbacks/KEY/J`, taken out of the file before the model reads it.
        let mut states = std::collections::BTreeMap::new();
        let saved = training.get("callbacks").and_then(|c| c.as_object()).into_iter().flatten();
        for (key, entry) in saved {
            let corrupt = || Error::format(path, format!("corrupt backup: the state of callback {key} cannot be read"));
            let class = entry.get("class").and_then(|c| c.as_str()).ok_or_else(corrupt)?;
            let count = entry.get("tensors").and_then(|c| c.as_u64()).ok_or_else(corrupt)?;
            let tensors = (0..count)
                .map(|j| match file.tensors.remove(&format!("{CALLBACKS}{key}/{j}")) {
                    Some(State::F32(t)) => Ok(t),
                    _ => Err(corrupt()),
                })
                .collect::<Result<Vec<_>>>()?;
            let values = entry.get("values").cloned().unwrap_or_default();
            states.insert(key.clone(), CallbackState { class: class.into(), values, tensors });
        }
        file.tensors.retain(|name, _| !name.starts_with(CALLBACKS));
        file.doc = Some(doc);
        model.restore(path, &file)?;
        self.resumed_at = Some(history.next_epoch());
        Ok((history, states))
    }
}

/// A backup's History and callbacks' states (by place in the list).
type Restored = (History, std::collections::BTreeMap<String, CallbackState>);

impl Callback for BackupAndRestore {
    fn saves_states(&self) -> bool {
        true
    }

    // Over several processes, rank 0 reads the backup and sends it to the others (which need
    // no shared file system); every process then restores the same state.
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        let root = crate::distributed::is_root();
        if root {
            crate::saving::remove_stale_temp_files(&self.dir);
        }
        self.resumed_at = None;
        let path = self.backup_path();
        let comm = crate::distributed::world();
        if comm.size() == 1 {
            if path.exists() {
                let (history, states) = self.restore(ctx.model, crate::saving::read(&path)?, &path)?;
                ctx.resume_after(history, states);
            }
            return Ok(Control::Continue);
        }
        // The first byte says what follows: 0 no backup, 1 the file, 2 rank 0's error.
        let mut message = vec![0u8];
        if root && path.exists() {
            match crate::io::file::read_file(&path) {
                Ok(bytes) => message = [&[1u8][..], &bytes].concat(),
                Err(e) => message = [&[2u8][..], e.to_string().as_bytes()].concat(),
            }
        }
        comm.broadcast(&mut message, 0);
        match message.split_first() {
            Some((1, bytes)) => {
                let (history, states) = self.restore(ctx.model, crate::saving::parse(&path, bytes)?, &path)?;
                ctx.resume_after(history, states);
            }
            Some((2, text)) => {
                let message = format!("rank 0 could not read the backup: {}", String::from_utf8_lossy(text));
                return Err(Error::Distributed { rank: comm.rank(), size: comm.size(), message });
            }
            _ => {}
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        // The run's History holds the epochs before this one (and this one's updates); the
        // History records this epoch only after the callbacks, so it is added here.
        let mut history = ctx.history().clone();
        history.record(epoch, logs);
        let mut states = serde_json::Map::new();
        for (key, state) in ctx.callback_states() {
            let entry = json!({ "class": state.class, "values": state.values, "tensors": state.tensors.len() });
            states.insert(key.clone(), entry);
        }
        let training = json!({ "next_epoch": epoch + 1, "history": history.to_json(), "callbacks": states });
        let (mut tensors, mut doc) = ctx.model.snapshot(training, true)?;
        for (key, state) in ctx.callback_states() {
            for (j, t) in state.tensors.iter().enumerate() {
                tensors.insert(format!("{CALLBACKS}{key}/{j}"), State::F32(t.clone()));
            }
        }
        doc["kind"] = json!("backup");
        if crate::distributed::is_root() {
            crate::saving::write(&self.backup_path(), &tensors, &doc)?;
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        // A run stopped by an error in its data keeps the backup of its last finished epoch.
        if self.delete_checkpoint && !ctx.training_failed() && crate::distributed::is_root() {
            let path = self.backup_path();
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, &e))?;
            }
            let _ = std::fs::remove_dir(&self.dir); // only if empty
        }
        Ok(())
    }

    fn summary(&self) -> Option<String> {
        self.resumed_at.map(|e| format!("BackupAndRestore: resumed from the backup at epoch {}", e + 1))
    }
}
