//! `minibatch train`: fit a model on a data set, report it, save it.

use super::checks::{self, Files};
use super::data;
use super::model_spec::ModelSpec;
use super::task::Task;
use clap::Args;
use minibatch::callbacks::{BackupAndRestore, EarlyStopping, History, Mode, ModelCheckpoint, ReduceLROnPlateau};
use minibatch::report::TrainingReport;
use minibatch::training::SplitMode;
use minibatch::{datasets, io, FitOptions, Model, Result};
use serde_json::{json, Value};
use std::path::Path;

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Training data: a built-in set (exam, spirals, moons, blobs), mnist:DIR (MNIST IDX files,
    /// raw or .gz, with their test split), FILE.csv (header row, labels in --label-column) or
    /// FILE.npz (arrays x and y, or x_train, y_train, x_test, y_test as keras.datasets stores
    /// them, with that test split).
    #[arg(long, default_value = "spirals")]
    pub data: String,
    /// Test data for a .csv or .npz --data, in the same form.
    #[arg(long)]
    pub test_data: Option<String>,
    /// Hold out this fraction of --data (after a seeded shuffle) as test data.
    #[arg(long)]
    pub test_split: Option<f64>,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Samples per weight update (1 to 16777216).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Passes over the training set, 1 to 1000000 [default: a count that suits the data set:
    /// spirals 60, moons 30, blobs 10, exam 30, files 10].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Fraction of the training samples, taken from the end, held out for validation.
    #[arg(long, default_value_t = 0.0)]
    pub validation_split: f64,
    /// How --validation-split picks its samples: tail (Keras), shuffled or stratified (seeded).
    #[arg(long, default_value = "tail")]
    pub split_mode: String,
    /// sgd, adam, adamw, rmsprop, nadam, adamax, adagrad, adadelta or lion (Keras's defaults).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate [default: the optimizer's, as Keras: 0.001 for adam].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// The loss, by Keras's name (mse, mae, huber, binary_crossentropy, ...) [default: from
    /// the targets: sparse_categorical_crossentropy for class indices (whole numbers from 0),
    /// categorical_crossentropy for one-hot rows, mean_squared_error (with the mae metric)
    /// for anything else].
    #[arg(long)]
    pub loss: Option<String>,
    /// mlp (Dense layers: --hidden, --activation, --dropout), convnet (Keras's Simple MNIST
    /// convnet: Conv2D 32 and 64, max pooling, Dropout 0.5; for images), lstm (LSTM(128)
    /// over the rows of each image, or over (time, features) samples), transformer (a 2-block
    /// Transformer encoder over the rows: attention, residual Adds, LayerNormalization) or
    /// resnet (a residual convnet with BatchNormalization; for images). The last two are
    /// functional models.
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Hidden layer sizes, comma-separated (e.g. 64,64), each 1 to 1048576.
    #[arg(long, default_value = "64,64", value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Dropout rate after each hidden layer (0 for none).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Seed of the data, the weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the monitored quantity stops improving.
    #[arg(long)]
    pub early_stopping: bool,
    /// Epochs without improvement before stopping (0 to 1000000).
    #[arg(long, default_value_t = 0)]
    pub patience: usize,
    /// Quantity early stopping watches.
    #[arg(long, default_value = "val_loss")]
    pub monitor: String,
    /// Smallest change that counts as an improvement.
    #[arg(long, default_value_t = 0.0)]
    pub min_delta: f64,
    /// Restore the weights of the best epoch at the end.
    #[arg(long)]
    pub restore_best_weights: bool,
    /// Reduce the learning rate when --monitor has not improved for this many epochs, 0 to
    /// 1000000 (ReduceLROnPlateau) [default: off].
    #[arg(long)]
    pub reduce_lr_patience: Option<usize>,
    /// The factor ReduceLROnPlateau multiplies the learning rate by.
    #[arg(long, default_value_t = 0.1)]
    pub reduce_lr_factor: f32,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 1)]
    pub verbose: u8,
    /// Write the history and test results as JSON to this file.
    #[arg(long)]
    pub history: Option<std::path::PathBuf>,
    /// Draw the learning curves (loss and accuracy per epoch, training and validation, the best
    /// and early-stopping epochs marked) to this file: .png or .svg.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Write a self-contained HTML report (configuration, outcome, learning curves, every
    /// epoch) to DIR/index.html.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Save the trained model to this file (safetensors with the architecture; see
    /// `minibatch evaluate`, `predict`, `summary`).
    #[arg(long)]
    pub save: Option<std::path::PathBuf>,
    /// Keep DIR/best.safetensors (the best epoch by val_loss, or loss without validation) and
    /// a backup of every completed epoch in DIR/backup, deleted when training completes.
    #[arg(long)]
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Continue an interrupted run from the backup in --checkpoint-dir (starts afresh when
    /// there is none). Same command, same seed and threads: the same final weights, bit for bit.
    #[arg(long)]
    pub resume: bool,
    /// Threads for matrix products [default: MINIBATCH_THREADS, else all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Resize an image folder's images to HEIGHTxWIDTH, each side 1 to 16384 (Keras's
    /// `image_size`) [default: each image's own size, which must be the same for all].
    #[arg(long)]
    pub image_size: Option<String>,
    /// An image folder's channels: rgb (Keras's default), grayscale or rgba [default: rgb].
    #[arg(long)]
    pub color_mode: Option<String>,
    /// Keep a CSV's or NPZ's features as they are. By default `--model mlp` and `lstm` begin
    /// with a Normalization layer adapted on the training rows only (not the validation or test
    /// rows), saved in the model so that evaluate and predict standardize raw data the same way.
    #[arg(long)]
    pub no_standardize: bool,
    /// Augment images in training (Keras's augmentation layers, saved in the model and
    /// inactive in evaluate and predict): comma-separated flip[:horizontal|vertical],
    /// rotate:F (a fraction of a turn), translate:F, zoom:F, contrast:F, crop:HxW.
    #[arg(long)]
    pub augment: Option<String>,
    /// The labels of `--data x.npy` in an NPY file: the inputs are then read
    /// a batch at a time (a file larger than memory trains with memory bounded by the batch).
    #[arg(long)]
    pub labels: Option<std::path::PathBuf>,
    /// Background threads reading batches ahead of the training step (with --labels; 0 to
    /// 64).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Under mpirun, normalize --model resnet's BatchNormalization layers by the statistics
    /// of the whole global batch rather than each process's shard (Keras's synchronized=True).
    #[arg(long)]
    pub sync_batch_norm: bool,
}

/// Without --threads, processes that mpirun started on the same machine share its cores: each
/// takes its part (`None` for one process per machine).
fn shared_cores() -> Option<usize> {
    let local = minibatch::distributed::local_size()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (local > 1).then(|| (cores / local).max(1))
}

/// `train`'s flags, checked before any work or output.
fn check_train_args(args: &TrainArgs) -> Result<()> {
    if let Some(lr) = args.learning_rate {
        checks::positive("--learning-rate", lr)?;
    }
    checks::fraction("--dropout", args.dropout, true)?;
    checks::fraction("--validation-split", args.validation_split, true)?;
    if let Some(split) = args.test_split {
        checks::fraction("--test-split", split, false)?;
    }
    checks::finite("--min-delta", args.min_delta)?;
    checks::fraction("--reduce-lr-factor", args.reduce_lr_factor, true)?;
    checks::count("--batch-size", args.batch_size, 1, checks::MAX_BATCH)?;
    if let Some(e) = args.epochs {
        checks::count("--epochs", e, 1, checks::MAX_EPOCHS)?;
    }
    checks::counts("--hidden", &args.hidden, 1, checks::MAX_UNITS)?;
    checks::count("--patience", args.patience, 0, checks::MAX_EPOCHS)?;
    if let Some(p) = args.reduce_lr_patience {
        checks::count("--reduce-lr-patience", p, 0, checks::MAX_EPOCHS)?;
    }
    checks::threads(args.threads)?;
    if args.workers > 64 {
        return Err(minibatch::Error::invalid("--workers", args.workers, "0 to 64 background threads"));
    }
    checks::chart_file("--plot", args.plot.as_deref())?;
    // Flags that only an image folder reads are refused elsewhere, rather than ignored.
    if !Path::new(&args.data).is_dir() || args.labels.is_some() {
        for (flag, given) in [("--image-size", &args.image_size), ("--color-mode", &args.color_mode)] {
            if let Some(value) = given {
                return Err(minibatch::Error::invalid(
                    flag,
                    value,
                    format!(
                        "a flag for an image folder (--data DIR of class folders); --data {} is not one",
                        args.data
                    ),
                ));
            }
        }
    }
    if let Some(mode) = &args.color_mode {
        io::ColorMode::from_name(mode)?;
    }
    image_size(args)?;
    if args.verbose > 2 {
        return Err(minibatch::Error::invalid("--verbose", args.verbose, "0, 1 or 2"));
    }
    Files::default()
        .input("--data", Some(Path::new(&args.data)))
        .input("--test-data", args.test_data.as_deref().map(Path::new))
        .input("--labels", args.labels.as_deref())
        .output("--save", args.save.clone())
        .output("--history", args.history.clone())
        .output("--plot", args.plot.clone())
        .output_folder("--report", args.report.as_deref(), &["index.html"])
        .output_folder(
            "--checkpoint-dir",
            args.checkpoint_dir.as_deref(),
            &["best.safetensors", "backup/backup.safetensors"],
        )
        .check()
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let (clock, started) = (std::time::Instant::now(), minibatch::report::timestamp());
    check_train_args(args)?;
    // Over several processes, rank 0 alone writes the model, History, plot and report (the
    // library's checkpoints and backups see to themselves).
    let worker;
    let args = if minibatch::distributed::is_root() {
        args
    } else {
        worker = TrainArgs { save: None, history: None, plot: None, report: None, ..args.clone() };
        &worker
    };
    if let Some(n) = args.threads.or_else(shared_cores) {
        minibatch::tensor::kernels::set_num_threads(n);
    }
    let backup_dir = args.checkpoint_dir.as_ref().map(|d| d.join("backup"));
    match (&backup_dir, args.resume) {
        (None, true) => {
            return Err(minibatch::Error::invalid("--resume", "set", "--checkpoint-dir DIR naming where the backup is"))
        }
        (Some(dir), false) if BackupAndRestore::exists(dir) => {
            return Err(minibatch::Error::State(format!(
                "{} holds the backup of an unfinished run: pass --resume to continue it, or remove it to start afresh",
                dir.display()
            )))
        }
        _ => {}
    }
    if let Some(labels) = &args.labels {
        return super::mapped::train_mapped(args, labels, backup_dir);
    }
    let data = load_data(args)?;
    let epochs = args.epochs.unwrap_or(match args.data.as_str() {
        "spirals" => 60,
        "moons" | "exam" => 30,
        _ => 10,
    });
    let mut ys = vec![&data.y];
    ys.extend(data.test.as_ref().map(|(_, y)| y));
    let task = Task::infer(&ys, args.loss.as_deref())?;

    let split_mode = split_mode(args)?;
    // The rows fit will train on (the split it will make, checked now: before the model is
    // built or printed).
    let train_rows = if args.validation_split > 0.0 {
        let (train, held) = minibatch::training::split_rows(&data.y, args.validation_split, split_mode, args.seed)?;
        warn_small_validation(args, held.len(), data.x.batch());
        train
    } else {
        (0..data.x.batch()).collect()
    };
    let data = if matches!(args.model.as_str(), "convnet" | "resnet") { data::with_channel_axis(data)? } else { data };
    // Standardize a file's features on the rows fit will train on (not its validation rows).
    let standardizer =
        if !args.no_standardize && data::is_file(&args.data) && matches!(args.model.as_str(), "mlp" | "lstm") {
            Some(data::standardizer(&data.x, &train_rows)?)
        } else {
            None
        };
    let mut model = build_model(args, &data.x.shape()[1..], &task, standardizer.as_ref().map(|(n, _)| n))?;
    // Everything fit would refuse, refused now: before anything is printed.
    model.check_training_data(&data.x, &data.y)?;
    if let Some((x, y)) = &data.test {
        model.check_training_data(x, y)?;
    }
    if args.early_stopping || args.reduce_lr_patience.is_some() {
        check_monitor(&args.monitor, &model, args.validation_split > 0.0)?;
    }
    if let Some(fraction) = args.test_split {
        let rows = data.x.batch() + data.test.as_ref().map_or(0, |(x, _)| x.batch());
        let split = data::RecordedSplit::new(&args.data, rows, fraction, args.seed)?;
        model.set_metadata("test_split", serde_json::to_value(&split).expect("plain values"));
    }
    if !data.class_names.is_empty() {
        model.set_metadata("class_names", json!(data.class_names));
    }
    if args.data.to_ascii_lowercase().ends_with(".csv") {
        // evaluate and predict read a CSV's features by position: the header is kept to
        // check theirs against.
        model.set_metadata("csv_columns", json!(io::csv_header(&args.data)?));
    }
    if !data.categories.is_empty() {
        // evaluate and predict encode the string columns through the same lookups.
        model.set_metadata("string_columns", serde_json::to_value(&data.categories).expect("plain values"));
    }
    if Path::new(&args.data).is_dir() {
        // evaluate and predict read a folder as train did.
        if let Some(size) = image_size(args)? {
            model.set_metadata("image_size", json!(size));
        }
        model.set_metadata("color_mode", json!(color_mode_name(args)));
    }
    // Over several processes: a global batch they share evenly, refused before any output.
    let world = minibatch::distributed::world();
    minibatch::distributed::check_global_batch(&*world, args.batch_size, args.batch_size.min(train_rows.len()))?;
    if args.verbose > 0 {
        let opt =
            model.optimizer().map_or(String::new(), |o| format!("{} (learning rate {})", o.name(), o.learning_rate()));
        println!("{}: {} training samples, {}; {opt}", args.data, data.x.batch(), task.describe());
        if !data.categories.is_empty() {
            let columns: Vec<String> =
                data.categories.iter().map(|(c, l)| format!("{c} ({} categories)", l.vocabulary_size() - 1)).collect();
            println!(
                "{}: string columns one-hot encoded through StringLookup (index 0 for a category not seen): {}",
                args.data,
                columns.join(", ")
            );
        }
        if let Some((_, note)) = &standardizer {
            println!("{}: {note}", args.data);
        }
        print!("{}", model.summary()?);
    }

    let mut watchers = Watchers::new(args, backup_dir);
    let options = FitOptions::new()
        .batch_size(args.batch_size)
        .epochs(epochs)
        .validation_split(args.validation_split)
        .validation_split_mode(split_mode)
        .verbose(args.verbose);
    let history = model.fit(&data.x, &data.y, watchers.attach(args, options))?;
    let stopped = watchers.finish(args, &model)?;
    // The cheaper outputs: each is tried even when one before it fails (the first error is
    // returned at the end).
    let plotted = watchers.plot(args, &history, stopped);
    let test = match &data.test {
        Some((x, y)) => {
            let logs = model.evaluate(x, y, 256)?;
            print_test(&model, &logs, x.batch())
        }
        None => {
            println!("No test data: give --test-data or --test-split to evaluate on held-out samples.");
            Value::Null
        }
    };

    let reported = (|| -> Result<()> {
        let Some(dir) = &args.report else { return Ok(()) };
        let test_figures: Vec<(String, f64)> = match &test {
            Value::Object(m) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect(),
            _ => Vec::new(),
        };
        let config = train_config(args, epochs, &model);
        let summary = model.summary()?;
        let shape = |t: &minibatch::Tensor| format!("{:?}", t.shape());
        let mut rows = vec![
            ("source".to_string(), args.data.clone()),
            ("training inputs".into(), shape(&data.x)),
            ("training targets".into(), shape(&data.y)),
            ("task".into(), task.describe()),
        ];
        if let Some((x, y)) = &data.test {
            rows.push(("test inputs".into(), shape(x)));
            rows.push(("test targets".into(), shape(y)));
        }
        let mut report = TrainingReport::new(&config, &history)
            .stopped_epoch(stopped)
            .test(&test_figures)
            .command(&super::command_line(), &started)
            .data(rows)
            .summary(&summary)
            .wall_time(clock.elapsed().as_secs_f64());
        if task.is_classifier() {
            let classes = task.units().max(2);
            let names: Vec<String> =
                (0..classes).map(|c| data.class_names.get(c).cloned().unwrap_or_else(|| c.to_string())).collect();
            let count = |y: &minibatch::Tensor| class_counts(y, classes);
            let mut sets = vec!["training".to_string()];
            let mut counts = vec![count(&data.y)];
            if let Some((x, y)) = &data.test {
                sets.push("test".into());
                counts.push(count(y));
                let pred = model.predict(x, 256)?;
                report = report.confusion(&names, &minibatch::metrics::confusion_matrix(&pred, y));
            }
            report = report.class_balance(&names, &sets, &counts);
        }
        let path = report.build()?.write(dir)?;
        if args.verbose > 0 {
            println!("Wrote the report to {}", path.display());
        }
        Ok(())
    })();
    let written = watchers.write_history(args, &history, test);
    plotted.and(reported).and(written)
}

/// The callbacks the flags ask for, and what is written once training ends.
pub(super) struct Watchers {
    stopper: EarlyStopping,
    reduce: Option<ReduceLROnPlateau>,
    checkpoint: Option<ModelCheckpoint>,
    backup: Option<BackupAndRestore>,
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
        Watchers { stopper, reduce, checkpoint, backup: backup_dir.map(BackupAndRestore::new) }
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

/// The settings of a `train` run, for its report.
fn train_config(args: &TrainArgs, epochs: usize, model: &Model) -> Vec<(String, String)> {
    let optimizer =
        model.optimizer().map_or(String::new(), |o| format!("{}, learning rate {}", o.name(), o.learning_rate()));
    let mut config = vec![
        ("data", args.data.clone()),
        (
            "test data",
            args.test_data
                .clone()
                .or(args.test_split.map(|f| format!("{f} of --data")))
                .unwrap_or("the source's own".into()),
        ),
        ("batch size", args.batch_size.to_string()),
        ("epochs", epochs.to_string()),
        ("validation split", format!("{} ({})", args.validation_split, args.split_mode)),
        ("optimizer", optimizer),
        ("hidden layers", format!("{:?}, {}, dropout {}", args.hidden, args.activation, args.dropout)),
        ("parameters", model.count_params().to_string()),
        ("seed", args.seed.to_string()),
        ("threads", minibatch::tensor::kernels::num_threads().to_string()),
    ];
    if args.early_stopping {
        let es = format!(
            "monitor {}, patience {}, min_delta {}, restore best weights: {}",
            args.monitor, args.patience, args.min_delta, args.restore_best_weights
        );
        config.push(("early stopping", es));
    }
    config.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The training data and its test split, from --data, --test-data and --test-split.
pub fn load_data(args: &TrainArgs) -> Result<io::Loaded> {
    let image_size = image_size(args)?;
    let color_mode = io::ColorMode::from_name(color_mode_name(args))?;
    let options = io::LoadOptions {
        label_column: &args.label_column,
        seed: args.seed,
        image_size,
        color_mode,
        classes: None,
        categories: None,
    };
    let mut data = io::load_with(&args.data, &options)?;
    if let Some(source) = &args.test_data {
        if args.data.to_ascii_lowercase().ends_with(".csv") && source.to_ascii_lowercase().ends_with(".csv") {
            let expected = io::csv_header(&args.data)?;
            io::check_csv_columns(Path::new(source), &io::csv_header(source)?, &expected, &args.label_column)?;
        }
        // Label names number, and string columns encode, as in the training data.
        let names = Some(&data.class_names[..]).filter(|n| !n.is_empty());
        let categories = Some(&data.categories[..]).filter(|c| !c.is_empty());
        let t = io::load_with(source, &io::LoadOptions { classes: names, categories, ..options })?;
        data.test = Some((t.x, t.y));
    }
    if let Some(fraction) = args.test_split {
        let ((x, y), test) = datasets::train_test_split(&data.x, &data.y, fraction, args.seed)?;
        data = io::Loaded { x, y, test: Some(test), class_names: data.class_names, categories: data.categories };
    }
    Ok(data)
}

/// Samples per class in targets `y`: class indices (0/1 for a binary target), or one-hot
/// rows.
fn class_counts(y: &minibatch::Tensor, classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for row in y.data().chunks(y.row_len().max(1)) {
        let class =
            if row.len() == 1 { row[0].round().max(0.0) as usize } else { minibatch::tensor::kernels::argmax(row) };
        if let Some(c) = counts.get_mut(class) {
            *c += 1;
        }
    }
    counts
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

/// `--color-mode`, or Keras's default `rgb`.
fn color_mode_name(args: &TrainArgs) -> &str {
    args.color_mode.as_deref().unwrap_or("rgb")
}

/// `--image-size`, when given, as (height, width).
fn image_size(args: &TrainArgs) -> Result<Option<(usize, usize)>> {
    args.image_size.as_deref().map(|t| data::image_size("--image-size", t)).transpose()
}

/// The model the flags describe, for samples of `sample_shape` and `task`, beginning with
/// `standardize` when given.
pub(super) fn build_model(
    args: &TrainArgs,
    sample_shape: &[usize],
    task: &Task,
    standardize: Option<&minibatch::layers::Normalization>,
) -> Result<Model> {
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
        kind: &args.model,
        hidden: &args.hidden,
        activation: &args.activation,
        dropout: args.dropout,
        seed: args.seed,
        standardize,
        sync_batch_norm: args.sync_batch_norm,
    };
    let inner = spec.architecture(&inner_shape, task)?;
    let mut model = if augments.is_empty() {
        inner
    } else {
        // The augmentations in front, the architecture after them as one nested model.
        let front = minibatch::Sequential::new().seed(args.seed).input_shape(sample_shape).named("augmented");
        super::augment::add_layers(front, &augments).add(inner).into()
    };
    super::model_spec::compile(&mut model, task, &args.optimizer, args.learning_rate.unwrap_or(f32::NAN))?;
    Ok(model)
}

/// Prints the test loss and the first metric (`Test accuracy: 0.9927 - test loss: 0.0237 (10000
/// test samples)`) and returns them for the History file.
pub(super) fn print_test(model: &Model, logs: &minibatch::callbacks::Logs, samples: usize) -> Value {
    let loss = logs.get("loss").unwrap_or(f64::NAN);
    let metric = model.metrics_names().into_iter().next().filter(|k| k != "loss");
    let mut figures = serde_json::Map::new();
    figures.insert("loss".into(), json!(loss));
    match metric {
        Some(key) => {
            let value = logs.get(&key).unwrap_or(f64::NAN);
            println!("Test {key}: {value:.4} - test loss: {loss:.4} ({samples} test samples)");
            figures.insert(key, json!(value));
        }
        None => println!("Test loss: {loss:.4} ({samples} test samples)"),
    }
    Value::Object(figures)
}

/// `--split-mode` as a [`SplitMode`].
pub(super) fn split_mode(args: &TrainArgs) -> Result<SplitMode> {
    match args.split_mode.as_str() {
        "tail" => Ok(SplitMode::Tail),
        "shuffled" => Ok(SplitMode::Shuffled),
        "stratified" => Ok(SplitMode::Stratified),
        other => Err(minibatch::Error::UnknownName {
            kind: "split mode",
            name: other.into(),
            known: vec!["tail", "shuffled", "stratified"],
        }),
    }
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
