//! `RandomRotation` (see the type).

use super::warp::{Draw, Warp};
use super::Factor;

/// Keras's `RandomRotation(factor)`: in training, each image turned about its centre by an
/// angle drawn from `factor · 360°` (a number `f` for `[-f, f]`, or `(lower, upper)`; positive
/// is counter-clockwise), the corners filled by `fill_mode` (reflect by default); the identity
/// in inference.
///
/// ```
/// use minibatch::layers::RandomRotation;
/// let layer = RandomRotation::new(0.1); // up to ±36°
/// ```
pub struct RandomRotation;

impl RandomRotation {
    /// Turns by an angle drawn from `factor · 360°`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(factor: impl Into<Factor>) -> Warp {
        Warp::new("RandomRotation", Draw::Rotation { factor: bounds(factor.into()) })
    }
}

/// A factor's `(lower, upper)` before its checks (made when the layer is built).
pub(super) fn bounds(f: Factor) -> (f32, f32) {
    match f {
        Factor::Symmetric(f) => (-f.abs(), f.abs()),
        Factor::Range(a, b) => (a.min(b), a.max(b)),
    }
}
