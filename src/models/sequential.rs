//! `Sequential`: a plain stack of layers, each feeding the next.

use crate::callbacks::{CallbackState, History, Logs};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::losses::{IntoLoss, Loss};
use crate::metrics::{Direction, IntoMetric, Metric};
use crate::optimizers::{IntoOptimizer, Optimizer};
use crate::rng::Rng;
use crate::tensor::memory;
use crate::tensor::Tensor;
use crate::training::Buffers;
use std::collections::BTreeMap;

/// A plain stack of layers, each feeding the next.
///
/// ```
/// use minibatch::{layers::Dense, Sequential};
/// let mut model = Sequential::new()
///     .input_shape(&[4])
///     .add(Dense::new(8).activation("relu"))
///     .add(Dense::new(3).activation("softmax"));
/// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
/// assert_eq!(model.count_params(), 4 * 8 + 8 + 8 * 3 + 3);
/// ```
pub struct Sequential {
    pub(crate) layers: Vec<Box<dyn Layer>>,
    input_shape: Option<Vec<usize>>,
    /// Per-sample shapes: the input, then each layer's output. Empty until built.
    pub(crate) shapes: Vec<Vec<usize>>,
    pub(crate) seed: u64,
    pub(crate) compiled: Option<Compiled>,
    pub(crate) bufs: Buffers,
    /// The History of the latest `fit`, as it grows (Keras's `model.history`).
    pub(crate) history: History,
    /// A History restored from a backup during `on_train_begin`: `fit` continues after it.
    pub(crate) resume: Option<History>,
    /// The callbacks' states after the latest epoch, by place in the callback list (see
    /// [`crate::callbacks::Callback::state`]): what a backup saves.
    pub(crate) callback_states: BTreeMap<String, CallbackState>,
    /// Callbacks' states restored from a backup, for `fit` to hand back after `on_train_begin`.
    pub(crate) restored_callback_states: Option<BTreeMap<String, CallbackState>>,
}

/// What `compile` fixed: the optimizer, the loss and the metrics.
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    pub loss: Box<dyn Loss>,
    /// `metrics`, then `weighted_metrics`; the first `unweighted` see no sample weights.
    pub metrics: Vec<Box<dyn Metric>>,
    pub unweighted: usize,
    /// The key each metric reports under, as Keras makes them unique (`name_1`, `weighted_name`).
    pub keys: Vec<String>,
    /// The loss's gradient is taken with respect to the last layer's pre-activation.
    pub fused: bool,
}

/// The metrics of [`Sequential::compile_with`]: Keras's `metrics` and `weighted_metrics`, by
/// name or as values.
///
/// ```
/// use minibatch::{metrics::{Auc, Curve}, CompileOptions};
/// let options = CompileOptions::new()
///     .metrics(&["accuracy"])
///     .metric(Auc::with("pr_auc", Curve::Pr, 200))
///     .weighted_metrics(&["accuracy"]);
/// ```
#[derive(Default)]
pub struct CompileOptions {
    metrics: Vec<Box<dyn Metric>>,
    weighted: Vec<Box<dyn Metric>>,
    error: Option<Error>,
}

impl CompileOptions {
    /// No metrics.
    pub fn new() -> Self {
        CompileOptions::default()
    }
    /// Adds a metric that sees every sample with weight 1 (Keras's `metrics`).
    pub fn metric(mut self, metric: impl IntoMetric) -> Self {
        match metric.into_metric() {
            Ok(m) => self.metrics.push(m),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }
    /// Adds metrics by name.
    pub fn metrics(self, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.metric(name))
    }
    /// Adds a metric that sees the sample weights (Keras's `weighted_metrics`).
    pub fn weighted_metric(mut self, metric: impl IntoMetric) -> Self {
        match metric.into_metric() {
            Ok(m) => self.weighted.push(m),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }
    /// Adds weighted metrics by name.
    pub fn weighted_metrics(self, names: &[&str]) -> Self {
        names.iter().fold(self, |o, &name| o.weighted_metric(name))
    }
}

/// The keys metrics report under, as Keras 3 makes them unique: a repeated metric name gets
/// `_1`, `_2`, …; a weighted metric whose name is taken becomes `weighted_<name>`.
fn metric_keys(metrics: &[Box<dyn Metric>], unweighted: usize) -> Vec<String> {
    let mut counters: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let name = m.name().to_string();
        let key = if i >= unweighted && counters.contains_key(&name) { format!("weighted_{name}") } else { name };
        let key = match counters.get_mut(&key) {
            None => {
                counters.insert(key.clone(), 1);
                key
            }
            Some(count) => {
                *count += 1;
                format!("{key}_{}", *count - 1)
            }
        };
        keys.push(key);
    }
    keys
}

impl std::fmt::Debug for Sequential {
    /// The layers by name and kind, the shapes and the compiled loss (not the weights).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layers: Vec<String> = self.layers.iter().map(|l| format!("{} ({})", l.name(), l.kind())).collect();
        f.debug_struct("Sequential")
            .field("layers", &layers)
            .field("shapes", &self.shapes)
            .field("seed", &self.seed)
            .field("loss", &self.loss().map(|l| l.name()))
            .finish_non_exhaustive()
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl Sequential {
    /// An empty model with seed 0.
    pub fn new() -> Self {
        Sequential {
            layers: Vec::new(),
            input_shape: None,
            shapes: Vec::new(),
            seed: 0,
            compiled: None,
            bufs: Buffers::default(),
            history: History::default(),
            resume: None,
            callback_states: BTreeMap::new(),
            restored_callback_states: None,
        }
    }

    /// Fixes the per-sample input shape (Keras's `Input(shape=...)`); without it the model is
    /// built from the first data it sees.
    pub fn input_shape(mut self, shape: &[usize]) -> Self {
        self.input_shape = Some(shape.to_vec());
        self
    }

    /// The seed of every random choice: initial weights, dropout masks, shuffling. The same
    /// seed and thread count give the same run, bit for bit. Defaults to 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Appends a layer (Keras's `model.add`; not `std::ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Layer + 'static) -> Self {
        self.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer.
    pub fn push(&mut self, mut layer: Box<dyn Layer>) {
        if layer.name().is_empty() {
            let base = snake_case(layer.kind());
            let taken = self.layers.iter().filter(|l| l.kind() == layer.kind()).count();
            layer.set_name(if taken == 0 { base } else { format!("{base}_{taken}") });
        }
        self.layers.push(layer);
        self.shapes.clear();
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// True once weights exist.
    pub fn is_built(&self) -> bool {
        !self.shapes.is_empty()
    }

    /// Creates the weights for per-sample inputs of `input_shape`. Rebuilding with the same
    /// shape keeps the weights.
    ///
    /// # Errors
    /// A layer that cannot take the shape, an unknown activation or initializer name, an
    /// invalid layer argument, or a model with no layers.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        if self.is_built() {
            return if self.shapes[0] == input_shape {
                Ok(())
            } else {
                Err(Error::shape("model input", format!("samples of shape {:?}", self.shapes[0]), input_shape))
            };
        }
        if self.layers.is_empty() {
            return Err(Error::State("the model has no layers: add at least one before building".into()));
        }
        let mut rng = Rng::derive(self.seed, u64::MAX);
        let mut shapes = vec![input_shape.to_vec()];
        // Every weight is claimed from a budget before it is allocated (tensor::memory): a
        // model file's tensor bytes when loading one, else 3/4 of the machine's memory.
        let mut build_layers = || -> Result<()> {
            for layer in &mut self.layers {
                let next = layer.build(shapes.last().expect("non-empty"), &mut rng)?;
                shapes.push(next);
            }
            Ok(())
        };
        if memory::has_budget() {
            build_layers()?;
        } else {
            memory::with_budget(memory::model_budget(), memory::Source::Memory, build_layers)?;
        }
        self.input_shape = Some(input_shape.to_vec());
        self.shapes = shapes;
        self.bufs = Buffers::default();
        self.plan_fusion();
        self.build_optimizer();
        Ok(())
    }

    /// Configures training, as Keras's `compile`: an optimizer (a name such as `"adam"` or a
    /// value such as `Adam::new(1e-3)`), a loss (a name, a [`BuiltinLoss`](crate::losses::BuiltinLoss)
    /// or your own [`Loss`]), and metric names. Builds the model when its input shape is known.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown optimizer, loss or metric name; invalid optimizer
    /// or loss arguments; build errors.
    pub fn compile(&mut self, optimizer: impl IntoOptimizer, loss: impl IntoLoss, metrics: &[&str]) -> Result<()> {
        self.compile_with(optimizer, loss, CompileOptions::new().metrics(metrics))
    }

    /// [`Sequential::compile`] with metric values and `weighted_metrics` (see [`CompileOptions`]).
    ///
    /// # Errors
    /// As [`Sequential::compile`].
    pub fn compile_with(
        &mut self,
        optimizer: impl IntoOptimizer,
        loss: impl IntoLoss,
        options: CompileOptions,
    ) -> Result<()> {
        let optimizer = optimizer.into_optimizer()?;
        crate::optimizers::check_options(optimizer.as_ref())?;
        let loss = loss.into_loss()?;
        loss.check_arguments()?;
        let CompileOptions { mut metrics, weighted, error } = options;
        if let Some(e) = error {
            return Err(e);
        }
        let unweighted = metrics.len();
        metrics.extend(weighted);
        let keys = metric_keys(&metrics, unweighted);
        self.compiled = Some(Compiled { optimizer, loss, metrics, unweighted, keys, fused: false });
        if let (Some(shape), false) = (self.input_shape.clone(), self.is_built()) {
            self.build(&shape)?;
        }
        self.plan_fusion();
        self.build_optimizer();
        Ok(())
    }

    /// Fuses the loss with a matching softmax/sigmoid output activation (see [`crate::losses`]),
    /// or undoes an earlier fusion when the loss no longer matches.
    fn plan_fusion(&mut self) {
        let (Some(c), Some(last)) = (self.compiled.as_mut(), self.layers.last_mut()) else { return };
        // An activity penalty on the output needs the output's own gradient: no fusion then.
        c.fused = self.shapes.len() > 1
            && c.loss.fuses_with() == Some(last.output_activation())
            && last.activity_regularizer().is_none();
        last.fuse_output_activation(c.fused);
    }

    fn build_optimizer(&mut self) {
        if !self.is_built() {
            return;
        }
        let sizes: Vec<usize> = self.layers.iter().flat_map(|l| l.params().iter().map(|p| p.value.len())).collect();
        if let Some(c) = self.compiled.as_mut() {
            c.optimizer.build(&sizes);
            c.optimizer.base_mut().build(&sizes);
        }
    }

    /// Number of trainable values.
    pub fn count_params(&self) -> usize {
        self.layers.iter().flat_map(|l| l.params()).map(|p| p.value.len()).sum()
    }

    /// The per-sample output shape, once built.
    pub fn output_shape(&self) -> Option<&[usize]> {
        self.shapes.last().map(|s| s.as_slice())
    }

    /// The per-sample input shape, if known.
    pub fn get_input_shape(&self) -> Option<&[usize]> {
        self.input_shape.as_deref()
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

    /// Sets every parameter from `weights`, in [`Sequential::get_weights`] order.
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

    /// The History of the latest `fit` (Keras's `model.history`). During `fit`, callbacks
    /// see it grow: it holds every epoch recorded so far, including those of a continued or
    /// restored run.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Makes the running `fit` continue after the epochs of `restored` (its History),
    /// as [`BackupAndRestore`](crate::callbacks::BackupAndRestore) does. Only meaningful in
    /// `on_train_begin`; the caller has already restored the weights and optimizer state.
    pub fn resume_after(&mut self, restored: History) {
        self.resume = Some(restored);
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
    /// validation; see [`crate::callbacks::SwapEMAWeights`]).
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

    /// The compiled loss.
    pub fn loss(&self) -> Option<&dyn Loss> {
        self.compiled.as_ref().map(|c| c.loss.as_ref())
    }

    /// Whether larger or smaller is better for the compiled metric reported as `key`.
    pub fn metric_direction(&self, key: &str) -> Option<Direction> {
        let c = self.compiled.as_ref()?;
        c.keys.iter().position(|k| k == key).map(|i| c.metrics[i].direction())
    }

    /// The names under which `evaluate` reports: the metrics, the weighted metrics, then
    /// `loss` (Keras 3's order).
    pub fn metrics_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if let Some(c) = &self.compiled {
            names.extend(c.keys.iter().cloned());
        }
        names.push("loss".into());
        names
    }

    /// Bytes held by the activation and gradient buffers and layer workspaces, as planned for
    /// the largest batch so far.
    pub fn buffer_bytes(&self) -> usize {
        self.bufs.bytes() + self.layers.iter().map(|l| l.workspace_bytes()).sum::<usize>()
    }

    /// The running loss and metric means written into `logs` (metrics first, as Keras 3).
    pub(crate) fn write_metrics(&self, logs: &mut Logs, prefix: &str, loss: f64) {
        let c = self.compiled.as_ref().expect("compiled");
        for (m, key) in c.metrics.iter().zip(&c.keys) {
            logs.set_prefixed(prefix, key, m.result());
        }
        logs.set_prefixed(prefix, "loss", loss);
    }
}

/// `MaxPooling2D` → `max_pooling2d`, `LSTM` → `lstm`, `SimpleRNN` → `simple_rnn`, as Keras's
/// `to_snake_case` derives default layer names: an underscore before a capital that starts a
/// lowercase run (not at the start), then between a lowercase letter and a capital.
fn snake_case(kind: &str) -> String {
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
