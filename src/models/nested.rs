//! A model used as a layer of another (Keras: a `Model` is a `Layer`).
//!
//! Called on symbolic tensors, a model runs its own graph over its own buffers inside the
//! outer model's step: forward copies the inputs in and the output out; backward copies the
//! output's gradient in, runs the inner backward (which then computes the inputs' gradients as
//! well) and copies those out. Its weights are the outer model's to update: while nested, the
//! parameters live in one list the [`Layer`] contract can lend (`{layer}/{weight}` by name, so
//! the outer model saves them as `{model}/{layer}/{weight}`), and are lent back to the inner
//! layers for each pass (moving tensors, not copying them).

use super::Model;
use crate::error::{Error, Result};
use crate::layers::{InputGrads, Inputs, Layer, Param, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// A name made once per nested parameter or state variable: the [`Param`] contract holds
/// `&'static str` names, and a nested model's are its layers' names joined to theirs. Made
/// when the model becomes a layer (once per model), so the memory is bounded.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

impl Model {
    /// Lends the nested parameters to the inner layers, or takes them back (the same call).
    fn swap_nested(&mut self) {
        let mut nested = self.core.params.iter_mut();
        for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
            let q = nested.next().expect("one nested parameter per parameter");
            std::mem::swap(&mut p.value, &mut q.value);
            std::mem::swap(&mut p.grad, &mut q.grad);
        }
    }

    /// The inner layers' state variables, in order.
    fn inner_state(&self) -> impl Iterator<Item = (String, State)> + '_ {
        self.layers.iter().flat_map(|l| l.state().into_iter().map(move |(n, s)| (format!("{}/{n}", l.name()), s)))
    }
}

impl Layer for Model {
    fn check_arguments(&self) -> Result<()> {
        self.layers.iter().try_for_each(|l| l.check_arguments())?;
        // The outer model's optimizer sees the nested model's weights as one layer's: it freezes
        // them all or none.
        if self.core.trainable {
            if let Some(l) = self.layers.iter().find(|l| !l.trainable()) {
                return Err(Error::invalid(
                    "trainable",
                    format!("layer {} frozen inside model {}, which trains", l.name(), self.core.name),
                    "a nested model frozen as a whole (set_trainable(false) on it) or not at all",
                ));
            }
        }
        Ok(())
    }

    fn sublayers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    // Freezing a model freezes every layer in it (Keras's `model.trainable = False`).
    fn set_trainable(&mut self, trainable: bool) {
        self.core.trainable = trainable;
        self.layers.iter_mut().for_each(|l| l.set_trainable(trainable));
    }

    fn kind(&self) -> &'static str {
        if self.functional {
            "Functional"
        } else {
            "Sequential"
        }
    }

    crate::layers::lends_core!();

    /// The same graph over replicas of its layers, not built (a model called twice: a
    /// shared encoder, as in a Siamese network).
    fn replicate(&self) -> Result<Box<dyn Layer>> {
        let mut copy = Model::chain();
        copy.core.name = self.core.name.clone();
        copy.functional = self.functional;
        copy.seed = self.seed;
        copy.layers = self.layers.iter().map(|l| l.replicate()).collect::<Result<_>>()?;
        copy.graph = self.graph.clone();
        copy.input_names = self.input_names.clone();
        copy.input_shapes = self.input_shapes.clone();
        copy.metadata = self.metadata.clone();
        Ok(Box::new(copy))
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape.to_vec()], rng)
    }

    /// Builds the inner model for `shapes` if it is not built (a stack without an input
    /// shape), keeping its weights if it is, and turns it into a layer.
    fn build_many(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        if self.graph.outputs.len() != 1 {
            return Err(Error::State(format!(
                "model {} has {} outputs: a model used as a layer has one",
                self.core.name,
                self.graph.outputs.len()
            )));
        }
        if !self.core.params.is_empty() {
            self.swap_nested();
        }
        let built = if self.is_built() { Ok(()) } else { self.build_inputs(shapes) };
        let same = self.is_built() && self.shapes[..self.graph.inputs] == *shapes;
        if built.is_err() || !same {
            if !self.core.params.is_empty() {
                self.swap_nested();
            }
            built?;
            return Err(Error::Shape {
                what: format!("inputs of model {} used as a layer", self.core.name),
                expected: format!("{:?}", &self.shapes[..self.graph.inputs]),
                received: format!("{shapes:?}"),
            });
        }
        self.graph.input_grads = true;
        self.graph.plan_gradients();
        self.bufs = super::Buffers::default();
        if self.core.params.is_empty() {
            self.core.params = self
                .layers
                .iter()
                .flat_map(|l| {
                    l.params().iter().map(move |p| Param {
                        name: leak(format!("{}/{}", l.name(), p.name)),
                        value: Tensor::default(),
                        grad: Tensor::default(),
                        regularizer: p.regularizer,
                        constraint: p.constraint,
                    })
                })
                .collect();
        }
        if self.nested_state_names.is_empty() {
            self.nested_state_names = self.inner_state().map(|(n, _)| leak(n)).collect();
        }
        self.swap_nested();
        Ok(self.shapes[self.graph.outputs[0]].clone())
    }

    fn plan(&mut self, max_batch: usize) {
        Model::plan(self, max_batch, true, None);
    }

    // The inner layers that read the model's (first) input check its values: an Embedding's
    // token ids inside a nested model are refused by name, as at the top level.
    fn check_input(&self, x: &Tensor) -> Result<()> {
        for node in self.graph.nodes.iter().filter(|n| n.inputs.contains(&0)) {
            self.layers[node.layer].check_input(x)?;
        }
        Ok(())
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.forward_many(Inputs::one(x), y, training);
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        self.backward_many(Inputs::one(x), y, dy, InputGrads::one(dx));
    }

    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, training: bool) {
        self.swap_nested();
        self.bufs.set_batch(xs.get(0).batch());
        for (i, x) in xs.iter().enumerate() {
            let slot = self.bufs.slot_of[i];
            self.bufs.acts[slot].data_mut().copy_from_slice(x.data());
        }
        self.forward_pass(training);
        y.data_mut().copy_from_slice(self.bufs.act(self.graph.outputs[0]).data());
        self.swap_nested();
    }

    fn synchronizes(&self) -> bool {
        self.layers.iter().any(|l| l.synchronizes())
    }

    fn set_sample_offset(&mut self, offset: usize) {
        self.set_layers_sample_offset(offset);
    }

    // The inner layers' activity penalties over the inner buffers of the latest pass (they
    // hold the batch's activations until the next forward).
    fn activity_penalty(&self) -> f64 {
        let n = self.bufs.batch() as f32;
        let mut penalty = 0.0;
        for i in 0..self.graph.nodes.len() {
            let layer = self.node_layer(i);
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(self.bufs.act(self.graph.inputs + i).data()) / n) as f64;
            }
            penalty += layer.activity_penalty();
        }
        penalty
    }

    fn backward_many(&mut self, xs: Inputs<'_>, _y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        self.swap_nested();
        let out = self.graph.outputs[0];
        self.bufs.grads[out].data_mut().copy_from_slice(dy.data());
        self.backward_pass(|_, _| {});
        for i in 0..xs.len() {
            if let Some(dx) = dxs.get_mut(i) {
                dx.data_mut().copy_from_slice(self.bufs.grads[i].data());
            }
        }
        self.swap_nested();
    }

    fn products(&self, batch: usize, _positions: usize, _input_gradient: bool) -> Vec<crate::layers::Product> {
        // The inner model's own products (built with the outer one, so counted).
        Model::products(self, batch).unwrap_or_default()
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        self.planned_buffer_bytes(max_batch, false)
    }

    fn workspace_bytes(&self) -> usize {
        self.buffer_bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let mut config = self.to_config().ok()?;
        config.get_mut("config").map(serde_json::Value::take)
    }

    fn state(&self) -> Vec<(&'static str, State)> {
        self.nested_state_names.iter().copied().zip(self.inner_state().map(|(_, s)| s)).collect()
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        let (layer, variable) = name.split_once('/').unwrap_or((name, ""));
        match self.layers.iter_mut().find(|l| l.name() == layer) {
            Some(l) => l.set_state(variable, value),
            None => Err(Error::State(format!("model {} has no layer {layer}", self.core.name))),
        }
    }
}
