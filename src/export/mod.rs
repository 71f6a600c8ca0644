//! Models out of minibatch, for runtimes that are not training frameworks: ONNX
//! ([`onnx`], `Model::export_onnx`).

pub mod onnx;
