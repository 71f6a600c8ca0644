//! What the two ways `train` reads data (in memory, `train.rs`; a batch at a time,
//! `mapped.rs`) share: the model the flags describe, the callbacks they ask for, the test
//! line, and the outputs written once training ends.

use super::model_spec::{Architecture, ModelSpec};
use super::task::Task;
use super::train_args::TrainArgs;
use minibatch::callbacks::{
    BackupAndRestore, EarlyStopping, History, Mode, ModelCheckpoint, ReduceLROnPlateau, TensorBoard,
};
use minibatch::{FitOptions, Model, Result};
use serde_json::{json, Value};

/// The callbacks the flags ask for, and what is written once training ends.
pub(super) struct Watchers {
    stopper: EarlyStopping,
    reduce: Option<ReduceLROnPlateau>,
    checkpoint: Option<ModelCheckpoint>,
    backup: Option<BackupAndRestore>,
    tensorboard: Option<TensorBoard>,
}

impl Watchers {
    /// EarlyStopping, ReduceLROnPlateau, ModelCheckpoint and BackupAndRestore as the flags set
    /// them (the backup in `backup_dir`).
    pub(super) fn new(args: &TrainArgs, backup_dir: Option<std::path::PathBuf>) -> Watchers {
        let stopper = EarlyStopping::new()
            .monitor(&args.monitor)
            .patience(args.patience)
            .min_delta(args.min_delta)
            .mode(Mode::Auto)
            .restore_best_weights(args.restore_best_weights)
            .verbose(args.verbose.min(1));
        let reduce = args
            .reduce_lr_patience
            .map(|p| ReduceLROnPlateau::new().monitor(&args.monitor).patience(p).factor(args.reduce_lr_factor));
        let checkpoint = args.checkpoint_dir.as_ref().map(|dir| {
            let path = dir.join("best.safetensors").to_string_lossy().replace('{', "{{").replace('}', "}}");
            let monitor = if args.validation_split > 0.0 { "val_loss" } else { "loss" };
            ModelCheckpoint::new(path).monitor(monitor).save_best_only(true)
        });
        let tensorboard = args.tensorboard.as_ref().map(|dir| {
            TensorBoard::new(dir).histogram_freq(1).text("run/command", &format!("    {}", super::command_line()))
        });
        Watchers { stopper, reduce, checkpoint, backup: backup_dir.map(BackupAndRestore::new), tensorboard }
    }

    /// The run's settings (`key`, `value` rows), shown in TensorBoard's Text tab under
    /// `run/config` when `--tensorboard` is given.
    pub(super) fn describe(&mut self, config: &[(String, String)]) {
        if let Some(tb) = self.tensorboard.take() {
            let rows: String = config.iter().map(|(k, v)| format!("| {k} | {} |\n", v.replace('|', "\\|"))).collect();
            self.tensorboard = Some(tb.text("run/config", &format!("| setting | value |\n|---|---|\n{rows}")));
        }
    }

    /// `options` with the callbacks.
    pub(super) fn attach<'a>(&'a mut self, args: &TrainArgs, mut options: FitOptions<'a>) -> FitOptions<'a> {
        if args.early_stopping {
            options = options.callback(&mut self.stopper);
        }
        if let Some(r) = self.reduce.as_mut() {
            options = options.callback(r);
        }
        if let Some(c) = self.checkpoint.as_mut() {
            options = options.callback(c);
        }
        if let Some(t) = self.tensorboard.as_mut() {
            options = options.callback(t);
        }
        // Last, so that the History it backs up holds every key the others add.
        if let Some(b) = self.backup.as_mut() {
            options = options.callback(b);
        }
        options
    }

    /// After training: the model saved, as the flags ask. Returns the epoch early stopping
    /// stopped at, if it did. The model is the first output written: a cheap output that
    /// fails later (see [`Watchers::plot`]) never costs the expensive one.
    pub(super) fn finish(&self, args: &TrainArgs, model: &Model) -> Result<Option<usize>> {
        let stopped = if args.early_stopping { self.stopper.stopped_epoch() } else { None };
        if let Some(path) = &args.save {
            model.save(path)?;
            if args.verbose > 0 {
                println!("Saved the model to {}", path.display());
            }
        }
        Ok(stopped)
    }

    /// The learning curves drawn, as the flags ask.
    pub(super) fn plot(&self, args: &TrainArgs, history: &History, stopped: Option<usize>) -> Result<()> {
        if let Some(path) = &args.plot {
            minibatch::plot::plot_history(history, stopped, path)?;
            if args.verbose > 0 {
                println!("Drew the learning curves to {}", path.display());
            }
        }
        Ok(())
    }

    /// The `--history` file, if asked for, with the test figures.
    pub(super) fn write_history(&self, args: &TrainArgs, history: &History, test: Value) -> Result<()> {
        if let Some(path) = &args.history {
            let (best, stopped) = if args.early_stopping {
                (self.stopper.best_epoch(), self.stopper.stopped_epoch())
            } else {
                (best_val_loss_epoch(history), None)
            };
            let report = history_json(history, best, stopped, test);
            let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
            minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
        }
        Ok(())
    }
}

/// The model the flags describe, for samples of `sample_shape` and `task`, beginning with
/// `standardize` and ending with `unstandardize` (the targets' statistics) when given;
/// `vocabulary`: the samples are token ids below it.
pub(super) fn build_model(
    args: &TrainArgs,
    sample_shape: &[usize],
    task: &Task,
    standardize: Option<&minibatch::layers::Normalization>,
    unstandardize: Option<&minibatch::layers::Normalization>,
    vocabulary: Option<usize>,
) -> Result<Model> {
    if let Some(path) = &args.init {
        // A model from a file: its architecture and weights, frozen and compiled as asked.
        let mut model = Model::load(path)?;
        freeze_and_compile(&mut model, args, task)?;
        return Ok(model);
    }
    let augments = match &args.augment {
        Some(text) => super::augment::parse(text)?,
        None => Vec::new(),
    };
    if !augments.is_empty() && sample_shape.len() != 3 {
        return Err(minibatch::Error::invalid(
            "--augment",
            format!("samples of shape {sample_shape:?}"),
            "images [height, width, channels]: an image folder, or MNIST with --model convnet or resnet",
        ));
    }
    let inner_shape = super::augment::output_shape(sample_shape, &augments);
    let spec = ModelSpec {
        kind: Architecture::parse(&args.model)?,
        hidden: &args.hidden,
        activation: &args.activation,
        dropout: args.dropout,
        seed: args.seed,
        standardize,
        sync_batch_norm: args.sync_batch_norm,
        unstandardize,
        vocabulary,
    };
    let inner = spec.architecture(&inner_shape, task)?;
    let mut model = if augments.is_empty() {
        inner
    } else {
        // The augmentations in front, the architecture after them as one nested model.
        let front = minibatch::Sequential::new().seed(args.seed).input_shape(sample_shape).named("augmented");
        super::augment::add_layers(front, &augments).add(inner).into()
    };
    freeze_and_compile(&mut model, args, task)?;
    Ok(model)
}

/// Keras's default batch size.
pub(super) const DEFAULT_BATCH: usize = 32;

/// The batch size `train` trains `model` at: `--batch-size`, else 32; under `--memory-budget`
/// a `--batch-size` whose memory plan does not fit is refused, and without one the batch is 32
/// or the largest that fits, whichever is smaller. Returns the line saying so, for the
/// command's opening lines.
///
/// # Errors
/// [`minibatch::Error::InvalidArgument`] naming `--batch-size` with the largest that fits; as
/// [`Model::max_batch_size`] (a budget not even one sample fits).
pub(super) fn batch_size(args: &TrainArgs, model: &Model) -> Result<(usize, Option<String>)> {
    let Some(text) = &args.memory_budget else { return Ok((args.batch_size.unwrap_or(DEFAULT_BATCH), None)) };
    let budget = super::checks::bytes("--memory-budget", text)?;
    let largest = model.max_batch_size(budget)?;
    let planned = |b: usize| model.memory_plan(b).map(|p| super::lab::mib(p.total()));
    let chosen = match args.batch_size {
        Some(b) if b > largest => {
            return Err(minibatch::Error::invalid(
                "--batch-size",
                format!("{b} (planned {})", planned(b)?),
                format!("a batch size whose memory plan fits --memory-budget {text}: at most {largest}"),
            ))
        }
        Some(b) => b,
        None => DEFAULT_BATCH.min(largest),
    };
    let why = match args.batch_size {
        Some(_) => "--batch-size",
        None if chosen < DEFAULT_BATCH => "the largest that fits",
        None => "Keras's default; --batch-size up to the largest",
    };
    let note = format!(
        "memory budget {text}: the largest batch size whose plan fits is {largest}; training at {chosen} ({why}; \
         planned {})",
        planned(chosen)?
    );
    Ok((chosen, Some(note)))
}

/// `--lr-find` and `--lr-find-only`: the range test on the training rows `x`, `y` at `batch`
/// (the model returned to its state after), printed, and drawn to `--plot` (beside the
/// learning curves under `--lr-find`). Returns the rate to train at, set on the model's
/// optimizer, or `None` when nothing is to be trained (`--lr-find-only`).
///
/// # Errors
/// As [`minibatch::lab::lr_find`]; [`minibatch::Error::State`] when the sweep was too short
/// to suggest a rate.
pub(super) fn lr_find(
    args: &TrainArgs,
    model: &mut Model,
    x: &minibatch::Tensor,
    y: &minibatch::Tensor,
    batch: usize,
) -> Result<Option<f32>> {
    let (found, _) = super::lab::range_test(model, x, y, batch, args.lr_find_steps, args.seed)?;
    if let Some(plot) = &args.plot {
        let path = if args.lr_find { super::train_args::lr_find_plot(plot) } else { plot.clone() };
        minibatch::lab::lr_find_figure(&found).save(&path)?;
        println!("Drew the range test to {}", path.display());
    }
    if args.lr_find_only {
        return Ok(None);
    }
    let rate = found.recommended().ok_or_else(|| {
        minibatch::Error::State(format!(
            "the range test's {} steps suggest no learning rate: give more --lr-find-steps, or --learning-rate",
            found.rates.len()
        ))
    })? as f32;
    model.optimizer_mut().expect("compiled").set_learning_rate(rate);
    println!("Training at learning rate {rate} (the range test's suggestion)");
    Ok(Some(rate))
}

/// The targets' scaler `train` ends a model with (see [`super::data::target_scaler`]): for
/// quantities, on a CSV's or NPZ's or NPY's targets, for `--model mlp` and `lstm` built here
/// (not `--init`), unless `--no-standardize-targets`. `y` holds the rows training learns from.
pub(super) fn target_scaler(
    args: &TrainArgs,
    task: &Task,
    y: &minibatch::Tensor,
) -> Result<Option<(minibatch::layers::Normalization, String)>> {
    let applies = !task.is_classifier() && !args.no_standardize_targets && super::train_args::standardizes(args);
    applies.then(|| super::data::target_scaler(y)).transpose()
}

/// The layers `--freeze`/`--freeze-until` name frozen, then the model compiled with the
/// flags' optimizer, learning rate and `--metrics` beside the task's.
fn freeze_and_compile(model: &mut Model, args: &TrainArgs, task: &Task) -> Result<()> {
    if let Some(policy) = super::checks::precision(args.precision.as_deref())? {
        model.dtype_policy(policy);
    }
    freeze(model, args)?;
    let lr = args.learning_rate.unwrap_or(f32::NAN);
    super::model_spec::compile(model, task, &args.optimizer, lr, &args.metrics)
}

/// `--freeze` and `--freeze-until`: the named layers, or every layer before the named one,
/// frozen before the model is compiled.
///
/// # Errors
/// A name that is not a layer of the model, listing the model's layers.
fn freeze(model: &mut Model, args: &TrainArgs) -> Result<()> {
    let names: Vec<String> = model.layers().iter().map(|l| l.name().to_string()).collect();
    let unknown = |flag: &'static str, name: &str| {
        minibatch::Error::invalid(flag, name, format!("a layer of the model: {}", names.join(", ")))
    };
    if let Some(list) = &args.freeze {
        for name in list.split(',').map(str::trim) {
            model.get_layer_mut(name).ok_or_else(|| unknown("--freeze", name))?.set_trainable(false);
        }
    }
    if let Some(until) = &args.freeze_until {
        let until = until.trim();
        let position = names.iter().position(|n| n == until).ok_or_else(|| unknown("--freeze-until", until))?;
        for name in &names[..position] {
            model.get_layer_mut(name).expect("a layer just listed").set_trainable(false);
        }
    }
    Ok(())
}

/// Prints the test loss and the first metric (`Test accuracy: 0.9927 - test loss: 0.0237 (10000
/// test samples)`) and returns them for the History file.
pub(super) fn print_test(model: &Model, logs: &minibatch::callbacks::Logs, samples: usize) -> Value {
    let loss = logs.get("loss").unwrap_or(f64::NAN);
    let metric = model.metrics_names().into_iter().next().filter(|k| k != "loss");
    let loss_name = super::model_spec::loss_label(model);
    let mut figures = serde_json::Map::new();
    figures.insert("loss".into(), json!(loss));
    match metric {
        Some(key) => {
            let value = logs.get(&key).unwrap_or(f64::NAN);
            println!("Test {key}: {value:.4} - test {loss_name}: {loss:.4} ({samples} test samples)");
            figures.insert(key, json!(value));
        }
        None => println!("Test {loss_name}: {loss:.4} ({samples} test samples)"),
    }
    Value::Object(figures)
}

/// `--monitor` names a quantity fit will log: the loss or a metric, `val_`-prefixed only with
/// validation data.
pub(super) fn check_monitor(monitor: &str, model: &Model, validation: bool) -> Result<()> {
    let names = model.metrics_names();
    let mut known: Vec<String> = names.clone();
    if validation {
        known.extend(names.iter().map(|n| format!("val_{n}")));
    }
    if known.iter().any(|k| k == monitor) {
        return Ok(());
    }
    let hint = if monitor.starts_with("val_") && !validation { " (val_ keys need --validation-split)" } else { "" };
    Err(minibatch::Error::invalid("--monitor", monitor, format!("one of {}{hint}", known.join(", "))))
}

/// Warns on stderr, by the flag's name, when `--validation-split` holds out so few of `n`
/// samples (`held`) that the val_ figures, and what watches them, follow noise.
pub(super) fn warn_small_validation(args: &TrainArgs, held: usize, n: usize) {
    const FEW: usize = 10;
    if held < FEW && args.verbose > 0 && minibatch::distributed::is_root() {
        eprintln!(
            "warning: --validation-split {} holds out {held} of {n} samples for validation (fewer than {FEW}): \
             val_ figures from so few samples are noise",
            args.validation_split
        );
    }
}

/// The class of row `row` of a classifier's targets: its index, or its one-hot row's largest
/// (as the stratified split reads it).
fn class_of(y: &minibatch::Tensor, row: usize) -> usize {
    match y.row(row) {
        [index] => *index as usize,
        one_hot => minibatch::tensor::kernels::argmax(one_hot),
    }
}

/// `--class-weight` as a weight per class: `balanced` from the classes' counts over the rows
/// training uses (`n / (classes · count)`, scikit-learn's `compute_class_weight`, over the
/// classes present), or the `CLASS:WEIGHT` pairs given.
///
/// # Errors
/// [`minibatch::Error::InvalidArgument`] naming `--class-weight` for targets that are not
/// classes, a pair that is not `CLASS:WEIGHT`, a class past the task's count, or a weight that
/// is negative or not finite.
pub(super) fn class_weights(
    args: &TrainArgs,
    task: &Task,
    y: &minibatch::Tensor,
    rows: &[usize],
) -> Result<Option<Vec<(usize, f32)>>> {
    let Some(text) = &args.class_weight else { return Ok(None) };
    let invalid = |expected: String| minibatch::Error::invalid("--class-weight", text, expected);
    let count = match task {
        Task::Classes { count } | Task::OneHot { count, .. } => *count,
        _ => return Err(invalid("classes to weigh (the targets are quantities: use sample weights)".into())),
    };
    if text == "balanced" {
        return Ok(Some(minibatch::training::balanced_class_weights(y, rows)));
    }
    let pair = |item: &str| -> Option<(usize, f32)> {
        let (class, weight) = item.trim().split_once(':')?;
        Some((class.trim().parse().ok()?, weight.trim().parse().ok()?))
    };
    let mut table = Vec::new();
    for item in text.split(',') {
        let (class, weight) = pair(item).ok_or_else(|| invalid("balanced, or CLASS:WEIGHT pairs (0:1,1:5)".into()))?;
        if class >= count {
            return Err(invalid(format!("classes 0 to {} (the task has {count})", count - 1)));
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(invalid(format!("weights that are finite and at least 0 (class {class}: {weight})")));
        }
        table.push((class, weight));
    }
    Ok(Some(table))
}

/// Warns (on stderr, whatever `--verbose`) when `--validation-split` leaves a classifier's
/// validation rows without classes the training rows have (one class only, say). A
/// tail split of a file sorted by label (Keras's rule) validates on its last class alone, and
/// `val_` figures then say nothing of the others.
pub(super) fn warn_lopsided_validation(
    args: &TrainArgs,
    task: &Task,
    y: &minibatch::Tensor,
    train: &[usize],
    held: &[usize],
) {
    let count = match task {
        Task::Classes { count } | Task::OneHot { count, .. } => *count,
        _ => return,
    };
    if held.is_empty() || !minibatch::distributed::is_root() {
        return;
    }
    let class = |row: usize| class_of(y, row);
    let (mut trained, mut validated) = (vec![false; count], vec![false; count]);
    train.iter().for_each(|&r| trained[class(r).min(count - 1)] = true);
    held.iter().for_each(|&r| validated[class(r).min(count - 1)] = true);
    let missing: Vec<String> = (0..count).filter(|&c| trained[c] && !validated[c]).map(|c| c.to_string()).collect();
    if missing.is_empty() {
        return;
    }
    let seen = validated.iter().filter(|&&v| v).count();
    let shown = if missing.len() > 10 { format!("{}, …", missing[..10].join(", ")) } else { missing.join(", ") };
    eprintln!(
        "warning: --validation-split {} ({} split) validates on {seen} class(es), none of class(es) {shown}, which \
         training has: val_ figures will not say how the model does on those; --split-mode stratified keeps \
         every class's share",
        args.validation_split, args.split_mode
    );
}

/// The 0-based epoch with the lowest `val_loss`, if validation ran.
fn best_val_loss_epoch(history: &History) -> Option<usize> {
    let v = history.get("val_loss")?;
    let (i, _) = v.iter().enumerate().filter(|(_, x)| x.is_finite()).min_by(|a, b| a.1.total_cmp(b.1))?;
    Some(history.epoch[i])
}

/// The `--history` file: Keras's History plus the run's counts; epochs are 1-based.
fn history_json(history: &History, best: Option<usize>, stopped: Option<usize>, test: Value) -> Value {
    let series: serde_json::Map<String, Value> = history.history.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "history": series,
        "epochs_run": history.epochs_run(),
        "steps_per_epoch": history.steps_per_epoch,
        "weight_updates": history.weight_updates,
        "best_epoch": best.map(|e| e + 1),
        "stopped_epoch": stopped.map(|e| e + 1),
        "train_samples": history.train_samples,
        "batch_size": history.batch_size,
        "test": test,
    })
}
