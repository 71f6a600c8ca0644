//! CSV with a header row: one column of labels, chosen by name, and numeric features in all
//! the others (any order). Labels are numbers (class indices or regression targets) or names
//! (`setosa`, `virginica`): names become class indices in sorted order, as scikit-learn's
//! `LabelEncoder` numbers them.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

/// Reads `path`, returning features `[n, columns − 1]` and labels `[n]` from the column named
/// `label_column` (Keras-style data usually calls it `label`). Labels that are names become
/// class indices in sorted order (see [`load_csv_classes`] for the names).
///
/// # Errors
/// [`Error::Format`] naming the row and column for a missing label column (listing the ones
/// there are), a row of another length, a feature that is not a finite number, or a file with
/// no rows; [`Error::Io`] when it cannot be read.
pub fn load_csv(path: impl AsRef<Path>, label_column: &str) -> Result<(Tensor, Tensor)> {
    let (x, y, _) = load_csv_classes(path, label_column, None)?;
    Ok((x, y))
}

/// [`load_csv`], with the class names when the labels are names: given `classes` (the names a
/// model was trained with), each label is its position there; without, the sorted distinct
/// names. Numeric labels give no names.
///
/// ```no_run
/// let (x, y, names) = minibatch::io::load_csv_classes("flowers.csv", "species", None).unwrap();
/// assert_eq!(names, ["setosa", "versicolor", "virginica"]);
/// ```
///
/// # Errors
/// As [`load_csv`], and [`Error::Format`] naming the row for a label that is not one of
/// `classes`.
pub fn load_csv_classes(
    path: impl AsRef<Path>,
    label_column: &str,
    classes: Option<&[String]>,
) -> Result<(Tensor, Tensor, Vec<String>)> {
    let path = path.as_ref();
    let (x, labels) = read_csv(path, label_column, true)?;
    let labels = labels.expect("labels required");
    let (y, names) = encode_labels(path, label_column, &labels, classes)?;
    Ok((x, y, names))
}

/// Reads `path` for prediction: features `[n, columns]` from every column but
/// `label_column`, which may be absent.
///
/// # Errors
/// As [`load_csv`], less the missing label column.
pub fn load_csv_features(path: impl AsRef<Path>, label_column: &str) -> Result<Tensor> {
    Ok(read_csv(path.as_ref(), label_column, false)?.0)
}

/// Labels as numbers when every one is a finite number (and no names are given), else as
/// class indices into `classes` or the sorted distinct names.
fn encode_labels(
    path: &Path,
    column: &str,
    labels: &[String],
    classes: Option<&[String]>,
) -> Result<(Tensor, Vec<String>)> {
    let at = |row: usize| format!("row {} (line {}), column {column:?}", row + 1, row + 2);
    let parsed: Vec<Option<f32>> = labels.iter().map(|l| l.parse::<f32>().ok()).collect();
    if let Some(row) = parsed.iter().position(|v| v.is_some_and(|v| !v.is_finite())) {
        return Err(Error::format(path, format!("{}: {:?} is not a finite number", at(row), labels[row])));
    }
    let named = matches!(classes, Some(c) if !c.is_empty());
    if !named {
        let numbers = parsed.iter().filter(|v| v.is_some()).count();
        if numbers == labels.len() {
            let y: Vec<f32> = parsed.into_iter().flatten().collect();
            return Ok((Tensor::from_slice(&y), Vec::new()));
        }
        if numbers > 0 {
            let (first, odd) = (parsed.iter().position(Option::is_some), parsed.iter().position(Option::is_none));
            let (first, odd) = (first.expect("some numbers"), odd.expect("some names"));
            return Err(Error::format(
                path,
                format!(
                    "{}: {:?} is a name where {} holds the number {:?}: labels must be all numbers \
                     (class indices or targets) or all names",
                    at(odd),
                    labels[odd],
                    at(first),
                    labels[first]
                ),
            ));
        }
    }
    let names: Vec<String> = match classes {
        Some(c) if !c.is_empty() => c.to_vec(),
        _ => {
            let mut set: Vec<String> = labels.to_vec();
            set.sort();
            set.dedup();
            set
        }
    };
    let index: std::collections::HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut y = Vec::with_capacity(labels.len());
    for (row, label) in labels.iter().enumerate() {
        let class = index.get(label.as_str()).copied().ok_or_else(|| {
            let shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
            Error::format(
                path,
                format!("{}: {label:?} is not one of the model's classes ({})", at(row), shown.join(", ")),
            )
        })?;
        y.push(class as f32);
    }
    Ok((Tensor::from_slice(&y), names))
}

/// Features, and the label column's text when it is there (required when `need_labels`).
fn read_csv(path: &Path, label_column: &str, need_labels: bool) -> Result<(Tensor, Option<Vec<String>>)> {
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
            if Some(c) == label {
                if field.is_empty() {
                    let message = format!("row {row} (line {}), column {:?}: no label", row + 1, headers[c]);
                    return Err(Error::format(path, message));
                }
                y.push(field.to_string());
                continue;
            }
            let value: f32 = field.parse().ok().filter(|v: &f32| v.is_finite()).ok_or_else(|| {
                Error::format(
                    path,
                    format!("row {row} (line {}), column {:?}: {field:?} is not a finite number", row + 1, headers[c]),
                )
            })?;
            x.push(value)
        }
    }
    if row == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok((Tensor::from_vec(&[row, features], x)?, label.map(|_| y)))
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
