//! The report of one training run.

use super::Report;
use crate::callbacks::{format_value, History};
use crate::error::Result;
use crate::plot;

/// The report of a `fit`: the configuration given, the outcome (epochs, updates, best
/// epoch, where training stopped, test figures), the learning curves, and every epoch's
/// History values.
///
/// # Errors
/// As [`plot::Figure::to_svg`].
pub fn training_report(
    config: &[(String, String)],
    history: &History,
    stopped_epoch: Option<usize>,
    test: &[(String, f64)],
) -> Result<Report> {
    let mut r = Report::new("minibatch training report");
    r.key_values("Configuration", config);

    let mut outcome = vec![
        ("epochs run".to_string(), history.epochs_run().to_string()),
        ("weight updates".into(), format!("{} ({} per epoch)", history.weight_updates, history.steps_per_epoch)),
        ("training samples per epoch".into(), history.train_samples.to_string()),
    ];
    match (history.best_epoch(), history.lowest_loss_epoch()) {
        (Some(best), _) => outcome.push(("best epoch".into(), format!("{} (lowest val_loss)", best + 1))),
        (None, Some(lowest)) => outcome.push((
            "lowest training loss".into(),
            format!("epoch {} (a running mean over the epoch; no validation data, so no best epoch)", lowest + 1),
        )),
        (None, None) => {}
    }
    outcome.push(("stopped early".into(), stopped_epoch.map_or("no".into(), |e| format!("at epoch {}", e + 1))));
    outcome.extend(test.iter().map(|(k, v)| (format!("test {k}"), format_value(*v))));
    r.key_values("Outcome", &outcome);

    if history.epochs_run() > 0 {
        let caption = "Training (solid) and validation (dashed) per epoch; vertical lines mark the best epoch and, \
                       when early stopping ended the run, where it stopped.";
        r.figure("Learning curves", &plot::history_figure(history, stopped_epoch), caption)?;
    }

    let keys: Vec<&str> = history.keys().collect();
    let headers: Vec<&str> = std::iter::once("epoch").chain(keys.iter().copied()).collect();
    let rows: Vec<Vec<String>> = history
        .epoch
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let values = keys.iter().map(|k| history.get(k).map_or(String::new(), |v| format_value(v[i])));
            std::iter::once((e + 1).to_string()).chain(values).collect()
        })
        .collect();
    r.table("Epochs", &headers, &rows);
    Ok(r)
}
