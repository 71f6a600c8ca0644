//! AdamW: Adam with decoupled weight decay, as Keras 3 applies it before the Adam update:
//! `w ← w − w · weight_decay · lr`, then the [`Adam`] step.

use super::{Adam, Optimizer};

/// AdamW. Keras's defaults: Adam's, plus `weight_decay` 0.004.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AdamW {
    /// The Adam part (learning rate, betas, epsilon, moments).
    #[serde(flatten)]
    pub adam: Adam,
    /// Decoupled decay factor.
    pub weight_decay: f32,
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(0.001)
    }
}

impl AdamW {
    /// AdamW with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        AdamW { adam: Adam::new(learning_rate), weight_decay: 0.004 }
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        "adamw"
    }
    fn learning_rate(&self) -> f32 {
        self.adam.learning_rate
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.adam.learning_rate = lr;
    }
    fn iterations(&self) -> u64 {
        self.adam.iterations()
    }
    fn build(&mut self, sizes: &[usize]) {
        self.adam.build(sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        decay(w, self.weight_decay * self.adam.learning_rate);
        self.adam.apply(slot, w, g);
    }
    fn finish_step(&mut self) {
        self.adam.finish_step();
    }
    fn set_iterations(&mut self, n: u64) {
        self.adam.set_iterations(n);
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("AdamW", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        self.adam.slots()
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        self.adam.slots_mut()
    }
}

crate::simd! {
    /// `w ← w − w · d`
    fn decay(w: &mut [f32], d: f32) {
        w.iter_mut().for_each(|w| *w -= *w * d);
    }
}
