//! `TimeDistributed` (see the type).

use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Applies one layer to every time step of sequences `[time, …]`, with the same weights, as
/// Keras's `TimeDistributed(layer)`: the inner layer sees a batch of `batch · time` samples
/// `[…]` and its outputs are put back as `[time, …out]`. (A `Dense` already acts on the last
/// axis of any input; this is for layers that take a whole sample, such as a `Conv2D` over the
/// frames of a video.)
///
/// ```
/// use minibatch::layers::{Conv2D, Flatten, TimeDistributed, LSTM};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[8, 16, 16, 1])                            // 8 frames of 16×16
///     .add(TimeDistributed::new(Conv2D::new(4, 3).activation("relu")))
///     .add(TimeDistributed::new(Flatten::new()))
///     .add(LSTM::new(8));
/// ```
pub struct TimeDistributed {
    inner: Box<dyn Layer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    steps: usize,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    /// The inner layer's view of the batch: `[batch · time, …]` inputs, outputs and gradients.
    x: Tensor,
    y: Tensor,
    dy: Tensor,
    dx: Tensor,
}

/// TimeDistributed's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct TimeDistributedConfig {
    name: String,
    layer: serde_json::Value,
}

impl TimeDistributedConfig {
    /// The wrapped layer's `{"class_name", "config"}`.
    pub fn layer(&self) -> &serde_json::Value {
        &self.layer
    }
}

impl TimeDistributed {
    /// `layer` at every step.
    pub fn new(layer: impl Layer + 'static) -> Self {
        TimeDistributed::boxed(Box::new(layer))
    }

    /// `layer`, already boxed, at every step.
    pub fn boxed(inner: Box<dyn Layer>) -> Self {
        TimeDistributed {
            inner,
            steps: 0,
            in_shape: Vec::new(),
            out_shape: Vec::new(),
            x: Tensor::default(),
            y: Tensor::default(),
            dy: Tensor::default(),
            dx: Tensor::default(),
            core: LayerCore::default(),
        }
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`TimeDistributedConfig`] describes (not built), around `inner`, the
    /// wrapped layer its `layer` entry describes, already rebuilt (by the registry,
    /// [`crate::saving::layer_from_config`]).
    pub fn from_config(c: TimeDistributedConfig, inner: Box<dyn Layer>) -> Self {
        TimeDistributed::boxed(inner).name(&c.name)
    }
}

impl std::fmt::Debug for TimeDistributed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeDistributed").field("name", &self.core.name).field("layer", &self.inner.kind()).finish()
    }
}

impl Layer for TimeDistributed {
    fn check_arguments(&self) -> Result<()> {
        self.inner.check_arguments()
    }

    fn replicate(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(TimeDistributed::boxed(self.inner.replicate()?).name(&self.core.name)))
    }

    fn kind(&self) -> &'static str {
        "TimeDistributed"
    }

    crate::layers::lends_core!();
    fn set_name(&mut self, name: String) {
        if self.inner.name().is_empty() {
            self.inner.set_name(format!("{name}_{}", self.inner.kind().to_ascii_lowercase()));
        }
        self.core.name = name;
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let Some((&steps, step_shape)) = input_shape.split_first().filter(|(_, rest)| !rest.is_empty()) else {
            return Err(Error::shape(
                format!("input to layer {}", self.core.name),
                "sequences [time, features…] (a time axis and a step's shape)",
                input_shape,
            ));
        };
        let out = self.inner.build(step_shape, rng)?;
        self.steps = steps;
        self.in_shape = step_shape.to_vec();
        self.out_shape = out.clone();
        Ok([&[steps][..], &out].concat())
    }

    fn plan(&mut self, max_batch: usize) {
        let rows = max_batch * self.steps;
        self.inner.plan(rows);
        if self.x.capacity() < rows * self.in_shape.iter().product::<usize>() {
            self.x = Tensor::zeros_batch(rows, &self.in_shape);
            self.dx = Tensor::zeros_batch(rows, &self.in_shape);
            self.y = Tensor::zeros_batch(rows, &self.out_shape);
            self.dy = Tensor::zeros_batch(rows, &self.out_shape);
        }
    }

    fn synchronizes(&self) -> bool {
        self.inner.synchronizes()
    }

    // The inner layer sees each (sample, step) as a sample of its own.
    fn set_sample_offset(&mut self, offset: usize) {
        self.inner.set_sample_offset(offset * self.steps);
    }

    // # Shapes
    // x: [n, T, step…] is the inner layer's [n·T, step…]; y likewise
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let rows = x.batch() * self.steps;
        self.x.set_batch(rows);
        self.y.set_batch(rows);
        self.x.data_mut().copy_from_slice(x.data());
        self.inner.forward(&self.x, &mut self.y, training);
        y.data_mut().copy_from_slice(self.y.data());
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let rows = x.batch() * self.steps;
        self.dy.set_batch(rows);
        self.dy.data_mut().copy_from_slice(dy.data());
        match dx {
            Some(dx) => {
                self.dx.set_batch(rows);
                self.inner.backward(&self.x, &self.y, &mut self.dy, Some(&mut self.dx));
                dx.data_mut().copy_from_slice(self.dx.data());
            }
            None => self.inner.backward(&self.x, &self.y, &mut self.dy, None),
        }
    }

    fn params(&self) -> &[Param] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [Param] {
        self.inner.params_mut()
    }
    fn products(&self, batch: usize, positions: usize, input_gradient: bool) -> Vec<crate::layers::Product> {
        self.inner.products(batch * self.steps, positions / self.steps.max(1), input_gradient)
    }

    fn time_elementwise(&self, batch: usize, input_gradient: bool) -> Option<f64> {
        self.inner.time_elementwise(batch * self.steps, input_gradient)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let rows = max_batch * self.steps;
        let (input, output): (usize, usize) = (self.in_shape.iter().product(), self.out_shape.iter().product());
        self.inner.planned_workspace_bytes(rows) + 4 * 2 * rows * (input + output)
    }

    fn workspace_bytes(&self) -> usize {
        4 * (self.x.capacity() + self.y.capacity() + self.dx.capacity() + self.dy.capacity())
            + self.inner.workspace_bytes()
    }
    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        let layer = serde_json::json!({ "class_name": self.inner.kind(), "config": self.inner.config()? });
        serde_json::to_value(TimeDistributedConfig { name: self.core.name.clone(), layer }).ok()
    }
    fn state(&self) -> Vec<(&'static str, crate::layers::State)> {
        self.inner.state()
    }
    fn set_state(&mut self, name: &str, value: &crate::layers::State) -> Result<()> {
        self.inner.set_state(name, value)
    }
}
