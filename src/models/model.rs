//! `Model`: layers joined by a graph, with what `compile` fixed and the buffers training runs
//! over. Both kinds of model are one: [`Sequential`](crate::Sequential) builds a chain,
//! [`Model::new`] any graph of [`Input`](crate::models::Input)s and layer calls.

use super::graph::Graph;
use super::Buffers;
use crate::error::{Error, Result};
use crate::layers::{dtype_policy, DTypePolicy, Layer, LayerCore, State};
use crate::losses::Loss;
use crate::metrics::{Direction, IntoMetric, Metric};
use crate::optimizers::{IntoOptimizer, Optimizer};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::tensor::{isa, memory};
use std::collections::BTreeMap;

/// A trainable model: layers joined by a graph, as Keras's `keras.Model`.
///
/// Build one with [`Sequential`](crate::Sequential) (a stack) or with [`Model::new`] from
/// [`Input`](crate::models::Input)s and layer calls (Keras's functional API); both give a
/// `Model` to compile, fit, evaluate, predict, save and load. See [`crate::models`] for the
/// functional API and how it maps to Keras's.
pub struct Model {
    /// Keras's model name (`sequential`, `functional` or the user's) and, used as a layer of
    /// another model, the parameters lent to the layers for each pass (see [`super::nested`]):
    /// what every layer holds ([`LayerCore`]).
    pub(crate) core: LayerCore,
    /// Built by [`Model::new`] (saved as Keras's `Functional`) rather than as a stack.
    pub(crate) functional: bool,
    /// Every layer once, in the order of its first call.
    pub(crate) layers: Vec<Box<dyn Layer>>,
    /// Layers' second and later calls (see [`crate::layers`]): the replica, and its layer.
    pub(crate) replicas: Vec<(usize, Box<dyn Layer>)>,
    pub(crate) graph: Graph,
    /// The inputs' names (a Sequential model's is `input_layer`).
    pub(crate) input_names: Vec<String>,
    /// The per-sample input shapes, when known before data arrives.
    pub(crate) input_shapes: Option<Vec<Vec<usize>>>,
    /// Per-sample shapes of every tensor, by number (see [`super::graph`]). Empty until built.
    pub(crate) shapes: Vec<Vec<usize>>,
    pub(crate) seed: u64,
    pub(crate) compiled: Option<Compiled>,
    pub(crate) bufs: Buffers,
    /// Used as a layer of another model: the names of the layers' state variables.
    pub(crate) nested_state_names: Vec<&'static str>,
    /// What the user records about the model (see [`Model::metadata`]), saved with it.
    pub(crate) metadata: serde_json::Map<String, serde_json::Value>,
}

/// What `compile` fixed: the optimizer, a loss per output and the metrics.
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    /// One loss per output.
    pub losses: Vec<Box<dyn Loss>>,
    /// Each output's weight in the total loss (Keras's `loss_weights`; 1 by default).
    pub loss_weights: Vec<f32>,
    /// Every metric of every output: `metrics`, then `weighted_metrics`, output by output.
    pub metrics: Vec<Box<dyn Metric>>,
    /// The output each metric watches.
    pub metric_output: Vec<usize>,
    /// Whether each metric sees the sample weights (`weighted_metrics`).
    pub weighted: Vec<bool>,
    /// The key each metric reports under, as Keras names them (`accuracy`, `accuracy_1`,
    /// `weighted_accuracy`; `digit_accuracy` with several outputs).
    pub keys: Vec<String>,
    /// With several outputs, each one's loss key (`digit_loss`); empty with one.
    pub loss_keys: Vec<String>,
    /// Per output: the loss's gradient is taken with respect to the pre-activation.
    pub fused: Vec<bool>,
    /// Per output: the running sum over samples of its (unweighted) loss, and the samples.
    pub output_sums: Vec<f64>,
    pub seen: usize,
    /// Per layer: whether it was trainable when the optimizer's slots were sized.
    pub trainable: Vec<bool>,
}

/// The loss of each output: one for all (Keras's `loss="mse"` on a model with several
/// outputs applies to each), one per output by position, or by output name.
///
/// ```
/// use minibatch::models::Losses;
/// let by_name = Losses::named(&[("digit", "sparse_categorical_crossentropy"), ("even", "binary_crossentropy")]);
/// let by_position = Losses::each(&["sparse_categorical_crossentropy", "binary_crossentropy"]);
/// # let _ = (by_name, by_position);
/// ```
pub struct Losses {
    kind: LossesKind,
}

enum LossesKind {
    All(Result<Box<dyn Loss>>),
    Each(Vec<Result<Box<dyn Loss>>>),
    Named(Vec<(String, Result<Box<dyn Loss>>)>),
}

impl Losses {
    /// One loss per output, in output order.
    pub fn each<L: crate::losses::IntoLoss + Clone>(losses: &[L]) -> Self {
        Losses { kind: LossesKind::Each(losses.iter().map(|l| l.clone().into_loss()).collect()) }
    }
    /// One loss per output, by output name (Keras's `loss={"digit": ...}`).
    pub fn named<L: crate::losses::IntoLoss + Clone>(losses: &[(&str, L)]) -> Self {
        Losses { kind: LossesKind::Named(losses.iter().map(|(n, l)| (n.to_string(), l.clone().into_loss())).collect()) }
    }
    /// Boxed losses, one per output, in output order.
    pub fn boxed(losses: Vec<Box<dyn Loss>>) -> Self {
        Losses { kind: LossesKind::Each(losses.into_iter().map(Ok).collect()) }
    }

    /// One loss per output of a model whose outputs are `names`.
    fn resolve(self, names: &[String]) -> Result<Vec<Box<dyn Loss>>> {
        let k = names.len();
        match self.kind {
            LossesKind::All(l) => {
                let l = l?;
                let config = l.config();
                let mut out = vec![l];
                // A loss applies to every output: each needs its own (they keep no state, but
                // a custom one might), rebuilt from its config.
                for _ in 1..k {
                    let c = config.as_ref().ok_or_else(|| {
                        Error::State(format!(
                            "loss {} gives no config, so it cannot be repeated over the model's {k} outputs: \
                             give one loss per output (Losses::each)",
                            out[0].name()
                        ))
                    })?;
                    out.push(crate::losses::from_config(c)?);
                }
                Ok(out)
            }
            LossesKind::Each(list) => {
                if list.len() != k {
                    return Err(Error::invalid(
                        "loss",
                        format!("{} losses", list.len()),
                        format!("one per output: {k} ({})", names.join(", ")),
                    ));
                }
                list.into_iter().collect()
            }
            LossesKind::Named(list) => {
                let mut slots: Vec<Option<Box<dyn Loss>>> = (0..k).map(|_| None).collect();
                for (name, l) in list {
                    let i = names.iter().position(|n| *n == name).ok_or_else(|| Error::UnknownName {
                        kind: "output",
                        name: name.clone(),
                        known: Vec::new(),
                    })?;
                    if slots[i].is_some() {
                        return Err(Error::invalid("loss", name, "each output named once"));
                    }
                    slots[i] = Some(l?);
                }
                slots
                    .into_iter()
                    .zip(names)
                    .map(|(l, n)| l.ok_or_else(|| Error::invalid("loss", "no loss", format!("a loss for output {n}"))))
                    .collect()
            }
        }
    }
}

impl<L: crate::losses::IntoLoss> From<L> for Losses {
    fn from(loss: L) -> Self {
        Losses { kind: LossesKind::All(loss.into_loss()) }
    }
}

/// The metrics of [`Model::compile_with`]: Keras's `metrics` and `weighted_metrics` (by name
/// or as values), per output for a model with several, and `loss_weights`.
///
/// ```
/// use minibatch::{metrics::{Auc, Curve}, CompileOptions};
/// let options = CompileOptions::new()
///     .metrics(&["accuracy"])
///     .metric(Auc::with("pr_auc", Curve::Pr, 200))
///     .weighted_metrics(&["accuracy"]);
/// let two_outputs = CompileOptions::new()
///     .output_metrics("digit", &["accuracy"])
///     .output_metrics("even", &["binary_accuracy"])
///     .loss_weights(&[1.0, 0.5]);
/// ```
#[derive(Default)]
pub struct CompileOptions {
    /// (output name, or `None` for the only output; weighted; metric)
    metrics: Vec<(Option<String>, bool, Box<dyn Metric>)>,
    loss_weights: Option<Vec<f32>>,
    error: Option<Error>,
}

impl CompileOptions {
    /// No metrics.
    pub fn new() -> Self {
        CompileOptions::default()
    }
    fn push(mut self, output: Option<&str>, weighted: bool, metric: impl IntoMetric) -> Self {
        match metric.into_metric() {
            Ok(m) => self.metrics.push((output.map(str::to_string), weighted, m)),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }
    /// Adds a metric that sees every sample with weight 1 (Keras's `metrics`).
    pub fn metric(self, metric: impl IntoMetric) -> Self {
        self.push(None, false, metric)
    }
    /// Adds metrics by name.
    pub fn metrics(self, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.metric(name))
    }
    /// Adds a metric that sees the sample weights (Keras's `weighted_metrics`).
    pub fn weighted_metric(self, metric: impl IntoMetric) -> Self {
        self.push(None, true, metric)
    }
    /// Adds weighted metrics by name.
    pub fn weighted_metrics(self, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.weighted_metric(name))
    }
    /// Adds metrics by name on the output named `output` (Keras's `metrics={"digit": [...]}`).
    pub fn output_metrics(self, output: &str, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.push(Some(output), false, name))
    }
    /// Adds a metric value on the output named `output`.
    pub fn output_metric(self, output: &str, metric: impl IntoMetric) -> Self {
        self.push(Some(output), false, metric)
    }
    /// Adds a weighted metric value on the output named `output`.
    pub fn output_weighted_metric(self, output: &str, metric: impl IntoMetric) -> Self {
        self.push(Some(output), true, metric)
    }
    /// Adds weighted metrics by name on the output named `output`.
    pub fn output_weighted_metrics(self, output: &str, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.push(Some(output), true, name))
    }
    /// Each output's weight in the total loss, in output order (Keras's `loss_weights`). The
    /// History's `loss` is the weighted sum; each `<output>_loss` is the output's own.
    pub fn loss_weights(mut self, weights: &[f32]) -> Self {
        self.loss_weights = Some(weights.to_vec());
        self
    }
}

/// The keys metrics report under, as Keras 3 makes them unique within an output: a repeated
/// metric name gets `_1`, `_2`, …; a weighted metric whose name is taken becomes
/// `weighted_<name>`. With several outputs each key is prefixed with its output's name.
fn metric_keys(metrics: &[Box<dyn Metric>], outputs: &[usize], weighted: &[bool], names: &[String]) -> Vec<String> {
    let mut counters: BTreeMap<(usize, String), usize> = BTreeMap::new();
    let mut keys = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let out = outputs[i];
        let name = m.name().to_string();
        let key =
            if weighted[i] && counters.contains_key(&(out, name.clone())) { format!("weighted_{name}") } else { name };
        let key = match counters.get_mut(&(out, key.clone())) {
            None => {
                counters.insert((out, key.clone()), 1);
                key
            }
            Some(count) => {
                *count += 1;
                format!("{key}_{}", *count - 1)
            }
        };
        keys.push(if names.len() > 1 { format!("{}_{key}", names[out]) } else { key });
    }
    keys
}

impl std::fmt::Debug for Model {
    /// The layers by name and kind, the shapes and the compiled losses (not the weights).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layers: Vec<String> = self.layers.iter().map(|l| format!("{} ({})", l.name(), l.kind())).collect();
        let losses: Vec<&str> =
            self.compiled.as_ref().map(|c| c.losses.iter().map(|l| l.name()).collect()).unwrap_or_default();
        f.debug_struct("Model")
            .field("name", &self.core.name)
            .field("layers", &layers)
            .field("shapes", &self.shapes)
            .field("seed", &self.seed)
            .field("losses", &losses)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// The layer that runs graph node `i`: its own layer, or for a shared layer's second and
    /// later calls, its replica.
    pub(crate) fn node_layer(&self, i: usize) -> &dyn Layer {
        let node = &self.graph.nodes[i];
        match node.replica {
            None => self.layers[node.layer].as_ref(),
            Some(r) => self.replicas[r].1.as_ref(),
        }
    }

    /// An empty chain (what [`Sequential::new`](crate::Sequential::new) starts from).
    pub(crate) fn chain() -> Self {
        Model {
            core: LayerCore::named("sequential"),
            functional: false,
            layers: Vec::new(),
            replicas: Vec::new(),
            graph: Graph::chain(0),
            input_names: vec!["input_layer".into()],
            input_shapes: None,
            shapes: Vec::new(),
            seed: 0,
            compiled: None,
            bufs: Buffers::default(),
            nested_state_names: Vec::new(),
            metadata: serde_json::Map::new(),
        }
    }

    /// What has been recorded about the model under names of the user's choosing (the data it
    /// was trained on, its test split, the names of its classes, ...): JSON values that
    /// [`Model::save`] writes beside the architecture and [`Model::load`] reads back.
    /// Training never reads them.
    ///
    /// ```
    /// use minibatch::{layers::Dense, Sequential};
    /// let mut model = Sequential::new().input_shape(&[4]).add(Dense::new(3));
    /// model.set_metadata("class_names", serde_json::json!(["setosa", "versicolor", "virginica"]));
    /// assert_eq!(model.metadata()["class_names"][2], "virginica");
    /// ```
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.metadata
    }

    /// Records `value` under `key` in the model's [`Model::metadata`], replacing what was there.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.metadata.insert(key.into(), value);
    }

    /// The model's name (Keras's `model.core.name`).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Renames the model.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.core.name = name.into();
    }

    /// Appends a layer to a chain.
    pub(crate) fn push_layer(&mut self, mut layer: Box<dyn Layer>) {
        if layer.name().is_empty() {
            let base = snake_case(layer.kind());
            let taken = self.layers.iter().filter(|l| l.kind() == layer.kind()).count();
            layer.set_name(if taken == 0 { base } else { format!("{base}_{taken}") });
        }
        self.layers.push(layer);
        self.graph = Graph::chain(self.layers.len());
        self.shapes.clear();
    }

    /// The layers, each once, in the order of their first call.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// The layer named `name` (Keras's `get_layer`).
    pub fn get_layer(&self, name: &str) -> Option<&dyn Layer> {
        self.layers.iter().find(|l| l.name() == name).map(|l| l.as_ref())
    }

    /// True once weights exist.
    pub fn is_built(&self) -> bool {
        !self.shapes.is_empty()
    }

    /// The names of the model's inputs, in order.
    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }

    /// The names of the model's outputs, in order: the names of the layers that produce them.
    pub fn output_names(&self) -> Vec<String> {
        self.graph
            .outputs
            .iter()
            .map(|&t| match self.graph.producer(t) {
                Some(n) => self.layers[self.graph.nodes[n].layer].name().to_string(),
                None => self.input_names[t].clone(),
            })
            .collect()
    }

    /// Creates the weights for per-sample inputs of `input_shape` (a model with one input).
    /// Rebuilding with the same shape keeps the weights.
    ///
    /// # Errors
    /// A layer that cannot take the shape, an unknown activation or initializer name, an
    /// invalid layer argument, or a model with no layers.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        self.build_inputs(&[input_shape.to_vec()])
    }

    /// [`Model::build`] for every input of the model, in order.
    ///
    /// # Errors
    /// As [`Model::build`]; a number of shapes that is not the number of inputs.
    pub fn build_inputs(&mut self, input_shapes: &[Vec<usize>]) -> Result<()> {
        if self.is_built() {
            return if self.shapes[..self.graph.inputs] == *input_shapes {
                Ok(())
            } else {
                Err(Error::Shape {
                    what: "model input".into(),
                    expected: format!("samples of shape {:?}", &self.shapes[..self.graph.inputs]),
                    received: format!("{input_shapes:?}"),
                })
            };
        }
        if self.layers.is_empty() {
            return Err(Error::State("the model has no layers: add at least one before building".into()));
        }
        if input_shapes.len() != self.graph.inputs {
            return Err(Error::Shape {
                what: "model inputs".into(),
                expected: format!("{} input shapes", self.graph.inputs),
                received: format!("{} shapes", input_shapes.len()),
            });
        }
        self.resolve_dtype_policies();
        let mut rng = Rng::derive(self.seed, u64::MAX);
        let mut shapes = input_shapes.to_vec();
        let mut replicas = Vec::new();
        // Every weight is claimed from a budget before it is allocated (tensor::memory): a
        // model file's tensor bytes when loading one, else 3/4 of the machine's memory.
        let mut build_layers = || -> Result<()> {
            let mut built = vec![false; self.layers.len()];
            // The layer that makes each node's tensor, for a part of a packed output.
            let producers: Vec<usize> = self.graph.nodes.iter().map(|n| n.layer).collect();
            let first_node = self.graph.inputs;
            for node in &mut self.graph.nodes {
                let ins: Vec<Vec<usize>> = node.inputs.iter().map(|&t| shapes[t].clone()).collect();
                let parts = match node.inputs.first() {
                    Some(&t) if t >= first_node => self.layers[producers[t - first_node]].output_parts(),
                    _ => Vec::new(),
                };
                let layer = &mut self.layers[node.layer];
                if !parts.is_empty() {
                    layer.place_part(&parts);
                }
                if !built[node.layer] {
                    built[node.layer] = true;
                    node.replica = None;
                    shapes.push(layer.build_many(&ins, &mut rng)?);
                    continue;
                }
                // A second call: a replica of the layer, built for this call's shapes.
                // Its weights mirror the layer's: claimed against the layer's own size, not
                // the budget in force (a model file holds the layer's weights once).
                let own: usize = layer.params().iter().map(|p| p.value.len()).sum::<usize>()
                    + layer.state().iter().map(|(_, s)| if let State::F32(t) = s { t.len() } else { 0 }).sum::<usize>();
                let (replica, out) = memory::with_budget(own as u64 * 4, memory::Source::File, || {
                    let mut replica = layer.replicate()?;
                    replica.core_mut().policy = layer.core().policy;
                    replica.build_many(&ins, &mut Rng::derive(0, 0)).map(|out| (replica, out))
                })
                .map_err(|e| match e {
                    Error::Memory { .. } => Error::Shape {
                        what: format!("the second call of layer {}", layer.name()),
                        expected: "inputs that need the weights of its first call".into(),
                        received: format!("inputs of shape {ins:?}, which need more"),
                    },
                    other => other,
                })?;
                for (p, q) in replica.params().iter().zip(layer.params()) {
                    if p.value.shape() != q.value.shape() {
                        return Err(Error::shape(
                            format!("the second call of layer {} (its {})", layer.name(), p.name),
                            format!("{:?}, as in its first call", q.value.shape()),
                            p.value.shape(),
                        ));
                    }
                }
                node.replica = Some(replicas.len());
                replicas.push((node.layer, replica));
                shapes.push(out);
            }
            Ok(())
        };
        if memory::has_budget() {
            build_layers()?;
        } else {
            memory::with_budget(memory::model_budget(), memory::Source::Memory, build_layers)?;
        }
        let rules: Vec<crate::layers::MaskRule> = self
            .graph
            .nodes
            .iter()
            .map(|n| match n.replica {
                None => self.layers[n.layer].mask_rule(),
                Some(r) => replicas[r].1.mask_rule(),
            })
            .collect();
        let layers = &self.layers;
        let nodes = &self.graph.nodes;
        let name = |i: usize| format!("{} ({})", layers[nodes[i].layer].name(), layers[nodes[i].layer].kind());
        let mut graph = self.graph.clone();
        graph.plan_masks(&rules, &shapes, &name)?;
        self.graph = graph;
        self.input_shapes = Some(input_shapes.to_vec());
        self.replicas = replicas;
        self.shapes = shapes;
        self.graph.plan_gradients();
        self.bufs = Buffers::default();
        self.plan_fusion();
        self.build_optimizer();
        Ok(())
    }

    /// Fixes each layer's dtype policy: its own, else float32 for a layer that gives the
    /// model's outputs, else the model's, else the global one (see
    /// [`DTypePolicy`](crate::layers::DTypePolicy)); says once per process when bf16 products
    /// will run without bf16 instructions.
    fn resolve_dtype_policies(&mut self) {
        // A model used as a layer of another was given its outer model's policy.
        let inherited = if self.core.policy != DTypePolicy::Float32 { self.core.policy } else { dtype_policy() };
        let base = self.core.dtype.unwrap_or(inherited);
        // The layers whose outputs are the model's compute in float32 unless told otherwise,
        // as Keras's mixed-precision guide asks (`dtype="float32"` on the last layer).
        let outputs: Vec<usize> = self
            .graph
            .outputs
            .iter()
            .filter_map(|&t| self.graph.producer(t))
            .map(|n| self.graph.nodes[n].layer)
            .collect();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let core = layer.core_mut();
            let default = if outputs.contains(&i) { DTypePolicy::Float32 } else { base };
            core.policy = core.dtype.unwrap_or(default);
        }
        let bf16 = self.layers.iter().any(|l| l.core().policy.computes_in_bf16());
        if bf16 && !isa::current().has_bf16_products() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "mixed_bfloat16: this processor has no bf16 instructions (AVX512-BF16 or AMX-BF16): \
                     the products round their inputs to bf16 and run on the f32 kernel ({})",
                    isa::current().name()
                )
            });
        }
    }

    /// Sets the dtype policy of the layers that have none of their own (Keras's per-model
    /// equivalent is building the model under `keras.config.set_dtype_policy`); takes effect
    /// when the model is built (at once on a built model), and is saved with it (as each
    /// layer's `dtype`).
    ///
    /// ```
    /// use minibatch::layers::{DTypePolicy, Dense, WithDType};
    /// use minibatch::Sequential;
    /// let mut model = Sequential::new()
    ///     .add(Dense::new(64).activation("relu"))
    ///     .add(Dense::new(10).activation("softmax")); // the output layer: float32
    /// model.dtype_policy(DTypePolicy::MixedBfloat16);
    /// model.build(&[784]).unwrap();
    /// assert_eq!(model.get_layer("dense").unwrap().core().policy(), DTypePolicy::MixedBfloat16);
    /// assert_eq!(model.get_layer("dense_1").unwrap().core().policy(), DTypePolicy::Float32);
    /// ```
    pub fn dtype_policy(&mut self, policy: DTypePolicy) -> &mut Self {
        self.core.dtype = Some(policy);
        if self.is_built() {
            self.resolve_dtype_policies();
        }
        self
    }

    /// Configures training, as Keras's `compile`: an optimizer (a name such as `"adam"` or a
    /// value such as `Adam::new(1e-3)`), a loss (a name, a [`BuiltinLoss`](crate::losses::BuiltinLoss),
    /// your own [`Loss`], or [`Losses`] for a model with several outputs), and metric names.
    /// Builds the model when its input shape is known.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown optimizer, loss or metric name; invalid optimizer
    /// or loss arguments; build errors.
    pub fn compile(&mut self, optimizer: impl IntoOptimizer, loss: impl Into<Losses>, metrics: &[&str]) -> Result<()> {
        self.compile_with(optimizer, loss, CompileOptions::new().metrics(metrics))
    }

    /// [`Model::compile`] with metric values, `weighted_metrics`, metrics per output and
    /// `loss_weights` (see [`CompileOptions`]).
    ///
    /// # Errors
    /// As [`Model::compile`]; metrics for an output the model does not have, or a flat
    /// metric list on a model with several outputs; `loss_weights` not one finite weight per
    /// output.
    pub fn compile_with(
        &mut self,
        optimizer: impl IntoOptimizer,
        loss: impl Into<Losses>,
        options: CompileOptions,
    ) -> Result<()> {
        for layer in &self.layers {
            layer.check_arguments()?;
        }
        let optimizer = optimizer.into_optimizer()?;
        crate::optimizers::check_options(optimizer.as_ref())?;
        let names = self.output_names();
        let losses = loss.into().resolve(&names)?;
        for l in &losses {
            l.check_arguments()?;
        }
        let CompileOptions { metrics: listed, loss_weights, error } = options;
        if let Some(e) = error {
            return Err(e);
        }
        let loss_weights = loss_weights.unwrap_or_else(|| vec![1.0; names.len()]);
        if loss_weights.len() != names.len() {
            return Err(Error::invalid(
                "loss_weights",
                format!("{} weights", loss_weights.len()),
                format!("one per output: {}", names.len()),
            ));
        }
        if let Some(w) = loss_weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(Error::invalid("loss_weights", w, "finite, non-negative weights"));
        }
        // Metrics by output (Keras orders them by output), unweighted before weighted.
        let mut by_output: Vec<(usize, bool, Box<dyn Metric>)> = Vec::new();
        for (output, weighted, m) in listed {
            let out = match output {
                None if names.len() == 1 => 0,
                None => {
                    return Err(Error::invalid(
                        "metrics",
                        m.name().to_string(),
                        format!(
                            "metrics per output on a model with {} outputs ({}): use output_metrics(name, ...)",
                            names.len(),
                            names.join(", ")
                        ),
                    ))
                }
                Some(name) => names.iter().position(|n| *n == name).ok_or_else(|| Error::UnknownName {
                    kind: "output",
                    name,
                    known: Vec::new(),
                })?,
            };
            by_output.push((out, weighted, m));
        }
        by_output.sort_by_key(|(out, weighted, _)| (*out, *weighted));
        let metric_output: Vec<usize> = by_output.iter().map(|m| m.0).collect();
        let weighted: Vec<bool> = by_output.iter().map(|m| m.1).collect();
        let metrics: Vec<Box<dyn Metric>> = by_output.into_iter().map(|m| m.2).collect();
        let keys = metric_keys(&metrics, &metric_output, &weighted, &names);
        let loss_keys = if names.len() > 1 { names.iter().map(|n| format!("{n}_loss")).collect() } else { Vec::new() };
        let k = names.len();
        self.compiled = Some(Compiled {
            optimizer,
            losses,
            loss_weights,
            metrics,
            metric_output,
            weighted,
            keys,
            loss_keys,
            fused: vec![false; k],
            output_sums: vec![0.0; k],
            seen: 0,
            trainable: Vec::new(),
        });
        if let (Some(shapes), false) = (self.input_shapes.clone(), self.is_built()) {
            self.build_inputs(&shapes)?;
        }
        self.plan_fusion();
        self.build_optimizer();
        Ok(())
    }

    /// Fuses each output's loss with a matching softmax/sigmoid output activation (see
    /// [`crate::losses`]), or undoes an earlier fusion when the loss no longer matches. An
    /// output read by another layer, or made by a shared layer, is not fused: its layer's
    /// backward must see the output's own gradient.
    fn plan_fusion(&mut self) {
        let Some(c) = self.compiled.as_mut() else { return };
        if self.shapes.is_empty() {
            return;
        }
        for (k, &t) in self.graph.outputs.iter().enumerate() {
            let Some(n) = self.graph.producer(t) else { continue };
            let li = self.graph.nodes[n].layer;
            let calls = self.graph.nodes.iter().filter(|n| n.layer == li).count();
            let read = self.graph.readers(t).next().is_some();
            let other_output = self
                .graph
                .outputs
                .iter()
                .enumerate()
                .any(|(j, &o)| j != k && self.graph.producer(o).is_some_and(|m| self.graph.nodes[m].layer == li));
            let layer = &mut self.layers[li];
            // An activity penalty on the output needs the output's own gradient: no fusion then.
            c.fused[k] = calls == 1
                && !read
                && !other_output
                && c.losses[k].fuses_with() == Some(layer.output_activation())
                && layer.activity_regularizer().is_none();
            layer.fuse_output_activation(c.fused[k]);
        }
    }

    /// Sizes the optimizer's slots for the trainable layers' weights (a frozen layer's get
    /// none), and records which layers those were: `fit` refuses to run after a layer's
    /// `trainable` changed without a new `compile`.
    fn build_optimizer(&mut self) {
        if !self.is_built() {
            return;
        }
        let sizes: Vec<usize> = self.trainable_params().map(|(_, p)| p.value.len()).collect();
        let mask: Vec<bool> = self.layers.iter().map(|l| l.trainable()).collect();
        if let Some(c) = self.compiled.as_mut() {
            c.optimizer.build(&sizes);
            c.optimizer.base_mut().build(&sizes);
            c.trainable = mask;
        }
    }

    /// Number of values in the layers' weights, trainable or frozen (not BatchNormalization's
    /// moving statistics, which are state).
    pub fn count_params(&self) -> usize {
        self.layers.iter().flat_map(|l| l.params()).map(|p| p.value.len()).sum()
    }

    /// Number of values in the trainable layers' weights: what `fit` updates.
    pub fn count_trainable_params(&self) -> usize {
        self.trainable_params().map(|(_, p)| p.value.len()).sum()
    }

    /// The trainable layers' weights with their layers, in the optimizer's order (its slot
    /// `i` is the `i`-th): what the optimizer is built for, saved with, and steps.
    pub(crate) fn trainable_params(&self) -> impl Iterator<Item = (&dyn Layer, &crate::layers::Param)> {
        let trainable = self.layers.iter().filter(|l| l.trainable());
        trainable.flat_map(|l| l.params().iter().map(move |p| (l.as_ref(), p)))
    }

    /// The layer named `name`, writable: to freeze it (Keras's
    /// `model.get_layer("base").trainable = False`, here
    /// `model.get_layer_mut("base").unwrap().set_trainable(false)`, then `compile` again).
    pub fn get_layer_mut(&mut self, name: &str) -> Option<&mut dyn Layer> {
        match self.layers.iter_mut().find(|l| l.name() == name) {
            Some(l) => Some(l.as_mut()),
            None => None,
        }
    }

    /// Every weight's path, `layer/weight` (`dense_1/kernel`), in the order of
    /// [`Model::get_weights`]: names that do not move when a functional model's call order
    /// does.
    pub fn weight_paths(&self) -> Vec<String> {
        self.layers.iter().flat_map(|l| l.params().iter().map(move |p| format!("{}/{}", l.name(), p.name))).collect()
    }

    /// The weight at `path` (`dense_1/kernel`; see [`Model::weight_paths`]).
    pub fn get_weight(&self, path: &str) -> Option<&Tensor> {
        let (layer, weight) = path.split_once('/')?;
        let l = self.layers.iter().find(|l| l.name() == layer)?;
        l.params().iter().find(|p| p.name == weight).map(|p| &p.value)
    }

    /// Sets the weight at `path` from `value`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a path the model does not have (listing those it has);
    /// [`Error::Shape`] for a value of another shape. Nothing changes then.
    pub fn set_weight(&mut self, path: &str, value: &Tensor) -> Result<()> {
        let known = self.weight_paths();
        let unknown = || Error::UnknownName { kind: "weight", name: path.to_string(), known: Vec::new() };
        let (layer, weight) = path.split_once('/').ok_or_else(unknown)?;
        let found = self
            .layers
            .iter_mut()
            .find(|l| l.name() == layer)
            .and_then(|l| l.params_mut().iter_mut().find(|p| p.name == weight));
        let Some(p) = found else {
            return Err(Error::invalid("weight path", path, format!("one of: {}", known.join(", "))));
        };
        if p.value.shape() != value.shape() {
            return Err(Error::shape(format!("weight {path}"), format!("{:?}", p.value.shape()), value.shape()));
        }
        p.value.data_mut().copy_from_slice(value.data());
        Ok(())
    }

    /// The per-sample shape of the first output, once built.
    pub fn output_shape(&self) -> Option<&[usize]> {
        self.output_shapes().into_iter().next()
    }

    /// The per-sample shape of every output, once built.
    pub fn output_shapes(&self) -> Vec<&[usize]> {
        if self.shapes.is_empty() {
            return Vec::new();
        }
        self.graph.outputs.iter().map(|&t| self.shapes[t].as_slice()).collect()
    }

    /// The per-sample shape of the first input, if known.
    pub fn get_input_shape(&self) -> Option<&[usize]> {
        self.input_shapes.as_ref().and_then(|s| s.first()).map(|s| s.as_slice())
    }

    /// The per-sample shapes of every input, if known.
    pub fn input_shapes(&self) -> Option<&[Vec<usize>]> {
        self.input_shapes.as_deref()
    }

    /// A copy of every parameter tensor, layer by layer (Keras's `get_weights`).
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.params()).map(|p| p.value.clone()).collect()
    }

    /// Copies every parameter into `out`, reusing its buffers when the shapes match.
    pub fn copy_weights_into(&self, out: &mut Vec<Tensor>) {
        let params: Vec<&Tensor> = self.layers.iter().flat_map(|l| l.params()).map(|p| &p.value).collect();
        if out.len() != params.len() || out.iter().zip(&params).any(|(a, b)| a.shape() != b.shape()) {
            *out = params.into_iter().cloned().collect();
            return;
        }
        for (dst, src) in out.iter_mut().zip(params) {
            dst.data_mut().copy_from_slice(src.data());
        }
    }

    /// Sets every parameter from `weights`, in [`Model::get_weights`] order.
    ///
    /// # Errors
    /// [`Error::Shape`] when the count or a shape differs; then nothing is changed.
    pub fn set_weights(&mut self, weights: &[Tensor]) -> Result<()> {
        let shapes: Vec<(String, Vec<usize>)> = self
            .layers
            .iter()
            .flat_map(|l| {
                l.params().iter().map(move |p| (format!("{}/{}", l.name(), p.name), p.value.shape().to_vec()))
            })
            .collect();
        if shapes.len() != weights.len() {
            return Err(Error::Shape {
                what: "set_weights".into(),
                expected: format!("{} tensors", shapes.len()),
                received: format!("{} tensors", weights.len()),
            });
        }
        for ((name, shape), w) in shapes.iter().zip(weights) {
            if w.shape() != shape.as_slice() {
                return Err(Error::shape(format!("weight {name}"), format!("{shape:?}"), w.shape()));
            }
        }
        let params = self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut());
        for (p, w) in params.zip(weights) {
            p.value.data_mut().copy_from_slice(w.data());
        }
        Ok(())
    }

    /// The optimizer, once compiled.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }

    /// The optimizer, once compiled (to read or change its learning rate, say).
    pub fn optimizer_mut(&mut self) -> Option<&mut dyn Optimizer> {
        match self.compiled.as_mut() {
            Some(c) => Some(c.optimizer.as_mut()),
            None => None,
        }
    }

    /// Swaps the weights with the optimizer's moving averages (`use_ema`); a second call
    /// swaps back. Does nothing without `use_ema` (Keras's `SwapEMAWeights` does this around
    /// validation; see `SwapEMAWeights` in `crate::callbacks`).
    pub fn swap_ema_weights(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            crate::optimizers::base::use_averages(c.optimizer.as_mut(), self.layers.as_mut_slice(), true);
        }
    }

    /// Overwrites the weights with the optimizer's moving averages (`use_ema`), as the end of
    /// `fit` does (Keras's `finalize_variable_values`). Does nothing without `use_ema`.
    pub fn finalize_ema_weights(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            crate::optimizers::base::use_averages(c.optimizer.as_mut(), self.layers.as_mut_slice(), false);
        }
    }

    /// The compiled loss (the first output's, with several).
    pub fn loss(&self) -> Option<&dyn Loss> {
        self.compiled.as_ref().map(|c| c.losses[0].as_ref())
    }

    /// Whether larger or smaller is better for the compiled metric reported as `key`.
    pub fn metric_direction(&self, key: &str) -> Option<Direction> {
        let c = self.compiled.as_ref()?;
        c.keys.iter().position(|k| k == key).map(|i| c.metrics[i].direction())
    }

    /// The names under which `evaluate` reports: the metrics, the weighted metrics, then
    /// `loss` (Keras 3's order), then each output's loss with several outputs.
    pub fn metrics_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if let Some(c) = &self.compiled {
            names.extend(c.keys.iter().cloned());
        }
        names.push("loss".into());
        if let Some(c) = &self.compiled {
            names.extend(c.loss_keys.iter().cloned());
        }
        names
    }

    /// Bytes held by the activation and gradient buffers and layer workspaces, as planned for
    /// the largest batch so far.
    pub fn buffer_bytes(&self) -> usize {
        self.bufs.bytes()
            + self.layers.iter().map(|l| l.workspace_bytes()).sum::<usize>()
            + self.replicas.iter().map(|(_, l)| l.workspace_bytes()).sum::<usize>()
    }
}

/// `MaxPooling2D` → `max_pooling2d`, `LSTM` → `lstm`, `SimpleRNN` → `simple_rnn`, as Keras's
/// `to_snake_case` derives default layer names: an underscore before a capital that starts a
/// lowercase run (not at the start), then between a lowercase letter and a capital.
pub(crate) fn snake_case(kind: &str) -> String {
    let chars: Vec<char> = kind.chars().collect();
    let mut first = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = c.is_ascii_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if i > 0 && starts_word {
            first.push('_');
        }
        first.push(c);
    }
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in first.chars() {
        if c.is_ascii_uppercase() && prev.is_some_and(|p| p.is_ascii_lowercase()) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        prev = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keras_style_names() {
        assert_eq!(super::snake_case("Dense"), "dense");
        assert_eq!(super::snake_case("MaxPooling2D"), "max_pooling2d");
        assert_eq!(super::snake_case("BatchNormalization"), "batch_normalization");
        assert_eq!(super::snake_case("LSTM"), "lstm");
        assert_eq!(super::snake_case("SimpleRNN"), "simple_rnn");
        assert_eq!(super::snake_case("GlobalAveragePooling1D"), "global_average_pooling1d");
        assert_eq!(super::snake_case("Conv2D"), "conv2d");
    }
}
