//! Kullback–Leibler divergence, as Keras: with `ŷ = clip(y, ε, 1)`, `p̂ = clip(p, ε, 1)`,
//! `L = Σ_j ŷ_j log(ŷ_j / p̂_j)`, `∂L/∂p_j = −ŷ_j / p_j` inside the clip range, else 0.

use super::EPSILON;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = if p > EPSILON && p < 1.0 { -y.clamp(EPSILON, 1.0) / p } else { 0.0 };
        }
    }
    p.iter()
        .zip(t)
        .map(|(&p, &y)| {
            let (y, p) = (y.clamp(EPSILON, 1.0), p.clamp(EPSILON, 1.0));
            y * (y / p).ln()
        })
        .sum()
}
