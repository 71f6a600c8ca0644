//! The product behind Keras's `Dot(axes, normalize)` merge layer ([`super::Dot`]): per sample,
//! two tensors of rank 1 or 2 contracted over one axis each, as Keras's `batch_dot`.
//!
//! Each sample's input is read as a matrix with the contracted axis as `k`: `a` as
//! `A = [m, k]`, `b` as `B = [k, n]`, each stored as its input lies (transposed when the
//! contracted axis is not where the product wants it); a vector is `[1, k]` or `[k, 1]`. Then
//!
//! ```text
//! Y = A B                       [m, n], a vector's axis of length 1 dropped ([1] for two vectors)
//! dA = dY Bᵀ,   dB = Aᵀ dY      (each written in its input's own layout)
//! ```
//!
//! With `normalize`, each vector along a contracted axis is first scaled to unit L2 norm
//! (Keras's `l2_normalize`: `x / √max(Σx², 1e-12)`), and its gradient goes back through it:
//! `dx = (dx̂ − x̂ (x̂ · dx̂)) / ‖x‖` (just `dx̂ / ‖x‖` where the floor holds).

use crate::error::{Error, Result};
use crate::tensor::kernels;

/// One input as the product reads it.
#[derive(Debug, Clone, Copy, Default)]
struct Side {
    /// The contracted length and the other one (1 for a vector).
    k: usize,
    other: usize,
    /// The contracted axis is the last of the input's storage (its vectors are contiguous).
    last: bool,
}

impl Side {
    /// The reading of a per-sample `shape` contracted over Keras's `axis` (batch axis 0), and
    /// the axis it keeps in the output.
    fn of(shape: &[usize], axis: i64) -> Option<(Side, Option<usize>)> {
        let a = if axis < 0 { axis + shape.len() as i64 + 1 } else { axis };
        match (shape, a) {
            (&[d], 1) => Some((Side { k: d, other: 1, last: true }, None)),
            (&[r, c], 2) => Some((Side { k: c, other: r, last: true }, Some(r))),
            (&[r, c], 1) => Some((Side { k: r, other: c, last: false }, Some(c))),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.k * self.other
    }

    /// Scales each vector along the contracted axis of one sample `x` to unit norm into `out`,
    /// its norm into `norms` (`other` values).
    fn normalize(&self, x: &[f32], out: &mut [f32], norms: &mut [f32]) {
        let (k, other) = (self.k, self.other);
        let at = |v: usize, j: usize| if self.last { v * k + j } else { j * other + v };
        for (v, norm) in norms.iter_mut().enumerate().take(other) {
            let squares: f32 = (0..k).map(|j| x[at(v, j)] * x[at(v, j)]).sum();
            *norm = squares.max(1e-12).sqrt();
            for j in 0..k {
                out[at(v, j)] = x[at(v, j)] / *norm;
            }
        }
    }

    /// In place: the gradient of one sample's normalized input `dx̂` into the input's.
    fn normalize_backward(&self, xhat: &[f32], norms: &[f32], d: &mut [f32]) {
        let (k, other) = (self.k, self.other);
        let at = |v: usize, j: usize| if self.last { v * k + j } else { j * other + v };
        for (v, &norm) in norms.iter().enumerate().take(other) {
            // Where the floor 1e-12 holds the norm, it does not depend on x.
            let floored = norm <= 1e-6;
            let dot: f32 = if floored { 0.0 } else { (0..k).map(|j| xhat[at(v, j)] * d[at(v, j)]).sum() };
            for j in 0..k {
                d[at(v, j)] = (d[at(v, j)] - xhat[at(v, j)] * dot) / norm;
            }
        }
    }
}

/// A built `Dot`: the two inputs' readings and, with `normalize`, the normalized inputs and
/// their norms (the workspace, planned for the largest batch).
#[derive(Debug, Clone, Default)]
pub(crate) struct DotProduct {
    a: Side,
    b: Side,
    normalize: bool,
    normalized: [Vec<f32>; 2],
    norms: [Vec<f32>; 2],
}

impl DotProduct {
    /// Built for per-sample shapes `a`, `b` and Keras's `axes` (one per input): the product and
    /// the output's per-sample shape.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an axis that is not one of its input's, an input of rank
    /// other than 1 or 2 per sample, or contracted axes of different lengths.
    pub fn build(a: &[usize], b: &[usize], axes: [i64; 2], normalize: bool, layer: &str) -> Result<(Self, Vec<usize>)> {
        let bad = |expected: String| {
            Error::invalid(
                "Dot axes",
                format!("{axes:?} for inputs {a:?} and {b:?}"),
                format!("{expected} (layer {layer})"),
            )
        };
        let read = |shape: &[usize], axis: i64| {
            Side::of(shape, axis).ok_or_else(|| bad("one axis of each input, inputs of rank 1 or 2 per sample".into()))
        };
        let ((sa, keep_a), (sb, keep_b)) = (read(a, axes[0])?, read(b, axes[1])?);
        if sa.k != sb.k {
            return Err(bad(format!("contracted axes of one length ({} and {})", sa.k, sb.k)));
        }
        let mut shape: Vec<usize> = keep_a.into_iter().chain(keep_b).collect();
        if shape.is_empty() {
            shape.push(1);
        }
        let product = DotProduct { a: sa, b: sb, normalize, normalized: Default::default(), norms: Default::default() };
        Ok((product, shape))
    }

    /// Sizes the workspace for `max_batch` samples (only with `normalize`).
    pub fn plan(&mut self, max_batch: usize) {
        if !self.normalize {
            return;
        }
        for (i, side) in [self.a, self.b].into_iter().enumerate() {
            if self.normalized[i].len() < max_batch * side.len() {
                self.normalized[i] = vec![0.0; max_batch * side.len()];
                self.norms[i] = vec![0.0; max_batch * side.other];
            }
        }
    }

    /// The batch the workspace holds.
    pub fn planned_batch(&self) -> usize {
        self.normalized[0].len() / self.a.len().max(1)
    }

    /// The workspace's bytes for `max_batch` samples.
    pub fn workspace_bytes(&self, max_batch: usize) -> usize {
        if self.normalize {
            4 * max_batch * (self.a.len() + self.b.len() + self.a.other + self.b.other)
        } else {
            0
        }
    }

    /// `(m, k, n, trans_a, trans_b)` of one sample's product.
    fn dims(&self) -> (usize, usize, usize, bool, bool) {
        (self.a.other, self.a.k, self.b.other, !self.a.last, self.b.last)
    }

    /// `y` (`[batch, m·n]`) from inputs `a` and `b` of `batch` samples.
    pub fn forward(&mut self, a: &[f32], b: &[f32], y: &mut [f32], batch: usize) {
        let (la, lb) = (self.a.len(), self.b.len());
        if self.normalize {
            for s in 0..batch {
                let (oa, ob) = (self.a.other, self.b.other);
                self.a.normalize(
                    &a[s * la..][..la],
                    &mut self.normalized[0][s * la..][..la],
                    &mut self.norms[0][s * oa..][..oa],
                );
                self.b.normalize(
                    &b[s * lb..][..lb],
                    &mut self.normalized[1][s * lb..][..lb],
                    &mut self.norms[1][s * ob..][..ob],
                );
            }
        }
        let (a, b) = if self.normalize { (&self.normalized[0][..], &self.normalized[1][..]) } else { (a, b) };
        let (m, k, n, ta, tb) = self.dims();
        for s in 0..batch {
            kernels::matmul(&mut y[s * m * n..][..m * n], &a[s * la..][..la], &b[s * lb..][..lb], m, k, n, ta, tb, 0.0);
        }
    }

    /// The inputs' gradients `da`, `db` (each when wanted) from `dy`; `a`, `b` as given to
    /// [`DotProduct::forward`].
    pub fn backward(
        &self,
        a: &[f32],
        b: &[f32],
        dy: &[f32],
        da: Option<&mut [f32]>,
        db: Option<&mut [f32]>,
        batch: usize,
    ) {
        let (la, lb) = (self.a.len(), self.b.len());
        let (a, b) = if self.normalize { (&self.normalized[0][..], &self.normalized[1][..]) } else { (a, b) };
        let (m, k, n, ta, tb) = self.dims();
        if let Some(da) = da {
            for s in 0..batch {
                let (d, g, bs) = (&mut da[s * la..][..la], &dy[s * m * n..][..m * n], &b[s * lb..][..lb]);
                // dA = dY op(B)ᵀ, written as A is stored ([m, k], or [k, m] when transposed).
                if ta {
                    kernels::matmul(d, bs, g, k, n, m, tb, true, 0.0);
                } else {
                    kernels::matmul(d, g, bs, m, n, k, false, !tb, 0.0);
                }
                if self.normalize {
                    let o = self.a.other;
                    self.a.normalize_backward(&a[s * la..][..la], &self.norms[0][s * o..][..o], d);
                }
            }
        }
        if let Some(db) = db {
            for s in 0..batch {
                let (d, g, as_) = (&mut db[s * lb..][..lb], &dy[s * m * n..][..m * n], &a[s * la..][..la]);
                // dB = op(A)ᵀ dY, written as B is stored ([k, n], or [n, k] when transposed).
                if tb {
                    kernels::matmul(d, g, as_, n, m, k, true, ta, 0.0);
                } else {
                    kernels::matmul(d, as_, g, k, m, n, !ta, false, 0.0);
                }
                if self.normalize {
                    let o = self.b.other;
                    self.b.normalize_backward(&b[s * lb..][..lb], &self.norms[1][s * o..][..o], d);
                }
            }
        }
    }
}
