//! Mean squared error: `L = mean_j (p_j − y_j)²`, `∂L/∂p_j = 2 (p_j − y_j) / k`.

pub fn compute(p: &[f32], t: &[f32], k: usize, n: usize, grad: Option<&mut [f32]>) -> f64 {
    let sum: f64 = p.iter().zip(t).map(|(&p, &t)| ((p - t) as f64).powi(2)).sum();
    if let Some(g) = grad {
        let s = 2.0 / (k * n) as f32;
        g.iter_mut().zip(p.iter().zip(t)).for_each(|(g, (&p, &t))| *g = s * (p - t));
    }
    sum / k as f64
}
