//! CSV with a header row: one column of labels, chosen by name, and numeric features in all
//! the others (any order).

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

/// Reads `path`, returning features `[n, columns − 1]` and labels `[n]` from the column named
/// `label_column` (Keras-style data usually calls it `label`).
///
/// # Errors
/// [`Error::Format`] naming the row and column for a missing label column (listing the ones
/// there are), a row of another length, a value that is not a finite number, or a file with no
/// rows; [`Error::Io`] when it cannot be read.
pub fn load_csv(path: impl AsRef<Path>, label_column: &str) -> Result<(Tensor, Tensor)> {
    let path = path.as_ref();
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers: Vec<String> = reader.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_string).collect();
    let label = headers.iter().position(|h| h == label_column).ok_or_else(|| {
        Error::format(path, format!("no label column {label_column:?}: the header has {}", headers.join(", ")))
    })?;
    let features = headers.len() - 1;
    if features == 0 {
        return Err(Error::format(path, "the header names only the label column: no feature columns"));
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut record = ::csv::StringRecord::new();
    let mut row = 0;
    while reader.read_record(&mut record).map_err(|e| csv_error(path, e))? {
        row += 1;
        for (c, field) in record.iter().enumerate() {
            let value: f32 = field.parse().ok().filter(|v: &f32| v.is_finite()).ok_or_else(|| {
                Error::format(
                    path,
                    format!("row {row} (line {}), column {:?}: {field:?} is not a finite number", row + 1, headers[c]),
                )
            })?;
            if c == label {
                y.push(value)
            } else {
                x.push(value)
            }
        }
    }
    if row == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok((Tensor::from_vec(&[row, features], x)?, Tensor::from_slice(&y)))
}

fn csv_error(path: &Path, e: ::csv::Error) -> Error {
    match e.kind() {
        ::csv::ErrorKind::Io(io) => Error::io(path, io),
        ::csv::ErrorKind::UnequalLengths { pos, expected_len, len } => Error::format(
            path,
            format!("line {}: {len} fields where the header has {expected_len}", pos.as_ref().map_or(0, |p| p.line())),
        ),
        _ => Error::format(path, e.to_string()),
    }
}
