//! `GroupNormalization` (see the type).

use crate::error::{Error, Result};
use crate::layers::{Layer, LayerCore, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `GroupNormalization` (Wu & He, 2018): the channels (the last axis) split into
/// `groups` blocks of `k = C / groups`, and each sample's block normalized over all its
/// positions and channels together, then scaled and shifted per channel:
///
/// ```text
/// for sample n, group g (channels c ∈ [g·k, (g+1)·k), every position s):
///   μ, σ² = mean and (biased) variance of x[n, s, c]
///   x̂ = (x − μ) / √(σ² + ε)          y = x̂ · γ_c + β_c
/// backward, with ĝ = dy · γ_c over the same group:
///   dx = (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / √(σ² + ε)
///   dγ_c = Σ_{n,s} dy · x̂,   dβ_c = Σ_{n,s} dy
/// ```
///
/// Keras's defaults: `groups` 32 (−1: one channel a group, instance normalization), `axis`
/// −1, `epsilon` 1e-3, `center` and `scale` true. Batch statistics never enter, so training
/// and inference are the same.
///
/// ```
/// use minibatch::layers::GroupNormalization;
/// let norm = GroupNormalization::new(4).epsilon(1e-5);
/// ```
#[derive(Debug, Clone)]
pub struct GroupNormalization {
    groups: i64,
    epsilon: f32,
    center: bool,
    scale: bool,
    /// Name, weights, penalties (see [`LayerCore`]); `core.params`: `[gamma, beta]` (each
    /// only when enabled), `[channels]`.
    core: LayerCore,
    channels: usize,
    group_channels: usize,
    sample_len: usize,
    /// The latest batch's normalized values `[n, s, c]` and each (sample, group)'s
    /// `1 / √(σ² + ε)`, `[n, groups]`.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
}

/// GroupNormalization's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct GroupNormalizationConfig {
    name: String,
    groups: i64,
    #[serde(default = "last_axis")]
    axis: i64,
    epsilon: f32,
    center: bool,
    scale: bool,
}

fn last_axis() -> i64 {
    -1
}

impl GroupNormalization {
    /// `groups` blocks of channels (−1: one channel a group), Keras's other defaults.
    pub fn new(groups: i64) -> Self {
        GroupNormalization {
            groups,
            epsilon: 1e-3,
            center: true,
            scale: true,
            core: LayerCore::default(),
            channels: 0,
            group_channels: 0,
            sample_len: 0,
            xhat: Vec::new(),
            inv_std: Vec::new(),
        }
    }

    /// Added to the variance (default 1e-3).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// Whether to add `beta` (default true).
    pub fn center(mut self, on: bool) -> Self {
        self.center = on;
        self
    }
    /// Whether to multiply by `gamma` (default true).
    pub fn scale(mut self, on: bool) -> Self {
        self.scale = on;
        self
    }
    /// The layer's name (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`GroupNormalizationConfig`] describes (not built).
    ///
    /// # Errors
    /// An axis other than the last.
    pub fn from_config(c: GroupNormalizationConfig) -> Result<Self> {
        if c.axis != -1 {
            return Err(Error::invalid("axis (GroupNormalization)", c.axis, "-1 (channels last)"));
        }
        Ok(GroupNormalization::new(c.groups).epsilon(c.epsilon).center(c.center).scale(c.scale).name(&c.name))
    }

    fn groups(&self) -> usize {
        self.channels / self.group_channels.max(1)
    }
}

impl Layer for GroupNormalization {
    fn kind(&self) -> &'static str {
        "GroupNormalization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = &self.core.name;
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(Error::invalid("epsilon", self.epsilon, format!("a positive number (layer {name})")));
        }
        let c = *input_shape.last().filter(|&&c| c > 0).ok_or_else(|| {
            Error::shape(format!("input to layer {name}"), "a last (channels) axis of at least 1", input_shape)
        })?;
        let groups = match self.groups {
            -1 => c,
            g if g > 0 && (g as usize) <= c && c % g as usize == 0 => g as usize,
            g => {
                return Err(Error::invalid(
                    "groups",
                    g,
                    format!("a divisor of the {c} channels, or −1 for one channel a group (layer {name})"),
                ))
            }
        };
        self.core.params.clear();
        if self.scale {
            let mut gamma = Param::claim(name, "gamma", &[c])?;
            gamma.value.data_mut().fill(1.0);
            self.core.params.push(gamma);
        }
        if self.center {
            self.core.params.push(Param::claim(&self.core.name, "beta", &[c])?);
        }
        self.channels = c;
        self.group_channels = c / groups;
        self.sample_len = input_shape.iter().product();
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.xhat.len() < max_batch * self.sample_len {
            self.xhat = vec![0.0; max_batch * self.sample_len];
            self.inv_std = vec![0.0; max_batch * self.groups()];
        }
    }

    // # Shapes
    // x, y, x̂: [n, s, c]; statistics: [n, groups]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let (c, k, groups, len) = (self.channels, self.group_channels, self.groups(), self.sample_len);
        let count = (len / c * k) as f64;
        for (n, xs) in x.data().chunks_exact(len).enumerate() {
            for g in 0..groups {
                let values = || xs.chunks_exact(c).flat_map(move |row| &row[g * k..(g + 1) * k]);
                let mean = values().map(|&v| v as f64).sum::<f64>() / count;
                let var = values().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
                let inv = 1.0 / (var + self.epsilon as f64).sqrt();
                self.inv_std[n * groups + g] = inv as f32;
                let xh = &mut self.xhat[n * len..(n + 1) * len];
                for (xr, hr) in xs.chunks_exact(c).zip(xh.chunks_exact_mut(c)) {
                    for j in g * k..(g + 1) * k {
                        hr[j] = ((xr[j] as f64 - mean) * inv) as f32;
                    }
                }
            }
        }
        let out = y.data_mut();
        out.copy_from_slice(&self.xhat[..x.len()]);
        let gamma = self.scale.then(|| self.core.params[0].value.data());
        let beta = self.center.then(|| self.core.params[self.core.params.len() - 1].value.data());
        super::affine::apply(out, gamma, beta, c);
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let (c, k, groups, len) = (self.channels, self.group_channels, self.groups(), self.sample_len);
        let dy = dy.data();
        let xhat = &self.xhat[..x.len()];
        super::affine::gradients(&mut self.core.params, self.scale, self.center, dy, xhat, c);
        let Some(dx) = dx else { return };
        let gamma = self.scale.then(|| self.core.params[0].value.data());
        let count = (len / c * k) as f32;
        let out = dx.data_mut();
        for n in 0..x.len() / len {
            let (d, xh, o) =
                (&dy[n * len..(n + 1) * len], &xhat[n * len..(n + 1) * len], &mut out[n * len..(n + 1) * len]);
            for g in 0..groups {
                let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
                for ((dr, hr), or) in d.chunks_exact(c).zip(xh.chunks_exact(c)).zip(o.chunks_exact_mut(c)) {
                    for j in g * k..(g + 1) * k {
                        let gh = dr[j] * gamma.map_or(1.0, |gm| gm[j]);
                        or[j] = gh;
                        sum_g += gh;
                        sum_gx += gh * hr[j];
                    }
                }
                let (mean_g, mean_gx, inv) = (sum_g / count, sum_gx / count, self.inv_std[n * groups + g]);
                for (hr, or) in xh.chunks_exact(c).zip(o.chunks_exact_mut(c)) {
                    for j in g * k..(g + 1) * k {
                        or[j] = (or[j] - mean_g - hr[j] * mean_gx) * inv;
                    }
                }
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * (max_batch * self.sample_len + max_batch * self.groups())
    }

    fn workspace_bytes(&self) -> usize {
        4 * (self.xhat.len() + self.inv_std.len())
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = GroupNormalizationConfig {
            name: self.core.name.clone(),
            groups: self.groups,
            axis: -1,
            epsilon: self.epsilon,
            center: self.center,
            scale: self.scale,
        };
        serde_json::to_value(c).ok()
    }
}
