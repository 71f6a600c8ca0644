//! Huber loss, as Keras: with `e = p − y`, `q = min(|e|, δ)`,
//! `L = mean_j (½ q_j² + δ (|e_j| − q_j))`, `∂L/∂p_j = clip(e_j, −δ, δ) / k`.

pub fn row(p: &[f32], t: &[f32], delta: f32, grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = (p - y).clamp(-delta, delta) / k;
        }
    }
    let value = |e: f32| {
        let q = e.abs().min(delta);
        0.5 * q * q + delta * (e.abs() - q)
    };
    p.iter().zip(t).map(|(&p, &y)| value(p - y)).sum::<f32>() / k
}
