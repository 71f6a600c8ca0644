//! Lion (Chen et al. 2023), as Keras 3 writes it:
//!
//! ```text
//! w ← w − lr · sign(β₁ m + (1 − β₁) g)
//! m ← β₂ m + (1 − β₂) g
//! ```
//!
//! In float32, as Keras casts β₁ and β₂ to the variable's dtype first.

use super::base::base_options;
use super::{build_slots, Base, Optimizer};
use crate::tensor::kernels::sign;

/// Lion. Keras's defaults: `learning_rate` 0.001, `beta_1` 0.9, `beta_2` 0.99.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Lion {
    /// Interpolation of the update direction.
    pub beta_1: f64,
    /// Decay of the momentum.
    pub beta_2: f64,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    m: Vec<Vec<f32>>,
}

impl Default for Lion {
    fn default() -> Self {
        Lion::new(0.001)
    }
}

impl Lion {
    /// Lion with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Lion { beta_1: 0.9, beta_2: 0.99, base: Base::new(learning_rate), m: Vec::new() }
    }
}

base_options!(Lion);
super::base::hyperparameters!(Lion; beta_1: "Keras's `beta_1`: the weight of the momentum in the update's sign.", beta_2: "Keras's `beta_2`: the decay of the momentum.");

impl Optimizer for Lion {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "lion"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.m, sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let (b1, b2, lr) = (self.beta_1 as f32, self.beta_2 as f32, self.base.learning_rate);
        let m = &mut self.m[slot];
        for i in 0..w.len() {
            w[i] -= lr * sign(m[i] * b1 + g[i] * (1.0 - b1));
            m[i] = m[i] * b2 + g[i] * (1.0 - b2);
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Lion", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("momentum", &self.m)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("momentum", &mut self.m)]
    }
}
