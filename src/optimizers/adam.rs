//! Adam, as Keras 3 writes it (epsilon is Kingma & Ba's "epsilon hat": added to `√v` after the
//! bias correction has been folded into the learning rate):
//!
//! ```text
//! t  ← iterations + 1
//! α  = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)            (in float32, as Keras 3)
//! m ← m + (g − m)(1 − β₁)
//! v ← v + (g² − v)(1 − β₂)
//! w ← w − m · α / (√v + ε)
//! ```
//!
//! `1 − β₁` and `1 − β₂` are formed as Keras forms them, from the Python float in double
//! precision, rounded to float32 (`1 − 0.999` is 1.0000000475e-3, not the 9.9998712540e-4 of
//! float32 arithmetic).

use super::{build_slots, keras_one_minus, Optimizer, SendPtr, PARALLEL_MIN};

/// Adam. Keras's defaults: `learning_rate` 0.001, `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adam {
    /// Step size.
    pub learning_rate: f32,
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to `√v`.
    pub epsilon: f32,
    #[serde(skip)]
    iterations: u64,
    #[serde(skip)]
    m: Vec<Vec<f32>>,
    #[serde(skip)]
    v: Vec<Vec<f32>>,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(0.001)
    }
}

impl Adam {
    /// Adam with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Adam { learning_rate, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, iterations: 0, m: Vec::new(), v: Vec::new() }
    }

    /// The update shared with AdamW: `alpha` folds in the bias correction.
    pub(crate) fn apply(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        // As Keras 3 computes them: the powers and α in float32, 1 − β from the Python float.
        let t = (self.iterations + 1) as f32;
        let (b1p, b2p) = (self.beta_1.powf(t), self.beta_2.powf(t));
        let alpha = self.learning_rate * (1.0 - b2p).sqrt() / (1.0 - b1p);
        let (c1, c2, eps) = (keras_one_minus(self.beta_1), keras_one_minus(self.beta_2), self.epsilon);
        let (wp, mp, vp) =
            (SendPtr(w.as_mut_ptr()), SendPtr(self.m[slot].as_mut_ptr()), SendPtr(self.v[slot].as_mut_ptr()));
        crate::tensor::for_each_range(w.len(), PARALLEL_MIN, |lo, hi| {
            // SAFETY: ranges are disjoint and within `w`, `m` and `v`, which outlive the call.
            let (w, m, v) = unsafe { (wp.slice(lo, hi), mp.slice(lo, hi), vp.slice(lo, hi)) };
            update(w, &g[lo..hi], m, v, alpha, c1, c2, eps);
        });
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }
    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.m, sizes);
        build_slots(&mut self.v, sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        self.apply(slot, w, g);
    }
    fn finish_step(&mut self) {
        self.iterations += 1;
    }
    fn set_iterations(&mut self, n: u64) {
        self.iterations = n;
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Adam", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("momentum", &self.m), ("velocity", &self.v)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("momentum", &mut self.m), ("velocity", &mut self.v)]
    }
}

crate::simd! {
    /// `c1`, `c2`: 1 − β₁ and 1 − β₂ (see [`keras_one_minus`]).
    fn update(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], alpha: f32, c1: f32, c2: f32, eps: f32) {
        for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            *m += (g - *m) * c1;
            *v += (g * g - *v) * c2;
            *w -= *m * alpha / (v.sqrt() + eps);
        }
    }
}
