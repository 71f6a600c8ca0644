//! `class_weight="balanced"`: [`balanced_class_weights`].

use crate::tensor::{kernels::argmax, Tensor};

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
    let mut counts: Vec<usize> = Vec::new();
    for &r in rows {
        let row = y.row(r);
        let class = if row.len() == 1 { row[0].max(0.0) as usize } else { argmax(row) };
        if counts.len() <= class {
            counts.resize(class + 1, 0);
        }
        counts[class] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    let n = rows.len() as f32;
    counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(k, &c)| (k, n / (present as f32 * c as f32))).collect()
}
