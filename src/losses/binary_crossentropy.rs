//! Binary cross-entropy, averaged over the last axis.
//!
//! On probabilities (Keras): `p̂ = clip(p, ε, 1 − ε)`, `L = −y log p̂ − (1 − y) log(1 − p̂)`,
//! `∂L/∂p = (p̂ − y) / (p̂ (1 − p̂))` inside the clip range and 0 outside.
//! On logits `z`: `L = max(z, 0) − z y + log(1 + e^−|z|)`, `∂L/∂z = σ(z) − y`.
//! Fused with a sigmoid output `p = σ(z)`: the value as on probabilities, `∂L/∂z = p − y`.

use super::EPSILON;
use crate::activations::sigmoid;

pub fn compute(
    p: &[f32],
    t: &[f32],
    k: usize,
    n: usize,
    from_logits: bool,
    fused: bool,
    grad: Option<&mut [f32]>,
) -> f64 {
    let s = 1.0 / (k * n) as f32;
    let mut sum = 0.0f64;
    let mut g_out = grad;
    for (i, (&p, &y)) in p.iter().zip(t).enumerate() {
        let (value, g) = if from_logits {
            let z = p;
            let v = z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            (v, sigmoid(z) - y)
        } else {
            let q = p.clamp(EPSILON, 1.0 - EPSILON);
            let v = -(y * q.ln() + (1.0 - y) * (1.0 - q).ln());
            let g = if fused {
                p - y
            } else if p > EPSILON && p < 1.0 - EPSILON {
                (q - y) / (q * (1.0 - q))
            } else {
                0.0
            };
            (v, g)
        };
        sum += value as f64;
        if let Some(gs) = g_out.as_deref_mut() {
            gs[i] = s * g;
        }
    }
    sum / k as f64
}
