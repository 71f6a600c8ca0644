//! The command's argument checks, made before any work and before anything is printed. Each
//! error names the flag and the value it received.

use minibatch::data::Source;
use minibatch::{Error, Result};
use std::path::{Path, PathBuf};

/// A number that must be finite and greater than zero (`--learning-rate`, `--seconds`).
pub fn positive<T: Into<f64> + Copy + std::fmt::Display>(flag: &'static str, value: T) -> Result<()> {
    let v: f64 = value.into();
    if v.is_finite() && v > 0.0 {
        return Ok(());
    }
    Err(Error::invalid(flag, value, "a finite number greater than 0"))
}

/// A number that must be finite and not negative (`bench --seconds`, where 0 means one epoch).
pub fn non_negative(flag: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    Err(Error::invalid(flag, value, "a finite number of at least 0"))
}

/// A number that must be finite (`--min-delta`).
pub fn finite(flag: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        return Ok(());
    }
    Err(Error::invalid(flag, value, "a finite number"))
}

/// A fraction in `[0, 1)` (`--dropout`, `--validation-split`), or `(0, 1)` when `zero` is
/// false (`--test-split`).
pub fn fraction<T: Into<f64> + Copy + std::fmt::Display>(flag: &'static str, value: T, zero: bool) -> Result<()> {
    let v: f64 = value.into();
    let ok = v < 1.0 && if zero { v >= 0.0 } else { v > 0.0 };
    if ok {
        return Ok(());
    }
    Err(Error::invalid(flag, value, if zero { "a fraction in [0, 1)" } else { "a fraction in (0, 1)" }))
}

/// The most samples a batch may hold (`--batch-size`, `--batch-sizes`).
pub const MAX_BATCH: usize = 1 << 24;
/// The most passes over the data (`--epochs`), and the longest patience.
pub const MAX_EPOCHS: usize = 1_000_000;
/// The most units a hidden layer may have (`--hidden`).
pub const MAX_UNITS: usize = 1 << 20;
/// The most steps of a learning-rate range test (`--lr-find-steps`).
pub const MAX_LR_FIND_STEPS: usize = 100_000;
/// The most samples `bench --samples` and `lab --train-samples` take.
pub const MAX_SAMPLES: usize = 1 << 30;

/// A count that must lie in `lo..=hi` (every count flag has a documented bound: a count
/// without one is a loop without an end, or an allocation without a limit).
pub fn count(flag: &'static str, value: usize, lo: usize, hi: usize) -> Result<()> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(flag, value, format!("{lo} to {hi}")))
}

/// Counts that must each lie in `lo..=hi` (`--batch-sizes`, `--hidden`).
pub fn counts(flag: &'static str, values: &[usize], lo: usize, hi: usize) -> Result<()> {
    values.iter().try_for_each(|&v| count(flag, v, lo, hi))
}

/// `--threads`: 1 to [`minibatch::tensor::kernels::MAX_THREADS`].
pub fn threads(value: Option<usize>) -> Result<()> {
    let max = minibatch::tensor::kernels::MAX_THREADS;
    match value {
        Some(n) if !(1..=max).contains(&n) => Err(Error::invalid("--threads", n, format!("1 to {max} threads"))),
        _ => Ok(()),
    }
}

/// `--precision`: Keras's dtype policy by name, `None` when not given.
pub fn precision(value: Option<&str>) -> Result<Option<minibatch::layers::DTypePolicy>> {
    value
        .map(|p| {
            minibatch::layers::DTypePolicy::parse(p)
                .map_err(|_| Error::invalid("--precision", p, "float32 or mixed_bfloat16 (Keras's dtype policies)"))
        })
        .transpose()
}

/// A chart file: `.png` or `.svg`.
pub fn chart_file(flag: &'static str, path: Option<&Path>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("png" | "svg")) {
        return Ok(());
    }
    Err(Error::invalid(flag, path.display(), "a file ending in .png or .svg"))
}

/// The files a command reads and writes, checked together before any work: no output may be
/// an input or lie inside one (an IDX or image folder: a file written there would replace
/// its labels or join its images), no two outputs may be the same file, and every output's
/// folder must be a folder this process can write in, so that an output that would fail
/// after training is refused before it. Paths are compared resolved (`.`, `..` and symbolic
/// links followed), so no spelling of an input gets past the rule.
#[derive(Default)]
pub struct Files {
    inputs: Vec<(&'static str, PathBuf)>,
    outputs: Vec<(&'static str, PathBuf, Kind)>,
}

/// What an output path is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A file written whole.
    File,
    /// A folder written into (created if missing): `--report`, `--checkpoint-dir`.
    Folder,
}

impl Files {
    /// A file or folder the command reads; `source` may be a data-source name (`spirals`,
    /// `mnist:DIR`): the folder of `mnist:DIR`, else the path when it exists.
    pub fn input(mut self, flag: &'static str, source: Option<&Path>) -> Self {
        if let Some(p) = source {
            let text = p.to_string_lossy();
            let path = match Source::parse(&text) {
                Source::Mnist(dir) => dir.to_path_buf(),
                _ => p.to_path_buf(),
            };
            if path.exists() {
                self.inputs.push((flag, resolve(&path)));
            }
        }
        self
    }

    /// A file the command writes.
    pub fn output(mut self, flag: &'static str, path: Option<PathBuf>) -> Self {
        if let Some(p) = path {
            self.outputs.push((flag, p, Kind::File));
        }
        self
    }

    /// A folder the command writes files into, creating it when missing; `files` are the
    /// names it writes there (each also checked as an output).
    pub fn output_folder(mut self, flag: &'static str, dir: Option<&Path>, files: &[&str]) -> Self {
        if let Some(d) = dir {
            self.outputs.push((flag, d.to_path_buf(), Kind::Folder));
            for name in files {
                self.outputs.push((flag, d.join(name), Kind::File));
            }
        }
        self
    }

    /// Checks the rule.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the flag, the path and what is wrong: the input it
    /// would overwrite or write into (and that input's flag), the other output it shares a
    /// file with, or the folder that is not a writable folder.
    pub fn check(&self) -> Result<()> {
        // Each output as one file is named by any spelling of it, resolved once.
        let keys: Vec<PathBuf> = self.outputs.iter().map(|(_, out, _)| resolve(out)).collect();
        for (i, ((flag, out, kind), key)) in self.outputs.iter().zip(&keys).enumerate() {
            for (input, path) in &self.inputs {
                // The same file by its resolved path, or by its inode (a hard link).
                if key == path || same_inode(key, path) {
                    return Err(Error::invalid(
                        flag,
                        out.display(),
                        format!("a path other than {input}'s {}: it would overwrite an input", path.display()),
                    ));
                }
                if key.starts_with(path) {
                    return Err(Error::invalid(
                        flag,
                        out.display(),
                        format!(
                            "a path outside {input}'s folder {}: writing inside an input folder would change the data",
                            path.display()
                        ),
                    ));
                }
            }
            // Two files written over each other (a folder may hold files of other outputs).
            let earlier = self.outputs[..i].iter().zip(&keys).find(|((_, _, k), p)| *k == Kind::File && *p == key);
            if let (Kind::File, Some(((other, _, _), _))) = (kind, earlier) {
                return Err(Error::invalid(
                    flag,
                    out.display(),
                    format!("a file other than {other}'s: both would write the same file"),
                ));
            }
            writable(flag, out, *kind)?;
        }
        Ok(())
    }
}

/// Whether two existing paths are one file on disk (the same device and inode: hard links).
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A path as one file is named by any spelling of it: its longest existing part resolved
/// (`.`, `..`, symbolic links), the rest appended.
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    let mut rest = Vec::new();
    let mut head = absolute.as_path();
    loop {
        if let Ok(real) = head.canonicalize() {
            return rest.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return absolute,
        }
    }
}

/// The output `path` can be written: an existing file (never a folder) for a file, an
/// existing folder for a folder, or missing under folders only, the nearest of which this
/// process can create files in.
fn writable(flag: &'static str, path: &Path, kind: Kind) -> Result<()> {
    let shown = path.display();
    if let Ok(meta) = std::fs::metadata(path) {
        match kind {
            Kind::File if meta.is_dir() => return Err(Error::invalid(flag, shown, "a file name, not a folder")),
            Kind::Folder if !meta.is_dir() => {
                return Err(Error::invalid(flag, shown, "a folder, not an existing file"));
            }
            Kind::Folder => return probe(flag, path, path),
            Kind::File => {}
        }
    }
    // The nearest existing folder above it: every missing part is created in it.
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(d) {
            Ok(meta) if meta.is_dir() => return probe(flag, path, d),
            Ok(_) => {
                return Err(Error::invalid(
                    flag,
                    shown,
                    format!("a path whose folders are folders: {} is a file", d.display()),
                ))
            }
            Err(_) => dir = d.parent(),
        }
    }
    probe(flag, path, Path::new("."))
}

/// Whether this process can create a file in `dir` (tried, then removed).
fn probe(flag: &'static str, path: &Path, dir: &Path) -> Result<()> {
    let name = dir.join(format!(".minibatch-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&name) {
        Ok(_) => {
            let _ = std::fs::remove_file(&name);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::invalid(
            flag,
            path.display(),
            format!("a path in a folder this process can write to ({}: {e})", dir.display()),
        )),
    }
}

/// A size such as `512MiB`, `2GiB`, `300MB`, `1.5GB`, `64KiB` or a number of bytes.
pub fn bytes(flag: &'static str, text: &str) -> Result<usize> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(Error::invalid(flag, text, "a size such as 512MiB, 2GiB, 300MB or a number of bytes")),
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * scale < 1e18 => Ok((v * scale) as usize),
        _ => Err(Error::invalid(flag, text, "a positive size such as 512MiB, 2GiB, 300MB or a number of bytes")),
    }
}
