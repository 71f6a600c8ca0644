//! The report of one training run.

use super::Report;
use crate::callbacks::{format_value, History};
use crate::error::Result;
use crate::plot;

/// The report of a `fit`: the configuration given, the outcome (epochs, updates, best
/// epoch, where training stopped, test figures), the learning curves, and every epoch's
/// History values. [`TrainingReport`] adds the model, the data and a confusion matrix.
///
/// # Errors
/// As [`plot::Figure::to_svg`].
pub fn training_report(
    config: &[(String, String)],
    history: &History,
    stopped_epoch: Option<usize>,
    test: &[(String, f64)],
) -> Result<Report> {
    TrainingReport::new(config, history).stopped_epoch(stopped_epoch).test(test).build()
}

/// The report of a `fit`, section by section: what [`training_report`] shows, and whatever
/// else is given — the command line and when it ran, the data's shapes and class balance,
/// the model's summary table, the wall time, and a confusion matrix on the test data.
///
/// ```
/// use minibatch::{callbacks::History, report::TrainingReport};
/// let history = History::default();
/// let report = TrainingReport::new(&[], &history)
///     .confusion(&["cat".into(), "dog".into()], &[vec![5, 1], vec![2, 7]])
///     .build()
///     .unwrap();
/// assert!(report.to_html().contains("Confusion matrix"));
/// ```
pub struct TrainingReport<'a> {
    config: &'a [(String, String)],
    history: &'a History,
    stopped_epoch: Option<usize>,
    test: &'a [(String, f64)],
    command: Option<(String, String)>,
    data: Vec<(String, String)>,
    balance: Option<ClassBalance>,
    summary: Option<String>,
    wall_seconds: Option<f64>,
    confusion: Option<(Vec<String>, Vec<Vec<u64>>)>,
}

/// Samples per class (`counts[set][class]`) in each named set.
struct ClassBalance {
    classes: Vec<String>,
    sets: Vec<String>,
    counts: Vec<Vec<u64>>,
}

impl<'a> TrainingReport<'a> {
    /// The report of `history`, trained with the settings `config` names.
    pub fn new(config: &'a [(String, String)], history: &'a History) -> Self {
        TrainingReport {
            config,
            history,
            stopped_epoch: None,
            test: &[],
            command: None,
            data: Vec::new(),
            balance: None,
            summary: None,
            wall_seconds: None,
            confusion: None,
        }
    }

    /// The 0-based epoch where early stopping ended the run.
    pub fn stopped_epoch(mut self, epoch: Option<usize>) -> Self {
        self.stopped_epoch = epoch;
        self
    }

    /// The test figures (`loss`, `accuracy`, ...).
    pub fn test(mut self, figures: &'a [(String, f64)]) -> Self {
        self.test = figures;
        self
    }

    /// The command line that ran, and when it started (see [`super::timestamp`]).
    pub fn command(mut self, command: &str, started: &str) -> Self {
        self.command = Some((command.into(), started.into()));
        self
    }

    /// The data, as name–value rows (shapes, sizes, the source).
    pub fn data(mut self, rows: Vec<(String, String)>) -> Self {
        self.data = rows;
        self
    }

    /// Samples per class in each set: `counts[set][class]`, the sets named by `sets`.
    pub fn class_balance(mut self, classes: &[String], sets: &[String], counts: &[Vec<u64>]) -> Self {
        self.balance = Some(ClassBalance { classes: classes.to_vec(), sets: sets.to_vec(), counts: counts.to_vec() });
        self
    }

    /// The model's summary table (see [`crate::Model::summary`]).
    pub fn summary(mut self, text: &str) -> Self {
        self.summary = Some(text.into());
        self
    }

    /// The run's wall time, in seconds (the time per epoch is derived).
    pub fn wall_time(mut self, seconds: f64) -> Self {
        self.wall_seconds = Some(seconds);
        self
    }

    /// A confusion matrix (rows: the true class, columns: the predicted one), as
    /// [`crate::metrics::confusion_matrix`] counts it.
    pub fn confusion(mut self, classes: &[String], matrix: &[Vec<u64>]) -> Self {
        self.confusion = Some((classes.to_vec(), matrix.to_vec()));
        self
    }

    /// The page.
    ///
    /// # Errors
    /// As [`plot::Figure::to_svg`].
    pub fn build(self) -> Result<Report> {
        let history = self.history;
        let mut r = Report::new("minibatch training report");
        let mut config = self.config.to_vec();
        if let Some((command, started)) = &self.command {
            config.push(("command".into(), command.clone()));
            config.push(("started".into(), started.clone()));
        }
        r.key_values("Configuration", &config);
        if !self.data.is_empty() {
            r.key_values("Data", &self.data);
        }
        if let Some(ClassBalance { classes, sets, counts }) = &self.balance {
            let headers: Vec<&str> = std::iter::once("class").chain(sets.iter().map(String::as_str)).collect();
            let rows: Vec<Vec<String>> = classes
                .iter()
                .enumerate()
                .map(|(c, name)| {
                    let cells = counts.iter().map(|set| {
                        let total: u64 = set.iter().sum();
                        let n = set.get(c).copied().unwrap_or(0);
                        format!("{n} ({:.1}%)", 100.0 * n as f64 / total.max(1) as f64)
                    });
                    std::iter::once(name.clone()).chain(cells).collect()
                })
                .collect();
            r.table("Class balance", &headers, &rows);
        }
        if let Some(summary) = &self.summary {
            r.preformatted("Model", summary);
        }

        let mut outcome = vec![
            ("epochs run".to_string(), history.epochs_run().to_string()),
            ("weight updates".into(), format!("{} ({} per epoch)", history.weight_updates, history.steps_per_epoch)),
            ("training samples per epoch".into(), history.train_samples.to_string()),
        ];
        if let Some(seconds) = self.wall_seconds {
            let per_epoch = seconds / history.epochs_run().max(1) as f64;
            outcome.push(("wall time".into(), format!("{seconds:.2} s ({per_epoch:.3} s per epoch)")));
        }
        match (history.best_epoch(), history.lowest_loss_epoch()) {
            (Some(best), _) => outcome.push(("best epoch".into(), format!("{} (lowest val_loss)", best + 1))),
            (None, Some(lowest)) => outcome.push((
                "lowest training loss".into(),
                format!("epoch {} (a running mean over the epoch; no validation data, so no best epoch)", lowest + 1),
            )),
            (None, None) => {}
        }
        outcome
            .push(("stopped early".into(), self.stopped_epoch.map_or("no".into(), |e| format!("at epoch {}", e + 1))));
        outcome.extend(self.test.iter().map(|(k, v)| (format!("test {k}"), format_value(*v))));
        r.key_values("Outcome", &outcome);
        // What the curves show, each with its epoch and a suggestion.
        let findings = crate::callbacks::diagnose(history);
        let diagnosis: Vec<(String, String)> = if findings.is_empty() {
            vec![(
                "the curves".into(),
                "nothing to flag: no divergence, overfitting, oscillation, plateau or stall".into(),
            )]
        } else {
            findings.into_iter().map(|f| (f.kind.name().to_string(), f.message)).collect()
        };
        r.key_values("Diagnosis", &diagnosis);

        if let Some((classes, matrix)) = &self.confusion {
            let predicted: Vec<String> = classes.iter().map(|c| format!("predicted {c}")).collect();
            let headers: Vec<&str> =
                std::iter::once("true class").chain(predicted.iter().map(String::as_str)).collect();
            let rows: Vec<Vec<String>> = classes
                .iter()
                .zip(matrix)
                .map(|(c, row)| std::iter::once(c.clone()).chain(row.iter().map(u64::to_string)).collect())
                .collect();
            r.table("Confusion matrix (test data)", &headers, &rows);
        }

        if history.epochs_run() > 0 {
            let caption = "Training (solid) and validation (dashed) per epoch; vertical lines mark the best epoch \
                           and, when early stopping ended the run, where it stopped.";
            r.figure("Learning curves", &plot::history_figure(history, self.stopped_epoch), caption)?;
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
}
