//! Seeded image augmentation, active in training only (identity, or a deterministic resize
//! for `RandomCrop`, in inference), as Keras's preprocessing layers: images `[height, width,
//! channels]`, channels last.
//!
//! - `warp.rs`: [`Warp`], the engine of the geometric ones: each sample's affine map from
//!   output to input pixels (Keras's transform `[a0, a1, a2, b0, b1, b2]`), sampled bilinearly
//!   or at the nearest pixel with Keras's fill modes; forward beside backward (the transpose of
//!   the same sampling);
//! - `rotation.rs`, `translation.rs`, `zoom.rs`, `crop.rs`: [`RandomRotation`],
//!   [`RandomTranslation`], [`RandomZoom`], [`RandomCrop`]: how each draws its maps;
//! - `flip.rs`: [`RandomFlip`]; `contrast.rs`: [`RandomContrast`].
//!
//! Each layer draws from its own generator, seeded by `seed` or by the model's seed; the
//! generator's position is saved with the model (and in backups), so a resumed run augments as
//! an unbroken one would.

mod contrast;
mod crop;
mod flip;
mod rotation;
mod translation;
mod warp;
mod zoom;

pub use contrast::{RandomContrast, RandomContrastConfig};
pub use crop::RandomCrop;
pub use flip::{RandomFlip, RandomFlipConfig};
pub use rotation::RandomRotation;
pub use translation::RandomTranslation;
pub use warp::{FillMode, Interpolation, Warp, WarpConfig};
pub use zoom::RandomZoom;

use crate::error::{Error, Result};

/// A range a factor is drawn from: one number `f` for `[-f, f]` (Keras's float factor), or
/// `(lower, upper)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Factor {
    /// `[-f, f]` (for contrast, `[1 − f, 1 + f]`).
    Symmetric(f32),
    /// `[lower, upper]`.
    Range(f32, f32),
}

impl From<f32> for Factor {
    fn from(f: f32) -> Self {
        Factor::Symmetric(f)
    }
}

impl From<(f32, f32)> for Factor {
    fn from((lo, hi): (f32, f32)) -> Self {
        Factor::Range(lo, hi)
    }
}

impl Factor {
    /// `(lower, upper)`, each within `bounds` (Keras's checks): `name` and `layer` name the
    /// argument in errors.
    pub(crate) fn range(self, name: &'static str, layer: &str, bounds: (f32, f32)) -> Result<(f32, f32)> {
        let (lo, hi) = match self {
            Factor::Symmetric(f) => (-f.abs(), f.abs()),
            Factor::Range(a, b) => (a.min(b), a.max(b)),
        };
        let inside = |v: f32| v.is_finite() && v >= bounds.0 && v <= bounds.1;
        if !inside(lo) || !inside(hi) {
            return Err(Error::invalid(
                name,
                format!("{self:?}"),
                format!("a number or a (lower, upper) pair within [{}, {}] for layer {layer}", bounds.0, bounds.1),
            ));
        }
        Ok((lo, hi))
    }
}

/// Checks that a layer's input is images `[height, width, channels]`.
pub(crate) fn image_shape(layer: &str, input_shape: &[usize]) -> Result<[usize; 3]> {
    match input_shape {
        &[h, w, c] if h > 0 && w > 0 && c > 0 => Ok([h, w, c]),
        _ => Err(Error::shape(format!("input to layer {layer}"), "images [height, width, channels]", input_shape)),
    }
}
