//! Ops that pick values by position, beside their gradients (the picked positions' gradients
//! added back where they came from):
//!
//! | op | z | gradient |
//! |---|---|---|
//! | `slice(x, axis, start, len)` | `x[…, start:start+len, …]` | `dz` into the slice's place, 0 elsewhere |
//! | `take(x, indices, axis)` | `x` at `indices` along `axis` | each `dz` added at the index it came from; none to `indices` |
//! | `one_hot(x, depth)` | 1 at the integer `x`, 0 elsewhere (a new last axis) | none |
//! | `where(c, a, b)` | `a` where `c ≠ 0`, else `b` (broadcast) | `dz` to `a` where `c ≠ 0`, to `b` elsewhere; none to `c` |
//!
//! An index that is not an integer in range gives NaN (as Keras's jax backend's `take` fills
//! out-of-bounds gathers), which `TerminateOnNaN` and the History show, rather than a silent
//! value; its gradient goes nowhere.

use super::graph::MAX_RANK;
use super::vjp::GradOut;
use super::{Graph, Node, Op, Var};
use crate::error::Result;

/// How a recorded `take` gathers: `groups` of (`outer` blocks of `n` rows of `inner` values),
/// `m` indices per group; the groups' strides in `x` and in the indices (0: shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gather {
    /// `x`'s extent along the axis.
    pub n: usize,
    /// Values per row (after the axis).
    pub inner: usize,
    /// Whether `x` and the indices are both batched (a gather per sample).
    pub per_sample: bool,
    /// The axis in `x`'s recorded shape.
    pub axis: usize,
}

/// The row an index names, or `None` for one that is not an integer in `0..n`.
fn row(index: f32, n: usize) -> Option<usize> {
    (index >= 0.0 && index.fract() == 0.0 && (index as usize) < n).then_some(index as usize)
}

/// `(groups, outer, m, group strides of x, of the indices)` for a gather of `x` by `idx`.
fn geometry(g: &Gather, xn: &Node, idx_len: usize, batch: usize) -> (usize, usize, usize, usize, usize) {
    let x_full = xn.full_shape(batch);
    let a = g.axis + usize::from(xn.batched);
    let x_len: usize = x_full.iter().product();
    if g.per_sample {
        let per_x = x_len / batch.max(1);
        let outer = x_full[1..a].iter().product();
        (batch, outer, idx_len / batch.max(1), per_x, idx_len / batch.max(1))
    } else {
        (1, x_full[..a].iter().product(), idx_len, x_len, 0)
    }
}

/// `z = take(x, idx)`.
pub(crate) fn take_forward(g: &Gather, (x, xn): (&[f32], &Node), idx: &[f32], z: &mut [f32], batch: usize) {
    let (groups, outer, m, xg, ig) = geometry(g, xn, idx.len(), batch);
    let (n, inner) = (g.n, g.inner);
    for grp in 0..groups {
        for o in 0..outer {
            for k in 0..m {
                let at = ((grp * outer + o) * m + k) * inner;
                let out = &mut z[at..at + inner];
                match row(idx[grp * ig + k], n) {
                    Some(r) => {
                        let from = grp * xg + (o * n + r) * inner;
                        out.copy_from_slice(&x[from..from + inner]);
                    }
                    None => out.fill(f32::NAN),
                }
            }
        }
    }
}

/// `dx += scatter(dz)` (cleared first unless `acc`).
pub(crate) fn take_backward(g: &Gather, xn: &Node, idx: &[f32], dz: &[f32], dx: &mut [f32], acc: bool, batch: usize) {
    if !acc {
        dx.fill(0.0);
    }
    let (groups, outer, m, xg, ig) = geometry(g, xn, idx.len(), batch);
    let (n, inner) = (g.n, g.inner);
    for grp in 0..groups {
        for o in 0..outer {
            for k in 0..m {
                if let Some(r) = row(idx[grp * ig + k], n) {
                    let at = ((grp * outer + o) * m + k) * inner;
                    let to = grp * xg + (o * n + r) * inner;
                    dx[to..to + inner].iter_mut().zip(&dz[at..at + inner]).for_each(|(d, g)| *d += g);
                }
            }
        }
    }
}

/// `z = x[…, start:start+len, …]` around `(outer, n, inner)`.
pub(crate) fn slice_forward(
    x: &[f32],
    (outer, n, inner): (usize, usize, usize),
    start: usize,
    len: usize,
    z: &mut [f32],
) {
    for o in 0..outer {
        let from = (o * n + start) * inner;
        z[o * len * inner..(o + 1) * len * inner].copy_from_slice(&x[from..from + len * inner]);
    }
}

/// `dx[…, start:start+len, …] += dz` (the rest cleared unless `acc`).
pub(crate) fn slice_backward(
    dz: &[f32],
    (outer, n, inner): (usize, usize, usize),
    start: usize,
    len: usize,
    dx: &mut [f32],
    acc: bool,
) {
    if !acc {
        dx.fill(0.0);
    }
    for o in 0..outer {
        let to = (o * n + start) * inner;
        let from = &dz[o * len * inner..(o + 1) * len * inner];
        dx[to..to + len * inner].iter_mut().zip(from).for_each(|(d, g)| *d += g);
    }
}

/// `z[…, k] = 1` where `x = k`.
pub(crate) fn one_hot_forward(x: &[f32], depth: usize, z: &mut [f32]) {
    z.fill(0.0);
    for (i, &v) in x.iter().enumerate() {
        if let Some(k) = row(v, depth) {
            z[i * depth + k] = 1.0;
        }
    }
}

/// Calls `f(out, c, a, b)` with the offsets of each element of `out` in the three operands.
fn each3(out: &[usize], s: [[usize; MAX_RANK]; 3], mut f: impl FnMut(usize, usize, usize, usize)) {
    let total: usize = out.iter().product();
    let mut idx = [0usize; MAX_RANK];
    let mut at = [0usize; 3];
    for o in 0..total {
        f(o, at[0], at[1], at[2]);
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            for (p, st) in at.iter_mut().zip(&s) {
                *p += st[d];
            }
            if idx[d] < out[d] {
                break;
            }
            for (p, st) in at.iter_mut().zip(&s) {
                *p -= st[d] * out[d];
            }
            idx[d] = 0;
        }
    }
}

/// The three operands' steps in `z`'s whole shape.
fn where_steps(ns: [&Node; 3], z: &Node, batch: usize) -> [[usize; MAX_RANK]; 3] {
    let zf = z.full_shape(batch);
    ns.map(|n| super::broadcast::strides(&n.full_shape(batch), &zf))
}

/// `z = c ≠ 0 ? a : b`.
pub(crate) fn where_forward(ops: [(&[f32], &Node); 3], z: &mut [f32], zn: &Node, batch: usize) {
    let [(c, cn), (a, an), (b, bn)] = ops;
    let s = where_steps([cn, an, bn], zn, batch);
    each3(&zn.full_shape(batch), s, |o, i, j, k| z[o] = if c[i] != 0.0 { a[j] } else { b[k] });
}

/// `da += dz` where `c ≠ 0` (`which == 1`), `db += dz` elsewhere (`which == 2`).
pub(crate) fn where_backward(which: usize, ops: [(&[f32], &Node); 3], out: GradOut<'_>) {
    let GradOut { dz, z: zn, batch, d, acc } = out;
    if !acc {
        d.fill(0.0);
    }
    if which == 0 {
        return;
    }
    let [(c, cn), (_, an), (_, bn)] = ops;
    let s = where_steps([cn, an, bn], zn, batch);
    each3(&zn.full_shape(batch), s, |o, i, j, k| {
        let picked_a = c[i] != 0.0;
        if which == 1 && picked_a {
            d[j] += dz[o];
        } else if which == 2 && !picked_a {
            d[k] += dz[o];
        }
    });
}

impl Graph {
    /// `x[…, start:start+len, …]` along `axis` (counted as Keras counts it), as Python's
    /// slicing `x[:, start:start+len]` in a Keras layer.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for an axis or range outside the value.
    pub fn slice(&mut self, x: Var, axis: isize, start: usize, len: usize) -> Result<Var> {
        let a = self.axis("slice", x, axis)?;
        let n = &self.nodes[x.0];
        if len == 0 || start + len > n.shape[a] {
            let expected = format!("a range inside 0..{} on axis {axis}, not {start}..{}", n.shape[a], start + len);
            return Err(self.mismatch("slice", &[x], &expected));
        }
        let mut shape = n.shape.clone();
        shape[a] = len;
        let batched = n.batched;
        Ok(self.push(Op::Slice { axis: a, start, len }, vec![x], shape, batched))
    }

    /// `x` with a new axis of size 1 at `axis` (Keras's `ops.expand_dims`).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for an axis out of range.
    pub fn expand_dims(&mut self, x: Var, axis: isize) -> Result<Var> {
        let n = &self.nodes[x.0];
        let rank = n.shape.len() + usize::from(n.batched) + 1;
        let full = if axis < 0 { axis + rank as isize } else { axis };
        let first = isize::from(n.batched);
        if full < first || full >= rank as isize {
            return Err(self.mismatch("expand_dims", &[x], &format!("an axis in [{first}, {rank}), not {axis}")));
        }
        let mut shape: Vec<isize> = n.shape.iter().map(|&d| d as isize).collect();
        shape.insert((full - first) as usize, 1);
        self.reshape(x, &shape)
    }

    /// The values stacked along a new axis `axis` (Keras's `ops.stack`).
    ///
    /// # Errors
    /// As [`Graph::concatenate`]: the shapes must be equal.
    pub fn stack(&mut self, xs: &[Var], axis: isize) -> Result<Var> {
        let expanded: Vec<Var> = xs.iter().map(|&x| self.expand_dims(x, axis)).collect::<Result<_>>()?;
        self.concatenate(&expanded, axis)
    }

    /// `x` at `indices` along `axis` (Keras's `ops.take`): a table's rows by token id
    /// (`take(table, ids, 0)`, `table` a weight) or a value's steps by fixed positions. The
    /// indices are integer values (a model input or a constant); an index out of range gives
    /// NaN (see the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for an axis out of range, batched indices into a
    /// weight along any axis but 0, or a batched value indexed along its batch axis.
    pub fn take(&mut self, x: Var, indices: Var, axis: isize) -> Result<Var> {
        let (xn, iname) = (&self.nodes[x.0], &self.nodes[indices.0]);
        let (xb, ib) = (xn.batched, iname.batched);
        let a = self.axis("take", x, axis)?;
        if !xb && ib && a != 0 {
            return Err(self.mismatch("take", &[x, indices], "axis 0 when a weight is indexed by batched indices"));
        }
        let (xn, iname) = (&self.nodes[x.0], &self.nodes[indices.0]);
        let mut shape: Vec<usize> = xn.shape[..a].to_vec();
        shape.extend(&iname.shape);
        shape.extend(&xn.shape[a + 1..]);
        let batched = xb || ib;
        if shape.len() + usize::from(batched) > MAX_RANK {
            return Err(self.mismatch("take", &[x, indices], &format!("a result of at most {MAX_RANK} axes")));
        }
        let g = Gather { n: xn.shape[a], inner: xn.shape[a + 1..].iter().product(), per_sample: xb && ib, axis: a };
        Ok(self.push(Op::Take(g), vec![x, indices], shape, batched))
    }

    /// A new last axis of `depth`: 1 at the integer value of `x`, 0 elsewhere (Keras's
    /// `ops.one_hot`); no gradient flows through it.
    pub fn one_hot(&mut self, x: Var, depth: usize) -> Var {
        let n = &self.nodes[x.0];
        let mut shape = n.shape.clone();
        shape.push(depth);
        let batched = n.batched;
        self.push(Op::OneHot(depth), vec![x], shape, batched)
    }

    /// `a` where `condition` is not 0, else `b`, broadcast together (Keras's `ops.where`).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming the shapes when they do not broadcast.
    pub fn where_(&mut self, condition: Var, a: Var, b: Var) -> Result<Var> {
        let [c, x, y] = [condition, a, b].map(|v| (self.nodes[v.0].shape.clone(), self.nodes[v.0].batched));
        let both = super::broadcast::broadcast((&x.0, x.1), (&y.0, y.1))
            .and_then(|(shape, batched)| super::broadcast::broadcast((&c.0, c.1), (&shape, batched)));
        match both {
            Ok((shape, batched)) => Ok(self.push(Op::Where, vec![condition, a, b], shape, batched)),
            Err(expected) => Err(self.mismatch("where", &[condition, a, b], expected)),
        }
    }
}
