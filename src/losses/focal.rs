//! Focal cross-entropies (Lin et al., 2018, "Focal Loss for Dense Object Detection"), as
//! Keras 3 writes them: cross-entropy scaled down where the prediction is already right, so
//! training attends to the hard samples. `γ = 0` (and no balancing) is plain cross-entropy.
//!
//! **Binary**, averaged over the last axis. With the smoothed target `y' = y (1 − s) + s / 2`,
//! the probability `p` (or `σ(z)` from logits) and `p̂ = clip(p, ε, 1 − ε)`:
//!
//! ```text
//! bce = −y' log p̂ − (1 − y') log(1 − p̂)
//! p_t = y' p + (1 − y')(1 − p)             (unclipped, as Keras)
//! L_j = w · (1 − p_t)^γ · bce              w = α y' + (1 − α)(1 − y') with class balancing, else 1
//! ∂L_j/∂p = w [γ (1 − p_t)^(γ−1) (1 − 2y') · bce + (1 − p_t)^γ · (p̂ − y') / (p̂ (1 − p̂))]
//! ```
//!
//! the second term only inside the clip range; from logits, times `∂p/∂z = p (1 − p)`.
//!
//! **Categorical**, summed over the last axis. With `y' = y (1 − s) + s / k`, `p` (or
//! `softmax(z)`), `S = Σ p`, `q̂ = clip(p / S, ε, 1 − ε)`:
//!
//! ```text
//! L = Σ_i α (1 − q̂_i)^γ · (−y'_i log q̂_i)
//! a_i = ∂L/∂q_i = α [γ (1 − q̂_i)^(γ−1) y'_i log q̂_i − (1 − q̂_i)^γ y'_i / q̂_i]   (0 outside the clip)
//! ∂L/∂p_j = (a_j − Σ_i a_i q_i) / S
//! ```
//!
//! and from logits `∂L/∂z_j = p_j (g_j − Σ_i g_i p_i)` with `g = ∂L/∂p`. Keras's `alpha` may
//! also be a list (one per class); minibatch takes the scalar.

use super::EPSILON;
use crate::activations::sigmoid;

/// `γ (1 − p_t)^(γ−1)`, the focal factor's derivative with respect to `1 − p_t` (0 for `γ = 0`).
fn focal_slope(one_minus: f32, gamma: f32) -> f32 {
    if gamma == 0.0 {
        0.0
    } else {
        gamma * one_minus.powf(gamma - 1.0)
    }
}

/// The binary focal cross-entropy of one row; see the [module docs](self).
#[allow(clippy::too_many_arguments)]
pub fn binary_row(
    pred: &[f32],
    t: &[f32],
    balance: Option<f32>,
    gamma: f32,
    from_logits: bool,
    s: f32,
    mut grad: Option<&mut [f32]>,
) -> f32 {
    let k = pred.len() as f32;
    let mut sum = 0.0f32;
    for (i, (&v, &y)) in pred.iter().zip(t).enumerate() {
        let y = super::binary_crossentropy::smooth(y, s);
        let p = if from_logits { sigmoid(v) } else { v };
        let q = p.clamp(EPSILON, 1.0 - EPSILON);
        let bce = -(y * q.ln() + (1.0 - y) * (1.0 - q).ln());
        let one_minus = 1.0 - (y * p + (1.0 - y) * (1.0 - p));
        let focal = one_minus.powf(gamma);
        let w = balance.map_or(1.0, |a| y * a + (1.0 - y) * (1.0 - a));
        sum += w * focal * bce;
        if let Some(g) = grad.as_deref_mut() {
            let inside = p > EPSILON && p < 1.0 - EPSILON;
            let dbce = if inside { (q - y) / (q * (1.0 - q)) } else { 0.0 };
            let dp = w * (focal_slope(one_minus, gamma) * (1.0 - 2.0 * y) * bce + focal * dbce);
            g[i] = if from_logits { dp * p * (1.0 - p) } else { dp } / k;
        }
    }
    sum / k
}

/// The categorical focal cross-entropy of one row; see the [module docs](self).
pub fn categorical_row(
    pred: &[f32],
    t: &[f32],
    alpha: f32,
    gamma: f32,
    from_logits: bool,
    s: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let k = pred.len();
    let smooth = |y: f32| super::categorical_crossentropy::smooth(y, s, k);
    // From logits: p = softmax(z), computed on the fly (max-shifted) to need no buffer.
    let (max, denom) = if from_logits {
        let m = pred.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        (m, pred.iter().map(|&z| (z - m).exp()).sum::<f32>())
    } else {
        (0.0, 1.0)
    };
    let prob = |v: f32| if from_logits { (v - max).exp() / denom } else { v };
    let total: f32 = pred.iter().map(|&v| prob(v)).sum();
    let clipped = |v: f32| (prob(v) / total).clamp(EPSILON, 1.0 - EPSILON);
    let value: f32 = pred
        .iter()
        .zip(t)
        .map(|(&v, &y)| {
            let q = clipped(v);
            alpha * (1.0 - q).powf(gamma) * (-smooth(y) * q.ln())
        })
        .sum();
    let Some(g) = grad else { return value };
    // a_i = ∂L/∂q_i, zero where the clip holds q.
    let a = |v: f32, y: f32| {
        let raw = prob(v) / total;
        if raw > EPSILON && raw < 1.0 - EPSILON {
            let (q, y) = (raw, smooth(y));
            alpha * (focal_slope(1.0 - q, gamma) * y * q.ln() - (1.0 - q).powf(gamma) * y / q)
        } else {
            0.0
        }
    };
    let dot: f32 = pred.iter().zip(t).map(|(&v, &y)| a(v, y) * prob(v) / total).sum();
    for ((g, &v), &y) in g.iter_mut().zip(pred).zip(t) {
        *g = (a(v, y) - dot) / total;
    }
    if from_logits {
        let gp: f32 = g.iter().zip(pred).map(|(&g, &v)| g * prob(v)).sum();
        for (g, &v) in g.iter_mut().zip(pred) {
            *g = prob(v) * (*g - gp);
        }
    }
    value
}
