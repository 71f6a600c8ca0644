//! Your own layer, written as Keras's: `build` creates the weights, `call` is the forward
//! written with the [`ops`](crate::ops); the gradient, the buffers and the zero-allocation
//! step follow (see [`Custom`]).

use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::{InputGrads, Inputs, Layer, LayerCore, Param};
use crate::ops::{Graph, Program, Slices, Sources, Var, WeightSource};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// The most tensors one call of a custom layer takes.
pub const MAX_INPUTS: usize = 8;

/// The most weights one custom layer creates.
pub const MAX_WEIGHTS: usize = 32;

/// A weight a [`CustomLayer`] created in its `build`: its place among the layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight(usize);

/// What `build` declares: Keras's `self.add_weight(...)`.
#[derive(Debug, Default)]
pub struct Weights {
    specs: Vec<(&'static str, Vec<usize>, Initializer)>,
}

impl Weights {
    /// A weight named `name` (`kernel`) of `shape`, drawn by `initializer` (Keras's names:
    /// `"glorot_uniform"`, `"zeros"`, …) when the layer is built.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an initializer minibatch does not have.
    pub fn add_weight(&mut self, name: &'static str, shape: &[usize], initializer: &str) -> Result<Weight> {
        let init = Initializer::from_name(initializer)?;
        self.specs.push((name, shape.to_vec(), init));
        Ok(Weight(self.specs.len() - 1))
    }
}

/// The recorded weights, as `call` reads them: `w[self.kernel]`.
#[derive(Debug)]
pub struct WeightVars(Vec<Var>);

impl std::ops::Index<Weight> for WeightVars {
    type Output = Var;
    fn index(&self, w: Weight) -> &Var {
        &self.0[w.0]
    }
}

/// A user's layer, as Keras's `Layer` subclass: `build` then `call`, no backward.
///
/// ```
/// use minibatch::layers::{Custom, CustomLayer, Weight, WeightVars, Weights};
/// use minibatch::ops::{Graph, Var};
///
/// /// y = x · W ⊙ σ(x · V): a gated linear unit.
/// #[derive(Clone)]
/// struct Gated { units: usize, w: Option<Weight>, v: Option<Weight> }
///
/// impl CustomLayer for Gated {
///     fn class_name(&self) -> &'static str { "Gated" }
///     fn build(&mut self, weights: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
///         let inputs = input_shape[input_shape.len() - 1];
///         self.w = Some(weights.add_weight("kernel", &[inputs, self.units], "glorot_uniform")?);
///         self.v = Some(weights.add_weight("gate", &[inputs, self.units], "glorot_uniform")?);
///         Ok(())
///     }
///     fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
///         let h = ops.matmul(x, w[self.w.unwrap()])?;
///         let g = ops.matmul(x, w[self.v.unwrap()])?;
///         let g = ops.sigmoid(g);
///         ops.multiply(h, g)
///     }
/// }
///
/// let mut model = minibatch::Sequential::new()
///     .input_shape(&[4])
///     .add(Custom::new(Gated { units: 8, w: None, v: None }))
///     .add(minibatch::layers::Dense::new(1));
/// model.compile("adam", "mse", &[]).unwrap(); // builds it
/// assert_eq!(model.count_params(), 4 * 8 * 2 + 8 + 1);
/// ```
pub trait CustomLayer: Send + CustomClone {
    /// The class name `summary` prints (Keras's class name).
    fn class_name(&self) -> &'static str;

    /// Creates the weights for inputs of one sample's shape `input_shape` (Keras's
    /// `build(input_shape)`, without the batch axis).
    ///
    /// # Errors
    /// Any: the model's build reports it, naming the layer.
    fn build(&mut self, weights: &mut Weights, input_shape: &[usize]) -> Result<()>;

    /// The forward pass, written with the ops: `x` is the layer's input, `w` its weights.
    /// Called once, when the layer is built, to record it.
    ///
    /// # Errors
    /// The ops' shape errors, which the model's build reports naming the layer.
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> Result<Var>;

    /// The forward pass of a layer called on several tensors (Keras's `call(inputs)` with a
    /// list): the default takes exactly one and hands it to [`CustomLayer::call`].
    ///
    /// # Errors
    /// As [`CustomLayer::call`]; the default refuses several inputs.
    fn call_many(&self, ops: &mut Graph, xs: &[Var], w: &WeightVars) -> Result<Var> {
        match xs {
            [x] => self.call(ops, *x, w),
            _ => Err(Error::Shape {
                what: format!("inputs of layer class {}", self.class_name()),
                expected: "one tensor (write call_many for several)".into(),
                received: format!("{} tensors", xs.len()),
            }),
        }
    }

    /// The layer's options, as Keras's `get_config()`: what [`register_layer`]'s function
    /// rebuilds the layer from when a model file is loaded. `None` (the default): a model with
    /// this layer cannot be saved whole (its weights still can).
    fn get_config(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A function that rebuilds a user's layer from its [`CustomLayer::get_config`].
pub type FromConfig = fn(&serde_json::Value) -> Result<Box<dyn CustomLayer>>;

/// The registered layer classes: name, and how to rebuild one.
static REGISTRY: std::sync::RwLock<Vec<(&'static str, FromConfig)>> = std::sync::RwLock::new(Vec::new());

/// Keras's `register_keras_serializable`: `load` (and a shared layer's second call, and
/// data-parallel replicas) rebuild a layer of class `class_name` with `from_config`. A later
/// registration of the same name replaces the earlier.
///
/// # Errors
/// [`Error::InvalidArgument`] for a name of a built-in layer class.
pub fn register_layer(class_name: &'static str, from_config: FromConfig) -> Result<()> {
    if super::CLASS_NAMES.contains(&class_name) {
        return Err(Error::invalid("class_name", class_name, "a name that no built-in layer class has"));
    }
    let mut registry = REGISTRY.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.retain(|(name, _)| *name != class_name);
    registry.push((class_name, from_config));
    Ok(())
}

/// The registered rebuild of `class_name`, if any.
pub(crate) fn registered(class_name: &str) -> Option<FromConfig> {
    let registry = REGISTRY.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.iter().find(|(name, _)| *name == class_name).map(|(_, f)| *f)
}

/// `Clone` for boxed user layers (a [`CustomLayer`] that is `Clone` has it).
pub trait CustomClone {
    /// A copy, boxed.
    fn clone_box(&self) -> Box<dyn CustomLayer>;
}

impl<T: CustomLayer + Clone + 'static> CustomClone for T {
    fn clone_box(&self) -> Box<dyn CustomLayer> {
        Box::new(self.clone())
    }
}

/// The layer's parameters as the program reads them.
struct ParamValues<'a>(&'a [Param]);

impl WeightSource for ParamValues<'_> {
    fn weight(&self, i: usize) -> &[f32] {
        self.0[i].value.data()
    }
}

/// A [`CustomLayer`] as a layer of a model: its `call` recorded when the model builds it,
/// then run forward and backward (each op's vector-Jacobian product, in reverse) on buffers
/// planned for the largest batch.
pub struct Custom {
    core: LayerCore,
    user: Box<dyn CustomLayer>,
    program: Option<Program>,
}

impl Custom {
    /// The layer `user`, to add to a model.
    pub fn new(user: impl CustomLayer + 'static) -> Custom {
        Custom { core: LayerCore::default(), user: Box::new(user), program: None }
    }

    /// Its name in the model (else one is given: `gated_residual`, `gated_residual_1`).
    pub fn name(mut self, name: &str) -> Custom {
        self.core.name = name.to_string();
        self
    }

    /// The registered layer of `class_name` rebuilt from a saved `config` (its user options and
    /// its `name`), or `None` when no such class is registered.
    ///
    /// # Errors
    /// What the registered function returns.
    pub(crate) fn from_registry(class_name: &str, config: &serde_json::Value) -> Option<Result<Custom>> {
        let from_config = registered(class_name)?;
        Some(from_config(config).map(|user| Custom {
            core: LayerCore::named(config.get("name").and_then(serde_json::Value::as_str).unwrap_or_default()),
            user,
            program: None,
        }))
    }
}

impl Layer for Custom {
    fn kind(&self) -> &'static str {
        self.user.class_name()
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape.to_vec()], rng)
    }

    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.core.name.clone();
        let named = |e: Error| match e {
            Error::Shape { what, expected, received } => {
                Error::Shape { what: format!("{what} in layer '{name}'"), expected, received }
            }
            other => Error::State(format!("layer '{name}': {other}")),
        };
        if input_shapes.len() > MAX_INPUTS {
            return Err(Error::invalid("inputs", input_shapes.len(), format!("at most {MAX_INPUTS} (layer '{name}')")));
        }
        let mut weights = Weights::default();
        // Keras's `build(input_shape)`: one input's shape, or the first's of several.
        self.user.build(&mut weights, &input_shapes[0]).map_err(named)?;
        let mut graph = Graph::new();
        let xs: Vec<Var> = input_shapes.iter().map(|s| graph.input(s)).collect();
        let vars = WeightVars(weights.specs.iter().map(|(_, shape, _)| graph.weight(shape)).collect());
        let y = self.user.call_many(&mut graph, &xs, &vars).map_err(named)?;
        if !graph.is_batched(y) {
            return Err(named(graph.mismatch("call", &[y], "an output with the batch axis (computed from the input)")));
        }
        self.core.params = weights
            .specs
            .iter()
            .map(|(wname, shape, init)| {
                let mut p = Param::zeros(wname, shape);
                // Keras's fans: the last axis out, the rest in.
                let fan_out = shape.last().copied().unwrap_or(1);
                let fan_in = shape.iter().product::<usize>() / fan_out.max(1);
                init.fill(p.value.data_mut(), fan_in, fan_out, rng);
                p
            })
            .collect();
        let program = Program::new(graph, y, 1);
        let shape = program.output_shape();
        self.program = Some(program);
        Ok(shape)
    }

    fn plan(&mut self, max_batch: usize) {
        if let Some(p) = self.program.as_mut() {
            p.plan(max_batch);
        }
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.forward_many(Inputs::one(x), y, training);
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        self.backward_many(Inputs::one(x), y, dy, InputGrads::one(dx));
    }

    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, _training: bool) {
        let batch = xs.get(0).shape()[0];
        let program = self.program.as_mut().expect("a custom layer used before it was built");
        program.plan(batch);
        let n = program.graph().inputs;
        let mut inputs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
        for (i, slot) in inputs.iter_mut().enumerate().take(n) {
            *slot = xs.get(i).data();
        }
        let src = Sources { inputs: &inputs[..n], weights: &ParamValues(&self.core.params), output: None };
        program.forward(&src, batch, y.storage_mut());
    }

    fn backward_many(&mut self, xs: Inputs<'_>, y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        let batch = xs.get(0).shape()[0];
        let program = self.program.as_mut().expect("a custom layer used before it was built");
        let n = program.graph().inputs;
        let mut inputs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
        for (i, slot) in inputs.iter_mut().enumerate().take(n) {
            *slot = xs.get(i).data();
        }
        // Each weight's values read, its gradient buffer lent: the same parameter, split.
        let mut values: [&[f32]; MAX_WEIGHTS] = [&[]; MAX_WEIGHTS];
        let mut grads: [Option<&mut Vec<f32>>; MAX_WEIGHTS] = Default::default();
        let count = self.core.params.len();
        for (i, p) in self.core.params.iter_mut().enumerate() {
            let Param { value, grad, .. } = p;
            values[i] = value.data();
            grads[i] = Some(grad.storage_mut());
        }
        let weights = Slices(&values[..count]);
        let src = Sources { inputs: &inputs[..n], weights: &weights, output: Some(y.data()) };
        let mut wanted = [false; MAX_INPUTS];
        for (i, w) in wanted.iter_mut().enumerate().take(n) {
            *w = dxs.get_mut(i).is_some();
        }
        if n == 1 {
            // One input: its gradient buffer lent too.
            let mut dx = [dxs.get_mut(0).map(|d| d.storage_mut())];
            program.backward(&src, batch, dy.storage_mut(), &mut dx, &mut grads[..count], &wanted[..n]);
        } else {
            program.backward(&src, batch, dy.storage_mut(), &mut [], &mut grads[..count], &wanted[..n]);
            for i in 0..n {
                if let Some(dx) = dxs.get_mut(i) {
                    let g = program.input_grad(i, batch);
                    dx.data_mut()[..g.len()].copy_from_slice(g);
                }
            }
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let mut config = self.user.get_config()?;
        let object = config.as_object_mut()?;
        object.insert("name".into(), serde_json::json!(self.core.name));
        Some(config)
    }

    fn planned_workspace_bytes(&self, _max_batch: usize) -> usize {
        self.program.as_ref().map_or(0, Program::buffer_bytes)
    }

    fn workspace_bytes(&self) -> usize {
        self.program.as_ref().map_or(0, Program::buffer_bytes)
    }
}

impl Clone for Custom {
    fn clone(&self) -> Self {
        Custom { core: self.core.clone(), user: self.user.clone_box(), program: self.program.clone() }
    }
}
