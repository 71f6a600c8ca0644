//! `History`: every epoch's logs, under Keras's key names, returned by `fit`.

use super::Logs;

/// What `fit` returns: one value per epoch under each key (`loss`, `accuracy`, `val_loss`,
/// ...), as Keras's `History.history`, plus the counts of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// `(key, one value per epoch run)`, in Keras's order.
    pub history: Vec<(String, Vec<f64>)>,
    /// The 0-based index of each epoch run (Keras's `History.epoch`).
    pub epoch: Vec<usize>,
    /// Weight updates per epoch, `ceil(train_samples / batch_size)`.
    pub steps_per_epoch: usize,
    /// Optimizer steps taken in this `fit` call.
    pub weight_updates: u64,
    /// Samples trained on per epoch.
    pub train_samples: usize,
    /// Samples per batch.
    pub batch_size: usize,
}

impl History {
    /// The values recorded under `key`, one per epoch.
    ///
    /// An epoch that did not report `key` (say `val_loss` under `validation_freq > 1`) is
    /// recorded as NaN so every series stays aligned with [`History::epoch`].
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(|(k, _)| k.as_str())
    }

    /// Number of epochs run.
    pub fn epochs_run(&self) -> usize {
        self.epoch.len()
    }

    /// Records one epoch.
    pub fn record(&mut self, epoch: usize, logs: &Logs) {
        let before = self.epoch.len();
        for (k, v) in logs.iter() {
            match self.history.iter_mut().find(|(key, _)| key == k) {
                Some((_, values)) => values.push(v),
                None => {
                    let mut values = vec![f64::NAN; before];
                    values.push(v);
                    self.history.push((k.to_string(), values));
                }
            }
        }
        self.epoch.push(epoch);
        for (_, values) in &mut self.history {
            values.resize(before + 1, f64::NAN);
        }
    }
}
