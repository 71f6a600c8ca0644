//! `BatchNormalization` (see the type).

use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Normalizes each channel (the last axis) to zero mean and unit
/// variance, then scales by `gamma` and shifts by `beta`.
///
/// Keras 3's semantics: in training, each batch is normalized with its own mean and (biased)
/// variance, and the moving statistics follow them,
/// `moving = moving · momentum + batch · (1 − momentum)`; in inference the moving statistics
/// are used. Defaults: `momentum` 0.99, `epsilon` 1e-3, `gamma` ones, `beta` zeros, moving
/// mean zeros, moving variance ones. The moving statistics are not trainable; they are saved
/// with the weights (`{layer}/moving_mean`, `{layer}/moving_variance`).
///
/// `backward` follows the mode of the latest `forward`: after a training pass the gradient
/// runs through the batch statistics; after an inference pass (a frozen layer being
/// fine-tuned, as Keras runs a BatchNormalization whose `trainable` is false) the moving
/// statistics are constants and `dx = γ · dy / √(moving_variance + ε)`.
///
/// Trained over several processes (see [`crate::distributed`]), each process normalizes its
/// shard of the global batch by the shard's own statistics, Keras's default
/// (`synchronized=False`): cheap, but the statistics then come from `batch / K` samples, and
/// each process's moving statistics follow its own shards (rank 0's are the ones saved).
/// [`BatchNormalization::synchronized`] (Keras's `synchronized=True`) sums the statistics
/// over the processes instead (two small all-reduces forward, one backward, per layer and
/// step), so training goes as in one process with the whole batch; every process must then
/// have samples in every batch, which `fit` checks.
///
/// ```
/// use minibatch::layers::BatchNormalization;
/// let bn = BatchNormalization::new().momentum(0.9);
/// ```
#[derive(Debug, Clone)]
pub struct BatchNormalization {
    momentum: f32,
    epsilon: f32,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: `[gamma, beta]`, each `[channels]`.
    core: LayerCore,
    moving_mean: Tensor,
    moving_variance: Tensor,
    channels: usize,
    /// Values per sample.
    sample_len: usize,
    /// The latest training batch: normalized inputs `[rows, channels]` and per-channel
    /// `1 / √(var + ε)`.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    /// Per-channel sums, in f64 so that large batches of images keep their precision.
    sums: Vec<f64>,
    /// Whether the latest `forward` ran in training mode (`backward` follows it).
    trained: bool,
    /// Keras's `synchronized`: the batch statistics summed over the processes.
    synchronized: bool,
    /// The processes, once a synchronized layer has trained; the latest training batch's rows
    /// over all of them; the all-reduce's buffers (`2 · channels + 1`).
    comm: Option<Processes>,
    global_rows: f64,
    send: Vec<f64>,
    recv: Vec<f64>,
}

/// The communicator a synchronized layer reduces over.
#[derive(Clone)]
struct Processes(std::sync::Arc<dyn crate::distributed::Communicator>);

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} processes", self.0.size())
    }
}

/// BatchNormalization's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BatchNormalizationConfig {
    name: String,
    axis: i64,
    momentum: f32,
    epsilon: f32,
    #[serde(default)]
    synchronized: bool,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization::new()
    }
}

impl BatchNormalization {
    /// Keras's defaults: `momentum` 0.99, `epsilon` 1e-3.
    pub fn new() -> Self {
        BatchNormalization {
            momentum: 0.99,
            epsilon: 1e-3,
            moving_mean: Tensor::zeros(&[1]),
            moving_variance: Tensor::zeros(&[1]),
            channels: 0,
            sample_len: 0,
            xhat: Vec::new(),
            inv_std: Vec::new(),
            sums: Vec::new(),
            trained: true,
            synchronized: false,
            comm: None,
            global_rows: 0.0,
            send: Vec::new(),
            recv: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`BatchNormalizationConfig`] describes (`axis` must be -1: the last).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another axis.
    pub fn from_config(c: BatchNormalizationConfig) -> Result<Self> {
        if c.axis != -1 {
            return Err(Error::invalid("axis", c.axis, "-1 (channels last)"));
        }
        let mut layer = BatchNormalization {
            momentum: c.momentum,
            epsilon: c.epsilon,
            synchronized: c.synchronized,
            ..BatchNormalization::new()
        };
        layer.core.name = c.name;
        Ok(layer)
    }

    /// Weight of the old moving statistics in each update (default 0.99).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    /// Added to the variance before the square root (default 1e-3).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// Keras's `synchronized`: over several processes, normalize by the statistics of the
    /// whole global batch rather than of each process's shard (default false; see the type).
    pub fn synchronized(mut self, yes: bool) -> Self {
        self.synchronized = yes;
        self
    }

    /// Sums `send` over the processes into `recv` when the layer is synchronized and there
    /// are several; else copies. Returns whether it summed.
    fn all_reduce(&mut self, n: usize) -> bool {
        if !self.synchronized {
            self.recv[..n].copy_from_slice(&self.send[..n]);
            return false;
        }
        let comm = self.comm.get_or_insert_with(|| Processes(crate::distributed::world()));
        comm.0.all_reduce_f64(&self.send[..n], &mut self.recv[..n]);
        comm.0.size() > 1
    }

    /// The moving mean, per channel.
    pub fn moving_mean(&self) -> &[f32] {
        self.moving_mean.data()
    }
    /// The moving variance, per channel.
    pub fn moving_variance(&self) -> &[f32] {
        self.moving_variance.data()
    }

    /// Writes the per-channel sums `dγ` and `dβ` (in `sums`) into the parameters' gradients.
    fn store_param_grads(&mut self) {
        let c = self.channels;
        let (dgamma, dbeta) = self.sums.split_at(c);
        let (gamma, beta) = self.core.params.split_at_mut(1);
        for ch in 0..c {
            gamma[0].grad.data_mut()[ch] = dgamma[ch] as f32;
            beta[0].grad.data_mut()[ch] = dbeta[ch] as f32;
        }
    }

    /// `backward` after an inference-mode `forward`: the moving statistics are constants.
    fn backward_inference(&mut self, x: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
        let c = self.channels;
        for (inv, &v) in self.inv_std.iter_mut().zip(self.moving_variance.data()) {
            *inv = 1.0 / (v + self.epsilon).sqrt();
        }
        let (dgamma, dbeta) = self.sums.split_at_mut(c);
        dgamma.fill(0.0);
        dbeta.fill(0.0);
        let mean = self.moving_mean.data();
        for (g, xr) in dy.data().chunks_exact(c).zip(x.data().chunks_exact(c)) {
            for ch in 0..c {
                dbeta[ch] += g[ch] as f64;
                dgamma[ch] += (g[ch] * ((xr[ch] - mean[ch]) * self.inv_std[ch])) as f64;
            }
        }
        self.store_param_grads();
        if let Some(dx) = dx {
            let gamma = self.core.params[0].value.data();
            for (d, g) in dx.data_mut().chunks_exact_mut(c).zip(dy.data().chunks_exact(c)) {
                for ch in 0..c {
                    d[ch] = gamma[ch] * self.inv_std[ch] * g[ch];
                }
            }
        }
    }
}

impl Layer for BatchNormalization {
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if !(0.0..=1.0).contains(&self.momentum) || self.epsilon.is_nan() || self.epsilon <= 0.0 {
            return Err(Error::invalid(
                "momentum/epsilon",
                format!("{}/{}", self.momentum, self.epsilon),
                format!("a momentum in [0, 1] and a positive epsilon for layer {}", self.core.name),
            ));
        }
        let c = *input_shape.last().filter(|&&c| c > 0).ok_or_else(|| {
            Error::shape(format!("input to layer {}", self.core.name), "a last axis of at least 1 channel", input_shape)
        })?;
        let mut gamma = Param::claim(&self.core.name, "gamma", &[c])?;
        gamma.value.data_mut().fill(1.0);
        self.core.params = vec![gamma, Param::claim(&self.core.name, "beta", &[c])?];
        self.moving_mean = Tensor::zeros(&[c]);
        self.moving_variance = Tensor::zeros(&[c]);
        self.moving_variance.data_mut().fill(1.0);
        self.channels = c;
        self.sample_len = input_shape.iter().product();
        self.inv_std = vec![0.0; c];
        self.sums = vec![0.0; 2 * c];
        self.send = vec![0.0; 2 * c + 1];
        self.recv = vec![0.0; 2 * c + 1];
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.xhat.len() < max_batch * self.sample_len {
            self.xhat = vec![0.0; max_batch * self.sample_len];
        }
    }

    // # Shapes
    // x, y: [rows, c] (rows = batch × positions); statistics per channel over the rows
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        // A frozen layer runs in inference mode, also in training (Keras 3).
        let training = training && self.core.trainable;
        let c = self.channels;
        let rows = x.len() / c;
        self.trained = training;
        if !training {
            let (gamma, beta) = (self.core.params[0].value.data(), self.core.params[1].value.data());
            for (xr, yr) in x.data().chunks_exact(c).zip(y.data_mut().chunks_exact_mut(c)) {
                for ch in 0..c {
                    let inv = 1.0 / (self.moving_variance.data()[ch] + self.epsilon).sqrt();
                    yr[ch] = gamma[ch] * (xr[ch] - self.moving_mean.data()[ch]) * inv + beta[ch];
                }
            }
            return;
        }
        // Mean, then variance about it (two passes), each a sum over the rows: this batch's,
        // or every process's when synchronized.
        let sums = &mut self.send[..c];
        sums.fill(0.0);
        for xr in x.data().chunks_exact(c) {
            sums.iter_mut().zip(xr).for_each(|(m, &v)| *m += v as f64);
        }
        self.send[c] = rows as f64;
        self.all_reduce(c + 1);
        self.global_rows = self.recv[c];
        let mean = &mut self.sums[..c];
        mean.iter_mut().zip(&self.recv[..c]).for_each(|(m, s)| *m = s / self.global_rows);
        let squares = &mut self.send[..c];
        squares.fill(0.0);
        for xr in x.data().chunks_exact(c) {
            squares.iter_mut().zip(xr).zip(mean.iter()).for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2));
        }
        self.all_reduce(c);
        let var = &mut self.sums[c..];
        var.iter_mut().zip(&self.recv[..c]).for_each(|(v, s)| *v = s / self.global_rows);
        for (inv, v) in self.inv_std.iter_mut().zip(var.iter()) {
            *inv = (1.0 / (v + self.epsilon as f64).sqrt()) as f32;
        }
        let (gamma, beta) = (self.core.params[0].value.data(), self.core.params[1].value.data());
        let (mean, var) = self.sums.split_at(c);
        let xhat = &mut self.xhat[..x.len()];
        for ((xr, hr), yr) in
            x.data().chunks_exact(c).zip(xhat.chunks_exact_mut(c)).zip(y.data_mut().chunks_exact_mut(c))
        {
            for ch in 0..c {
                hr[ch] = (xr[ch] - mean[ch] as f32) * self.inv_std[ch];
                yr[ch] = gamma[ch] * hr[ch] + beta[ch];
            }
        }
        // 1 − momentum as Keras forms it from the Python float (0.01, not 1 − 0.99f32).
        let (m, one_minus_m) = (self.momentum, crate::tensor::keras_float::one_minus_f32(self.momentum));
        for ch in 0..c {
            let mm = &mut self.moving_mean.data_mut()[ch];
            *mm = *mm * m + mean[ch] as f32 * one_minus_m;
            let mv = &mut self.moving_variance.data_mut()[ch];
            *mv = *mv * m + var[ch] as f32 * one_minus_m;
        }
    }

    // Training: dβ = Σ dy;  dγ = Σ dy·x̂;  dx = γ/σ · (dy − (dβ + x̂·dγ) / rows).
    // Inference: the same dβ and dγ with x̂ from the moving statistics; dx = γ/σ · dy.
    // Synchronized over K processes, each shard's dy is its own mean loss's: the sums in dx
    // are every process's, each scaled by its share of the rows (the step's all-reduce
    // weighting, which the parameters' gradients get later), and `rows` stays the shard's.
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if !self.trained {
            return self.backward_inference(x, dy, dx);
        }
        let c = self.channels;
        let rows = x.len() / c;
        let xhat = &self.xhat[..x.len()];
        let (dgamma, dbeta) = self.sums.split_at_mut(c);
        dgamma.fill(0.0);
        dbeta.fill(0.0);
        for (g, h) in dy.data().chunks_exact(c).zip(xhat.chunks_exact(c)) {
            for ch in 0..c {
                dbeta[ch] += g[ch] as f64;
                dgamma[ch] += (g[ch] * h[ch]) as f64;
            }
        }
        self.store_param_grads();
        if self.synchronized {
            let share = rows as f64 / self.global_rows;
            self.send[..2 * c].iter_mut().zip(&self.sums).for_each(|(s, &v)| *s = v * share);
            if self.all_reduce(2 * c) {
                self.sums.copy_from_slice(&self.recv[..2 * c]);
            }
        }
        let (dgamma, dbeta) = self.sums.split_at(c);
        let xhat = &self.xhat[..x.len()];
        if let Some(dx) = dx {
            let gamma = self.core.params[0].value.data();
            let inv_rows = 1.0 / rows as f32;
            for ((d, g), h) in
                dx.data_mut().chunks_exact_mut(c).zip(dy.data().chunks_exact(c)).zip(xhat.chunks_exact(c))
            {
                for ch in 0..c {
                    let mean_part = (dbeta[ch] as f32 + h[ch] * dgamma[ch] as f32) * inv_rows;
                    d[ch] = gamma[ch] * self.inv_std[ch] * (g[ch] - mean_part);
                }
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * max_batch * self.sample_len
    }

    fn workspace_bytes(&self) -> usize {
        self.xhat.len() * 4
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn synchronizes(&self) -> bool {
        self.synchronized
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = BatchNormalizationConfig {
            name: self.core.name.clone(),
            axis: -1,
            momentum: self.momentum,
            epsilon: self.epsilon,
            synchronized: self.synchronized,
        };
        serde_json::to_value(c).ok()
    }

    fn state(&self) -> Vec<(&'static str, State)> {
        vec![
            ("moving_mean", State::F32(self.moving_mean.clone())),
            ("moving_variance", State::F32(self.moving_variance.clone())),
        ]
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        let target = match name {
            "moving_mean" => &mut self.moving_mean,
            "moving_variance" => &mut self.moving_variance,
            _ => return Err(Error::State(format!("layer {} has no variable {name}", self.core.name))),
        };
        match value {
            State::F32(t) if t.len() == target.len() => {
                target.data_mut().copy_from_slice(t.data());
                Ok(())
            }
            _ => Err(Error::State(format!("layer {}: {name} must hold {} values", self.core.name, target.len()))),
        }
    }
}
