//! Models: [`Model`], layers joined by a graph; [`Sequential`], the stack; the functional
//! API that describes a graph ([`Input`], [`Call`], [`Shared`]); `summary()`; and the memory
//! a batch size costs ([`MemoryPlan`], [`Model::max_batch_size`]) and the products it computes
//! ([`Product`], [`Model::products`]).
//!
//! # The functional API, as Keras's
//! | Keras | minibatch |
//! |---|---|
//! | `x = keras.Input(shape=(8,), name="x")` | `let x = Input::named("x", &[8]);` |
//! | `h = layers.Dense(8)(x)` | `let h = Dense::new(8).call(&x);` |
//! | `y = layers.Add()([x, h])` | `let y = Add::new().call([&x, &h]);` |
//! | `d = layers.Dense(3); d(a); d(b)` (shared) | `let d = Shared::new(Dense::new(3)); d.call(&a); d.call(&b);` |
//! | `keras.Model(inputs=[a, b], outputs=[y, z])` | `Model::new(&[&a, &b], &[&y, &z])?` |
//! | `encoder(x)` (a model as a layer) | `encoder.call(&x)` (a `Sequential`: `seq.into_model().call(&x)`) |
//! | `model.compile(loss={"y": "mse", "z": "mae"}, loss_weights=[1, .5])` | `model.compile_with(opt, Losses::named(&[("y", "mse"), ("z", "mae")]), CompileOptions::new().loss_weights(&[1.0, 0.5]))` |
//! | `model.fit([xa, xb], [ya, yb])` or `model.fit({"a": xa, ...}, ...)` | `model.fit([&xa, &xb], [&ya, &yb], options)` or `model.fit(&[("a", &xa), ...][..], ...)` |
//!
//! Differences: a layer value moves into the symbolic tensor its call makes (Rust has one
//! owner), so a layer called twice is wrapped in [`Shared`]; weights are created when the
//! model is made (with seed 0, or [`Model::with_seed`]), and shape errors are reported then,
//! naming the layer, rather than at each call.
//!
//! # The engine
//! A model owns its memory and runs itself: `buffers.rs` plans one activation buffer per
//! tensor of the graph, once per batch size (every buffer with its shape); `executor.rs`
//! runs the nodes forward in topological order and backward in reverse, gradients added where
//! a tensor fans out, nothing allocated in a steady-state step. Training (`fit`, `evaluate`,
//! `predict`, `train_on_batch`), with its per-run state, lives in [`crate::training`].

mod buffers;
mod cost;
mod executor;
mod functional;
mod graph;
mod memory;
mod model;
mod nested;
mod sequential;
mod summary;
pub mod zoo;

pub use crate::layers::{Pass, Product};
pub(crate) use buffers::Buffers;
pub use functional::{Call, CallInputs, Input, Shared, SymbolicTensor};
pub(crate) use graph::{Graph, SlotPlan};
pub use memory::MemoryPlan;
pub(crate) use model::snake_case;
pub(crate) use model::Compiled;
pub use model::{CompileOptions, Losses, Model};
pub use sequential::Sequential;
pub use summary::Connection;

/// A model's layers are the parameters an optimizer walks: every trainable layer's, in order
/// (a frozen layer's weights have no slot). (Here, above both, so that neither the layers nor
/// the optimizers know of the other.)
impl crate::optimizers::base::Params for [Box<dyn crate::layers::Layer>] {
    fn for_each(&mut self, f: &mut dyn FnMut(usize, &mut crate::layers::Param)) {
        let trainable = self.iter_mut().filter(|l| l.trainable());
        for (slot, p) in trainable.flat_map(|l| l.params_mut().iter_mut()).enumerate() {
            f(slot, p);
        }
    }
}
