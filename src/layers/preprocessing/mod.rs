//! Preprocessing layers: transforms of the raw data that live in the model, so that a saved
//! model given raw data (`predict` on a CSV) applies the same transform it was trained with.
//!
//! - `normalization.rs`: [`Normalization`], standardization with statistics from `adapt`;
//! - `rescaling.rs`: [`Rescaling`], `x · scale + offset` (pixels to `[0, 1]`);
//! - `augmentation/`: seeded image augmentation, active in training only: [`RandomFlip`],
//!   [`RandomRotation`], [`RandomTranslation`], [`RandomZoom`], [`RandomCrop`],
//!   [`RandomContrast`].

pub mod augmentation;
mod normalization;
mod rescaling;

pub use augmentation::{RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
pub use normalization::{Normalization, NormalizationConfig};
pub use rescaling::{Rescaling, RescalingConfig};
