//! Reshaping layers: Flatten, Reshape, ZeroPadding2D, UpSampling2D.

pub(crate) mod flatten;
pub(crate) mod resample;
pub(crate) mod reshape;
pub(crate) mod resizing;
pub(crate) mod up_sampling;
pub(crate) mod zero_padding;
