//! `RandomCrop` (see the type).

use super::warp::{Draw, Warp};

/// Keras's `RandomCrop(height, width)`: in training, images larger than `height × width` are
/// cut to a window of that size at a place drawn once per batch (as Keras). In inference, the
/// largest central window of the target's aspect ratio is resized to the target (bilinear),
/// as Keras's docs say. In training on images not larger than the target, Keras's code takes
/// `height × width` from where that window starts (as far as the image reaches) and resizes
/// it; minibatch does the same, for the same numbers.
///
/// Keras 3.15's code passes the images through unchanged in inference (a shape other than
/// the one the layer declares, which breaks the layers after it).
///
/// ```
/// use minibatch::layers::RandomCrop;
/// let layer = RandomCrop::new(24, 24);
/// ```
pub struct RandomCrop;

impl RandomCrop {
    /// Windows of `height × width`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(height: usize, width: usize) -> Warp {
        Warp::new("RandomCrop", Draw::Crop { height, width })
    }
}
