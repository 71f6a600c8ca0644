//! Where `fit`'s batches come from: a [`Feed`] over in-memory arrays or a dataset's ring, and
//! the [`Validation`] source. One loop (see [`super::session`]) takes either.
//!
//! An array feed is a view: each epoch's sample order (the training rows, shuffled by the
//! seed and the pass's key, by the same `Order` the datasets use) and each batch gathered
//! from the arrays straight into the model's buffers, with no copy between. A dataset's batches are filled into the planned ring of
//! [`crate::data::prefetch`] (by background workers when asked) and copied from there.

use super::checks::{class_weights_into, with_refs};
use super::Parallel;
use crate::data::order::{Order, Rows};
use crate::data::prefetch::Ring;
use crate::data::Batch;
use crate::error::Result;
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Where the validation samples come from.
pub(crate) enum Validation<'a, 'r, 'd> {
    None,
    /// These rows of the training arrays (`validation_split`), with the training
    /// `sample_weight` (not `class_weight`, as in Keras).
    Rows(&'a [&'a Tensor], &'a [&'a Tensor], Vec<usize>, Option<&'a [f32]>),
    /// Separate arrays (Keras's `validation_data`), with their own weights.
    Data(Vec<&'a Tensor>, Vec<&'a Tensor>, Option<&'a [f32]>),
    /// A dataset, read through its ring, `.1` batches a pass.
    Dataset(&'r Ring<'d>, usize),
}

/// Where the training batches come from.
pub(crate) enum Feed<'a, 'r, 'd> {
    /// Samples of in-memory arrays (a view of their training rows), gathered in the epoch's
    /// order: the rows in order, or shuffled by the seed and the pass's key (the rule of
    /// [`crate::data`]'s datasets).
    Arrays { xs: &'a [&'a Tensor], ys: &'a [&'a Tensor], weights: Option<&'a [f32]>, order: Order, batches: usize },
    /// Batches of a dataset, taken from its ring.
    Dataset(DataFeed<'r, 'd>),
}

/// A dataset's side of the training loop.
pub(crate) struct DataFeed<'r, 'd> {
    pub ring: &'r Ring<'d>,
    /// Batches per pass; `None` for an endless dataset (then a pass is an epoch's steps, and
    /// batch indices run on).
    pub batches: Option<usize>,
    /// The next batch index of an endless dataset.
    pub next: usize,
    /// Keras's `class_weight`, as a weight per class.
    pub class_table: Option<Vec<f32>>,
}

/// Keras 3's epoch iterator: with `steps_per_epoch`, epochs take turns through one pass over
/// the data; without it, each epoch is one pass.
pub(crate) struct Passes {
    /// Batches per pass.
    pub batches: usize,
    /// Batches taken from the current pass (0: the pass has not begun, its order not drawn).
    pub taken: usize,
    /// The key of the current pass's shuffle.
    pub key: u64,
}

impl Passes {
    /// At the start of `epoch`: with `per_epoch` (no `steps_per_epoch`) every epoch is a pass
    /// keyed by its index, so a resumed run shuffles as an unbroken one; else epochs take
    /// turns through a pass, and a new one begins when the last is done. Returns whether a
    /// pass begins.
    pub fn begin_epoch(&mut self, epoch: usize, per_epoch: bool) -> bool {
        if per_epoch {
            (self.key, self.taken) = (epoch as u64, 0);
        }
        self.taken == 0
    }

    /// After an epoch's batches: whether the pass is done (then the next is keyed one on).
    pub fn end_if_done(&mut self) -> bool {
        let done = self.taken == self.batches;
        if done {
            (self.taken, self.key) = (0, self.key + 1);
        }
        done
    }
}

impl Feed<'_, '_, '_> {
    /// Batches per pass; `None` for an endless dataset.
    pub fn batches(&self) -> Option<usize> {
        match self {
            Feed::Arrays { batches, .. } => Some(*batches),
            Feed::Dataset(d) => d.batches,
        }
    }

    /// Begins a pass: the arrays' samples, or the dataset's batches, in order or shuffled by
    /// the seed and `key`; an endless dataset's next `steps` batches.
    pub fn begin_pass(&mut self, model: &mut Model, shuffle: bool, key: u64, steps: usize) {
        match self {
            Feed::Arrays { order, .. } => order.set_epoch(key),
            Feed::Dataset(d) => {
                let next = d.next;
                // The dataset's own order for this pass (a shuffled subset), from its index.
                d.ring.epoch_begin(key);
                d.ring.begin_pass(|order| match d.batches {
                    Some(b) => {
                        order.extend(0..b);
                        if shuffle {
                            Rng::derive(model.seed, key).shuffle(order);
                        }
                    }
                    None => order.extend(next..next + steps),
                });
                if d.batches.is_none() {
                    d.next += steps;
                }
            }
        }
    }

    /// Makes the batch at `position` of the pass the model's (this process's shard of it, when
    /// several train together: `parallel`); returns the batch's samples.
    pub fn load(
        &mut self,
        model: &mut Model,
        parallel: Option<&mut Parallel>,
        position: usize,
        batch_size: usize,
    ) -> Result<usize> {
        match self {
            Feed::Arrays { xs, ys, weights, order, .. } => {
                let (lo, hi) = (position * batch_size, ((position + 1) * batch_size).min(order.len()));
                let (a, b) = model.shard_of(parallel, hi - lo);
                match order.rows(lo + a, lo + b) {
                    Rows::List(rows) => model.bufs.gather(xs, ys, *weights, rows),
                    Rows::Range(lo, hi) => model.bufs.copy_rows(xs, ys, *weights, lo, hi),
                }
                Ok(hi - lo)
            }
            Feed::Dataset(d) => {
                let table = d.class_table.as_deref();
                d.ring.take(position, |b| model.load_batch(parallel, b, table, "training dataset"))
            }
        }
    }

    /// Ends a pass: the dataset's `on_epoch_end`.
    pub fn end_pass(&mut self) {
        if let Feed::Dataset(d) = self {
            d.ring.epoch_end();
        }
    }
}

impl Model {
    /// Checks a dataset's batch as `fit` checks arrays (finite values, labels the loss takes,
    /// token ids) and makes it the batch in the buffers (this process's shard of it, when
    /// several train together: `parallel`), its weights from `class_table` when given. Returns its number
    /// of samples (the whole batch's).
    pub(crate) fn load_batch(
        &mut self,
        parallel: Option<&mut Parallel>,
        batch: &Batch,
        class_table: Option<&[f32]>,
        what: &str,
    ) -> Result<usize> {
        with_refs(batch.xs(), |xs| with_refs(batch.ys(), |ys| self.check_data(xs, ys, what)))?;
        let n = batch.len();
        let (lo, hi) = self.shard_of(parallel, n);
        self.bufs.copy_rows(batch.xs(), batch.ys(), batch.weights(), lo, hi);
        if let Some(table) = class_table {
            let bufs = &mut self.bufs;
            class_weights_into(table, &bufs.targets[0], &mut bufs.weights[..hi - lo])?;
            bufs.weighted = true;
        }
        Ok(n)
    }

    /// Checks a dataset's batch's inputs as `predict` checks arrays and makes them the batch
    /// in the buffers (its targets, if any, are not used). Returns its number of samples.
    pub(crate) fn load_prediction_batch(&mut self, batch: &Batch) -> Result<usize> {
        with_refs(batch.xs(), |xs| self.check_inputs(xs, &|i, _| format!("x[{i}] (prediction dataset)")))?;
        self.bufs.load_inputs(batch);
        Ok(batch.len())
    }
}
