//! Binary cross-entropy, averaged over the last axis, with Keras's label smoothing: the
//! target becomes `y' = y (1 − s) + s / 2`.
//!
//! On probabilities (Keras): `p̂ = clip(p, ε, 1 − ε)`, `L = −y' log p̂ − (1 − y') log(1 − p̂)`,
//! `∂L/∂p = (p̂ − y') / (p̂ (1 − p̂))` inside the clip range and 0 outside.
//! On logits `z`: `L = max(z, 0) − z y' + log(1 + e^−|z|)`, `∂L/∂z = σ(z) − y'`.
//! Fused with a sigmoid output `p = σ(z)`: the value on the logits, `∂L/∂z = p − y'`.
//! Every derivative is divided by `k`, the row's length (the mean).

use super::EPSILON;
use crate::activations::sigmoid;

pub(super) fn smooth(y: f32, s: f32) -> f32 {
    if s == 0.0 {
        y
    } else {
        y * (1.0 - s) + 0.5 * s
    }
}

fn on_logits(z: f32, y: f32) -> f32 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

pub fn row(p: &[f32], t: &[f32], from_logits: bool, s: f32, mut grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    let mut sum = 0.0f32;
    for (i, (&p, &y)) in p.iter().zip(t).enumerate() {
        let y = smooth(y, s);
        let (value, g) = if from_logits {
            (on_logits(p, y), sigmoid(p) - y)
        } else {
            let q = p.clamp(EPSILON, 1.0 - EPSILON);
            let inside = p > EPSILON && p < 1.0 - EPSILON;
            (-(y * q.ln() + (1.0 - y) * (1.0 - q).ln()), if inside { (q - y) / (q * (1.0 - q)) } else { 0.0 })
        };
        sum += value;
        if let Some(gs) = grad.as_deref_mut() {
            gs[i] = g / k;
        }
    }
    sum / k
}

/// Fused with a sigmoid output: the value from the logits `z`, the gradient from `p = σ(z)`.
pub fn fused_row(p: &[f32], z: &[f32], t: &[f32], s: f32, grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = (p - smooth(y, s)) / k;
        }
    }
    z.iter().zip(t).map(|(&z, &y)| on_logits(z, smooth(y, s))).sum::<f32>() / k
}
