//! Categorical cross-entropy over the last axis.
//!
//! On probabilities (Keras): `q = clip(p / Σp, ε, 1 − ε)`, `L = −Σ_i y_i log q_i`. With
//! `a_i = y_i / q_i` inside the clip range (else 0) and `S = Σp`:
//! `∂L/∂p_j = (−a_j + Σ_i a_i p_i / S) / S`.
//! On logits `z`: `L = Σy · logsumexp(z) − Σ y_i z_i`, `∂L/∂z = softmax(z) Σy − y`.
//! Fused with a softmax output `p`: the value as on probabilities, `∂L/∂z = p Σy − y`.

use super::EPSILON;
use crate::activations::log_sum_exp;

pub fn compute(
    p: &[f32],
    t: &[f32],
    k: usize,
    n: usize,
    from_logits: bool,
    fused: bool,
    mut grad: Option<&mut [f32]>,
) -> f64 {
    let inv_n = 1.0 / n as f32;
    let mut sum = 0.0f64;
    for (r, (pr, tr)) in p.chunks_exact(k).zip(t.chunks_exact(k)).enumerate() {
        let t_sum: f32 = tr.iter().sum();
        let g = grad.as_deref_mut().map(|g| &mut g[r * k..(r + 1) * k]);
        if from_logits {
            let lse = log_sum_exp(pr);
            sum += tr.iter().zip(pr).map(|(&y, &z)| (y * (lse - z)) as f64).sum::<f64>();
            if let Some(g) = g {
                for ((g, &z), &y) in g.iter_mut().zip(pr).zip(tr) {
                    *g = inv_n * ((z - lse).exp() * t_sum - y);
                }
            }
            continue;
        }
        let s: f32 = pr.iter().sum();
        sum += pr.iter().zip(tr).map(|(&p, &y)| -(y * (p / s).clamp(EPSILON, 1.0 - EPSILON).ln()) as f64).sum::<f64>();
        let Some(g) = g else { continue };
        if fused {
            for ((g, &p), &y) in g.iter_mut().zip(pr).zip(tr) {
                *g = inv_n * (p * t_sum - y);
            }
            continue;
        }
        let a = |p: f32, y: f32| {
            let q = p / s;
            if q > EPSILON && q < 1.0 - EPSILON {
                y / q
            } else {
                0.0
            }
        };
        let dot: f32 = pr.iter().zip(tr).map(|(&p, &y)| a(p, y) * p).sum::<f32>() / s;
        for ((g, &p), &y) in g.iter_mut().zip(pr).zip(tr) {
            *g = inv_n * (dot - a(p, y)) / s;
        }
    }
    sum
}
