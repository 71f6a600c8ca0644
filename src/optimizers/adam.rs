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
//! With `amsgrad`, `v̂ ← max(v̂, v)` replaces `v` in the last line.
//!
//! `1 − β₁` and `1 − β₂` are formed as Keras forms them, from the Python float in double
//! precision, rounded to float32 (`1 − 0.999` is 1.0000000475e-3, not the 9.9998712540e-4 of
//! float32 arithmetic).

use super::base::base_options;
use super::{build_slots, Base, Optimizer, SendPtr, PARALLEL_MIN};
use crate::tensor::keras_float::one_minus as keras_one_minus;

/// Adam. Keras's defaults: `learning_rate` 0.001, `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adam {
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to `√v`.
    pub epsilon: f64,
    /// Use the running maximum of `v` (Reddi et al.'s AMSGrad).
    #[serde(default)]
    pub amsgrad: bool,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    #[serde(skip)]
    m: Vec<Vec<f32>>,
    #[serde(skip)]
    v: Vec<Vec<f32>>,
    #[serde(skip)]
    v_hat: Vec<Vec<f32>>,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(0.001)
    }
}

impl Adam {
    /// Adam with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
            base: Base::new(learning_rate),
            m: Vec::new(),
            v: Vec::new(),
            v_hat: Vec::new(),
        }
    }

    /// Uses AMSGrad: the running maximum of the second moment.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// The update shared with AdamW: `alpha` folds in the bias correction.
    pub(crate) fn apply(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        // As Keras 3 computes them: the powers and α in float32, 1 − β from the Python float.
        let t = (self.base.iterations + 1) as f32;
        let (b1p, b2p) = ((self.beta_1 as f32).powf(t), (self.beta_2 as f32).powf(t));
        let alpha = self.base.learning_rate * (1.0 - b2p).sqrt() / (1.0 - b1p);
        let (c1, c2, eps) = (keras_one_minus(self.beta_1), keras_one_minus(self.beta_2), self.epsilon as f32);
        if self.amsgrad {
            let (m, v, v_hat) = (&mut self.m[slot], &mut self.v[slot], &mut self.v_hat[slot]);
            for i in 0..w.len() {
                m[i] += (g[i] - m[i]) * c1;
                v[i] += (g[i] * g[i] - v[i]) * c2;
                v_hat[i] = v_hat[i].max(v[i]);
                w[i] -= m[i] * alpha / (v_hat[i].sqrt() + eps);
            }
            return;
        }
        let (wp, mp, vp) =
            (SendPtr(w.as_mut_ptr()), SendPtr(self.m[slot].as_mut_ptr()), SendPtr(self.v[slot].as_mut_ptr()));
        crate::tensor::for_each_range(w.len(), PARALLEL_MIN, |lo, hi| {
            // SAFETY: ranges are disjoint and within `w`, `m` and `v`, which outlive the call.
            let (w, m, v) = unsafe { (wp.slice(lo, hi), mp.slice(lo, hi), vp.slice(lo, hi)) };
            update(w, &g[lo..hi], m, v, alpha, c1, c2, eps);
        });
    }
}

base_options!(Adam);
super::base::hyperparameters!(Adam; beta_1: "Keras's `beta_1`: the decay of the first moment.", beta_2: "Keras's `beta_2`: the decay of the second moment.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for Adam {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "adam"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.m, sizes);
        build_slots(&mut self.v, sizes);
        if self.amsgrad {
            build_slots(&mut self.v_hat, sizes);
        }
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        self.apply(slot, w, g);
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Adam", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("momentum", &self.m), ("velocity", &self.v), ("velocity_hat", &self.v_hat)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("momentum", &mut self.m), ("velocity", &mut self.v), ("velocity_hat", &mut self.v_hat)]
    }
}

crate::simd! {
    /// `c1`, `c2`: 1 − β₁ and 1 − β₂ (see `tensor::keras_float::one_minus`).
    fn update(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], alpha: f32, c1: f32, c2: f32, eps: f32) {
        for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            *m += (g - *m) * c1;
            *v += (g * g - *v) * c2;
            *w -= *m * alpha / (v.sqrt() + eps);
        }
    }
}
