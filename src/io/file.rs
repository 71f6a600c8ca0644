//! Opening a data file: only regular files (a FIFO would block its reader forever, a device
//! such as `/dev/zero` never ends), read whole or opened for streaming.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads a whole file (a regular file: see [`open_regular`]).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_regular(path)?, &mut bytes).map_err(|e| Error::io(path, &e))?;
    Ok(bytes)
}

/// Refuses anything but a regular file (or a link to one): a FIFO blocks its reader forever,
/// a device such as `/dev/zero` never ends.
///
/// # Errors
/// [`Error::Io`] for a path that cannot be examined; [`Error::Format`] naming what it is.
pub fn regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a folder" } else { "not a regular file (a FIFO, a device or a socket)" };
    Err(Error::format(path, format!("is {kind}: only regular files are read")))
}

/// Opens a regular file for reading (see [`regular_file`]).
///
/// # Errors
/// As [`regular_file`], and [`Error::Io`] when it cannot be opened.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    regular_file(path)?;
    std::fs::File::open(path).map_err(|e| Error::io(path, &e))
}

/// The entries of `dir`, sorted by name.
///
/// # Errors
/// [`Error::Io`] when the folder or an entry cannot be read.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io(dir, &e))?;
    let mut entries = Vec::new();
    for entry in read {
        entries.push(entry.map_err(|e| Error::io(dir, &e))?.path());
    }
    entries.sort();
    Ok(entries)
}
