//! The batch-size experiment of the tutorial: the same model and data trained once per batch
//! size, measured side by side — weight updates, time, memory, and the wrong answers on the
//! training and held-out sets after every epoch — with the epoch where validation loss was
//! lowest and where overfitting began.
//!
//! ```
//! use minibatch::{datasets, lab, layers::Dense, optimizers::SGD, Sequential};
//! let exam = datasets::load("exam", 0).unwrap();
//! let build = || {
//!     let mut m = Sequential::new().seed(0).add(Dense::new(32).activation("relu")).add(Dense::new(4).activation("softmax"));
//!     m.compile(SGD::new(0.05), "sparse_categorical_crossentropy", &["accuracy"])?;
//!     Ok(m)
//! };
//! let runs = lab::run(&exam.x_train, &exam.y_train, &exam.x_test, &exam.y_test, &[100, 10, 1], 5, build).unwrap();
//! assert_eq!(runs.iter().map(|r| r.updates_per_epoch).collect::<Vec<_>>(), [1, 10, 100]);
//! ```

mod figure;
mod lr_find;
mod seeds;
mod time_plan;
mod tradeoff;

pub use crate::callbacks::overfitting_onset;
pub use figure::{figure, figure_with, lr_find_figure, memory_figure, seeds_figure, ChartOptions};
pub use lr_find::{lr_find, LrFind, LrFindOptions};
pub use seeds::{compare, Comparison, Spread};
pub use time_plan::{plan_time, AllReduceCost, Rates, TimePlan};
pub use tradeoff::{fit_tradeoff, steps_to_loss, tradeoff_figure, TradeOff};

use crate::callbacks::{Callback, Context, Control, Logs};
use crate::error::Result;
use crate::metrics::count_correct;
use crate::models::{MemoryPlan, Model};
use crate::tensor::Tensor;
use crate::FitOptions;
use serde::Serialize;
use std::time::Instant;

/// One epoch of one run, measured after the epoch in inference mode.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    /// 1-based, as Keras prints epochs.
    pub epoch: usize,
    /// Loss on the whole training set.
    pub train_loss: f64,
    /// Wrong answers on the training set.
    pub train_wrong: usize,
    /// Loss on the held-out set.
    pub val_loss: f64,
    /// Wrong answers on the held-out set.
    pub val_wrong: usize,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub train_seconds: f64,
}

/// One batch size's run.
#[derive(Debug, Clone, Serialize)]
pub struct LabRun {
    /// Samples per weight update.
    pub batch_size: usize,
    /// `ceil(n / batch_size)`.
    pub updates_per_epoch: usize,
    /// Updates over the run.
    pub total_updates: u64,
    /// Mean seconds of training per epoch.
    pub seconds_per_epoch: f64,
    /// Mean seconds per weight update.
    pub seconds_per_update: f64,
    /// The learning rate this run trained at (scaled with the batch size under
    /// [`LabOptions::scale_learning_rate`]).
    pub learning_rate: f32,
    /// The memory training at this batch size holds, by kind, as the engine plans it
    /// ([`Model::memory_plan`]).
    pub memory: MemoryPlan,
    /// `memory.total()`.
    pub planned_bytes: usize,
    /// Measured: how far the process's resident memory rose above where it stood before the
    /// run's model was built, at its peak during the run (Linux; the evaluations after each
    /// epoch included).
    pub rss_growth_bytes: Option<u64>,
    /// The process's peak resident memory after the run (Linux; cumulative over the runs).
    pub peak_rss_bytes: Option<u64>,
    /// Training and held-out samples.
    pub train_samples: usize,
    /// Held-out samples.
    pub val_samples: usize,
    /// Every epoch.
    pub epochs: Vec<EpochRecord>,
    /// The 1-based epoch with the lowest held-out loss.
    pub best_val_epoch: usize,
    /// The 1-based epoch where overfitting began, if it did (see [`overfitting_onset`]).
    pub overfitting_from: Option<usize>,
    /// The same run again with EarlyStopping watching the held-out loss, when asked for
    /// (see [`catch_overfitting`]).
    pub early_stopping: Option<EarlyStopRun>,
    /// The gradient noise scale `B_noise` in samples, measured over the last epoch that gave
    /// an estimate (see [`FitOptions::measure_noise_scale`]); `None` with fewer than two
    /// updates an epoch or no estimate.
    pub noise_scale: Option<f64>,
    /// The seconds per epoch predicted before the run (see [`plan_time`]).
    pub predicted_seconds_per_epoch: Option<f64>,
}

/// The batch size the runs' gradient noise scale points to: the median of their
/// [`LabRun::noise_scale`]s (each run measures the same problem's `B_noise` at another batch
/// size), or `None` when no run measured one.
pub fn noise_scale(runs: &[LabRun]) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| r.noise_scale).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// The batch size to train at, given the gradient noise scale `b_noise`: the largest power of
/// two not above it (where a larger batch still buys nearly proportionally fewer updates,
/// McCandlish et al. 2018), no larger than `at_most` (the training samples, or the largest
/// batch size a memory budget allows), at least 1.
///
/// ```
/// assert_eq!(minibatch::lab::recommended_batch_size(700.0, 60_000), 512);
/// assert_eq!(minibatch::lab::recommended_batch_size(700.0, 300), 300);
/// assert_eq!(minibatch::lab::recommended_batch_size(0.4, 100), 1);
/// ```
pub fn recommended_batch_size(b_noise: f64, at_most: usize) -> usize {
    let below = if b_noise >= 1.0 { 1usize << (b_noise.log2().floor() as u32).min(40) } else { 1 };
    below.min(at_most).max(1)
}

/// What the runs' gradient noise scale answers to "which batch size?" (see [`recommend`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recommendation {
    /// The runs' gradient noise scale ([`noise_scale`]).
    pub b_noise: f64,
    /// The batch size recommended ([`recommended_batch_size`]).
    pub batch_size: usize,
    /// What held it well below `b_noise`, if anything did.
    pub limit: Option<Limit>,
}

/// What keeps a recommended batch size below the noise scale's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Limit {
    /// The largest batch size the memory budget allows.
    MemoryBudget(usize),
    /// The training set's size.
    TrainingSet(usize),
}

/// The batch size to train at from the runs' gradient noise scale, no larger than the training
/// set or `memory_limit` (the largest batch size a memory budget allows), with what limited it;
/// `None` when no run measured a noise scale.
///
/// ```
/// # fn runs() -> minibatch::Result<Vec<minibatch::lab::LabRun>> {
/// # use minibatch::{datasets, lab, layers::Dense, Sequential};
/// # let exam = datasets::load("exam", 0)?;
/// # let build = || { let mut m = Sequential::new().seed(0).add(Dense::new(4).activation("softmax"));
/// #     m.compile("sgd", "sparse_categorical_crossentropy", &[])?; Ok(m) };
/// # lab::run(&exam.x_train, &exam.y_train, &exam.x_test, &exam.y_test, &[10], 3, build) }
/// use minibatch::lab::{recommend, Limit};
/// let runs = runs().unwrap(); // 100 exam questions at batch 10
/// let r = recommend(&runs, Some(4)).expect("a noise scale measured");
/// assert_eq!((r.batch_size, r.limit), (4, Some(Limit::MemoryBudget(4))));
/// assert!(recommend(&runs, None).unwrap().batch_size <= 100);
/// ```
pub fn recommend(runs: &[LabRun], memory_limit: Option<usize>) -> Option<Recommendation> {
    let b_noise = noise_scale(runs)?;
    let samples = runs.first().map_or(1, |r| r.train_samples);
    let at_most = memory_limit.map_or(samples, |m| m.min(samples));
    let batch_size = recommended_batch_size(b_noise, at_most);
    let held = batch_size == at_most && (batch_size as f64) < b_noise / 2.0;
    let limit = held.then_some(match memory_limit {
        Some(m) if m <= samples => Limit::MemoryBudget(m),
        _ => Limit::TrainingSet(samples),
    });
    Some(Recommendation { b_noise, batch_size, limit })
}

/// A run repeated with `EarlyStopping(monitor="val_loss", patience, restore_best_weights=True)`
/// on the held-out data: where it stopped and what it kept.
#[derive(Debug, Clone, Serialize)]
pub struct EarlyStopRun {
    /// Epochs without improvement tolerated.
    pub patience: usize,
    /// Epochs trained before stopping (all of them when it never stopped).
    pub epochs_run: usize,
    /// The 1-based epoch it stopped at, if it stopped early.
    pub stopped_epoch: Option<usize>,
    /// The 1-based epoch whose weights it restored (the lowest held-out loss it saw).
    pub restored_epoch: Option<usize>,
    /// Held-out loss of the restored model.
    pub val_loss: f64,
    /// Held-out wrong answers of the restored model.
    pub val_wrong: usize,
}

/// Trains `run`'s batch size again from `build`'s same starting weights, this time with
/// Keras's `EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)`
/// watching the held-out set, and measures the model it ends with. Where the lab saw
/// overfitting begin, early stopping halts `patience` epochs after the lowest held-out loss and
/// brings back that epoch's weights.
///
/// # Errors
/// Whatever `build` or `fit` returns.
pub fn catch_overfitting<M: Into<Model>>(
    data: [&Tensor; 4],
    run: &LabRun,
    patience: usize,
    build: impl Fn() -> Result<M>,
) -> Result<EarlyStopRun> {
    let [x, y, vx, vy] = data;
    let mut model: Model = build()?.into();
    if let Some(o) = model.optimizer_mut() {
        o.set_learning_rate(run.learning_rate);
    }
    let mut stop =
        crate::callbacks::EarlyStopping::new().monitor("val_loss").patience(patience).restore_best_weights(true);
    let mut options = FitOptions::new();
    if run.updates_per_epoch != x.batch().div_ceil(run.batch_size) {
        // The run made rounds of equal updates (LabOptions::equal_updates): so does this one.
        options = options.steps_per_epoch(run.updates_per_epoch);
    }
    let options = options
        .batch_size(run.batch_size)
        .epochs(run.epochs.len())
        .validation_data(vx, vy)
        .verbose(0)
        .callback(&mut stop);
    let h = model.fit(x, y, options)?;
    let (val_loss, val_wrong) = Recorder::measure(&mut model, vx, vy, run.batch_size)?;
    Ok(EarlyStopRun {
        patience,
        epochs_run: h.epochs_run(),
        stopped_epoch: stop.stopped_epoch().map(|e| e + 1),
        restored_epoch: stop.best_epoch().map(|e| e + 1),
        val_loss,
        val_wrong,
    })
}

/// Records each epoch: training time, then both sets evaluated in inference mode.
struct Recorder<'a> {
    x: &'a Tensor,
    y: &'a Tensor,
    vx: &'a Tensor,
    vy: &'a Tensor,
    epoch_start: Instant,
    records: Vec<EpochRecord>,
    /// Samples per inference pass: the run's batch size, so that measuring does not grow the
    /// buffers past the training plan.
    batch_size: usize,
}

impl Recorder<'_> {
    /// Mean loss and wrong answers on `x`, `y`, from one inference pass in batches of
    /// `batch_size`.
    fn measure(model: &mut Model, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<(f64, usize)> {
        let pred = model.predict(x, batch_size)?;
        let loss = model.loss().map_or(Ok(f64::NAN), |l| crate::losses::mean_loss(l, &pred, y, None, None))?;
        Ok((loss, x.batch() - count_correct(&pred, y)))
    }
}

impl Callback for Recorder<'_> {
    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, _epoch: usize) -> Result<Control> {
        self.epoch_start = Instant::now();
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        let train_seconds = self.epoch_start.elapsed().as_secs_f64();
        let (train_loss, train_wrong) = Self::measure(ctx.model, self.x, self.y, self.batch_size)?;
        let (val_loss, val_wrong) = Self::measure(ctx.model, self.vx, self.vy, self.batch_size)?;
        // For the callbacks after it (TensorBoard): the held-out figures as validation's.
        logs.set("wrong_answers", train_wrong as f64);
        logs.set("val_loss", val_loss);
        logs.set("val_wrong_answers", val_wrong as f64);
        self.records.push(EpochRecord {
            epoch: epoch + 1,
            train_loss,
            train_wrong,
            val_loss,
            val_wrong,
            train_seconds,
        });
        Ok(Control::Continue)
    }
}

/// How the lab compares batch sizes. See [`run_with`].
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// The batch sizes, in the order to run them.
    pub batch_sizes: Vec<usize>,
    /// Epochs per run (with [`LabOptions::equal_updates`], rounds of equal updates).
    pub epochs: usize,
    /// Give every batch size the same number of weight updates: each epoch becomes a round
    /// of as many updates as the largest batch size makes in one pass (Keras's
    /// `steps_per_epoch`), so smaller batches see fewer samples rather than more updates.
    pub equal_updates: bool,
    /// The linear scaling rule (Goyal et al., 2017): the rate proportional to the batch size,
    /// the built model's rate applying to the largest batch size.
    pub scale_learning_rate: bool,
    /// Write each run for TensorBoard to `DIR/batch_{size}` (its `train` and `validation`
    /// runs: the loss, and the wrong answers measured after each epoch as `wrong_answers`), so
    /// that TensorBoard's run comparison is the tutorial's comparison of batch sizes.
    pub tensorboard: Option<std::path::PathBuf>,
}

impl LabOptions {
    /// Samples an epoch of `batch_size` sees out of `train_samples`: all of them, or with
    /// [`LabOptions::equal_updates`] a round of as many updates as the largest batch size makes
    /// in one pass.
    pub fn samples_per_epoch(&self, train_samples: usize, batch_size: usize) -> usize {
        if !self.equal_updates {
            return train_samples;
        }
        let largest = self.batch_sizes.iter().copied().max().unwrap_or(batch_size);
        train_samples.div_ceil(largest) * batch_size
    }
}

/// Trains a fresh model from `build` once per batch size for `epochs` epochs on `x`, `y`,
/// measuring against the held-out `vx`, `vy` after every epoch. `build` should seed its model
/// so that every run starts from the same weights.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for no batch sizes or 0 epochs; whatever `build` or `fit`
/// returns (bad data, a batch size of 0, ...).
pub fn run<M: Into<Model>>(
    x: &Tensor,
    y: &Tensor,
    vx: &Tensor,
    vy: &Tensor,
    batch_sizes: &[usize],
    epochs: usize,
    build: impl Fn() -> Result<M>,
) -> Result<Vec<LabRun>> {
    let options = LabOptions { batch_sizes: batch_sizes.to_vec(), epochs, ..LabOptions::default() };
    run_with([x, y, vx, vy], &options, build)
}

/// [`run`], with the fair-comparison settings of [`LabOptions`]: `data` is `[x, y, vx, vy]`.
/// Each run also records the memory its batch size costs: the engine's plan, and the
/// process's resident memory measured around the run.
///
/// # Errors
/// As [`run`].
pub fn run_with<M: Into<Model>>(
    data: [&Tensor; 4],
    options: &LabOptions,
    build: impl Fn() -> Result<M>,
) -> Result<Vec<LabRun>> {
    let [x, y, vx, vy] = data;
    let (batch_sizes, epochs) = (&options.batch_sizes, options.epochs);
    if epochs == 0 {
        return Err(crate::Error::invalid("epochs", 0, "at least one epoch to compare"));
    }
    if batch_sizes.is_empty() {
        return Err(crate::Error::invalid("batch_sizes", "none", "at least one batch size"));
    }
    if let Some(&b) = batch_sizes.iter().find(|&&b| b == 0) {
        return Err(crate::Error::invalid("batch_sizes", b, "positive batch sizes"));
    }
    let largest = *batch_sizes.iter().max().expect("not empty");
    let round = x.batch().div_ceil(largest);
    // One step at the largest batch size first, unmeasured: what a process pays once (the
    // kernels' thread pool and packing buffers) is then not charged to the first run.
    let mut warm: Model = build()?.into();
    let rows = largest.min(x.batch());
    warm.train_on_batch(&x.slice_rows(0, rows), &y.slice_rows(0, rows))?;
    warm.predict(&vx.slice_rows(0, rows.min(vx.batch())), rows)?;
    // Each batch size's time predicted before any run (products and copies timed here), from
    // the warmed-up model: built, so its shapes are known.
    let predicted: Vec<Option<f64>> = {
        let model = warm;
        let mut rates = Rates::measure();
        batch_sizes
            .iter()
            .map(|&b| {
                let samples = options.samples_per_epoch(x.batch(), b);
                plan_time(&model, b, samples, 1, &mut rates).ok().map(|p| p.seconds_per_epoch)
            })
            .collect()
    };
    let mut runs = Vec::with_capacity(batch_sizes.len());
    for (&batch_size, &predicted_seconds_per_epoch) in batch_sizes.iter().zip(&predicted) {
        crate::bench::release_free_memory();
        let baseline = crate::bench::resident();
        let fresh_peak = crate::bench::reset_peak_rss();
        let mut model: Model = build()?.into();
        let learning_rate = {
            let o = model.optimizer_mut().ok_or_else(|| crate::Error::State("the lab needs compiled models".into()))?;
            if options.scale_learning_rate {
                o.set_learning_rate(o.learning_rate() * batch_size as f32 / largest as f32);
            }
            o.learning_rate()
        };
        let mut rec = Recorder { x, y, vx, vy, epoch_start: Instant::now(), records: Vec::new(), batch_size };
        let mut fit = FitOptions::new().batch_size(batch_size).epochs(epochs).verbose(0);
        if options.equal_updates {
            fit = fit.steps_per_epoch(round);
        }
        // The noise scale where an epoch has the two updates it needs.
        let updates = if options.equal_updates { round } else { x.batch().div_ceil(batch_size) };
        fit = fit.measure_noise_scale(updates >= 2);
        let mut board = options
            .tensorboard
            .as_ref()
            .map(|dir| crate::callbacks::TensorBoard::new(dir.join(format!("batch_{batch_size}"))));
        fit = fit.callback(&mut rec);
        if let Some(tb) = board.as_mut() {
            fit = fit.callback(tb);
        }
        let h = model.fit(x, y, fit)?;
        let memory = model.memory_plan(batch_size)?;
        let rss_growth_bytes = match (baseline, crate::bench::peak_rss(), fresh_peak) {
            (Some(before), Some(peak), true) => Some(peak.saturating_sub(before)),
            _ => None,
        };
        let records = rec.records;
        let total: f64 = records.iter().map(|r| r.train_seconds).sum();
        let val: Vec<f64> = records.iter().map(|r| r.val_loss).collect();
        let train: Vec<f64> = records.iter().map(|r| r.train_loss).collect();
        let best = val.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        runs.push(LabRun {
            batch_size,
            updates_per_epoch: h.steps_per_epoch,
            total_updates: h.weight_updates,
            seconds_per_epoch: total / records.len().max(1) as f64,
            seconds_per_update: total / h.weight_updates.max(1) as f64,
            learning_rate,
            memory,
            planned_bytes: memory.total(),
            rss_growth_bytes,
            peak_rss_bytes: crate::bench::peak_rss(),
            train_samples: x.batch(),
            val_samples: vx.batch(),
            best_val_epoch: best + 1,
            overfitting_from: overfitting_onset(&train, &val).map(|e| e + 1),
            early_stopping: None,
            epochs: records,
            noise_scale: h.last_reported("noise_scale"),
            predicted_seconds_per_epoch,
        });
    }
    Ok(runs)
}
