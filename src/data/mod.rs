//! Datasets: data that [`Model::fit`](crate::Model::fit_dataset), `evaluate` and `predict`
//! read a batch at a time, as Keras reads a `PyDataset`, so that memory follows the batch and
//! not the data set.
//!
//! - [`Dataset`]: the contract: a [`Spec`] (what a batch holds), a number of batches, and a
//!   way to fill batch `i` into a [`Batch`] the caller owns (so a training step stays
//!   allocation-free), with an epoch-end hook for reshuffling;
//! - [`Batch`]: the explicit buffers one batch is filled into;
//! - [`TensorDataset`]: in-memory tensors as a dataset (what `fit(x, y)` trains on);
//! - [`NpyDataset`]: NPY files read (`pread`) and converted to f32 a batch at a time, so a file
//!   larger than memory trains with memory bounded by the batch;
//! - [`CsvDataset`]: a CSV streamed by row offsets (one indexing pass), parsed a batch at a
//!   time;
//! - [`ImageFolderDataset`]: Keras's `image_dataset_from_directory`, images decoded a batch at
//!   a time (`validation_split` with `subset` and `seed`);
//! - [`text_dataset_from_directory`]: Keras's class folders of `.txt` files, read into texts
//!   and labels for [`crate::layers::TextVectorization`] (the same validation files as Keras
//!   for a seed: [`TextFolder`]);
//! - [`timeseries_dataset_from_array`]: Keras's sliding windows over a series
//!   ([`TimeseriesDataset`]), gathered a batch at a time from the one series;
//! - [`audit`]: a look at the data before `fit` (duplicates across splits, constant features,
//!   scales, class balance);
//! - `prefetch`: background workers filling a bounded ring of planned batches ahead of
//!   the training step (Keras's `workers` and `max_queue_size`), in the same order for any
//!   number of workers.
//!
//! ```
//! use minibatch::data::{Dataset, TensorDataset};
//! use minibatch::layers::Dense;
//! use minibatch::{FitOptions, Sequential, Tensor};
//! let x = Tensor::from_vec(&[64, 2], (0..128).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
//! let y = Tensor::from_vec(&[64], (0..64).map(|i| (i % 2) as f32).collect()).unwrap();
//! let mut data = TensorDataset::new(vec![x], vec![y], 16).unwrap().shuffle(7);
//! assert_eq!(data.num_batches(), Some(4));
//! let mut model = Sequential::new().add(Dense::new(2).activation("softmax"));
//! model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
//! let history = model.fit_dataset(&mut data, FitOptions::new().epochs(2).verbose(0).workers(2)).unwrap();
//! assert_eq!(history.weight_updates, 8);
//! ```

mod adapt;
pub mod audit;
mod batch;
mod csv;
mod images;
mod npy;
mod numpy_order;
pub(crate) mod order;
pub(crate) mod prefetch;
pub(crate) mod source;
pub(crate) mod table;
mod tensors;
mod text_directory;
mod timeseries;

pub use self::csv::CsvDataset;
pub use batch::Batch;
pub use images::{ImageFolderDataset, Subset};
pub use npy::NpyDataset;
pub use source::Source;
pub use tensors::TensorDataset;
pub use text_directory::{read_text, text_dataset_from_directory, TextDirectoryOptions, TextFolder};
pub use timeseries::{timeseries_dataset_from_array, TimeseriesDataset, TimeseriesOptions};

use crate::error::{Error, Result};

/// Rows `lo..hi` of batch `index` of `samples` rows in batches of `batch_size`: what the
/// datasets here serve as batch `index`.
///
/// # Errors
/// A batch index past the last batch.
pub(crate) fn batch_rows(index: usize, batch_size: usize, samples: usize) -> Result<(usize, usize)> {
    let lo = index.saturating_mul(batch_size);
    if lo >= samples {
        return Err(Error::invalid("batch index", index, format!("below {}", samples.div_ceil(batch_size))));
    }
    Ok((lo, (lo + batch_size).min(samples)))
}

/// What each batch of a [`Dataset`] holds: one sample's shape per model input and per target
/// (`[]` for one label per sample), whether batches carry sample weights, and the most
/// samples a batch holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// One sample's shape per model input, in the model's input order.
    pub inputs: Vec<Vec<usize>>,
    /// One sample's shape per target, in the model's output order (none for a dataset that
    /// only predicts).
    pub targets: Vec<Vec<usize>>,
    /// Whether each batch carries one weight per sample (Keras's `(x, y, sample_weight)`).
    pub weighted: bool,
    /// The most samples a batch holds: the buffers are planned for it.
    pub batch_size: usize,
}

/// Data read a batch at a time, as Keras's `PyDataset`: `fit`, `evaluate` and `predict`
/// ([`Model::fit_dataset`](crate::Model::fit_dataset) and its siblings) ask for batches by
/// index and fill them into buffers they own.
///
/// A batch's shapes are the spec's, read once when training begins: the buffers are planned
/// for them, so a dataset cannot change them from one batch to the next (only the number of
/// samples, up to `batch_size`, through [`Batch::set_len`]).
///
/// An implementation must fill batch `i` the same way whenever it is asked, between two
/// calls of [`Dataset::on_epoch_end`]: background workers may ask for batches in any order
/// and from several threads at once (so `fill` takes `&self`), and the training loop then
/// takes them in order. That is what makes training with any number of workers the same,
/// bit for bit.
pub trait Dataset: Send + Sync {
    /// What a batch holds.
    fn spec(&self) -> Spec;

    /// Batches per epoch (Keras's `num_batches`); `None` for an endless dataset, which then
    /// needs `steps_per_epoch`.
    fn num_batches(&self) -> Option<usize>;

    /// Samples per pass, when known (the History and the progress bar report it; otherwise
    /// `num_batches · batch_size` stands for it).
    fn samples(&self) -> Option<usize> {
        None
    }

    /// Fills batch `index` into `batch`: sets its length with [`Batch::set_len`] (at most the
    /// spec's `batch_size`), then writes every input, target and weight.
    ///
    /// # Errors
    /// Whatever goes wrong reading the source: a truncated file, an unreadable image, a value
    /// that does not convert. Training stops cleanly with the error.
    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()>;

    /// Called before each pass over the batches with the pass's index: 0, 1, 2, … from the
    /// first epoch, and after a resumed run's restore, the index the interrupted run had
    /// reached (Keras's `on_epoch_begin`). A dataset whose order changes from pass to pass
    /// derives it from this index (with its seed), never from a count of its own, so a
    /// resumed run reads the same batches as an unbroken one. Nothing is being filled while
    /// it runs.
    fn on_epoch_begin(&mut self, _epoch: u64) {}

    /// Called after each pass over the batches (Keras's `on_epoch_end`): a dataset used
    /// without `fit` reshuffles here. Nothing is being filled while it runs.
    fn on_epoch_end(&mut self) {}
}

/// Checks sample weights: one per sample, finite, non-negative (a dataset's, and the arrays'
/// `fit` and `evaluate` are given).
pub(crate) fn check_sample_weights(w: &[f32], n: usize, what: &str) -> Result<()> {
    if w.len() != n {
        return Err(Error::Shape {
            what: format!("sample_weight ({what})"),
            expected: format!("{n} weights, one per sample"),
            received: format!("{} weights", w.len()),
        });
    }
    if let Some((index, &value)) = w.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite { what: format!("sample_weight ({what})"), index, value });
    }
    if let Some((i, v)) = w.iter().enumerate().find(|(_, &v)| v < 0.0) {
        return Err(Error::invalid("sample_weight", v, format!("non-negative weights (sample {i} of the {what})")));
    }
    Ok(())
}
