//! Cosine similarity as a loss, as Keras: `L = −Σ_j ŷ_j p̂_j` with each row scaled to unit
//! length (`x / √max(Σx², 1e-12)`), so −1 is best. With `s = √Σp²` (above the floor),
//! `∂L/∂p = −(ŷ − (ŷ·p̂) p̂) / s`.

const FLOOR: f32 = 1e-12;

fn norm(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum::<f32>().max(FLOOR).sqrt()
}

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let (sp, sy) = (norm(p), norm(t));
    let dot: f32 = p.iter().zip(t).map(|(&p, &y)| (p / sp) * (y / sy)).sum();
    if let Some(g) = grad {
        let floored = p.iter().map(|v| v * v).sum::<f32>() <= FLOOR;
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = if floored { -(y / sy) / sp } else { -((y / sy) - dot * (p / sp)) / sp };
        }
    }
    -dot
}
