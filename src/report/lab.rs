//! The report of a `minibatch lab` run.

use super::Report;
use crate::error::Result;
use crate::lab::{self, ChartOptions, LabRun, LrFind};

/// The lab's report: the configuration, one summary row per batch size, the tutorial's
/// figure and the loss curves (drawn as `charts` asks), the memory each batch size costs
/// (planned, by kind, beside the measured growth of resident memory), and every epoch of
/// every run.
///
/// # Errors
/// As [`crate::plot::Figure::to_svg`].
pub fn lab_report(config: &[(String, String)], runs: &[LabRun], charts: ChartOptions) -> Result<Report> {
    let mut r = Report::new("minibatch lab: batch size and epochs");
    r.key_values("Configuration", config);
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let last = run.epochs.last();
            let es = run.early_stopping.as_ref();
            vec![
                run.batch_size.to_string(),
                run.updates_per_epoch.to_string(),
                run.total_updates.to_string(),
                format!("{:.2}", run.seconds_per_epoch * 1e3),
                run.predicted_seconds_per_epoch.map_or_else(dash, |s| format!("{:.2}", s * 1e3)),
                format!("{:.1}", run.seconds_per_update * 1e6),
                format!("{:.2}", mib(run.memory.total())),
                run.rss_growth_bytes.map_or_else(dash, |b| format!("{:.2}", mib(b as usize))),
                last.map_or_else(dash, |e| e.train_wrong.to_string()),
                last.map_or_else(dash, |e| e.val_wrong.to_string()),
                run.best_val_epoch.to_string(),
                run.overfitting_from.map_or_else(dash, |e| e.to_string()),
                es.and_then(|s| s.stopped_epoch).map_or_else(dash, |e| e.to_string()),
                es.and_then(|s| s.restored_epoch).map_or_else(dash, |e| e.to_string()),
                es.map_or_else(dash, |s| s.val_wrong.to_string()),
                run.noise_scale.map_or_else(dash, |b| format!("{b:.0}")),
            ]
        })
        .collect();
    let headers = [
        "batch size",
        "updates / epoch",
        "updates",
        "ms / epoch",
        "predicted ms / epoch",
        "µs / update",
        "planned MiB",
        "measured RSS growth, MiB",
        "wrong (train), last epoch",
        "wrong (held-out), last epoch",
        "lowest held-out loss, epoch",
        "overfitting from",
        "early stop at",
        "restored epoch",
        "wrong (held-out), restored",
        "gradient noise scale B_noise",
    ];
    r.table("Summary", &headers, &rows);
    let answer = match lab::recommend(runs, None) {
        Some(r) => vec![
            (
                "gradient noise scale B_noise".to_string(),
                format!("{:.0} samples (median over the runs' last epochs)", r.b_noise),
            ),
            (
                "which batch size".into(),
                format!(
                    "{}: the largest power of two not above B_noise (capped by the training set); above B_noise a \
                     larger batch stops buying fewer updates (McCandlish et al. 2018)",
                    r.batch_size
                ),
            ),
        ],
        None => vec![(
            "gradient noise scale B_noise".to_string(),
            "not enough data to estimate (each run needs two updates an epoch and a signal above the noise)".into(),
        )],
    };
    r.key_values("Which batch size", &answer);
    let caption = "Top left: wrong answers after each epoch, one colour per batch size (the tutorial's figure; \
                   training solid, held-out dashed). Then, per batch size: training (solid) and held-out (dashed) loss, with \
                   the lowest held-out loss, where overfitting began and where early stopping stopped.";
    r.figure("Charts", &lab::figure_with(runs, charts), caption)?;

    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let m = &run.memory;
            vec![
                run.batch_size.to_string(),
                format!("{:.3}", mib(m.weights)),
                format!("{:.3}", mib(m.gradients)),
                format!("{:.3}", mib(m.optimizer)),
                format!("{:.3}", mib(m.activations)),
                format!("{:.3}", mib(m.workspaces)),
                format!("{:.3}", mib(m.total())),
                run.rss_growth_bytes.map_or_else(dash, |b| format!("{:.3}", mib(b as usize))),
            ]
        })
        .collect();
    let headers = [
        "batch size",
        "weights",
        "gradients",
        "optimizer",
        "activations",
        "workspaces",
        "planned, MiB",
        "measured RSS growth, MiB",
    ];
    r.table("Memory per batch size", &headers, &rows);
    let caption = "What training at each batch size holds, as the engine plans it before the first step (solid: \
                   everything, and the part that grows with the batch: activations and workspaces), beside how far \
                   the process's resident memory rose during the run (dashed; it also holds the evaluation after \
                   each epoch and the allocator's own overhead).";
    r.figure("Memory", &lab::memory_figure(runs), caption)?;
    for run in runs {
        let rows: Vec<Vec<String>> = run
            .epochs
            .iter()
            .map(|e| {
                vec![
                    e.epoch.to_string(),
                    format!("{:.4}", e.train_loss),
                    e.train_wrong.to_string(),
                    format!("{:.4}", e.val_loss),
                    e.val_wrong.to_string(),
                    format!("{:.2}", e.train_seconds * 1e3),
                ]
            })
            .collect();
        let headers = ["epoch", "training loss", "wrong (train)", "held-out loss", "wrong (held-out)", "ms"];
        r.table(&format!("Batch size {}: every epoch", run.batch_size), &headers, &rows);
    }
    Ok(r)
}

/// The learning-rate range test's report: the configuration, the suggestion, the loss over
/// the rate, and every step.
///
/// # Errors
/// As [`crate::plot::Figure::to_svg`].
pub fn lr_find_report(config: &[(String, String)], found: &LrFind) -> Result<Report> {
    let mut r = Report::new("minibatch lab: learning-rate range test");
    r.key_values("Configuration", config);
    let shown = |rate: Option<f64>| rate.map_or("none (too few steps)".into(), |v| format!("{v:.3e}"));
    let outcome = vec![
        ("suggested learning rate".to_string(), shown(found.recommended())),
        ("fast.ai's valley".into(), shown(found.valley)),
        ("fast.ai's minimum/10".into(), shown(found.minimum)),
        ("steepest descent (Lightning's suggestion)".into(), shown(found.suggestion)),
        ("warning".into(), found.warning().unwrap_or_else(|| "none".into())),
        ("steps taken".into(), found.rates.len().to_string()),
        ("stopped because the loss diverged".into(), if found.stopped_early { "yes" } else { "no" }.into()),
    ];
    r.key_values("Outcome", &outcome);
    let caption = "The loss after each step while the rate grows exponentially (solid: smoothed as Lightning \
                   smooths it; dashed: each step's batch loss). The suggestion is fast.ai's valley, two thirds \
                   down the longest fall of the smoothed loss (the steepest descent, Lightning's suggestion, lags \
                   the raw loss and can lie near the divergence); rates much above it make the loss climb.";
    r.figure("Loss against the learning rate", &lab::lr_find_figure(found), caption)?;
    let rows: Vec<Vec<String>> = (0..found.rates.len())
        .map(|i| {
            vec![
                (i + 1).to_string(),
                format!("{:.3e}", found.rates[i]),
                format!("{:.4}", found.raw_losses[i]),
                format!("{:.4}", found.losses[i]),
            ]
        })
        .collect();
    r.table("Every step", &["step", "learning rate", "loss", "smoothed loss"], &rows);
    Ok(r)
}

/// Bytes in MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}
