//! Training: `fit`, `evaluate`, `predict` and `train_on_batch` on a [`Model`].
//!
//! - `buffers`: the activation and gradient buffers, planned once per batch size;
//! - `checks`: every user-input check, done once per call, before any work;
//! - `step`: one forward/backward/update pass over the buffers — allocation-free;
//! - `fit`: the epoch and batch loops with validation and callbacks;
//! - `evaluate`: evaluation and prediction through the same forward pass.
//!
//! [`Model`]: crate::Model

mod arrays;
mod buffers;
mod checks;
mod evaluate;
mod fit;
mod options;
mod parallel;
mod split;
mod step;

pub use arrays::Arrays;
pub(crate) use buffers::Buffers;
pub use options::{EvaluateOptions, FitOptions};
pub(crate) use parallel::Parallel;
pub use split::{split_rows, SplitMode};
