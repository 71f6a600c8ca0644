//! `fit` and `fit_dataset`: Keras's `model.fit`, its arguments checked and its data made a
//! [`Feed`] before any work; the loop itself is in [`super::session`].

use super::checks::{class_weights_to_samples, target_sample_shape, target_shape};
use super::feed::{DataFeed, Feed, Validation};
use super::session::Run;
use super::split::split_rows;
use super::{Arrays, FitOptions};
use crate::callbacks::History;
use crate::data::check_sample_weights;
use crate::data::prefetch::with_ring;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::{FlushDenormals, Tensor};

impl Model {
    /// Trains the model, as Keras's `model.fit(x, y, ...)`, and returns the [`History`].
    /// `x` and `y` are a [`Tensor`] each for a model with one input and one output, else one
    /// per input and output, by position or name (see [`Arrays`]).
    ///
    /// Each epoch visits the training samples once, in batches of `batch_size` (the last one
    /// partial), and makes exactly one weight update per batch: `ceil(n / batch_size)` per
    /// epoch. The epoch's `loss` and metrics are means over its samples; validation runs at
    /// the end of an epoch in inference mode. See [`FitOptions`] for the arguments.
    ///
    /// # Errors
    /// Mismatched or empty data, shapes that do not fit the model, non-finite values, labels
    /// out of range for the loss, invalid arguments, a model not compiled, and any error a
    /// callback returns. All data and argument checks happen before the first update.
    pub fn fit<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        y: impl Into<Arrays<'x>>,
        mut options: FitOptions<'_>,
    ) -> Result<History> {
        let _flush = FlushDenormals::new();
        check_arguments(&options)?;
        let (x, y) = (x.into(), y.into());
        let (xs, ys) = self.resolve(&x, &y, "training data")?;
        let (xs, ys) = (xs.as_ref(), ys.as_ref());
        self.check_data(xs, ys, "training data")?;
        let n = xs[0].batch();
        if let Some(w) = options.sample_weight {
            check_sample_weights(w, n, "training data")?;
        }
        let class_weights = match (&options.class_weight, options.sample_weight) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "class_weight",
                    "given with sample_weight",
                    "either class_weight or sample_weight, not both (as Keras)",
                ))
            }
            (Some(cw), None) => {
                let table = self.class_table(cw, ys.len())?;
                Some(class_weights_to_samples(&table, ys[0])?)
            }
            _ => None,
        };
        let train_weights = class_weights.as_deref().or(options.sample_weight);
        let validation_dataset = options.validation_dataset.take();
        let (train_rows, validation) = match options.validation_data.take() {
            _ if validation_dataset.is_some() => ((0..n).collect(), Validation::None),
            Some((vx, vy, vw)) => {
                let (vxs, vys) = self.validation_arrays(&vx, &vy, vw)?;
                ((0..n).collect(), Validation::Data(vxs, vys, vw))
            }
            None if options.validation_split != 0.0 => {
                let (train, held) = split_rows(ys[0], options.validation_split, options.split_mode, self.seed)?;
                (train, Validation::Rows(xs, ys, held, options.sample_weight))
            }
            None => ((0..n).collect(), Validation::None),
        };
        let train_n = train_rows.len();
        let batch_size = options.batch_size.min(train_n);
        let target_shapes: Vec<&[usize]> = ys.iter().map(|y| target_shape(y)).collect();
        let val_spec = validation_dataset.as_deref().map(|d| self.check_spec(d, "validation dataset")).transpose()?;
        let val_batch = match &val_spec {
            Some(spec) => spec.batch_size,
            None => options.validation_batch_size.unwrap_or(batch_size),
        };
        let (vx, vy): (&[&Tensor], &[&Tensor]) = match &validation {
            Validation::Data(vx, vy, _) => (vx, vy),
            _ => (&[], &[]),
        };
        let last = Some(train_n % batch_size).filter(|&r| r > 0);
        self.check_processes(&options, options.batch_size, (batch_size, last), &[xs, ys, vx, vy], &[])?;
        // Plan the buffers for the larger of the training and validation batches, once.
        self.plan(batch_size.max(val_batch), true, Some(&target_shapes));
        self.bufs.order.clear();
        self.bufs.order.extend_from_slice(&train_rows);
        let run = Run::new(&mut options, batch_size, val_batch, train_n);
        let batches = train_n.div_ceil(batch_size);
        let mut feed = Feed::Arrays { xs, ys, weights: train_weights, rows: train_rows, batches };
        match validation_dataset {
            None => self.run(&mut feed, &validation, run),
            Some(v) => {
                let batches = v.num_batches().ok_or_else(endless_validation)?;
                let (workers, queue) = (options.workers, options.max_queue_size);
                with_ring(v, workers, queue, batches, |ring| {
                    self.run(&mut feed, &Validation::Dataset(ring, batches), run)
                })
            }
        }
    }

    /// Trains the model on a [`Dataset`], as Keras's `model.fit(dataset, ...)`: each epoch
    /// takes the dataset's batches in order (their order shuffled by the seed and the epoch
    /// unless `shuffle(false)`, as Keras shuffles a `PyDataset`'s batches), one weight update
    /// each, then calls its `on_epoch_end`. With [`FitOptions::workers`], background threads
    /// fill batches ahead into a ring of [`FitOptions::max_queue_size`] planned buffers; the
    /// History is the same for any number of workers.
    ///
    /// Keras's rules for datasets hold: the dataset sets the batch size (`batch_size` is
    /// refused), as it carries the targets and weights (`sample_weight` is refused;
    /// `class_weight` applies per batch); `validation_split` is refused (give
    /// [`FitOptions::validation_dataset`] or `validation_data`); an endless dataset needs
    /// `steps_per_epoch`.
    ///
    /// # Errors
    /// As [`Model::fit`], for the dataset's spec before any work; then a batch the dataset
    /// cannot fill (a truncated file) or that fails the data checks (a NaN, a label out of
    /// range), as [`Error::Batch`] naming it: training stops cleanly, callbacks'
    /// `on_train_end` runs (a [`BackupAndRestore`](crate::callbacks::BackupAndRestore) keeps
    /// its backup of the last finished epoch).
    pub fn fit_dataset(&mut self, data: &mut dyn Dataset, mut options: FitOptions<'_>) -> Result<History> {
        let _flush = FlushDenormals::new();
        check_arguments(&options)?;
        if options.batch_size_given {
            return Err(Error::invalid(
                "batch_size",
                options.batch_size,
                "no batch_size with a dataset, which makes its own batches (as Keras)",
            ));
        }
        if options.sample_weight.is_some() {
            return Err(Error::invalid(
                "sample_weight",
                "given with a dataset",
                "the weights inside the dataset's batches (as Keras)",
            ));
        }
        if options.validation_split != 0.0 {
            return Err(Error::invalid(
                "validation_split",
                options.validation_split,
                "0 with a dataset: validation_split holds out rows of arrays; give validation_dataset (as Keras)",
            ));
        }
        let spec = self.check_spec(data, "training dataset")?;
        let class_table = match &options.class_weight {
            Some(_) if spec.weighted => {
                return Err(Error::invalid(
                    "class_weight",
                    "given with a dataset whose batches carry sample weights",
                    "either class_weight or sample weights, not both (as Keras)",
                ))
            }
            Some(cw) => Some(self.class_table(cw, spec.targets.len())?),
            None => None,
        };
        let batches = data.num_batches();
        if batches == Some(0) {
            return Err(Error::Empty { what: "the training dataset (0 batches)".into() });
        }
        let steps = match (batches, options.steps_per_epoch) {
            (Some(b), s) => s.unwrap_or(b),
            (None, Some(s)) => s,
            (None, None) => {
                return Err(Error::invalid(
                    "steps_per_epoch",
                    "not given",
                    "a number of steps for an endless dataset (num_batches None)",
                ))
            }
        };
        let train_n = data.samples().unwrap_or(batches.unwrap_or(steps) * spec.batch_size);
        let validation_data = options.validation_data.take();
        let validation_dataset = options.validation_dataset.take();
        let val_spec = validation_dataset.as_deref().map(|d| self.check_spec(d, "validation dataset")).transpose()?;
        let resolved = match &validation_data {
            Some((vx, vy, vw)) if val_spec.is_none() => {
                let (vxs, vys) = self.validation_arrays(vx, vy, *vw)?;
                Some((vxs, vys, *vw))
            }
            _ => None,
        };
        let val_batch = match (&val_spec, &resolved) {
            (Some(v), _) => v.batch_size,
            (None, Some(_)) => options.validation_batch_size.unwrap_or(spec.batch_size),
            (None, None) => 0,
        };
        let target_shapes: Vec<&[usize]> = spec.targets.iter().map(|s| target_sample_shape(s)).collect();
        let first = data.samples().map_or(spec.batch_size, |n| n.min(spec.batch_size));
        let last = data.samples().map(|n| n % spec.batch_size).filter(|&r| r > 0);
        let specs = [Some(&spec), val_spec.as_ref()];
        self.check_processes(&options, spec.batch_size, (first, last), &[], &specs)?;
        self.plan(spec.batch_size.max(val_batch), true, Some(&target_shapes));
        let run = Run::new(&mut options, spec.batch_size, val_batch, train_n);
        let (workers, queue) = (options.workers, options.max_queue_size);
        let pass = batches.unwrap_or(steps);
        with_ring(data, workers, queue, pass, |ring| {
            let mut feed = Feed::Dataset(DataFeed { ring, batches, next: 0, class_table });
            match (validation_dataset, resolved) {
                (Some(v), _) => {
                    let vb = v.num_batches().ok_or_else(endless_validation)?;
                    with_ring(v, workers, queue, vb, |vring| self.run(&mut feed, &Validation::Dataset(vring, vb), run))
                }
                (None, Some((vx, vy, vw))) => self.run(&mut feed, &Validation::Data(vx, vy, vw), run),
                (None, None) => self.run(&mut feed, &Validation::None, run),
            }
        })
    }
}

/// The checks of `fit`'s arguments that need no data.
fn check_arguments(options: &FitOptions<'_>) -> Result<()> {
    if options.batch_size == 0 {
        return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
    }
    if options.validation_freq == 0 {
        return Err(Error::invalid("validation_freq", 0, "a positive number of epochs"));
    }
    if options.verbose > 2 {
        return Err(Error::invalid("verbose", options.verbose, "0, 1 or 2"));
    }
    for (name, v) in [
        ("steps_per_epoch", options.steps_per_epoch),
        ("validation_steps", options.validation_steps),
        ("validation_batch_size", options.validation_batch_size),
    ] {
        if v == Some(0) {
            return Err(Error::invalid(name, 0, "a positive number"));
        }
    }
    if options.max_queue_size == 0 {
        return Err(Error::invalid("max_queue_size", 0, "at least one batch"));
    }
    Ok(())
}

/// A validation dataset must end: each validation is one pass.
fn endless_validation() -> Error {
    Error::invalid("validation_dataset", "an endless dataset", "a dataset with a number of batches")
}
