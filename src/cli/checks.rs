//! The command's argument checks, made before any work and before anything is printed. Each
//! error names the flag and the value it received.

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

/// A count that must be at least 1 (`--batch-size`, `--samples`).
pub fn at_least_one(flag: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        return Ok(());
    }
    Err(Error::invalid(flag, value, "at least 1"))
}

/// Counts that must each be at least 1 (`--batch-sizes`, `--hidden`).
pub fn all_at_least_one(flag: &'static str, values: &[usize]) -> Result<()> {
    values.iter().try_for_each(|&v| at_least_one(flag, v))
}

/// `--threads`: 1 to [`minibatch::tensor::kernels::MAX_THREADS`].
pub fn threads(value: Option<usize>) -> Result<()> {
    let max = minibatch::tensor::kernels::MAX_THREADS;
    match value {
        Some(n) if !(1..=max).contains(&n) => Err(Error::invalid("--threads", n, format!("1 to {max} threads"))),
        _ => Ok(()),
    }
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

/// The files a command reads and writes, checked together: no output may be an input (never
/// overwrite the data or the model), and no two outputs may be the same file.
#[derive(Default)]
pub struct Files {
    inputs: Vec<(&'static str, PathBuf)>,
    outputs: Vec<(&'static str, PathBuf)>,
}

impl Files {
    /// A file the command reads; `source` may be a data-source name (`spirals`, `mnist:DIR`),
    /// which is kept only when it names an existing file.
    pub fn input(mut self, flag: &'static str, source: Option<&Path>) -> Self {
        if let Some(p) = source.filter(|p| p.is_file()) {
            self.inputs.push((flag, p.to_path_buf()));
        }
        self
    }

    /// A file the command writes.
    pub fn output(mut self, flag: &'static str, path: Option<PathBuf>) -> Self {
        if let Some(p) = path {
            self.outputs.push((flag, p));
        }
        self
    }

    /// Checks the rule.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming both flags and the file.
    pub fn check(&self) -> Result<()> {
        for (i, (flag, out)) in self.outputs.iter().enumerate() {
            let key = identity(out);
            if let Some((input, _)) = self.inputs.iter().find(|(_, p)| identity(p) == key) {
                return Err(Error::invalid(
                    flag,
                    out.display(),
                    format!("a file other than {input}'s: it would overwrite an input"),
                ));
            }
            if let Some((other, _)) = self.outputs[..i].iter().find(|(_, p)| identity(p) == key) {
                return Err(Error::invalid(
                    flag,
                    out.display(),
                    format!("a file other than {other}'s: both would write the same file"),
                ));
            }
        }
        Ok(())
    }
}

/// A path as one file is named by any spelling of it: the canonical directory and the name.
fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = parent.canonicalize().unwrap_or(parent);
    path.file_name().map_or(dir.clone(), |name| dir.join(name))
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
