//! Crash-safe file writes: write a temporary file beside the target, sync it, rename it over
//! the target, sync the directory. A kill at any moment leaves either the previous file or the
//! new one, complete, never a mixture. Every file minibatch writes goes through it (data,
//! models, backups, reports); `saving` re-exports it.
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("minibatch-doc-atomic-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! minibatch::saving::write_atomic(&dir.join("notes.txt"), b"hello").unwrap();
//! assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"hello");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker in the names of temporary files: `.NAME.tmp-PID`.
const TEMP_MARK: &str = ".tmp-";

/// Writes `bytes` to `path` atomically: to a temporary file beside it (`.NAME.tmp-PID`),
/// synced, then renamed over `path`, and the directory synced. A kill at any moment leaves
/// either the previous file or the new one, whole. Creates missing parent directories.
///
/// A `path` that exists and is not a regular file — `/dev/null`, `/dev/stdout`, a FIFO — is
/// written into as it is: a rename would replace the device with a file (and `/dev/null` with
/// one that fills up), and there is no earlier content to keep whole.
///
/// # Errors
/// [`Error::Io`] naming `path`; the temporary file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let written = std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(bytes));
        return written.map_err(|e| Error::io(path, &e));
    }
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| Error::Io {
        path: path.display().to_string(),
        message: "expected a file path, received a directory".into(),
    })?;
    let tmp = dir.join(format!(".{}{TEMP_MARK}{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&dir)?;
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        pause_before_rename();
        std::fs::rename(&tmp, path)?;
        // The rename is durable once the directory entry is.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io(path, &e))
}

/// For crash tests: `MINIBATCH_TEST_WRITE_PAUSE_MS` holds every write this long between the
/// complete temporary file and its rename, so that a kill lands mid-write on purpose rather
/// than by luck. Unset (always, outside tests), it costs one cached look-up.
fn pause_before_rename() {
    static PAUSE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ms = *PAUSE
        .get_or_init(|| std::env::var("MINIBATCH_TEST_WRITE_PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0));
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Whether `name` is one of [`write_atomic`]'s temporary files.
pub fn is_temp_file(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARK)
}

/// Removes temporary files a killed writer left in `dir` (not those of live writers in this
/// process). Missing directories are fine.
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let own = format!("{TEMP_MARK}{}", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_file(&name) && !name.ends_with(&own) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The directory `path` lies in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    /// `--json /dev/null` once replaced the device with a regular file (the rename), which
    /// then filled with every process's output: a device stays a device.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_into_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let null = std::path::Path::new("/dev/null");
        super::write_atomic(null, b"discarded").unwrap();
        let meta = std::fs::metadata(null).unwrap();
        assert!(meta.file_type().is_char_device(), "/dev/null is still a character device");
        assert_eq!(std::fs::read(null).unwrap(), b"", "and reads as empty");
    }

    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("minibatch-atomic-{}", std::process::id()));
        let path = dir.join("sub").join("f.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["f.bin"]);
        std::fs::write(dir.join("sub").join(".f.bin.tmp-1"), b"half").unwrap();
        remove_stale_temp_files(&dir.join("sub"));
        assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
