//! `evaluate`, `predict` and `train_on_batch`: the same forward pass as training, in inference
//! mode (no dropout) except for `train_on_batch`.

use super::checks::{target_sample_shape, target_shape};
use super::feed::Validation;
use super::{Arrays, EvaluateOptions, Parallel};
use crate::callbacks::Logs;
use crate::data::check_sample_weights;
use crate::data::prefetch::{with_ring, Ring};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::{FlushDenormals, Tensor};

impl Model {
    /// The loss and metrics on `x`, `y` in inference mode, as Keras's
    /// `evaluate(..., return_dict=True)`: `{metrics…, "loss"}` (and each output's loss with
    /// several), means over all samples. `batch_size` only bounds memory; it does not change
    /// the result beyond rounding.
    ///
    /// # Errors
    /// As [`Model::fit`]'s data checks; `batch_size` 0.
    pub fn evaluate<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        y: impl Into<Arrays<'x>>,
        batch_size: usize,
    ) -> Result<Logs> {
        self.evaluate_with(x, y, EvaluateOptions::new().batch_size(batch_size))
    }

    /// [`Model::evaluate`] with Keras's other arguments: `sample_weight` (the loss is
    /// `Σ w · loss / n`, the weighted metrics `Σ w · value / Σ w`) and `steps` (only the first
    /// batches).
    ///
    /// # Errors
    /// As [`Model::evaluate`]; weights not one per sample, negative or not finite;
    /// `steps` 0.
    pub fn evaluate_with<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        y: impl Into<Arrays<'x>>,
        options: EvaluateOptions<'_>,
    ) -> Result<Logs> {
        let _flush = FlushDenormals::new();
        let EvaluateOptions { batch_size, steps, sample_weight, .. } = options;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        if steps == Some(0) {
            return Err(Error::invalid("steps", 0, "a positive number of batches"));
        }
        let (x, y) = (x.into(), y.into());
        let (xs, ys) = self.resolve(&x, &y, "evaluation data")?;
        let (xs, ys) = (xs.as_ref(), ys.as_ref());
        self.check_data(xs, ys, "evaluation data")?;
        if let Some(w) = sample_weight {
            check_sample_weights(w, xs[0].batch(), "evaluation data")?;
        }
        let batch = batch_size.min(xs[0].batch());
        let target_shapes: Vec<&[usize]> = ys.iter().map(|y| target_shape(y)).collect();
        self.plan(batch, false, Some(&target_shapes));
        let loss = self.evaluate_batches(None, xs, ys, sample_weight, None, batch, steps);
        let mut logs = Logs::new();
        self.write_metrics(&mut logs, "", loss);
        Ok(logs)
    }

    /// Mean loss over the samples `rows` of `xs`, `ys` (all of them when `None`), weighted by
    /// `w`, in batches of `batch_size` (the buffers must already be planned for it), the first
    /// `steps` batches only when given. Metrics are reset and updated. Within a `fit` over
    /// several processes, each computes its shard of every batch and the sums are reduced.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate_batches(
        &mut self,
        mut parallel: Option<&mut Parallel>,
        xs: &[&Tensor],
        ys: &[&Tensor],
        w: Option<&[f32]>,
        rows: Option<&[usize]>,
        batch_size: usize,
        steps: Option<usize>,
    ) -> f64 {
        self.reset_metrics();
        let n = rows.map_or(xs[0].batch(), |r| r.len());
        let batches = n.div_ceil(batch_size).min(steps.unwrap_or(usize::MAX));
        let (mut loss, mut seen) = (0.0, 0);
        for b in 0..batches {
            let (lo, hi) = (b * batch_size, ((b + 1) * batch_size).min(n));
            // This process's shard of the batch, when several evaluate together.
            let (a, z) = self.shard_of(parallel.as_deref_mut(), hi - lo);
            let (lo, hi) = (lo + a, lo + z);
            match rows {
                Some(rows) => self.bufs.gather(xs, ys, w, &rows[lo..hi]),
                None => self.bufs.copy_rows(xs, ys, w, lo, hi),
            }
            if hi > lo {
                loss += self.test_step();
            }
            seen += hi - lo;
        }
        self.reduce_evaluation(parallel, loss, seen)
    }

    /// The validation of an epoch of `fit`, through the same passes as `evaluate`: its mean
    /// loss, the metrics updated (in batches of `batch_size`, the first `steps` when given).
    ///
    /// # Errors
    /// A validation dataset's batch that cannot be read or fails the data checks.
    pub(crate) fn validate(
        &mut self,
        parallel: Option<&mut Parallel>,
        validation: &Validation<'_, '_, '_>,
        batch_size: usize,
        steps: Option<usize>,
    ) -> Result<f64> {
        match validation {
            Validation::None => Ok(0.0),
            Validation::Rows(xs, ys, rows, w) => {
                Ok(self.evaluate_batches(parallel, xs, ys, *w, Some(rows), batch_size, steps))
            }
            Validation::Data(xs, ys, w) => Ok(self.evaluate_batches(parallel, xs, ys, *w, None, batch_size, steps)),
            Validation::Dataset(ring, batches) => self.evaluate_ring(parallel, ring, *batches, steps),
        }
    }

    /// The running loss and metric means written into `logs` (metrics first, as Keras 3).
    pub(crate) fn write_metrics(&self, logs: &mut Logs, prefix: &str, loss: f64) {
        let c = self.compiled.as_ref().expect("compiled");
        for (m, key) in c.metrics.iter().zip(&c.keys) {
            logs.set_prefixed(prefix, key, m.result());
        }
        logs.set_prefixed(prefix, "loss", loss);
        for (key, sum) in c.loss_keys.iter().zip(&c.output_sums) {
            logs.set_prefixed(prefix, key, sum / c.seen.max(1) as f64);
        }
    }
    /// Mean loss over a pass of a dataset's ring (its first `steps` batches when given),
    /// then the dataset's `on_epoch_end`. Metrics are reset and updated.
    pub(crate) fn evaluate_ring(
        &mut self,
        mut parallel: Option<&mut Parallel>,
        ring: &Ring<'_>,
        batches: usize,
        steps: Option<usize>,
    ) -> Result<f64> {
        self.reset_metrics();
        let batches = batches.min(steps.unwrap_or(usize::MAX));
        ring.begin_pass(|order| order.extend(0..batches));
        let (mut loss, mut seen) = (0.0, 0);
        for position in 0..batches {
            ring.take(position, |b| self.load_batch(parallel.as_deref_mut(), b, None, "validation dataset"))?;
            if self.bufs.batch() > 0 {
                loss += self.test_step();
            }
            seen += self.bufs.batch();
        }
        ring.epoch_end();
        Ok(self.reduce_evaluation(parallel, loss, seen))
    }

    /// Forgets the compiled metrics' running state and the outputs' running losses.
    pub(crate) fn reset_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            c.metrics.iter_mut().for_each(|m| m.reset());
            c.output_sums.iter_mut().for_each(|s| *s = 0.0);
            c.seen = 0;
        }
    }

    /// The loss and metrics on a [`Dataset`], as Keras's `evaluate(dataset)`: every batch
    /// (the first `steps` with [`EvaluateOptions::steps`]; an endless dataset needs it), in
    /// order, read by `workers` as in [`Model::fit_dataset`]; then the dataset's
    /// `on_epoch_end`. The dataset sets the batch size and carries any weights.
    ///
    /// # Errors
    /// As [`Model::evaluate`] for the dataset's spec; `sample_weight` given (the dataset's
    /// batches carry weights, as Keras); a batch the dataset cannot fill or that fails the
    /// data checks, as [`Error::Batch`].
    pub fn evaluate_dataset(&mut self, data: &mut dyn Dataset, options: EvaluateOptions<'_>) -> Result<Logs> {
        let _flush = FlushDenormals::new();
        check_dataset_options(&options)?;
        let spec = self.check_spec(data, "evaluation dataset")?;
        let batches = dataset_batches(data.num_batches(), options.steps)?;
        let target_shapes: Vec<&[usize]> = spec.targets.iter().map(|s| target_sample_shape(s)).collect();
        self.plan(spec.batch_size, false, Some(&target_shapes));
        let loss = with_ring(data, options.workers, options.max_queue_size, batches, |ring| {
            self.evaluate_ring(None, ring, batches, None)
        })?;
        let mut logs = Logs::new();
        self.write_metrics(&mut logs, "", loss);
        Ok(logs)
    }

    /// Every output of the model for a [`Dataset`]'s inputs, in order (its targets, if any,
    /// are not used), as Keras's `predict(dataset)`: one tensor per output, a row per sample.
    ///
    /// # Errors
    /// As [`Model::evaluate_dataset`].
    pub fn predict_dataset(&mut self, data: &mut dyn Dataset, options: EvaluateOptions<'_>) -> Result<Vec<Tensor>> {
        let _flush = FlushDenormals::new();
        check_dataset_options(&options)?;
        let spec = data.spec();
        self.check_input_spec(&spec, "prediction dataset")?;
        let batches = dataset_batches(data.num_batches(), options.steps)?;
        self.plan(spec.batch_size, false, None);
        let shapes: Vec<Vec<usize>> = self.output_shapes().iter().map(|s| s.to_vec()).collect();
        let mut rows: Vec<Vec<f32>> = vec![Vec::new(); shapes.len()];
        let total = with_ring(data, options.workers, options.max_queue_size, batches, |ring| {
            ring.begin_pass(|order| order.extend(0..batches));
            let mut total = 0;
            for position in 0..batches {
                total += ring.take(position, |b| self.load_prediction_batch(b))?;
                self.forward_pass(false);
                for (out, &t) in rows.iter_mut().zip(&self.graph.outputs) {
                    out.extend_from_slice(self.bufs.act(t).data());
                }
            }
            ring.epoch_end();
            Ok::<_, Error>(total)
        })?;
        shapes
            .iter()
            .zip(rows)
            .map(|(s, data)| {
                let mut shape = vec![total];
                shape.extend_from_slice(s);
                Tensor::from_vec(&shape, data)
            })
            .collect()
    }

    /// The model's output for `x`, in inference mode, computed `batch_size` samples at a time
    /// (a model with one output; see [`Model::predict_outputs`] for several).
    ///
    /// # Errors
    /// Empty `x`, samples of the wrong shape, non-finite values, `batch_size` 0; a model with
    /// several outputs.
    pub fn predict<'x>(&mut self, x: impl Into<Arrays<'x>>, batch_size: usize) -> Result<Tensor> {
        self.predict_with(x, EvaluateOptions::new().batch_size(batch_size))
    }

    /// [`Model::predict`] with Keras's `steps`: only the first `steps` batches are
    /// predicted, so the result has `min(n, steps · batch_size)` rows. (Sample weights in
    /// `options` are not used.)
    ///
    /// # Errors
    /// As [`Model::predict`]; `steps` 0.
    pub fn predict_with<'x>(&mut self, x: impl Into<Arrays<'x>>, options: EvaluateOptions<'_>) -> Result<Tensor> {
        if self.graph.outputs.len() > 1 {
            return Err(Error::State(format!(
                "predict returns one tensor, and this model has {} outputs ({}): use predict_outputs",
                self.graph.outputs.len(),
                self.output_names().join(", ")
            )));
        }
        Ok(self.predict_outputs_with(x, options)?.remove(0))
    }

    /// Every output of the model for `x`, in output order (Keras's `predict` on a model with
    /// several outputs).
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_outputs<'x>(&mut self, x: impl Into<Arrays<'x>>, batch_size: usize) -> Result<Vec<Tensor>> {
        self.predict_outputs_with(x, EvaluateOptions::new().batch_size(batch_size))
    }

    /// [`Model::predict_outputs`] with Keras's `steps`.
    ///
    /// # Errors
    /// As [`Model::predict_with`].
    pub fn predict_outputs_with<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        options: EvaluateOptions<'_>,
    ) -> Result<Vec<Tensor>> {
        let _flush = FlushDenormals::new();
        let batch_size = options.batch_size;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        if options.steps == Some(0) {
            return Err(Error::invalid("steps", 0, "a positive number of batches"));
        }
        let x = x.into();
        let xs = x.resolve(self.graph.inputs, &|| self.input_names.clone(), &|| "x (prediction data)".into())?;
        let xs = xs.as_ref();
        let several = xs.len() > 1;
        self.check_inputs(xs, &|i, input| {
            if several {
                format!("x[{i}] (prediction data, input {input})")
            } else {
                "x (prediction data)".into()
            }
        })?;
        let n = xs[0].batch().min(options.steps.map_or(usize::MAX, |s| s.saturating_mul(batch_size)));
        let batch = batch_size.min(n);
        self.plan(batch, false, None);
        let mut outs: Vec<Tensor> = self.output_shapes().iter().map(|s| Tensor::zeros_batch(n, s)).collect();
        let mut lo = 0;
        while lo < n {
            let hi = (lo + batch).min(n);
            self.bufs.copy_rows::<_, &Tensor>(xs, &[], None, lo, hi);
            self.forward_pass(false);
            for (out, &t) in outs.iter_mut().zip(&self.graph.outputs) {
                let row = out.row_len();
                out.data_mut()[lo * row..hi * row].copy_from_slice(self.bufs.act(t).data());
            }
            lo = hi;
        }
        Ok(outs)
    }

    /// One evaluation step on exactly this batch, as Keras's `test_on_batch(x, y,
    /// return_dict=True)`: the metrics reset, then the batch's loss and metrics in inference
    /// mode, no weight changed. (Keras without `return_dict` gives the same values as a list.)
    ///
    /// ```
    /// use minibatch::{layers::Dense, Sequential, Tensor};
    /// let mut model = Sequential::new().input_shape(&[2]).add(Dense::new(1));
    /// model.compile("sgd", "mse", &["mae"]).unwrap();
    /// let (x, y) = (Tensor::from_vec(&[3, 2], vec![1.0; 6]).unwrap(), Tensor::zeros(&[3, 1]));
    /// let logs = model.test_on_batch(&x, &y).unwrap();
    /// assert!(logs.get("loss").is_some() && logs.get("mae").is_some());
    /// ```
    ///
    /// # Errors
    /// As [`Model::evaluate`]'s data checks (an empty batch among them).
    pub fn test_on_batch<'x>(&mut self, x: impl Into<Arrays<'x>>, y: impl Into<Arrays<'x>>) -> Result<Logs> {
        let (x, y) = (x.into(), y.into());
        let n = x.samples().max(1);
        self.evaluate_with(x, y, EvaluateOptions::new().batch_size(n))
    }

    /// The model's outputs for exactly this batch in inference mode, as Keras's
    /// `predict_on_batch` (a model with one output; [`Model::predict_outputs`] for several).
    ///
    /// # Errors
    /// As [`Model::predict`]'s data checks (an empty batch among them).
    pub fn predict_on_batch<'x>(&mut self, x: impl Into<Arrays<'x>>) -> Result<Tensor> {
        let x = x.into();
        let n = x.samples().max(1);
        self.predict(x, n)
    }

    /// One weight update on exactly this batch, as Keras's `train_on_batch`; returns the
    /// batch's mean loss. After the first call with a given batch size, a call allocates
    /// nothing.
    ///
    /// # Errors
    /// As [`Model::fit`]'s data checks.
    pub fn train_on_batch<'x>(&mut self, x: impl Into<Arrays<'x>>, y: impl Into<Arrays<'x>>) -> Result<f64> {
        let _flush = FlushDenormals::new();
        let (x, y) = (x.into(), y.into());
        let (xs, ys) = self.resolve(&x, &y, "training batch")?;
        let (xs, ys) = (xs.as_ref(), ys.as_ref());
        self.check_data(xs, ys, "training batch")?;
        self.check_trainable()?;
        let n = xs[0].batch();
        match ys {
            [y] => self.plan(n, true, Some(&[target_shape(y)])),
            _ => {
                let target_shapes: Vec<&[usize]> = ys.iter().map(|y| target_shape(y)).collect();
                self.plan(n, true, Some(&target_shapes));
            }
        }
        self.reset_metrics();
        self.bufs.copy_rows(xs, ys, None, 0, n);
        Ok(self.train_step(None) / n as f64)
    }
}

/// The checks of a dataset's evaluation or prediction arguments.
fn check_dataset_options(options: &EvaluateOptions<'_>) -> Result<()> {
    if options.steps == Some(0) {
        return Err(Error::invalid("steps", 0, "a positive number of batches"));
    }
    if options.sample_weight.is_some() {
        return Err(Error::invalid(
            "sample_weight",
            "given with a dataset",
            "the weights inside the dataset's batches (as Keras)",
        ));
    }
    if options.max_queue_size == 0 {
        return Err(Error::invalid("max_queue_size", 0, "at least one batch"));
    }
    Ok(())
}

/// The batches to read: all, or the first `steps`; an endless dataset needs `steps`.
fn dataset_batches(batches: Option<usize>, steps: Option<usize>) -> Result<usize> {
    match (batches, steps) {
        (Some(0), _) => Err(Error::Empty { what: "the dataset (0 batches)".into() }),
        (Some(b), s) => Ok(b.min(s.unwrap_or(usize::MAX))),
        (None, Some(s)) => Ok(s),
        (None, None) => Err(Error::invalid("steps", "not given", "a number of batches for an endless dataset")),
    }
}
