//! Pooling: max and average over windows, and over whole axes (global).

pub(crate) mod global_pooling;
pub(crate) mod windowed;
