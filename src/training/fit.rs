//! `fit` and `fit_dataset`: Keras's `model.fit`. Each first *prepares* (every argument and
//! data check, the validation split, the checks across processes, the buffer plan; no output,
//! no update), which [`Model::prepare_fit`] offers on its own; then runs the loop of
//! [`super::session`] over a [`Feed`].

use super::checks::{class_weights_to_samples, target_sample_shape, target_shape};
use super::feed::{DataFeed, Feed, Validation};
use super::session::Run;
use super::split::split_rows;
use super::{Arrays, ClassWeight, FitOptions};
use crate::callbacks::History;
use crate::data::order::Order;
use crate::data::prefetch::with_ring;
use crate::data::{check_sample_weights, Dataset, Spec};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::{FlushDenormals, Tensor};
use std::borrow::Cow;

/// What a `fit` will run, checked and planned before any work (see [`Model::prepare_fit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitPlan {
    /// Samples trained on per epoch (after the validation split; a dataset's count, or its
    /// batches times its batch size when it does not know its samples).
    pub train_samples: usize,
    /// Samples held out by `validation_split` or given as `validation_data`, if any (a
    /// validation dataset's, when it knows them).
    pub validation_samples: Option<usize>,
    /// Samples per training batch.
    pub batch_size: usize,
    /// Weight updates per epoch: `ceil(train_samples / batch_size)`, or `steps_per_epoch`.
    pub steps_per_epoch: usize,
}

/// `fit`'s arrays prepared: resolved in the model's order, checked, split.
struct Prepared<'x, 'o> {
    xs: Vec<&'x Tensor>,
    ys: Vec<&'x Tensor>,
    /// Each training sample's weight: `sample_weight`, or `class_weight` made per sample.
    weights: Option<Cow<'o, [f32]>>,
    /// The rows trained on.
    rows: Vec<usize>,
    /// Where the validation comes from (a dataset is read when the run begins).
    held: Held<'o>,
    batch_size: usize,
    val_batch: usize,
}

/// The validation samples of [`Prepared`].
enum Held<'o> {
    None,
    /// Rows of the training arrays (`validation_split`), with `sample_weight`'s weights.
    Rows(Vec<usize>, Option<&'o [f32]>),
    /// `validation_data`, in the model's order, with its weights.
    Data(Vec<&'o Tensor>, Vec<&'o Tensor>, Option<&'o [f32]>),
    /// A validation dataset of this many samples, if it knows.
    Dataset(Option<usize>),
}

/// `validation_data` in the model's order: inputs, targets, weights.
type ValidationArrays<'o> = (Vec<&'o Tensor>, Vec<&'o Tensor>, Option<&'o [f32]>);

/// `fit_dataset`'s dataset prepared.
struct PreparedDataset<'o> {
    spec: Spec,
    /// `class_weight` as a weight per class.
    class_table: Option<Vec<f32>>,
    /// Batches per pass (`None`: endless), and weight updates per epoch.
    batches: Option<usize>,
    steps: usize,
    train_n: usize,
    /// `validation_data`, resolved and checked, when no validation dataset is given.
    held: Option<ValidationArrays<'o>>,
    val_batch: usize,
    val_samples: Option<usize>,
}

impl Model {
    /// Checks and plans `fit(x, y, options)` without running it: every check `fit` makes
    /// before its first update (arguments, data, weights, the validation split or data, the
    /// agreement of several processes), then the buffers planned for its batches. Returns what
    /// the run will be; nothing is printed or trained, no callback runs. `fit` makes the same
    /// checks again (they are cheap beside training); calling this first lets a program refuse
    /// bad input before it prints or writes anything.
    ///
    /// # Errors
    /// Whatever [`Model::fit`] would refuse before its first update.
    pub fn prepare_fit<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        y: impl Into<Arrays<'x>>,
        options: &FitOptions<'_>,
    ) -> Result<FitPlan> {
        let (x, y) = (x.into(), y.into());
        let p = self.prepare(&x, &y, options)?;
        let validation_samples = match &p.held {
            Held::None => None,
            Held::Rows(rows, _) => Some(rows.len()),
            Held::Data(vxs, _, _) => Some(vxs[0].batch()),
            Held::Dataset(n) => *n,
        };
        let steps_per_epoch = options.steps_per_epoch.unwrap_or(p.rows.len().div_ceil(p.batch_size));
        Ok(FitPlan { train_samples: p.rows.len(), validation_samples, batch_size: p.batch_size, steps_per_epoch })
    }

    /// [`Model::prepare_fit`] for [`Model::fit_dataset`]: the dataset's spec (not its batches,
    /// which are read and checked as training reaches them) and every argument.
    ///
    /// # Errors
    /// Whatever [`Model::fit_dataset`] would refuse before reading a batch.
    pub fn prepare_fit_dataset(&mut self, data: &dyn Dataset, options: &FitOptions<'_>) -> Result<FitPlan> {
        let p = self.prepare_dataset(data, options)?;
        Ok(FitPlan {
            train_samples: p.train_n,
            validation_samples: p.val_samples,
            batch_size: p.spec.batch_size,
            steps_per_epoch: p.steps,
        })
    }

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
    /// callback returns. All data and argument checks happen before the first update (see
    /// [`Model::prepare_fit`]).
    pub fn fit<'x>(
        &mut self,
        x: impl Into<Arrays<'x>>,
        y: impl Into<Arrays<'x>>,
        mut options: FitOptions<'_>,
    ) -> Result<History> {
        let _flush = FlushDenormals::new();
        let (x, y) = (x.into(), y.into());
        let p = self.prepare(&x, &y, &options)?;
        let (xs, ys) = (p.xs.as_slice(), p.ys.as_slice());
        let validation = match p.held {
            Held::None | Held::Dataset(_) => Validation::None,
            Held::Rows(rows, w) => Validation::Rows(xs, ys, rows, w),
            Held::Data(vxs, vys, w) => Validation::Data(vxs, vys, w),
        };
        let train_n = p.rows.len();
        let run = Run::new(&mut options, p.batch_size, p.val_batch, train_n);
        let batches = train_n.div_ceil(p.batch_size);
        let order = Order::all(xs[0].batch()).subset(p.rows);
        let order = if options.shuffle { order.shuffle(self.seed) } else { order };
        let mut feed = Feed::Arrays { xs, ys, weights: p.weights.as_deref(), order, batches };
        match options.validation_dataset.take() {
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
        let p = self.prepare_dataset(data, &options)?;
        let run = Run::new(&mut options, p.spec.batch_size, p.val_batch, p.train_n);
        let (workers, queue) = (options.workers, options.max_queue_size);
        let (batches, class_table, held) = (p.batches, p.class_table, p.held);
        let validation_dataset = options.validation_dataset.take();
        with_ring(data, workers, queue, batches.unwrap_or(p.steps), |ring| {
            let mut feed = Feed::Dataset(DataFeed { ring, batches, next: 0, class_table });
            match (validation_dataset, held) {
                (Some(v), _) => {
                    let vb = v.num_batches().ok_or_else(endless_validation)?;
                    with_ring(v, workers, queue, vb, |vring| self.run(&mut feed, &Validation::Dataset(vring, vb), run))
                }
                (None, Some((vx, vy, vw))) => self.run(&mut feed, &Validation::Data(vx, vy, vw), run),
                (None, None) => self.run(&mut feed, &Validation::None, run),
            }
        })
    }

    /// `fit`'s preparation (see [`Model::prepare_fit`]), in the order its errors come.
    fn prepare<'x, 'o>(
        &mut self,
        x: &Arrays<'x>,
        y: &Arrays<'x>,
        options: &FitOptions<'o>,
    ) -> Result<Prepared<'x, 'o>> {
        // 1. The arguments, the arrays and their weights.
        check_arguments(options)?;
        let (xs, ys) = self.resolve(x, y, "training data")?;
        let (xs, ys) = (xs.to_vec(), ys.to_vec());
        self.check_data(&xs, &ys, "training data")?;
        self.check_trainable()?;
        let n = xs[0].batch();
        if let Some(w) = options.sample_weight {
            check_sample_weights(w, n, "training data")?;
        }
        let weights = match (&options.class_weight, options.sample_weight) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "class_weight",
                    "given with sample_weight",
                    "either class_weight or sample_weight, not both (as Keras)",
                ))
            }
            (Some(ClassWeight::Given(cw)), None) => {
                let table = self.class_table(cw, ys.len())?;
                Some(Cow::Owned(class_weights_to_samples(&table, ys[0])?))
            }
            // Balanced: from the training rows, once step 2 has split them off.
            (Some(ClassWeight::Balanced), None) => None,
            (None, w) => w.map(Cow::Borrowed),
        };
        // 2. The validation samples: a dataset, arrays, or rows held out of the training set.
        let dataset = options.validation_dataset.as_deref();
        let (rows, held) = match &options.validation_data {
            _ if dataset.is_some() => ((0..n).collect(), Held::Dataset(dataset.and_then(|d| d.samples()))),
            Some((vx, vy, vw)) => {
                let (vxs, vys) = self.validation_arrays(vx, vy, *vw)?;
                ((0..n).collect(), Held::Data(vxs, vys, *vw))
            }
            None if options.validation_split != 0.0 => {
                let (train, held) = split_rows(ys[0], options.validation_split, options.split_mode, self.seed)?;
                (train, Held::Rows(held, options.sample_weight))
            }
            None => ((0..n).collect(), Held::None),
        };
        let weights = match options.class_weight {
            Some(ClassWeight::Balanced) => {
                let balanced = super::balanced_class_weights(ys[0], &rows);
                let table = self.class_table(&balanced, ys.len())?;
                Some(Cow::Owned(class_weights_to_samples(&table, ys[0])?))
            }
            _ => weights,
        };
        // 3. The batches, checked across processes, and the buffers planned once for the
        //    larger of the training and validation batches.
        let train_n = rows.len();
        let batch_size = options.batch_size.min(train_n);
        let val_spec = dataset.map(|d| self.check_spec(d, "validation dataset")).transpose()?;
        let val_batch = match &val_spec {
            Some(spec) => spec.batch_size,
            None => options.validation_batch_size.unwrap_or(batch_size),
        };
        let (vx, vy): (&[&Tensor], &[&Tensor]) = match &held {
            Held::Data(vx, vy, _) => (vx, vy),
            _ => (&[], &[]),
        };
        let last = Some(train_n % batch_size).filter(|&r| r > 0);
        self.check_processes(options, options.batch_size, (batch_size, last), &[&xs, &ys, vx, vy], &[])?;
        let target_shapes: Vec<&[usize]> = ys.iter().map(|y| target_shape(y)).collect();
        self.plan(batch_size.max(val_batch), true, Some(&target_shapes));
        let steps = options.steps_per_epoch.unwrap_or(rows.len().div_ceil(batch_size));
        super::noise_scale::check(options, steps)?;
        Ok(Prepared { xs, ys, weights, rows, held, batch_size, val_batch })
    }

    /// `fit_dataset`'s preparation (see [`Model::prepare_fit_dataset`]).
    fn prepare_dataset<'o>(&mut self, data: &dyn Dataset, options: &FitOptions<'o>) -> Result<PreparedDataset<'o>> {
        // 1. The arguments, and Keras's rules for a dataset.
        check_arguments(options)?;
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
        // 2. The dataset's spec against the model, its weights and its batches.
        let spec = self.check_spec(data, "training dataset")?;
        self.check_trainable()?;
        let class_table = match &options.class_weight {
            Some(_) if spec.weighted => {
                return Err(Error::invalid(
                    "class_weight",
                    "given with a dataset whose batches carry sample weights",
                    "either class_weight or sample weights, not both (as Keras)",
                ))
            }
            Some(ClassWeight::Given(cw)) => Some(self.class_table(cw, spec.targets.len())?),
            Some(ClassWeight::Balanced) => {
                return Err(Error::invalid(
                    "class_weight",
                    "balanced, with a dataset",
                    "class weights given as (class, weight) pairs: compute them from the dataset's labels \
                     with training::balanced_class_weights",
                ))
            }
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
        // 3. The validation: a dataset, or arrays.
        let dataset = options.validation_dataset.as_deref();
        let val_spec = dataset.map(|d| self.check_spec(d, "validation dataset")).transpose()?;
        let held = match &options.validation_data {
            Some((vx, vy, vw)) if val_spec.is_none() => {
                let (vxs, vys) = self.validation_arrays(vx, vy, *vw)?;
                Some((vxs, vys, *vw))
            }
            _ => None,
        };
        let (val_batch, val_samples) = match (&val_spec, &held) {
            (Some(v), _) => (v.batch_size, dataset.and_then(|d| d.samples())),
            (None, Some((vxs, _, _))) => {
                (options.validation_batch_size.unwrap_or(spec.batch_size), Some(vxs[0].batch()))
            }
            (None, None) => (0, None),
        };
        // 4. Across processes, then the buffers.
        let target_shapes: Vec<&[usize]> = spec.targets.iter().map(|s| target_sample_shape(s)).collect();
        let first = data.samples().map_or(spec.batch_size, |n| n.min(spec.batch_size));
        let last = data.samples().map(|n| n % spec.batch_size).filter(|&r| r > 0);
        let specs = [Some(&spec), val_spec.as_ref()];
        self.check_processes(options, spec.batch_size, (first, last), &[], &specs)?;
        self.plan(spec.batch_size.max(val_batch), true, Some(&target_shapes));
        super::noise_scale::check(options, steps)?;
        Ok(PreparedDataset { spec, class_table, batches, steps, train_n, held, val_batch, val_samples })
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
