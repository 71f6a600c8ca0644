//! `evaluate`, `predict` and `train_on_batch`: the same forward pass as training, in inference
//! mode (no dropout) except for `train_on_batch`.

use super::checks::{check_sample_weights, target_shape};
use super::EvaluateOptions;
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
        self.evaluate_with(x, y, EvaluateOptions::new().batch_size(batch_size))
    }

    /// [`Sequential::evaluate`] with Keras's other arguments: `sample_weight` (the loss is
    /// `Σ w · loss / n`, the weighted metrics `Σ w · value / Σ w`) and `steps` (only the first
    /// batches).
    ///
    /// # Errors
    /// As [`Sequential::evaluate`]; weights not one per sample, negative or not finite;
    /// `steps` 0.
    pub fn evaluate_with(&mut self, x: &Tensor, y: &Tensor, options: EvaluateOptions<'_>) -> Result<Logs> {
        let _flush = FlushDenormals::new();
        let EvaluateOptions { batch_size, steps, sample_weight } = options;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        if steps == Some(0) {
            return Err(Error::invalid("steps", 0, "a positive number of batches"));
        }
        self.check_data(x, y, "evaluation data")?;
        if let Some(w) = sample_weight {
            check_sample_weights(w, x.batch(), "evaluation data")?;
        }
        let batch = batch_size.min(x.batch());
        self.plan(batch, false, Some(target_shape(y)));
        let loss = self.evaluate_batches(x, y, sample_weight, None, batch, steps);
        let mut logs = Logs::new();
        self.write_metrics(&mut logs, "", loss);
        Ok(logs)
    }

    /// Mean loss over the samples `rows` of `x`, `y` (all of them when `None`), weighted by
    /// `w`, in batches of `batch_size` (the buffers must already be planned for it), the first
    /// `steps` batches only when given. Metrics are reset and updated.
    pub(crate) fn evaluate_batches(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        w: Option<&[f32]>,
        rows: Option<&[usize]>,
        batch_size: usize,
        steps: Option<usize>,
    ) -> f64 {
        self.reset_metrics();
        let n = rows.map_or(x.batch(), |r| r.len());
        let batches = n.div_ceil(batch_size).min(steps.unwrap_or(usize::MAX));
        let (mut loss, mut seen) = (0.0, 0);
        for b in 0..batches {
            let (lo, hi) = (b * batch_size, ((b + 1) * batch_size).min(n));
            match rows {
                Some(rows) => self.bufs.gather(x, y, w, &rows[lo..hi]),
                None => self.copy_rows(x, Some(y), w, lo, hi),
            }
            loss += self.test_step();
            seen += hi - lo;
        }
        loss / seen.max(1) as f64
    }

    /// The model's outputs for `x`, in inference mode, computed `batch_size` samples at a time.
    ///
    /// # Errors
    /// Empty `x`, samples of the wrong shape, non-finite values, `batch_size` 0.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        self.predict_with(x, EvaluateOptions::new().batch_size(batch_size))
    }

    /// [`Sequential::predict`] with Keras's `steps`: only the first `steps` batches are
    /// predicted, so the result has `min(n, steps · batch_size)` rows. (Sample weights in
    /// `options` are not used.)
    ///
    /// # Errors
    /// As [`Sequential::predict`]; `steps` 0.
    pub fn predict_with(&mut self, x: &Tensor, options: EvaluateOptions<'_>) -> Result<Tensor> {
        let _flush = FlushDenormals::new();
        let batch_size = options.batch_size;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        if options.steps == Some(0) {
            return Err(Error::invalid("steps", 0, "a positive number of batches"));
        }
        self.check_inputs(x, &|| "x (prediction data)".into())?;
        let n = x.batch().min(options.steps.map_or(usize::MAX, |s| s.saturating_mul(batch_size)));
        let batch = batch_size.min(n);
        self.plan(batch, false, None);
        let out_shape = self.output_shape().expect("built").to_vec();
        let mut out = Tensor::zeros_batch(n, &out_shape);
        let row = out.row_len();
        let mut lo = 0;
        while lo < n {
            let hi = (lo + batch).min(n);
            self.copy_rows(x, None, None, lo, hi);
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
        self.copy_rows(x, Some(y), None, 0, n);
        Ok(self.train_step() / n as f64)
    }

    /// Copies rows `lo..hi` of `x` (and `y`, and the weights `w`) into the batch buffers.
    fn copy_rows(&mut self, x: &Tensor, y: Option<&Tensor>, w: Option<&[f32]>, lo: usize, hi: usize) {
        let bufs = &mut self.bufs;
        bufs.set_batch(hi - lo);
        bufs.copy_weights(w, lo, hi);
        let n = x.row_len();
        bufs.acts[0].data_mut().copy_from_slice(&x.data()[lo * n..hi * n]);
        if let Some(y) = y {
            let m = y.row_len();
            bufs.target.data_mut().copy_from_slice(&y.data()[lo * m..hi * m]);
        }
    }
}
