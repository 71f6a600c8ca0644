//! CSV with a header row as a table: one column of labels, chosen by name, and features in
//! all the others (any order): numbers, or categories (a column none of whose fields is a
//! number), one-hot encoded through a [`StringLookup`]. Labels are numbers (class indices or
//! regression targets) or names (`setosa`, `virginica`): names become class indices in sorted
//! order, as scikit-learn's `LabelEncoder` numbers them. (`io` re-exports all of it: the
//! paths are `minibatch::io::load_csv` and so on.)

use crate::error::{Error, Result};
use crate::io::csv::{csv_error, csv_reader, label_columns};
use crate::layers::StringLookup;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// The most distinct strings a category column may hold. Each becomes a one-hot column, so a
/// column of identifiers or free text (a distinct string per row) would make the features
/// grow with the square of the file; such a column is refused by name (drop it, or encode it
/// yourself) rather than encoded.
pub const MAX_CATEGORIES: usize = 1000;

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
    let table = load_csv_table(path, label_column, classes, None)?;
    Ok((table.x, table.y, table.class_names))
}

/// A CSV read for training or evaluation: features (string columns one-hot), labels, the
/// labels' class names and the string columns' lookups.
#[derive(Debug, Clone)]
pub struct CsvTable {
    /// `[n, features]`, each string column as one-hot columns over its lookup's indices.
    pub x: Tensor,
    /// `[n]` labels: numbers, or class indices of `class_names`; `[n, k]` numbers for `k`
    /// label columns.
    pub y: Tensor,
    /// The labels' names, when they are names.
    pub class_names: Vec<String>,
    /// The string columns, in column order, with their lookups.
    pub categories: Categories,
}

/// [`load_csv_classes`], with string feature columns: a column none of whose fields is a
/// number holds categories, one-hot encoded through a [`StringLookup`] learned from it, or
/// through `categories` (a saved model's lookups, by column name; a string they never saw
/// takes the OOV column).
///
/// # Errors
/// As [`load_csv_classes`]; a column holding both numbers and other text, named with the row.
pub fn load_csv_table(
    path: impl AsRef<Path>,
    label_column: &str,
    classes: Option<&[String]>,
    categories: Option<&[(String, StringLookup)]>,
) -> Result<CsvTable> {
    load_csv_table_with(path, &CsvOptions { label_column, classes, categories, ..CsvOptions::default() })
}

/// How a CSV is read: its delimiter, its label column(s), and what a saved model fixes (its
/// class names, its string columns' lookups, its feature columns' order).
#[derive(Debug, Clone, Copy)]
pub struct CsvOptions<'a> {
    /// The label column's name, or several names separated by commas (`price,rent`: targets
    /// of as many values per sample, all numbers). A header column named with the commas
    /// itself is that one column.
    pub label_column: &'a str,
    /// The byte between fields: `b','` (the default), `b';'`, `b'\t'`, …
    pub delimiter: u8,
    /// Class names that number named labels (a saved model's); else the sorted distinct names.
    pub classes: Option<&'a [String]>,
    /// The string columns' lookups (a saved model's), by column name.
    pub categories: Option<&'a [(String, StringLookup)]>,
    /// The feature columns by name, in this order (a saved model's training header; label
    /// columns skipped), wherever the file has them; else in the file's order.
    pub columns: Option<&'a [String]>,
}

impl Default for CsvOptions<'_> {
    fn default() -> Self {
        CsvOptions { label_column: "label", delimiter: b',', classes: None, categories: None, columns: None }
    }
}

/// A CSV read as `options` say: features (string columns one-hot), labels (`[n]`, or
/// `[n, k]` for `k` label columns), the labels' class names and the string columns' lookups.
///
/// ```no_run
/// use minibatch::io::{load_csv_table_with, CsvOptions};
/// let t = load_csv_table_with("prices.csv", &CsvOptions { label_column: "price,rent", delimiter: b';', ..Default::default() }).unwrap();
/// assert_eq!(t.y.shape()[1], 2);
/// ```
///
/// # Errors
/// As [`load_csv_table`]; [`Error::Format`] naming a label column the file lacks, a column of
/// `columns` the file lacks, or a label that is not a number when there are several label
/// columns.
pub fn load_csv_table_with(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvTable> {
    let path = path.as_ref();
    let (x, labels, categories) = read_csv(path, options, true)?;
    let (labels, columns) = labels.expect("labels required");
    if columns.len() > 1 {
        return Ok(CsvTable { x, y: several_targets(path, &labels, &columns)?, class_names: Vec::new(), categories });
    }
    let (y, class_names) = encode_labels(path, &columns[0], &labels, options.classes)?;
    Ok(CsvTable { x, y, class_names, categories })
}

/// Reads `path` for prediction: features `[n, columns]` from every column but
/// `label_column`, which may be absent.
///
/// # Errors
/// As [`load_csv`], less the missing label column.
pub fn load_csv_features(path: impl AsRef<Path>, label_column: &str) -> Result<Tensor> {
    load_csv_features_with(path, label_column, None)
}

/// [`load_csv_features`] with a saved model's string-column lookups.
///
/// # Errors
/// As [`load_csv_features`].
pub fn load_csv_features_with(
    path: impl AsRef<Path>,
    label_column: &str,
    categories: Option<&[(String, StringLookup)]>,
) -> Result<Tensor> {
    load_csv_features_only(path, &CsvOptions { label_column, categories, ..CsvOptions::default() })
}

/// The features of a CSV read as `options` say (see [`load_csv_table_with`]); the label
/// columns may be absent.
///
/// # Errors
/// As [`load_csv_table_with`], less the missing label columns.
pub fn load_csv_features_only(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Tensor> {
    Ok(read_csv(path.as_ref(), options, false)?.0)
}

/// Several label columns' text (row-major, `columns.len()` a row) as targets `[n, k]`: every
/// one a finite number.
fn several_targets(path: &Path, labels: &[String], columns: &[String]) -> Result<Tensor> {
    let k = columns.len();
    let mut y = Vec::with_capacity(labels.len());
    for (i, text) in labels.iter().enumerate() {
        let value = text.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
            let (row, column) = (i / k + 1, &columns[i % k]);
            Error::format(
                path,
                format!(
                    "row {row} (line {}), column {column:?}: {text:?} is not a finite number (several label \
                     columns are targets: numbers)",
                    row + 1
                ),
            )
        })?;
        y.push(value);
    }
    Tensor::from_vec(&[labels.len() / k, k], y)
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

/// A CSV's string columns: each column's name and the [`StringLookup`] of its categories.
pub type Categories = Vec<(String, StringLookup)>;

/// What [`read_csv`] reads: features, the label columns' text (row-major) and names, the
/// string columns' lookups.
type Read = (Tensor, Option<(Vec<String>, Vec<String>)>, Categories);

/// Features, and the label column's text when it is there (required when `need_labels`). A
/// feature column none of whose fields is a number holds categories: each becomes one-hot
/// columns through a [`StringLookup`] (index 0 for a string it never saw), learned from the
/// column, or `given` (a saved model's, by column name). The features come in the order of
/// `columns` when given (read by name), else in the file's.
fn read_csv(path: &Path, options: &CsvOptions, need_labels: bool) -> Result<Read> {
    let (label_column, given, columns) = (options.label_column, options.categories, options.columns);
    let mut reader = csv_reader(path, true, options.delimiter)?;
    let headers: Vec<String> = reader.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_string).collect();
    crate::io::csv::check_delimiter(path, &headers, options.delimiter)?;
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
    let labels = label_columns(&headers, label_column);
    let named: Vec<&str> = if labels.len() == 1 && headers[labels[0]] == label_column {
        vec![label_column]
    } else {
        label_column.split(',').map(str::trim).collect()
    };
    if need_labels && labels.len() < named.len() {
        let missing: Vec<&str> = named.iter().copied().filter(|n| !headers.iter().any(|h| h == n)).collect();
        let message = format!("no label column {:?}: the header has {}", missing.join(", "), headers.join(", "));
        return Err(Error::format(path, message));
    }
    let is_label = |c: usize| labels.contains(&c);
    if headers.len() == labels.len() {
        return Err(Error::format(path, "the header names only the label column: no feature columns"));
    }
    // The feature columns, in the order they are read into each row.
    let order: Vec<usize> = match columns {
        Some(names) => names
            .iter()
            .filter(|n| !labels.iter().any(|&c| headers[c] == **n))
            .map(|n| {
                headers
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| Error::format(path, format!("has no column {n:?}, which the model was trained on")))
            })
            .collect::<Result<_>>()?,
        None => (0..headers.len()).filter(|&c| !is_label(c)).collect(),
    };
    let number = |f: &str| f.parse::<f32>().ok().filter(|v| v.is_finite());
    // Pass 1: which feature columns hold numbers, and the strings of those that (so far) hold
    // none, counted — memory bounded by the distinct strings, not the rows.
    let mut has_number = vec![false; headers.len()];
    let mut counts: Vec<HashMap<String, usize>> = vec![HashMap::new(); headers.len()];
    let mut too_many = vec![false; headers.len()];
    let mut record = ::csv::StringRecord::new();
    let mut rows = 0usize;
    while reader.read_record(&mut record).map_err(|e| csv_error(path, e))? {
        rows += 1;
        for (c, field) in record.iter().enumerate().filter(|&(c, _)| !is_label(c)) {
            if has_number[c] {
                continue;
            }
            if number(field).is_some() {
                has_number[c] = true;
                counts[c] = HashMap::new();
            } else if field.parse::<f32>().is_ok() {
                // NaN or infinite: a number that is not finite, never a category.
                return Err(Error::format(
                    path,
                    format!(
                        "row {rows} (line {}), column {:?}: {field:?} is not a finite number",
                        rows + 1,
                        headers[c]
                    ),
                ));
            } else if given.is_none() {
                let distinct = counts[c].len();
                match counts[c].get_mut(field) {
                    Some(n) => *n += 1,
                    None if distinct < MAX_CATEGORIES => {
                        counts[c].insert(field.to_string(), 1);
                    }
                    // Past the cap, unless a number later makes it a numeric column.
                    None => too_many[c] = true,
                }
            }
        }
    }
    if rows == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    // Each feature column: numbers, or a string column's lookup (given, or learned when no
    // field of it is a number).
    let mut lookups: Vec<Option<StringLookup>> = vec![None; headers.len()];
    for (c, name) in headers.iter().enumerate().filter(|&(c, _)| !is_label(c)) {
        let known = given.and_then(|g| g.iter().find(|(n, _)| n == name)).map(|(_, l)| l.clone());
        lookups[c] = match known {
            Some(l) => Some(l),
            None if given.is_none() && !has_number[c] => {
                if too_many[c] {
                    return Err(Error::format(
                        path,
                        format!(
                            "column {name:?} holds more than {MAX_CATEGORIES} distinct strings: as categories \
                             it would become as many one-hot columns (an identifier or free text?); drop the \
                             column, or encode it as numbers"
                        ),
                    ));
                }
                Some(StringLookup::from_counts(std::mem::take(&mut counts[c]))?)
            }
            None => None,
        };
    }
    let width: usize = order.iter().map(|&c| lookups[c].as_ref().map_or(1, StringLookup::vocabulary_size)).sum();
    // The features' size, checked before they are allocated.
    crate::tensor::memory::check_decoded(&format!("the features of {}", path.display()), &[rows, width], 4)?;
    // Pass 2: the values.
    let mut reader = csv_reader(path, true, options.delimiter)?;
    let (mut x, mut y) = (Vec::with_capacity(rows.saturating_mul(width)), Vec::new());
    let mut read = 0usize;
    while reader.read_record(&mut record).map_err(|e| csv_error(path, e))? {
        read += 1;
        let row = read;
        for &c in &labels {
            let field = record.get(c).unwrap_or_default();
            if field.is_empty() {
                let message = format!("row {row} (line {}), column {:?}: no label", row + 1, headers[c]);
                return Err(Error::format(path, message));
            }
            y.push(field.to_string());
        }
        for &c in &order {
            let field = record.get(c).unwrap_or_default();
            if let Some(lookup) = &lookups[c] {
                let start = x.len();
                x.resize(start + lookup.vocabulary_size(), 0.0);
                x[start + lookup.lookup(field)] = 1.0;
                continue;
            }
            let value = number(field).ok_or_else(|| {
                let hint = if has_number[c] {
                    " (the column holds numbers elsewhere: a column is either numbers or categories)"
                } else {
                    ""
                };
                Error::format(
                    path,
                    format!(
                        "row {row} (line {}), column {:?}: {field:?} is not a finite number{hint}",
                        row + 1,
                        headers[c]
                    ),
                )
            })?;
            x.push(value)
        }
    }
    let categories = order.iter().filter_map(|&c| Some((headers[c].clone(), lookups[c].clone()?))).collect();
    let label_names = labels.iter().map(|&c| headers[c].clone()).collect();
    Ok((Tensor::from_vec(&[read, width], x)?, (!labels.is_empty()).then_some((y, label_names)), categories))
}
