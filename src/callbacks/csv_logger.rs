//! `CSVLogger`: one CSV row per epoch (see the type).

use super::{Callback, Context, Control, Logs};
use crate::error::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

/// Writes one CSV row per epoch: `epoch` (0-based, as Keras writes it), then every
/// log key in sorted order; a key an epoch did not report is written `NA`.
///
/// ```no_run
/// use minibatch::callbacks::CSVLogger;
/// let logger = CSVLogger::new("training.csv").separator(';').append(true);
/// ```
#[derive(Debug)]
pub struct CSVLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    write_header: bool,
}

impl CSVLogger {
    /// Logs to `path`, overwriting it (Keras's defaults: separator `,`, append false).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CSVLogger { path: path.into(), separator: ',', append: false, keys: None, file: None, write_header: true }
    }
    /// The field separator.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }
    /// Append to an existing file (its header is kept; a header is written only to an empty file).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(&self.path, &e)
    }
}

impl Callback for CSVLogger {
    // Over several processes, only rank 0 writes (see crate::distributed).
    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> Result<Control> {
        self.file = None;
        if !crate::distributed::is_root() {
            return Ok(Control::Continue);
        }
        let existing = self.append && std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0);
        self.write_header = !existing;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        self.file = Some(std::io::BufWriter::new(file));
        self.keys = None;
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, _ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        if self.file.is_none() {
            return Ok(Control::Continue);
        }
        let keys = self.keys.get_or_insert_with(|| {
            let mut k: Vec<String> = logs.keys().map(str::to_string).collect();
            k.sort();
            k
        });
        let sep = self.separator.to_string();
        let mut text = String::new();
        if self.write_header {
            text += &format!("epoch{sep}{}\n", keys.join(&sep));
            self.write_header = false;
        }
        let values: Vec<String> = keys.iter().map(|k| logs.get(k).map_or("NA".into(), |v| v.to_string())).collect();
        text += &format!("{epoch}{sep}{}\n", values.join(&sep));
        let file = self.file.as_mut().expect("opened in on_train_begin");
        file.write_all(text.as_bytes()).and_then(|_| file.flush()).map_err(|e| Error::io(&self.path, &e))?;
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}
