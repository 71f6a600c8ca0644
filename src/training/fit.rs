//! `fit`: Keras's training loop.

use super::checks::{
    class_weight_table, class_weights_into, class_weights_to_samples, target_sample_shape, target_shape, with_refs,
};
use super::split::split_rows;
use super::Parallel;
use super::{Arrays, FitOptions};
use crate::callbacks::{Callback, Control, FitParams, History, Logs, ProgbarLogger};
use crate::data::check_sample_weights;
use crate::data::prefetch::{with_ring, Ring};
use crate::data::{Batch, Dataset, Spec};
use crate::distributed;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::{FlushDenormals, Tensor};

/// Where the validation samples come from.
enum Validation<'a, 'r, 'd> {
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
enum Feed<'a, 'r, 'd> {
    /// Samples of in-memory arrays, gathered in the epoch's order.
    Arrays { xs: &'a [&'a Tensor], ys: &'a [&'a Tensor], weights: Option<&'a [f32]>, rows: Vec<usize>, batches: usize },
    /// Batches of a dataset, taken from its ring.
    Dataset(DataFeed<'r, 'd>),
}

/// A dataset's side of the training loop.
struct DataFeed<'r, 'd> {
    ring: &'r Ring<'d>,
    /// Batches per pass; `None` for an endless dataset (then a pass is an epoch's steps, and
    /// batch indices run on).
    batches: Option<usize>,
    /// The next batch index of an endless dataset.
    next: usize,
    /// Keras's `class_weight`, as a weight per class.
    class_table: Option<Vec<f32>>,
}

/// Keras 3's epoch iterator: with `steps_per_epoch`, epochs take turns through one pass over
/// the data; without it, each epoch is one pass.
struct Passes {
    /// Batches per pass.
    batches: usize,
    /// Batches taken from the current pass (0: the pass has not begun, its order not drawn).
    taken: usize,
    /// The key of the current pass's shuffle.
    key: u64,
}

/// The arguments the training loop runs with, checked.
struct Run<'o> {
    epochs: usize,
    initial_epoch: usize,
    verbose: u8,
    shuffle: bool,
    steps_per_epoch: Option<usize>,
    validation_freq: usize,
    validation_steps: Option<usize>,
    /// Samples a training batch and a validation batch hold at most.
    batch_size: usize,
    val_batch: usize,
    /// Training samples per pass.
    train_n: usize,
    callbacks: Vec<&'o mut dyn Callback>,
    continued: Option<History>,
}

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

    /// The epochs: the loop `fit` and `fit_dataset` share, over this process alone or with
    /// others (see [`crate::distributed`]). An error from the data ends it cleanly: callbacks'
    /// `on_train_end` runs with [`Model::training_failed`] set, and the error is returned.
    fn run(
        &mut self,
        feed: &mut Feed<'_, '_, '_>,
        validation: &Validation<'_, '_, '_>,
        run: Run<'_>,
    ) -> Result<History> {
        self.parallel = Parallel::new(distributed::world(), self)?.map(Box::new);
        let result = self.run_epochs(feed, validation, run);
        self.parallel = None;
        self.set_layers_sample_offset(0);
        result
    }

    fn run_epochs(
        &mut self,
        feed: &mut Feed<'_, '_, '_>,
        validation: &Validation<'_, '_, '_>,
        run: Run<'_>,
    ) -> Result<History> {
        let started = std::time::Instant::now();
        let Run {
            epochs,
            initial_epoch,
            verbose,
            shuffle,
            steps_per_epoch,
            validation_freq,
            validation_steps,
            batch_size,
            val_batch,
            train_n,
            mut callbacks,
            continued,
        } = run;
        // Only rank 0 of several processes prints.
        let verbose = if distributed::is_root() { verbose } else { 0 };
        // An endless dataset (fit_dataset insists on steps_per_epoch for it) makes each epoch a
        // pass of that many batches.
        let steps = steps_per_epoch.or(feed.batches()).expect("steps_per_epoch for an endless dataset");
        let batches = feed.batches().unwrap_or(steps);
        let params = FitParams { epochs, initial_epoch, steps, train_samples: train_n, batch_size, verbose };
        let counts = |h: History| History { steps_per_epoch: steps, train_samples: train_n, batch_size, ..h };
        self.history = counts(continued.unwrap_or_default());
        self.resume = None;
        self.training_failed = false;
        let mut progbar = ProgbarLogger::new(verbose);
        let mut logs = Logs::new();
        let mut stop = each(&mut callbacks, &mut progbar, |cb| cb.on_train_begin(self, &params))?;

        // The epochs, from where a restored backup (BackupAndRestore) left off, if any.
        let mut epoch = initial_epoch;
        if let Some(restored) = self.resume.take() {
            epoch = restored.next_epoch();
            self.history = counts(restored);
        }
        // Callbacks' states, for a BackupAndRestore: given back after a restore (each checks
        // it is its own kind), and collected after every epoch.
        let collect_states = callbacks.iter().any(|cb| cb.saves_states());
        self.callback_states.clear();
        if let Some(states) = self.restored_callback_states.take() {
            for (i, cb) in callbacks.iter_mut().enumerate() {
                if let Some(state) = states.get(&state_key(i)) {
                    cb.set_state(state)?;
                }
            }
            self.callback_states = states;
        }
        self.history.reserve(epochs);
        let mut passes = Passes { batches, taken: 0, key: epoch as u64 };
        let mut ran_out = false;
        let mut failed = None;
        'epochs: while epoch < epochs && !stop {
            stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_epoch_begin(self, epoch))?;
            self.reset_metrics();
            // Without steps_per_epoch every epoch is a pass keyed by its index, so a resumed run
            // shuffles as an unbroken one; with it, a pass begins when the last one is done.
            if steps_per_epoch.is_none() {
                (passes.key, passes.taken) = (epoch as u64, 0);
            }
            if passes.taken == 0 {
                feed.begin_pass(self, shuffle, passes.key, steps);
            }
            logs.clear();
            let (mut loss_sum, mut seen) = (0.0, 0usize);

            // The batches: one weight update each.
            for step in 0..steps {
                let taken = passes.taken;
                if taken == passes.batches {
                    ran_out = true;
                    break;
                }
                passes.taken += 1;
                stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_train_batch_begin(self, step))?;
                let rows = match feed.load(self, taken, batch_size) {
                    Ok(rows) => rows,
                    Err(e) => {
                        failed = Some(e);
                        break 'epochs;
                    }
                };
                // This process's samples: the batch, or its shard of it.
                let local = self.bufs.batch();
                loss_sum += match self.parallel {
                    None => self.train_step(),
                    Some(_) => self.parallel_train_step(local, rows),
                };
                seen += local;
                self.history.weight_updates += 1;
                self.write_step_metrics(&mut logs, loss_sum, seen);
                stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_train_batch_end(self, step, &logs))?;
                if stop {
                    break;
                }
            }

            if passes.taken == passes.batches {
                feed.end_pass();
                (passes.taken, passes.key) = (0, passes.key + 1);
            }

            // Validation, through the same path as `evaluate`.
            if (epoch + 1).is_multiple_of(validation_freq) && !matches!(validation, Validation::None) {
                for cb in callbacks.iter_mut() {
                    cb.on_test_begin(self)?;
                }
                let val_loss = match validation {
                    Validation::None => Ok(0.0),
                    Validation::Rows(xs, ys, rows, w) => {
                        Ok(self.evaluate_batches(xs, ys, *w, Some(rows), val_batch, validation_steps))
                    }
                    Validation::Data(vx, vy, w) => {
                        Ok(self.evaluate_batches(vx, vy, *w, None, val_batch, validation_steps))
                    }
                    Validation::Dataset(ring, batches) => self.evaluate_ring(ring, *batches, validation_steps),
                };
                match val_loss {
                    Ok(loss) => self.write_metrics(&mut logs, "val_", loss),
                    Err(e) => {
                        failed = Some(e);
                        break 'epochs;
                    }
                }
                for cb in callbacks.iter_mut() {
                    cb.on_test_end(self)?;
                }
            }

            // Epoch end: callbacks may add to the logs; the History records them.
            for (i, cb) in callbacks.iter_mut().enumerate() {
                stop |= cb.on_epoch_end(self, epoch, &mut logs)? == Control::Stop;
                // Kept for a BackupAndRestore listed after it.
                if let Some(state) = collect_states.then(|| cb.state()).flatten() {
                    self.callback_states.insert(state_key(i), state);
                }
            }
            self.history.record(epoch, &logs);
            stop |= progbar.on_epoch_end(self, epoch, &mut logs)? == Control::Stop;
            epoch += 1;
        }

        if ran_out && verbose > 0 {
            eprintln!(
                "warning: a pass over the {train_n} training samples ({batches} batches) ran out before \
                 steps_per_epoch={steps} updates: those epochs were shorter (Keras: \"Your input ran out of data\")"
            );
        }

        // Train end: with use_ema the weights become their averages (Keras's
        // finalize_variable_values); then callbacks restore weights, close files. After an
        // error in the data they still run, told so by `training_failed`.
        self.training_failed = failed.is_some();
        if failed.is_none() {
            self.finalize_ema_weights();
        }
        for cb in callbacks.iter_mut() {
            cb.on_train_end(self, &logs)?;
        }
        progbar.on_train_end(self, &logs)?;
        if let Some(e) = failed {
            return Err(e);
        }

        // The summary block.
        if verbose > 0 {
            println!("{}", self.history.summary(started.elapsed().as_secs_f64()));
            if let Some(parallel) = &self.parallel {
                println!("  {}", parallel.summary(started.elapsed().as_secs_f64()));
            }
            for line in callbacks.iter().filter_map(|cb| cb.summary()) {
                println!("  {line}");
            }
        }
        Ok(self.history.clone())
    }

    /// The logs after a training step: the epoch's loss (`loss_sum` over `seen` samples) and
    /// metrics so far, summed over every process's shard when several train together.
    fn write_step_metrics(&mut self, logs: &mut Logs, loss_sum: f64, seen: usize) {
        let Some(mut parallel) = self.parallel.take() else {
            return self.write_metrics(logs, "", loss_sum / seen as f64);
        };
        let c = self.compiled.as_mut().expect("compiled");
        let (loss_sum, seen) = parallel.reduce_logs(c, loss_sum, seen);
        self.write_metrics(logs, "", loss_sum / seen.max(1) as f64);
        parallel.restore(self.compiled.as_mut().expect("compiled"));
        self.parallel = Some(parallel);
    }

    /// What training over several processes (see [`crate::distributed`]) needs before any
    /// work, checked on every process alike: a global `batch_size` they divide evenly, a
    /// sample for each in the first batch (`batches.0` samples) and, with a layer that
    /// synchronizes, in the last (`batches.1`, when partial), and the same model, arguments
    /// and data on every process (a checksum of them, broadcast from rank 0; `data` and
    /// `specs` are the arrays and dataset specs, of which shapes and a sample of values
    /// count). Nothing for one process.
    fn check_processes(
        &self,
        options: &FitOptions<'_>,
        batch_size: usize,
        (first, last): (usize, Option<usize>),
        data: &[&[&Tensor]],
        specs: &[Option<&Spec>],
    ) -> Result<()> {
        let comm = distributed::world();
        let size = comm.size();
        if size == 1 {
            return Ok(());
        }
        distributed::check_global_batch(&*comm, batch_size, first)?;
        let synchronized = self.layers.iter().find(|l| l.synchronizes());
        if let (Some(layer), Some(last)) = (synchronized, last.filter(|&l| l < size)) {
            return Err(Error::Distributed {
                rank: comm.rank(),
                size,
                message: format!(
                    "the last batch of each epoch holds {last} samples, fewer than the {size} processes, and layer {} \
                     (synchronized) needs every process in every step: choose a batch size that leaves none \
                     or at least {size} samples over",
                    layer.name()
                ),
            });
        }
        let model = self.to_config().map(|v| v.to_string()).unwrap_or_default();
        let compiled = self.compile_config().map(|v| v.to_string()).unwrap_or_default();
        let arguments = format!(
            "epochs={} initial_epoch={} batch_size={batch_size} shuffle={} steps_per_epoch={:?} validation_split={} validation_batch_size={:?} validation_steps={:?} validation_freq={} seed={}",
            options.epochs,
            options.initial_epoch,
            options.shuffle,
            options.steps_per_epoch,
            options.validation_split,
            options.validation_batch_size,
            options.validation_steps,
            options.validation_freq,
            self.seed,
        );
        let setup = distributed::fingerprint(0, format!("{model}\n{compiled}\n{arguments}").as_bytes());
        distributed::agree(&*comm, "a different model, compile or fit arguments", setup)?;
        let mut print = 0;
        for t in data.iter().flat_map(|d| d.iter()) {
            print = distributed::fingerprint(print, format!("{:?}", t.shape()).as_bytes());
            let values = t.data();
            let step = (values.len() / 1024).max(1);
            for v in values.iter().step_by(step) {
                print = distributed::fingerprint(print, &v.to_le_bytes());
            }
        }
        for s in specs.iter().flatten() {
            let text = format!("{:?} {:?} {} {}", s.inputs, s.targets, s.batch_size, s.weighted);
            print = distributed::fingerprint(print, text.as_bytes());
        }
        distributed::agree(&*comm, "different data (shapes or values)", print)
    }

    /// Keras's `validation_data` arrays in the order of the model's inputs and outputs,
    /// checked as training data is, with their weights.
    fn validation_arrays<'a>(
        &mut self,
        x: &Arrays<'a>,
        y: &Arrays<'a>,
        w: Option<&[f32]>,
    ) -> Result<(Vec<&'a Tensor>, Vec<&'a Tensor>)> {
        let (xs, ys) = self.resolve(x, y, "validation data")?;
        let (xs, ys) = (xs.to_vec(), ys.to_vec());
        self.check_data(&xs, &ys, "validation data")?;
        if let Some(w) = w {
            check_sample_weights(w, xs[0].batch(), "validation data")?;
        }
        Ok((xs, ys))
    }

    /// Whether the last `fit` stopped on an error in its data (a dataset's batch that could
    /// not be read or failed the checks): set before callbacks' `on_train_end` runs, so a
    /// callback can keep what a successful run would clean up.
    pub fn training_failed(&self) -> bool {
        self.training_failed
    }

    /// Checks a dataset's spec against the model (building it from the spec if needed) before
    /// any work: its inputs and targets, one per model input and output, of the shapes the
    /// model takes; a batch size of at least 1. Returns the spec.
    pub(crate) fn check_spec(&mut self, data: &dyn Dataset, what: &str) -> Result<Spec> {
        if self.compiled.is_none() {
            return Err(Error::State(
                "the model must be compiled before training or evaluating: call compile(optimizer, loss, metrics)"
                    .into(),
            ));
        }
        let spec = data.spec();
        self.check_input_spec(&spec, what)?;
        let outputs = self.graph.outputs.len();
        if spec.targets.len() != outputs {
            return Err(Error::Shape {
                what: format!("the {what}'s targets"),
                expected: format!("{outputs}, one per model output ({})", self.output_names().join(", ")),
                received: format!("{}", spec.targets.len()),
            });
        }
        Ok(spec)
    }

    /// Checks a dataset's inputs and batch size against the model, building it if needed.
    pub(crate) fn check_input_spec(&mut self, spec: &Spec, what: &str) -> Result<()> {
        if spec.batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, format!("a positive batch size for the {what}")));
        }
        if spec.inputs.len() != self.graph.inputs {
            return Err(Error::Shape {
                what: format!("the {what}'s inputs"),
                expected: format!("{}, one per model input ({})", self.graph.inputs, self.input_names.join(", ")),
                received: format!("{}", spec.inputs.len()),
            });
        }
        if !self.is_built() {
            let shapes = match self.input_shapes() {
                Some(s) => s.to_vec(),
                None => spec.inputs.clone(),
            };
            self.build_inputs(&shapes)?;
        }
        for (i, sample) in spec.inputs.iter().enumerate() {
            if *sample != self.shapes[i] {
                return Err(Error::Shape {
                    what: format!("the {what}'s input {i}"),
                    expected: format!(
                        "samples of shape {:?} (the model's input {})",
                        self.shapes[i], self.input_names[i]
                    ),
                    received: format!("samples of shape {sample:?}"),
                });
            }
        }
        Ok(())
    }

    /// `class_weight` as a weight per class of the model's one output.
    fn class_table(&self, class_weight: &[(usize, f32)], outputs: usize) -> Result<Vec<f32>> {
        if outputs > 1 {
            return Err(Error::invalid(
                "class_weight",
                format!("given for a model with {outputs} outputs"),
                "a model with one output (as Keras); use sample_weight",
            ));
        }
        class_weight_table(class_weight, self.output_shape().expect("built"))
    }

    /// Mean loss over a pass of a dataset's ring (its first `steps` batches when given),
    /// then the dataset's `on_epoch_end`. Metrics are reset and updated.
    pub(crate) fn evaluate_ring(&mut self, ring: &Ring<'_>, batches: usize, steps: Option<usize>) -> Result<f64> {
        self.reset_metrics();
        let batches = batches.min(steps.unwrap_or(usize::MAX));
        ring.begin_pass(|order| order.extend(0..batches));
        let (mut loss, mut seen) = (0.0, 0);
        for position in 0..batches {
            ring.take(position, |b| self.load_batch(b, None, "validation dataset"))?;
            if self.bufs.batch() > 0 {
                loss += self.test_step();
            }
            seen += self.bufs.batch();
        }
        ring.epoch_end();
        Ok(self.reduce_evaluation(loss, seen))
    }

    /// Checks a dataset's batch as `fit` checks arrays (finite values, labels the loss takes,
    /// token ids) and makes it the batch in the buffers (this process's shard of it, when
    /// several train together), its weights from `class_table` when given. Returns its number
    /// of samples (the whole batch's).
    pub(crate) fn load_batch(&mut self, batch: &Batch, class_table: Option<&[f32]>, what: &str) -> Result<usize> {
        with_refs(batch.xs(), |xs| with_refs(batch.ys(), |ys| self.check_data(xs, ys, what)))?;
        let n = batch.len();
        let (lo, hi) = self.shard_of(n);
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

    /// Sets the epoch's sample order: the training rows in order, or shuffled by an order that
    /// depends only on the seed and the epoch index (so a resumed run shuffles as an
    /// uninterrupted one).
    fn shuffle_order(&mut self, train_rows: &[usize], shuffle: bool, key: u64) {
        let order = &mut self.bufs.order;
        order.copy_from_slice(train_rows);
        if shuffle {
            Rng::derive(self.seed, key).shuffle(order);
        }
    }

    /// Makes samples `order[lo..hi]` of the inputs `xs`, targets `ys` (and the weights `w`)
    /// the batch.
    fn gather_batch(&mut self, xs: &[&Tensor], ys: &[&Tensor], w: Option<&[f32]>, lo: usize, hi: usize) {
        // The order is the buffers' own: lent out for the copy (moving a Vec allocates nothing).
        let order = std::mem::take(&mut self.bufs.order);
        self.bufs.gather(xs, ys, w, &order[lo..hi]);
        self.bufs.order = order;
    }

    /// This process's rows `[lo, hi)` of a batch of `n` samples (all of them in one process),
    /// the layers told the shard's place in the global batch.
    pub(crate) fn shard_of(&mut self, n: usize) -> (usize, usize) {
        let Some(parallel) = &self.parallel else { return (0, n) };
        let (lo, hi) = parallel.shard(n);
        if lo != self.sample_offset {
            self.set_layers_sample_offset(lo);
        }
        (lo, hi)
    }

    /// The mean loss of an evaluation pass from this process's `loss` sum over `seen`
    /// samples; with several processes, summed over all, their metrics' states too (which the
    /// metrics keep, for the logs).
    pub(crate) fn reduce_evaluation(&mut self, loss: f64, seen: usize) -> f64 {
        let Some(parallel) = self.parallel.as_mut() else { return loss / seen.max(1) as f64 };
        let (loss, seen) = parallel.reduce_logs(self.compiled.as_mut().expect("compiled"), loss, seen);
        loss / seen.max(1) as f64
    }

    /// Forgets the compiled metrics' running state and the outputs' running losses.
    pub(crate) fn reset_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            c.metrics.iter_mut().for_each(|m| m.reset());
            c.output_sums.iter_mut().for_each(|s| *s = 0.0);
            c.seen = 0;
        }
    }
}

/// The name a callback's state goes by in a backup: its place in the list (the state names
/// its class, which the callback checks).
fn state_key(index: usize) -> String {
    index.to_string()
}

/// Runs a hook on the user's callbacks, then on the progress bar; true if any asked to stop.
fn each(
    callbacks: &mut [&mut dyn Callback],
    progbar: &mut ProgbarLogger,
    mut hook: impl FnMut(&mut dyn Callback) -> Result<Control>,
) -> Result<bool> {
    let mut stop = false;
    for cb in callbacks.iter_mut() {
        stop |= hook(&mut **cb)? == Control::Stop;
    }
    stop |= hook(progbar)? == Control::Stop;
    Ok(stop)
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

impl<'o> Run<'o> {
    /// The loop's arguments from `options` (its callbacks and History moved out).
    fn new(options: &mut FitOptions<'o>, batch_size: usize, val_batch: usize, train_n: usize) -> Run<'o> {
        Run {
            epochs: options.epochs,
            initial_epoch: options.initial_epoch,
            verbose: options.verbose,
            shuffle: options.shuffle,
            steps_per_epoch: options.steps_per_epoch,
            validation_freq: options.validation_freq,
            validation_steps: options.validation_steps,
            batch_size,
            val_batch,
            train_n,
            callbacks: std::mem::take(&mut options.callbacks),
            continued: options.history.take(),
        }
    }
}

impl Feed<'_, '_, '_> {
    /// Batches per pass; `None` for an endless dataset.
    fn batches(&self) -> Option<usize> {
        match self {
            Feed::Arrays { batches, .. } => Some(*batches),
            Feed::Dataset(d) => d.batches,
        }
    }

    /// Begins a pass: the arrays' samples, or the dataset's batches, in order or shuffled by
    /// the seed and `key`; an endless dataset's next `steps` batches.
    fn begin_pass(&mut self, model: &mut Model, shuffle: bool, key: u64, steps: usize) {
        match self {
            Feed::Arrays { rows, .. } => model.shuffle_order(rows, shuffle, key),
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
    /// several train together); returns the batch's samples.
    fn load(&mut self, model: &mut Model, position: usize, batch_size: usize) -> Result<usize> {
        match self {
            Feed::Arrays { xs, ys, weights, rows, .. } => {
                let (lo, hi) = (position * batch_size, ((position + 1) * batch_size).min(rows.len()));
                let (a, b) = model.shard_of(hi - lo);
                model.gather_batch(xs, ys, *weights, lo + a, lo + b);
                Ok(hi - lo)
            }
            Feed::Dataset(d) => {
                let table = d.class_table.as_deref();
                d.ring.take(position, |b| model.load_batch(b, table, "training dataset"))
            }
        }
    }

    /// Ends a pass: the dataset's `on_epoch_end`.
    fn end_pass(&mut self) {
        if let Feed::Dataset(d) = self {
            d.ring.epoch_end();
        }
    }
}
