//! CSV as a format: a reader over a regular file whose lines are bounded, the header row, and
//! the check that a file's columns are the ones a model was trained on. Reading a table of
//! features and labels from it (category columns one-hot encoded) is `data`'s (the
//! `load_csv…` functions, re-exported by `io`).

use crate::error::{Error, Result};
use std::path::Path;

/// The longest line a CSV may have: a file whose first "line" never ends (`/dev/zero`, a
/// binary file) is refused at this length rather than buffered whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// A reader that fails once a line runs past [`MAX_LINE_BYTES`].
pub(crate) struct BoundedLines<R> {
    inner: R,
    line: usize,
}

impl<R: std::io::Read> std::io::Read for BoundedLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Only the line after the last newline read can still be running: a line before it
        // ended inside this read, shorter than the read itself (at most one buffer).
        self.line = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(at) => n - at - 1,
            None => self.line + n,
        };
        if self.line > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE_BYTES} bytes (not a CSV file?)"),
            ));
        }
        Ok(n)
    }
}

/// A CSV reader over the regular file `path` (trimmed fields, a header row, fields separated
/// by `delimiter`), its lines bounded by [`MAX_LINE_BYTES`].
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] for a file that cannot be opened or is not a regular
/// file.
pub(crate) fn csv_reader(
    path: &Path,
    headers: bool,
    delimiter: u8,
) -> Result<::csv::Reader<BoundedLines<std::fs::File>>> {
    let file = super::file::open_regular(path)?;
    Ok(::csv::ReaderBuilder::new()
        .has_headers(headers)
        .delimiter(delimiter)
        .trim(::csv::Trim::All)
        .from_reader(BoundedLines { inner: file, line: 0 }))
}

/// The columns of `headers` that `label_column` names: the column of exactly that name, else
/// each of its comma-separated names the header has, in the order named (`--label-column
/// price,rent`).
pub fn label_columns(headers: &[String], label_column: &str) -> Vec<usize> {
    if let Some(c) = headers.iter().position(|h| h == label_column) {
        return vec![c];
    }
    label_column.split(',').map(str::trim).filter_map(|name| headers.iter().position(|h| h == name)).collect()
}

/// The column names of a CSV file's header row (fields separated by `delimiter`), in order.
///
/// # Errors
/// As [`load_csv`](super::load_csv) for a file that cannot be read or has no header row;
/// [`Error::Format`] for a header of one column that another delimiter would split (see
/// [`check_delimiter`]).
pub fn csv_header(path: impl AsRef<Path>, delimiter: u8) -> Result<Vec<String>> {
    let path = path.as_ref();
    let mut reader = csv_reader(path, true, delimiter)?;
    let headers: Vec<String> = reader.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_string).collect();
    check_delimiter(path, &headers, delimiter)?;
    Ok(headers)
}

/// A delimiter by name or as itself: `,` `;` `|`, `tab` or `\t` for a tab.
///
/// # Errors
/// [`Error::InvalidArgument`] for anything but one ASCII character other than a quote or a
/// line break.
pub fn parse_delimiter(text: &str) -> Result<u8> {
    let byte = match text {
        "tab" | "\\t" | "\t" => b'\t',
        t if t.len() == 1 && t.is_ascii() && !matches!(t, "\"" | "\n" | "\r") => t.as_bytes()[0],
        _ => {
            return Err(Error::invalid(
                "--delimiter",
                text,
                "one ASCII character, such as , ; | or tab (not a quote or a line break)",
            ))
        }
    };
    Ok(byte)
}

/// A header read as one column whose name holds a `;`, a tab or a `|` (and `delimiter` is
/// another): the file is almost surely separated by that character, and reading on would fail
/// later with a confusing "no label column". An error naming the character and how to say it.
///
/// # Errors
/// [`Error::Format`] naming the file, the header and the delimiter to pass.
pub fn check_delimiter(path: &Path, headers: &[String], delimiter: u8) -> Result<()> {
    let [only] = headers else { return Ok(()) };
    for (byte, name) in [(b';', ";"), (b'\t', "tab"), (b'|', "|")] {
        if byte != delimiter && only.as_bytes().contains(&byte) {
            return Err(Error::format(
                path,
                format!(
                    "the header is one column, {only:?}, read with the delimiter {:?}: its fields look separated by \
                     {name} (pass the delimiter: the command's --delimiter '{name}')",
                    delimiter as char
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that a CSV whose header is `found` (its features: every column but `label_column`,
/// which may be missing) holds the feature columns of `expected` (the training file's header,
/// less its label column `trained_label`). Their order may differ: the loaders read them by
/// name when given the training order (`LoadOptions::columns`).
///
/// # Errors
/// [`Error::Format`] naming `path` and every column missing or added, with the columns the
/// model was trained on.
pub fn check_csv_columns(
    path: &Path,
    found: &[String],
    expected: &[String],
    label_column: &str,
    trained_label: &str,
) -> Result<()> {
    let features = |h: &[String], label: &str| -> Vec<String> {
        let labels = label_columns(h, label);
        h.iter().enumerate().filter(|(i, _)| !labels.contains(i)).map(|(_, c)| c.clone()).collect()
    };
    let (found, expected) = (features(found, label_column), features(expected, trained_label));
    let missing: Vec<&String> = expected.iter().filter(|c| !found.contains(c)).collect();
    let added: Vec<&String> = found.iter().filter(|c| !expected.contains(c)).collect();
    if missing.is_empty() && added.is_empty() {
        return Ok(());
    }
    let list = |v: &[&String]| v.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("has no column {}, which the model was trained on", list(&missing)));
    }
    if !added.is_empty() {
        let hint = if added.len() == 1 && missing.is_empty() {
            format!(" (is {:?} the label? pass --label-column {})", added[0], added[0])
        } else {
            String::new()
        };
        parts.push(format!("has column {} the model was not trained on{hint}", list(&added)));
    }
    Err(Error::format(path, format!("{} (its features: {})", parts.join("; "), expected.join(", "))))
}

pub(crate) fn csv_error(path: &Path, e: ::csv::Error) -> Error {
    match e.kind() {
        ::csv::ErrorKind::Io(io) => Error::io(path, io),
        ::csv::ErrorKind::UnequalLengths { pos, expected_len, len } => Error::format(
            path,
            format!("line {}: {len} fields where the header has {expected_len}", pos.as_ref().map_or(0, |p| p.line())),
        ),
        _ => Error::format(path, e.to_string()),
    }
}
