//! Preprocessing layers: transforms of the raw data that live in the model, so that a saved
//! model given raw data (`predict` on a CSV) applies the same transform it was trained with.
//!
//! - `normalization.rs`: [`Normalization`], standardization with statistics from `adapt`;
//! - `rescaling.rs`: [`Rescaling`], `x · scale + offset` (pixels to `[0, 1]`).

mod normalization;
mod rescaling;

pub use normalization::{Normalization, NormalizationConfig};
pub use rescaling::{Rescaling, RescalingConfig};
