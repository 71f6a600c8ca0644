//! # minibatch
//!
//! Deep-learning training in Rust with the ease of Keras: build a [`Sequential`] model,
//! `compile` it with an optimizer, a loss and metrics, and `fit` it on `x` (the questions) and
//! `y` (the answer key). Keras's documented behaviour is the reference for every default and
//! every semantic; where minibatch departs, the item's docs say so and why.
//!
//! ```
//! use minibatch::{datasets, layers::Dense, optimizers::Adam, FitOptions, Sequential};
//!
//! let data = datasets::load("blobs", 0).unwrap();
//! let mut model = Sequential::new()
//!     .add(Dense::new(16).activation("relu"))
//!     .add(Dense::new(data.num_classes).activation("softmax"));
//! model.compile(Adam::new(0.01), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
//!
//! // 10 epochs of ceil(n / 32) weight updates each, holding out the last 20% for validation.
//! let history = model
//!     .fit(&data.x_train, &data.y_train, FitOptions::new().epochs(10).validation_split(0.2).verbose(0))
//!     .unwrap();
//! assert_eq!(history.get("loss").unwrap().len(), 10);
//!
//! let test = model.evaluate(&data.x_test, &data.y_test, 32).unwrap();
//! assert!(test.get("accuracy").unwrap() > 0.9);
//! ```
//!
//! # Where things are
//! - [`tensor`]: the f32 tensor and the few kernels everything computes through;
//! - [`layers`], [`activations`], [`losses`], [`optimizers`], [`metrics`], [`initializers`],
//!   [`regularizers`], [`constraints`]:
//!   Keras's building blocks, one per file, forward beside backward;
//! - [`ops`]: differentiable operations a user's layer ([`layers::Custom`]) is written with,
//!   recorded once and differentiated in reverse;
//! - [`models`]: [`Model`], layers joined by a graph; [`Sequential`], the stack; the
//!   functional API (`Input`, `Call`, `Shared`, `Model::new(inputs, outputs)`); `summary()`;
//!   the buffer plan and the graph executor; the model zoo;
//! - [`training`]: `fit`, `evaluate`, `predict`, `train_on_batch`; one run's session and loop;
//! - [`data`]: datasets read a batch at a time (`fit_dataset`): the `Dataset` contract,
//!   in-memory tensors, NPY files read a batch at a time, prefetching workers;
//! - [`distributed`]: data-parallel training over MPI (`mpirun -np K`, feature `mpi`): the
//!   `Communicator` seam, each rank's shard of the global batch, one all-reduce a step;
//! - [`callbacks`]: the hook contract, `History`, `EarlyStopping`, `ModelCheckpoint`,
//!   `BackupAndRestore`, `ReduceLROnPlateau`,
//!   `LearningRateScheduler`, `TerminateOnNaN`, `CSVLogger`, `LambdaCallback`, `TensorBoard`,
//!   the progress bar, and a run's diagnosis;
//! - [`saving`]: model and weights files (safetensors), crash-safe writes;
//! - [`export`]: models for other runtimes (ONNX);
//! - [`plot`]: learning-curve charts (PNG, SVG); [`report`]: self-contained HTML reports;
//! - [`datasets`]: generated, seeded data sets (`exam`, `spirals`, `moons`, `blobs`);
//! - [`io`]: reading MNIST IDX, CSV, NPY and NPZ files; writing TensorBoard's event files;
//! - [`lab`]: the batch-size experiment (`minibatch lab`);
//! - [`bench`](mod@bench): the throughput measurement (`minibatch bench`); the models the
//!   command builds (MNIST MLP, convnet, LSTM, transformer, resnet) are [`models::zoo`]'s.
//!
//! # The crate's layers, bottom to top
//! A module uses only modules on its own line or the lines above it (re-exports excepted:
//! `io` keeps the paths of the CSV tables and sources `data` now holds). `tests/all/
//! architecture.rs` reads this list and checks every `crate::` path in `src/` against it, and
//! checks that no two files of `src/` use each other, re-exports included: the tree reads one
//! way, bottom to top.
//!
//! 1. `error`
//! 2. `rng`, `tensor`, `registry`
//! 3. `activations`, `initializers`, `regularizers`, `constraints`, `distributed`, `datasets`, `ops`
//! 4. `params`, `losses`
//! 5. `metrics`, `optimizers`
//! 6. `io`
//! 7. `layers`
//! 8. `data`
//! 9. `models`
//! 10. `saving`, `export`
//! 11. `callbacks`
//! 12. `training`
//! 13. `bench`, `plot`
//! 14. `lab`
//! 15. `report`
//!
//! No use reaches up: a model is only a model (its layers, graph, compile and planned
//! buffers, run forward and backward by `models/executor.rs`); one run's state (its History,
//! the callbacks' states, the processes' side of it) lives in `training`'s session, and
//! callbacks see it through a `callbacks::Context`.
//!
//! # Errors
//! Every fallible call returns [`Error`], which names the problem and the values involved.
//! Bad input never panics.
//!
//! # Determinism
//! A model's seed (default 0, see [`Sequential::seed`] and [`Model::with_seed`]) fixes initial weights, dropout masks
//! and every epoch's shuffle. With the same seed and thread count, a run's History is the
//! same bit for bit. (Keras draws a fresh seed per run unless one is set; minibatch is
//! reproducible by default.)

#![deny(missing_docs)]

pub mod activations;
pub mod bench;
pub mod callbacks;
pub mod constraints;
pub mod data;
pub mod datasets;
pub mod distributed;
mod error;
pub mod export;
pub mod initializers;
pub mod io;
pub mod lab;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod optimizers;
mod params;
pub mod plot;
mod registry;
pub mod regularizers;
pub mod report;
pub mod rng;
pub mod saving;
pub mod tensor;
pub mod training;

pub use error::{Error, Result};
pub use models::{CompileOptions, MemoryPlan, Model, Sequential};
pub use tensor::Tensor;
pub use training::{Arrays, EvaluateOptions, FitOptions};
