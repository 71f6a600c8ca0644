//! `einsum` of two values, beside its gradient: `z[out] = Σ a[ia] · b[ib]` over the letters
//! not in the output; `da[ia] += dz[out] · b[ib]` and `db[ib] += dz[out] · a[ia]` over the same
//! sum. The letters name the whole axes, the batch axis first for a batched value, as Keras's
//! `ops.einsum("bqd,bkd->bqk", q, k)` does.
//!
//! It runs one multiply-add per combination of all the letters' positions: right for the
//! small contractions a layer spells with it (attention scores per head, a bilinear form);
//! for a large product, [`Graph::matmul`] runs on the GEMM.

use super::program::GradOut;
use super::{Graph, Node, Op, Var};
use crate::error::Result;

/// The most distinct letters an `einsum` may use.
pub const MAX_LETTERS: usize = 16;

/// A parsed `einsum`: each operand's and the result's letters, as indices into `letters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Einsum {
    /// The distinct letters, the result's first.
    letters: Vec<u8>,
    a: Vec<usize>,
    b: Vec<usize>,
    out: Vec<usize>,
}

/// Each letter's step in a value whose axes carry `of` (0 for a letter it lacks).
fn steps(of: &[usize], full: &[usize], letters: usize) -> [usize; MAX_LETTERS] {
    let mut s = [0usize; MAX_LETTERS];
    let mut step = 1;
    for (axis, &l) in of.iter().enumerate().rev() {
        s[l] += step;
        step *= full[axis];
    }
    let _ = letters;
    s
}

/// Calls `f(offset in a, in b, in z)` for every combination of the letters' positions.
fn each(e: &Einsum, dims: &[usize], sa: &[usize], sb: &[usize], sz: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let n = e.letters.len();
    if dims[..n].contains(&0) {
        return;
    }
    let mut idx = [0usize; MAX_LETTERS];
    let (mut ia, mut ib, mut iz) = (0usize, 0usize, 0usize);
    loop {
        f(ia, ib, iz);
        let mut l = n;
        loop {
            if l == 0 {
                return;
            }
            l -= 1;
            idx[l] += 1;
            ia += sa[l];
            ib += sb[l];
            iz += sz[l];
            if idx[l] < dims[l] {
                break;
            }
            ia -= sa[l] * dims[l];
            ib -= sb[l] * dims[l];
            iz -= sz[l] * dims[l];
            idx[l] = 0;
        }
    }
}

/// The letters' sizes and each value's steps for a batch of `batch`.
fn geometry(
    e: &Einsum,
    an: &Node,
    bn: &Node,
    zn: &Node,
    batch: usize,
) -> ([usize; MAX_LETTERS], [[usize; MAX_LETTERS]; 3]) {
    let (fa, fb, fz) = (an.full_shape(batch), bn.full_shape(batch), zn.full_shape(batch));
    let mut dims = [0usize; MAX_LETTERS];
    for (letters, full) in [(&e.a, &fa), (&e.b, &fb)] {
        for (axis, &l) in letters.iter().enumerate() {
            dims[l] = full[axis];
        }
    }
    let n = e.letters.len();
    (dims, [steps(&e.a, &fa, n), steps(&e.b, &fb, n), steps(&e.out, &fz, n)])
}

/// `z = einsum(a, b)`.
pub(crate) fn forward(
    e: &Einsum,
    (a, an): (&[f32], &Node),
    (b, bn): (&[f32], &Node),
    z: &mut [f32],
    zn: &Node,
    batch: usize,
) {
    z.fill(0.0);
    let (dims, [sa, sb, sz]) = geometry(e, an, bn, zn, batch);
    each(e, &dims, &sa, &sb, &sz, |ia, ib, iz| z[iz] += a[ia] * b[ib]);
}

/// `da += dz · b` (`which == 0`) or `db += dz · a`, summed as the forward sums (cleared first
/// unless `acc`).
pub(crate) fn backward(
    e: &Einsum,
    which: usize,
    (a, an): (&[f32], &Node),
    (b, bn): (&[f32], &Node),
    GradOut { dz, z: zn, batch, d, acc }: GradOut<'_>,
) {
    if !acc {
        d.fill(0.0);
    }
    let (dims, [sa, sb, sz]) = geometry(e, an, bn, zn, batch);
    if which == 0 {
        each(e, &dims, &sa, &sb, &sz, |ia, ib, iz| d[ia] += dz[iz] * b[ib]);
    } else {
        each(e, &dims, &sa, &sb, &sz, |ia, ib, iz| d[ib] += dz[iz] * a[ia]);
    }
}

impl Graph {
    /// Keras's `ops.einsum(subscripts, a, b)` for two values: `"ij,jk->ik"`, `"bqd,bkd->bqk"`,
    /// `"bi,ij->bj"`. The letters name whole axes, a batched value's first being its batch
    /// axis, which must stay first in the result.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) for subscripts that do not parse, do not match the
    /// ranks, give one letter two sizes, or move the batch axis.
    pub fn einsum(&mut self, subscripts: &str, a: Var, b: Var) -> Result<Var> {
        let bad = |g: &Graph, why: String| g.mismatch("einsum", &[a, b], &why);
        let spec: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
        let Some((ins, out)) = spec.split_once("->") else {
            return Err(bad(self, format!("subscripts \"A,B->C\", not {subscripts:?}")));
        };
        let Some((sa, sb)) = ins.split_once(',') else {
            return Err(bad(self, format!("two operands' subscripts, not {subscripts:?}")));
        };
        let valid = |s: &str| s.bytes().all(|c| c.is_ascii_lowercase());
        if !valid(sa) || !valid(sb) || !valid(out) {
            return Err(bad(self, format!("lowercase letters only, not {subscripts:?}")));
        }
        let mut letters: Vec<u8> = Vec::new();
        for c in out.bytes().chain(sa.bytes()).chain(sb.bytes()) {
            if !letters.contains(&c) {
                letters.push(c);
            }
        }
        if letters.len() > MAX_LETTERS || out.bytes().any(|c| !sa.contains(c as char) && !sb.contains(c as char)) {
            return Err(bad(self, format!("at most {MAX_LETTERS} letters, each of the result's in an operand")));
        }
        let (na, nb) = (self.nodes[a.0].clone(), self.nodes[b.0].clone());
        let (fa, fb) = (na.full_shape(1), nb.full_shape(1));
        if sa.len() != fa.len() || sb.len() != fb.len() {
            return Err(bad(self, format!("one letter per axis ({} and {}), not {subscripts:?}", fa.len(), fb.len())));
        }
        // The batch letter: first of each batched operand, the same in both, first in the result.
        let batch_letter = [(&na, sa), (&nb, sb)].iter().find(|(n, _)| n.batched).map(|(_, s)| s.as_bytes()[0]);
        if let Some(l) = batch_letter {
            let consistent = [(&na, sa), (&nb, sb)].iter().all(|(n, s)| {
                let at = s.bytes().position(|c| c == l);
                if n.batched {
                    at == Some(0)
                } else {
                    at.is_none()
                }
            });
            if !consistent || out.bytes().next() != Some(l) {
                return Err(bad(self, "the batch axis's letter first in each batched operand and the result".into()));
            }
        }
        let mut size = [0usize; 256];
        for (s, n, full) in [(sa, &na, &fa), (sb, &nb, &fb)] {
            for (axis, c) in s.bytes().enumerate() {
                if Some(c) == batch_letter && n.batched && axis == 0 {
                    continue;
                }
                let d = full[axis];
                if size[c as usize] != 0 && size[c as usize] != d {
                    return Err(bad(self, format!("one size for letter '{}'", c as char)));
                }
                size[c as usize] = d;
            }
        }
        let index = |c: u8| letters.iter().position(|&l| l == c).expect("collected");
        let e = Einsum {
            a: sa.bytes().map(index).collect(),
            b: sb.bytes().map(index).collect(),
            out: out.bytes().map(index).collect(),
            letters: letters.clone(),
        };
        let batched = batch_letter.is_some();
        let shape: Vec<usize> = out.bytes().skip(usize::from(batched)).map(|c| size[c as usize]).collect();
        Ok(self.push(Op::Einsum(e), vec![a, b], shape, batched))
    }
}
