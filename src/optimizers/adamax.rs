//! Adamax: Adam with the infinity norm, as Keras 3 writes it:
//!
//! ```text
//! t = iterations + 1
//! m ← m + (g − m)(1 − β₁);   u ← max(β₂ u, |g|)
//! w ← w − lr · m / ((1 − β₁ᵗ)(u + ε))
//! ```
//!
//! `1 − β₁` is formed from the Python float, as Keras.

use super::base::base_options;
use super::{build_slots, Base, Optimizer};
use crate::tensor::keras_float::one_minus as keras_one_minus;

/// Adamax. Keras's defaults: `learning_rate` 0.001, `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adamax {
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the infinity norm.
    pub beta_2: f64,
    /// Added to `u`.
    pub epsilon: f64,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    m: Vec<Vec<f32>>,
    #[serde(skip)]
    u: Vec<Vec<f32>>,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax::new(0.001)
    }
}

impl Adamax {
    /// Adamax with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Adamax {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            base: Base::new(learning_rate),
            m: Vec::new(),
            u: Vec::new(),
        }
    }
}

base_options!(Adamax);
super::base::hyperparameters!(Adamax; beta_1: "Keras's `beta_1`: the decay of the first moment.", beta_2: "Keras's `beta_2`: the decay of the infinity norm.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for Adamax {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "adamax"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.m, sizes);
        build_slots(&mut self.u, sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let b1p = (self.beta_1 as f32).powf((self.base.iterations + 1) as f32);
        let (c1, b2, lr, eps) =
            (keras_one_minus(self.beta_1), self.beta_2 as f32, self.base.learning_rate, self.epsilon as f32);
        let (m, u) = (&mut self.m[slot], &mut self.u[slot]);
        for i in 0..w.len() {
            m[i] += (g[i] - m[i]) * c1;
            u[i] = (b2 * u[i]).max(g[i].abs());
            w[i] -= lr * m[i] / ((1.0 - b1p) * (u[i] + eps));
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Adamax", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("m", &self.m), ("u", &self.u)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("m", &mut self.m), ("u", &mut self.u)]
    }
}
