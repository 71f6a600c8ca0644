//! `minibatch lab`: the tutorial's batch-size experiment.

use super::checks::{self, Files};
use super::model_spec::{Architecture, ModelSpec};
use super::task::Task;
use clap::Args;
use minibatch::lab::{ChartOptions, LabOptions, LabRun, Limit, LrFindOptions, Spread};
use minibatch::{datasets, io, Model, Result, Tensor};
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
    /// The CSV's field delimiter: , ; | or tab.
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// The overfitting scenario: few training samples (16 of moons), a wide model, many epochs,
    /// and EarlyStopping catching it. Sets the defaults marked "--overfit".
    #[arg(long)]
    pub overfit: bool,
    /// Batch sizes to compare, comma-separated, each 1 to 16777216 [default: 100,10,1;
    /// --overfit: 16,4,1].
    #[arg(long, value_delimiter = ',')]
    pub batch_sizes: Option<Vec<usize>>,
    /// Train on only the first N training samples (1 to 1073741824) [default: all;
    /// --overfit: 16].
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Passes over the training set, the same for every batch size (1 to 1000000)
    /// [default: 20; --overfit: 60].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// The optimizer, by Keras's name (the names: `cli::parse` fills them in from the
    /// optimizers' table).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.05; --overfit: 0.01].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Hidden layer sizes, comma-separated, each 1 to 1048576 [default: 32; --overfit:
    /// 128,128].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Repeat each run with EarlyStopping (val_loss on the held-out set, this patience,
    /// restore_best_weights) and report where it stopped (0 to 1000000) [default: off;
    /// --overfit: 5].
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
    /// batch size with overfitting marked; memory per batch size) to this file: .png or .svg.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Write a self-contained HTML report (tables and charts) to DIR/index.html.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Fair comparison: the same number of weight updates for every batch size (each epoch a
    /// round of as many updates as the largest batch size makes in one pass), so smaller
    /// batches do not win by updating more often.
    #[arg(long)]
    pub equal_updates: bool,
    /// The linear scaling rule: the learning rate in proportion to the batch size, the
    /// given rate applying to the largest batch size.
    #[arg(long)]
    pub scale_lr: bool,
    /// Draw the loss on a logarithmic axis.
    #[arg(long)]
    pub log_loss: bool,
    /// A memory budget such as 512MiB, 2GiB or 300MB: prints the largest batch size whose
    /// memory plan fits it (computed from the plan, not probed), and refuses batch sizes
    /// whose plan does not.
    #[arg(long)]
    pub memory_budget: Option<String>,
    /// Run every batch size with this many seeds (--seed, --seed + 1, ...: the weights and the
    /// shuffles), 2 to 1000, and print each one's held-out loss and wrong answers at the end as
    /// mean ± a 95% interval, with Welch's test between neighbouring batch sizes: a difference
    /// within the seeds' noise is said to be so [default: one run each].
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Write each batch size's run for TensorBoard to DIR/batch_SIZE (`tensorboard --logdir
    /// DIR` compares them): the training loss, and the loss and wrong answers on both sets
    /// after each epoch.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<std::path::PathBuf>,
    /// Instead of comparing batch sizes, run the learning-rate range test (PyTorch
    /// Lightning's lr_find): an exponential sweep from 1e-8 to 1 over --lr-find-steps steps
    /// at the first batch size, the loss against the rate, and the rate where it falls
    /// fastest.
    #[arg(long)]
    pub lr_find: bool,
    /// Predict each batch size's time per epoch and stop before training: the step's matrix
    /// products timed on this machine at their shapes and the memory it moves, at the
    /// bandwidth of a working set that size (a second or so). Without it the lab still
    /// predicts, and its table shows the prediction beside the measurement.
    #[arg(long)]
    pub plan: bool,
    /// With --plan: also predict for training over these numbers of processes (`mpirun -np
    /// K minibatch train`), comma-separated, 1 to 4096: each computes its share of the batch
    /// and the gradients cross in a ring all-reduce, costed with the α-β model fitted on
    /// this machine (BENCHMARKS.md) [default: 1].
    #[arg(long, value_delimiter = ',')]
    pub plan_ranks: Option<Vec<usize>>,
    /// Steps of the learning-rate range test (2 to 100000).
    #[arg(long, default_value_t = 100)]
    pub lr_find_steps: usize,
    /// Keep a CSV's or NPZ's features as they are (by default the model begins with a
    /// Normalization layer adapted on the training rows).
    #[arg(long)]
    pub no_standardize: bool,
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
    checks::counts("--batch-sizes", &batch_sizes, 1, checks::MAX_BATCH)?;
    checks::counts("--hidden", &hidden, 1, checks::MAX_UNITS)?;
    checks::count("--epochs", epochs, 1, checks::MAX_EPOCHS)?;
    if let Some(n) = train_samples {
        checks::count("--train-samples", n, 1, checks::MAX_SAMPLES)?;
    }
    if let Some(p) = patience {
        checks::count("--early-stopping-patience", p, 0, checks::MAX_EPOCHS)?;
    }
    checks::count("--lr-find-steps", args.lr_find_steps, 2, checks::MAX_LR_FIND_STEPS)?;
    if let Some(n) = args.seeds {
        checks::count("--seeds", n, 2, 1000)?;
    }
    let ranks = args.plan_ranks.clone().unwrap_or_else(|| vec![1]);
    checks::counts("--plan-ranks", &ranks, 1, 4096)?;
    if !args.plan && super::given("plan_ranks") {
        return Err(minibatch::Error::invalid("--plan-ranks", "given without --plan", "--plan, which it extends"));
    }
    let budget = args.memory_budget.as_deref().map(|b| checks::bytes("--memory-budget", b)).transpose()?;
    Files::default()
        .input("--data", Some(Path::new(&source)))
        .input("--test-data", args.test_data.as_deref().map(Path::new))
        .output("--json", args.json.clone())
        .output("--plot", args.plot.clone())
        .output_folder("--report", args.report.as_deref(), &["index.html"])
        .output_folder("--tensorboard", args.tensorboard.as_deref(), &[])
        .check()?;

    let delimiter = io::parse_delimiter(&args.delimiter)?;
    let options =
        io::LoadOptions { label_column: &args.label_column, seed: args.seed, delimiter, ..Default::default() };
    let data = io::load_with(&source, &options)?;
    let (x, y, vx, vy) = match (&args.test_data, data.test) {
        (Some(source), _) => {
            let names = Some(&data.class_names[..]).filter(|n| !n.is_empty());
            let options = io::LoadOptions { classes: names, ..options };
            let t = io::load_with(source, &options)?;
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
    let standardizer = if !args.no_standardize && super::data::is_file(&source) {
        Some(super::data::standardizer(&x, &(0..x.batch()).collect::<Vec<_>>())?)
    } else {
        None
    };
    let mlp = ModelSpec {
        kind: Architecture::Mlp,
        hidden: &hidden,
        activation: &args.activation,
        dropout: 0.0,
        seed: args.seed,
        standardize: standardizer.as_ref().map(|(n, _)| n),
        sync_batch_norm: false,
        unstandardize: None,
        vocabulary: None,
    };
    let build_seeded = |seed: u64| {
        let spec = ModelSpec { seed, ..mlp };
        spec.build(&x.shape()[1..], &task, &optimizer, learning_rate)
    };
    let build = || build_seeded(args.seed);
    let mut config = vec![
        ("data".to_string(), source.clone()),
        ("training samples".into(), x.batch().to_string()),
        ("held-out samples".into(), vx.batch().to_string()),
        ("optimizer".into(), format!("{optimizer}, learning rate {learning_rate}")),
        ("hidden layers".into(), format!("{hidden:?}, {}", args.activation)),
        ("seed".into(), args.seed.to_string()),
    ];

    // Memory: the plan for each batch size, checked against the budget before any run.
    let planner = build()?;
    let mut fitting = None;
    if let Some(budget) = budget {
        let largest = planner.max_batch_size(budget)?;
        fitting = Some(largest);
        let over: Vec<String> = batch_sizes
            .iter()
            .filter(|&&b| b > largest)
            .map(|&b| Ok(format!("{b} ({})", mib(planner.memory_plan(b)?.total()))))
            .collect::<Result<_>>()?;
        if !over.is_empty() {
            return Err(minibatch::Error::invalid(
                "--batch-sizes",
                over.join(", "),
                format!(
                    "batch sizes whose memory plan fits --memory-budget {} (the largest is {largest})",
                    args.memory_budget.as_deref().unwrap_or_default()
                ),
            ));
        }
        println!(
            "Memory budget {}: the largest batch size whose plan fits is {largest} (planned {} of {})",
            args.memory_budget.as_deref().unwrap_or_default(),
            mib(planner.memory_plan(largest)?.total()),
            mib(budget)
        );
        config.push(("memory budget".into(), format!("{}: largest batch size {largest}", mib(budget))));
    }
    if args.lr_find {
        return lr_find(args, &x, &y, batch_sizes[0], build, config);
    }
    let options = LabOptions {
        batch_sizes: batch_sizes.clone(),
        epochs,
        equal_updates: args.equal_updates,
        scale_learning_rate: args.scale_lr,
        tensorboard: args.tensorboard.clone(),
    };
    if args.plan {
        return print_plan(&planner, &options, x.batch(), &ranks);
    }
    let mut runs = minibatch::lab::run_with([&x, &y, &vx, &vy], &options, build)?;
    if let Some(dir) = &args.tensorboard {
        println!(
            "Wrote each run for TensorBoard to {}/batch_SIZE (tensorboard --logdir {})",
            dir.display(),
            dir.display()
        );
    }
    if let Some(p) = patience {
        for run in &mut runs {
            run.early_stopping = Some(minibatch::lab::catch_overfitting([&x, &y, &vx, &vy], run, p, build)?);
        }
    }

    let fairness = match (args.equal_updates, args.scale_lr) {
        (false, false) => String::new(),
        (true, false) => ", equal updates".into(),
        (false, true) => ", learning rate scaled with the batch size".into(),
        (true, true) => ", equal updates, learning rate scaled with the batch size".into(),
    };
    let unit = if args.equal_updates { "rounds" } else { "epochs" };
    if let Some((_, note)) = &standardizer {
        println!("{source}: {note}");
    }
    println!(
        "{} training / {} held-out samples, {epochs} {unit}, {optimizer} lr {learning_rate}, hidden {hidden:?}{fairness}",
        x.batch(),
        vx.batch(),
    );
    print_table(&runs);
    print_noise_scale(&runs, fitting);
    let mut seeded = None;
    if let Some(n) = args.seeds {
        seeded = Some(seeds_table(&runs, n, args.seed, |seed| {
            // Each further seed's runs in a TensorBoard folder of their own (DIR/seed_S/batch_B):
            // mixed into the first seed's, their steps would overlap.
            let tensorboard = options.tensorboard.as_ref().map(|d| d.join(format!("seed_{seed}")));
            let options = LabOptions { tensorboard, ..options.clone() };
            minibatch::lab::run_with([&x, &y, &vx, &vy], &options, || build_seeded(seed))
        })?);
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
    let charts = ChartOptions { log_loss: args.log_loss };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json!({ "runs": runs })).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    if let Some(path) = &args.plot {
        // The tutorial's figure, the loss per batch size, and last the memory per batch size.
        let mut figure = minibatch::lab::figure_with(&runs, charts);
        figure.charts.extend(minibatch::lab::memory_figure(&runs).charts);
        if let Some(all) = &seeded {
            figure.charts.extend(minibatch::lab::seeds_figure(all).charts);
        }
        figure.save(path)?;
        println!("Drew the charts to {}", path.display());
    }
    if let Some(dir) = &args.report {
        config.extend([
            ("batch sizes".to_string(), format!("{batch_sizes:?}")),
            (unit.into(), epochs.to_string()),
            ("comparison".into(), if fairness.is_empty() { "as given".into() } else { fairness[2..].to_string() }),
            (
                "early stopping".into(),
                patience.map_or("off".into(), |p| format!("val_loss, patience {p}, restore best weights")),
            ),
            ("command".into(), super::command_line()),
        ]);
        let mut report = minibatch::report::lab_report(&config, &runs, charts)?;
        if let Some(all) = &seeded {
            let caption =
                "Each batch size's held-out loss per epoch over the seeds: the mean (solid) and the edges of \
                           its 95% interval (dashed). Bands that overlap are within the seeds' noise.";
            report.figure("Across seeds", &minibatch::lab::seeds_figure(all), caption)?;
        }
        let path = report.write(dir)?;
        println!("Wrote the report to {}", path.display());
    }
    Ok(())
}

/// Bytes for people: KiB below a MiB, MiB below a GiB, else GiB.
pub(super) fn mib(bytes: usize) -> String {
    let b = bytes as f64;
    match bytes {
        n if n < 1 << 20 => format!("{:.1} KiB", b / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", b / (1u64 << 20) as f64),
        _ => format!("{:.2} GiB", b / (1u64 << 30) as f64),
    }
}

/// `lab --plan`: each batch size's predicted time per epoch (see `lab::plan_time`), before
/// any training, on one process and on each of `ranks`.
fn print_plan(model: &minibatch::Model, options: &LabOptions, samples: usize, ranks: &[usize]) -> Result<()> {
    let mut rates = minibatch::lab::Rates::measure();
    println!(
        "Predicted time per epoch of {samples} samples (products timed here at their shapes, memory at its bandwidth):"
    );
    let more: Vec<&usize> = ranks.iter().filter(|&&k| k > 1).collect();
    let heads: String = more.iter().map(|k| format!(" {:>11}", format!("{k} ranks"))).collect();
    let units: String = more.iter().map(|_| format!(" {:>11}", "s/epoch")).collect();
    println!(
        "{:>6} {:>8} {:>11} {:>11} {:>10} {:>10} {:>11}{heads}",
        "batch", "updates", "GFLOP", "products", "memory", "ms/update", "s/epoch"
    );
    println!("{:>6} {:>8} {:>11} {:>11} {:>10} {:>10} {:>11}{units}", "", "/epoch", "/update", "ms", "ms", "", "");
    for &b in &options.batch_sizes {
        let n = options.samples_per_epoch(samples, b);
        let p = minibatch::lab::plan_time(model, b, n, 1, &mut rates)?;
        let mut cells = String::new();
        for &&k in &more {
            cells += &match minibatch::lab::plan_time(model, b, n, k, &mut rates) {
                Ok(q) => format!(" {:>11.2}", q.seconds_per_epoch),
                Err(_) => format!(" {:>11}", "batch < K"),
            };
        }
        println!(
            "{b:>6} {:>8} {:>11.3} {:>11.3} {:>10.3} {:>10.3} {:>11.2}{cells}",
            p.steps_per_epoch,
            p.flops_per_step / 1e9,
            p.product_seconds * 1e3,
            p.memory_seconds * 1e3,
            p.seconds_per_step * 1e3,
            p.seconds_per_epoch
        );
    }
    if !more.is_empty() {
        let c = rates.all_reduce;
        println!(
            "Over K processes (each on a machine like this one) each computes batch/K samples, then the gradients \
             ({}) cross in a ring all-reduce: α {:.1} µs, {:.2} GB/s (two ranks on this machine, BENCHMARKS.md; a \
             network is slower)",
            mib(model.memory_plan(1)?.gradients),
            c.latency * 1e6,
            1e-9 / c.seconds_per_byte
        );
    }
    Ok(())
}

/// After the table: the gradient noise scale the runs measured, what it says about the batch
/// sizes compared, and the batch size it recommends (within the memory budget, when given).
fn print_noise_scale(runs: &[LabRun], fitting: Option<usize>) {
    let Some(r) = minibatch::lab::recommend(runs, fitting) else {
        println!(
            "Gradient noise scale: not enough data to estimate (each run needs at least 2 updates an epoch and a \
             signal above the noise)"
        );
        return;
    };
    let each: Vec<String> = runs.iter().map(|r| r.noise_scale.map_or("-".to_string(), |v| format!("{v:.0}"))).collect();
    let b = r.b_noise;
    println!(
        "Gradient noise scale B_noise ≈ {b:.0} samples (median over the runs: {}): above about {b:.0} samples \
         per update a larger batch stops buying fewer updates; well below it, a larger batch needs nearly \
         proportionally fewer (McCandlish et al. 2018).",
        each.join(", ")
    );
    let why = match r.limit {
        Some(Limit::MemoryBudget(f)) => format!(", the largest that fits the memory budget ({f})"),
        Some(Limit::TrainingSet(n)) => {
            format!(", the whole training set ({n} samples): B_noise is larger than the data")
        }
        None => fitting.map_or(String::new(), |f| format!(" (the memory budget allows up to {f})")),
    };
    println!(
        "Recommended batch size: {}{why}, with the learning rate retuned for it (--scale-lr, or --lr-find \
         at that batch size): the trade-off assumes each batch size trains at its best rate",
        r.batch_size
    );
}

/// One row per batch size: updates, time (measured and predicted), memory (planned and
/// measured), wrong answers, the gradient noise scale.
fn print_table(runs: &[LabRun]) {
    let row = |cells: [&str; 13]| {
        println!(
            "{:>6} {:>8} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9}  {:<28} {:>9} {:>6} {:>10} {:>8}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7],
            cells[8],
            cells[9],
            cells[10],
            cells[11],
            cells[12]
        )
    };
    row([
        "batch",
        "updates",
        "updates",
        "ms/epoch",
        "predicted",
        "us/update",
        "plan MiB",
        "RSS +MiB",
        "wrong answers (train), epoch 1..",
        "held-out",
        "best",
        "overfits",
        "B_noise",
    ]);
    row(["", "/epoch", "total", "", "ms/epoch", "", "", "measured", "", "wrong", "epoch", "from", ""]);
    let mb = |b: f64| format!("{:.2}", b / (1u64 << 20) as f64);
    for r in runs {
        let wrong: Vec<String> = r.epochs.iter().map(|e| e.train_wrong.to_string()).collect();
        let shown = if wrong.len() > 8 {
            format!("{} … {}", wrong[..6].join(" "), wrong[wrong.len() - 1])
        } else {
            wrong.join(" ")
        };
        row([
            &r.batch_size.to_string(),
            &r.updates_per_epoch.to_string(),
            &r.total_updates.to_string(),
            &format!("{:.2}", r.seconds_per_epoch * 1e3),
            &r.predicted_seconds_per_epoch.map_or("-".into(), |s| format!("{:.2}", s * 1e3)),
            &format!("{:.1}", r.seconds_per_update * 1e6),
            &mb(r.memory.total() as f64),
            &r.rss_growth_bytes.map_or("-".into(), |b| mb(b as f64)),
            &shown,
            &r.epochs.last().map_or(0, |e| e.val_wrong).to_string(),
            &r.best_val_epoch.to_string(),
            &r.overfitting_from.map_or("-".to_string(), |e| e.to_string()),
            &r.noise_scale.map_or("-".to_string(), |b| format!("{b:.0}")),
        ]);
    }
}

/// `--seeds n`: the runs again with seeds `seed + 1 ..` (`runs` is the first seed's), then
/// each batch size's held-out loss and wrong answers at the last epoch as mean ± a 95%
/// interval, and Welch's test between neighbouring batch sizes.
fn seeds_table(
    runs: &[LabRun],
    n: usize,
    seed: u64,
    mut again: impl FnMut(u64) -> Result<Vec<LabRun>>,
) -> Result<Vec<Vec<LabRun>>> {
    let mut all: Vec<Vec<LabRun>> = vec![runs.to_vec()];
    for s in 1..n as u64 {
        all.push(again(seed + s)?);
    }
    let last = |r: &LabRun| r.epochs.last().map_or((f64::NAN, f64::NAN), |e| (e.val_loss, e.val_wrong as f64));
    let figures: Vec<(usize, Spread, Spread)> = (0..runs.len())
        .filter_map(|i| {
            let (loss, wrong): (Vec<f64>, Vec<f64>) = all.iter().map(|set| last(&set[i])).unzip();
            Some((runs[i].batch_size, Spread::of(&loss)?, Spread::of(&wrong)?))
        })
        .collect();
    println!(
        "Across {n} seeds ({seed} to {}): held-out figures at the last epoch, mean ± 95% interval",
        seed + n as u64 - 1
    );
    println!("{:>6}  {:>22}  {:>18}", "batch", "held-out loss", "wrong answers");
    for (b, loss, wrong) in &figures {
        println!(
            "{b:>6}  {:>22}  {:>18}",
            format!("{:.4} ± {:.4}", loss.mean, loss.half_width),
            format!("{:.1} ± {:.1}", wrong.mean, wrong.half_width)
        );
    }
    for pair in figures.windows(2) {
        let ((b1, l1, _), (b2, l2, _)) = (&pair[0], &pair[1]);
        let c = minibatch::lab::compare(l1, l2);
        let verdict = if c.different { "a real difference (p < 0.05)" } else { "within the seeds' noise" };
        println!(
            "batch {b1} vs {b2}: held-out loss {verdict} (Welch's t = {:.2}, {:.1} degrees of freedom)",
            c.t, c.df
        );
    }
    Ok(all)
}

/// The range test on `model` (returned to its state after) over `x`, `y` at `batch_size`
/// for `steps` steps, its table and suggestions printed (the one to train at first: see
/// [`minibatch::lab::LrFind::recommended`]), and a warning on stderr when Lightning's
/// steepest descent lies near the divergence. `lab --lr-find` and `train --lr-find` share it.
pub(super) fn range_test(
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
    batch_size: usize,
    steps: usize,
    seed: u64,
) -> Result<(minibatch::lab::LrFind, LrFindOptions)> {
    let options = LrFindOptions { num_steps: steps, batch_size, seed, ..Default::default() };
    let found = minibatch::lab::lr_find(model, x, y, &options)?;
    println!(
        "Learning-rate range test: {} steps of batch {batch_size}, rates {:e} to {:e}{}",
        found.rates.len(),
        options.min_lr,
        options.max_lr,
        if found.stopped_early { " (stopped: the loss diverged)" } else { "" }
    );
    println!("{:>12} {:>12} {:>12}", "rate", "loss", "smoothed");
    let every = (found.rates.len() / 12).max(1);
    for i in (0..found.rates.len()).filter(|i| i % every == 0 || *i + 1 == found.rates.len()) {
        println!("{:>12.3e} {:>12.4} {:>12.4}", found.rates[i], found.raw_losses[i], found.losses[i]);
    }
    let which = match (found.valley, found.minimum) {
        (Some(_), _) => "fast.ai's valley: two thirds down the longest fall of the smoothed loss",
        (None, Some(_)) => "fast.ai's minimum/10: a decade below the lowest smoothed loss",
        _ => "where the smoothed loss falls fastest",
    };
    match found.recommended() {
        Some(rate) => println!("Suggested learning rate: {rate:.3e} ({which})"),
        None => println!("No suggestion: the sweep stopped before it had enough steps (give more --lr-find-steps)"),
    }
    let others: Vec<String> = [("valley", found.valley), ("minimum/10", found.minimum), ("steepest", found.suggestion)]
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} {v:.3e}")))
        .collect();
    println!("All suggestions: {}", others.join(", "));
    if let Some(warning) = found.warning() {
        eprintln!("warning: {warning}");
    }
    Ok((found, options))
}

/// `lab --lr-find`: the range test at `batch_size`, its table, plot, JSON and report.
fn lr_find(
    args: &LabArgs,
    x: &Tensor,
    y: &Tensor,
    batch_size: usize,
    build: impl Fn() -> Result<Model>,
    mut config: Vec<(String, String)>,
) -> Result<()> {
    let mut model = build()?;
    let (found, options) = range_test(&mut model, x, y, batch_size, args.lr_find_steps, args.seed)?;
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&json!({ "lr_find": found, "options": options })).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    if let Some(path) = &args.plot {
        minibatch::lab::lr_find_figure(&found).save(path)?;
        println!("Drew the range test to {}", path.display());
    }
    if let Some(dir) = &args.report {
        config.extend([
            ("batch size".to_string(), batch_size.to_string()),
            ("steps".into(), args.lr_find_steps.to_string()),
            ("command".into(), super::command_line()),
        ]);
        let path = minibatch::report::lr_find_report(&config, &found)?.write(dir)?;
        println!("Wrote the report to {}", path.display());
    }
    Ok(())
}
