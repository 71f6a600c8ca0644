//! The explicit memory of a model: one activation buffer per layer boundary, one gradient
//! buffer beside each, and the batch's targets, all sized for the largest batch planned.
//!
//! # Shapes (per planned batch size `b`)
//! - `acts[0]`: `[b, input…]` — the batch, gathered from the data set;
//! - `acts[i + 1]`: `[b, output of layer i…]`;
//! - `grads[i]`: like `acts[i]`, ∂loss/∂`acts[i]` (training only; `grads[0]` is never needed
//!   and stays empty);
//! - `target`: `[b, target…]`;
//! - `weights`: `[b]`, the batch's sample weights, when the data has any.
//!
//! Planning for a batch size no larger than the last plan keeps every buffer: the partial last
//! batch of an epoch, validation and prediction reuse the training buffers.

use crate::tensor::Tensor;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    capacity: usize,
    training: bool,
    pub acts: Vec<Tensor>,
    pub grads: Vec<Tensor>,
    pub target: Tensor,
    /// The batch's sample weights (the first `batch` values), when `weighted`.
    pub weights: Vec<f32>,
    pub weighted: bool,
    /// The sample order of the current epoch.
    pub order: Vec<usize>,
}

impl Buffers {
    /// Makes room for `batch` samples of every shape in `shapes` (input first), with gradient
    /// buffers when `training`, and targets of `target_shape` when given.
    pub fn plan(&mut self, shapes: &[Vec<usize>], batch: usize, training: bool, target_shape: Option<&[usize]>) {
        let grow = batch > self.capacity || self.acts.len() != shapes.len() || (training && !self.training);
        if grow {
            let capacity = batch.max(self.capacity);
            self.acts = shapes.iter().map(|s| Tensor::zeros_batch(capacity, s)).collect();
            self.grads = if training || self.training {
                shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| if i == 0 { Tensor::default() } else { Tensor::zeros_batch(capacity, s) })
                    .collect()
            } else {
                Vec::new()
            };
            self.training |= training;
            self.capacity = capacity;
            self.weights = vec![0.0; capacity];
        }
        if let Some(ts) = target_shape {
            let fits =
                self.target.shape()[1..] == *ts && self.target.capacity() >= self.capacity * self.target.row_len();
            if !fits {
                self.target = Tensor::zeros_batch(self.capacity, ts);
            }
        }
    }

    /// Sets every buffer's batch dimension to `batch` (no allocation within the plan).
    pub fn set_batch(&mut self, batch: usize) {
        debug_assert!(batch <= self.capacity, "batch {batch} exceeds the planned {}", self.capacity);
        for t in self.acts.iter_mut().chain(self.grads.iter_mut().skip(1)) {
            t.set_batch(batch);
        }
        self.target.set_batch(batch);
    }

    /// The current batch's sample weights, if the data has any.
    pub fn batch_weights(&self) -> Option<&[f32]> {
        self.weighted.then(|| &self.weights[..self.acts[0].batch()])
    }

    /// Makes samples `rows` of `x`, `y` (and of the weights `w`) the batch.
    pub fn gather(&mut self, x: &Tensor, y: &Tensor, w: Option<&[f32]>, rows: &[usize]) {
        self.set_batch(rows.len());
        self.acts[0].gather_rows(x, rows);
        self.target.gather_rows(y, rows);
        self.weighted = w.is_some();
        if let Some(w) = w {
            for (dst, &r) in self.weights.iter_mut().zip(rows) {
                *dst = w[r];
            }
        }
    }

    /// Sets the batch's weights to `w[lo..hi]` (or none).
    pub fn copy_weights(&mut self, w: Option<&[f32]>, lo: usize, hi: usize) {
        self.weighted = w.is_some();
        if let Some(w) = w {
            self.weights[..hi - lo].copy_from_slice(&w[lo..hi]);
        }
    }

    /// Bytes reserved by all buffers.
    pub fn bytes(&self) -> usize {
        let all = self.acts.iter().chain(&self.grads).chain(std::iter::once(&self.target));
        all.map(|t| t.capacity() * 4).sum::<usize>()
            + self.weights.capacity() * 4
            + self.order.capacity() * std::mem::size_of::<usize>()
    }
}

impl crate::models::Sequential {
    /// Plans the model's buffers and every layer's workspaces for batches of `batch`.
    pub(crate) fn plan(&mut self, batch: usize, training: bool, target_shape: Option<&[usize]>) {
        self.bufs.plan(&self.shapes, batch, training, target_shape);
        let capacity = self.bufs.capacity;
        for layer in &mut self.layers {
            layer.plan(capacity);
        }
    }
}
