//! Normalization layers: BatchNormalization (per process, or synchronized over ranks),
//! LayerNormalization (over one axis or the sample's last axes), GroupNormalization (blocks of
//! channels) and UnitNormalization (unit L2 norm); `axes.rs`: Keras's `axis` as the trailing
//! axes a group reduces over.

pub(crate) mod affine;
pub(crate) mod axes;
pub(crate) mod batch_normalization;
pub(crate) mod group_normalization;
pub(crate) mod layer_normalization;
pub(crate) mod unit_normalization;
