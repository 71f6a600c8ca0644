//! A look at the data before `fit`: [`audit`].

use crate::tensor::Tensor;
use std::collections::HashMap;

/// What [`audit`] reads: the samples and targets, which rows train and which validate, the
/// test split, and what the run will do with them.
pub struct AuditInput<'a> {
    /// Inputs `[n, …]`.
    pub x: &'a Tensor,
    /// Targets `[n, …]`.
    pub y: &'a Tensor,
    /// The rows training learns from.
    pub train: &'a [usize],
    /// The validation rows.
    pub validation: &'a [usize],
    /// Held-out test inputs, if any.
    pub test: Option<&'a Tensor>,
    /// Classes, for a classifier's targets (class indices or one-hot rows).
    pub classes: Option<usize>,
    /// Whether the model standardizes its features (then their scales do not matter).
    pub standardized: bool,
    /// The features' names (a CSV's columns), when known.
    pub names: Option<&'a [String]>,
}

/// How much larger than the smallest a feature's spread may be before it is flagged.
const SCALE_RATIO: f64 = 100.0;
/// How much larger than the rarest class the most common may be before it is flagged.
const IMBALANCE_RATIO: f64 = 3.0;

/// The audit's findings, one sentence each (empty: nothing to flag), from one pass over the
/// rows (a hash of each row's values, and each feature's running moments):
///
/// - validation or test rows identical to a training row (their figures are then partly
///   training figures);
/// - features constant over the training rows (they carry nothing);
/// - without standardization, features whose spreads differ by more than 100×;
/// - classes more than 3× apart in count, with the weights `class_weight="balanced"` would use
///   (`n / (classes · count)`, scikit-learn's).
///
/// ```
/// use minibatch::data::audit::{audit, AuditInput};
/// use minibatch::Tensor;
/// let x = Tensor::from_vec(&[4, 2], vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 1.0, 5.0]).unwrap();
/// let y = Tensor::from_vec(&[4], vec![0.0, 1.0, 0.0, 0.0]).unwrap();
/// let found = audit(&AuditInput {
///     x: &x, y: &y, train: &[0, 1, 2], validation: &[3], test: None,
///     classes: Some(2), standardized: true, names: None,
/// });
/// assert!(found[0].contains("1 of 1 validation rows"));   // row 3 repeats row 0
/// assert!(found[1].contains("constant"));                   // the second feature
/// ```
pub fn audit(input: &AuditInput) -> Vec<String> {
    let x = input.x;
    let width = x.row_len().max(1);
    let mut found = Vec::new();
    // Rows by a hash of their bits (FNV-1a over 32-bit words: a match is confirmed value by
    // value, so a collision costs a comparison, never a wrong answer).
    let hash = |row: &[f32]| {
        row.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3))
    };
    let mut seen: HashMap<u64, usize> = HashMap::with_capacity(input.train.len());
    for &r in input.train {
        seen.entry(hash(x.row(r))).or_insert(r);
    }
    let shared = |rows: &mut dyn Iterator<Item = &[f32]>| {
        rows.filter(|row| seen.get(&hash(row)).is_some_and(|&t| x.row(t) == *row)).count()
    };
    let val = shared(&mut input.validation.iter().map(|&r| x.row(r)));
    if val > 0 {
        found.push(format!(
            "{val} of {} validation rows also appear among the training rows (identical features): val_ figures \
             are partly training figures; drop the duplicates",
            input.validation.len()
        ));
    }
    if let Some(t) = input.test.filter(|t| t.row_len() == x.row_len()) {
        let test = shared(&mut t.data().chunks(width));
        if test > 0 {
            found.push(format!(
                "{test} of {} test rows also appear among the training rows: the test figures overstate how the \
                 model does on new data",
                t.batch()
            ));
        }
    }
    // Each feature's spread over the training rows (two-dimensional samples: one per column).
    if x.shape().len() == 2 && !input.train.is_empty() {
        let (mut mean, mut m2) = (vec![0f64; width], vec![0f64; width]);
        for (k, &r) in input.train.iter().enumerate() {
            for (j, &v) in x.row(r).iter().enumerate() {
                let d = f64::from(v) - mean[j];
                mean[j] += d / (k + 1) as f64;
                m2[j] += d * (f64::from(v) - mean[j]);
            }
        }
        let std: Vec<f64> = m2.iter().map(|s| (s / input.train.len() as f64).sqrt()).collect();
        let name = |j: usize| input.names.and_then(|n| n.get(j)).cloned().unwrap_or_else(|| format!("feature {j}"));
        let constant: Vec<String> = (0..width).filter(|&j| std[j] == 0.0).map(name).collect();
        if !constant.is_empty() {
            let shown =
                if constant.len() > 8 { format!("{}, …", constant[..8].join(", ")) } else { constant.join(", ") };
            found.push(format!(
                "{} of {width} features are constant over the training rows ({shown}): they carry nothing",
                constant.len()
            ));
        }
        let spread: Vec<(usize, f64)> = (0..width).filter(|&j| std[j] > 0.0).map(|j| (j, std[j])).collect();
        let lo = spread.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = spread.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (false, Some(&(a, sa)), Some(&(b, sb))) = (input.standardized, lo, hi) {
            if sb > SCALE_RATIO * sa {
                found.push(format!(
                    "feature scales differ by {:.0}× (standard deviation {sa:.3e} for {} to {sb:.3e} for {}): \
                     without standardization the large ones dominate; the command standardizes by default (drop \
                     --no-standardize), in code a Normalization layer",
                    sb / sa,
                    name(a),
                    name(b)
                ));
            }
        }
    }
    // Class balance over the training rows.
    if let Some(k) = input.classes.filter(|&k| k >= 2) {
        let mut counts = vec![0usize; k];
        for &r in input.train {
            let row = input.y.row(r);
            let c = if row.len() == 1 { row[0] as usize } else { crate::tensor::kernels::argmax(row) };
            if let Some(n) = counts.get_mut(c) {
                *n += 1;
            }
        }
        let present: Vec<(usize, usize)> = counts.iter().copied().enumerate().filter(|(_, n)| *n > 0).collect();
        let (min, max) = (present.iter().map(|p| p.1).min(), present.iter().map(|p| p.1).max());
        if let (Some(min), Some(max)) = (min, max) {
            if max as f64 > IMBALANCE_RATIO * min as f64 {
                let n = input.train.len() as f64;
                let weights: Vec<String> = present
                    .iter()
                    .take(10)
                    .map(|&(c, m)| format!("{c}: {m} rows, weight {:.2}", n / (present.len() as f64 * m as f64)))
                    .collect();
                found.push(format!(
                    "the classes are imbalanced (the most common {:.1}× the rarest): {}; --class-weight balanced \
                     would weigh them so",
                    max as f64 / min as f64,
                    weights.join("; ")
                ));
            }
        }
    }
    found
}
