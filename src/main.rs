//! The `minibatch` command: a thin shell over the library.

use clap::{Args, Parser, Subcommand};
use minibatch::callbacks::{BackupAndRestore, EarlyStopping, History, Mode, ModelCheckpoint, ReduceLROnPlateau};
use minibatch::layers::{Dense, Dropout, Flatten, Reshape, LSTM};
use minibatch::training::SplitMode;
use minibatch::{datasets, io, optimizers, FitOptions, Model, Result, Sequential, Tensor};

/// The architectures `train --model` and `lab` build.
const MODELS: [&str; 5] = ["mlp", "convnet", "lstm", "transformer", "resnet"];
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

mod cli;
use cli::checks::{self, Files};

#[derive(Parser)]
#[command(name = "minibatch", version, about = "Train neural networks the Keras way: fit(x, y, batch_size, epochs).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP on a data set and report its accuracy on the held-out test split.
    #[command(allow_negative_numbers = true)]
    Train(Box<TrainArgs>),
    /// Measure training throughput of the Keras MNIST MLP (784-512-512-10, RMSprop) per batch size.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// The tutorial's experiment: the same model and data once per batch size, side by side.
    #[command(allow_negative_numbers = true)]
    Lab(Box<LabArgs>),
    /// Evaluate a saved model: print its loss and metrics on data.
    #[command(allow_negative_numbers = true)]
    Evaluate(EvaluateArgs),
    /// Write a saved model's predictions for data (CSV or NPY).
    #[command(allow_negative_numbers = true)]
    Predict(PredictArgs),
    /// Print a saved model's layers, parameter counts and training configuration.
    Summary(SummaryArgs),
}

/// What evaluate and predict share: the model file and the data.
#[derive(Args)]
struct ModelAndData {
    /// A model file written by `train --save` (or `Model::save`).
    #[arg(long)]
    model: std::path::PathBuf,
    /// Data, as for train: the test split of a built-in set or mnist:DIR, or the whole of a
    /// FILE.csv or FILE.npz (predict reads a CSV without its label column too).
    #[arg(long)]
    data: String,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Seed of a built-in data set (as given to train).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
}

#[derive(Args)]
struct EvaluateArgs {
    #[command(flatten)]
    input: ModelAndData,
    /// Also write the figures, unrounded, as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct PredictArgs {
    #[command(flatten)]
    input: ModelAndData,
    /// Where to write the predictions: FILE.csv or FILE.npy [default: CSV on standard output].
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SummaryArgs {
    /// A model file written by `train --save` (or `Model::save`).
    #[arg(long)]
    model: std::path::PathBuf,
}

#[derive(Args)]
struct LabArgs {
    /// Data, as for train (a built-in set, mnist:DIR, FILE.csv, FILE.npz) [default: exam;
    /// --overfit: moons].
    #[arg(long)]
    data: Option<String>,
    /// Held-out data for a .csv or .npz --data (else --test-split of it is held out).
    #[arg(long)]
    test_data: Option<String>,
    /// Fraction of --data held out when it has no test split of its own.
    #[arg(long, default_value_t = 0.2)]
    test_split: f64,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// The overfitting scenario: few training samples (16 of moons), a wide model, many epochs,
    /// and EarlyStopping catching it. Sets the defaults marked "--overfit".
    #[arg(long)]
    overfit: bool,
    /// Batch sizes to compare, comma-separated [default: 100,10,1; --overfit: 16,4,1].
    #[arg(long, value_delimiter = ',')]
    batch_sizes: Option<Vec<usize>>,
    /// Train on only the first N training samples [default: all; --overfit: 16].
    #[arg(long)]
    train_samples: Option<usize>,
    /// Passes over the training set, the same for every batch size [default: 20; --overfit: 60].
    #[arg(long)]
    epochs: Option<usize>,
    /// sgd, adam, adamw, rmsprop, nadam, adamax, adagrad, adadelta or lion [default: sgd, which
    /// shows the batch-size effect most clearly; --overfit: adam].
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate [default: 0.05; --overfit: 0.01].
    #[arg(long)]
    learning_rate: Option<f32>,
    /// Hidden layer sizes, comma-separated [default: 32; --overfit: 128,128].
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Repeat each run with EarlyStopping (val_loss on the held-out set, this patience,
    /// restore_best_weights) and report where it stopped [default: off; --overfit: 5].
    #[arg(long)]
    early_stopping_patience: Option<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Seed of the data, the weights and the shuffles (the same for every batch size).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Draw the charts (wrong answers per epoch per batch size; training vs held-out loss per
    /// batch size with overfitting marked) to this file: .png or .svg.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// Write a self-contained HTML report (tables and charts) to DIR/index.html.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// mlp (the Keras MNIST MLP, RMSprop), convnet (the Keras MNIST convnet, Adam), lstm
    /// (MNIST rows through LSTM(128), Adam) or transformer (MNIST rows through a 2-block
    /// Transformer encoder, Adam).
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Batch sizes to measure, comma-separated.
    #[arg(long, default_value = "1,32,128,1024", value_delimiter = ',')]
    batch_sizes: Vec<usize>,
    /// Seconds of training per batch size (the best epoch counts).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Samples per epoch (batch size 1 uses an eighth).
    #[arg(long, default_value_t = 8192)]
    samples: usize,
    /// Write the figures as JSON to this file ("-" for standard output, instead of the table).
    #[arg(long)]
    json: Option<String>,
    /// Threads for matrix products [default: MINIBATCH_THREADS, else all cores].
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct TrainArgs {
    /// Training data: a built-in set (exam, spirals, moons, blobs), mnist:DIR (MNIST IDX files,
    /// raw or .gz, with their test split), FILE.csv (header row, labels in --label-column) or
    /// FILE.npz (arrays x and y).
    #[arg(long, default_value = "spirals")]
    data: String,
    /// Test data for a .csv or .npz --data, in the same form.
    #[arg(long)]
    test_data: Option<String>,
    /// Hold out this fraction of --data (after a seeded shuffle) as test data.
    #[arg(long)]
    test_split: Option<f64>,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Samples per weight update.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Passes over the training set [default: a count that suits the data set: spirals 60,
    /// moons 30, blobs 10, exam 30, files 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Fraction of the training samples, taken from the end, held out for validation.
    #[arg(long, default_value_t = 0.0)]
    validation_split: f64,
    /// How --validation-split picks its samples: tail (Keras), shuffled or stratified (seeded).
    #[arg(long, default_value = "tail")]
    split_mode: String,
    /// sgd, adam, adamw, rmsprop, nadam, adamax, adagrad, adadelta or lion (Keras's defaults).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate [default: 0.01 for adam on the built-in data sets, else the optimizer's].
    #[arg(long)]
    learning_rate: Option<f32>,
    /// mlp (Dense layers: --hidden, --activation, --dropout), convnet (Keras's Simple MNIST
    /// convnet: Conv2D 32 and 64, max pooling, Dropout 0.5; for images), lstm (LSTM(128)
    /// over the rows of each image, or over (time, features) samples), transformer (a 2-block
    /// Transformer encoder over the rows: attention, residual Adds, LayerNormalization) or
    /// resnet (a residual convnet with BatchNormalization; for images). The last two are
    /// functional models.
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Hidden layer sizes, comma-separated (e.g. 64,64).
    #[arg(long, default_value = "64,64", value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Dropout rate after each hidden layer (0 for none).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Seed of the data, the weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the monitored quantity stops improving.
    #[arg(long)]
    early_stopping: bool,
    /// Epochs without improvement before stopping.
    #[arg(long, default_value_t = 0)]
    patience: usize,
    /// Quantity early stopping watches.
    #[arg(long, default_value = "val_loss")]
    monitor: String,
    /// Smallest change that counts as an improvement.
    #[arg(long, default_value_t = 0.0)]
    min_delta: f64,
    /// Restore the weights of the best epoch at the end.
    #[arg(long)]
    restore_best_weights: bool,
    /// Reduce the learning rate when --monitor has not improved for this many epochs
    /// (ReduceLROnPlateau) [default: off].
    #[arg(long)]
    reduce_lr_patience: Option<usize>,
    /// The factor ReduceLROnPlateau multiplies the learning rate by.
    #[arg(long, default_value_t = 0.1)]
    reduce_lr_factor: f32,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 1)]
    verbose: u8,
    /// Write the history and test results as JSON to this file.
    #[arg(long)]
    history: Option<std::path::PathBuf>,
    /// Draw the learning curves (loss and accuracy per epoch, training and validation, the best
    /// and early-stopping epochs marked) to this file: .png or .svg.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// Write a self-contained HTML report (configuration, outcome, learning curves, every
    /// epoch) to DIR/index.html.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Save the trained model to this file (safetensors with the architecture; see
    /// `minibatch evaluate`, `predict`, `summary`).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// Keep DIR/best.safetensors (the best epoch by val_loss, or loss without validation) and
    /// a backup of every completed epoch in DIR/backup, deleted when training completes.
    #[arg(long)]
    checkpoint_dir: Option<std::path::PathBuf>,
    /// Continue an interrupted run from the backup in --checkpoint-dir (starts afresh when
    /// there is none). Same command, same seed and threads: the same final weights, bit for bit.
    #[arg(long)]
    resume: bool,
    /// Threads for matrix products [default: MINIBATCH_THREADS, else all cores].
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(&args),
        Command::Bench(args) => bench(&args),
        Command::Lab(args) => lab(&args),
        Command::Evaluate(args) => evaluate(&args),
        Command::Predict(args) => predict(&args),
        Command::Summary(args) => summary(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
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
    checks::at_least_one("--batch-size", args.batch_size)?;
    checks::all_at_least_one("--hidden", &args.hidden)?;
    checks::threads(args.threads)?;
    checks::chart_file("--plot", args.plot.as_deref())?;
    if args.verbose > 2 {
        return Err(minibatch::Error::invalid("--verbose", args.verbose, "0, 1 or 2"));
    }
    let ckpt = |name: &str| args.checkpoint_dir.as_ref().map(|d| d.join(name));
    Files::default()
        .input("--data", Some(Path::new(&args.data)))
        .input("--test-data", args.test_data.as_deref().map(Path::new))
        .output("--save", args.save.clone())
        .output("--history", args.history.clone())
        .output("--plot", args.plot.clone())
        .output("--report", args.report.as_ref().map(|d| d.join("index.html")))
        .output("--checkpoint-dir", ckpt("best.safetensors"))
        .output("--checkpoint-dir", ckpt("backup/backup.safetensors"))
        .check()
}

fn train(args: &TrainArgs) -> Result<()> {
    check_train_args(args)?;
    if let Some(n) = args.threads {
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
    let data = load_data(args)?;
    let epochs = args.epochs.unwrap_or(match args.data.as_str() {
        "spirals" => 60,
        "moons" | "exam" => 30,
        _ => 10,
    });
    let test_classes = data.test.as_ref().map(|(_, y)| io::num_classes(y)).transpose()?.unwrap_or(0);
    let num_classes = io::num_classes(&data.y)?.max(test_classes);

    let split_mode = match args.split_mode.as_str() {
        "tail" => SplitMode::Tail,
        "shuffled" => SplitMode::Shuffled,
        "stratified" => SplitMode::Stratified,
        other => {
            return Err(minibatch::Error::UnknownName {
                kind: "split mode",
                name: other.into(),
                known: vec!["tail", "shuffled", "stratified"],
            })
        }
    };
    if args.validation_split > 0.0 {
        // The split fit will make, checked now: before the model is built or printed.
        minibatch::training::split_rows(&data.y, args.validation_split, split_mode, args.seed)?;
    }
    let data = if matches!(args.model.as_str(), "convnet" | "resnet") { with_channel_axis(data)? } else { data };
    let spec = ModelSpec {
        kind: &args.model,
        hidden: &args.hidden,
        activation: &args.activation,
        dropout: args.dropout,
        seed: args.seed,
    };
    // Adam's 0.001 is slow on the small built-in sets; elsewhere the optimizer's default.
    let builtin = datasets::NAMES.contains(&args.data.as_str());
    let lr = args.learning_rate.unwrap_or(if builtin && args.optimizer == "adam" { 0.01 } else { f32::NAN });
    let mut model = spec.build(&data.x.shape()[1..], num_classes, &args.optimizer, lr)?;
    if args.verbose > 0 {
        print!("{}", model.summary()?);
    }

    let mut stopper = EarlyStopping::new()
        .monitor(&args.monitor)
        .patience(args.patience)
        .min_delta(args.min_delta)
        .mode(Mode::Auto)
        .restore_best_weights(args.restore_best_weights)
        .verbose(args.verbose.min(1));
    let mut options = FitOptions::new()
        .batch_size(args.batch_size)
        .epochs(epochs)
        .validation_split(args.validation_split)
        .validation_split_mode(split_mode)
        .verbose(args.verbose);
    if args.early_stopping {
        options = options.callback(&mut stopper);
    }
    let mut reduce = args
        .reduce_lr_patience
        .map(|p| ReduceLROnPlateau::new().monitor(&args.monitor).patience(p).factor(args.reduce_lr_factor));
    if let Some(r) = reduce.as_mut() {
        options = options.callback(r);
    }
    let mut checkpoint = args.checkpoint_dir.as_ref().map(|dir| {
        let path = dir.join("best.safetensors").to_string_lossy().replace('{', "{{").replace('}', "}}");
        let monitor = if args.validation_split > 0.0 { "val_loss" } else { "loss" };
        ModelCheckpoint::new(path).monitor(monitor).save_best_only(true)
    });
    if let Some(c) = checkpoint.as_mut() {
        options = options.callback(c);
    }
    // Last, so that the History it backs up holds every key the others add.
    let mut backup = backup_dir.map(BackupAndRestore::new);
    if let Some(b) = backup.as_mut() {
        options = options.callback(b);
    }
    let history = model.fit(&data.x, &data.y, options)?;
    let stopped = if args.early_stopping { stopper.stopped_epoch() } else { None };
    if let Some(path) = &args.plot {
        minibatch::plot::plot_history(&history, stopped, path)?;
        if args.verbose > 0 {
            println!("Drew the learning curves to {}", path.display());
        }
    }
    if let Some(path) = &args.save {
        model.save(path)?;
        if args.verbose > 0 {
            println!("Saved the model to {}", path.display());
        }
    }
    let test = match &data.test {
        Some((x, y)) => {
            let logs = model.evaluate(x, y, 256)?;
            let (loss, accuracy) = (logs.get("loss").unwrap_or(f64::NAN), logs.get("accuracy").unwrap_or(f64::NAN));
            println!("Test accuracy: {accuracy:.4} - test loss: {loss:.4} ({} test samples)", x.batch());
            json!({ "loss": loss, "accuracy": accuracy })
        }
        None => {
            println!("No test data: give --test-data or --test-split to evaluate on held-out samples.");
            Value::Null
        }
    };

    if let Some(dir) = &args.report {
        let test_figures: Vec<(String, f64)> = match &test {
            Value::Object(m) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect(),
            _ => Vec::new(),
        };
        let config = train_config(args, epochs, &model);
        let path = minibatch::report::training_report(&config, &history, stopped, &test_figures)?.write(dir)?;
        if args.verbose > 0 {
            println!("Wrote the report to {}", path.display());
        }
    }
    if let Some(path) = &args.history {
        let (best, stopped) = if args.early_stopping {
            (stopper.best_epoch(), stopper.stopped_epoch())
        } else {
            (best_val_loss_epoch(&history), None)
        };
        let report = history_json(&history, best, stopped, test);
        let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    Ok(())
}

fn bench(args: &BenchArgs) -> Result<()> {
    checks::non_negative("--seconds", args.seconds)?;
    checks::at_least_one("--samples", args.samples)?;
    checks::all_at_least_one("--batch-sizes", &args.batch_sizes)?;
    checks::threads(args.threads)?;
    if let Some(n) = args.threads {
        minibatch::tensor::kernels::set_num_threads(n);
    }
    let threads = minibatch::tensor::kernels::num_threads();
    let table = args.json.as_deref() != Some("-");
    let (workload, title) = match args.model.as_str() {
        "mlp" => (minibatch::bench::Workload::Mlp, "Keras MNIST MLP 784-512-512-10, RMSprop, no dropout"),
        "convnet" => (minibatch::bench::Workload::Convnet, "Keras MNIST convnet (34,826 parameters), Adam"),
        "lstm" => {
            (minibatch::bench::Workload::Lstm, "MNIST rows through LSTM(128), Dense(10) (81,674 parameters), Adam")
        }
        "transformer" => (
            minibatch::bench::Workload::Transformer,
            "MNIST rows through a 2-block Transformer encoder (d 64, 4 heads, ff 128), Adam",
        ),
        other => {
            return Err(minibatch::Error::UnknownName {
                kind: "model",
                name: other.into(),
                known: vec!["mlp", "convnet", "lstm", "transformer"],
            })
        }
    };
    if table {
        println!("{title}; {threads} threads; best epoch of ~{}s", args.seconds);
        println!(
            "{:>6} {:>12} {:>10} {:>8} {:>11} {:>13}",
            "batch", "samples/s", "ms/step", "steps", "model MiB", "peak RSS MiB"
        );
    }
    let mut results = Vec::new();
    for &b in &args.batch_sizes {
        if b == 0 {
            return Err(minibatch::Error::invalid("batch_size", 0, "positive batch sizes"));
        }
        let samples = if b == 1 { args.samples / 8 } else { args.samples };
        let m = minibatch::bench::measure(workload, b, args.seconds, samples)?;
        if table {
            let mib = |v: f64| v / (1u64 << 20) as f64;
            let rss = m.peak_rss_bytes.map_or("-".into(), |r| format!("{:.1}", mib(r as f64)));
            println!(
                "{:>6} {:>12.0} {:>10.3} {:>8} {:>11.1} {:>13}",
                m.batch_size,
                m.samples_per_s,
                m.ms_per_step,
                m.steps,
                mib(m.model_bytes as f64),
                rss
            );
        }
        results.push(m);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(
            &json!({ "framework": "minibatch", "model": workload, "threads": threads, "results": results }),
        )
        .expect("plain values");
        if path == "-" {
            println!("{text}");
        } else {
            minibatch::saving::write_atomic(std::path::Path::new(path), (text + "\n").as_bytes())?;
        }
    }
    Ok(())
}

/// Images of shape `(h, w)` as `(h, w, 1)`, as Keras's example adds the channel axis.
fn with_channel_axis(data: io::Loaded) -> Result<io::Loaded> {
    let add = |x: Tensor| -> Result<Tensor> {
        match x.shape() {
            [n, h, w] => {
                let shape = [*n, *h, *w, 1];
                x.reshape(&shape)
            }
            [_, _, _, _] => Ok(x),
            other => Err(minibatch::Error::shape(
                "data for --model convnet",
                "images: samples of shape (height, width) or (height, width, channels)",
                &other[1..],
            )),
        }
    };
    Ok(io::Loaded {
        x: add(data.x)?,
        y: data.y,
        test: match data.test {
            Some((x, y)) => Some((add(x)?, y)),
            None => None,
        },
    })
}

/// The labelled data `evaluate` and `predict` use: the test split of a source that has one,
/// else the whole source.
fn held_out(source: &str, label_column: &str, seed: u64) -> Result<(Tensor, Tensor, &'static str)> {
    let data = io::load(source, label_column, seed)?;
    Ok(match data.test {
        Some((x, y)) => (x, y, "test split"),
        None => (data.x, data.y, "all samples"),
    })
}

/// Images `(h, w)` given to a model saved for `(h, w, 1)` (as `train --model convnet` saves
/// it) get their channel axis; anything else is left for the model's own shape check.
fn shaped_for(model: &Model, x: Tensor) -> Result<Tensor> {
    match model.get_input_shape() {
        Some(&[h, w, 1]) if x.shape()[1..] == [h, w] => {
            let shape = [x.batch(), h, w, 1];
            x.reshape(&shape)
        }
        _ => Ok(x),
    }
}

/// What evaluate and predict check before any work: the batch size, and that `output` (under
/// `flag`) overwrites neither the model nor the data.
fn check_model_and_data(input: &ModelAndData, flag: &'static str, output: Option<&std::path::PathBuf>) -> Result<()> {
    checks::at_least_one("--batch-size", input.batch_size)?;
    Files::default()
        .input("--model", Some(&input.model))
        .input("--data", Some(Path::new(&input.data)))
        .output(flag, output.cloned())
        .check()
}

fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let input = &args.input;
    check_model_and_data(input, "--json", args.json.as_ref())?;
    let mut model = Model::load(&input.model)?;
    let (x, y, which) = held_out(&input.data, &input.label_column, input.seed)?;
    let x = shaped_for(&model, x)?;
    let logs = model.evaluate(&x, &y, input.batch_size)?;
    let values: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("{} ({} samples, {which} of {})", values.join(" - "), x.batch(), input.data);
    if let Some(path) = &args.json {
        let figures: serde_json::Map<String, Value> = logs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let text =
            serde_json::to_string_pretty(&json!({ "samples": x.batch(), "logs": figures })).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    Ok(())
}

fn predict(args: &PredictArgs) -> Result<()> {
    let input = &args.input;
    check_model_and_data(input, "--output", args.output.as_ref())?;
    let mut model = Model::load(&input.model)?;
    let x = if input.data.to_ascii_lowercase().ends_with(".csv") {
        io::load_csv_features(&input.data, &input.label_column)?
    } else {
        held_out(&input.data, &input.label_column, input.seed)?.0
    };
    let x = shaped_for(&model, x)?;
    let p = model.predict(&x, input.batch_size)?;
    let cols = p.row_len();
    let extension = args.output.as_ref().and_then(|o| o.extension()).map(|e| e.to_string_lossy().to_ascii_lowercase());
    let bytes = match extension.as_deref() {
        Some("npy") => io::write_npy(p.shape(), p.data()),
        None | Some("csv") => {
            let mut text = (0..cols).map(|c| format!("output_{c}")).collect::<Vec<_>>().join(",") + "\n";
            for row in p.data().chunks(cols) {
                text += &row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
                text.push('\n');
            }
            text.into_bytes()
        }
        Some(other) => {
            return Err(minibatch::Error::invalid("--output", other, "a file ending in .csv or .npy"));
        }
    };
    match &args.output {
        Some(path) => {
            minibatch::saving::write_atomic(path, &bytes)?;
            eprintln!("Wrote {} predictions of {cols} values to {}", p.batch(), path.display());
        }
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

fn summary(args: &SummaryArgs) -> Result<()> {
    let model = Model::load(&args.model)?;
    print!("{}", model.summary()?);
    if let (Some(loss), Some(opt)) = (model.loss(), model.optimizer()) {
        let metrics = model.metrics_names();
        println!(
            "Compiled: optimizer {} (learning rate {}, {} steps taken), loss {}, metrics [{}]",
            opt.name(),
            opt.learning_rate(),
            opt.iterations(),
            loss.name(),
            metrics[..metrics.len() - 1].join(", ")
        );
    }
    Ok(())
}

/// The classifiers the commands build: an MLP, Keras's Simple MNIST convnet, or an LSTM.
struct ModelSpec<'a> {
    /// `mlp`, `convnet` or `lstm`.
    kind: &'a str,
    hidden: &'a [usize],
    activation: &'a str,
    dropout: f32,
    seed: u64,
}

impl ModelSpec<'_> {
    /// `mlp`: Flatten (for images), the hidden Dense layers (each with Dropout if asked), a
    /// softmax Dense layer. `convnet`: Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3,
    /// relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(softmax), as Keras's example.
    /// `lstm`: LSTM(128) over samples `(time, features)` (an image's rows are its time steps;
    /// a trailing channel axis of 1 is dropped), Dense(softmax).
    /// Compiled with `optimizer` at `lr` (NaN: the optimizer's default).
    fn build(&self, sample_shape: &[usize], classes: usize, optimizer: &str, lr: f32) -> Result<Model> {
        let stack = || Sequential::new().seed(self.seed).input_shape(sample_shape);
        let softmax = || Dense::new(classes).activation("softmax");
        let mut model: Model = match self.kind {
            "mlp" => {
                let mut model = stack();
                if sample_shape.len() > 1 {
                    model = model.add(Flatten::new());
                }
                for &units in self.hidden {
                    model = model.add(Dense::new(units).activation(self.activation));
                    if self.dropout > 0.0 {
                        model = model.add(Dropout::new(self.dropout));
                    }
                }
                model.add(softmax()).into()
            }
            "convnet" => minibatch::bench::convnet(sample_shape, classes, self.seed).into(),
            "lstm" => {
                let model = match sample_shape {
                    [_, _] => stack(),
                    &[t, f, 1] => stack().add(Reshape::new(&[t, f])),
                    other => {
                        return Err(minibatch::Error::shape(
                            "data for --model lstm",
                            "sequences: samples of shape (time, features), such as images' rows",
                            other,
                        ))
                    }
                };
                model.add(LSTM::new(128)).add(softmax()).into()
            }
            "transformer" => match sample_shape {
                &[t, f, 1] => minibatch::bench::transformer(&[t, f], classes, self.seed)?,
                other => minibatch::bench::transformer(other, classes, self.seed)?,
            },
            "resnet" => minibatch::bench::resnet(sample_shape, classes, self.seed)?,
            other => {
                return Err(minibatch::Error::UnknownName { kind: "model", name: other.into(), known: MODELS.to_vec() })
            }
        };
        let mut opt = optimizers::from_name(optimizer)?;
        if !lr.is_nan() {
            opt.set_learning_rate(lr);
        }
        model.compile(opt, "sparse_categorical_crossentropy", &["accuracy"])?;
        Ok(model)
    }
}

fn lab(args: &LabArgs) -> Result<()> {
    fn preset<T>(overfit: bool, normal: T, scenario: T) -> T {
        if overfit {
            scenario
        } else {
            normal
        }
    }
    let o = args.overfit;
    let batch_sizes = args.batch_sizes.clone().unwrap_or_else(|| preset(o, vec![100, 10, 1], vec![16, 4, 1]));
    let epochs = args.epochs.unwrap_or(preset(o, 20, 60));
    let optimizer = args.optimizer.clone().unwrap_or_else(|| preset(o, "sgd", "adam").to_string());
    let learning_rate = args.learning_rate.unwrap_or(preset(o, 0.05, 0.01));
    let hidden = args.hidden.clone().unwrap_or_else(|| preset(o, vec![32], vec![128, 128]));
    let train_samples = args.train_samples.or(preset(o, None, Some(16)));
    let patience = args.early_stopping_patience.or(preset(o, None, Some(5)));
    let source = args.data.clone().unwrap_or_else(|| preset(o, "exam", "moons").to_string());
    checks::positive("--learning-rate", learning_rate)?;
    checks::fraction("--test-split", args.test_split, false)?;
    checks::chart_file("--plot", args.plot.as_deref())?;
    checks::all_at_least_one("--batch-sizes", &batch_sizes)?;
    checks::all_at_least_one("--hidden", &hidden)?;
    Files::default()
        .input("--data", Some(Path::new(&source)))
        .input("--test-data", args.test_data.as_deref().map(Path::new))
        .output("--json", args.json.clone())
        .output("--plot", args.plot.clone())
        .output("--report", args.report.as_ref().map(|d| d.join("index.html")))
        .check()?;

    let data = io::load(&source, &args.label_column, args.seed)?;
    let (x, y, vx, vy) = match (&args.test_data, data.test) {
        (Some(source), _) => {
            let t = io::load(source, &args.label_column, args.seed)?;
            (data.x, data.y, t.x, t.y)
        }
        (None, Some((tx, ty))) => (data.x, data.y, tx, ty),
        (None, None) => {
            let ((x, y), (tx, ty)) = datasets::train_test_split(&data.x, &data.y, args.test_split, args.seed)?;
            (x, y, tx, ty)
        }
    };
    let (x, y) = match train_samples {
        Some(0) => return Err(minibatch::Error::invalid("--train-samples", 0, "at least one training sample")),
        Some(n) if n < x.batch() => (x.slice_rows(0, n), y.slice_rows(0, n)),
        _ => (x, y),
    };
    let classes = io::num_classes(&y)?.max(io::num_classes(&vy)?);
    let mlp = ModelSpec { kind: "mlp", hidden: &hidden, activation: &args.activation, dropout: 0.0, seed: args.seed };
    let build = || mlp.build(&x.shape()[1..], classes, &optimizer, learning_rate);
    let mut runs = minibatch::lab::run(&x, &y, &vx, &vy, &batch_sizes, epochs, build)?;
    if let Some(p) = patience {
        for run in &mut runs {
            run.early_stopping = Some(minibatch::lab::catch_overfitting([&x, &y, &vx, &vy], run, p, build)?);
        }
    }

    println!(
        "{} training / {} held-out samples, {epochs} epochs, {optimizer} lr {learning_rate}, hidden {hidden:?}",
        x.batch(),
        vx.batch(),
    );
    println!(
        "{:>6} {:>8} {:>8} {:>10} {:>10} {:>9}  {:<28} {:>9} {:>6} {:>10}",
        "batch",
        "updates",
        "updates",
        "ms/epoch",
        "us/update",
        "plan KiB",
        "wrong answers (train), epoch 1..",
        "held-out",
        "best",
        "overfits"
    );
    println!(
        "{:>6} {:>8} {:>8} {:>10} {:>10} {:>9}  {:<28} {:>9} {:>6} {:>10}",
        "", "/epoch", "total", "", "", "", "", "wrong", "epoch", "from"
    );
    for r in &runs {
        let wrong: Vec<String> = r.epochs.iter().map(|e| e.train_wrong.to_string()).collect();
        let shown = if wrong.len() > 8 {
            format!("{} … {}", wrong[..6].join(" "), wrong[wrong.len() - 1])
        } else {
            wrong.join(" ")
        };
        println!(
            "{:>6} {:>8} {:>8} {:>10.2} {:>10.1} {:>9.1}  {:<28} {:>9} {:>6} {:>10}",
            r.batch_size,
            r.updates_per_epoch,
            r.total_updates,
            r.seconds_per_epoch * 1e3,
            r.seconds_per_update * 1e6,
            r.planned_bytes as f64 / 1024.0,
            shown,
            r.epochs.last().map_or(0, |e| e.val_wrong),
            r.best_val_epoch,
            r.overfitting_from.map_or("-".to_string(), |e| e.to_string()),
        );
    }
    if let Some(rss) = runs.last().and_then(|r| r.peak_rss_bytes) {
        println!("peak resident memory of the process: {:.1} MiB", rss as f64 / (1u64 << 20) as f64);
    }
    for r in &runs {
        let Some(es) = &r.early_stopping else { continue };
        let outcome = match (es.stopped_epoch, es.restored_epoch) {
            (Some(s), Some(b)) => format!("stopped at epoch {s} and restored epoch {b}"),
            (None, Some(b)) => format!("never stopped; restored epoch {b} at the end"),
            _ => "never saw a held-out loss".to_string(),
        };
        let (end_loss, end_wrong) = r.epochs.last().map_or((f64::NAN, 0), |e| (e.val_loss, e.val_wrong));
        println!(
            "batch {:>4}: EarlyStopping(patience {}) {outcome}: held-out loss {:.4}, {} wrong \
             (the full run ends at {end_loss:.4}, {end_wrong} wrong)",
            r.batch_size, es.patience, es.val_loss, es.val_wrong,
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json!({ "runs": runs })).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    if let Some(path) = &args.plot {
        minibatch::lab::figure(&runs).save(path)?;
        println!("Drew the charts to {}", path.display());
    }
    if let Some(dir) = &args.report {
        let config = [
            ("data", source.clone()),
            ("training samples", x.batch().to_string()),
            ("held-out samples", vx.batch().to_string()),
            ("batch sizes", format!("{batch_sizes:?}")),
            ("epochs", epochs.to_string()),
            ("optimizer", format!("{optimizer}, learning rate {learning_rate}")),
            ("hidden layers", format!("{hidden:?}, {}", args.activation)),
            ("seed", args.seed.to_string()),
            (
                "early stopping",
                patience.map_or("off".into(), |p| format!("val_loss, patience {p}, restore best weights")),
            ),
        ];
        let config: Vec<(String, String)> = config.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let path = minibatch::report::lab_report(&config, &runs)?.write(dir)?;
        println!("Wrote the report to {}", path.display());
    }
    Ok(())
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
fn load_data(args: &TrainArgs) -> Result<io::Loaded> {
    let mut data = io::load(&args.data, &args.label_column, args.seed)?;
    if let Some(source) = &args.test_data {
        let t = io::load(source, &args.label_column, args.seed)?;
        data.test = Some((t.x, t.y));
    }
    if let Some(fraction) = args.test_split {
        let ((x, y), test) = datasets::train_test_split(&data.x, &data.y, fraction, args.seed)?;
        data = io::Loaded { x, y, test: Some(test) };
    }
    Ok(data)
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
