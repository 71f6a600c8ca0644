//! The lab's charts: the tutorial's figure (wrong answers per epoch, one line per batch size)
//! and, per batch size, training against held-out loss with the overfitting point marked; the
//! memory each batch size costs; the learning-rate range test.

use super::{LabRun, LrFind, Spread};
use crate::plot::{Chart, Figure, Mark, Series};

/// How the lab's charts are drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChartOptions {
    /// A logarithmic loss axis (losses that fall by orders of magnitude).
    pub log_loss: bool,
}

/// "1 update", "8 updates".
fn updates(n: usize) -> String {
    format!("{n} update{}", if n == 1 { "" } else { "s" })
}

/// Whether the runs made rounds of equal updates rather than passes over the data.
fn in_rounds(runs: &[LabRun]) -> bool {
    runs.iter().any(|r| r.updates_per_epoch != r.train_samples.div_ceil(r.batch_size))
}

/// The lab's figure: first the wrong answers per epoch for every batch size (the tutorial's
/// figure; training solid, held-out dashed; as a percentage of each set when the training
/// and held-out sets differ in size), then one panel per batch size with training (solid)
/// and held-out (dashed) loss, the lowest held-out loss, where overfitting began and, when it
/// ran, where early stopping stopped. (The memory each batch size costs is
/// [`memory_figure`].)
pub fn figure(runs: &[LabRun]) -> Figure {
    figure_with(runs, ChartOptions::default())
}

/// [`figure`], drawn as `options` asks.
pub fn figure_with(runs: &[LabRun], options: ChartOptions) -> Figure {
    let epochs = |r: &LabRun| r.epochs.iter().map(|e| e.epoch as f64).collect::<Vec<_>>();
    let x_label = match runs.first() {
        Some(r) if in_rounds(runs) => format!("round of {} (each batch size alike)", updates(r.updates_per_epoch)),
        _ => "epoch".to_string(),
    };
    let rate = runs.iter().any(|r| r.train_samples != r.val_samples);
    let shown = |wrong: usize, n: usize| if rate { 100.0 * wrong as f64 / n.max(1) as f64 } else { wrong as f64 };
    let wrong = Chart {
        title: if rate { "Wrong answers per epoch (% of each set)" } else { "Wrong answers per epoch" }.into(),
        x_label: x_label.clone(),
        y_label: if rate { "% wrong" } else { "wrong answers" }.into(),
        series: runs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                let train = Series {
                    name: format!("batch {} ({}/epoch)", r.batch_size, updates(r.updates_per_epoch)),
                    points: epochs(r)
                        .into_iter()
                        .zip(r.epochs.iter().map(|e| shown(e.train_wrong, r.train_samples)))
                        .collect(),
                    color: i,
                    dashed: false,
                };
                let held_out = Series {
                    name: format!("batch {}, held-out", r.batch_size),
                    points: epochs(r)
                        .into_iter()
                        .zip(r.epochs.iter().map(|e| shown(e.val_wrong, r.val_samples)))
                        .collect(),
                    color: i,
                    dashed: true,
                };
                [train, held_out]
            })
            .collect(),
        ..Chart::default()
    };
    let mut charts = vec![wrong];
    for (i, r) in runs.iter().enumerate() {
        let xs = epochs(r);
        let mut marks = vec![Mark {
            x: r.best_val_epoch as f64,
            label: format!("lowest held-out loss, epoch {}", r.best_val_epoch),
            color: 0,
        }];
        if let Some(e) = r.overfitting_from {
            marks.push(Mark { x: e as f64, label: format!("overfitting from epoch {e}"), color: 1 });
        }
        if let Some(e) = r.early_stopping.as_ref().and_then(|s| s.stopped_epoch) {
            marks.push(Mark { x: e as f64, label: format!("early stopping at epoch {e}"), color: 2 });
        }
        charts.push(Chart {
            title: format!("Loss at batch size {}", r.batch_size),
            x_label: x_label.clone(),
            y_label: if options.log_loss { "loss (log scale)" } else { "loss" }.into(),
            log_y: options.log_loss,
            series: vec![
                Series {
                    name: "training".into(),
                    points: xs.iter().copied().zip(r.epochs.iter().map(|e| e.train_loss)).collect(),
                    color: i,
                    dashed: false,
                },
                Series {
                    name: "held-out".into(),
                    points: xs.iter().copied().zip(r.epochs.iter().map(|e| e.val_loss)).collect(),
                    color: i,
                    dashed: true,
                },
            ],
            marks,
            ..Chart::default()
        });
    }
    Figure { charts, columns: 2 }
}

/// The memory each batch size costs: the engine's plan (in total, and what grows with the
/// batch: activations and workspaces) beside the resident memory measured during the run,
/// in MiB, over the batch size (a logarithmic axis).
pub fn memory_figure(runs: &[LabRun]) -> Figure {
    let mut sorted: Vec<&LabRun> = runs.iter().collect();
    sorted.sort_by_key(|r| r.batch_size);
    let mib = |b: f64| b / (1u64 << 20) as f64;
    let line = |name: &str, color, dashed, value: &dyn Fn(&LabRun) -> Option<f64>| Series {
        name: name.into(),
        points: sorted.iter().filter_map(|r| Some((r.batch_size as f64, mib(value(r)?)))).collect(),
        color,
        dashed,
    };
    let mut series = vec![
        line("planned: everything", 0, false, &|r| Some(r.memory.total() as f64)),
        line("planned: activations + workspaces", 1, false, &|r| Some(r.memory.per_batch() as f64)),
    ];
    let measured = line("measured: resident memory growth", 2, true, &|r| r.rss_growth_bytes.map(|b| b as f64));
    if !measured.points.is_empty() {
        series.push(measured);
    }
    let chart = Chart {
        title: "Memory per batch size".into(),
        x_label: "batch size".into(),
        y_label: "MiB".into(),
        series,
        log_x: sorted.len() > 1 && sorted.last().map(|r| r.batch_size).unwrap_or(1) >= 10 * sorted[0].batch_size,
        ..Chart::default()
    };
    Figure { charts: vec![chart], columns: 1 }
}

/// The learning-rate range test: the smoothed loss (and each step's, dashed) over the rate,
/// on a logarithmic rate axis, the suggested rate (fast.ai's valley) and the steepest descent
/// marked.
pub fn lr_find_figure(found: &LrFind) -> Figure {
    let points = |values: &[f64]| found.rates.iter().copied().zip(values.iter().copied()).collect();
    let steepest = found.suggestion.map(|r| Mark { x: r, label: format!("steepest descent: {r:.3e}"), color: 1 });
    let valley = found.valley.map(|r| Mark { x: r, label: format!("suggested: {r:.3e} (fast.ai's valley)"), color: 2 });
    let marks = valley.into_iter().chain(steepest).collect();
    let chart = Chart {
        title: "Learning-rate range test".into(),
        x_label: "learning rate".into(),
        y_label: "loss".into(),
        series: vec![
            Series { name: "loss (smoothed)".into(), points: points(&found.losses), color: 0, dashed: false },
            Series { name: "loss of each step".into(), points: points(&found.raw_losses), color: 1, dashed: true },
        ],
        marks,
        log_x: true,
        // The loss explodes in the last steps: the axis stops at half again the first
        // smoothed loss, so the fall before it stays readable.
        y_max: found.losses.first().filter(|l| l.is_finite()).map(|l| 1.5 * l),
        ..Chart::default()
    };
    Figure { charts: vec![chart], columns: 1 }
}

/// The same batch sizes over several seeds (`seeds[s][i]`: seed `s`'s run of batch size `i`):
/// the held-out loss per epoch as the mean over the seeds (solid) and its 95% interval's edges
/// (dashed, [`Spread`]), one colour per batch size, so that two batch sizes whose bands overlap
/// are told apart from two that do not.
pub fn seeds_figure(seeds: &[Vec<LabRun>]) -> Figure {
    let Some(first) = seeds.first() else { return Figure { charts: Vec::new(), columns: 1 } };
    let mut series = Vec::new();
    for (i, run) in first.iter().enumerate() {
        let epochs = seeds.iter().map(|s| s.get(i).map_or(0, |r| r.epochs.len())).min().unwrap_or(0);
        let spreads: Vec<(f64, Spread)> = (0..epochs)
            .filter_map(|e| {
                let values: Vec<f64> = seeds.iter().map(|s| s[i].epochs[e].val_loss).collect();
                Some(((e + 1) as f64, Spread::of(&values)?))
            })
            .collect();
        let line = |name: String, dashed, value: &dyn Fn(&Spread) -> f64| Series {
            name,
            points: spreads.iter().map(|(x, s)| (*x, value(s))).collect(),
            color: i,
            dashed,
        };
        series.push(line(format!("batch {}: mean of {} seeds", run.batch_size, seeds.len()), false, &|s| s.mean));
        series.push(line(format!("batch {}: 95% interval", run.batch_size), true, &|s| s.mean - s.half_width));
        series.push(line(String::new(), true, &|s| s.mean + s.half_width));
    }
    let chart = Chart {
        title: format!("Held-out loss over {} seeds: mean and 95% interval", seeds.len()),
        x_label: "epoch".into(),
        y_label: "held-out loss".into(),
        series,
        ..Chart::default()
    };
    Figure { charts: vec![chart], columns: 1 }
}
