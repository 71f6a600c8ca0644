//! Adagrad, as Keras 3 writes it:
//!
//! ```text
//! a ← a + g²                        (a starts at initial_accumulator_value)
//! w ← w − lr · g / √(a + ε)
//! ```

use super::base::base_options;
use super::{Base, Optimizer};

/// Adagrad. Keras's defaults: `learning_rate` 0.001, `initial_accumulator_value` 0.1,
/// `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adagrad {
    /// The accumulators' starting value.
    pub initial_accumulator_value: f64,
    /// Added inside the square root.
    pub epsilon: f64,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    accumulators: Vec<Vec<f32>>,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(0.001)
    }
}

impl Adagrad {
    /// Adagrad with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Adagrad {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
            base: Base::new(learning_rate),
            accumulators: Vec::new(),
        }
    }
}

base_options!(Adagrad);
super::base::hyperparameters!(Adagrad; initial_accumulator_value: "Keras's `initial_accumulator_value`: where each accumulator starts.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for Adagrad {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "adagrad"
    }
    fn build(&mut self, sizes: &[usize]) {
        let fits =
            self.accumulators.len() == sizes.len() && self.accumulators.iter().zip(sizes).all(|(a, &n)| a.len() == n);
        if !fits {
            self.accumulators = sizes.iter().map(|&n| vec![self.initial_accumulator_value as f32; n]).collect();
        }
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let (lr, eps) = (self.base.learning_rate, self.epsilon as f32);
        let a = &mut self.accumulators[slot];
        for i in 0..w.len() {
            a[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (a[i] + eps).sqrt();
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Adagrad", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("accumulator", &self.accumulators)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("accumulator", &mut self.accumulators)]
    }
}
