//! Preprocessing layers: transforms of the raw data that live in the model, so that a saved
//! model given raw data (`predict` on a CSV) applies the same transform it was trained with.
//!
//! - `normalization.rs`: [`Normalization`], standardization with statistics from `adapt`;
//! - `rescaling.rs`: [`Rescaling`], `x · scale + offset` (pixels to `[0, 1]`);
//! - `category_encoding.rs`: [`CategoryEncoding`] (one-hot, multi-hot, count) and the
//!   [`OutputMode`] the lookups share; `integer_lookup.rs`: [`IntegerLookup`];
//!   `string_lookup.rs`: [`StringLookup`] (before the model: tensors hold numbers);
//!   `text_vectorization.rs`: [`TextVectorization`] (text to token ids or bag-of-words rows,
//!   before the model);
//!   `discretization.rs`: [`Discretization`] (bins, from boundaries or adapted quantiles);
//! - `augmentation/`: seeded image augmentation, active in training only: [`RandomFlip`],
//!   [`RandomRotation`], [`RandomTranslation`], [`RandomZoom`], [`RandomCrop`],
//!   [`RandomContrast`].

pub mod augmentation;
mod category_encoding;
mod discretization;
mod integer_lookup;
pub(crate) mod normalization;
mod rescaling;
mod string_lookup;
mod text_vectorization;

pub use augmentation::{RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
pub use category_encoding::{CategoryEncoding, CategoryEncodingConfig, OutputMode};
pub use discretization::{Discretization, DiscretizationConfig};
pub use integer_lookup::{IntegerLookup, IntegerLookupConfig};
pub use normalization::{Normalization, NormalizationConfig};
pub use rescaling::{Rescaling, RescalingConfig};
pub use string_lookup::StringLookup;
pub use text_vectorization::{Split, Standardize, TextOutput, TextVectorization, TextVectorizationConfig};
