//! The `minibatch` command: a thin shell over the library.

use clap::{Args, Parser, Subcommand};
use minibatch::callbacks::{EarlyStopping, History, Mode};
use minibatch::layers::{Dense, Dropout};
use minibatch::{datasets, optimizers, FitOptions, Result, Sequential};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "minibatch", version, about = "Train neural networks the Keras way: fit(x, y, batch_size, epochs).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP on a data set and report its accuracy on the held-out test split.
    Train(TrainArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// Built-in data set: exam, spirals, moons or blobs.
    #[arg(long, default_value = "spirals")]
    data: String,
    /// Samples per weight update.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Passes over the training set [default: a count that suits the data set: spirals 60,
    /// moons 30, blobs 10, exam 30].
    #[arg(long)]
    epochs: Option<usize>,
    /// Fraction of the training samples, taken from the end, held out for validation.
    #[arg(long, default_value_t = 0.0)]
    validation_split: f64,
    /// sgd, adam, adamw or rmsprop (Keras's defaults).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate [default: 0.01 for adam on the built-in data sets, else the optimizer's].
    #[arg(long)]
    learning_rate: Option<f32>,
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
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 1)]
    verbose: u8,
    /// Write the history and test results as JSON to this file.
    #[arg(long)]
    history: Option<std::path::PathBuf>,
    /// Threads for matrix products [default: MINIBATCH_THREADS, else all cores].
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: &TrainArgs) -> Result<()> {
    if let Some(n) = args.threads {
        minibatch::tensor::kernels::set_num_threads(n);
    }
    let data = datasets::load(&args.data, args.seed)?;
    let epochs = args.epochs.unwrap_or(match args.data.as_str() {
        "spirals" => 60,
        "moons" | "exam" => 30,
        _ => 10,
    });

    let mut model = Sequential::new().seed(args.seed).input_shape(&data.x_train.shape()[1..]);
    for &units in &args.hidden {
        model = model.add(Dense::new(units).activation(args.activation.as_str()));
        if args.dropout > 0.0 {
            model = model.add(Dropout::new(args.dropout));
        }
    }
    model = model.add(Dense::new(data.num_classes).activation("softmax"));
    let mut optimizer = optimizers::from_name(&args.optimizer)?;
    optimizer.set_learning_rate(args.learning_rate.unwrap_or(if args.optimizer == "adam" {
        0.01
    } else {
        optimizer.learning_rate()
    }));
    model.compile(optimizer, "sparse_categorical_crossentropy", &["accuracy"])?;
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
        .verbose(args.verbose);
    if args.early_stopping {
        options = options.callback(&mut stopper);
    }
    let history = model.fit(&data.x_train, &data.y_train, options)?;
    let test = model.evaluate(&data.x_test, &data.y_test, 256)?;
    let (loss, accuracy) = (test.get("loss").unwrap_or(f64::NAN), test.get("accuracy").unwrap_or(f64::NAN));
    println!("Test accuracy: {accuracy:.4} - test loss: {loss:.4} ({} test samples)", data.x_test.batch());

    if let Some(path) = &args.history {
        let (best, stopped) = if args.early_stopping {
            (stopper.best_epoch(), stopper.stopped_epoch())
        } else {
            (best_val_loss_epoch(&history), None)
        };
        let report = history_json(&history, best, stopped, json!({ "loss": loss, "accuracy": accuracy }));
        let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
        std::fs::write(path, text + "\n")
            .map_err(|e| minibatch::Error::Io { path: path.display().to_string(), message: e.to_string() })?;
    }
    Ok(())
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
