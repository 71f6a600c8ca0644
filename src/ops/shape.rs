//! Ops that move values without computing on them, beside their gradients (the same moves,
//! backwards): `reshape` (the gradient reshaped back), `transpose` (the inverse permutation),
//! `concatenate` (the gradient cut back into its parts).

use super::graph::MAX_RANK;
use super::{Graph, Node, Op, Var};
use crate::error::Result;

/// `z = x` with its axes permuted: `z`'s axis `i` is `x`'s axis `perm[i]` (whole shapes);
/// added to `z` when `accumulate`.
pub(crate) fn permute(x: &[f32], full: &[usize], perm: &[usize], z: &mut [f32], accumulate: bool) {
    let rank = full.len();
    // x's step along each of its axes, then z's shape and x's steps in z's axis order.
    let mut step = [1usize; MAX_RANK];
    for i in (0..rank.saturating_sub(1)).rev() {
        step[i] = step[i + 1] * full[i + 1];
    }
    let (mut zshape, mut zstep) = ([0usize; MAX_RANK], [0usize; MAX_RANK]);
    for (i, &p) in perm.iter().enumerate() {
        zshape[i] = full[p];
        zstep[i] = step[p];
    }
    let mut idx = [0usize; MAX_RANK];
    let mut at = 0usize;
    for v in z.iter_mut() {
        if accumulate {
            *v += x[at];
        } else {
            *v = x[at];
        }
        for d in (0..rank).rev() {
            idx[d] += 1;
            at += zstep[d];
            if idx[d] < zshape[d] {
                break;
            }
            at -= zstep[d] * zshape[d];
            idx[d] = 0;
        }
    }
}

/// A concatenation along `axis` of the recorded shapes, for a batch of `batch`: the number of
/// blocks (`outer`) and the result's block length; part `i`'s block is its own
/// `shape[axis] · inner` values (see [`part_block`]).
pub(crate) fn outer_and_total(z: &Node, axis: usize, batch: usize) -> (usize, usize) {
    let full = z.full_shape(batch);
    let a = axis + usize::from(z.batched);
    (full[..a].iter().product(), full[a..].iter().product())
}

/// One part's block length in a concatenation along `axis` (of the recorded shape).
pub(crate) fn part_block(part: &Node, axis: usize) -> usize {
    part.shape[axis..].iter().product()
}

impl Graph {
    /// `x` with one sample's shape changed to `shape` (the batch axis kept; one `-1` is
    /// inferred), as Keras's `Reshape` layer takes its `target_shape`.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) when the sizes differ.
    pub fn reshape(&mut self, x: Var, shape: &[isize]) -> Result<Var> {
        let n = &self.nodes[x.0];
        let size: usize = n.shape.iter().product();
        let known: usize = shape.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
        let free = shape.iter().filter(|&&d| d < 0).count();
        let target: Option<Vec<usize>> = match free {
            0 if known == size => Some(shape.iter().map(|&d| d as usize).collect()),
            1 if known > 0 && size.is_multiple_of(known) => {
                Some(shape.iter().map(|&d| if d < 0 { size / known } else { d as usize }).collect())
            }
            _ => None,
        };
        let Some(target) = target.filter(|t| t.len() + usize::from(n.batched) <= MAX_RANK) else {
            return Err(self.mismatch("reshape", &[x], &format!("a shape of {size} values per sample, not {shape:?}")));
        };
        let batched = n.batched;
        Ok(self.push(Op::Reshape, vec![x], target, batched))
    }

    /// `x` with its axes permuted as Keras's `ops.transpose(x, axes)`: axes counted with the
    /// batch axis first, which stays first.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for a list that is not a permutation of the axes or
    /// moves the batch axis.
    pub fn transpose(&mut self, x: Var, axes: &[usize]) -> Result<Var> {
        let n = &self.nodes[x.0];
        let rank = n.shape.len() + usize::from(n.batched);
        let mut seen = axes.to_vec();
        seen.sort_unstable();
        if seen != (0..rank).collect::<Vec<_>>() || (n.batched && axes[0] != 0) {
            return Err(self.mismatch(
                "transpose",
                &[x],
                &format!("a permutation of the {rank} axes keeping the batch axis first, not {axes:?}"),
            ));
        }
        let full = n.full_shape(1);
        let shape: Vec<usize> = axes.iter().map(|&a| full[a]).skip(usize::from(n.batched)).collect();
        // (The permutation's length is the rank, which is at most MAX_RANK already.)
        let batched = n.batched;
        Ok(self.push(Op::Transpose(axes.to_vec()), vec![x], shape, batched))
    }

    /// The values joined along `axis` (counted as Keras counts it).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming the shapes when they differ off `axis` or
    /// some are batched and some not.
    pub fn concatenate(&mut self, xs: &[Var], axis: isize) -> Result<Var> {
        let Some(&first) = xs.first() else {
            return Err(crate::Error::Empty { what: "ops.concatenate's list of values".into() });
        };
        let a = self.axis("concatenate", first, axis)?;
        let f = &self.nodes[first.0];
        let (mut shape, batched) = (f.shape.clone(), f.batched);
        for &x in &xs[1..] {
            let n = &self.nodes[x.0];
            let fits = n.batched == batched
                && n.shape.len() == shape.len()
                && n.shape.iter().zip(&shape).enumerate().all(|(i, (p, q))| i == a || p == q);
            if !fits {
                return Err(self.mismatch("concatenate", xs, "shapes equal but for the joined axis"));
            }
            shape[a] += n.shape[a];
        }
        Ok(self.push(Op::Concatenate(a), xs.to_vec(), shape, batched))
    }
}
