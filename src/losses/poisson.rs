//! Poisson loss, as Keras: `L = mean_j (p_j − y_j log(p_j + ε))`,
//! `∂L/∂p_j = (1 − y_j / (p_j + ε)) / k`.

use super::EPSILON;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = (1.0 - y / (p + EPSILON)) / k;
        }
    }
    p.iter().zip(t).map(|(&p, &y)| p - y * (p + EPSILON).ln()).sum::<f32>() / k
}
