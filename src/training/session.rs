//! One `fit` run: the [`Session`] that owns its state, and the loop over epochs and batches
//! that `fit` and `fit_dataset` share.
//!
//! The loop, in the order each epoch runs:
//! 1. callbacks' `on_epoch_begin`; the metrics reset; a pass over the data begins when the
//!    last one is done (every epoch without `steps_per_epoch`);
//! 2. the batches, one weight update each ([`Model::train_step`]), hooks around each;
//! 3. the validation, every `validation_freq` epochs, through the same passes as `evaluate`;
//! 4. callbacks' `on_epoch_end`, then the History records the epoch;
//! 5. a callback's stop request ends training after the batch or epoch.
//!
//! An error in the data (a dataset's batch that cannot be read or fails the checks) ends the
//! run cleanly: `on_train_end` runs, told so by
//! [`Context::training_failed`](crate::callbacks::Context::training_failed). An error from a
//! callback aborts at once.

use super::feed::{Feed, Passes, Validation};
use super::noise_scale::{self, NoiseScale};
use super::{FitOptions, Parallel};
use crate::callbacks::{Callback, CallbackList, FitParams, FitState, History, Logs};
use crate::distributed;
use crate::error::{Error, Result};
use crate::models::Model;

/// The state of one `fit` run, owned by the run and not the model: what callbacks see of it
/// (its History, what a backup restored, the callbacks' states, whether the data failed) and,
/// over several processes, this rank's side of training with the others (its shard's place
/// in each global batch included).
pub(crate) struct Session {
    pub state: FitState,
    pub parallel: Option<Box<Parallel>>,
    /// The gradient noise scale's running measurement, when asked for.
    pub noise: Option<NoiseScale>,
}

/// The arguments the training loop runs with, checked.
pub(crate) struct Run<'o> {
    pub epochs: usize,
    pub initial_epoch: usize,
    pub verbose: u8,
    pub shuffle: bool,
    pub steps_per_epoch: Option<usize>,
    pub validation_freq: usize,
    pub validation_steps: Option<usize>,
    /// Samples a training batch and a validation batch hold at most.
    pub batch_size: usize,
    pub val_batch: usize,
    /// Training samples per pass.
    pub train_n: usize,
    pub callbacks: Vec<&'o mut dyn Callback>,
    /// The History a continued run grows (`FitOptions::history`).
    pub continued: Option<History>,
    /// The user's own training step, with its running sums.
    pub step: Option<super::custom_step::StepRun<'o>>,
    /// Measure the gradient noise scale (`FitOptions::measure_noise_scale`).
    pub noise_scale: bool,
}

impl<'o> Run<'o> {
    /// What callbacks read of the run (`steps` updates an epoch). Only rank 0 of several
    /// processes prints.
    fn params(&self, steps: usize) -> FitParams {
        FitParams {
            epochs: self.epochs,
            initial_epoch: self.initial_epoch,
            steps,
            train_samples: self.train_n,
            batch_size: self.batch_size,
            verbose: if distributed::is_root() { self.verbose } else { 0 },
        }
    }

    /// The loop's arguments from `options` (its callbacks and History moved out).
    pub fn new(options: &mut FitOptions<'o>, batch_size: usize, val_batch: usize, train_n: usize) -> Run<'o> {
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
            step: options.train_step.take().map(super::custom_step::StepRun::new),
            noise_scale: options.noise_scale,
        }
    }
}

/// How an epoch's batches ended.
enum Batches {
    /// Every step ran, or a callback asked to stop (`stop`), or the pass ran out (`ran_out`).
    Done { stop: bool, ran_out: bool },
    /// A batch's data failed: the run ends cleanly with this error.
    Failed(Error),
}

impl Model {
    /// Runs `fit`'s epochs over `feed`, validating on `validation`, in a new [`Session`]
    /// (over several processes, with this rank's side of it; see [`crate::distributed`]).
    pub(super) fn run(
        &mut self,
        feed: &mut Feed<'_, '_, '_>,
        validation: &Validation<'_, '_, '_>,
        run: Run<'_>,
    ) -> Result<History> {
        let parallel = Parallel::new(distributed::world(), self)?.map(Box::new);
        let mut session = Session { state: FitState::default(), parallel, noise: None };
        let result = self.run_epochs(&mut session, feed, validation, run);
        self.set_layers_sample_offset(0);
        result
    }

    /// The loop of the [module docs](self), in numbered steps.
    fn run_epochs(
        &mut self,
        s: &mut Session,
        feed: &mut Feed<'_, '_, '_>,
        validation: &Validation<'_, '_, '_>,
        mut run: Run<'_>,
    ) -> Result<History> {
        let started = std::time::Instant::now();
        if let (Some(_), Some(parallel)) = (&run.step, &s.parallel) {
            // Each process runs the step on its shard and takes part in its collectives: a
            // batch too small to give every one samples would leave one out.
            let ranks = parallel.size();
            let last = run.train_n % run.batch_size.max(1);
            if run.batch_size < ranks || (last > 0 && last < ranks) {
                return Err(crate::Error::invalid(
                    "batch_size",
                    format!("{} (last batch {last} of {} samples)", run.batch_size, run.train_n),
                    format!(
                        "batches of at least {ranks} samples, one per process, for a custom training step over \
                         {ranks} processes"
                    ),
                ));
            }
        }
        // 0. The settings (an endless dataset's epoch is steps_per_epoch batches), the History.
        let steps = run.steps_per_epoch.or(feed.batches()).expect("steps_per_epoch for an endless dataset");
        let params = run.params(steps);
        if run.noise_scale {
            s.noise = Some(NoiseScale::new(steps));
        }
        let continued = run.continued.take().unwrap_or_default();
        s.state.history =
            History { steps_per_epoch: steps, train_samples: run.train_n, batch_size: run.batch_size, ..continued };
        let mut callbacks = CallbackList::new(std::mem::take(&mut run.callbacks), params);

        // 1. Train begin: a restored backup moves the first epoch.
        let (mut stop, mut epoch) = callbacks.train_begin(self, &mut s.state)?;
        s.state.history.reserve(run.epochs);
        let mut passes = Passes { batches: feed.batches().unwrap_or(steps), taken: 0, key: epoch as u64 };
        let (mut logs, mut ran_out, mut failed) = (Logs::new(), false, None);
        while epoch < run.epochs && !stop {
            // 2. Epoch begin, and a pass over the data when the last one is done.
            stop |= callbacks.epoch_begin(self, &mut s.state, epoch)?;
            self.reset_metrics();
            if passes.begin_epoch(epoch, run.steps_per_epoch.is_none()) {
                feed.begin_pass(self, run.shuffle, passes.key, steps);
            }
            logs.clear();

            // 3. The batches.
            if let Some(step) = run.step.as_mut() {
                step.begin_epoch();
            }
            let batches = (run.batch_size, steps);
            match self.train_epoch(s, &mut callbacks, feed, &mut passes, &mut logs, run.step.as_mut(), batches)? {
                Batches::Done { stop: asked, ran_out: out } => (stop, ran_out) = (stop | asked, ran_out | out),
                Batches::Failed(e) => {
                    failed = Some(e);
                    break;
                }
            }
            if passes.end_if_done() {
                feed.end_pass();
            }

            // 4. Validation, through the same passes as `evaluate`.
            if (epoch + 1).is_multiple_of(run.validation_freq) && !matches!(validation, Validation::None) {
                failed = self.validate_epoch(s, &mut callbacks, validation, &run, &mut logs)?;
                if failed.is_some() {
                    break;
                }
            }

            // 5. Epoch end: the noise scale's estimate, when measured and when there is one
            //    (last, so that an epoch without one moves no other entry); callbacks may add
            //    to the logs; the History records them.
            let parallel = s.parallel.as_deref();
            if let Some(estimate) = s.noise.as_mut().and_then(|n| n.end_epoch(parallel)) {
                logs.set("noise_scale", estimate);
            }
            stop |= callbacks.epoch_end(self, &mut s.state, epoch, &mut logs)?;
            epoch += 1;
        }
        if ran_out && params.verbose > 0 {
            let (n, batches) = (run.train_n, passes.batches);
            eprintln!(
                "warning: a pass over the {n} training samples ({batches} batches) ran out before \
                 steps_per_epoch={steps} updates: those epochs were shorter (Keras: \"Your input ran out of data\")"
            );
        }

        // 6. Train end: with use_ema the weights become their averages (Keras's
        //    finalize_variable_values); then callbacks restore weights, close files. After an
        //    error in the data they still run, told so by `training_failed`.
        s.state.failed = failed.is_some();
        if failed.is_none() {
            self.finalize_ema_weights();
        }
        callbacks.train_end(self, &mut s.state, &logs)?;
        if let Some(e) = failed {
            return Err(e);
        }

        // 7. The summary block.
        if params.verbose > 0 {
            print_summary(s, &callbacks, started.elapsed().as_secs_f64());
        }
        Ok(s.state.history.clone())
    }

    /// An epoch's validation between the callbacks' `on_test_begin` and `on_test_end`, its
    /// loss and metrics written into `logs` under `val_`. Returns the error of validation data
    /// that failed (the run then ends cleanly), if any.
    fn validate_epoch(
        &mut self,
        s: &mut Session,
        callbacks: &mut CallbackList<'_>,
        validation: &Validation<'_, '_, '_>,
        run: &Run<'_>,
        logs: &mut Logs,
    ) -> Result<Option<Error>> {
        callbacks.test_begin(self, &mut s.state)?;
        match self.validate(s.parallel.as_deref_mut(), validation, run.val_batch, run.validation_steps) {
            Ok(loss) => self.write_metrics(logs, "val_", loss),
            Err(e) => return Ok(Some(e)),
        }
        callbacks.test_end(self, &mut s.state)?;
        Ok(None)
    }

    /// The epoch's batches from where the pass stands, one weight update each, the hooks
    /// around each, until `steps` ran, a callback asks to stop, or the pass runs out.
    #[allow(clippy::too_many_arguments)]
    fn train_epoch(
        &mut self,
        s: &mut Session,
        callbacks: &mut CallbackList<'_>,
        feed: &mut Feed<'_, '_, '_>,
        passes: &mut Passes,
        logs: &mut Logs,
        mut custom: Option<&mut super::custom_step::StepRun<'_>>,
        (batch_size, steps): (usize, usize),
    ) -> Result<Batches> {
        let (mut loss_sum, mut seen, mut stop) = (0.0, 0usize, false);
        for step in 0..steps {
            if passes.taken == passes.batches {
                return Ok(Batches::Done { stop, ran_out: true });
            }
            let position = passes.taken;
            passes.taken += 1;
            stop |= callbacks.batch_begin(self, &mut s.state, step)?;
            let rows = match feed.load(self, s.parallel.as_deref_mut(), position, batch_size) {
                Ok(rows) => rows,
                Err(e) => return Ok(Batches::Failed(e)),
            };
            // This process's samples: the batch, or its shard of it.
            let local = self.bufs.batch();
            loss_sum += match (s.parallel.as_deref_mut(), custom.as_deref_mut()) {
                (None, None) => self.train_step(s.noise.as_mut()),
                // A custom step averages its models' gradients over processes itself.
                (_, Some(step)) => match step.run(self, local, logs) {
                    Ok(loss) => loss,
                    Err(e) => return Ok(Batches::Failed(e)),
                },
                (Some(parallel), None) => self.parallel_train_step(parallel, (local, rows), s.noise.as_mut()),
            };
            seen += local;
            s.state.history.weight_updates += 1;
            self.write_step_metrics(s.parallel.as_deref_mut(), logs, loss_sum, seen);
            stop |= callbacks.batch_end(self, &mut s.state, step, logs)?;
            if stop {
                break;
            }
        }
        Ok(Batches::Done { stop, ran_out: false })
    }

    /// The logs after a training step: the epoch's loss (`loss_sum` over `seen` samples) and
    /// metrics so far, summed over every process's shard when several train together.
    fn write_step_metrics(&mut self, parallel: Option<&mut Parallel>, logs: &mut Logs, loss_sum: f64, seen: usize) {
        let Some(parallel) = parallel else {
            return self.write_metrics(logs, "", loss_sum / seen as f64);
        };
        let c = self.compiled.as_mut().expect("compiled");
        let (loss_sum, seen) = parallel.reduce_logs(c, loss_sum, seen);
        self.write_metrics(logs, "", loss_sum / seen.max(1) as f64);
        parallel.restore(self.compiled.as_mut().expect("compiled"));
    }
}

/// The end-of-training summary: the History's, the processes' (over several), each callback's
/// line, and what the curves show ([`crate::callbacks::diagnose`]).
fn print_summary(s: &Session, callbacks: &CallbackList<'_>, seconds: f64) {
    println!("{}", s.state.history.summary(seconds));
    if let Some(parallel) = &s.parallel {
        println!("  {}", parallel.summary(seconds));
    }
    callbacks.summaries().for_each(|line| println!("  {line}"));
    if s.noise.is_some() {
        let last = s.state.history.get("noise_scale").and_then(|v| v.last().copied()).filter(|v| v.is_finite());
        println!("  {}", noise_scale::summary(last, s.state.history.batch_size));
    }
    for finding in crate::callbacks::diagnose(&s.state.history) {
        println!("  diagnosis: {}", finding.message);
    }
}
