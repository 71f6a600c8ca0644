//! Mean squared logarithmic error, as Keras: with `a = log(max(p, ε) + 1)` and
//! `b = log(max(y, ε) + 1)`, `L = mean_j (a_j − b_j)²`,
//! `∂L/∂p_j = 2 (a_j − b_j) / (k (p_j + 1))` where `p_j > ε`, else 0.

use super::EPSILON;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    let d = |p: f32, y: f32| (p.max(EPSILON) + 1.0).ln() - (y.max(EPSILON) + 1.0).ln();
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = if p > EPSILON { 2.0 * d(p, y) / (k * (p + 1.0)) } else { 0.0 };
        }
    }
    p.iter().zip(t).map(|(&p, &y)| d(p, y) * d(p, y)).sum::<f32>() / k
}
