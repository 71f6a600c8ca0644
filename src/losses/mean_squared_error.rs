//! Mean squared error: `L = mean_j (p_j − y_j)²`, `∂L/∂p_j = 2 (p_j − y_j) / k`.

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        g.iter_mut().zip(p.iter().zip(t)).for_each(|(g, (&p, &t))| *g = 2.0 * (p - t) / k);
    }
    p.iter().zip(t).map(|(&p, &t)| (p - t) * (p - t)).sum::<f32>() / k
}
