//! Sparse categorical cross-entropy: categorical cross-entropy against the one-hot vector of
//! an integer label `c`, without forming it.
//!
//! On probabilities (Keras): `q = clip(p_c / Σp, ε, 1 − ε)`, `L = −log q`,
//! `∂L/∂p_j = (−[j = c] a + a p_c / S) / S` with `a = 1 / q` inside the clip range (else 0).
//! On logits: `L = logsumexp(z) − z_c`, `∂L/∂z = softmax(z) − onehot(c)`.
//! Fused with a softmax output `p`: `∂L/∂z = p − onehot(c)`.

use super::EPSILON;
use crate::activations::log_sum_exp;

pub fn compute(
    p: &[f32],
    labels: &[f32],
    k: usize,
    n: usize,
    from_logits: bool,
    fused: bool,
    mut grad: Option<&mut [f32]>,
) -> f64 {
    let inv_n = 1.0 / n as f32;
    let mut sum = 0.0f64;
    for (r, (pr, &label)) in p.chunks_exact(k).zip(labels).enumerate() {
        let c = label as usize;
        let g = grad.as_deref_mut().map(|g| &mut g[r * k..(r + 1) * k]);
        if from_logits {
            let lse = log_sum_exp(pr);
            sum += (lse - pr[c]) as f64;
            if let Some(g) = g {
                for (g, &z) in g.iter_mut().zip(pr) {
                    *g = inv_n * (z - lse).exp();
                }
                g[c] -= inv_n;
            }
            continue;
        }
        let s: f32 = pr.iter().sum();
        let q = pr[c] / s;
        sum += -(q.clamp(EPSILON, 1.0 - EPSILON).ln()) as f64;
        let Some(g) = g else { continue };
        if fused {
            for (g, &p) in g.iter_mut().zip(pr) {
                *g = inv_n * p;
            }
            g[c] -= inv_n;
            continue;
        }
        let a = if q > EPSILON && q < 1.0 - EPSILON { 1.0 / q } else { 0.0 };
        let common = a * pr[c] / s;
        for (j, g) in g.iter_mut().enumerate() {
            let own = if j == c { a } else { 0.0 };
            *g = inv_n * (common - own) / s;
        }
    }
    sum
}
