//! Sparse categorical cross-entropy: categorical cross-entropy against the one-hot vector of
//! an integer label `c`, without forming it.
//!
//! On probabilities (Keras): `q = clip(p_c / Σp, ε, 1 − ε)`, `L = −log q`,
//! `∂L/∂p_j = (−[j = c] a + a p_c / S) / S` with `a = 1 / q` inside the clip range (else 0).
//! On logits: `L = logsumexp(z) − z_c`, `∂L/∂z = softmax(z) − onehot(c)`.
//! Fused with a softmax output `p = softmax(z)`: the value on the logits, `∂L/∂z = p − onehot(c)`.

use super::EPSILON;
use crate::activations::log_sum_exp;

pub fn row(p: &[f32], label: f32, from_logits: bool, grad: Option<&mut [f32]>) -> f32 {
    let c = label as usize;
    if from_logits {
        let lse = log_sum_exp(p);
        if let Some(g) = grad {
            for (g, &z) in g.iter_mut().zip(p) {
                *g = (z - lse).exp();
            }
            g[c] -= 1.0;
        }
        return lse - p[c];
    }
    let s: f32 = p.iter().sum();
    let q = p[c] / s;
    if let Some(g) = grad {
        let a = if q > EPSILON && q < 1.0 - EPSILON { 1.0 / q } else { 0.0 };
        let common = a * p[c] / s;
        for (j, g) in g.iter_mut().enumerate() {
            let own = if j == c { a } else { 0.0 };
            *g = (common - own) / s;
        }
    }
    -q.clamp(EPSILON, 1.0 - EPSILON).ln()
}

/// Fused with a softmax output: the value from the logits `z`, the gradient from `p = softmax(z)`.
pub fn fused_row(p: &[f32], z: &[f32], label: f32, grad: Option<&mut [f32]>) -> f32 {
    let c = label as usize;
    if let Some(g) = grad {
        g.copy_from_slice(p);
        g[c] -= 1.0;
    }
    log_sum_exp(z) - z[c]
}
