//! `History`: every epoch's logs, under Keras's key names, returned by `fit`.

use super::Logs;
use serde_json::{json, Value};

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

    /// The value of `key` at the last epoch that reported one (a finite value), if any: say
    /// `noise_scale`, which an epoch without an estimate leaves out.
    pub fn last_reported(&self, key: &str) -> Option<f64> {
        self.get(key)?.iter().rev().copied().find(|v| v.is_finite())
    }

    /// Makes room for `epochs` epochs in all (at most 65,536: a larger count grows as it
    /// goes), so that recording them does not allocate beyond a key's first appearance.
    pub fn reserve(&mut self, epochs: usize) {
        let epochs = epochs.min(1 << 16);
        let more = epochs.saturating_sub(self.epoch.len());
        self.epoch.reserve(more);
        for (_, values) in &mut self.history {
            values.reserve(epochs.saturating_sub(values.len()));
        }
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(|(k, _)| k.as_str())
    }

    /// Number of epochs run.
    pub fn epochs_run(&self) -> usize {
        self.epoch.len()
    }

    /// The best epoch: the 0-based epoch with the lowest finite `val_loss`, when validation
    /// ran. Without validation there is no best epoch: the lowest training `loss` is a running
    /// mean over an epoch's batches while the weights changed, not a measure of one set of
    /// weights (see [`History::lowest_loss_epoch`]).
    pub fn best_epoch(&self) -> Option<usize> {
        self.lowest("val_loss").map(|i| self.epoch[i])
    }

    /// The 0-based epoch with the lowest finite training `loss` (a running mean over the
    /// epoch's batches).
    pub fn lowest_loss_epoch(&self) -> Option<usize> {
        self.lowest("loss").map(|i| self.epoch[i])
    }

    /// The position of the lowest finite value of `key` in the recorded series.
    fn lowest(&self, key: &str) -> Option<usize> {
        let values = self.get(key)?;
        values.iter().enumerate().filter(|(_, v)| v.is_finite()).min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
    }

    /// The end-of-training summary: epochs run, the best epoch and its values, and the time.
    pub fn summary(&self, seconds: f64) -> String {
        let mut s = String::from("Training summary\n");
        let range = match (self.epoch.first(), self.epoch.last()) {
            (Some(a), Some(b)) => format!(" (epochs {}–{})", a + 1, b + 1),
            _ => String::new(),
        };
        s += &format!("  epochs run: {}{range}, {} weight updates\n", self.epochs_run(), self.weight_updates);
        let values = |i: usize| {
            let v: Vec<String> = self
                .history
                .iter()
                .filter(|(_, v)| v[i].is_finite())
                .map(|(k, v)| format!("{k}: {}", super::progbar::format_value(v[i])))
                .collect();
            v.join(" - ")
        };
        if let Some(i) = self.lowest("val_loss") {
            s += &format!("  best epoch: {} (lowest val_loss) - {}\n", self.epoch[i] + 1, values(i));
        } else if let Some(i) = self.lowest("loss") {
            s += &format!(
                "  lowest training loss: epoch {} - {} (running means over each epoch's batches; \
                 give validation data to find the best epoch)\n",
                self.epoch[i] + 1,
                values(i)
            );
        }
        let rate = if seconds > 0.0 { self.weight_updates as f64 / seconds } else { 0.0 };
        s += &format!("  wall time: {seconds:.2} s, {rate:.0} updates/s");
        s
    }

    /// The epoch index after the last one recorded (where a continued run starts), or 0.
    pub fn next_epoch(&self) -> usize {
        self.epoch.last().map_or(0, |e| e + 1)
    }

    /// The History as JSON: `{"history": [[key, [values]], ...], "epoch": [...], counts}`,
    /// keys in order, NaN as `null`.
    pub fn to_json(&self) -> Value {
        let series: Vec<Value> = self
            .history
            .iter()
            .map(|(k, v)| {
                json!([k, v.iter().map(|x| if x.is_finite() { json!(x) } else { Value::Null }).collect::<Vec<_>>()])
            })
            .collect();
        json!({
            "history": series,
            "epoch": self.epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "weight_updates": self.weight_updates,
            "train_samples": self.train_samples,
            "batch_size": self.batch_size,
        })
    }

    /// Reads [`History::to_json`]'s form back (`null` as NaN); `None` if it is not that form.
    pub fn from_json(v: &Value) -> Option<History> {
        let mut h = History {
            epoch: serde_json::from_value(v.get("epoch")?.clone()).ok()?,
            steps_per_epoch: v.get("steps_per_epoch")?.as_u64()? as usize,
            weight_updates: v.get("weight_updates")?.as_u64()?,
            train_samples: v.get("train_samples")?.as_u64()? as usize,
            batch_size: v.get("batch_size")?.as_u64()? as usize,
            history: Vec::new(),
        };
        for entry in v.get("history")?.as_array()? {
            let key = entry.get(0)?.as_str()?.to_string();
            let values: Vec<f64> = entry.get(1)?.as_array()?.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
            if values.len() != h.epoch.len() {
                return None;
            }
            h.history.push((key, values));
        }
        Some(h)
    }

    /// Records one epoch.
    pub fn record(&mut self, epoch: usize, logs: &Logs) {
        let before = self.epoch.len();
        let room = self.epoch.capacity();
        for (k, v) in logs.iter() {
            match self.history.iter_mut().find(|(key, _)| key == k) {
                Some((_, values)) => values.push(v),
                None => {
                    let mut values = Vec::with_capacity(room.max(before + 1));
                    values.resize(before, f64::NAN);
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
