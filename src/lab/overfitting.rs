//! Where overfitting begins: held-out loss turning up while training loss still falls.

/// The 0-based epoch where overfitting began, if it did: the epoch after the lowest held-out
/// loss, provided that by the last epoch the held-out loss has risen above that minimum by
/// more than 1% while the training loss has fallen below its value there. `None` when the
/// held-out loss is lowest at the end, or both curves rose together (that is divergence, not
/// overfitting).
///
/// ```
/// use minibatch::lab::overfitting_onset;
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
