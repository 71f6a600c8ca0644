//! Overlap losses for segmentation, as Keras 3 writes them: how far the predicted region `p`
//! (probabilities) is from covering the target region `y`, over the values [`LossAxis`]
//! groups (Keras's `axis`: by default the whole batch at once).
//!
//! **Dice** (Keras's `dice`): with `I = Σ y p` and `D = Σ y + Σ p + ε`,
//! ```text
//! L = 1 − 2I / D                      ∂L/∂p_j = −2 y_j / D + 2I / D²
//! ```
//! **Tversky** (Salehi et al., 2017): with `fp = Σ (1 − y) p`, `fn = Σ y (1 − p)` and
//! `T = I + α·fp + β·fn + ε`,
//! ```text
//! L = 1 − I / T                       ∂L/∂p_j = −(y_j T − I (y_j + α (1 − y_j) − β y_j)) / T²
//! ```
//! `α = β = ½` is Dice but for where ε sits (Keras's own two formulas differ the same way).

use super::EPSILON;

/// The Dice loss over one group of values; see the [module docs](self).
pub fn dice(p: &[f32], y: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let inter: f32 = y.iter().zip(p).map(|(y, p)| y * p).sum();
    let d = y.iter().sum::<f32>() + p.iter().sum::<f32>() + EPSILON;
    if let Some(g) = grad {
        for (g, &y) in g.iter_mut().zip(y) {
            *g = -2.0 * y / d + 2.0 * inter / (d * d);
        }
    }
    1.0 - 2.0 * inter / d
}

/// The Tversky loss over one group of values; see the [module docs](self).
pub fn tversky(p: &[f32], y: &[f32], alpha: f32, beta: f32, grad: Option<&mut [f32]>) -> f32 {
    let inter: f32 = y.iter().zip(p).map(|(y, p)| y * p).sum();
    let fp: f32 = y.iter().zip(p).map(|(y, p)| (1.0 - y) * p).sum();
    let fneg: f32 = y.iter().zip(p).map(|(y, p)| y * (1.0 - p)).sum();
    let t = inter + fp * alpha + fneg * beta + EPSILON;
    if let Some(g) = grad {
        for (g, &y) in g.iter_mut().zip(y) {
            let dt = y + alpha * (1.0 - y) - beta * y;
            *g = -(y * t - inter * dt) / (t * t);
        }
    }
    1.0 - inter / t
}
