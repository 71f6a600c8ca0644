//! Training: `fit`, `evaluate`, `predict` and `train_on_batch` on a [`Model`].
//!
//! - `checks`: every user-input check, done once per call, before any work;
//! - `step`: one forward/backward/update pass over the buffers — allocation-free;
//! - `custom_step`: your own step (Keras's `train_step`), run by `fit` instead, and the pieces
//!   of a step it uses;
//! - `fit`: `fit` and `fit_dataset`, their arguments checked, their data made a feed;
//! - `feed`: where the batches come from (arrays or a dataset's ring) and the validation;
//! - `session`: one run's state and the loop over epochs and batches, with callbacks;
//! - `noise_scale`: the gradient noise scale, measured from per-sample gradient norms on request;
//! - `parallel`: this rank's side of training over several processes;
//! - `evaluate`: evaluation and prediction through the same forward pass.
//!
//! [`Model`]: crate::Model

mod arrays;
mod checks;
mod class_weight;
mod custom_step;
mod evaluate;
mod feed;
mod fit;
mod noise_scale;
mod options;
mod parallel;
mod session;
mod split;
mod step;

pub use arrays::Arrays;
pub use class_weight::{balanced_class_weights, ClassWeight};
pub use custom_step::TrainStep;
pub use fit::FitPlan;
pub use noise_scale::PROBE_EVERY as NOISE_SCALE_PROBE_EVERY;
pub use options::{EvaluateOptions, FitOptions};
pub(crate) use parallel::Parallel;
pub use split::{split_rows, SplitMode};
