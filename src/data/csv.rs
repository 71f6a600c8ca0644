//! A CSV file as a [`Dataset`], streamed: one pass finds where each row begins (and the
//! labels' names), then each batch reads its rows' bytes at those offsets and parses them, so
//! a file larger than memory trains with memory bounded by the batch and the offsets.

use super::order::{Order, Rows};
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Rows of a CSV with a header, numeric features in every column but the label column, read
/// a batch at a time by their byte offsets (found in one pass when the file is opened). Labels
/// are numbers, or names numbered in sorted order (as [`crate::io::load_csv`] numbers them).
/// Shuffling reorders rows through the offsets.
///
/// ```no_run
/// use minibatch::data::{CsvDataset, Dataset};
/// let data = CsvDataset::open("big.csv", "label", 256)?.shuffle(0);
/// # Ok::<(), minibatch::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvDataset {
    path: PathBuf,
    file: File,
    /// Byte offset of each row's start, then the end of the last row.
    offsets: Vec<u64>,
    headers: Vec<String>,
    label: usize,
    class_names: Vec<String>,
    classes: HashMap<String, usize>,
    batch_size: usize,
    /// The rows served and their order.
    order: Order,
}

impl CsvDataset {
    /// Indexes `path`: its header, the label column `label_column`, where each row begins,
    /// the labels' names. Reads the file once, holding only the offsets.
    ///
    /// # Errors
    /// A file that cannot be read; no label column (the header's columns listed); a row of
    /// another length; no rows; labels mixing numbers and names; `batch_size` 0.
    pub fn open(path: impl AsRef<Path>, label_column: &str, batch_size: usize) -> Result<CsvDataset> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let path = path.as_ref();
        let csv_error = |e: ::csv::Error| Error::format(path, e.to_string());
        let mut reader = crate::io::csv::csv_reader(path, true, b',')?;
        let headers: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
        let label = headers.iter().position(|h| h == label_column).ok_or_else(|| {
            Error::format(path, format!("no label column {label_column:?}: the header has {}", headers.join(", ")))
        })?;
        if headers.len() < 2 {
            return Err(Error::format(path, "the header names only the label column: no feature columns"));
        }
        let (mut offsets, mut names, mut numbers) = (Vec::new(), std::collections::BTreeSet::new(), 0usize);
        let mut record = ::csv::StringRecord::new();
        loop {
            let at = reader.position().byte();
            if !reader.read_record(&mut record).map_err(csv_error)? {
                offsets.push(at);
                break;
            }
            offsets.push(at);
            let text = &record[label];
            if text.parse::<f32>().is_ok_and(f32::is_finite) {
                numbers += 1;
            } else if !names.contains(text) {
                names.insert(text.to_string());
            }
        }
        let rows = offsets.len() - 1;
        if rows == 0 {
            return Err(Error::format(path, "no data rows after the header"));
        }
        if numbers > 0 && numbers < rows {
            return Err(Error::format(
                path,
                format!("column {label_column:?} mixes numbers and names: labels must be all numbers or all names"),
            ));
        }
        let class_names: Vec<String> = names.into_iter().collect();
        let classes = class_names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let file = crate::io::file::open_regular(path)?;
        Ok(CsvDataset {
            path: path.to_path_buf(),
            file,
            offsets,
            headers,
            label,
            class_names,
            classes,
            batch_size,
            order: Order::all(rows),
        })
    }

    /// Serves the rows in an order drawn from `seed` and the epoch, anew every epoch.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.order = self.order.shuffle(seed);
        self
    }

    /// Rows in the file.
    pub fn samples(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The labels' names when they are names (label `i` is `class_names()[i]`).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The bytes of rows `lo..hi` (contiguous in the file).
    fn read(&self, lo: usize, hi: usize) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let (from, to) = (self.offsets[lo], self.offsets[hi]);
        let mut bytes = vec![0u8; (to - from) as usize];
        self.file.read_exact_at(&mut bytes, from).map_err(|e| {
            Error::format(
                &self.path,
                format!("rows {}..{} (bytes {from}..{to}) cannot be read: {e} (truncated while training?)", lo + 1, hi),
            )
        })?;
        Ok(bytes)
    }

    /// Reads and parses rows `first..end` into the batch from sample `at`.
    fn read_rows(&self, first: usize, end: usize, batch: &mut Batch, at: usize) -> Result<()> {
        let bytes = self.read(first, end)?;
        let parsed = self.parse(&bytes, first, batch, at)?;
        if parsed != end - first {
            return Err(Error::format(&self.path, format!("rows {}..{end}: {parsed} rows read", first + 1)));
        }
        Ok(())
    }

    /// Parses the rows in `bytes` (the first is row `first`) into `x` and `y` from sample `at`.
    fn parse(&self, bytes: &[u8], first: usize, batch: &mut Batch, at: usize) -> Result<usize> {
        let features = self.headers.len() - 1;
        let mut reader = ::csv::ReaderBuilder::new().has_headers(false).trim(::csv::Trim::All).from_reader(bytes);
        let mut record = ::csv::StringRecord::new();
        let mut k = 0;
        while reader.read_record(&mut record).map_err(|e| Error::format(&self.path, e.to_string()))? {
            let (row, s) = (first + k + 1, at + k);
            let bad = |c: usize, what: &str| {
                Error::format(&self.path, format!("row {row} (line {}), column {:?}: {what}", row + 1, self.headers[c]))
            };
            if record.len() != self.headers.len() {
                return Err(Error::format(
                    &self.path,
                    format!("row {row}: {} fields where the header has {}", record.len(), self.headers.len()),
                ));
            }
            let mut f = 0;
            for (c, field) in record.iter().enumerate() {
                if c == self.label {
                    let y = if self.class_names.is_empty() {
                        field.parse::<f32>().ok().filter(|v| v.is_finite())
                    } else {
                        self.classes.get(field).map(|&i| i as f32)
                    };
                    batch.y_mut(0)[s] = y.ok_or_else(|| bad(c, &format!("{field:?} is not a label of the file")))?;
                    continue;
                }
                let v = field.parse::<f32>().ok().filter(|v| v.is_finite());
                batch.x_mut(0)[s * features + f] =
                    v.ok_or_else(|| bad(c, &format!("{field:?} is not a finite number")))?;
                f += 1;
            }
            k += 1;
        }
        Ok(k)
    }
}

impl Dataset for CsvDataset {
    fn spec(&self) -> Spec {
        Spec {
            inputs: vec![vec![self.headers.len() - 1]],
            targets: vec![vec![]],
            weighted: false,
            batch_size: self.batch_size.min(self.samples()),
        }
    }

    fn num_batches(&self) -> Option<usize> {
        Some(self.samples().div_ceil(self.batch_size))
    }

    fn samples(&self) -> Option<usize> {
        Some(CsvDataset::samples(self))
    }

    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        let (lo, hi) = super::batch_rows(index, self.batch_size, CsvDataset::samples(self))?;
        batch.set_len(hi - lo)?;
        // Consecutive rows are one read; a shuffled batch reads row by row.
        match self.order.rows(lo, hi) {
            Rows::Range(lo, hi) => self.read_rows(lo, hi, batch, 0),
            Rows::List(list) => list.iter().enumerate().try_for_each(|(k, &r)| self.read_rows(r, r + 1, batch, k)),
        }
    }

    fn on_epoch_begin(&mut self, epoch: u64) {
        self.order.set_epoch(epoch);
    }

    fn on_epoch_end(&mut self) {
        self.order.next_epoch();
    }
}
