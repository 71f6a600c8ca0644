//! The functional API: [`Input`], calling a layer on symbolic tensors ([`Call`]), and
//! [`Model::new`] from inputs and outputs.
//!
//! A [`SymbolicTensor`] (Keras's `KerasTensor`) holds no values: it remembers the layer call
//! that makes it and the symbolic tensors that call read. `Model::new` walks back from the
//! outputs to the inputs, takes the layers into the model and orders the calls
//! topologically. Symbolic tensors are immutable and made only from earlier ones, so a cycle
//! cannot be written.

use super::graph::{Graph, Node};
use super::model::snake_case;
use super::Model;
use crate::error::{Error, Result};
use crate::layers::Layer;
use std::sync::{Arc, Mutex};

/// A tensor in a model being described: an [`Input`] or the result of calling a layer.
#[derive(Clone)]
pub struct SymbolicTensor(Arc<Origin>);

enum Origin {
    Input { name: Option<String>, shape: Vec<usize> },
    Call { layer: Shared, inputs: Vec<SymbolicTensor> },
}

impl std::fmt::Debug for SymbolicTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Origin::Input { name, shape } => write!(f, "Input({name:?}, {shape:?})"),
            Origin::Call { layer, inputs } => write!(f, "{}({} inputs)", layer.describe(), inputs.len()),
        }
    }
}

/// A model input with a per-sample shape (Keras's `keras.Input(shape=..., name=...)`).
///
/// ```
/// use minibatch::layers::{Add, Dense};
/// use minibatch::models::{Call, Input, Model};
/// let x = Input::new(&[8]);
/// let h = Dense::new(8).activation("relu").call(&x);
/// let y = Add::new().call([&x, &h]); // a residual connection
/// let out = Dense::new(1).call(&y);
/// let model = Model::new(&[&x], &[&out]).unwrap();
/// assert_eq!(model.count_params(), 8 * 8 + 8 + 8 + 1);
/// ```
pub struct Input;

impl Input {
    /// An input of samples of `shape` (without the batch axis), named `input_layer`,
    /// `input_layer_1`, … in the model.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: &[usize]) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Origin::Input { name: None, shape: shape.to_vec() }))
    }

    /// A named input: `fit` can take its data by this name.
    pub fn named(name: &str, shape: &[usize]) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Origin::Input { name: Some(name.to_string()), shape: shape.to_vec() }))
    }
}

/// A layer that can be called more than once, sharing its weights between the calls (Keras
/// calls the same layer object twice). Cloning the handle does not copy the layer.
///
/// ```
/// use minibatch::layers::{Dense, Concatenate};
/// use minibatch::models::{Call, Input, Model, Shared};
/// let (a, b) = (Input::new(&[4]), Input::new(&[4]));
/// let encoder = Shared::new(Dense::new(3));
/// let joined = Concatenate::new().call([&encoder.call(&a), &encoder.call(&b)]);
/// let model = Model::new(&[&a, &b], &[&joined]).unwrap();
/// assert_eq!(model.count_params(), 4 * 3 + 3); // one set of weights
/// ```
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Option<Box<dyn Layer>>>>);

impl Shared {
    /// Wraps a layer.
    pub fn new(layer: impl Layer + 'static) -> Self {
        Shared::boxed(Box::new(layer))
    }

    /// Wraps a boxed layer.
    pub fn boxed(layer: Box<dyn Layer>) -> Self {
        Shared(Arc::new(Mutex::new(Some(layer))))
    }

    fn describe(&self) -> String {
        match self.0.lock() {
            Ok(guard) => guard.as_ref().map_or("(a layer taken by a model)".into(), |l| l.kind().to_string()),
            Err(_) => "(a layer)".into(),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
}

/// The tensors a layer is called on: one (`&x`) or several (`[&a, &b]`, `&[a, b]`).
pub struct CallInputs(Vec<SymbolicTensor>);

impl CallInputs {
    /// The tensors, in order.
    pub fn into_vec(self) -> Vec<SymbolicTensor> {
        self.0
    }
}

impl From<&SymbolicTensor> for CallInputs {
    fn from(x: &SymbolicTensor) -> Self {
        CallInputs(vec![x.clone()])
    }
}
impl<const N: usize> From<[&SymbolicTensor; N]> for CallInputs {
    fn from(xs: [&SymbolicTensor; N]) -> Self {
        CallInputs(xs.iter().map(|&x| x.clone()).collect())
    }
}
impl From<&[&SymbolicTensor]> for CallInputs {
    fn from(xs: &[&SymbolicTensor]) -> Self {
        CallInputs(xs.iter().map(|&x| x.clone()).collect())
    }
}
impl From<&[SymbolicTensor]> for CallInputs {
    fn from(xs: &[SymbolicTensor]) -> Self {
        CallInputs(xs.to_vec())
    }
}
impl From<&Vec<SymbolicTensor>> for CallInputs {
    fn from(xs: &Vec<SymbolicTensor>) -> Self {
        CallInputs(xs.clone())
    }
}

/// Calling a layer on symbolic tensors, as `layer(x)` in Keras's functional API.
pub trait Call {
    /// The symbolic tensor the call makes. Shapes are checked when the model is made
    /// ([`Model::new`]), which names the layer and the shapes.
    fn call(self, inputs: impl Into<CallInputs>) -> SymbolicTensor;
}

impl<L: Layer + 'static> Call for L {
    fn call(self, inputs: impl Into<CallInputs>) -> SymbolicTensor {
        Shared::new(self).call(inputs)
    }
}

impl Call for &Shared {
    fn call(self, inputs: impl Into<CallInputs>) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Origin::Call { layer: self.clone(), inputs: inputs.into().0 }))
    }
}

impl Call for Box<dyn Layer> {
    fn call(self, inputs: impl Into<CallInputs>) -> SymbolicTensor {
        Shared::boxed(self).call(inputs)
    }
}

impl Model {
    /// A model from its inputs and outputs (Keras's `keras.Model(inputs, outputs)`): the
    /// layers called between them, built (weights created with seed 0; see
    /// [`Model::with_seed`]).
    ///
    /// # Errors
    /// An output that does not depend on a given input, or that needs an input not given; an
    /// input or output given twice; two inputs or two layers with one name; a layer already
    /// taken by another model; a call whose shapes do not fit its layer (the layer is named);
    /// no outputs.
    pub fn new(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor]) -> Result<Model> {
        Model::new_seeded(inputs, outputs, 0)
    }

    /// [`Model::new`] with weights from `seed` (built once).
    pub(crate) fn new_seeded(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor], seed: u64) -> Result<Model> {
        let mut model = Model::describe(inputs, outputs)?;
        model.seed = seed;
        let shapes = model.input_shapes.clone().expect("inputs have shapes");
        model.build_inputs(&shapes)?;
        Ok(model)
    }

    /// Recreates the weights with `seed` (also the seed of dropout and shuffling), as
    /// [`Sequential::seed`](crate::Sequential::seed) does before building.
    ///
    /// # Errors
    /// As building the model.
    pub fn with_seed(mut self, seed: u64) -> Result<Model> {
        self.seed = seed;
        if let Some(shapes) = self.input_shapes.clone() {
            self.shapes.clear();
            self.build_inputs(&shapes)?;
        }
        Ok(self)
    }

    /// Names the model (Keras's `name=`; `functional` by default).
    pub fn named(mut self, name: impl Into<String>) -> Model {
        self.core.name = name.into();
        self
    }

    /// The graph between `inputs` and `outputs`, not yet built.
    fn describe(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor]) -> Result<Model> {
        if outputs.is_empty() {
            return Err(Error::invalid("outputs", "none", "at least one output tensor"));
        }
        if inputs.is_empty() {
            return Err(Error::invalid("inputs", "none", "at least one Input"));
        }
        let key = |t: &SymbolicTensor| Arc::as_ptr(&t.0) as *const () as usize;
        // 1. The inputs, named as Keras names them.
        let mut input_names = Vec::new();
        let mut input_keys = Vec::new();
        let mut input_shapes = Vec::new();
        for (i, t) in inputs.iter().enumerate() {
            let Origin::Input { name, shape } = &*t.0 else {
                return Err(Error::invalid(
                    "inputs",
                    format!("input {i}, a layer's output"),
                    "tensors made by Input::new",
                ));
            };
            if input_keys.contains(&key(t)) {
                return Err(Error::invalid("inputs", format!("input {i}"), "each Input given once"));
            }
            let name = name.clone().unwrap_or_else(|| {
                let taken = inputs[..i].iter().filter(|t| matches!(&*t.0, Origin::Input { name: None, .. })).count();
                if taken == 0 {
                    "input_layer".to_string()
                } else {
                    format!("input_layer_{taken}")
                }
            });
            if input_names.contains(&name) {
                return Err(Error::invalid("inputs", name, "inputs with distinct names"));
            }
            // `Input(shape=())`: one value per sample is a shape of no axes.
            if shape.contains(&0) {
                return Err(Error::shape(format!("input {name}"), "positive sizes", shape));
            }
            input_names.push(name);
            input_keys.push(key(t));
            input_shapes.push(shape.clone());
        }

        // 2. The calls, in topological order: depth first from each output, inputs in order.
        let mut order: Vec<SymbolicTensor> = Vec::new();
        let mut placed: Vec<usize> = Vec::new();
        let mut used_inputs = vec![false; inputs.len()];
        for out in outputs {
            // An explicit stack: a deep model must not overflow the call stack.
            let mut stack: Vec<(SymbolicTensor, bool)> = vec![((*out).clone(), false)];
            while let Some((t, expanded)) = stack.pop() {
                let k = key(&t);
                if placed.contains(&k) {
                    continue;
                }
                match &*t.0 {
                    Origin::Input { name, .. } => {
                        let i = input_keys.iter().position(|&q| q == k).ok_or_else(|| {
                            Error::invalid(
                                "inputs",
                                format!("without the Input {}", name.as_deref().unwrap_or("(unnamed)")),
                                "every Input the outputs depend on",
                            )
                        })?;
                        used_inputs[i] = true;
                        placed.push(k);
                    }
                    Origin::Call { inputs: args, .. } => {
                        if expanded {
                            placed.push(k);
                            order.push(t.clone());
                        } else {
                            stack.push((t.clone(), true));
                            for a in args.iter().rev() {
                                if !placed.contains(&key(a)) {
                                    stack.push((a.clone(), false));
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(i) = used_inputs.iter().position(|u| !u) {
            return Err(Error::invalid(
                "inputs",
                format!("input {}", input_names[i]),
                "inputs every one of which some output depends on",
            ));
        }

        // 3. The layers, taken into the model in the order of their first call.
        let mut layer_ids: Vec<usize> = Vec::new();
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        let mut nodes = Vec::new();
        let tensor_of = |k: usize, order: &[SymbolicTensor]| -> usize {
            match input_keys.iter().position(|&q| q == k) {
                Some(i) => i,
                None => inputs.len() + order.iter().position(|t| key(t) == k).expect("placed before its readers"),
            }
        };
        for t in &order {
            let Origin::Call { layer, inputs: args } = &*t.0 else { unreachable!("only calls are ordered") };
            let li = match layer_ids.iter().position(|&id| id == layer.id()) {
                Some(li) => li,
                None => {
                    let taken = layer.0.lock().ok().and_then(|mut g| g.take());
                    let Some(l) = taken else {
                        return Err(Error::State(
                            "a layer in this graph already belongs to another model: give each model its own layers"
                                .into(),
                        ));
                    };
                    layer_ids.push(layer.id());
                    layers.push(l);
                    layers.len() - 1
                }
            };
            let ins = args.iter().map(|a| tensor_of(key(a), &order)).collect();
            nodes.push(Node::new(li, ins));
        }
        // Default names as Keras's: `dense`, `dense_1`, … per class, in order.
        for i in 0..layers.len() {
            if layers[i].name().is_empty() {
                let kind = layers[i].kind();
                let base = snake_case(kind);
                let mut n = layers[..i].iter().filter(|l| l.kind() == kind).count();
                let mut name = if n == 0 { base.clone() } else { format!("{base}_{n}") };
                while layers.iter().any(|l| l.name() == name) || input_names.contains(&name) {
                    n += 1;
                    name = format!("{base}_{n}");
                }
                layers[i].set_name(name);
            }
        }
        for (i, l) in layers.iter().enumerate() {
            if layers[..i].iter().any(|m| m.name() == l.name()) || input_names.iter().any(|n| n == l.name()) {
                return Err(Error::invalid("layer names", l.name().to_string(), "a unique name per layer and input"));
            }
        }
        let mut output_ids = Vec::new();
        for (i, o) in outputs.iter().enumerate() {
            let t = tensor_of(key(o), &order);
            if t < inputs.len() {
                return Err(Error::invalid(
                    "outputs",
                    format!("output {i}, the Input {}", input_names[t]),
                    "outputs made by layers",
                ));
            }
            if output_ids.contains(&t) {
                return Err(Error::invalid("outputs", format!("output {i}"), "each output given once"));
            }
            output_ids.push(t);
        }
        let mut model = Model::chain();
        model.core.name = "functional".into();
        model.functional = true;
        model.layers = layers;
        model.graph = Graph { inputs: inputs.len(), nodes, outputs: output_ids, ..Graph::default() };
        model.input_names = input_names;
        model.input_shapes = Some(input_shapes);
        Ok(model)
    }
}

// The functional-call sugar of layers that make or take more than one tensor: here, beside
// `Call`, so that the layers know nothing of the graph.

impl crate::layers::Recurrent {
    /// Calls the layer on `x` with Keras's `return_state=True`: `[output, h]` (SimpleRNN, GRU)
    /// or `[output, h, c]` (LSTM), the states being the last step's (carried over masked
    /// steps). As in Keras's `out, h, c = LSTM(8, return_state=True)(x)`:
    ///
    /// ```
    /// use minibatch::layers::{Concatenate, Dense, LSTM};
    /// use minibatch::models::{Call, Input, Model};
    /// let x = Input::new(&[5, 3]);
    /// let [out, h, c] = <[_; 3]>::try_from(LSTM::new(8).call_with_states(&x)).unwrap();
    /// let y = Dense::new(2).call(&Concatenate::new().call([&out, &h, &c]));
    /// let model = Model::new(&[&x], &[&y]).unwrap();
    /// ```
    ///
    /// The layer's own tensor packs the three (each sample: the output, then `h`, then `c`);
    /// a [`RecurrentOutput`](crate::layers::RecurrentOutput) node takes each out, so the graph keeps one tensor per call and
    /// the states' gradients flow back into the last step.
    pub fn call_with_states(self, x: impl Into<CallInputs>) -> Vec<SymbolicTensor> {
        let (layer, units, sequences, cell) = self.returning_states();
        let packed = layer.call(x);
        let parts = if cell == crate::layers::Cell::LSTM { 3 } else { 2 };
        (0..parts).map(|part| crate::layers::RecurrentOutput::new(part, units, sequences, cell).call(&packed)).collect()
    }
}

impl crate::layers::Bidirectional {
    /// Calls the layer on `x` with Keras's `merge_mode=None`: `[forward, backward]`, each of
    /// the wrapped layer's output shape (the backward one in time order with
    /// `return_sequences`), as in Keras's `fwd, bwd = Bidirectional(LSTM(8), merge_mode=None)(x)`:
    ///
    /// ```
    /// use minibatch::layers::{Bidirectional, Dense, Subtract, LSTM};
    /// use minibatch::models::{Call, Input, Model};
    /// let x = Input::new(&[5, 3]);
    /// let [fwd, bwd] = Bidirectional::new(LSTM::new(8)).call_split(&x);
    /// let y = Dense::new(2).call(&Subtract::new().call([&fwd, &bwd]));
    /// let model = Model::new(&[&x], &[&y]).unwrap();
    /// ```
    ///
    /// The layer's own tensor packs the two (`[2, …]` per sample); an
    /// [`OutputPart`](crate::layers::OutputPart) node takes each out. Masks do not reach the
    /// two outputs (Keras passes a sequence mask on to both).
    pub fn call_split(self, x: impl Into<CallInputs>) -> [SymbolicTensor; 2] {
        let packed = self.merge_mode(None::<crate::layers::MergeMode>).call(x);
        [crate::layers::OutputPart::new(0, 2).call(&packed), crate::layers::OutputPart::new(1, 2).call(&packed)]
    }
}

impl crate::layers::Attention {
    /// Calls the layer on `inputs` (`[query, value]` or `[query, value, key]`) with Keras's
    /// `return_attention_scores=True`: `[output, scores]`, the scores `[Tq, Tv]` being the
    /// attention weights (after the softmax), as in Keras's
    /// `out, scores = Attention()([q, v], return_attention_scores=True)`:
    ///
    /// ```
    /// use minibatch::layers::{Attention, Concatenate, Dense, Flatten};
    /// use minibatch::models::{Call, Input, Model};
    /// let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
    /// let [out, scores] = Attention::new().call_with_scores([&q, &v]);
    /// let both = Concatenate::new().call([&Flatten::new().call(&out), &Flatten::new().call(&scores)]);
    /// let model = Model::new(&[&q, &v], &[&Dense::new(1).call(&both), &scores]).unwrap();
    /// ```
    ///
    /// The layer's own tensor packs the two, flat per sample; an
    /// [`OutputPart`](crate::layers::OutputPart) node takes each out, and the scores' gradient
    /// flows back through the softmax.
    pub fn call_with_scores(self, inputs: impl Into<CallInputs>) -> [SymbolicTensor; 2] {
        let packed = self.return_attention_scores(true).call(inputs);
        [crate::layers::OutputPart::of(0).call(&packed), crate::layers::OutputPart::of(1).call(&packed)]
    }
}

impl crate::layers::MultiHeadAttention {
    /// Calls the layer on `inputs` (the query; or `[query, value]`, `[query, value, key]`)
    /// with Keras's `attention_mask`: `mask` holds `[Tq, Tv]` per sample, nonzero where query
    /// step `t` may attend to value step `s`.
    ///
    /// ```
    /// use minibatch::layers::MultiHeadAttention;
    /// use minibatch::models::{Input, Model};
    /// let (q, v, mask) = (Input::new(&[3, 4]), Input::new(&[5, 4]), Input::new(&[3, 5]));
    /// let y = MultiHeadAttention::new(2, 4).call_with_mask([&q, &v], &mask);
    /// let model = Model::new(&[&q, &v, &mask], &[&y]).unwrap();
    /// ```
    pub fn call_with_mask(self, inputs: impl Into<CallInputs>, mask: &SymbolicTensor) -> SymbolicTensor {
        let mut all = inputs.into().into_vec();
        all.push(mask.clone());
        self.with_attention_mask().call(&all)
    }
}
