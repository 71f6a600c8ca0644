//! Models: [`Sequential`], a stack of layers, and its `summary()`.
//!
//! Training (`fit`, `evaluate`, `predict`, `train_on_batch`) lives in [`crate::training`].

mod sequential;
mod summary;

pub(crate) use sequential::Compiled;
pub use sequential::{CompileOptions, Sequential};
