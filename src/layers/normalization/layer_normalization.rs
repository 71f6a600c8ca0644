//! `LayerNormalization` (see the type).

use super::axes::Axes;
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Normalizes each sample's last axis (or its last axes, [`LayerNormalization::axis`]) to zero
/// mean and unit variance, then scales by `gamma` and shifts by `beta`:
/// `y = (x − mean) / √(var + ε) · γ + β` per group, the same in training and inference.
/// `gamma` and `beta` have the normalized axes' shape, as Keras's.
///
/// Keras's defaults: `axis` −1, `epsilon` 1e-3, `center` and `scale` true, `gamma` ones,
/// `beta` zeros; the variance is the biased one. Backward, with `x̂` the normalized row and
/// `ĝ = dy ⊙ γ`: `dx = (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / √(var + ε)`.
///
/// ```
/// use minibatch::layers::LayerNormalization;
/// let norm = LayerNormalization::new().epsilon(1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct LayerNormalization {
    axis: Axes,
    epsilon: f32,
    center: bool,
    scale: bool,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: `[gamma, beta]` (each only when enabled), the normalized axes' shape.
    core: LayerCore,
    /// Values one group normalizes together (the product of the normalized axes).
    features: usize,
    sample_len: usize,
    /// The latest batch's normalized rows and each row's `1 / √(var + ε)`.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
}

/// LayerNormalization's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LayerNormalizationConfig {
    name: String,
    #[serde(default)]
    axis: Axes,
    epsilon: f32,
    center: bool,
    scale: bool,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization::new()
    }
}

impl LayerNormalization {
    /// Keras's defaults: `epsilon` 1e-3, centered and scaled.
    pub fn new() -> Self {
        LayerNormalization {
            axis: Axes::default(),
            epsilon: 1e-3,
            center: true,
            scale: true,
            features: 0,
            sample_len: 0,
            xhat: Vec::new(),
            inv_std: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`LayerNormalizationConfig`] describes (not built; its axes are checked
    /// against the input when it is).
    ///
    /// # Errors
    /// None today; kept for configs that may be refused before building.
    pub fn from_config(c: LayerNormalizationConfig) -> Result<Self> {
        Ok(LayerNormalization {
            axis: c.axis,
            epsilon: c.epsilon,
            center: c.center,
            scale: c.scale,
            ..LayerNormalization::new()
        }
        .name(&c.name))
    }

    /// Keras's `axis`: one axis or several (`[1, 2, 3]`: the whole sample of an image), which
    /// must be the sample's last axes (checked when built).
    pub fn axis(mut self, axis: impl Into<Axes>) -> Self {
        self.axis = axis.into();
        self
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
    /// The layer's name (else the model assigns `layer_normalization`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn gamma(&self) -> Option<&[f32]> {
        self.scale.then(|| self.core.params[0].value.data())
    }
}

impl Layer for LayerNormalization {
    fn kind(&self) -> &'static str {
        "LayerNormalization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(Error::invalid(
                "epsilon",
                self.epsilon,
                format!("a positive number (layer {})", self.core.name),
            ));
        }
        let f = self.axis.group_len(input_shape, &self.core.name)?;
        if f == 0 {
            let expected = "normalized axes of at least 1 value";
            return Err(Error::shape(format!("input to layer {}", self.core.name), expected, input_shape));
        }
        let shape = self.axis.param_shape(input_shape);
        self.core.params.clear();
        if self.scale {
            let mut gamma = Param::claim(&self.core.name, "gamma", &shape)?;
            gamma.value.data_mut().fill(1.0);
            self.core.params.push(gamma);
        }
        if self.center {
            self.core.params.push(Param::claim(&self.core.name, "beta", &shape)?);
        }
        self.features = f;
        self.sample_len = input_shape.iter().product();
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.xhat.len() < max_batch * self.sample_len {
            self.xhat = vec![0.0; max_batch * self.sample_len];
            self.inv_std = vec![0.0; max_batch * self.sample_len / self.features];
        }
    }

    // # Shapes
    // x, y: [rows, f]; statistics per row
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let f = self.features;
        let rows = x.len() / f;
        for r in 0..rows {
            let xr = &x.data()[r * f..(r + 1) * f];
            let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / f as f64;
            let var = xr.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / f as f64;
            let inv = 1.0 / ((var + self.epsilon as f64).sqrt());
            self.inv_std[r] = inv as f32;
            for (xh, &v) in self.xhat[r * f..(r + 1) * f].iter_mut().zip(xr) {
                *xh = ((v as f64 - mean) * inv) as f32;
            }
        }
        let out = y.data_mut();
        out.copy_from_slice(&self.xhat[..x.len()]);
        let beta = self.center.then(|| self.core.params[self.core.params.len() - 1].value.data());
        super::affine::apply(out, self.gamma(), beta, f);
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let f = self.features;
        let rows = x.len() / f;
        let dy = dy.data();
        let xhat = &self.xhat[..x.len()];
        // Parameter gradients: dγ = Σ dy ⊙ x̂, dβ = Σ dy.
        super::affine::gradients(&mut self.core.params, self.scale, self.center, dy, xhat, f);
        let Some(dx) = dx else { return };
        let gamma = self.scale.then(|| self.core.params[0].value.data());
        let out = dx.data_mut();
        for r in 0..rows {
            let (d, xh, o) = (&dy[r * f..(r + 1) * f], &xhat[r * f..(r + 1) * f], &mut out[r * f..(r + 1) * f]);
            for j in 0..f {
                o[j] = d[j] * gamma.map_or(1.0, |g| g[j]);
            }
            let mean_g = o.iter().sum::<f32>() / f as f32;
            let mean_gx = o.iter().zip(xh).map(|(g, x)| g * x).sum::<f32>() / f as f32;
            let inv = self.inv_std[r];
            for j in 0..f {
                o[j] = (o[j] - mean_g - xh[j] * mean_gx) * inv;
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * (max_batch * self.sample_len + max_batch * self.sample_len / self.features)
    }

    fn workspace_bytes(&self) -> usize {
        4 * (self.xhat.len() + self.inv_std.len())
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = LayerNormalizationConfig {
            name: self.core.name.clone(),
            axis: self.axis.clone(),
            epsilon: self.epsilon,
            center: self.center,
            scale: self.scale,
        };
        serde_json::to_value(c).ok()
    }
}
