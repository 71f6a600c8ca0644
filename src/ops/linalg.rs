//! `matmul`, on the library's GEMM (its threads and SIMD kernels), beside its gradient:
//! `Z = A · B`, `dA += dZ · Bᵀ`, `dB += Aᵀ · dZ`.
//!
//! Two cases, as Keras's `ops.matmul` broadcasts them:
//! - `B` without the batch axis, `[k, n]`: every row of `A` (`[…, k]`, batched or not) times
//!   `B`; one GEMM of `m = rows of A` (a Dense layer's product).
//! - both batched, one sample `[s, k]` and `[k, t]`: a product per sample (attention's).

use super::{Graph, Op, Var};
use crate::error::Result;
use crate::tensor::kernels::matmul;

/// How a recorded `matmul` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// `[m, k] · [k, n]` with `m` every row of `A`.
    Rows {
        /// The inner dimension.
        k: usize,
        /// `B`'s columns.
        n: usize,
    },
    /// Per sample: `[s, k] · [k, t]`.
    PerSample {
        /// `A`'s rows per sample.
        s: usize,
        /// The inner dimension.
        k: usize,
        /// `B`'s columns per sample.
        t: usize,
    },
}

/// `Z = A · B` for a batch of `batch`.
pub(crate) fn forward(p: Product, a: &[f32], b: &[f32], z: &mut [f32], batch: usize) {
    match p {
        Product::Rows { k, n } => matmul(z, a, b, a.len() / k.max(1), k, n, false, false, 0.0),
        Product::PerSample { s, k, t } => {
            for i in 0..batch {
                let (ai, bi) = (&a[i * s * k..(i + 1) * s * k], &b[i * k * t..(i + 1) * k * t]);
                matmul(&mut z[i * s * t..(i + 1) * s * t], ai, bi, s, k, t, false, false, 0.0);
            }
        }
    }
}

/// `dA = dZ · Bᵀ` (`which == 0`) or `dB = Aᵀ · dZ` (`which == 1`), added to `d` when `acc`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    p: Product,
    which: usize,
    a: &[f32],
    b: &[f32],
    dz: &[f32],
    d: &mut [f32],
    acc: bool,
    batch: usize,
) {
    let beta = if acc { 1.0 } else { 0.0 };
    match p {
        Product::Rows { k, n } => {
            let m = a.len() / k.max(1);
            if which == 0 {
                matmul(d, dz, b, m, n, k, false, true, beta);
            } else {
                matmul(d, a, dz, k, m, n, true, false, beta);
            }
        }
        Product::PerSample { s, k, t } => {
            for i in 0..batch {
                let (ai, bi, gi) =
                    (&a[i * s * k..(i + 1) * s * k], &b[i * k * t..(i + 1) * k * t], &dz[i * s * t..(i + 1) * s * t]);
                if which == 0 {
                    matmul(&mut d[i * s * k..(i + 1) * s * k], gi, bi, s, t, k, false, true, beta);
                } else {
                    matmul(&mut d[i * k * t..(i + 1) * k * t], ai, gi, k, s, t, true, false, beta);
                }
            }
        }
    }
}

impl Graph {
    /// The matrix product `a · b` (see the [module docs](self) for the shapes it takes).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming both shapes when the inner dimensions differ
    /// or the case is not one of the two.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (na, nb) = (&self.nodes[a.0], &self.nodes[b.0]);
        let inner = |s: &[usize]| s.last().copied();
        match (na.batched, nb.batched, nb.shape.len()) {
            (_, false, 2) if !na.shape.is_empty() && inner(&na.shape) == Some(nb.shape[0]) => {
                let (k, n) = (nb.shape[0], nb.shape[1]);
                let mut shape = na.shape.clone();
                *shape.last_mut().expect("rank ≥ 1") = n;
                let batched = na.batched;
                Ok(self.push(Op::MatMul(Product::Rows { k, n }), vec![a, b], shape, batched))
            }
            (true, true, 2) if na.shape.len() == 2 && na.shape[1] == nb.shape[0] => {
                let (s, k, t) = (na.shape[0], na.shape[1], nb.shape[1]);
                Ok(self.push(Op::MatMul(Product::PerSample { s, k, t }), vec![a, b], vec![s, t], true))
            }
            _ => Err(self.mismatch(
                "matmul",
                &[a, b],
                "[…, k] · [k, n] (the second without the batch axis), or per sample [s, k] · [k, t]",
            )),
        }
    }
}
