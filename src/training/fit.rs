//! `fit`: Keras's training loop.

use super::checks::{check_sample_weights, class_weights_to_samples, target_shape};
use super::split::split_rows;
use super::{Arrays, FitOptions};
use crate::callbacks::{Callback, Control, FitParams, History, Logs, ProgbarLogger};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::{FlushDenormals, Tensor};

/// Where the validation samples come from.
enum Validation<'a> {
    None,
    /// These rows of the training arrays (`validation_split`), with the training
    /// `sample_weight` (not `class_weight`, as in Keras).
    Rows(Vec<usize>, Option<&'a [f32]>),
    /// Separate arrays (Keras's `validation_data`), with their own weights.
    Data(Vec<&'a Tensor>, Vec<&'a Tensor>, Option<&'a [f32]>),
}

/// Keras 3's epoch iterator over arrays: with `steps_per_epoch`, epochs take turns through
/// one pass over the data; without it, each epoch is one pass.
struct Passes {
    /// Batches per pass.
    batches: usize,
    /// Batches taken from the current pass (0: the pass has not begun, its order not drawn).
    taken: usize,
    /// The key of the current pass's shuffle.
    key: u64,
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
        options: FitOptions<'_>,
    ) -> Result<History> {
        let _flush = FlushDenormals::new();
        let started = std::time::Instant::now();
        let FitOptions {
            batch_size,
            epochs,
            verbose,
            validation_split,
            split_mode,
            validation_data,
            validation_batch_size,
            validation_steps,
            steps_per_epoch,
            sample_weight,
            class_weight,
            shuffle,
            initial_epoch,
            validation_freq,
            mut callbacks,
            history: continued,
        } = options;

        // 1. Check the arguments and the data, and choose the validation samples.
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        if validation_freq == 0 {
            return Err(Error::invalid("validation_freq", 0, "a positive number of epochs"));
        }
        if verbose > 2 {
            return Err(Error::invalid("verbose", verbose, "0, 1 or 2"));
        }
        for (name, v) in [
            ("steps_per_epoch", steps_per_epoch),
            ("validation_steps", validation_steps),
            ("validation_batch_size", validation_batch_size),
        ] {
            if v == Some(0) {
                return Err(Error::invalid(name, 0, "a positive number"));
            }
        }
        let (x, y) = (x.into(), y.into());
        let (xs, ys) = self.resolve(&x, &y, "training data")?;
        let (xs, ys) = (xs.as_ref(), ys.as_ref());
        self.check_data(xs, ys, "training data")?;
        let n = xs[0].batch();
        if let Some(w) = sample_weight {
            check_sample_weights(w, n, "training data")?;
        }
        let class_weights = match (&class_weight, sample_weight) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "class_weight",
                    "given with sample_weight",
                    "either class_weight or sample_weight, not both (as Keras)",
                ))
            }
            (Some(_), None) if ys.len() > 1 => {
                return Err(Error::invalid(
                    "class_weight",
                    format!("given for a model with {} outputs", ys.len()),
                    "a model with one output (as Keras); use sample_weight",
                ))
            }
            (Some(cw), None) => Some(class_weights_to_samples(cw, ys[0], self.output_shape().expect("built"))?),
            _ => None,
        };
        let train_weights = class_weights.as_deref().or(sample_weight);
        let (train_rows, validation) = match validation_data {
            Some((vx, vy, vw)) => {
                let (vxs, vys) = self.resolve(&vx, &vy, "validation data")?;
                let (vxs, vys) = (vxs.to_vec(), vys.to_vec());
                self.check_data(&vxs, &vys, "validation data")?;
                if let Some(w) = vw {
                    check_sample_weights(w, vxs[0].batch(), "validation data")?;
                }
                ((0..n).collect(), Validation::Data(vxs, vys, vw))
            }
            None if validation_split != 0.0 => {
                let (train, held) = split_rows(ys[0], validation_split, split_mode, self.seed)?;
                (train, Validation::Rows(held, sample_weight))
            }
            None => ((0..n).collect(), Validation::None),
        };
        let train_n = train_rows.len();

        // 2. Plan the buffers for the larger of the training and validation batches, once.
        let batch_size = batch_size.min(train_n);
        let val_batch = validation_batch_size.unwrap_or(batch_size);
        let batches = train_n.div_ceil(batch_size);
        let steps = steps_per_epoch.unwrap_or(batches);
        let target_shapes: Vec<&[usize]> = ys.iter().map(|y| target_shape(y)).collect();
        self.plan(batch_size.max(val_batch), true, Some(&target_shapes));
        self.bufs.order.clear();
        self.bufs.order.extend_from_slice(&train_rows);

        let params = FitParams { epochs, initial_epoch, steps, train_samples: train_n, batch_size, verbose };
        let counts = |h: History| History { steps_per_epoch: steps, train_samples: train_n, batch_size, ..h };
        self.history = counts(continued.unwrap_or_default());
        self.resume = None;
        let mut progbar = ProgbarLogger::new(verbose);
        let mut logs = Logs::new();
        let mut stop = each(&mut callbacks, &mut progbar, |cb| cb.on_train_begin(self, &params))?;

        // 3. The epochs, from where a restored backup (BackupAndRestore) left off, if any.
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
        while epoch < epochs && !stop {
            stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_epoch_begin(self, epoch))?;
            self.reset_metrics();
            // Without steps_per_epoch every epoch is a pass keyed by its index, so a resumed run
            // shuffles as an unbroken one; with it, a pass begins when the last one is done.
            if steps_per_epoch.is_none() {
                (passes.key, passes.taken) = (epoch as u64, 0);
            }
            if passes.taken == 0 {
                self.shuffle_order(&train_rows, shuffle, passes.key);
            }
            logs.clear();
            let (mut loss_sum, mut seen) = (0.0, 0usize);

            // 3a. The batches: one weight update each.
            for step in 0..steps {
                let taken = passes.taken;
                if taken == passes.batches {
                    ran_out = true;
                    break;
                }
                passes.taken += 1;
                stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_train_batch_begin(self, step))?;
                let (lo, hi) = (taken * batch_size, ((taken + 1) * batch_size).min(train_n));
                self.gather_batch(xs, ys, train_weights, lo, hi);
                loss_sum += self.train_step();
                seen += hi - lo;
                self.history.weight_updates += 1;
                self.write_metrics(&mut logs, "", loss_sum / seen as f64);
                stop |= each(&mut callbacks, &mut progbar, |cb| cb.on_train_batch_end(self, step, &logs))?;
                if stop {
                    break;
                }
            }

            if passes.taken == passes.batches {
                (passes.taken, passes.key) = (0, passes.key + 1);
            }

            // 3b. Validation, through the same path as `evaluate`.
            if (epoch + 1).is_multiple_of(validation_freq) && !matches!(validation, Validation::None) {
                for cb in callbacks.iter_mut() {
                    cb.on_test_begin(self)?;
                }
                let val_loss = match &validation {
                    Validation::None => 0.0,
                    Validation::Rows(rows, w) => {
                        self.evaluate_batches(xs, ys, *w, Some(rows), val_batch, validation_steps)
                    }
                    Validation::Data(vx, vy, w) => self.evaluate_batches(vx, vy, *w, None, val_batch, validation_steps),
                };
                self.write_metrics(&mut logs, "val_", val_loss);
                for cb in callbacks.iter_mut() {
                    cb.on_test_end(self)?;
                }
            }

            // 3c. Epoch end: callbacks may add to the logs; the History records them.
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

        // 4. Train end: with use_ema the weights become their averages (Keras's
        // finalize_variable_values); then callbacks restore weights, close files.
        self.finalize_ema_weights();
        for cb in callbacks.iter_mut() {
            cb.on_train_end(self, &logs)?;
        }
        progbar.on_train_end(self, &logs)?;

        // 5. The summary block.
        if verbose > 0 {
            println!("{}", self.history.summary(started.elapsed().as_secs_f64()));
            for line in callbacks.iter().filter_map(|cb| cb.summary()) {
                println!("  {line}");
            }
        }
        Ok(self.history.clone())
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
