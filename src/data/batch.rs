//! One batch's explicit buffers: a [`Dataset`](super::Dataset) fills them, the training loop
//! copies them into the model's.

use super::Spec;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The buffers one batch is filled into, planned once for a [`Spec`]: per input
/// `[len, sample…]`, per target `[len, sample…]`, and `len` sample weights when the spec has
/// them. Setting the length within the planned batch size allocates nothing.
#[derive(Debug)]
pub struct Batch {
    xs: Vec<Tensor>,
    ys: Vec<Tensor>,
    weights: Vec<f32>,
    weighted: bool,
    capacity: usize,
}

impl Batch {
    /// Buffers for batches of up to `spec.batch_size` samples of `spec`.
    pub fn new(spec: &Spec) -> Batch {
        let capacity = spec.batch_size.max(1);
        Batch {
            xs: spec.inputs.iter().map(|s| Tensor::zeros_batch(capacity, s)).collect(),
            ys: spec.targets.iter().map(|s| Tensor::zeros_batch(capacity, s)).collect(),
            weights: if spec.weighted { vec![0.0; capacity] } else { Vec::new() },
            weighted: spec.weighted,
            capacity,
        }
    }

    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.xs.first().map_or(0, Tensor::batch)
    }

    /// True for a batch of no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most samples the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Makes the batch `len` samples long (the values are then the dataset's to write).
    ///
    /// # Errors
    /// A length of 0 or above the planned batch size.
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        if len == 0 || len > self.capacity {
            return Err(Error::invalid(
                "batch length",
                len,
                format!("1 to {} samples, the dataset's batch_size", self.capacity),
            ));
        }
        for t in self.xs.iter_mut().chain(self.ys.iter_mut()) {
            t.set_batch(len);
        }
        if self.weighted {
            self.weights.resize(len, 0.0);
        }
        Ok(())
    }

    /// Input `i`, `[len, sample…]`.
    pub fn x(&self, i: usize) -> &Tensor {
        &self.xs[i]
    }

    /// Input `i`'s values to write: `len · sample size` of them, row-major.
    pub fn x_mut(&mut self, i: usize) -> &mut [f32] {
        self.xs[i].data_mut()
    }

    /// Every input, in order.
    pub fn xs(&self) -> &[Tensor] {
        &self.xs
    }

    /// Target `k`, `[len, sample…]`.
    pub fn y(&self, k: usize) -> &Tensor {
        &self.ys[k]
    }

    /// Target `k`'s values to write.
    pub fn y_mut(&mut self, k: usize) -> &mut [f32] {
        self.ys[k].data_mut()
    }

    /// Every target, in order.
    pub fn ys(&self) -> &[Tensor] {
        &self.ys
    }

    /// The samples' weights, when the spec has them.
    pub fn weights(&self) -> Option<&[f32]> {
        self.weighted.then_some(&self.weights[..])
    }

    /// The samples' weights to write (empty when the spec has none).
    pub fn weights_mut(&mut self) -> &mut [f32] {
        &mut self.weights
    }
}
