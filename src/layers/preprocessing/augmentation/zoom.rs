//! `RandomZoom` (see the type).

use super::rotation::bounds;
use super::warp::{Draw, Warp};
use super::Factor;

/// Keras's `RandomZoom(height_factor, width_factor=None)`: in training, each image scaled
/// about its centre, reading `1 + z` times as far (z drawn from `height_factor`; positive
/// zooms out, negative in), the width by its own draw from `width_factor` when given, else by
/// the height's (keeping the aspect ratio); the identity in inference.
///
/// ```
/// use minibatch::layers::RandomZoom;
/// let layer = RandomZoom::new(0.2); // between 20% in and 20% out
/// ```
pub struct RandomZoom;

impl RandomZoom {
    /// Zooms by `1 + z`, z drawn from `height_factor`, each bound in `(-1, 1]`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(height_factor: impl Into<Factor>) -> Warp {
        Warp::new("RandomZoom", Draw::Zoom { height: bounds(height_factor.into()), width: None })
    }
}

impl Warp {
    /// `RandomZoom`'s own range for the width (default: the height's draw).
    pub fn width_factor(mut self, factor: impl Into<Factor>) -> Self {
        if let Draw::Zoom { height, .. } = self.draw {
            self.draw = Draw::Zoom { height, width: Some(bounds(factor.into())) };
        }
        self
    }
}
