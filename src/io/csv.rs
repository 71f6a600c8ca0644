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
    let (x, y) = read_csv(path.as_ref(), label_column, true)?;
    Ok((x, y.expect("labels required")))
}

/// Reads `path` for prediction: features `[n, columns]` from every column but
/// `label_column`, which may be absent.
///
/// # Errors
/// As [`load_csv`], less the missing label column.
pub fn load_csv_features(path: impl AsRef<Path>, label_column: &str) -> Result<Tensor> {
    Ok(read_csv(path.as_ref(), label_column, false)?.0)
}

/// Features, and labels when the label column is there (required when `need_labels`).
fn read_csv(path: &Path, label_column: &str, need_labels: bool) -> Result<(Tensor, Option<Tensor>)> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers: Vec<String> = reader.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_string).collect();
    // A name twice is an error, not two columns: which one is the label (or a feature) would
    // be a guess.
    for (i, h) in headers.iter().enumerate() {
        if let Some(j) = headers[i + 1..].iter().position(|other| other == h) {
            return Err(Error::format(
                path,
                format!(
                    "the header names column {h:?} twice (columns {} and {}): column names must be unique",
                    i + 1,
                    i + j + 2
                ),
            ));
        }
    }
    let label = headers.iter().position(|h| h == label_column);
    if label.is_none() && need_labels {
        let message = format!("no label column {label_column:?}: the header has {}", headers.join(", "));
        return Err(Error::format(path, message));
    }
    let features = headers.len() - usize::from(label.is_some());
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
            if Some(c) == label {
                y.push(value)
            } else {
                x.push(value)
            }
        }
    }
    if row == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok((Tensor::from_vec(&[row, features], x)?, label.map(|_| Tensor::from_slice(&y))))
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
