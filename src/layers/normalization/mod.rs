//! Normalization layers: BatchNormalization (per process, or synchronized over ranks) and
//! LayerNormalization.

pub(crate) mod batch_normalization;
pub(crate) mod layer_normalization;
