//! `train`'s flags, and their checks made before any work or output.

use super::checks::{self, Files};
use super::data;
use clap::Args;
use minibatch::training::SplitMode;
use minibatch::{io, Result};
use std::path::Path;

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Training data: a built-in set (exam, spirals, moons, blobs), mnist:DIR (MNIST IDX files,
    /// raw or .gz, with their test split), FILE.csv (header row, labels in --label-column),
    /// FILE.npz (arrays x and y, or x_train, y_train, x_test, y_test as keras.datasets stores
    /// them, with that test split), a folder of images with one sub-folder per class
    /// (--image-size, --color-mode), a folder of .txt files with one sub-folder per class
    /// (a text classifier: --max-tokens, --ngrams, --sequence-length), or x.npy with --labels
    /// y.npy (read a batch at a time).
    #[arg(long, default_value = "spirals")]
    pub data: String,
    /// Test data for a .csv or .npz --data, in the same form.
    #[arg(long)]
    pub test_data: Option<String>,
    /// Hold out this fraction of --data (after a seeded shuffle) as test data.
    #[arg(long)]
    pub test_split: Option<f64>,
    /// The CSV column holding the labels, or several comma-separated (price,rent: a regression
    /// with a value per column).
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Read a CSV --data as a time series: each sample is this many consecutive rows of every
    /// column (the target's past included), its target the --target column --horizon rows
    /// after the window's last (Keras's timeseries_dataset_from_array); --test-split holds out
    /// the last windows. evaluate and predict read files the same way.
    #[arg(long, value_name = "ROWS")]
    pub window: Option<usize>,
    /// With --window: rows from a window's last to its target (1: the next row).
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    /// With --window: the column to forecast (--label-column by another name).
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,
    /// A folder of class folders of .txt files: the most tokens the TextVectorization keeps
    /// (the padding and unknown tokens included), the most frequent in the training texts
    /// [default: 20000].
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// A folder of texts with --model lstm: token ids per text (padded with 0 or cut)
    /// [default: 200].
    #[arg(long)]
    pub sequence_length: Option<usize>,
    /// A folder of texts: tokens are words and runs of up to this many words [default: 2].
    #[arg(long)]
    pub ngrams: Option<usize>,
    /// The CSV's field delimiter: , ; | or tab (recorded in the saved model for evaluate and
    /// predict).
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// Samples per weight update, 1 to 16777216 [default: 32, as Keras; under --memory-budget
    /// the largest batch size whose memory plan fits, when that is less].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// A memory budget such as 512MiB or 2GiB: a --batch-size whose memory plan does not fit
    /// it is refused (naming the largest that does), and without --batch-size the batch is
    /// 32 or the largest that fits, whichever is smaller (computed from the plan, not probed).
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<String>,
    /// Run the learning-rate range test on the training rows first (as `lab --lr-find`: an
    /// exponential sweep of --lr-find-steps batches from 1e-8 to 1, the model then returned
    /// to its initial state), print its suggestions, and train at fast.ai's valley (else
    /// minimum/10, else the steepest descent). With --plot, the sweep is drawn beside the
    /// learning curves (FILE-lr-find.png).
    #[arg(long)]
    pub lr_find: bool,
    /// Run the range test and stop: print the suggestions (and draw the sweep to --plot)
    /// without training.
    #[arg(long)]
    pub lr_find_only: bool,
    /// Steps of the learning-rate range test (2 to 100000).
    #[arg(long, default_value_t = 100)]
    pub lr_find_steps: usize,
    /// Passes over the training set, 1 to 1000000 [default: a count that suits the data set:
    /// spirals 60, moons 30, blobs 10, exam 30, files 10].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on only the first N training samples (after any test split), 1 to 1073741824, as
    /// `lab --train-samples` [default: all].
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Fraction of the training samples, taken from the end, held out for validation.
    #[arg(long, default_value_t = 0.0)]
    pub validation_split: f64,
    /// How --validation-split picks its samples: tail (Keras), shuffled or stratified (seeded).
    #[arg(long, default_value = "tail")]
    pub split_mode: String,
    /// The optimizer, by Keras's name, with Keras's defaults (the names: `cli::parse` fills
    /// them in from the optimizers' table).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate [default: the optimizer's, as Keras: 0.001 for adam].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// The loss, by Keras's name (the names: `cli::parse` fills them in from the losses'
    /// table).
    #[arg(long)]
    pub loss: Option<String>,
    /// What the targets are [default: inferred: one-hot rows and whole numbers from 0 that
    /// look like classes (at most max(10, n/10) of them, most present) are classes, anything
    /// else a quantity].
    #[arg(long, value_enum)]
    pub task: Option<super::task::TaskKind>,
    /// Metrics beside the task's, by Keras's name, comma-separated (e.g. auc,precision,recall).
    #[arg(long, value_delimiter = ',')]
    pub metrics: Vec<String>,
    /// A weight per class (Keras's class_weight): balanced (n / (classes · count), as
    /// scikit-learn's) or CLASS:WEIGHT pairs, comma-separated (0:1,1:5).
    #[arg(long)]
    pub class_weight: Option<String>,
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
    /// Write the run for TensorBoard to DIR (`tensorboard --logdir DIR`): Keras's TensorBoard
    /// callback, its train/ and validation/ runs and tag names (epoch_loss, epoch_accuracy,
    /// epoch_learning_rate, ...), the model's graph, weight and gradient histograms every
    /// epoch, and the run's configuration as text.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<std::path::PathBuf>,
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
    /// Skip the data audit printed before training (training rows repeated in the validation
    /// or test rows, constant features, feature scales far apart without standardization,
    /// imbalanced classes with the weights --class-weight balanced would use).
    #[arg(long)]
    pub no_audit: bool,
    /// Measure the gradient noise scale while training (McCandlish et al. 2018): the batch
    /// size above which a larger batch stops buying fewer updates, per epoch in the History
    /// and in the summary. Needs at least 2 updates an epoch.
    #[arg(long)]
    pub noise_scale: bool,
    /// Keras's dtype policy: float32, or mixed_bfloat16 (weights and optimizer state in f32,
    /// matrix products with bf16 inputs and f32 sums on AMX or AVX512-BF16 where the processor
    /// has them, layer outputs rounded to bf16, the model's outputs and the loss in f32)
    /// [default: float32].
    #[arg(long)]
    pub precision: Option<String>,
    /// Keep a CSV's or NPZ's features as they are. By default `--model mlp` and `lstm` begin
    /// with a Normalization layer adapted on the training rows only (not the validation or test
    /// rows), saved in the model so that evaluate and predict standardize raw data the same way.
    #[arg(long)]
    pub no_standardize: bool,
    /// Keep a regression's targets as they are. By default `--model mlp` and `lstm` on a CSV's
    /// or NPZ's quantities train on targets standardized by the training rows' mean and
    /// standard deviation (scikit-learn's TransformedTargetRegressor): the model ends in an
    /// inverting Normalization layer, so predictions, metrics (mae) and evaluate are in the
    /// targets' own units; the loss is that of the standardized targets.
    #[arg(long)]
    pub no_standardize_targets: bool,
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
    /// Freeze these layers (comma-separated names, as `summary` prints them): their weights
    /// are not trained, as Keras's `layer.trainable = False`.
    #[arg(long, value_name = "LAYER[,LAYER]")]
    pub freeze: Option<String>,
    /// Freeze every layer before this one (it and the layers after it train): Keras's
    /// fine-tuning recipe of a frozen base under a trained top.
    #[arg(long, value_name = "LAYER")]
    pub freeze_until: Option<String>,
    /// Start from this model instead of building one: a minibatch model file (.safetensors)
    /// or a Keras 3 model (.keras), its architecture and weights (the architecture flags
    /// --model, --hidden, --activation, --dropout do not apply). It is compiled as the
    /// command compiles its own models (--optimizer, --learning-rate, the task's loss), so a
    /// fine-tuning run passes a low --learning-rate.
    #[arg(long, value_name = "FILE")]
    pub init: Option<std::path::PathBuf>,
}

/// `train`'s flags, checked before any work or output.
/// `--window`, `--horizon` and `--target`: a window of 1 to 1e6 rows over a CSV, a horizon of
/// 1 to 1e6 rows, and neither --horizon nor --target without --window.
/// The text flags: in range, and given only with a folder of texts.
fn check_text_args(args: &TrainArgs) -> Result<()> {
    let text = matches!(minibatch::data::Source::parse(&args.data), minibatch::data::Source::TextFolder(_));
    let given = args.max_tokens.or(args.sequence_length).or(args.ngrams).is_some();
    if !text && given {
        return Err(minibatch::Error::invalid(
            "--max-tokens, --sequence-length, --ngrams",
            "given",
            format!("a folder of class folders of .txt files as --data (it is {})", args.data),
        ));
    }
    let flags = args.text_flags();
    checks::count("--max-tokens", flags.max_tokens, 3, 1 << 24)?;
    checks::count("--sequence-length", flags.sequence_length, 1, 100_000)?;
    checks::count("--ngrams", flags.ngrams, 1, 8)?;
    Ok(())
}

impl TrainArgs {
    /// The text flags with their defaults, and the rows `--test-split` leaves for training.
    pub fn text_flags(&self) -> super::texts::TextFlags {
        super::texts::TextFlags {
            max_tokens: self.max_tokens.unwrap_or(20_000),
            sequence_length: self.sequence_length.unwrap_or(200),
            ngrams: self.ngrams.unwrap_or(2),
            test_split: self.test_split,
            seed: self.seed,
        }
    }
}

fn check_window_args(args: &TrainArgs) -> Result<()> {
    let invalid =
        |flag: &'static str, value: String, expected: &str| Err(minibatch::Error::invalid(flag, value, expected));
    let Some(window) = args.window else {
        if let Some(target) = &args.target {
            return invalid(
                "--target",
                target.clone(),
                "--window ROWS with it (--target names the column to forecast)",
            );
        }
        if args.horizon != 1 {
            return invalid("--horizon", args.horizon.to_string(), "--window ROWS with it");
        }
        return Ok(());
    };
    checks::count("--window", window, 1, 1_000_000)?;
    checks::count("--horizon", args.horizon, 1, 1_000_000)?;
    if !matches!(minibatch::data::Source::parse(&args.data), minibatch::data::Source::Csv(_)) {
        return invalid("--data", args.data.clone(), "a CSV file with --window (a series, one row per step)");
    }
    if args.labels.is_some() {
        return invalid("--labels", "given".into(), "no --labels with --window: the CSV holds the series");
    }
    if args.target.is_some() && args.label_column != "label" {
        return invalid(
            "--target",
            "given with --label-column".into(),
            "one of them: --target is --label-column's name with --window",
        );
    }
    Ok(())
}

pub(super) fn check_train_args(args: &TrainArgs) -> Result<()> {
    checks::precision(args.precision.as_deref())?;
    if let Some(lr) = args.learning_rate {
        checks::positive("--learning-rate", lr)?;
    }
    checks::fraction("--dropout", args.dropout, true)?;
    checks::fraction("--validation-split", args.validation_split, true)?;
    if let Some(split) = args.test_split {
        checks::fraction("--test-split", split, false)?;
    }
    checks::finite("--min-delta", args.min_delta)?;
    check_window_args(args)?;
    check_text_args(args)?;
    checks::fraction("--reduce-lr-factor", args.reduce_lr_factor, true)?;
    if let Some(b) = args.batch_size {
        checks::count("--batch-size", b, 1, checks::MAX_BATCH)?;
    }
    if let Some(budget) = &args.memory_budget {
        checks::bytes("--memory-budget", budget)?;
    }
    checks::count("--lr-find-steps", args.lr_find_steps, 2, checks::MAX_LR_FIND_STEPS)?;
    if let Some(n) = args.train_samples {
        checks::count("--train-samples", n, 1, checks::MAX_SAMPLES)?;
    }
    if args.lr_find && args.lr_find_only {
        return Err(minibatch::Error::invalid(
            "--lr-find",
            "given with --lr-find-only",
            "one of them: --lr-find trains after the range test, --lr-find-only stops after it",
        ));
    }
    if args.lr_find_only {
        let outputs = [
            ("--save", args.save.is_some()),
            ("--history", args.history.is_some()),
            ("--report", args.report.is_some()),
            ("--checkpoint-dir", args.checkpoint_dir.is_some()),
        ];
        if let Some((flag, _)) = outputs.iter().find(|(_, given)| *given) {
            return Err(minibatch::Error::invalid(
                flag,
                "given with --lr-find-only",
                "no training outputs: --lr-find-only stops after the range test (--lr-find trains after it)",
            ));
        }
    }
    if (args.lr_find || args.lr_find_only) && args.learning_rate.is_some() {
        return Err(minibatch::Error::invalid(
            "--learning-rate",
            "given with --lr-find",
            "no --learning-rate: the range test chooses it",
        ));
    }
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
    if let (Some(_), Some(augment)) = (&args.init, &args.augment) {
        return Err(minibatch::Error::invalid(
            "--augment",
            augment,
            "no --augment with --init (the augmentation layers would change the model read from the file)",
        ));
    }
    for (flag, given) in [("--freeze", &args.freeze), ("--freeze-until", &args.freeze_until)] {
        if given.as_deref().is_some_and(|names| names.split(',').any(|n| n.trim().is_empty())) {
            return Err(minibatch::Error::invalid(
                flag,
                given.as_deref().unwrap_or(""),
                "layer names, comma-separated",
            ));
        }
    }
    refuse_flags_that_do_not_apply(args)?;
    // Flags that only an image folder reads are refused elsewhere, rather than ignored.
    let image_folder = matches!(minibatch::data::Source::parse(&args.data), minibatch::data::Source::ImageFolder(_));
    if !image_folder || args.labels.is_some() {
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
    io::parse_delimiter(&args.delimiter)?;
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
        .input("--init", args.init.as_deref())
        .output("--save", args.save.clone())
        .output("--history", args.history.clone())
        .output("--plot", args.plot.clone())
        .output("--plot", if args.lr_find { args.plot.as_deref().map(lr_find_plot) } else { None })
        .output_folder("--report", args.report.as_deref(), &["index.html"])
        .output_folder("--tensorboard", args.tensorboard.as_deref(), &[])
        .output_folder(
            "--checkpoint-dir",
            args.checkpoint_dir.as_deref(),
            &["best.safetensors", "backup/backup.safetensors"],
        )
        .check()
}

/// Whether `train` standardizes the features (and a regression's targets) for these flags:
/// `--model mlp` or `lstm` built here (not `--init`) on a CSV, NPZ or NPY file (`--labels`),
/// unless `--no-standardize` (`--no-standardize-targets`) says otherwise.
pub(super) fn standardizes(args: &TrainArgs) -> bool {
    let source = minibatch::data::Source::parse(&args.data);
    args.init.is_none() && matches!(args.model.as_str(), "mlp" | "lstm") && (source.is_table() || args.labels.is_some())
}

/// Each flag typed that does nothing for the rest of the command line, refused by name with
/// what it needs (a flag left at its default is never refused): the README's promise that a
/// flag is never silently ignored.
///
/// # Errors
/// [`minibatch::Error::InvalidArgument`] naming the first such flag.
fn refuse_flags_that_do_not_apply(args: &TrainArgs) -> Result<()> {
    use minibatch::data::Source;
    let source = Source::parse(&args.data);
    let csv = matches!(source, Source::Csv(_));
    let model = args.model.as_str();
    let standardized = standardizes(args);
    // (flag, whether it applies, what it needs).
    let rules: [(&str, bool, &str); 14] = [
        ("--label-column", csv, "--data FILE.csv (the other sources carry their labels)"),
        ("--delimiter", csv, "--data FILE.csv"),
        ("--workers", args.labels.is_some(), "--labels (data read a batch at a time)"),
        ("--hidden", model == "mlp" && args.init.is_none(), "--model mlp (built here, not --init)"),
        ("--activation", model == "mlp" && args.init.is_none(), "--model mlp (built here, not --init)"),
        ("--dropout", model == "mlp" && args.init.is_none(), "--model mlp (built here, not --init)"),
        ("--patience", args.early_stopping, "--early-stopping"),
        ("--min-delta", args.early_stopping, "--early-stopping"),
        ("--restore-best-weights", args.early_stopping, "--early-stopping"),
        (
            "--monitor",
            args.early_stopping || args.reduce_lr_patience.is_some(),
            "--early-stopping or --reduce-lr-patience",
        ),
        ("--reduce-lr-factor", args.reduce_lr_patience.is_some(), "--reduce-lr-patience"),
        ("--split-mode", args.validation_split > 0.0, "--validation-split"),
        ("--lr-find-steps", args.lr_find || args.lr_find_only, "--lr-find or --lr-find-only"),
        ("--sync-batch-norm", model == "resnet", "--model resnet"),
    ];
    let standardizing: [(&str, bool, &str); 2] = [
        ("--no-standardize", standardized, "--model mlp or lstm on a CSV, NPZ or NPY file (which it standardizes)"),
        ("--no-standardize-targets", standardized, "--model mlp or lstm on a CSV, NPZ or NPY file's quantities"),
    ];
    for (flag, applies, needs) in rules.iter().chain(&standardizing) {
        if !applies && super::given(&flag[2..].replace('-', "_")) {
            return Err(minibatch::Error::invalid(
                flag,
                "given",
                format!("{needs} for {flag} to apply (here it would do nothing, and is refused rather than ignored)"),
            ));
        }
    }
    Ok(())
}

/// Where `train --lr-find --plot FILE` draws the range test: beside the learning curves,
/// `FILE-lr-find.EXT`.
pub(super) fn lr_find_plot(plot: &Path) -> std::path::PathBuf {
    let stem = plot.file_stem().map_or("curves".into(), |s| s.to_string_lossy().into_owned());
    let ext = plot.extension().map_or("png".into(), |e| e.to_string_lossy().into_owned());
    plot.with_file_name(format!("{stem}-lr-find.{ext}"))
}

/// `--color-mode`, or Keras's default `rgb`.
pub(super) fn color_mode_name(args: &TrainArgs) -> &str {
    args.color_mode.as_deref().unwrap_or("rgb")
}

/// `--image-size`, when given, as (height, width).
pub(super) fn image_size(args: &TrainArgs) -> Result<Option<(usize, usize)>> {
    args.image_size.as_deref().map(|t| data::image_size("--image-size", t)).transpose()
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
