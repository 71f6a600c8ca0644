//! Categorical cross-entropy over the last axis, with Keras's label smoothing: the target
//! becomes `y' = y (1 − s) + s / k` before anything else.
//!
//! On probabilities (Keras): `q = clip(p / Σp, ε, 1 − ε)`, `L = −Σ_i y'_i log q_i`. With
//! `a_i = y'_i / q_i` inside the clip range (else 0) and `S = Σp`:
//! `∂L/∂p_j = (−a_j + Σ_i a_i p_i / S) / S`.
//! On logits `z`: `L = Σy' · logsumexp(z) − Σ y'_i z_i`, `∂L/∂z = softmax(z) Σy' − y'`.
//! Fused with a softmax output `p = softmax(z)`: the value on the logits, `∂L/∂z = p Σy' − y'`.

use super::EPSILON;
use crate::activations::log_sum_exp;

/// The smoothed target (`s` = 0: the target itself).
pub(super) fn smooth(y: f32, s: f32, k: usize) -> f32 {
    if s == 0.0 {
        y
    } else {
        y * (1.0 - s) + s / k as f32
    }
}

pub fn row(p: &[f32], t: &[f32], from_logits: bool, s: f32, grad: Option<&mut [f32]>) -> f32 {
    let k = p.len();
    if from_logits {
        return logits_row(p, t, s, grad);
    }
    let total: f32 = p.iter().sum();
    let value =
        -p.iter().zip(t).map(|(&p, &y)| smooth(y, s, k) * (p / total).clamp(EPSILON, 1.0 - EPSILON).ln()).sum::<f32>();
    let Some(g) = grad else { return value };
    let a = |p: f32, y: f32| {
        let q = p / total;
        if q > EPSILON && q < 1.0 - EPSILON {
            smooth(y, s, k) / q
        } else {
            0.0
        }
    };
    let dot: f32 = p.iter().zip(t).map(|(&p, &y)| a(p, y) * p).sum::<f32>() / total;
    for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
        *g = (dot - a(p, y)) / total;
    }
    value
}

/// On logits `z`.
fn logits_row(z: &[f32], t: &[f32], s: f32, grad: Option<&mut [f32]>) -> f32 {
    let k = z.len();
    let lse = log_sum_exp(z);
    if let Some(g) = grad {
        let t_sum: f32 = t.iter().map(|&y| smooth(y, s, k)).sum();
        for ((g, &z), &y) in g.iter_mut().zip(z).zip(t) {
            *g = (z - lse).exp() * t_sum - smooth(y, s, k);
        }
    }
    t.iter().zip(z).map(|(&y, &z)| smooth(y, s, k) * (lse - z)).sum()
}

/// Fused with a softmax output: the value from the logits `z`, the gradient from `p = softmax(z)`.
pub fn fused_row(p: &[f32], z: &[f32], t: &[f32], s: f32, grad: Option<&mut [f32]>) -> f32 {
    let k = p.len();
    if let Some(g) = grad {
        let t_sum: f32 = t.iter().map(|&y| smooth(y, s, k)).sum();
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = p * t_sum - smooth(y, s, k);
        }
    }
    logits_row(z, t, s, None)
}
