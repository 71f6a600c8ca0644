//! `einsum` of two values, beside its gradient: `z[out] = Σ a[ia] · b[ib]` over the letters
//! not in the output; `da[ia] += dz[out] · b[ib]` and `db[ib] += dz[out] · a[ia]` over the same
//! sum. The letters name the whole axes, the batch axis first for a batched value, as Keras's
//! `ops.einsum("bqd,bkd->bqk", q, k)` does.
//!
//! # On the GEMM
//! A contraction whose letters each appear once per operand and nowhere else alone (every
//! common one: `"btf,fhd->bthd"`, `"bthd,bshd->bhts"`, `"bhts,bshd->bthd"`) runs as matrix
//! products: the letters fall in four groups, the batch-like ones `B` (in both operands and the
//! result), `M` (in `a` and the result), `N` (in `b` and the result) and the contracted `K`;
//! `a` is laid out as `[B, M, K]`, `b` as `[B, K, N]` (a copy only when its axes are not in
//! that order already), one product `[M, K] · [K, N]` per `B` index gives `[B, M, N]`, laid out
//! in the result's order. The gradients are the same products' (`dA = dZ · Bᵀ`,
//! `dB = Aᵀ · dZ`), laid back. Any other `einsum` (a letter repeated, or summed away in one
//! operand) runs one multiply-add per combination of all the letters' positions.

use super::vjp::GradOut;
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
    /// Its plan as matrix products, when it has one (see the [module docs](self)).
    products: Option<Products>,
}

/// An `einsum` as matrix products: the letter groups, and the axis orders that lay `a` out as
/// `[B, M, K]`, `b` as `[B, K, N]`, and `[B, M, N]` out as the result (each `None` when the
/// value's axes are in that order already).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Products {
    batch: Vec<usize>,
    m: Vec<usize>,
    n: Vec<usize>,
    k: Vec<usize>,
    perm_a: Option<Vec<usize>>,
    perm_b: Option<Vec<usize>>,
    perm_z: Option<Vec<usize>>,
}

impl Products {
    /// The plan for these letters, if the contraction has one.
    fn plan(a: &[usize], b: &[usize], out: &[usize]) -> Option<Products> {
        let once = |s: &[usize]| s.iter().enumerate().all(|(i, l)| !s[..i].contains(l));
        if !once(a) || !once(b) || !once(out) {
            return None;
        }
        // No letter summed away inside one operand.
        if a.iter().any(|l| !b.contains(l) && !out.contains(l)) || b.iter().any(|l| !a.contains(l) && !out.contains(l))
        {
            return None;
        }
        let in_all = |l: &usize| a.contains(l) && b.contains(l) && out.contains(l);
        let batch: Vec<usize> = out.iter().copied().filter(in_all).collect();
        let m: Vec<usize> = out.iter().copied().filter(|l| a.contains(l) && !b.contains(l)).collect();
        let n: Vec<usize> = out.iter().copied().filter(|l| b.contains(l) && !a.contains(l)).collect();
        let k: Vec<usize> = a.iter().copied().filter(|l| b.contains(l) && !out.contains(l)).collect();
        // The axis of `of` holding each letter of `order`; `None` when that is the identity.
        let perm = |of: &[usize], order: Vec<usize>| -> Option<Vec<usize>> {
            let p: Vec<usize> =
                order.iter().map(|l| of.iter().position(|x| x == l).expect("a letter of the operand")).collect();
            (p.iter().enumerate().any(|(i, &x)| i != x)).then_some(p)
        };
        let cat = |parts: [&[usize]; 3]| parts.concat();
        let zorder = cat([&batch, &m, &n]);
        let perm_z = {
            let p: Vec<usize> = out.iter().map(|l| zorder.iter().position(|x| x == l).expect("grouped")).collect();
            (p.iter().enumerate().any(|(i, &x)| i != x)).then_some(p)
        };
        Some(Products {
            perm_a: perm(a, cat([&batch, &m, &k])),
            perm_b: perm(b, cat([&batch, &k, &n])),
            perm_z,
            batch,
            m,
            n,
            k,
        })
    }

    /// `(B, M, N, K)` sizes from each letter's size.
    fn sizes(&self, dims: &[usize]) -> (usize, usize, usize, usize) {
        let size = |g: &[usize]| g.iter().map(|&l| dims[l]).product::<usize>();
        (size(&self.batch), size(&self.m), size(&self.n), size(&self.k))
    }
}

/// The workspace an `einsum` on matrix products needs: room for `a` and `b` laid out, the
/// result laid out, and one operand's gradient, at their sizes `a`, `b`, `z`.
pub(crate) fn workspace(e: &Einsum, a: usize, b: usize, z: usize) -> usize {
    if e.products.is_some() {
        a + b + z + a.max(b)
    } else {
        0
    }
}

/// The workspace cut into room for `a`, `b` and the result laid out (`a`, `b`, `z` values),
/// and the rest (an operand's gradient).
fn rooms(room: &mut [f32], a: usize, b: usize, z: usize) -> [&mut [f32]; 4] {
    let (ra, rest) = room.split_at_mut(a);
    let (rb, rest) = rest.split_at_mut(b);
    let (rz, rd) = rest.split_at_mut(z);
    [ra, rb, rz, rd]
}

/// The inverse of an axis order.
fn inverse(p: &[usize]) -> [usize; super::graph::MAX_RANK] {
    let mut inv = [0usize; super::graph::MAX_RANK];
    for (i, &x) in p.iter().enumerate() {
        inv[x] = i;
    }
    inv
}

/// `value` laid out in `order` (into `room`), or itself when `order` is `None`.
fn laid_out<'a>(value: &'a [f32], full: &[usize], order: &Option<Vec<usize>>, room: &'a mut [f32]) -> &'a [f32] {
    match order {
        None => value,
        Some(p) => {
            super::shape::permute(value, full, p, &mut room[..value.len()], false);
            &room[..value.len()]
        }
    }
}

/// The whole shape in `order`.
fn reordered(full: &[usize], order: &[usize]) -> super::graph::Dims {
    let mut d = super::graph::Dims::empty();
    for &i in order {
        d.push(full[i]);
    }
    d
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

/// `z = einsum(a, b)`, on matrix products when it has a plan for them (`room` its workspace).
pub(crate) fn forward(
    e: &Einsum,
    (a, an): (&[f32], &Node),
    (b, bn): (&[f32], &Node),
    z: &mut [f32],
    zn: &Node,
    batch: usize,
    room: &mut [f32],
) {
    let (dims, [sa, sb, sz]) = geometry(e, an, bn, zn, batch);
    if let Some(p) = &e.products {
        let (nb, m, n, k) = p.sizes(&dims);
        let [ra, rb, rz, _] = rooms(room, a.len(), b.len(), z.len());
        let a2 = laid_out(a, &an.full_shape(batch), &p.perm_a, ra);
        let b2 = laid_out(b, &bn.full_shape(batch), &p.perm_b, rb);
        let target: &mut [f32] = if p.perm_z.is_some() { &mut *rz } else { &mut *z };
        for i in 0..nb {
            let (ai, bi) = (&a2[i * m * k..(i + 1) * m * k], &b2[i * k * n..(i + 1) * k * n]);
            crate::tensor::kernels::matmul(&mut target[i * m * n..(i + 1) * m * n], ai, bi, m, k, n, false, false, 0.0);
        }
        if let Some(perm) = &p.perm_z {
            // [B, M, N] laid out as the result: the result's axis i is Z's axis perm[i].
            let zfull = reordered(&zn.full_shape(batch), &inverse(perm)[..perm.len()]);
            super::shape::permute(rz, &zfull, perm, z, false);
        }
        return;
    }
    z.fill(0.0);
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
    room: &mut [f32],
) {
    let (dims, [sa, sb, sz]) = geometry(e, an, bn, zn, batch);
    if let Some(p) = &e.products {
        let (nb, m, n, k) = p.sizes(&dims);
        let [ra, rb, rz, rd] = rooms(room, a.len(), b.len(), dz.len());
        let (afull, bfull) = (an.full_shape(batch), bn.full_shape(batch));
        // dZ in [B, M, N]: the result's layout taken back.
        let dz2: &[f32] = match &p.perm_z {
            None => dz,
            Some(perm) => {
                let inv = inverse(perm);
                super::shape::permute(dz, &zn.full_shape(batch), &inv[..perm.len()], rz, false);
                rz
            }
        };
        let (order, full, len) = if which == 0 { (&p.perm_a, &afull, a.len()) } else { (&p.perm_b, &bfull, b.len()) };
        // The operand's gradient in its laid-out order: straight into `d` when that is its own.
        let beta = if acc && order.is_none() { 1.0 } else { 0.0 };
        let target: &mut [f32] = if order.is_some() { &mut rd[..len] } else { &mut *d };
        use crate::tensor::kernels::matmul;
        if which == 0 {
            let b2 = laid_out(b, &bfull, &p.perm_b, rb);
            for i in 0..nb {
                let (gi, bi) = (&dz2[i * m * n..(i + 1) * m * n], &b2[i * k * n..(i + 1) * k * n]);
                matmul(&mut target[i * m * k..(i + 1) * m * k], gi, bi, m, n, k, false, true, beta);
            }
        } else {
            let a2 = laid_out(a, &afull, &p.perm_a, ra);
            for i in 0..nb {
                let (ai, gi) = (&a2[i * m * k..(i + 1) * m * k], &dz2[i * m * n..(i + 1) * m * n]);
                matmul(&mut target[i * k * n..(i + 1) * k * n], ai, gi, k, m, n, true, false, beta);
            }
        }
        if let Some(perm) = order {
            // Laid back: the operand's axis i is the laid-out axis inverse[i].
            let inv = inverse(perm);
            let laid = reordered(full, perm);
            super::shape::permute(&rd[..len], &laid, &inv[..perm.len()], d, acc);
        }
        return;
    }
    if !acc {
        d.fill(0.0);
    }
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
        let (ia, ib, io): (Vec<usize>, Vec<usize>, Vec<usize>) =
            (sa.bytes().map(index).collect(), sb.bytes().map(index).collect(), out.bytes().map(index).collect());
        let products = Products::plan(&ia, &ib, &io);
        let e = Einsum { a: ia, b: ib, out: io, letters: letters.clone(), products };
        let batched = batch_letter.is_some();
        let shape: Vec<usize> = out.bytes().skip(usize::from(batched)).map(|c| size[c as usize]).collect();
        Ok(self.push(Op::Einsum(Box::new(e)), vec![a, b], shape, batched))
    }
}
