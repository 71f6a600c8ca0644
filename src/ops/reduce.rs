//! Reductions over one axis, each beside its gradient:
//!
//! | op | z | ∂z/∂xᵢ |
//! |---|---|---|
//! | `sum` | Σᵢ xᵢ | 1 |
//! | `mean` | Σᵢ xᵢ / n | 1/n |
//! | `max` | maxᵢ xᵢ | 1 at the first maximum, else 0 |
//!
//! The value is viewed as `[outer, n, inner]` around the reduced axis; `keepdims` keeps that
//! axis with size 1 (the same values either way).

use super::{Graph, Op, Var};
use crate::error::Result;

/// A reduction over one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// `sum` (see the table above).
    Sum,
    /// `mean` (see the table above).
    Mean,
    /// `max` (see the table above).
    Max,
}

/// `(outer, n, inner)` of a whole shape around `axis`.
pub(crate) fn split(full: &[usize], axis: usize) -> (usize, usize, usize) {
    (full[..axis].iter().product(), full[axis], full[axis + 1..].iter().product())
}

/// `z[o, i] = reduce over r of x[o, r, i]`.
pub(crate) fn forward(f: Reduce, x: &[f32], (outer, n, inner): (usize, usize, usize), z: &mut [f32]) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| x[(o * n + r) * inner + i];
            z[o * inner + i] = match f {
                Reduce::Sum => (0..n).map(at).sum(),
                Reduce::Mean => (0..n).map(at).sum::<f32>() / n as f32,
                Reduce::Max => (0..n).map(at).fold(f32::NEG_INFINITY, f32::max),
            };
        }
    }
}

/// `dx[o, r, i] += dz[o, i] · ∂z/∂x[o, r, i]`.
pub(crate) fn backward(
    f: Reduce,
    x: &[f32],
    (outer, n, inner): (usize, usize, usize),
    z: &[f32],
    dz: &[f32],
    dx: &mut [f32],
) {
    for o in 0..outer {
        for i in 0..inner {
            let g = dz[o * inner + i];
            match f {
                Reduce::Sum | Reduce::Mean => {
                    let g = if f == Reduce::Mean { g / n as f32 } else { g };
                    for r in 0..n {
                        dx[(o * n + r) * inner + i] += g;
                    }
                }
                Reduce::Max => {
                    let top = z[o * inner + i];
                    if let Some(r) = (0..n).find(|&r| x[(o * n + r) * inner + i] == top) {
                        dx[(o * n + r) * inner + i] += g;
                    }
                }
            }
        }
    }
}

impl Graph {
    fn reduce(&mut self, f: Reduce, name: &str, x: Var, axis: isize, keepdims: bool) -> Result<Var> {
        let a = self.axis(name, x, axis)?;
        let n = &self.nodes[x.0];
        let mut shape = n.shape.clone();
        if keepdims {
            shape[a] = 1;
        } else {
            shape.remove(a);
        }
        let batched = n.batched;
        Ok(self.push(Op::Reduce { f, axis: a, keepdims }, vec![x], shape, batched))
    }

    /// The sum over `axis` (counted as Keras counts it: the batch axis first, which a layer
    /// may not reduce; −1 the last), the axis kept with size 1 when `keepdims`.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for an axis out of range or the batch axis.
    pub fn sum(&mut self, x: Var, axis: isize, keepdims: bool) -> Result<Var> {
        self.reduce(Reduce::Sum, "sum", x, axis, keepdims)
    }
    /// The mean over `axis`. Errors as [`Graph::sum`].
    pub fn mean(&mut self, x: Var, axis: isize, keepdims: bool) -> Result<Var> {
        self.reduce(Reduce::Mean, "mean", x, axis, keepdims)
    }
    /// The largest value over `axis`. Errors as [`Graph::sum`].
    pub fn max(&mut self, x: Var, axis: isize, keepdims: bool) -> Result<Var> {
        self.reduce(Reduce::Max, "max", x, axis, keepdims)
    }
}
