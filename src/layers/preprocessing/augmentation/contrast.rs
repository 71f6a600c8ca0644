//! `RandomContrast` (see the type).

use super::{image_shape, Factor};
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `RandomContrast(factor, value_range=(0, 255))`: in training, each image's distance
/// from its mean (per channel, over height and width) multiplied by a contrast drawn from
/// `[1 − lower, 1 + upper]` (a number `f` for `[1 − f, 1 + f]`), then clipped to
/// `value_range`; the identity in inference.
///
/// ```
/// use minibatch::layers::RandomContrast;
/// let layer = RandomContrast::new(0.2).value_range(0.0, 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct RandomContrast {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    factor: Factor,
    value_range: (f32, f32),
    shape: [usize; 3],
    /// Per sample of the latest training batch: its contrast (1 in inference).
    contrast: Vec<f32>,
}

/// RandomContrast's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RandomContrastConfig {
    name: String,
    factor: Factor,
    value_range: (f32, f32),
    seed: Option<u64>,
}

impl RandomContrast {
    /// Contrasts drawn from `[1 − f, 1 + f]` (or `(lower, upper)`, each in `[0, 1]`).
    pub fn new(factor: impl Into<Factor>) -> Self {
        RandomContrast {
            factor: factor.into(),
            value_range: (0.0, 255.0),
            shape: [0; 3],
            contrast: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The range outputs are clipped to (default `(0, 255)`; `(0, 1)` for scaled pixels).
    pub fn value_range(mut self, low: f32, high: f32) -> Self {
        self.value_range = (low, high);
        self
    }

    /// A seed of the layer's own (else one is drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.core.seed = Some(seed);
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`RandomContrastConfig`] describes.
    pub fn from_config(c: RandomContrastConfig) -> Self {
        let layer = RandomContrast::new(c.factor).value_range(c.value_range.0, c.value_range.1).name(&c.name);
        let mut layer = layer;
        layer.core.seed = c.seed;
        layer
    }

    /// `(lower, upper)` of the contrast's distance from 1: Keras's factor, `[0, 1]` each.
    fn bounds(&self) -> (f32, f32) {
        match self.factor {
            Factor::Symmetric(f) => (f.abs(), f.abs()),
            Factor::Range(a, b) => (a, b),
        }
    }
}

impl Layer for RandomContrast {
    fn kind(&self) -> &'static str {
        "RandomContrast"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let (lo, hi) = self.bounds();
        if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) {
            return Err(Error::invalid(
                "factor",
                format!("{:?}", self.factor),
                format!("a number or a (lower, upper) pair within [0, 1] for layer {}", self.core.name),
            ));
        }
        let (low, high) = self.value_range;
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::invalid("value_range", format!("({low}, {high})"), "(low, high) with low < high"));
        }
        self.shape = image_shape(&self.core.name, input_shape)?;
        self.core.rng = Rng::new(self.core.seed.unwrap_or_else(|| rng.next_u64()));
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.contrast.len() < max_batch {
            self.contrast.resize(max_batch, 1.0);
        }
    }

    // # Shapes
    // x, y: [batch, h, w, c]; y = clip((x − mean) · contrast + mean), mean per channel.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        if !training {
            y.data_mut().copy_from_slice(x.data());
            return;
        }
        let (lo, hi) = self.bounds();
        let [h, w, c] = self.shape;
        let (per, pixels) = (h * w * c, (h * w) as f32);
        let (low, high) = self.value_range;
        // One key per step; each sample's factor from the key and its global position.
        let key = self.core.rng.next_u64();
        for s in 0..x.batch() {
            let mut rng = crate::layers::sample_rng(key, self.core.offset + s);
            let f = rng.uniform((1.0 - lo) as f64, (1.0 + hi) as f64) as f32;
            self.contrast[s] = f;
            let (src, dst) = (&x.data()[s * per..][..per], &mut y.data_mut()[s * per..][..per]);
            for ch in 0..c {
                let mean = src[ch..].iter().step_by(c).sum::<f32>() / pixels;
                for (d, &v) in dst[ch..].iter_mut().step_by(c).zip(src[ch..].iter().step_by(c)) {
                    *d = ((v - mean) * f + mean).clamp(low, high);
                }
            }
        }
    }

    // Where the output was not clipped: ∂y/∂x = contrast, and through the mean (1 − contrast)
    // / pixels for every value of the channel.
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let [h, w, c] = self.shape;
        let (per, pixels) = (h * w * c, (h * w) as f32);
        let (low, high) = self.value_range;
        let inside = |v: f32| v > low && v < high;
        for s in 0..x.batch() {
            let f = self.contrast[s];
            let (out, d) = (&y.data()[s * per..][..per], &dy.data()[s * per..][..per]);
            let g = &mut dx.data_mut()[s * per..][..per];
            for ch in 0..c {
                let passed: f32 = out[ch..]
                    .iter()
                    .step_by(c)
                    .zip(d[ch..].iter().step_by(c))
                    .filter(|(&o, _)| inside(o))
                    .map(|(_, &v)| v)
                    .sum();
                let shared = (1.0 - f) / pixels * passed;
                for ((g, &o), &v) in
                    g[ch..].iter_mut().step_by(c).zip(out[ch..].iter().step_by(c)).zip(d[ch..].iter().step_by(c))
                {
                    *g = if inside(o) { f * v } else { 0.0 } + shared;
                }
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * max_batch
    }

    fn workspace_bytes(&self) -> usize {
        self.contrast.capacity() * 4
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = RandomContrastConfig {
            name: self.core.name.clone(),
            factor: self.factor,
            value_range: self.value_range,
            seed: self.core.seed,
        };
        serde_json::to_value(c).ok()
    }

    /// The generator's position, so a resumed run draws what an unbroken one would.
    fn state(&self) -> Vec<(&'static str, State)> {
        crate::layers::rng_state(&self.core.rng)
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        crate::layers::set_rng_state(&self.core.name, &mut self.core.rng, name, value)
    }
}
