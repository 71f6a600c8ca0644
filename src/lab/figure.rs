//! The lab's charts: the tutorial's figure (wrong answers per epoch, one line per batch size)
//! and, per batch size, training against held-out loss with the overfitting point marked.

use super::LabRun;
use crate::plot::{Chart, Figure, Mark, Series};

/// The lab's figure: first the wrong answers per epoch for every batch size (the tutorial's
/// figure; training solid, held-out dashed), then one panel per batch size with training (solid) and held-out (dashed) loss, the
/// lowest held-out loss, where overfitting began and, when it ran, where early stopping
/// stopped.
pub fn figure(runs: &[LabRun]) -> Figure {
    let epochs = |r: &LabRun| r.epochs.iter().map(|e| e.epoch as f64).collect::<Vec<_>>();
    let wrong = Chart {
        title: "Wrong answers per epoch".into(),
        x_label: "epoch".into(),
        y_label: "wrong answers".into(),
        series: runs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                let train = Series {
                    name: format!("batch {} ({} updates/epoch)", r.batch_size, r.updates_per_epoch),
                    points: epochs(r).into_iter().zip(r.epochs.iter().map(|e| e.train_wrong as f64)).collect(),
                    color: i,
                    dashed: false,
                };
                let held_out = Series {
                    name: format!("batch {}, held-out", r.batch_size),
                    points: epochs(r).into_iter().zip(r.epochs.iter().map(|e| e.val_wrong as f64)).collect(),
                    color: i,
                    dashed: true,
                };
                [train, held_out]
            })
            .collect(),
        marks: Vec::new(),
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
            x_label: "epoch".into(),
            y_label: "loss".into(),
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
        });
    }
    Figure { charts, columns: 2 }
}
