//! The hinge losses, as Keras. Targets of 0 and 1 are read as −1 and 1 (Keras converts a
//! batch whose targets are all 0 or 1; minibatch converts each 0, so a target is −1, 0→−1 or 1).
//!
//! - hinge: `L = mean_j max(1 − y_j p_j, 0)`, `∂L/∂p_j = −y_j / k` where `1 − y_j p_j > 0`;
//! - squared hinge: `L = mean_j max(1 − y_j p_j, 0)²`, `∂L/∂p_j = −2 y_j max(1 − y_j p_j, 0) / k`;
//! - categorical hinge (one-hot `y`): with `pos = Σ y_j p_j`, `neg = max_j (1 − y_j) p_j`,
//!   `L = max(neg − pos + 1, 0)`; where positive, `∂L/∂p = −y + (1 − y_m) e_m` at the arg max `m`.

/// A 0/1 target as Keras's hinge reads it.
fn signed(y: f32) -> f32 {
    if y == 0.0 {
        -1.0
    } else {
        y
    }
}

pub fn row(p: &[f32], t: &[f32], squared: bool, grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    let margin = |p: f32, y: f32| (1.0 - signed(y) * p).max(0.0);
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            let m = margin(p, y);
            *g = match (squared, m > 0.0) {
                (_, false) => 0.0,
                (false, true) => -signed(y) / k,
                (true, true) => -2.0 * signed(y) * m / k,
            };
        }
    }
    let value = |p: f32, y: f32| if squared { margin(p, y) * margin(p, y) } else { margin(p, y) };
    p.iter().zip(t).map(|(&p, &y)| value(p, y)).sum::<f32>() / k
}

pub fn categorical_row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let pos: f32 = p.iter().zip(t).map(|(&p, &y)| y * p).sum();
    let (mut m, mut neg) = (0, f32::NEG_INFINITY);
    for (j, (&p, &y)) in p.iter().zip(t).enumerate() {
        if (1.0 - y) * p > neg {
            (m, neg) = (j, (1.0 - y) * p);
        }
    }
    let value = (neg - pos + 1.0).max(0.0);
    if let Some(g) = grad {
        g.fill(0.0);
        if value > 0.0 {
            g.iter_mut().zip(t).for_each(|(g, &y)| *g = -y);
            g[m] += 1.0 - t[m];
        }
    }
    value
}
