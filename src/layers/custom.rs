//! Your own layer, written as Keras's: `build` creates the weights, `call` is the forward
//! written with the [`ops`](crate::ops); the gradient, the buffers and the zero-allocation
//! step follow (see [`Custom`]).

use crate::constraints::Constraint;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::{InputGrads, Inputs, Layer, LayerCore, MaskRule, Param, State};
use crate::ops::{Draw, Graph, Program, Slices, Sources, Var, WeightSource};
use crate::registry::Registry;
use crate::regularizers::Regularizer;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// The most tensors one call of a custom layer takes.
pub const MAX_INPUTS: usize = 8;

/// The most weights one custom layer creates.
pub const MAX_WEIGHTS: usize = 32;

/// A weight a [`CustomLayer`] created in its `build`: its place among the layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight(usize);

/// Keras's `add_weight` arguments beyond the name and shape: `initializer` (Glorot uniform by
/// default, as Keras's for a float weight), `regularizer`, `constraint` and `trainable`.
///
/// ```
/// use minibatch::layers::WeightOptions;
/// use minibatch::regularizers::Regularizer;
/// use minibatch::constraints::Constraint;
/// let kernel = WeightOptions::new()
///     .initializer("he_normal").unwrap()
///     .regularizer(Regularizer::L2 { l2: 0.01 })
///     .constraint(Constraint::NonNeg);
/// let table = WeightOptions::new().initializer("zeros").unwrap().trainable(false);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WeightOptions {
    initializer: Initializer,
    regularizer: Option<Regularizer>,
    constraint: Option<Constraint>,
    trainable: bool,
}

impl Default for WeightOptions {
    fn default() -> Self {
        WeightOptions { initializer: Initializer::GlorotUniform, regularizer: None, constraint: None, trainable: true }
    }
}

impl WeightOptions {
    /// Keras's defaults: Glorot uniform, no penalty, no constraint, trainable.
    pub fn new() -> Self {
        WeightOptions::default()
    }

    /// The initializer, by Keras's name (`"zeros"`, `"he_normal"`, …).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an initializer minibatch does not have.
    pub fn initializer(mut self, name: &str) -> Result<Self> {
        self.initializer = Initializer::from_name(name)?;
        Ok(self)
    }

    /// A penalty on the weight, added to the loss (Keras's `regularizer`).
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }

    /// Applied to the weight after every update (Keras's `constraint`).
    pub fn constraint(mut self, c: Constraint) -> Self {
        self.constraint = Some(c);
        self
    }

    /// `false`: the weight takes no gradient and no update (a fixed table), and is saved with
    /// the layer's non-trainable variables (Keras's `trainable=False`).
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }
}

/// What `build` declares: Keras's `self.add_weight(...)`.
#[derive(Debug, Default)]
pub struct Weights {
    specs: Vec<(&'static str, Vec<usize>, WeightOptions)>,
}

impl Weights {
    /// A weight named `name` (`kernel`) of `shape`, drawn by `initializer` (Keras's names:
    /// `"glorot_uniform"`, `"zeros"`, …) when the layer is built.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an initializer minibatch does not have.
    pub fn add_weight(&mut self, name: &'static str, shape: &[usize], initializer: &str) -> Result<Weight> {
        self.add_weight_with(name, shape, WeightOptions::new().initializer(initializer)?)
    }

    /// [`Weights::add_weight`] with Keras's other arguments (see [`WeightOptions`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a penalty factor that is not finite and at least 0, or a
    /// constraint whose axes the shape does not have.
    pub fn add_weight_with(&mut self, name: &'static str, shape: &[usize], options: WeightOptions) -> Result<Weight> {
        if let Some(r) = options.regularizer {
            r.check()?;
        }
        if let Some(c) = options.constraint {
            c.check(shape)?;
        }
        self.specs.push((name, shape.to_vec(), options));
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
    /// Called when the layer is built, to record it: once for training and once for inference,
    /// and [`Graph::training`] tells which (Keras's `training` argument: write
    /// `if ops.training() { x = ops.dropout(x, 0.1)? }`).
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

    /// The forward pass of a layer whose input has steps (`[time, …]` per sample), given the
    /// mask that reaches it (Keras's `call(inputs, mask=None)`): `mask` is `[time]` per
    /// sample, 1 for a step to use and 0 for one to skip, all 1 when no mask reaches the
    /// layer. The default ignores it and calls [`CustomLayer::call`].
    ///
    /// # Errors
    /// As [`CustomLayer::call`].
    fn call_masked(&self, ops: &mut Graph, x: Var, mask: Var, w: &WeightVars) -> Result<Var> {
        let _ = mask;
        self.call(ops, x, w)
    }

    /// What the layer does with the mask on its input: [`MaskRule::Drop`] (the default: the
    /// output has none), [`MaskRule::Pass`] (Keras's `supports_masking = True`: the output
    /// keeps the input's mask, for a layer that works step by step) or [`MaskRule::Produce`]
    /// (the layer makes one: [`CustomLayer::compute_mask`]).
    fn mask_rule(&self) -> MaskRule {
        MaskRule::Drop
    }

    /// For [`MaskRule::Produce`], Keras's `compute_mask`: writes the mask of the batch `x` into
    /// `mask` (`[batch, time]`, 1 for a step to use, 0 for one to skip).
    fn compute_mask(&self, x: &Tensor, mask: &mut Tensor) {
        let _ = (x, mask);
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
static REGISTRY: Registry<FromConfig> = Registry::new();

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
    REGISTRY.insert(class_name, from_config);
    Ok(())
}

/// The registered rebuild of `class_name`, if any.
pub(crate) fn registered(class_name: &str) -> Option<FromConfig> {
    REGISTRY.get(class_name)
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

/// Where weight `i` of the recording lives: among the layer's trainable parameters, or its
/// fixed (`trainable(false)`) weights.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Trainable(usize),
    Fixed(usize),
}

/// The layer's weights as the program reads them, by the recording's weight index.
struct WeightValues<'a> {
    params: &'a [Param],
    fixed: &'a [Param],
    slots: &'a [Slot],
}

impl WeightSource for WeightValues<'_> {
    fn weight(&self, i: usize) -> &[f32] {
        match self.slots[i] {
            Slot::Trainable(j) => self.params[j].value.data(),
            Slot::Fixed(j) => self.fixed[j].value.data(),
        }
    }
}

/// A [`CustomLayer`] as a layer of a model: its `call` recorded when the model builds it,
/// then run forward and backward (each op's vector-Jacobian product, in reverse) on buffers
/// planned for the largest batch.
///
/// # Buffers
/// | buffer | shape | holds |
/// |---|---|---|
/// | `train` | its [`Program`]'s | the recording run by training steps |
/// | `infer` | its [`Program`]'s | the recording for inference, when `call` records another there (a dropout under `ops.training()`) |
/// | `ones` | `[max_batch × time]` | all 1: the mask when none reaches a recording that reads it |
pub struct Custom {
    core: LayerCore,
    user: Box<dyn CustomLayer>,
    train: Option<Program>,
    infer: Option<Program>,
    /// The non-trainable weights, saved as the layer's variables.
    fixed: Vec<Param>,
    /// Where each recorded weight lives.
    slots: Vec<Slot>,
    /// Whether the recordings take the mask, as their last input.
    masked: bool,
    /// The steps of the mask when a recording reads it (0 when none does): `ones` holds that
    /// many per sample.
    mask_steps: usize,
    ones: Vec<f32>,
}

impl Custom {
    /// The layer `user`, to add to a model.
    pub fn new(user: impl CustomLayer + 'static) -> Custom {
        Custom::wrap(LayerCore::default(), Box::new(user))
    }

    fn wrap(core: LayerCore, user: Box<dyn CustomLayer>) -> Custom {
        Custom {
            core,
            user,
            train: None,
            infer: None,
            fixed: Vec::new(),
            slots: Vec::new(),
            masked: false,
            mask_steps: 0,
            ones: Vec::new(),
        }
    }

    /// Its name in the model (else one is given: `gated_residual`, `gated_residual_1`).
    pub fn name(mut self, name: &str) -> Custom {
        self.core.name = name.to_string();
        self
    }

    /// The seed of its random ops (`ops.dropout`; else one is drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Custom {
        self.core.seed = Some(seed);
        self
    }

    /// The registered layer of `class_name` rebuilt from a saved `config` (its user options and
    /// its `name`), or `None` when no such class is registered.
    ///
    /// # Errors
    /// What the registered function returns.
    pub(crate) fn from_registry(class_name: &str, config: &serde_json::Value) -> Option<Result<Custom>> {
        let from_config = registered(class_name)?;
        let name = config.get("name").and_then(serde_json::Value::as_str).unwrap_or_default();
        let seed = config.get("seed").and_then(serde_json::Value::as_u64);
        Some(from_config(config).map(|user| {
            let mut core = LayerCore::named(name);
            core.seed = seed;
            Custom::wrap(core, user)
        }))
    }

    /// `call` recorded for training or inference on inputs of `input_shapes`: the graph and
    /// its result. A single input with steps gets the mask as the recording's last input.
    fn record(&self, training: bool, input_shapes: &[Vec<usize>], weights: &Weights) -> Result<(Graph, Var)> {
        let mut graph = Graph::for_mode(training);
        let xs: Vec<Var> = input_shapes.iter().map(|s| graph.input(s)).collect();
        let vars = WeightVars(weights.specs.iter().map(|(_, shape, o)| graph.weight(shape, o.trainable)).collect());
        let y = match (&xs[..], &input_shapes[0][..]) {
            ([x], [time, _, ..]) => {
                let mask = graph.mask_input(&[*time]);
                self.user.call_masked(&mut graph, *x, mask, &vars)?
            }
            _ => self.user.call_many(&mut graph, &xs, &vars)?,
        };
        if !graph.is_batched(y) {
            return Err(graph.mismatch("call", &[y], "an output with the batch axis (computed from the input)"));
        }
        Ok((graph, y))
    }
}

/// The step's input values: the layer's inputs, then the mask where the recording takes one
/// (the one that reached the layer, else `ones`).
fn input_values<'a>(xs: &Inputs<'a>, masked: bool, ones: &'a [f32], out: &mut [&'a [f32]; MAX_INPUTS + 1]) -> usize {
    for (i, slot) in out.iter_mut().enumerate().take(xs.len()) {
        *slot = xs.get(i).data();
    }
    if !masked {
        return xs.len();
    }
    out[xs.len()] = xs.mask().map_or(ones, Tensor::data);
    xs.len() + 1
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
        if weights.specs.len() > MAX_WEIGHTS {
            return Err(named(Error::invalid("weights", weights.specs.len(), format!("at most {MAX_WEIGHTS}"))));
        }
        let (train, y) = self.record(true, input_shapes, &weights).map_err(named)?;
        let (infer, y_infer) = self.record(false, input_shapes, &weights).map_err(named)?;
        let (mut params, mut fixed, mut slots) = (Vec::new(), Vec::new(), Vec::new());
        for (wname, shape, options) in &weights.specs {
            let mut p = Param::zeros(wname, shape);
            // Keras's fans: the last axis out, the rest in.
            let fan_out = shape.last().copied().unwrap_or(1);
            let fan_in = shape.iter().product::<usize>() / fan_out.max(1);
            options.initializer.fill(p.value.data_mut(), fan_in, fan_out, rng);
            (p.regularizer, p.constraint) = (options.regularizer, options.constraint);
            if options.trainable {
                slots.push(Slot::Trainable(params.len()));
                params.push(p);
            } else {
                slots.push(Slot::Fixed(fixed.len()));
                fixed.push(p);
            }
        }
        self.core.params = params;
        (self.fixed, self.slots) = (fixed, slots);
        if train.is_random() || infer.is_random() {
            let seed = self.core.seed.unwrap_or_else(|| rng.next_u64());
            self.core.rng = Rng::new(seed);
        }
        self.masked = input_shapes.len() == 1 && input_shapes[0].len() >= 2;
        self.infer = (!train.same_recording(&infer)).then(|| Program::forward_only(infer, y_infer, 1));
        let train = Program::new(train, y, 1);
        // The mask is input 1 of a masked recording; `ones` stands in for it only where read.
        let reads_mask =
            self.masked && [Some(&train), self.infer.as_ref()].into_iter().flatten().any(|p| p.reads_input(1));
        self.mask_steps = if reads_mask { input_shapes[0][0] } else { 0 };
        let shape = train.output_shape();
        if self.infer.as_ref().is_some_and(|p| p.output_shape() != shape) {
            return Err(named(Error::Shape {
                what: "call".into(),
                expected: format!("the same output shape in training and inference, {shape:?}"),
                received: format!(
                    "{:?} in inference",
                    self.infer.as_ref().map(Program::output_shape).unwrap_or_default()
                ),
            }));
        }
        self.train = Some(train);
        Ok(shape)
    }

    fn plan(&mut self, max_batch: usize) {
        for p in [self.train.as_mut(), self.infer.as_mut()].into_iter().flatten() {
            p.plan(max_batch);
        }
        if self.ones.len() < max_batch * self.mask_steps {
            self.ones = vec![1.0; max_batch * self.mask_steps];
        }
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.forward_many(Inputs::one(x), y, training);
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        self.backward_many(Inputs::one(x), y, dy, InputGrads::one(dx));
    }

    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, training: bool) {
        let batch = xs.get(0).shape()[0];
        self.plan(batch);
        let Custom { core, train, infer, fixed, slots, masked, ones, .. } = self;
        let program = match (training, infer.as_mut()) {
            (false, Some(p)) => p,
            _ => train.as_mut().expect("a custom layer used before it was built"),
        };
        let mut inputs: [&[f32]; MAX_INPUTS + 1] = [&[]; MAX_INPUTS + 1];
        let n = input_values(&xs, *masked, ones, &mut inputs);
        let draw = if program.graph().is_random() {
            Draw { key: core.rng.next_u64(), offset: core.offset }
        } else {
            Draw::default()
        };
        let weights = WeightValues { params: &core.params, fixed, slots };
        let src = Sources { inputs: &inputs[..n], weights: &weights, output: None, draw };
        program.forward(&src, batch, y.storage_mut());
    }

    fn backward_many(&mut self, xs: Inputs<'_>, y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        let batch = xs.get(0).shape()[0];
        let Custom { core, train, fixed, slots, masked, ones, .. } = self;
        let program = train.as_mut().expect("a custom layer used before it was built");
        let mut inputs: [&[f32]; MAX_INPUTS + 1] = [&[]; MAX_INPUTS + 1];
        let n = input_values(&xs, *masked, ones, &mut inputs);
        // Each parameter's values read, its gradient buffer lent: the same parameter, split;
        // then both placed by the recording's weight order.
        let mut param_values: [&[f32]; MAX_WEIGHTS] = [&[]; MAX_WEIGHTS];
        let mut param_grads: [Option<&mut Vec<f32>>; MAX_WEIGHTS] = Default::default();
        for (j, p) in core.params.iter_mut().enumerate() {
            let Param { value, grad, .. } = p;
            param_values[j] = value.data();
            param_grads[j] = Some(grad.storage_mut());
        }
        let mut values: [&[f32]; MAX_WEIGHTS] = [&[]; MAX_WEIGHTS];
        let mut grads: [Option<&mut Vec<f32>>; MAX_WEIGHTS] = Default::default();
        for (i, slot) in slots.iter().enumerate() {
            match *slot {
                Slot::Trainable(j) => (values[i], grads[i]) = (param_values[j], param_grads[j].take()),
                Slot::Fixed(j) => values[i] = fixed[j].value.data(),
            }
        }
        let count = slots.len();
        let weights = Slices(&values[..count]);
        let src = Sources { inputs: &inputs[..n], weights: &weights, output: Some(y.data()), draw: Draw::default() };
        let users = xs.len();
        let mut wanted = [false; MAX_INPUTS + 1];
        for (i, w) in wanted.iter_mut().enumerate().take(users) {
            *w = dxs.get_mut(i).is_some();
        }
        if users == 1 {
            // One input: its gradient buffer lent too.
            let mut dx = [dxs.get_mut(0).map(|d| d.storage_mut())];
            program.backward(&src, batch, dy.storage_mut(), &mut dx, &mut grads[..count], &wanted[..n]);
        } else {
            program.backward(&src, batch, dy.storage_mut(), &mut [], &mut grads[..count], &wanted[..n]);
            for i in 0..users {
                if let Some(dx) = dxs.get_mut(i) {
                    match program.input_grad(i, batch) {
                        [] => dx.data_mut().fill(0.0), // the result does not depend on it
                        g => dx.data_mut()[..g.len()].copy_from_slice(g),
                    }
                }
            }
        }
    }

    fn mask_rule(&self) -> MaskRule {
        self.user.mask_rule()
    }

    fn compute_mask(&self, x: &Tensor, mask: &mut Tensor) {
        self.user.compute_mask(x, mask);
    }

    fn config(&self) -> Option<serde_json::Value> {
        let mut config = self.user.get_config()?;
        let object = config.as_object_mut()?;
        object.insert("name".into(), serde_json::json!(self.core.name));
        if let Some(seed) = self.core.seed {
            object.insert("seed".into(), serde_json::json!(seed));
        }
        Some(config)
    }

    fn state(&self) -> Vec<(&'static str, State)> {
        let mut state: Vec<(&'static str, State)> =
            self.fixed.iter().map(|p| (p.name, State::F32(p.value.clone()))).collect();
        if self.train.iter().chain(&self.infer).any(|p| p.graph().is_random()) {
            state.extend(crate::layers::rng_state(&self.core.rng));
        }
        state
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        if let Some(p) = self.fixed.iter_mut().find(|p| p.name == name) {
            return match value {
                State::F32(t) if t.shape() == p.value.shape() => {
                    p.value.data_mut().copy_from_slice(t.data());
                    Ok(())
                }
                _ => Err(Error::State(format!(
                    "layer {}: variable {name} must be f32 values of shape {:?}",
                    self.core.name,
                    p.value.shape()
                ))),
            };
        }
        crate::layers::set_rng_state(&self.core.name, &mut self.core.rng, name, value)
    }

    fn planned_workspace_bytes(&self, _max_batch: usize) -> usize {
        self.workspace_bytes()
    }

    fn workspace_bytes(&self) -> usize {
        self.train.iter().chain(&self.infer).map(Program::buffer_bytes).sum::<usize>() + 4 * self.ones.len()
    }
}

impl Clone for Custom {
    fn clone(&self) -> Self {
        Custom {
            core: self.core.clone(),
            user: self.user.clone_box(),
            train: self.train.clone(),
            infer: self.infer.clone(),
            fixed: self.fixed.clone(),
            slots: self.slots.clone(),
            masked: self.masked,
            mask_steps: self.mask_steps,
            ones: self.ones.clone(),
        }
    }
}
