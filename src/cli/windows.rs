//! `train --window L --horizon H --target COLUMN`: a CSV read as a time series. Each sample is
//! `L` consecutive rows of every column (the target's own past included), and its target the
//! target column `H` rows after the window's last row: Keras's
//! `timeseries_dataset_from_array(series, targets=column[L − 1 + H:], sequence_length=L)`
//! ([`minibatch::data::timeseries_dataset_from_array`] makes the windows here too).
//!
//! The model records the window (`"window"` in its metadata), so `evaluate` and `predict`
//! read a file the same way: `evaluate` scores every window whose target is in the file;
//! `predict` forecasts from every window, the last `H` of them for rows past the file's end.

use minibatch::data::{timeseries_dataset_from_array, Batch, Dataset, TimeseriesOptions};
use minibatch::{Error, Model, Result, Tensor};
use serde_json::json;

/// The window a forecaster reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows per sample (`--window`).
    pub length: usize,
    /// Rows from a window's last to its target (`--horizon`).
    pub horizon: usize,
}

/// Windows made from a table, with the row each one's target (or forecast) is for.
pub struct Windowed {
    /// `[windows, length, columns]`.
    pub x: Tensor,
    /// `[windows, targets]`, when the targets are in the file.
    pub y: Option<Tensor>,
    /// The row of the file each window's target is (or forecast is for).
    pub rows: Vec<usize>,
}

impl Window {
    /// The window a model was trained with, if it was.
    pub fn of(model: &Model) -> Option<Window> {
        let w = model.metadata().get("window")?;
        let get = |k: &str| w.get(k).and_then(serde_json::Value::as_u64).map(|v| v as usize);
        Some(Window { length: get("length")?, horizon: get("horizon")? })
    }

    /// Records it in the model's metadata.
    pub fn record(self, model: &mut Model) {
        model.set_metadata("window", json!({"length": self.length, "horizon": self.horizon}));
    }

    /// Rows from a window's first to its target.
    pub fn lead(self) -> usize {
        self.length - 1 + self.horizon
    }

    /// The windows of a file whose targets are in it, as inputs and targets.
    ///
    /// # Errors
    /// As [`Window::apply`].
    pub fn labelled(self, features: &Tensor, targets: &Tensor) -> Result<(Tensor, Tensor)> {
        let w = self.apply(features, targets, false)?;
        Ok((w.x, w.y.expect("apply keeps the targets unless forecasting")))
    }

    /// The windows over `features` (`[rows, f]`) and `targets` (`[rows, t]`), every column of
    /// both as the window's values. With `forecast`, every window of the file, the targets
    /// left out (the last `horizon` windows' targets lie past its end); else the windows whose
    /// target is in the file, with it.
    ///
    /// # Errors
    /// A file with fewer rows than one window and its target need, naming both.
    pub fn apply(self, features: &Tensor, targets: &Tensor, forecast: bool) -> Result<Windowed> {
        let rows = features.batch();
        let need = if forecast { self.length } else { self.lead() + 1 };
        if rows < need {
            return Err(Error::Empty {
                what: format!(
                    "the windows: --window {} with --horizon {} needs {need} rows, and the file has {rows}",
                    self.length, self.horizon
                ),
            });
        }
        // One series of every column: the features, then the targets.
        let (f, t) = (features.row_len(), targets.row_len());
        let mut series = Vec::with_capacity(rows * (f + t));
        for r in 0..rows {
            series.extend_from_slice(features.row(r));
            series.extend_from_slice(targets.row(r));
        }
        let series = Tensor::from_vec(&[rows, f + t], series)?;
        let shifted = (!forecast).then(|| targets.slice_rows(self.lead(), rows));
        let options = TimeseriesOptions { batch_size: rows, ..Default::default() };
        let ds = timeseries_dataset_from_array(series, shifted, self.length, &options)?;
        let mut batch = Batch::new(&ds.spec());
        ds.fill(0, &mut batch)?;
        let rows_for = ds.window_starts().map(|s| s + self.lead()).collect();
        Ok(Windowed { x: batch.x(0).clone(), y: batch.ys().first().cloned(), rows: rows_for })
    }
}
