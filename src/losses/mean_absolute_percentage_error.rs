//! Mean absolute percentage error, as Keras:
//! `L = 100 · mean_j |y_j − p_j| / max(|y_j|, ε)`, `∂L/∂p_j = 100 · sign(p_j − y_j) / (k · max(|y_j|, ε))`.

use super::EPSILON;
use crate::tensor::kernels::sign;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = 100.0 * sign(p - y) / (k * y.abs().max(EPSILON));
        }
    }
    100.0 * p.iter().zip(t).map(|(&p, &y)| ((y - p) / y.abs().max(EPSILON)).abs()).sum::<f32>() / k
}
