//! The report of a `minibatch lab` run.

use super::Report;
use crate::error::Result;
use crate::lab::{self, LabRun};

/// The lab's report: the configuration, one summary row per batch size, the tutorial's
/// figure and the loss curves, and every epoch of every run.
///
/// # Errors
/// As [`crate::plot::Figure::to_svg`].
pub fn lab_report(config: &[(String, String)], runs: &[LabRun]) -> Result<Report> {
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
                format!("{:.1}", run.seconds_per_update * 1e6),
                format!("{:.1}", run.planned_bytes as f64 / 1024.0),
                last.map_or_else(dash, |e| e.train_wrong.to_string()),
                last.map_or_else(dash, |e| e.val_wrong.to_string()),
                run.best_val_epoch.to_string(),
                run.overfitting_from.map_or_else(dash, |e| e.to_string()),
                es.and_then(|s| s.stopped_epoch).map_or_else(dash, |e| e.to_string()),
                es.and_then(|s| s.restored_epoch).map_or_else(dash, |e| e.to_string()),
                es.map_or_else(dash, |s| s.val_wrong.to_string()),
            ]
        })
        .collect();
    let headers = [
        "batch size",
        "updates / epoch",
        "updates",
        "ms / epoch",
        "µs / update",
        "plan KiB",
        "wrong (train), last epoch",
        "wrong (held-out), last epoch",
        "lowest held-out loss, epoch",
        "overfitting from",
        "early stop at",
        "restored epoch",
        "wrong (held-out), restored",
    ];
    r.table("Summary", &headers, &rows);
    let caption = "Top left: wrong answers after each epoch, one colour per batch size (the tutorial's figure; \
                   training solid, held-out dashed). Then, per batch size: training (solid) and held-out (dashed) loss, with \
                   the lowest held-out loss, where overfitting began and where early stopping stopped.";
    r.figure("Charts", &lab::figure(runs), caption)?;
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
