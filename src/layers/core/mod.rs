//! The core layers, as Keras groups them (`keras.layers` core): Dense, Activation, Embedding,
//! PositionEmbedding, Masking, and what weighted layers share (a fused output activation,
//! regularization builders).

pub(crate) mod activation;
pub(crate) mod dense;
pub(crate) mod embedding;
pub(crate) mod masking;
pub(crate) mod output_activation;
pub(crate) mod position_embedding;
pub(crate) mod regularization;
