//! Recurrent layers: `SimpleRNN`, `LSTM` and `GRU` (see [`Recurrent`]).
//!
//! One driver runs any cell over the time axis; each cell's file holds its step forward
//! beside its step backward (backpropagation through time):
//!
//! - `simple_rnn.rs`: `h = act(x W + h U + b)`;
//! - `lstm.rs`: Keras's gates `i, f, c̃, o` in that order;
//! - `gru.rs`: Keras 3's default `reset_after=True` form, with separate input and recurrent biases.
//!
//! # Buffers (per planned batch `N`, time steps `T`, `units` u, gates G)
//! Everything is time-major, so each step reads and writes contiguous `[N, ·]` blocks:
//! - `xs`: `[T, N, in]`, the input (reversed in time with `go_backwards`);
//! - `z`: `[T, N, G·u]`: `x W + b` for all steps in one product, then each step's activated
//!   gates; in `backward`, the gates' gradients;
//! - `h`: `[T + 1, N, u]` hidden states, `h[0] = 0`; `c` likewise for LSTM's cell;
//! - `aux`: per-step values a cell's backward needs besides (LSTM: `tanh c`; GRU: `h U`'s
//!   candidate part);
//! - `dh`, `dc`, `tmp`: `[N, u]`-sized carries for the backward sweep.
//!
//! Samples are independent through time, so SimpleRNN and LSTM run each pass as one parallel
//! region: every kernel thread takes its own rows through all `T` steps (one hand-off per pass,
//! not two per step), each step a `[rows, u] × [u, G·u]` product against the recurrent kernel
//! packed once per pass (`PackedB`; its transpose for backward). The input's and the weights'
//! gradients are one product each over all steps, the recurrent kernel's included
//! (`dU = [h_0 … h_{T−1}]ᵀ [dZ_1 … dZ_T]`). GRU, whose backward sums per-step terms over all
//! rows, runs its steps one after another, each product shared out over the threads.

mod bidirectional;
mod cost;
mod gru;
mod lstm;
mod simple_rnn;
mod state;
pub(crate) mod time_distributed;

pub use bidirectional::{Bidirectional, BidirectionalConfig, MergeMode};
pub use state::{RecurrentOutput, RecurrentOutputConfig};

use super::{Layer, Param};
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::{Initializer, IntoInitializer};
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::{for_each_range, kernels, PackedB, SendPtr, Tensor};

/// Over a masked step, the rows whose mask is 0 keep their state: `next = prev` there.
fn hold_masked(mask_t: &[f32], prev: &[f32], next: &mut [f32], u: usize) {
    for (b, _) in mask_t.iter().enumerate().filter(|(_, &m)| m == 0.0) {
        next[b * u..(b + 1) * u].copy_from_slice(&prev[b * u..(b + 1) * u]);
    }
}

/// The carries `dh`, `dc` of some rows (samples `lo..`) and their stash `sh`, `sc`.
struct Carries<'a> {
    dh: &'a mut [f32],
    dc: &'a mut [f32],
    sh: &'a mut [f32],
    sc: &'a mut [f32],
}

impl Carries<'_> {
    /// Before step `t`'s backward: `dh += ∂loss/∂h_t` from the output `dy` (rows of `row`:
    /// every step's output with `sequences`, else only the last step's), then the masked rows'
    /// carries set aside and zeroed, so the cell gives their gates no gradient.
    #[allow(clippy::too_many_arguments)]
    fn begin_step(
        &mut self,
        dy: &[f32],
        row: usize,
        lo: usize,
        (t, t_len): (usize, usize),
        sequences: bool,
        mask_t: Option<&[f32]>,
        u: usize,
    ) {
        let offset = if sequences { Some(t * u) } else { (t == t_len - 1).then_some(0) };
        if let Some(offset) = offset {
            for (i, d) in self.dh.chunks_exact_mut(u).enumerate() {
                let at = (lo + i) * row + offset;
                kernels::add(d, &dy[at..at + u]);
            }
        }
        for (b, _) in mask_t.into_iter().flatten().enumerate().filter(|(_, &m)| m == 0.0) {
            let r = b * u..(b + 1) * u;
            self.sh[r.clone()].copy_from_slice(&self.dh[r.clone()]);
            self.sc[r.clone()].copy_from_slice(&self.dc[r.clone()]);
            self.dh[r.clone()].fill(0.0);
            self.dc[r].fill(0.0);
        }
    }

    /// After step `t`'s backward: the masked rows' carries pass through unchanged.
    fn end_step(&mut self, mask_t: Option<&[f32]>, u: usize) {
        for (b, _) in mask_t.into_iter().flatten().enumerate().filter(|(_, &m)| m == 0.0) {
            let r = b * u..(b + 1) * u;
            self.dh[r.clone()].copy_from_slice(&self.sh[r.clone()]);
            self.dc[r.clone()].copy_from_slice(&self.sc[r]);
        }
    }
}

/// Rows per kernel thread in a recurrent pass: at least two (a one-row product takes another
/// path, with other rounding), and enough work per step to be worth a thread (else one part).
/// The time plan shares the rows out the same way when it times a stepwise product.
pub(crate) fn rows_per_part(u: usize, gu: usize) -> usize {
    const MIN_FLOPS_PER_STEP: usize = 1 << 15;
    (MIN_FLOPS_PER_STEP / (2 * u * gu).max(1)).max(2) * crate::tensor::kernels::num_threads().max(1)
}

/// `v ← act(v)` over rows of `cols`, with the vectorized tanh and sigmoid for the defaults
/// (see [`crate::activations::fast`]).
fn activate(act: Activation, v: &mut [f32], cols: usize) {
    match act {
        Activation::Tanh => crate::activations::fast::tanh_in_place(v),
        Activation::Sigmoid => crate::activations::fast::sigmoid_in_place(v),
        _ => act.forward(v, cols),
    }
}

/// `f′` from the output `y = f(x)` (the activations allowed here all give it); tanh and
/// sigmoid, the defaults, inline.
#[inline(always)]
fn derivative(act: Activation, y: f32) -> f32 {
    match act {
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        _ => {
            let mut g = [1.0];
            act.backward(&mut g, &[y], &[y], 1);
            g[0]
        }
    }
}

/// Which recurrence a [`Recurrent`] layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    /// `h = tanh(x W + h U + b)`.
    SimpleRNN,
    /// Long short-term memory.
    LSTM,
    /// Gated recurrent unit (`reset_after=True`).
    GRU,
}

impl Cell {
    /// Gate blocks per unit.
    fn gates(self) -> usize {
        match self {
            Cell::SimpleRNN => 1,
            Cell::LSTM => 4,
            Cell::GRU => 3,
        }
    }
}

/// A recurrent layer over inputs `[batch, time, features]`, as Keras's `SimpleRNN`, `LSTM` and
/// `GRU`: the output is the last hidden state `[batch, units]`, or every step's
/// `[batch, time, units]` with `return_sequences`.
///
/// Keras 3's defaults: `activation` tanh, `recurrent_activation` sigmoid (LSTM, GRU),
/// `kernel_initializer` glorot_uniform, `recurrent_initializer` orthogonal, `bias_initializer`
/// zeros, LSTM's `unit_forget_bias` (the forget gate's bias starts at 1), GRU's
/// `reset_after=True` (its bias is `[2, 3·units]`: input and recurrent). With `go_backwards`
/// the sequence is read last step first and, as in Keras, the returned sequence is in that
/// reversed order.
///
/// `return_state` is [`Recurrent::call_with_states`]. Keras's `initial_state` is a call on
/// `[x, h]` (`[x, h, c]` for an LSTM): the first step starts from those states (each `[units]`
/// per sample) instead of zeros, and their gradients flow back into whatever made them (an
/// encoder's final states, in a seq2seq model). Not yet: `stateful`, `dropout` and
/// `recurrent_dropout`, and activations whose derivative needs their input (gelu, silu, ...).
///
/// ```
/// use minibatch::layers::{Dense, LSTM, GRU};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[28, 28])
///     .add(LSTM::new(64).return_sequences(true))
///     .add(GRU::new(32))
///     .add(Dense::new(10).activation("softmax"));
/// ```
#[derive(Debug, Clone)]
pub struct Recurrent {
    cell: Cell,
    units: usize,
    activation: Result<Activation>,
    recurrent_activation: Result<Activation>,
    use_bias: bool,
    kernel_initializer: Result<Initializer>,
    recurrent_initializer: Result<Initializer>,
    bias_initializer: Result<Initializer>,
    unit_forget_bias: bool,
    return_sequences: bool,
    go_backwards: bool,
    /// Also return the final states (see [`Recurrent::call_with_states`]): the layer's tensor
    /// then packs the output, the last hidden state and (LSTM) the last cell state.
    return_state: bool,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: `[kernel [in, G·u], recurrent_kernel [u, G·u], bias]`.
    core: LayerCore,
    steps: usize,
    features: usize,
    capacity: usize,
    xs: Vec<f32>,
    z: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    aux: Vec<f32>,
    dh: Vec<f32>,
    dc: Vec<f32>,
    tmp: Vec<f32>,
    /// `[N, G·u]`: GRU's `h U + b_rec` of one step, or the gates' gradient of one step.
    step_z: Vec<f32>,
    /// `[T, N]`: the mask in processing order (1: run the step; 0: carry the state over it),
    /// when the latest batch came with one.
    mask: Vec<f32>,
    masked: bool,
    /// Called on `[x, h0]` (`[x, h0, c0]` for an LSTM): the first step starts from the given
    /// states rather than zeros (Keras's `initial_state`).
    initial: bool,
    /// `[2, N, u]`: a masked step's carried `dh` and `dc` during backward.
    stash: Vec<f32>,
    /// The recurrent kernel `U` and its transpose packed for the step products, once per pass
    /// (SimpleRNN and LSTM).
    packed_u: PackedB,
    packed_ut: PackedB,
}

/// A recurrent layer's saved arguments (Keras's names); the cell comes from the class name.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RecurrentConfig {
    name: String,
    units: usize,
    activation: Activation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recurrent_activation: Option<Activation>,
    use_bias: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit_forget_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset_after: Option<bool>,
    return_sequences: bool,
    go_backwards: bool,
    #[serde(default)]
    return_state: bool,
}

/// Keras's `SimpleRNN(units)`.
#[allow(non_snake_case)]
pub fn SimpleRNN(units: usize) -> Recurrent {
    Recurrent::new(Cell::SimpleRNN, units)
}

/// Keras's `LSTM(units)`: see [`Recurrent`].
pub struct LSTM;

impl LSTM {
    /// An LSTM layer of `units` with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(units: usize) -> Recurrent {
        Recurrent::new(Cell::LSTM, units)
    }
}

/// Keras's `GRU(units)`: see [`Recurrent`].
pub struct GRU;

impl GRU {
    /// A GRU layer of `units` with Keras's defaults (`reset_after=True`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(units: usize) -> Recurrent {
        Recurrent::new(Cell::GRU, units)
    }
}

impl Recurrent {
    /// A layer running `cell` with `units`, and Keras's defaults.
    pub fn new(cell: Cell, units: usize) -> Self {
        Recurrent {
            cell,
            units,
            activation: Ok(Activation::Tanh),
            recurrent_activation: Ok(Activation::Sigmoid),
            use_bias: true,
            kernel_initializer: Ok(Initializer::GlorotUniform),
            recurrent_initializer: Ok(Initializer::Orthogonal { gain: 1.0 }),
            bias_initializer: Ok(Initializer::Zeros),
            unit_forget_bias: true,
            return_sequences: false,
            go_backwards: false,
            return_state: false,
            steps: 0,
            features: 0,
            capacity: 0,
            xs: Vec::new(),
            z: Vec::new(),
            h: Vec::new(),
            c: Vec::new(),
            aux: Vec::new(),
            dh: Vec::new(),
            dc: Vec::new(),
            tmp: Vec::new(),
            step_z: Vec::new(),
            mask: Vec::new(),
            masked: false,
            initial: false,
            stash: Vec::new(),
            packed_u: PackedB::default(),
            packed_ut: PackedB::default(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`RecurrentConfig`] describes (not built).
    pub fn from_config(cell: Cell, c: RecurrentConfig) -> Self {
        let mut r = Recurrent::new(cell, c.units).name(&c.name).activation(c.activation);
        if let Some(a) = c.recurrent_activation {
            r = r.recurrent_activation(a);
        }
        Recurrent {
            use_bias: c.use_bias,
            kernel_initializer: Ok(c.kernel_initializer),
            recurrent_initializer: Ok(c.recurrent_initializer),
            bias_initializer: Ok(c.bias_initializer),
            unit_forget_bias: c.unit_forget_bias.unwrap_or(true),
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            return_state: c.return_state,
            ..r
        }
    }

    /// The layer with Keras's `return_state=True` (its tensor packs the output and the last
    /// states), and what a [`RecurrentOutput`] needs to take each out: the units, whether the
    /// output is a sequence, the cell. For the functional call `call_with_states` (in
    /// `models`).
    pub(crate) fn returning_states(mut self) -> (Recurrent, usize, bool, Cell) {
        self.return_state = true;
        let (units, sequences, cell) = (self.units, self.return_sequences, self.cell);
        (self, units, sequences, cell)
    }

    /// The gates' activation (default sigmoid; LSTM and GRU).
    pub fn recurrent_activation(mut self, activation: impl super::IntoActivation) -> Self {
        self.recurrent_activation = activation.into_activation();
        self
    }
    /// The recurrent kernel's initializer (default orthogonal).
    pub fn recurrent_initializer(mut self, init: impl IntoInitializer) -> Self {
        self.recurrent_initializer = init.into_initializer();
        self
    }
    /// LSTM: start the forget gate's bias at 1 (default true).
    pub fn unit_forget_bias(mut self, on: bool) -> Self {
        self.unit_forget_bias = on;
        self
    }
    /// Return every step's output `[batch, time, units]` (default: the last, `[batch, units]`).
    pub fn return_sequences(mut self, on: bool) -> Self {
        self.return_sequences = on;
        self
    }
    /// Read the sequence last step first (the returned sequence is in that order too).
    pub fn go_backwards(mut self, on: bool) -> Self {
        self.go_backwards = on;
        self
    }
    /// The layer's name (else the model assigns `lstm`, `lstm_1`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// Values of the output per sample: every step's, or the last.
    fn output_len(&self) -> usize {
        if self.return_sequences {
            self.steps * self.units
        } else {
            self.units
        }
    }

    /// The states a cell carries: `h` (and LSTM's `c`).
    fn states(&self) -> usize {
        if self.cell == Cell::LSTM {
            2
        } else {
            1
        }
    }

    fn acts(&self) -> (Activation, Activation) {
        (
            *self.activation.as_ref().expect("checked in build"),
            *self.recurrent_activation.as_ref().expect("checked in build"),
        )
    }

    /// Copies `x` `[n, T, in]` into `xs` `[T, n, in]`, reversed in time with `go_backwards`.
    fn gather_time_major(&mut self, x: &[f32], n: usize) {
        let (t_len, f) = (self.steps, self.features);
        for b in 0..n {
            for t in 0..t_len {
                let src = if self.go_backwards { t_len - 1 - t } else { t };
                let from = &x[(b * t_len + src) * f..(b * t_len + src + 1) * f];
                self.xs[(t * n + b) * f..(t * n + b + 1) * f].copy_from_slice(from);
            }
        }
    }
}

impl Layer for Recurrent {
    fn check_arguments(&self) -> Result<()> {
        self.activation.as_ref().map_err(Clone::clone)?;
        self.recurrent_activation.as_ref().map_err(Clone::clone)?;
        self.kernel_initializer.as_ref().map_err(Clone::clone)?;
        self.recurrent_initializer.as_ref().map_err(Clone::clone)?;
        self.bias_initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self.cell {
            Cell::SimpleRNN => "SimpleRNN",
            Cell::LSTM => "LSTM",
            Cell::GRU => "GRU",
        }
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.core.name.clone();
        for a in [self.activation.clone()?, self.recurrent_activation.clone()?] {
            if a.needs_input() || a == Activation::Softmax {
                return Err(Error::invalid(
                    "activation",
                    a.name(),
                    format!("an element-wise activation whose derivative comes from its output (layer {name})"),
                ));
            }
        }
        let (kinit, rinit, binit) =
            (self.kernel_initializer.clone()?, self.recurrent_initializer.clone()?, self.bias_initializer.clone()?);
        if self.units == 0 {
            return Err(Error::invalid("units", 0, format!("a positive number of units for layer {name}")));
        }
        let &[steps, features] = input_shape else {
            return Err(Error::shape(
                format!("input to layer {name}"),
                "samples of shape [time, features]",
                input_shape,
            ));
        };
        if steps == 0 || features == 0 {
            return Err(Error::shape(
                format!("input to layer {name}"),
                "at least one step and one feature",
                input_shape,
            ));
        }
        let (u, g) = (self.units, self.cell.gates());
        let mut kernel = Param::claim(&name, "kernel", &[features, g * u])?;
        kinit.fill(kernel.value.data_mut(), features, g * u, rng);
        let mut recurrent = Param::claim(&name, "recurrent_kernel", &[u, g * u])?;
        // Keras initializes the recurrent kernel as one [u, G·u] matrix.
        rinit.fill(recurrent.value.data_mut(), u, g * u, rng);
        self.core.params = vec![kernel, recurrent];
        if self.use_bias {
            let shape: Vec<usize> = if self.cell == Cell::GRU { vec![2, g * u] } else { vec![g * u] };
            let mut bias = Param::claim(&name, "bias", &shape)?;
            binit.fill(bias.value.data_mut(), features, g * u, rng);
            if self.cell == Cell::LSTM && self.unit_forget_bias {
                bias.value.data_mut()[u..2 * u].fill(1.0);
            }
            self.core.params.push(bias);
        }
        (self.steps, self.features) = (steps, features);
        self.capacity = 0;
        let output = if self.return_sequences { vec![steps, u] } else { vec![u] };
        Ok(if self.return_state { vec![self.output_len() + self.states() * u] } else { output })
    }

    fn plan(&mut self, max_batch: usize) {
        if max_batch <= self.capacity {
            return;
        }
        let (n, t, u, g, f) = (max_batch, self.steps, self.units, self.cell.gates(), self.features);
        self.xs = vec![0.0; t * n * f];
        self.z = vec![0.0; t * n * g * u];
        self.h = vec![0.0; (t + 1) * n * u];
        self.c = if self.cell == Cell::LSTM { vec![0.0; (t + 1) * n * u] } else { Vec::new() };
        self.aux = if self.cell == Cell::SimpleRNN { Vec::new() } else { vec![0.0; t * n * u] };
        self.dh = vec![0.0; n * u];
        self.dc = vec![0.0; n * u];
        self.tmp = vec![0.0; n * u];
        self.step_z = vec![0.0; n * g * u];
        self.mask = vec![0.0; t * n];
        self.stash = vec![0.0; 2 * n * u];
        if self.cell != Cell::GRU {
            self.packed_u.reserve(u, g * u);
            self.packed_ut.reserve(g * u, u);
        }
        self.capacity = max_batch;
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        self.masked = false;
        self.run_forward(x, y);
    }

    /// `[x]`, or `[x, h0]` (`[x, h0, c0]` for an LSTM): Keras's `initial_state`, each state
    /// `[units]` per sample.
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<usize>> {
        let states = self.states();
        let (x, given) = input_shapes
            .split_first()
            .ok_or_else(|| Error::State(format!("layer {} called on nothing", self.core.name)))?;
        if !given.is_empty() && (given.len() != states || given.iter().any(|s| s.as_slice() != [self.units])) {
            return Err(Error::Shape {
                what: format!("the initial_state of layer {}", self.core.name),
                expected: format!(
                    "{states} state(s) of shape [{}] per sample ({})",
                    self.units,
                    if states == 2 { "h, c" } else { "h" }
                ),
                received: format!("{:?}", given),
            });
        }
        self.initial = !given.is_empty();
        self.build(x, rng)
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        self.run_backward(x, y, dy, dx);
    }

    // A mask: the state is carried unchanged over a masked step (Keras's RNN), so the output
    // there repeats the last one; see `run_forward` and `run_backward`.
    fn forward_many(&mut self, xs: super::Inputs<'_>, y: &mut Tensor, _training: bool) {
        let x = xs.get(0);
        self.masked = xs.mask().is_some();
        if self.initial {
            // The given states are step 0's (a time-major block is [n, u], as they are).
            let nu = x.batch() * self.units;
            self.h[..nu].copy_from_slice(xs.get(1).data());
            if self.cell == Cell::LSTM {
                self.c[..nu].copy_from_slice(xs.get(2).data());
            }
        }
        if let Some(mask) = xs.mask() {
            let (n, t_len) = (x.batch(), self.steps);
            for (b, row) in mask.data().chunks_exact(t_len).enumerate().take(n) {
                for (t, &m) in row.iter().enumerate() {
                    let at = if self.go_backwards { t_len - 1 - t } else { t };
                    self.mask[at * n + b] = m;
                }
            }
        }
        self.run_forward(x, y);
    }

    // With initial states, what the sweep carries back past the first step is their gradient.
    fn backward_many(&mut self, xs: super::Inputs<'_>, y: &Tensor, dy: &mut Tensor, mut dxs: super::InputGrads<'_>) {
        let x = xs.get(0);
        self.run_backward(x, y, dy, dxs.get_mut(0));
        if self.initial {
            let nu = x.batch() * self.units;
            if let Some(dh0) = dxs.get_mut(1) {
                dh0.data_mut().copy_from_slice(&self.dh[..nu]);
            }
            if self.cell == Cell::LSTM {
                if let Some(dc0) = dxs.get_mut(2) {
                    dc0.data_mut().copy_from_slice(&self.dc[..nu]);
                }
            }
        }
    }

    fn mask_rule(&self) -> super::MaskRule {
        match (self.return_sequences, self.return_state) {
            // Keras passes the mask to the sequence output alone: not yet here.
            (true, true) => super::MaskRule::Unsupported,
            (true, false) => super::MaskRule::Pass,
            _ => super::MaskRule::Drop,
        }
    }

    fn products(&self, batch: usize, _positions: usize, input_gradient: bool) -> Vec<crate::layers::Product> {
        self.step_products(batch, input_gradient)
    }

    fn time_elementwise(&self, batch: usize, _input_gradient: bool) -> Option<f64> {
        self.time_cell(batch)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let (n, t, u, g, f) = (max_batch, self.steps, self.units, self.cell.gates(), self.features);
        let c = if self.cell == Cell::LSTM { (t + 1) * n * u } else { 0 };
        let aux = if self.cell == Cell::SimpleRNN { 0 } else { t * n * u };
        let packed =
            if self.cell == Cell::GRU { 0 } else { PackedB::bytes_for(u, g * u) + PackedB::bytes_for(g * u, u) };
        // xs, z, h, c, aux; dh, dc, tmp; step_z; mask; stash; the packed recurrent kernel
        4 * (t * n * f + t * n * g * u + (t + 1) * n * u + c + aux + 3 * n * u + n * g * u + t * n + 2 * n * u) + packed
    }

    fn workspace_bytes(&self) -> usize {
        let all = [&self.xs, &self.z, &self.h, &self.c, &self.aux, &self.dh, &self.dc, &self.tmp, &self.step_z];
        4 * (all.iter().map(|v| v.len()).sum::<usize>() + self.mask.len() + self.stash.len())
            + self.packed_u.bytes()
            + self.packed_ut.bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let gated = self.cell != Cell::SimpleRNN;
        let c = RecurrentConfig {
            name: self.core.name.clone(),
            units: self.units,
            activation: self.activation.clone().ok()?,
            recurrent_activation: if gated { Some(self.recurrent_activation.clone().ok()?) } else { None },
            use_bias: self.use_bias,
            kernel_initializer: self.kernel_initializer.clone().ok()?,
            recurrent_initializer: self.recurrent_initializer.clone().ok()?,
            bias_initializer: self.bias_initializer.clone().ok()?,
            unit_forget_bias: (self.cell == Cell::LSTM).then_some(self.unit_forget_bias),
            reset_after: (self.cell == Cell::GRU).then_some(true),
            return_sequences: self.return_sequences,
            go_backwards: self.go_backwards,
            return_state: self.return_state,
        };
        serde_json::to_value(c).ok()
    }
}

impl Recurrent {
    /// GRU's steps, one after another, each product shared out over the kernel threads (its
    /// backward sums per-step terms over all rows, so it keeps this layout).
    fn gru_forward_steps(&mut self, n: usize) {
        let (t_len, u) = (self.steps, self.units);
        let gu = self.cell.gates() * u;
        let (act, gate) = self.acts();
        let recurrent = self.core.params[1].value.data();
        let recurrent_bias = self.core.params.get(2).map(|b| &b.value.data()[gu..]);
        for t in 0..t_len {
            let (h_prev, h_next) = self.h.split_at_mut((t + 1) * n * u);
            let h_prev = &h_prev[t * n * u..];
            let h_next = &mut h_next[..n * u];
            let z_t = &mut self.z[t * n * gu..(t + 1) * n * gu];
            let aux = &mut self.aux[t * n * u..(t + 1) * n * u];
            let hz = &mut self.step_z[..n * gu];
            gru::forward(z_t, h_prev, h_next, aux, hz, recurrent, recurrent_bias, (act, gate), n, u);
            if self.masked {
                hold_masked(&self.mask[t * n..(t + 1) * n], h_prev, h_next, u);
            }
        }
    }

    // # Shapes
    // x: [n, T, in]; y: [n, u] or [n, T, u]. Time-major work buffers, see the module docs.
    fn run_forward(&mut self, x: &Tensor, y: &mut Tensor) {
        let n = x.batch();
        let (t_len, u, f) = (self.steps, self.units, self.features);
        let gu = self.cell.gates() * u;
        self.gather_time_major(x.data(), n);
        // x W + b for every step at once: [T·n, in] × [in, G·u].
        let w = self.core.params[0].value.data();
        let z = &mut self.z[..t_len * n * gu];
        kernels::matmul(z, &self.xs[..t_len * n * f], w, t_len * n, f, gu, false, false, 0.0);
        if let Some(b) = self.core.params.get(2) {
            kernels::add_row_bias(z, &b.value.data()[..gu]);
        }
        if !self.initial {
            self.h[..n * u].fill(0.0);
            if self.cell == Cell::LSTM {
                self.c[..n * u].fill(0.0);
            }
        }
        let (act, gate) = self.acts();
        if self.cell == Cell::GRU {
            self.gru_forward_steps(n);
        } else {
            // Samples are independent through time: each kernel thread runs every step for its
            // own rows (one hand-off per pass instead of two per step).
            let (zp, hp, cp, ap) = (
                SendPtr(self.z.as_mut_ptr()),
                SendPtr(self.h.as_mut_ptr()),
                SendPtr(self.c.as_mut_ptr()),
                SendPtr(self.aux.as_mut_ptr()),
            );
            self.packed_u.pack(self.core.params[1].value.data(), u, gu, false);
            let (cell, masked, mask) = (self.cell, self.masked, &self.mask[..]);
            let recurrent = &self.packed_u;
            for_each_range(n, rows_per_part(u, gu), |lo, hi| {
                let rows = hi - lo;
                for t in 0..t_len {
                    let at = |step: usize, width: usize| ((step * n + lo) * width, (step * n + hi) * width);
                    // SAFETY: rows lo..hi of step t's blocks (and t + 1's), disjoint between the
                    // threads and between the slices, inside the planned buffers.
                    unsafe {
                        let ((z0, z1), (p0, p1), (n0, n1)) = (at(t, gu), at(t, u), at(t + 1, u));
                        let (z_t, h_prev, h_next) = (zp.slice(z0, z1), hp.slice(p0, p1), hp.slice(n0, n1));
                        match cell {
                            Cell::SimpleRNN => simple_rnn::forward(z_t, h_prev, h_next, recurrent, act, rows, u),
                            _ => {
                                let (c_prev, c_next, aux) = (cp.slice(p0, p1), cp.slice(n0, n1), ap.slice(p0, p1));
                                lstm::forward(
                                    z_t,
                                    h_prev,
                                    h_next,
                                    (c_prev, c_next),
                                    aux,
                                    recurrent,
                                    (act, gate),
                                    rows,
                                    u,
                                );
                            }
                        }
                        if masked {
                            // A masked step leaves the state as it was.
                            let mask_t = &mask[t * n + lo..t * n + hi];
                            hold_masked(mask_t, h_prev, h_next, u);
                            if cell == Cell::LSTM {
                                hold_masked(mask_t, cp.slice(p0, p1), cp.slice(n0, n1), u);
                            }
                        }
                    }
                }
            });
        }
        // The output: every step (batch-major, in processing order) or the last; with
        // return_state, each sample's row goes on with the last h (and c).
        let row = y.row_len();
        let out = y.data_mut();
        for b in 0..n {
            let sample = &mut out[b * row..(b + 1) * row];
            if self.return_sequences {
                for t in 0..t_len {
                    let h = &self.h[((t + 1) * n + b) * u..((t + 1) * n + b + 1) * u];
                    sample[t * u..(t + 1) * u].copy_from_slice(h);
                }
            } else {
                sample[..u].copy_from_slice(&self.h[(t_len * n + b) * u..(t_len * n + b + 1) * u]);
            }
            if self.return_state {
                let at = self.output_len();
                sample[at..at + u].copy_from_slice(&self.h[(t_len * n + b) * u..(t_len * n + b + 1) * u]);
                if self.cell == Cell::LSTM {
                    sample[at + u..at + 2 * u].copy_from_slice(&self.c[(t_len * n + b) * u..(t_len * n + b + 1) * u]);
                }
            }
        }
    }

    // Backpropagation through time, last step first; see each cell's file for its step. A
    // masked step passes `dh` and `dc` through unchanged and gives its gates no gradient.
    fn run_backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.batch();
        let (t_len, u, f) = (self.steps, self.units, self.features);
        let gu = self.cell.gates() * u;
        let (act, gate) = self.acts();
        self.dh[..n * u].fill(0.0);
        self.dc[..n * u].fill(0.0);
        let row = dy.row_len();
        let dy = dy.data();
        // The final states' gradients (return_state) start the sweep.
        if self.return_state {
            let at = self.output_len();
            for b in 0..n {
                let sample = &dy[b * row..(b + 1) * row];
                self.dh[b * u..(b + 1) * u].copy_from_slice(&sample[at..at + u]);
                if self.cell == Cell::LSTM {
                    self.dc[b * u..(b + 1) * u].copy_from_slice(&sample[at + u..at + 2 * u]);
                }
            }
        }
        let (kernel, rest) = self.core.params.split_first_mut().expect("built");
        let (recurrent, bias) = rest.split_first_mut().expect("built");
        let rk = recurrent.value.data();
        if let Some(b) = bias.first_mut() {
            b.grad.data_mut().fill(0.0);
        }
        if self.cell == Cell::GRU {
            // GRU: the recurrent kernel's gradient takes each step's recurrent part's gradient.
            recurrent.grad.data_mut().fill(0.0);
            let (sh, sc) = self.stash.split_at_mut(n * u);
            let mut carries =
                Carries { dh: &mut self.dh[..n * u], dc: &mut self.dc[..n * u], sh, sc: &mut sc[..n * u] };
            for t in (0..t_len).rev() {
                let mask_t = self.masked.then(|| &self.mask[t * n..(t + 1) * n]);
                carries.begin_step(dy, row, 0, (t, t_len), self.return_sequences, mask_t, u);
                let h_prev = &self.h[t * n * u..(t + 1) * n * u];
                let z_t = &mut self.z[t * n * gu..(t + 1) * n * gu];
                let tmp = &mut self.tmp[..n * u];
                let aux = &self.aux[t * n * u..(t + 1) * n * u];
                let dzh = &mut self.step_z[..n * gu];
                let rb = bias.first_mut().map(|b| &mut b.grad.data_mut()[gu..]);
                gru::backward(z_t, h_prev, aux, carries.dh, dzh, tmp, rk, rb, (act, gate), n, u);
                kernels::matmul(recurrent.grad.data_mut(), h_prev, dzh, u, n, gu, true, false, 1.0);
                carries.end_step(mask_t, u);
            }
        } else {
            // Samples are independent through time: each kernel thread sweeps back through every
            // step for its own rows; the weights' gradients are one product each afterwards.
            let (zp, dhp, dcp, sp) = (
                SendPtr(self.z.as_mut_ptr()),
                SendPtr(self.dh.as_mut_ptr()),
                SendPtr(self.dc.as_mut_ptr()),
                SendPtr(self.stash.as_mut_ptr()),
            );
            self.packed_ut.pack(rk, gu, u, true);
            let (h, c, aux, mask) = (&self.h[..], &self.c[..], &self.aux[..], &self.mask[..]);
            let (cell, masked, sequences, rk) = (self.cell, self.masked, self.return_sequences, &self.packed_ut);
            for_each_range(n, rows_per_part(u, gu), |lo, hi| {
                let rows = hi - lo;
                // SAFETY: rows lo..hi of the carries, the stash and each step's gates, disjoint
                // between the threads, inside the planned buffers.
                let (dh, dc, sh, sc) = unsafe {
                    (
                        dhp.slice(lo * u, hi * u),
                        dcp.slice(lo * u, hi * u),
                        sp.slice(lo * u, hi * u),
                        sp.slice((n + lo) * u, (n + hi) * u),
                    )
                };
                let mut carries = Carries { dh, dc, sh, sc };
                for t in (0..t_len).rev() {
                    let mask_t = masked.then(|| &mask[t * n + lo..t * n + hi]);
                    carries.begin_step(dy, row, lo, (t, t_len), sequences, mask_t, u);
                    let block = |width: usize| (t * n + lo) * width..(t * n + hi) * width;
                    // SAFETY: as above.
                    let z_t = unsafe { zp.slice((t * n + lo) * gu, (t * n + hi) * gu) };
                    let (dh, dc) = (&mut *carries.dh, &mut *carries.dc);
                    match cell {
                        Cell::SimpleRNN => {
                            let h_t = &h[((t + 1) * n + lo) * u..((t + 1) * n + hi) * u];
                            simple_rnn::backward(z_t, h_t, dh, rk, act, rows, u);
                        }
                        _ => lstm::backward(z_t, &c[block(u)], &aux[block(u)], dh, dc, rk, (act, gate), rows, u),
                    }
                    carries.end_step(mask_t, u);
                }
            });
        }
        // The recurrent kernel's gradient over all steps at once (GRU's was added per step, from
        // its recurrent part): dU = Σ_t h_{t−1}ᵀ dZ_t = [h_0 … h_{T−1}]ᵀ [dZ_1 … dZ_T].
        if self.cell != Cell::GRU {
            let (hs, dz) = (&self.h[..t_len * n * u], &self.z[..t_len * n * gu]);
            kernels::matmul(recurrent.grad.data_mut(), hs, dz, u, t_len * n, gu, true, false, 0.0);
        }
        // The input side, over all steps at once: dW = Xᵀ dZ, db = Σ dZ, dX = dZ Wᵀ.
        let dz = &self.z[..t_len * n * gu];
        kernels::matmul(kernel.grad.data_mut(), &self.xs[..t_len * n * f], dz, f, t_len * n, gu, true, false, 0.0);
        if let Some(b) = bias.first_mut() {
            let db = &mut b.grad.data_mut()[..gu];
            for row in dz.chunks_exact(gu) {
                kernels::add(db, row);
            }
        }
        if let Some(dx) = dx {
            let xs = &mut self.xs[..t_len * n * f];
            kernels::matmul(xs, dz, kernel.value.data(), t_len * n, gu, f, false, true, 0.0);
            let out = dx.data_mut();
            for b in 0..n {
                for t in 0..t_len {
                    let dst = if self.go_backwards { t_len - 1 - t } else { t };
                    out[(b * t_len + dst) * f..(b * t_len + dst + 1) * f]
                        .copy_from_slice(&xs[(t * n + b) * f..(t * n + b + 1) * f]);
                }
            }
        }
    }
}

crate::layers::weighted_layer_builders!(Recurrent);
