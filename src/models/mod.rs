//! Models: [`Sequential`], a stack of layers, and its `summary()`.
//!
//! Training (`fit`, `evaluate`, `predict`, `train_on_batch`) lives in [`crate::training`].

mod sequential;
mod summary;

pub use sequential::Sequential;
