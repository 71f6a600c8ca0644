//! Attention: Keras's dot-product `Attention` and `MultiHeadAttention`.

pub(crate) mod dot_product;
pub(crate) mod multi_head_attention;
