//! `minibatch lab`: the tutorial's batch-size experiment.

use super::checks::{self, Files};
use super::model_spec::ModelSpec;
use super::task::Task;
use clap::Args;
use minibatch::{datasets, io, Result};
use serde_json::json;
use std::path::Path;

#[derive(Args)]
pub struct LabArgs {
    /// Data, as for train (a built-in set, mnist:DIR, FILE.csv, FILE.npz) [default: exam;
    /// --overfit: moons].
    #[arg(long)]
    pub data: Option<String>,
    /// Held-out data for a .csv or .npz --data (else --test-split of it is held out).
    #[arg(long)]
    pub test_data: Option<String>,
    /// Fraction of --data held out when it has no test split of its own.
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// The overfitting scenario: few training samples (16 of moons), a wide model, many epochs,
    /// and EarlyStopping catching it. Sets the defaults marked "--overfit".
    #[arg(long)]
    pub overfit: bool,
    /// Batch sizes to compare, comma-separated [default: 100,10,1; --overfit: 16,4,1].
    #[arg(long, value_delimiter = ',')]
    pub batch_sizes: Option<Vec<usize>>,
    /// Train on only the first N training samples [default: all; --overfit: 16].
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Passes over the training set, the same for every batch size [default: 20; --overfit: 60].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// sgd, adam, adamw, rmsprop, nadam, adamax, adagrad, adadelta or lion [default: sgd, which
    /// shows the batch-size effect most clearly; --overfit: adam].
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.05; --overfit: 0.01].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Hidden layer sizes, comma-separated [default: 32; --overfit: 128,128].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Repeat each run with EarlyStopping (val_loss on the held-out set, this patience,
    /// restore_best_weights) and report where it stopped [default: off; --overfit: 5].
    #[arg(long)]
    pub early_stopping_patience: Option<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Seed of the data, the weights and the shuffles (the same for every batch size).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Draw the charts (wrong answers per epoch per batch size; training vs held-out loss per
    /// batch size with overfitting marked) to this file: .png or .svg.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Write a self-contained HTML report (tables and charts) to DIR/index.html.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
}

pub fn lab(args: &LabArgs) -> Result<()> {
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
    // The lab counts wrong answers: class indices.
    let task = Task::Classes { count: io::num_classes(&y)?.max(io::num_classes(&vy)?) };
    let mlp = ModelSpec { kind: "mlp", hidden: &hidden, activation: &args.activation, dropout: 0.0, seed: args.seed };
    let build = || mlp.build(&x.shape()[1..], &task, &optimizer, learning_rate);
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
