//! `evaluate`, `predict` and `train_on_batch`: the same forward pass as training, in inference
//! mode (no dropout) except for `train_on_batch`.

use super::checks::target_shape;
use crate::callbacks::Logs;
use crate::error::{Error, Result};
use crate::models::Sequential;
use crate::tensor::{FlushDenormals, Tensor};

impl Sequential {
    /// The loss and metrics on `x`, `y` in inference mode, as Keras's
    /// `evaluate(..., return_dict=True)`: `{metrics…, "loss"}`, means over all samples.
    /// `batch_size` only bounds memory; it does not change the result beyond rounding.
    ///
    /// # Errors
    /// As [`Sequential::fit`]'s data checks; `batch_size` 0.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Logs> {
        let _flush = FlushDenormals::new();
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        self.check_data(x, y, "evaluation data")?;
        let batch = batch_size.min(x.batch());
        self.plan(batch, false, Some(target_shape(y)));
        let loss = self.evaluate_rows(x, y, 0, x.batch(), batch);
        let mut logs = Logs::new();
        self.write_metrics(&mut logs, "", loss);
        Ok(logs)
    }

    /// Mean loss over rows `start..end` (metrics reset and updated), in batches of
    /// `batch_size`, which the buffers must already be planned for.
    pub(crate) fn evaluate_rows(&mut self, x: &Tensor, y: &Tensor, start: usize, end: usize, batch_size: usize) -> f64 {
        self.reset_metrics();
        let mut loss = 0.0;
        let mut lo = start;
        while lo < end {
            let hi = (lo + batch_size).min(end);
            self.copy_rows(x, Some(y), lo, hi);
            loss += self.test_step();
            lo = hi;
        }
        loss / (end - start) as f64
    }

    /// Mean loss over the samples `rows` of `x`, `y` (metrics reset and updated), gathered in
    /// batches of `batch_size`, which the buffers must already be planned for.
    pub(crate) fn evaluate_selected(&mut self, x: &Tensor, y: &Tensor, rows: &[usize], batch_size: usize) -> f64 {
        self.reset_metrics();
        let mut loss = 0.0;
        for chunk in rows.chunks(batch_size) {
            let bufs = &mut self.bufs;
            bufs.set_batch(chunk.len());
            bufs.acts[0].gather_rows(x, chunk);
            bufs.target.gather_rows(y, chunk);
            loss += self.test_step();
        }
        loss / rows.len() as f64
    }

    /// The model's outputs for `x`, in inference mode, computed `batch_size` samples at a time.
    ///
    /// # Errors
    /// Empty `x`, samples of the wrong shape, non-finite values, `batch_size` 0.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        let _flush = FlushDenormals::new();
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        self.check_inputs(x, &|| "x (prediction data)".into())?;
        let n = x.batch();
        let batch = batch_size.min(n);
        self.plan(batch, false, None);
        let out_shape = self.output_shape().expect("built").to_vec();
        let mut out = Tensor::zeros_batch(n, &out_shape);
        let row = out.row_len();
        let mut lo = 0;
        while lo < n {
            let hi = (lo + batch).min(n);
            self.copy_rows(x, None, lo, hi);
            self.forward_pass(false);
            let last = &self.bufs.acts[self.layers.len()];
            out.data_mut()[lo * row..hi * row].copy_from_slice(last.data());
            lo = hi;
        }
        Ok(out)
    }

    /// One weight update on exactly this batch, as Keras's `train_on_batch`; returns the
    /// batch's mean loss. After the first call with a given batch size, a call allocates
    /// nothing.
    ///
    /// # Errors
    /// As [`Sequential::fit`]'s data checks.
    pub fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<f64> {
        let _flush = FlushDenormals::new();
        self.check_data(x, y, "training batch")?;
        let n = x.batch();
        self.plan(n, true, Some(target_shape(y)));
        self.reset_metrics();
        self.copy_rows(x, Some(y), 0, n);
        Ok(self.train_step() / n as f64)
    }

    /// Copies rows `lo..hi` of `x` (and `y`) into the input (and target) buffers.
    fn copy_rows(&mut self, x: &Tensor, y: Option<&Tensor>, lo: usize, hi: usize) {
        let bufs = &mut self.bufs;
        bufs.set_batch(hi - lo);
        let n = x.row_len();
        bufs.acts[0].data_mut().copy_from_slice(&x.data()[lo * n..hi * n]);
        if let Some(y) = y {
            let m = y.row_len();
            bufs.target.data_mut().copy_from_slice(&y.data()[lo * m..hi * m]);
        }
    }
}
