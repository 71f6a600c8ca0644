//! Softmax and log-softmax over the last axis, beside their gradients:
//!
//! - `y = softmax(x)`: yᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m), m = max x (for range);
//!   `dx = y ⊙ (dy − Σⱼ dyⱼ yⱼ)`.
//! - `y = log_softmax(x)`: yᵢ = xᵢ − m − ln Σⱼ e^(xⱼ − m);
//!   `dx = dy − softmax(x) · Σⱼ dyⱼ`.

use super::{Graph, Op, Var};

/// Row by row over rows of `n`: `y = softmax(x)`, or `log_softmax(x)` when `log`.
pub(crate) fn forward(log: bool, x: &[f32], n: usize, y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let m = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = xr.iter().map(|&v| (v - m).exp()).sum();
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = if log { x - m - total.ln() } else { (x - m).exp() / total };
        }
    }
}

/// `dx = …` as the [module docs](self) say, from the output `y`; added to `dx` when `acc`.
pub(crate) fn backward(log: bool, y: &[f32], dy: &[f32], n: usize, dx: &mut [f32], acc: bool) {
    use super::vjp::put;
    for ((yr, gr), dr) in y.chunks_exact(n).zip(dy.chunks_exact(n)).zip(dx.chunks_exact_mut(n)) {
        if log {
            let total: f32 = gr.iter().sum();
            for ((d, &y), &g) in dr.iter_mut().zip(yr).zip(gr) {
                put(d, g - y.exp() * total, acc);
            }
        } else {
            let dot: f32 = gr.iter().zip(yr).map(|(g, y)| g * y).sum();
            for ((d, &y), &g) in dr.iter_mut().zip(yr).zip(gr) {
                put(d, y * (g - dot), acc);
            }
        }
    }
}

impl Graph {
    fn softmax_op(&mut self, log: bool, x: Var) -> Var {
        let n = &self.nodes[x.0];
        let (shape, batched) = (n.shape.clone(), n.batched);
        self.push(Op::Softmax { log }, vec![x], shape, batched)
    }

    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: Var) -> Var {
        self.softmax_op(false, x)
    }

    /// Log-softmax over the last axis.
    pub fn log_softmax(&mut self, x: Var) -> Var {
        self.softmax_op(true, x)
    }
}
