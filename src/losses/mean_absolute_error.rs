//! Mean absolute error: `L = mean_j |p_j − y_j|`, `∂L/∂p_j = sign(p_j − y_j) / k` (0 at 0).

use crate::tensor::kernels::sign;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        g.iter_mut().zip(p.iter().zip(t)).for_each(|(g, (&p, &t))| *g = sign(p - t) / k);
    }
    p.iter().zip(t).map(|(&p, &t)| (p - t).abs()).sum::<f32>() / k
}
