//! `Dropout` (see the type).

use super::{Layer, State};
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::ops::dropout_mask;
use crate::rng::Rng;
use crate::tensor::{kernels, Tensor};

/// During training, zeroes each input with probability `rate` and scales the rest by
/// `1 / (1 − rate)` (inverted dropout), so inference is the identity.
///
/// The mask comes from the layer's own seeded generator: with the model's seed fixed, the
/// masks of a run repeat exactly. Each step draws one key from it, and each sample's mask comes
/// from that key and the sample's position in the global batch, so training over several
/// processes (see [`crate::distributed`]) draws the masks one process would.
///
/// ```
/// use minibatch::layers::Dropout;
/// let layer = Dropout::new(0.2);
/// ```
#[derive(Debug, Clone)]
pub struct Dropout {
    rate: f32,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    features: usize,
    /// `[max_batch × features]`: 0 or `1 / (1 − rate)` per value of the latest training batch.
    mask: Vec<f32>,
    /// `Dropout`, or `SpatialDropout1D`/`2D`: whole channels dropped per sample.
    class: &'static str,
    /// The channels a spatial dropout draws for (0: every value drawn).
    channels: usize,
}

impl Dropout {
    /// Dropout with the given rate, in `[0, 1)`.
    pub fn new(rate: f32) -> Self {
        Dropout { rate, features: 0, mask: Vec::new(), class: "Dropout", channels: 0, core: LayerCore::default() }
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
}

/// Dropout's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DropoutConfig {
    name: String,
    rate: f32,
    seed: Option<u64>,
}

impl Dropout {
    /// The layer a [`DropoutConfig`] describes (not built).
    pub fn from_config(c: DropoutConfig) -> Self {
        let mut layer = Dropout::new(c.rate).name(&c.name);
        layer.core.seed = c.seed;
        layer
    }
}

/// Keras's `SpatialDropout1D(rate)`: drops whole channels of sequences `[time, channels]`,
/// the same channels at every step of a sample (Keras's noise shape `(batch, 1, channels)`).
pub struct SpatialDropout1D;

impl SpatialDropout1D {
    /// Drops each channel with probability `rate`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(rate: f32) -> Dropout {
        Dropout { class: "SpatialDropout1D", ..Dropout::new(rate) }
    }
}

/// Keras's `SpatialDropout2D(rate)`: drops whole feature maps of images `[h, w, channels]`
/// (Keras's noise shape `(batch, 1, 1, channels)`).
pub struct SpatialDropout2D;

impl SpatialDropout2D {
    /// Drops each feature map with probability `rate`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(rate: f32) -> Dropout {
        Dropout { class: "SpatialDropout2D", ..Dropout::new(rate) }
    }
}

impl Dropout {
    /// The layer of Keras's class `class` (`Dropout`, `SpatialDropout1D`, `SpatialDropout2D`)
    /// a [`DropoutConfig`] describes.
    pub fn from_class_config(class: &str, c: DropoutConfig) -> Self {
        let class = match class {
            "SpatialDropout1D" => "SpatialDropout1D",
            "SpatialDropout2D" => "SpatialDropout2D",
            _ => "Dropout",
        };
        Dropout { class, ..Dropout::from_config(c) }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        self.class
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::invalid(
                "rate",
                self.rate,
                format!("a dropout rate in [0, 1) for layer {}", self.core.name),
            ));
        }
        let rank = match self.class {
            "SpatialDropout1D" => Some(2),
            "SpatialDropout2D" => Some(3),
            _ => None,
        };
        if rank.is_some_and(|r| r != input_shape.len()) {
            let want = if rank == Some(2) { "sequences [time, channels]" } else { "images [height, width, channels]" };
            return Err(Error::shape(format!("input to layer {}", self.core.name), want, input_shape));
        }
        let seed = self.core.seed.unwrap_or_else(|| rng.next_u64());
        self.core.rng = Rng::new(seed);
        self.features = input_shape.iter().product();
        self.channels = if rank.is_some() { *input_shape.last().expect("rank checked") } else { 0 };
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        let n = max_batch * self.features;
        if self.mask.len() < n {
            self.mask.resize(n, 0.0);
        }
    }

    // # Shapes
    // x, y, mask: [batch, …]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        if !training || self.rate == 0.0 {
            y.data_mut().copy_from_slice(x.data());
            return;
        }
        // One key per step; each sample's values from the key and its global position.
        let key = self.core.rng.next_u64();
        let mask = &mut self.mask[..x.len()];
        for (i, sample) in mask.chunks_exact_mut(self.features).enumerate() {
            let mut rng = sample_rng(key, self.core.offset + i);
            if self.channels > 0 {
                // Spatial: one draw per channel, repeated at every position.
                let (first, rest) = sample.split_at_mut(self.channels);
                dropout_mask(&mut rng, self.rate, first);
                for position in rest.chunks_exact_mut(self.channels) {
                    position.copy_from_slice(first);
                }
            } else {
                dropout_mask(&mut rng, self.rate, sample);
            }
        }
        kernels::mul(y.data_mut(), x.data(), mask);
    }

    // dx = dy ⊙ mask
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            if self.rate == 0.0 {
                dx.data_mut().copy_from_slice(dy.data());
                return;
            }
            kernels::mul(dx.data_mut(), dy.data(), &self.mask[..x.len()]);
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * max_batch * self.features
    }

    fn workspace_bytes(&self) -> usize {
        self.mask.len() * 4
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(DropoutConfig { name: self.core.name.clone(), rate: self.rate, seed: self.core.seed }).ok()
    }

    /// The mask generator's position, so a resumed run draws the masks an uninterrupted one
    /// would.
    fn state(&self) -> Vec<(&'static str, State)> {
        rng_state(&self.core.rng)
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        set_rng_state(&self.core.name, &mut self.core.rng, name, value)
    }
}

/// The generator of one sample's random draws in a step: keyed by `key` (drawn once per step
/// from the layer's generator) and `position`, the sample's place in the global batch — the
/// same whichever process computes the sample (see [`crate::distributed`]).
pub(crate) fn sample_rng(key: u64, position: usize) -> Rng {
    Rng::derive(key, position as u64)
}

/// A random layer's saved variable: its generator's position (`seed_generator_state`, Keras's
/// name), so a resumed run draws what an unbroken one would.
pub(crate) fn rng_state(rng: &Rng) -> Vec<(&'static str, State)> {
    vec![("seed_generator_state", State::U64(rng.state().to_vec()))]
}

/// Restores what [`rng_state`] saved into `rng` of layer `layer`.
///
/// # Errors
/// A variable the layer does not have, or a state that is not four words.
pub(crate) fn set_rng_state(layer: &str, rng: &mut Rng, name: &str, value: &State) -> Result<()> {
    match (name, value) {
        ("seed_generator_state", State::U64(words)) => {
            *rng = generator_from_state(layer, words)?;
            Ok(())
        }
        _ => Err(Error::State(format!("layer {layer} has no variable {name} of that kind"))),
    }
}

/// A generator from its saved state (`{layer}/seed_generator_state`, four words).
///
/// # Errors
/// [`Error::Shape`] naming the layer when the state is not four words.
pub(super) fn generator_from_state(layer: &str, words: &[u64]) -> Result<Rng> {
    let words: [u64; 4] =
        words.try_into().map_err(|_| Error::shape(format!("{layer}/seed_generator_state"), "[4]", &[words.len()]))?;
    Ok(Rng::from_state(words))
}
