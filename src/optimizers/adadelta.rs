//! Adadelta, as Keras 3 writes it:
//!
//! ```text
//! a ← ρ a + (1 − ρ) g²
//! Δ = −√(d + ε) · g / √(a + ε)
//! d ← ρ d + (1 − ρ) Δ²
//! w ← w + lr · Δ
//! ```
//!
//! `1 − ρ` is formed from the Python float, as Keras.

use super::base::base_options;
use super::{build_slots, Base, Optimizer};
use crate::tensor::keras_float::one_minus as keras_one_minus;

/// Adadelta. Keras's defaults: `learning_rate` 0.001, `rho` 0.95, `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adadelta {
    /// Decay of both running averages.
    pub rho: f64,
    /// Added inside the square roots.
    pub epsilon: f64,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    grads: Vec<Vec<f32>>,
    #[serde(skip)]
    deltas: Vec<Vec<f32>>,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta::new(0.001)
    }
}

impl Adadelta {
    /// Adadelta with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Adadelta { rho: 0.95, epsilon: 1e-7, base: Base::new(learning_rate), grads: Vec::new(), deltas: Vec::new() }
    }
}

base_options!(Adadelta);
super::base::hyperparameters!(Adadelta; rho: "Keras's `rho`: the decay of the averages.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for Adadelta {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "adadelta"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.grads, sizes);
        build_slots(&mut self.deltas, sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let (rho, c, eps, lr) =
            (self.rho as f32, keras_one_minus(self.rho), self.epsilon as f32, self.base.learning_rate);
        let (a, d) = (&mut self.grads[slot], &mut self.deltas[slot]);
        for i in 0..w.len() {
            a[i] = rho * a[i] + c * (g[i] * g[i]);
            let delta = -((d[i] + eps).sqrt() * g[i]) / (a[i] + eps).sqrt();
            d[i] = rho * d[i] + c * (delta * delta);
            w[i] += lr * delta;
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Adadelta", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("accumulated_grad", &self.grads), ("accumulated_delta_var", &self.deltas)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("accumulated_grad", &mut self.grads), ("accumulated_delta_var", &mut self.deltas)]
    }
}
