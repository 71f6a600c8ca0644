//! Class labels: how many classes integer labels name.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The most classes [`num_classes`] accepts: the command builds one output per class, so a
/// label is a class index, not a quantity.
pub const MAX_CLASSES: usize = 1 << 20;

/// Number of classes in integer labels `y` (largest + 1).
///
/// # Errors
/// [`Error::Label`] naming the sample and the value for a label that is not a whole number
/// in `0..MAX_CLASSES` (a quantity such as 1e9, or a regression target, would otherwise size
/// an output layer of a billion units).
pub fn num_classes(y: &Tensor) -> Result<usize> {
    let mut max = 0.0f32;
    for (sample, &v) in y.data().iter().enumerate() {
        if !(v >= 0.0 && v.fract() == 0.0 && (v as f64) < MAX_CLASSES as f64) {
            return Err(Error::Label {
                sample,
                label: v,
                expected: format!(
                    "class indices 0, 1, 2, ... below {MAX_CLASSES} (one output unit per class; \
                     a label is a class, not a quantity)"
                ),
            });
        }
        max = max.max(v);
    }
    Ok(max as usize + 1)
}
