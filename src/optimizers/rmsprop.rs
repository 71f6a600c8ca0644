//! RMSprop, as Keras 3 writes it (epsilon inside the square root):
//!
//! ```text
//! v ← ρ v + (1 − ρ) g²          (1 − ρ from the Python float, as Keras: 0.1, not 0.10000002)
//! centered:  ḡ ← ρ ḡ + (1 − ρ) g;   d = v − ḡ² + ε      else  d = v + ε
//! Δ = lr · g / √d
//! momentum:  μ ← momentum · μ + Δ;  w ← w − μ          else  w ← w − Δ
//! ```

use super::base::base_options;
use super::{build_slots, Base, Optimizer, SendPtr, PARALLEL_MIN};
use crate::tensor::keras_float::one_minus as keras_one_minus;

/// RMSprop. Keras's defaults: `learning_rate` 0.001, `rho` 0.9, `momentum` 0, `epsilon` 1e-7,
/// `centered` false.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RMSprop {
    /// Decay of the squared-gradient average.
    pub rho: f64,
    /// Momentum factor.
    pub momentum: f64,
    /// Added inside the square root.
    pub epsilon: f64,
    /// Normalize by the gradient's estimated variance instead of its second moment.
    pub centered: bool,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    velocity: Vec<Vec<f32>>,
    #[serde(skip)]
    average_grad: Vec<Vec<f32>>,
    #[serde(skip)]
    momentums: Vec<Vec<f32>>,
}

impl Default for RMSprop {
    fn default() -> Self {
        RMSprop::new(0.001)
    }
}

impl RMSprop {
    /// RMSprop with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        RMSprop {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            base: Base::new(learning_rate),
            velocity: Vec::new(),
            average_grad: Vec::new(),
            momentums: Vec::new(),
        }
    }

    /// Sets the momentum.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Uses the centered variant.
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

base_options!(RMSprop);
super::base::hyperparameters!(RMSprop; rho: "Keras's `rho`: the decay of the squared gradients' average.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for RMSprop {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.velocity, sizes);
        if self.centered {
            build_slots(&mut self.average_grad, sizes);
        }
        if self.momentum > 0.0 {
            build_slots(&mut self.momentums, sizes);
        }
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let one_minus_rho = keras_one_minus(self.rho);
        let (lr, rho, eps, mu) = (self.base.learning_rate, self.rho as f32, self.epsilon as f32, self.momentum as f32);
        let v = &mut self.velocity[slot];
        if !self.centered && mu <= 0.0 {
            // Large tensors are shared out over the kernel threads (disjoint ranges).
            let (wp, vp) = (SendPtr(w.as_mut_ptr()), SendPtr(v.as_mut_ptr()));
            crate::tensor::for_each_range(w.len(), PARALLEL_MIN, |lo, hi| {
                // SAFETY: ranges are disjoint and within `w` and `v`, which outlive the call.
                let (w, v) = unsafe { (wp.slice(lo, hi), vp.slice(lo, hi)) };
                plain(w, &g[lo..hi], v, lr, rho, one_minus_rho, eps);
            });
            return;
        }
        for (i, (w, &g)) in w.iter_mut().zip(g).enumerate() {
            v[i] = rho * v[i] + one_minus_rho * (g * g);
            let denom = if self.centered {
                let a = &mut self.average_grad[slot][i];
                *a = rho * *a + one_minus_rho * g;
                v[i] - *a * *a + eps
            } else {
                v[i] + eps
            };
            let step = lr * g / denom.sqrt();
            if mu > 0.0 {
                let m = &mut self.momentums[slot][i];
                *m = mu * *m + step;
                *w -= *m;
            } else {
                *w -= step;
            }
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("RMSprop", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("velocity", &self.velocity), ("average_gradient", &self.average_grad), ("momentum", &self.momentums)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![
            ("velocity", &mut self.velocity),
            ("average_gradient", &mut self.average_grad),
            ("momentum", &mut self.momentums),
        ]
    }
}

crate::simd! {
    /// The common case, vectorized: not centered, no momentum.
    fn plain(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, one_minus_rho: f32, eps: f32) {
        for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
            *v = rho * *v + one_minus_rho * (g * g);
            *w -= lr * g / (*v + eps).sqrt();
        }
    }
}
