//! `RandomTranslation` (see the type).

use super::rotation::bounds;
use super::warp::{Draw, Warp};
use super::Factor;

/// Keras's `RandomTranslation(height_factor, width_factor)`: in training, each image shifted
/// by a fraction of its height drawn from `height_factor` (positive: down) and of its width
/// from `width_factor` (positive: right), the uncovered part filled by `fill_mode`; the
/// identity in inference.
///
/// ```
/// use minibatch::layers::RandomTranslation;
/// let layer = RandomTranslation::new(0.1, 0.1); // up to 10% each way
/// ```
pub struct RandomTranslation;

impl RandomTranslation {
    /// Shifts by fractions drawn from `height_factor` and `width_factor`, each in `[-1, 1]`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(height_factor: impl Into<Factor>, width_factor: impl Into<Factor>) -> Warp {
        let draw = Draw::Translation { height: bounds(height_factor.into()), width: bounds(width_factor.into()) };
        Warp::new("RandomTranslation", draw)
    }
}
