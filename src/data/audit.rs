//! A look at the data before `fit`: [`audit`].

use super::{Batch, Dataset};
use crate::error::Result;
use crate::tensor::Tensor;
use std::collections::HashSet;

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
/// rows (a 128-bit hash of each row's values, and each feature's running moments):
///
/// - validation or test rows identical to a training row (their figures are then partly
///   training figures);
/// - features constant over the training rows (they carry nothing);
/// - without standardization, features whose spreads differ by more than 100×;
/// - classes more than 3× apart in count, with the weights `class_weight="balanced"` would use
///   (`n / (classes · count)`, scikit-learn's).
///
/// [`audit_datasets`] does the same over datasets read a batch at a time (data larger than
/// memory).
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
    let columns = (x.shape().len() == 2).then(|| x.row_len());
    let mut a = Auditor::new(columns, input.classes);
    for &r in input.train {
        a.train_row(x.row(r), input.y.row(r));
    }
    for &r in input.validation {
        a.validation_row(x.row(r));
    }
    if let Some(t) = input.test.filter(|t| t.row_len() == x.row_len()) {
        for row in t.data().chunks(x.row_len().max(1)) {
            a.test_row(row);
        }
    }
    a.findings(input.standardized, input.names)
}

/// [`audit`] over datasets read a batch at a time (an [`NpyDataset`](super::NpyDataset) of a
/// file larger than memory): the training rows, then the validation and test rows, each batch
/// through one buffer. Memory: 16 bytes per training row (its hash) and two numbers per
/// feature, whatever the data's size.
///
/// # Errors
/// A batch a dataset cannot read (a truncated file).
pub fn audit_datasets(
    train: &dyn Dataset,
    validation: Option<&dyn Dataset>,
    test: Option<&dyn Dataset>,
    classes: Option<usize>,
    standardized: bool,
) -> Result<Vec<String>> {
    let spec = train.spec();
    let columns = (spec.inputs.len() == 1 && spec.inputs[0].len() == 1).then(|| spec.inputs[0][0]);
    let mut a = Auditor::new(columns, classes);
    let batches = |d: &dyn Dataset, f: &mut dyn FnMut(&[f32], &[f32])| -> Result<()> {
        let spec = d.spec();
        if spec.inputs.len() != 1 {
            return Ok(());
        }
        let mut batch = Batch::new(&spec);
        for i in 0..d.num_batches().unwrap_or(0) {
            d.fill(i, &mut batch)?;
            let x = batch.x(0);
            let width = x.row_len().max(1);
            let y = batch.ys().first();
            for r in 0..batch.len() {
                f(&x.data()[r * width..(r + 1) * width], y.map_or(&[][..], |y| y.row(r)));
            }
        }
        Ok(())
    };
    batches(train, &mut |x, y| a.train_row(x, y))?;
    if let Some(v) = validation {
        batches(v, &mut |x, _| a.validation_row(x))?;
    }
    if let Some(t) = test {
        batches(t, &mut |x, _| a.test_row(x))?;
    }
    Ok(a.findings(standardized, None))
}

/// The audit's running state: what one pass over the rows accumulates.
struct Auditor {
    /// The training rows' hashes.
    seen: HashSet<u128>,
    train: usize,
    /// Validation and test rows seen, and those repeating a training row.
    validation: (usize, usize),
    test: (usize, usize),
    /// Per feature (two-dimensional samples): the running mean and sum of squared deviations.
    mean: Vec<f64>,
    m2: Vec<f64>,
    /// Rows per class, for a classifier.
    counts: Vec<usize>,
}

impl Auditor {
    fn new(columns: Option<usize>, classes: Option<usize>) -> Auditor {
        let width = columns.unwrap_or(0);
        Auditor {
            seen: HashSet::new(),
            train: 0,
            validation: (0, 0),
            test: (0, 0),
            mean: vec![0.0; width],
            m2: vec![0.0; width],
            counts: vec![0; classes.filter(|&k| k >= 2).unwrap_or(0)],
        }
    }

    fn train_row(&mut self, x: &[f32], y: &[f32]) {
        self.seen.insert(hash(x));
        self.train += 1;
        if self.mean.len() == x.len() {
            let k = self.train as f64;
            for (j, &v) in x.iter().enumerate() {
                let d = f64::from(v) - self.mean[j];
                self.mean[j] += d / k;
                self.m2[j] += d * (f64::from(v) - self.mean[j]);
            }
        }
        if !self.counts.is_empty() && !y.is_empty() {
            let c = if y.len() == 1 { y[0] as usize } else { crate::tensor::kernels::argmax(y) };
            if let Some(n) = self.counts.get_mut(c) {
                *n += 1;
            }
        }
    }

    fn validation_row(&mut self, x: &[f32]) {
        self.validation.0 += 1;
        self.validation.1 += usize::from(self.seen.contains(&hash(x)));
    }

    fn test_row(&mut self, x: &[f32]) {
        self.test.0 += 1;
        self.test.1 += usize::from(self.seen.contains(&hash(x)));
    }

    /// The findings, as [`audit`] lists them.
    fn findings(&self, standardized: bool, names: Option<&[String]>) -> Vec<String> {
        let mut found = Vec::new();
        let (n, val) = self.validation;
        if val > 0 {
            found.push(format!(
                "{val} of {n} validation rows also appear among the training rows (identical features): val_ figures \
                 are partly training figures; drop the duplicates"
            ));
        }
        let (n, test) = self.test;
        if test > 0 {
            found.push(format!(
                "{test} of {n} test rows also appear among the training rows: the test figures overstate how the \
                 model does on new data"
            ));
        }
        // Each feature's spread over the training rows (two-dimensional samples: one per column).
        let width = self.mean.len();
        if width > 0 && self.train == 1 {
            found.push(
                "one training row: not enough data to estimate the features' spreads (every feature would look \
                 constant)"
                    .to_string(),
            );
        }
        if width > 0 && self.train > 1 {
            let std: Vec<f64> = self.m2.iter().map(|s| (s / self.train as f64).sqrt()).collect();
            let name = |j: usize| names.and_then(|n| n.get(j)).cloned().unwrap_or_else(|| format!("feature {j}"));
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
            if let (false, Some(&(a, sa)), Some(&(b, sb))) = (standardized, lo, hi) {
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
        let present: Vec<(usize, usize)> = self.counts.iter().copied().enumerate().filter(|(_, n)| *n > 0).collect();
        let (min, max) = (present.iter().map(|p| p.1).min(), present.iter().map(|p| p.1).max());
        if let (Some(min), Some(max)) = (min, max) {
            if max as f64 > IMBALANCE_RATIO * min as f64 {
                let n = self.train as f64;
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
        found
    }
}

/// A row's 128-bit hash: two FNV-1a passes over its values' bits with different offsets. Two
/// different rows share one with probability about 2⁻¹²⁸ per pair, so no row is kept to
/// confirm a match and memory stays at 16 bytes a row.
fn hash(row: &[f32]) -> u128 {
    let fnv = |seed: u64| row.iter().fold(seed, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3));
    (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x8422_2325_cbf2_9ce4))
}
