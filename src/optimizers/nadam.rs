//! Nadam: Adam with Nesterov momentum, as Keras 3 writes it (Dozat's momentum schedule):
//!
//! ```text
//! t = iterations + 1
//! u_t = β₁ (1 − ½ · 0.96ᵗ),  u_{t+1} = β₁ (1 − ½ · 0.96ᵗ⁺¹)
//! Π_t = Π_{t−1} · u_t                                  (once per step, Π_0 = 1)
//! m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂)
//! m̂ = u_{t+1} m / (1 − Π_t u_{t+1}) + (1 − u_t) g / (1 − Π_t)
//! v̂ = v / (1 − β₂ᵗ)
//! w ← w − lr · m̂ / (√v̂ + ε)
//! ```
//!
//! All in float32, as Keras casts β₁ and β₂ to the variable's dtype first.

use super::base::base_options;
use super::{build_slots, Base, Optimizer};

/// Nadam. Keras's defaults: `learning_rate` 0.001, `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Nadam {
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to `√v̂`.
    pub epsilon: f64,
    /// Keras's `BaseOptimizer` arguments (clipping, weight decay, EMA, accumulation).
    #[serde(flatten)]
    pub base: Base,
    /// Π_t, the product of the momentum schedule (recomputed from `iterations` on restore).
    #[serde(skip, default = "one")]
    u_product: f32,
    #[serde(skip)]
    m: Vec<Vec<f32>>,
    #[serde(skip)]
    v: Vec<Vec<f32>>,
}

fn one() -> f32 {
    1.0
}

impl Default for Nadam {
    fn default() -> Self {
        Nadam::new(0.001)
    }
}

impl Nadam {
    /// Nadam with the given learning rate and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Nadam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            base: Base::new(learning_rate),
            u_product: 1.0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// `u_t` of the momentum schedule.
    fn u(&self, t: u64) -> f32 {
        self.beta_1 as f32 * (1.0 - 0.5 * 0.96f32.powf(t as f32))
    }
}

base_options!(Nadam);
super::base::hyperparameters!(Nadam; beta_1: "Keras's `beta_1`: the decay of the first moment.", beta_2: "Keras's `beta_2`: the decay of the second moment.", epsilon: "Keras's `epsilon`: added to the denominator, for stability.");

impl Optimizer for Nadam {
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn name(&self) -> &'static str {
        "nadam"
    }
    fn build(&mut self, sizes: &[usize]) {
        build_slots(&mut self.m, sizes);
        build_slots(&mut self.v, sizes);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        let t = self.base.iterations + 1;
        if slot == 0 {
            // Keras advances Π once per step, before the first variable's update.
            self.u_product = self.u_product * self.beta_1 as f32 * (1.0 - 0.5 * 0.96f32.powf(t as f32));
        }
        let (u_t, u_t1) = (self.u(t), self.u(t + 1));
        let (prod, prod1) = (self.u_product, self.u_product * self.u(t + 1));
        let b2p = (self.beta_2 as f32).powf(t as f32);
        let (b1, b2) = (self.beta_1 as f32, self.beta_2 as f32);
        let (c1, c2, lr, eps) = (1.0 - b1, 1.0 - b2, self.base.learning_rate, self.epsilon as f32);
        let (m, v) = (&mut self.m[slot], &mut self.v[slot]);
        for i in 0..w.len() {
            m[i] += (g[i] - m[i]) * c1;
            v[i] += (g[i] * g[i] - v[i]) * c2;
            let m_hat = u_t1 * m[i] / (1.0 - prod1) + (1.0 - u_t) * g[i] / (1.0 - prod);
            let v_hat = v[i] / (1.0 - b2p);
            w[i] -= m_hat * lr / (v_hat.sqrt() + eps);
        }
    }
    /// Π_t follows the restored step count.
    fn set_iterations(&mut self, n: u64) {
        self.base.iterations = n;
        self.u_product = (1..=n).fold(1.0, |p, t| p * self.beta_1 as f32 * (1.0 - 0.5 * 0.96f32.powf(t as f32)));
    }
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("Nadam", self)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        vec![("momentum", &self.m), ("velocity", &self.v)]
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        vec![("momentum", &mut self.m), ("velocity", &mut self.v)]
    }
}
