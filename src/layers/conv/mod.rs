//! Convolutions: Conv1D/Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D, each forward
//! beside its backward through `im2col`.

pub(crate) mod conv_transpose;
pub(crate) mod convolution;
pub(crate) mod depthwise_conv;
