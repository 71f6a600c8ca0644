//! Stochastic gradient descent, optionally with (Nesterov) momentum, as Keras 3 writes it:
//!
//! ```text
//! without momentum:  w ← w − lr · g
//! with momentum:     v ← momentum · v − lr · g
//!                    w ← w + v                        (plain)
//!                    w ← w + momentum · v − lr · g    (nesterov)
//! ```

use super::base::base_options;
use super::{build_slots, Base, Optimizer};

/// SGD. Keras's defaults: `learning_rate` 0.01, `momentum` 0, `nesterov` false.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SGD {
    /// Momentum factor in `[0, 1)`.
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    velocity: Vec<Vec<f32>>,
}

impl Default for SGD {
    fn default() -> Self {
        SGD::new(0.01)
    }
}

impl SGD {
    /// SGD with the given learning rate and no momentum.
    pub fn new(learning_rate: f32) -> Self {
        SGD { momentum: 0.0, nesterov: false, base: Base::new(learning_rate), velocity: Vec::new() }
    }

    /// Sets the momentum.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Uses Nesterov momentum.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

base_options!(SGD);

impl Optimizer for SGD {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn build(&mut self, sizes: &[usize]) {
        if self.momentum != 0.0 {
            build_slots(&mut self.velocity, sizes);
        }
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let (lr, mu) = (self.base.learning_rate, self.momentum as f32);
        if mu == 0.0 {
            plain(w, g, lr);
        } else {
            momentum(w, g, &mut self.velocity[slot], lr, mu, self.nesterov);
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("SGD", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("momentum", &self.velocity)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("momentum", &mut self.velocity)]
    }
}

crate::simd! {
    fn plain(w: &mut [f32], g: &[f32], lr: f32) {
        w.iter_mut().zip(g).for_each(|(w, &g)| *w -= lr * g);
    }
}

crate::simd! {
    fn momentum(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, mu: f32, nesterov: bool) {
        if nesterov {
            for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                *v = mu * *v - lr * g;
                *w += mu * *v - lr * g;
            }
        } else {
            for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                *v = mu * *v - lr * g;
                *w += *v;
            }
        }
    }
}
