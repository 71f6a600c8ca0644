//! AdamW: Adam with decoupled weight decay, which Keras 3 applies before the Adam update,
//! `w ← w − w · weight_decay · lr` (see [`super::base`]). It is [`Adam`] with
//! `weight_decay` 0.004 by default.

use super::base::base_options;
use super::{Adam, Base, Optimizer};

/// AdamW. Keras's defaults: Adam's, plus `weight_decay` 0.004.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(into = "Adam")]
pub struct AdamW {
    /// The Adam part (learning rate, betas, epsilon, moments, options with the decay). Private,
    /// so it cannot be replaced by an Adam without the decay: set its values by the builders
    /// (`AdamW::new(lr).beta_1(0.95)`), read them through [`AdamW::adam`].
    adam: Adam,
}

/// A saved AdamW is its Adam's config, the decay included (there is no public way from an
/// [`Adam`] to an AdamW, which could lose the decay).
impl<'de> serde::Deserialize<'de> for AdamW {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Adam::deserialize(d).map(|adam| AdamW { adam })
    }
}

impl From<AdamW> for Adam {
    fn from(w: AdamW) -> Self {
        w.adam
    }
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(0.001)
    }
}

impl AdamW {
    /// AdamW with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        let mut adam = Adam::new(learning_rate);
        adam.base.options.weight_decay = Some(0.004);
        AdamW { adam }
    }

    /// Uses AMSGrad.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.adam.amsgrad = amsgrad;
        self
    }

    /// The Adam it runs, weight decay included: its `beta_1`, `beta_2`, `epsilon` and options.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }
}

base_options!(AdamW, adam.base);
super::base::hyperparameters!(AdamW, adam; beta_1: "Keras's `beta_1`: the decay of the first moment.", beta_2: "Keras's `beta_2`: the decay of the second moment.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        "adamw"
    }
    fn build(&mut self, sizes: &[usize]) {
        self.adam.build(sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        self.adam.update(slot, w, g);
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("AdamW", &self.adam)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        self.adam.slots()
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        self.adam.slots_mut()
    }
    fn base(&self) -> &Base {
        &self.adam.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.adam.base
    }
}
