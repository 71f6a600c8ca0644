//! What a run's learning curves show, named with the epoch and a suggestion: [`diagnose`].
//!
//! Keras prints the curves' numbers and leaves the reading to the user
//! (keras-team/keras#10102 asks for more). The rules, in the order they are checked:
//!
//! | finding | rule (epoch means of the History) |
//! |---|---|
//! | divergence | the training loss became NaN or infinite, or ended above 1.5× its first value |
//! | overfitting | [`overfitting_onset`] (validation loss lowest at an epoch before the last, risen above it by the end, while the training loss fell below its value there), the minimum at least 3 epochs before the end and the rise above 5% |
//! | a rate too high | the training loss rose by more than 1% in at least a third of the epoch-to-epoch changes (5 epochs or more) |
//! | a rate too low | the training loss fell by less than 2% of its first value over 3 epochs or more |
//! | a plateau | after falling, the monitored loss (`val_loss`, else `loss`) moved less than 0.5% over the last third of the run (at least 3 epochs) |
//!
//! Divergence and a rate too low are exclusive of the others; overfitting, oscillation and a
//! plateau can come together.

use super::History;

/// What the curves show (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// The training loss became NaN or infinite, or rose well above where it began.
    Divergence,
    /// The validation loss turned up while the training loss kept falling.
    Overfitting,
    /// The training loss oscillates from epoch to epoch.
    RateTooHigh,
    /// The training loss barely moved.
    RateTooLow,
    /// The monitored loss stopped moving after it fell.
    Plateau,
}

impl FindingKind {
    /// In words: `divergence`, `overfitting`, `rate too high`, `rate too low`, `plateau`.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Divergence => "divergence",
            FindingKind::Overfitting => "overfitting",
            FindingKind::RateTooHigh => "rate too high",
            FindingKind::RateTooLow => "rate too low",
            FindingKind::Plateau => "plateau",
        }
    }
}

/// One finding: what, from which 0-based epoch, and the sentence the summary prints (epochs
/// 1-based there, as Keras prints them).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What the curves show.
    pub kind: FindingKind,
    /// The 0-based epoch it begins at, when it has one.
    pub epoch: Option<usize>,
    /// The sentence, with a suggestion.
    pub message: String,
}

/// The 0-based epoch where overfitting began, if it did: the epoch after the lowest held-out
/// loss, provided that by the last epoch the held-out loss has risen above that minimum by
/// more than 1% while the training loss has fallen below its value there. `None` when the
/// held-out loss is lowest at the end, or both curves rose together (that is divergence, not
/// overfitting).
///
/// ```
/// use minibatch::callbacks::overfitting_onset;
/// let train = [1.0, 0.6, 0.4, 0.3, 0.2];
/// let val = [1.1, 0.8, 0.7, 0.75, 0.9];
/// assert_eq!(overfitting_onset(&train, &val), Some(3));
/// assert_eq!(overfitting_onset(&train, &[1.1, 0.8, 0.7, 0.6, 0.5]), None);
/// ```
pub fn overfitting_onset(train_loss: &[f64], val_loss: &[f64]) -> Option<usize> {
    let last = val_loss.len().checked_sub(1)?;
    let (best, &min) = val_loss.iter().enumerate().filter(|(_, v)| v.is_finite()).min_by(|a, b| a.1.total_cmp(b.1))?;
    let rose = val_loss[last] > min + 0.01 * min.abs();
    let train_fell = train_loss.get(last)? < train_loss.get(best)?;
    (best < last && rose && train_fell).then_some(best + 1)
}

/// Early stopping's patience the overfitting finding reckons with (Keras's examples' 3).
const PATIENCE: usize = 3;

/// What `history`'s curves show (see the [module docs](self)); nothing for fewer than 3
/// epochs or a History without `loss`.
///
/// ```
/// use minibatch::callbacks::{diagnose, FindingKind, History};
/// let mut h = History::default();
/// h.history.push(("loss".into(), vec![1.0, 0.6, 0.4, 0.3, 0.2, 0.15]));
/// h.history.push(("val_loss".into(), vec![1.1, 0.8, 0.7, 0.75, 0.9, 1.0]));
/// h.epoch = (0..6).collect();
/// let found = diagnose(&h);
/// assert_eq!(found[0].kind, FindingKind::Overfitting);
/// assert_eq!(found[0].epoch, Some(3));
/// ```
pub fn diagnose(history: &History) -> Vec<Finding> {
    let Some(loss) = history.get("loss") else { return Vec::new() };
    let n = loss.len();
    let epoch = |i: usize| history.epoch.get(i).copied().unwrap_or(i);
    let mut found = Vec::new();
    if n == 0 {
        return found;
    }
    // Divergence: a loss that is no number, or one that ended well above where it began.
    if let Some(i) = loss.iter().position(|v| !v.is_finite()) {
        found.push(Finding {
            kind: FindingKind::Divergence,
            epoch: Some(epoch(i)),
            message: format!(
                "divergence: the training loss became {} at epoch {} (a rate too high, or extreme values in the \
                 data): try --lr-find, a lower learning rate, or clipnorm",
                loss[i],
                epoch(i) + 1
            ),
        });
        return found;
    }
    if n < 3 {
        return found;
    }
    let (first, last) = (loss[0], loss[n - 1]);
    if last > 1.5 * first && first > 0.0 {
        let lowest = (0..n).min_by(|&a, &b| loss[a].total_cmp(&loss[b])).unwrap_or(0);
        found.push(Finding {
            kind: FindingKind::Divergence,
            epoch: Some(epoch(lowest + 1).min(epoch(n - 1))),
            message: format!(
                "divergence: the training loss rose from {first:.4} (epoch {}) to {last:.4} (epoch {}), lowest at \
                 epoch {}: the rate is too high; try --lr-find or a lower learning rate",
                epoch(0) + 1,
                epoch(n - 1) + 1,
                epoch(lowest) + 1
            ),
        });
        return found;
    }
    // A rate too low: the loss barely moved over the whole run.
    if first > 0.0 && (first - last) < 0.02 * first && loss.iter().all(|&v| v > 0.98 * first) {
        found.push(Finding {
            kind: FindingKind::RateTooLow,
            epoch: None,
            message: format!(
                "a rate too low: the training loss barely moved ({first:.4} to {last:.4} over {n} epochs, {:.1}%): \
                 try --lr-find or a larger learning rate (or a model that can fit the data)",
                100.0 * (first - last) / first
            ),
        });
        return found;
    }
    if let Some(val) = history.get("val_loss") {
        // As the lab's onset, and a rise past noise: 5% above the minimum, the minimum at least
        // the patience before the end.
        let onset = overfitting_onset(loss, val)
            .filter(|&o| n - o >= PATIENCE && val[n - 1] > 1.05 * val[o - 1] && val[o - 1] > 0.0);
        if let Some(onset) = onset {
            let best = onset - 1;
            let stop = (best + PATIENCE).min(n - 1);
            let saved = n - 1 - stop;
            let verb = if saved > 0 { format!("would have saved {saved} epoch(s)") } else { "ends here too".into() };
            found.push(Finding {
                kind: FindingKind::Overfitting,
                epoch: Some(epoch(onset)),
                message: format!(
                    "overfitting from epoch {}: validation loss lowest at epoch {} ({:.4}), {:.4} by the end, while the \
                     training loss kept falling; EarlyStopping(patience={PATIENCE}, restore_best_weights=True) would \
                     have stopped at epoch {} and kept epoch {}'s weights ({verb})",
                    epoch(onset) + 1,
                    epoch(best) + 1,
                    val[best],
                    val[n - 1],
                    epoch(stop) + 1,
                    epoch(best) + 1
                ),
            });
        }
    }
    // Oscillation: the epoch means go up often.
    if n >= 5 {
        let rises = loss.windows(2).filter(|w| w[1] > w[0] * 1.01).count();
        if 3 * rises >= n - 1 {
            found.push(Finding {
                kind: FindingKind::RateTooHigh,
                epoch: None,
                message: format!(
                    "a rate too high: the training loss rose (by more than 1%) in {rises} of {} epoch-to-epoch changes: \
                     try --lr-find, a lower learning rate, or ReduceLROnPlateau",
                    n - 1
                ),
            });
        }
    }
    // A plateau in the monitored loss's last third, after it fell.
    let (key, watched) = match history.get("val_loss").filter(|v| v.iter().all(|x| x.is_finite())) {
        Some(v) => ("val_loss", v),
        None => ("loss", loss),
    };
    let tail = (n / 3).max(3);
    if n >= 6 && !found.iter().any(|f| f.kind == FindingKind::Overfitting) {
        let from = n - tail;
        let window = &watched[from..];
        let (lo, hi) = window.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let fell = watched[0] - watched[from] > 0.05 * watched[0].abs();
        if fell && hi - lo < 0.005 * hi.abs() {
            found.push(Finding {
                kind: FindingKind::Plateau,
                epoch: Some(epoch(from)),
                message: format!(
                    "a plateau: {key} has stayed within 0.5% ({lo:.4} to {hi:.4}) since epoch {}: more epochs at this \
                     rate buy little; ReduceLROnPlateau or EarlyStopping would end or restart the run there",
                    epoch(from) + 1
                ),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(loss: &[f64], val: Option<&[f64]>) -> History {
        let mut h = History::default();
        h.history.push(("loss".into(), loss.to_vec()));
        if let Some(v) = val {
            h.history.push(("val_loss".into(), v.to_vec()));
        }
        h.epoch = (0..loss.len()).collect();
        h
    }

    fn kinds(h: &History) -> Vec<FindingKind> {
        diagnose(h).into_iter().map(|f| f.kind).collect()
    }

    /// Each rule on a curve made to show it, and none on a healthy one.
    #[test]
    fn each_rule_on_a_constructed_curve() {
        use FindingKind::*;
        let healthy = [1.0, 0.6, 0.45, 0.36, 0.3, 0.26, 0.23, 0.21];
        let healthy_val = [1.05, 0.65, 0.5, 0.42, 0.37, 0.34, 0.32, 0.31];
        assert!(kinds(&history(&healthy, Some(&healthy_val))).is_empty());
        let nan = diagnose(&history(&[1.0, 0.8, f64::NAN, f64::NAN], None));
        assert_eq!((nan[0].kind, nan[0].epoch), (Divergence, Some(2)));
        assert!(nan[0].message.contains("NaN at epoch 3"), "{}", nan[0].message);
        assert_eq!(kinds(&history(&[1.0, 0.9, 1.4, 2.0, 3.5], None)), [Divergence]);
        let over = diagnose(&history(&healthy, Some(&[1.0, 0.7, 0.6, 0.62, 0.66, 0.7, 0.75, 0.8])));
        assert_eq!((over[0].kind, over[0].epoch), (Overfitting, Some(3)));
        assert!(over[0].message.contains("stopped at epoch 6") && over[0].message.contains("saved 2 epoch"));
        assert_eq!(kinds(&history(&[1.0, 0.7, 0.8, 0.6, 0.75, 0.55, 0.7], None)), [RateTooHigh]);
        assert_eq!(kinds(&history(&[2.30, 2.299, 2.297, 2.296, 2.295], None)), [RateTooLow]);
        let flat = [1.0, 0.5, 0.3, 0.2, 0.2005, 0.2003, 0.2001, 0.2002, 0.2];
        let plateau = diagnose(&history(&flat, None));
        assert_eq!((plateau[0].kind, plateau[0].epoch), (Plateau, Some(6)));
        assert!(kinds(&history(&[1.0, 0.5], None)).is_empty(), "too few epochs to say");
    }
}
