//! All integration tests, built into one binary (faster to build than one per file).

mod common;
mod convnets;
mod custom_layers;
#[path = "../support/deadline.rs"]
mod deadline;
#[path = "../support/ops_layers.rs"]
mod ops_layers;
#[path = "../support/train_steps.rs"]
mod train_steps;
#[path = "../zoo.rs"]
mod zoo;

mod architecture;
mod augmentation;
mod bad_input;
mod batch_size_answers;
mod callbacks;
mod checkpoints;
mod cli;
mod custom_steps;
mod datasets;
mod determinism;
mod distributed;
mod fit_semantics;
mod freezing;
mod functional;
mod gradients;
mod hardening;
mod keras_files;
mod keras_functional;
mod keras_layers;
mod keras_reference;
mod lab_tools;
mod learning;
mod loaders;
mod lookups;
mod lr_and_logging_callbacks;
mod memory_plan;
mod mixed_precision;
mod mnist;
mod onnx_export;
mod optimizers;
mod plots_and_reports;
mod preprocessing;
mod readme;
mod resume_cli;
mod saving;
mod summary_and_interop;
pub(crate) mod tensorboard;
mod text;
mod timeseries;
mod weights_and_options;
mod workflow;
