//! The `minibatch` command, one file per subcommand over the library:
//!
//! | file | subcommand |
//! |---|---|
//! | `train.rs` | `train`: fit a model on a data set, report it, save it |
//! | `mapped.rs` | `train --data x.npy --labels y.npy`: the same, from inputs read a batch at a time |
//! | `train_args.rs`, `train_setup.rs` | `train`'s flags and checks; what its two paths share (the model, callbacks, outputs) |
//! | `evaluate.rs` | `evaluate`: a saved model's loss and metrics on data |
//! | `predict.rs` | `predict`: a saved model's predictions, as CSV or NPY |
//! | `summary.rs` | `summary`: a saved model's layers and training configuration |
//! | `lab.rs` | `lab`: the tutorial's batch-size experiment |
//! | `bench.rs` | `bench`: training throughput per batch size |
//! | `convert.rs` | `convert`: a model file into another format (.keras, .weights.h5) |
//! | `export.rs` | `export`: a model for other runtimes (ONNX) |
//!
//! and what they share: `interrupt.rs` (Ctrl-C's last line), `augment.rs` (`--augment`), `data.rs` (sources, test splits, shapes), `model_spec.rs` (the
//! architectures the commands build) and `checks.rs` (every flag checked before any work or
//! output).

pub mod augment;
pub mod bench;
pub mod checks;
pub mod convert;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod interrupt;
pub mod lab;
pub mod mapped;
pub mod model_spec;
pub mod predict;
pub mod summary;
pub mod task;
pub mod texts;
pub mod train;
pub mod train_args;
pub mod train_setup;
pub mod windows;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use minibatch::Result;

#[derive(Parser)]
#[command(name = "minibatch", version, about = "Train neural networks the Keras way: fit(x, y, batch_size, epochs).")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model on a data set and report its accuracy on the held-out test split.
    #[command(allow_negative_numbers = true)]
    Train(Box<train::TrainArgs>),
    /// Measure training throughput of the Keras MNIST MLP (784-512-512-10, RMSprop) per batch size.
    #[command(allow_negative_numbers = true)]
    Bench(bench::BenchArgs),
    /// The tutorial's experiment: the same model and data once per batch size, side by side.
    #[command(allow_negative_numbers = true)]
    Lab(Box<lab::LabArgs>),
    /// Evaluate a saved model: print its loss and metrics on data.
    #[command(allow_negative_numbers = true)]
    Evaluate(evaluate::EvaluateArgs),
    /// Write a saved model's predictions for data (CSV or NPY).
    #[command(allow_negative_numbers = true)]
    Predict(predict::PredictArgs),
    /// Print a saved model's layers, parameter counts and training configuration.
    Summary(summary::SummaryArgs),
    /// Convert a model file between .safetensors and .keras, or into Keras's .weights.h5.
    Convert(convert::ConvertArgs),
    /// Export a saved model for other runtimes: ONNX (onnxruntime, browsers, C++ services).
    Export(export::ExportArgs),
}

/// The command line, parsed. The help of the flags that take a name from one of the library's
/// tables (`--optimizer`, `--loss`) lists that table's names, so a new optimizer or loss
/// appears in `--help` with no edit here.
pub fn parse() -> Cli {
    let list = |names: &[&str]| match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    let optimizers = list(minibatch::optimizers::NAMES);
    let losses = list(minibatch::losses::NAMES);
    let command = Cli::command()
        .mut_subcommand("train", |c| {
            c.mut_arg("optimizer", |a| a.help(format!("{optimizers} (Keras's defaults)"))).mut_arg("loss", |a| {
                a.help(format!(
                    "The loss, by Keras's name: {losses} [default: from the targets: \
                         sparse_categorical_crossentropy for class indices (whole numbers from 0), \
                         categorical_crossentropy for one-hot rows, mean_squared_error (with the mae \
                         metric) for anything else]"
                ))
            })
        })
        .mut_subcommand("lab", |c| {
            c.mut_arg("optimizer", |a| {
                a.help(format!(
                    "{optimizers} [default: sgd, which shows the batch-size effect most clearly; --overfit: adam]"
                ))
            })
        });
    let matches = command.get_matches();
    if let Some((_, sub)) = matches.subcommand() {
        let typed = sub
            .ids()
            .filter(|id| sub.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect();
        let _ = GIVEN.set(typed);
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The flags typed on the command line (clap's ids: `batch_size` for `--batch-size`), as
/// opposed to those at their defaults.
static GIVEN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Whether flag `id` (clap's id: `label_column`) was typed, not left at its default: a flag
/// that does not apply is refused only when the user asked for it.
pub fn given(id: &str) -> bool {
    GIVEN.get().is_some_and(|typed| typed.iter().any(|t| t == id))
}

/// Joins the processes an MPI launcher started with this one (see
/// [`minibatch::distributed`]): only `train` runs over several.
pub fn join_processes(command: &Command) -> Result<minibatch::distributed::World> {
    let world = minibatch::distributed::init()?;
    let comm = world.comm();
    if comm.size() > 1 && !matches!(command, Command::Train(_)) {
        return Err(minibatch::Error::Distributed {
            rank: comm.rank(),
            size: comm.size(),
            message: "only `minibatch train` runs over several processes: start the others without mpirun".into(),
        });
    }
    if comm.rank() > 0 {
        silence_stdout();
    }
    Ok(world)
}

/// Only rank 0 of several processes prints: the others' standard output goes to /dev/null
/// (their errors still reach standard error, with their rank).
fn silence_stdout() {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        extern "C" {
            fn dup2(old: i32, new: i32) -> i32;
        }
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: points descriptor 1 at /dev/null, a file open for writing; `null`'s own
            // descriptor closes when it drops, descriptor 1 stays valid.
            unsafe {
                dup2(null.as_raw_fd(), 1);
            }
        }
    }
}

/// The command line as typed (arguments with spaces quoted), for reports.
pub fn command_line() -> String {
    let quote = |a: String| if a.contains(char::is_whitespace) || a.is_empty() { format!("{a:?}") } else { a };
    let mut args = std::env::args();
    let first = args
        .next()
        .map(|p| std::path::Path::new(&p).file_name().map_or(p.clone(), |n| n.to_string_lossy().into_owned()));
    first.into_iter().chain(args.map(quote)).collect::<Vec<_>>().join(" ")
}

impl Command {
    /// Runs the subcommand.
    pub fn run(&self) -> Result<()> {
        // MINIBATCH_KERNELS names instructions this processor has, or nothing runs.
        minibatch::tensor::isa::check_requested()?;
        match self {
            Command::Train(args) => train::train(args),
            Command::Bench(args) => bench::bench(args),
            Command::Lab(args) => lab::lab(args),
            Command::Evaluate(args) => evaluate::evaluate(args),
            Command::Predict(args) => predict::predict(args),
            Command::Summary(args) => summary::summary(args),
            Command::Convert(args) => convert::convert(args),
            Command::Export(args) => export::export(args),
        }
    }
}
