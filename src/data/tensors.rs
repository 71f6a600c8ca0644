//! In-memory tensors as a [`Dataset`]: what `fit(x, y)` trains on, as a dataset.

use super::order::{Order, Rows};
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Tensors held in memory, served in batches of `batch_size` in order, or in an order
/// reshuffled every epoch ([`TensorDataset::shuffle`]). With the model's seed, a shuffled
/// `TensorDataset` serves exactly the batches `fit(x, y)` makes (which shuffles by the
/// same `(seed, epoch)` rule), so training on either gives the same History, bit for bit.
#[derive(Debug)]
pub struct TensorDataset {
    xs: Vec<Tensor>,
    ys: Vec<Tensor>,
    weights: Option<Vec<f32>>,
    batch_size: usize,
    order: Order,
}

impl TensorDataset {
    /// Inputs `xs` (one per model input) and targets `ys` (one per output; none to only
    /// predict), `batch_size` samples a batch.
    ///
    /// # Errors
    /// No inputs, no samples, tensors with different numbers of samples, `batch_size` 0.
    pub fn new(xs: Vec<Tensor>, ys: Vec<Tensor>, batch_size: usize) -> Result<TensorDataset> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let n = xs.first().ok_or(Error::Empty { what: "the dataset's inputs".into() })?.batch();
        if n == 0 {
            return Err(Error::Empty { what: "the dataset's x".into() });
        }
        for t in xs.iter().chain(&ys) {
            if t.batch() != n {
                return Err(Error::SampleCount { x: n, y: t.batch() });
            }
        }
        Ok(TensorDataset { xs, ys, weights: None, batch_size, order: Order::all(n) })
    }

    /// One weight per sample (Keras's `(x, y, sample_weight)` batches).
    ///
    /// # Errors
    /// Not one weight per sample; a negative or non-finite weight.
    pub fn weights(mut self, weights: Vec<f32>) -> Result<TensorDataset> {
        super::check_sample_weights(&weights, self.samples(), "dataset")?;
        self.weights = Some(weights);
        Ok(self)
    }

    /// Serves the samples in an order drawn from `seed` and the epoch, anew after every
    /// epoch: the order `fit(x, y)` uses with the model's seed.
    pub fn shuffle(mut self, seed: u64) -> TensorDataset {
        self.order = self.order.shuffle(seed);
        self
    }

    /// Samples in the dataset.
    pub fn samples(&self) -> usize {
        self.xs[0].batch()
    }
}

impl Dataset for TensorDataset {
    fn spec(&self) -> Spec {
        let sample = |t: &Tensor| t.shape()[1..].to_vec();
        Spec {
            inputs: self.xs.iter().map(sample).collect(),
            targets: self.ys.iter().map(sample).collect(),
            weighted: self.weights.is_some(),
            batch_size: self.batch_size.min(self.samples()),
        }
    }

    fn num_batches(&self) -> Option<usize> {
        Some(self.samples().div_ceil(self.batch_size))
    }

    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        let (lo, hi) = super::batch_rows(index, self.batch_size, self.samples())?;
        let rows = self.order.rows(lo, hi);
        batch.set_len(rows.len())?;
        for (i, x) in self.xs.iter().enumerate() {
            gather(x, rows, batch.x_mut(i));
        }
        for (k, y) in self.ys.iter().enumerate() {
            gather(y, rows, batch.y_mut(k));
        }
        if let Some(w) = &self.weights {
            for (dst, r) in batch.weights_mut().iter_mut().zip(rows.iter()) {
                *dst = w[r];
            }
        }
        Ok(())
    }

    fn samples(&self) -> Option<usize> {
        Some(self.xs[0].batch())
    }

    fn on_epoch_begin(&mut self, epoch: u64) {
        self.order.set_epoch(epoch);
    }

    fn on_epoch_end(&mut self) {
        self.order.next_epoch();
    }
}

/// Copies samples `rows` of `src` into `dst`, in order.
fn gather(src: &Tensor, rows: Rows<'_>, dst: &mut [f32]) {
    let n = src.row_len();
    for (d, r) in dst.chunks_exact_mut(n).zip(rows.iter()) {
        d.copy_from_slice(src.row(r));
    }
}
