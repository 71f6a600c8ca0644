//! Keras's `class_weight`, given or `"balanced"` ([`ClassWeight`], [`balanced_class_weights`]).

use crate::tensor::{kernels::argmax, Tensor};

/// `fit`'s `class_weight`: a weight per class, or scikit-learn's `"balanced"` rule computed
/// from the rows training learns from (see [`balanced_class_weights`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeight {
    /// `(class, weight)` pairs; classes not listed weigh 1.
    Given(Vec<(usize, f32)>),
    /// `n / (classes present · count of the class)` over the training rows, after
    /// `validation_split` holds its rows out.
    Balanced,
}

/// scikit-learn's `compute_class_weight("balanced")` over `rows` of the targets `y` (class
/// indices, or one-hot rows read by their largest entry): each class present weighs
/// `n / (classes present · its count)`, so every class counts as much in the loss. Give the
/// result to [`FitOptions::class_weight`](super::FitOptions::class_weight) (Keras takes a dict;
/// `class_weight="balanced"` is what Keras users bring from scikit-learn). Count the rows
/// training will learn from: [`super::split_rows`]'s training side under `validation_split`.
///
/// ```
/// use minibatch::training::balanced_class_weights;
/// use minibatch::Tensor;
/// let y = Tensor::from_vec(&[4], vec![0.0, 0.0, 0.0, 1.0]).unwrap();
/// assert_eq!(balanced_class_weights(&y, &[0, 1, 2, 3]), vec![(0, 4.0 / 6.0), (1, 2.0)]);
/// ```
pub fn balanced_class_weights(y: &Tensor, rows: &[usize]) -> Vec<(usize, f32)> {
    // A map, not a vector indexed by label: a label of 1e9 costs one entry, not a gigabyte.
    let mut counts = std::collections::BTreeMap::<usize, usize>::new();
    for &r in rows {
        let row = y.row(r);
        let class = if row.len() == 1 { row[0].round().max(0.0) as usize } else { argmax(row) };
        *counts.entry(class).or_default() += 1;
    }
    let present = counts.len() as f32;
    let n = rows.len() as f32;
    counts.into_iter().map(|(k, c)| (k, n / (present * c as f32))).collect()
}
