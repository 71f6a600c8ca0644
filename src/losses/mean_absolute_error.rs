//! Mean absolute error: `L = mean_j |p_j − y_j|`, `∂L/∂p_j = sign(p_j − y_j) / k` (0 at 0).

pub fn compute(p: &[f32], t: &[f32], k: usize, n: usize, grad: Option<&mut [f32]>) -> f64 {
    let sum: f64 = p.iter().zip(t).map(|(&p, &t)| (p - t).abs() as f64).sum();
    if let Some(g) = grad {
        let s = 1.0 / (k * n) as f32;
        g.iter_mut().zip(p.iter().zip(t)).for_each(|(g, (&p, &t))| {
            let d = p - t;
            *g = if d > 0.0 {
                s
            } else if d < 0.0 {
                -s
            } else {
                0.0
            }
        });
    }
    sum / k as f64
}
