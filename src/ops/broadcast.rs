//! Element-wise ops of two values, broadcast as NumPy broadcasts: shapes aligned from the
//! right, a dimension of 1 (or a missing one) repeated. A value without the batch axis (a
//! weight, a constant) broadcasts over the batch. Each rule beside its partial derivatives:
//!
//! | op | z | ∂z/∂a | ∂z/∂b |
//! |---|---|---|---|
//! | `add` | a + b | 1 | 1 |
//! | `subtract` | a − b | 1 | −1 |
//! | `multiply` | a · b | b | a |
//! | `divide` | a / b | 1/b | −a/b² |
//! | `maximum` | max(a, b) | 1 where a ≥ b | 1 where a < b |
//! | `minimum` | min(a, b) | 1 where a ≤ b | 1 where a > b |
//!
//! A broadcast operand's gradient is the sum over the positions it was repeated to.

use super::graph::{Dims, MAX_RANK};
use super::vjp::GradOut;
use super::{Graph, Node, Op, Var};
use crate::error::Result;

/// An element-wise function of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `add` (see the table above).
    Add,
    /// `subtract` (see the table above).
    Subtract,
    /// `multiply` (see the table above).
    Multiply,
    /// `divide` (see the table above).
    Divide,
    /// `maximum` (see the table above).
    Maximum,
    /// `minimum` (see the table above).
    Minimum,
    /// `relu(a + b)`: an `add` whose only reader is a `relu`, fused by the program into one
    /// pass (a layer's bias and activation); gradient 1 to each where `a + b > 0`.
    AddRelu,
}

impl Binary {
    /// `(∂z/∂a, ∂z/∂b)` at `(a, b)`.
    fn partials(self, a: f32, b: f32) -> (f32, f32) {
        match self {
            Binary::Add => (1.0, 1.0),
            Binary::Subtract => (1.0, -1.0),
            Binary::Multiply => (b, a),
            Binary::Divide => (1.0 / b, -a / (b * b)),
            Binary::Maximum => (f32::from(a >= b), f32::from(a < b)),
            Binary::Minimum => (f32::from(a <= b), f32::from(a > b)),
            Binary::AddRelu => (f32::from(a + b > 0.0), f32::from(a + b > 0.0)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Subtract => "subtract",
            Binary::Multiply => "multiply",
            Binary::Divide => "divide",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
            Binary::AddRelu => "add then relu",
        }
    }
}

/// For each axis of `out`, the step in `input` (0 where the input is repeated along it):
/// `input` aligned to `out` from the right.
pub(crate) fn strides(input: &[usize], out: &[usize]) -> [usize; MAX_RANK] {
    let mut steps = [0; MAX_RANK];
    let mut step = 1;
    for (i, &d) in input.iter().enumerate().rev() {
        let o = out.len() - input.len() + i;
        steps[o] = if d == 1 { 0 } else { step };
        step *= d;
    }
    steps
}

/// Calls `f(out_index, a_index, b_index)` for every element of `out`.
fn each(out: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let total: usize = out.iter().product();
    let mut idx = [0usize; MAX_RANK];
    let (mut ia, mut ib) = (0usize, 0usize);
    for o in 0..total {
        f(o, ia, ib);
        // The next multi-index, carrying from the last axis.
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < out[d] {
                break;
            }
            ia -= sa[d] * out[d];
            ib -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// The whole shapes of a binary op's operands and result for a batch of `batch`.
fn shapes(a: &Node, b: &Node, z: &Node, batch: usize) -> (Dims, Dims, Dims) {
    (a.full_shape(batch), b.full_shape(batch), z.full_shape(batch))
}

/// `z = a ∘ b`.
pub(crate) fn forward(f: Binary, a: (&[f32], &Node), b: (&[f32], &Node), z: &mut [f32], zn: &Node, batch: usize) {
    // One loop per function (monomorphized), so each vectorizes.
    match f {
        Binary::Add => forward_with(|a, b| a + b, a, b, z, zn, batch),
        Binary::Subtract => forward_with(|a, b| a - b, a, b, z, zn, batch),
        Binary::Multiply => forward_with(|a, b| a * b, a, b, z, zn, batch),
        Binary::Divide => forward_with(|a, b| a / b, a, b, z, zn, batch),
        Binary::Maximum => forward_with(f32::max, a, b, z, zn, batch),
        Binary::Minimum => forward_with(f32::min, a, b, z, zn, batch),
        Binary::AddRelu => forward_with(|a, b| (a + b).max(0.0), a, b, z, zn, batch),
    }
}

fn forward_with(
    op: impl Fn(f32, f32) -> f32,
    (a, an): (&[f32], &Node),
    (b, bn): (&[f32], &Node),
    z: &mut [f32],
    zn: &Node,
    batch: usize,
) {
    let (sa, sb, sz) = shapes(an, bn, zn, batch);
    if sa == sz && sb == sz {
        for ((z, &a), &b) in z.iter_mut().zip(a).zip(b) {
            *z = op(a, b);
        }
    } else if sa == sz && sz.ends_with(&sb) {
        // A trailing operand (a bias): row by row.
        for (zr, ar) in z.chunks_exact_mut(b.len().max(1)).zip(a.chunks_exact(b.len().max(1))) {
            for ((z, &a), &b) in zr.iter_mut().zip(ar).zip(b) {
                *z = op(a, b);
            }
        }
    } else {
        let (ta, tb) = (strides(&sa, &sz), strides(&sb, &sz));
        each(&sz, &ta, &tb, |o, i, j| z[o] = op(a[i], b[j]));
    }
}

/// `da = dz · ∂z/∂a` (`which == 0`) or `db = dz · ∂z/∂b` (`which == 1`), summed over the
/// positions a broadcast operand was repeated to; added to `d` when `acc`.
pub(crate) fn backward(f: Binary, which: usize, a: (&[f32], &Node), b: (&[f32], &Node), out: GradOut<'_>) {
    // `dz · ∂z/∂operand` as a function of (dz, a, b), one loop per case (monomorphized).
    match (f, which) {
        (Binary::Add, _) | (Binary::Subtract, 0) => backward_with(|g, _, _| g, which, a, b, out),
        (Binary::Subtract, _) => backward_with(|g, _, _| -g, which, a, b, out),
        (Binary::Multiply, 0) => backward_with(|g, _, y| g * y, which, a, b, out),
        (Binary::Multiply, _) => backward_with(|g, x, _| g * x, which, a, b, out),
        (Binary::AddRelu, _) => backward_with(|g, x, y| if x + y > 0.0 { g } else { 0.0 }, which, a, b, out),
        _ => backward_with(
            |g, x, y| {
                let (pa, pb) = f.partials(x, y);
                g * if which == 0 { pa } else { pb }
            },
            which,
            a,
            b,
            out,
        ),
    }
}

fn backward_with(
    contribution: impl Fn(f32, f32, f32) -> f32,
    which: usize,
    (a, an): (&[f32], &Node),
    (b, bn): (&[f32], &Node),
    GradOut { dz, z: zn, batch, d, acc }: GradOut<'_>,
) {
    use super::vjp::put;
    let (sa, sb, sz) = shapes(an, bn, zn, batch);
    if sa == sz && sb == sz {
        // Same shapes: element by element.
        for (((d, &g), &x), &y) in d.iter_mut().zip(dz).zip(a).zip(b) {
            put(d, contribution(g, x, y), acc);
        }
        return;
    }
    if sa == sz && sz.ends_with(&sb) {
        // A trailing operand (a bias): `a`'s gradient element by element, `b`'s summed over
        // the rows.
        let n = b.len().max(1);
        if which == 0 {
            for ((dr, gr), ar) in d.chunks_exact_mut(n).zip(dz.chunks_exact(n)).zip(a.chunks_exact(n)) {
                for (((d, &g), &x), &y) in dr.iter_mut().zip(gr).zip(ar).zip(b) {
                    put(d, contribution(g, x, y), acc);
                }
            }
        } else {
            if !acc {
                d.fill(0.0);
            }
            for (gr, ar) in dz.chunks_exact(n).zip(a.chunks_exact(n)) {
                for (((d, &g), &x), &y) in d.iter_mut().zip(gr).zip(ar).zip(b) {
                    *d += contribution(g, x, y);
                }
            }
        }
        return;
    }
    if !acc {
        d.fill(0.0);
    }
    let (ta, tb) = (strides(&sa, &sz), strides(&sb, &sz));
    each(&sz, &ta, &tb, |o, i, j| {
        let c = contribution(dz[o], a[i], b[j]);
        if which == 0 {
            d[i] += c;
        } else {
            d[j] += c;
        }
    });
}

/// The shape (one sample's when batched) of two values broadcast together, or what was
/// expected of them: aligned from the right over one sample's axes; a value without the batch
/// axis broadcasts over it but may not reach into it.
pub(crate) fn broadcast(
    (a, ab): (&[usize], bool),
    (b, bb): (&[usize], bool),
) -> std::result::Result<(Vec<usize>, bool), &'static str> {
    let rank = a.len().max(b.len());
    if (ab && !bb && b.len() > a.len()) || (bb && !ab && a.len() > b.len()) {
        return Err("an operand without the batch axis of no more axes than one sample of the other");
    }
    // A batched operand of lower rank than the other: its batch axis would not line up.
    if (ab && a.len() < rank) || (bb && b.len() < rank) {
        return Err("a batched operand of the result's rank");
    }
    let mut shape = vec![0; rank];
    for (i, dim) in shape.iter_mut().enumerate() {
        let pick = |s: &[usize]| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
        let (x, y) = (pick(a), pick(b));
        *dim = match (x, y) {
            _ if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err("shapes that broadcast (equal dimensions or 1)"),
        };
    }
    Ok((shape, ab || bb))
}

impl Graph {
    /// Records `a ∘ b` with NumPy's broadcasting (see the [module docs](self)).
    fn binary(&mut self, f: Binary, a: Var, b: Var) -> Result<Var> {
        let (na, nb) = (&self.nodes[a.0], &self.nodes[b.0]);
        match broadcast((&na.shape, na.batched), (&nb.shape, nb.batched)) {
            Ok((shape, batched)) => Ok(self.push(Op::Binary(f), vec![a, b], shape, batched)),
            Err(expected) => Err(self.mismatch(f.name(), &[a, b], expected)),
        }
    }

    /// `a + b`, broadcast.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming both shapes when they do not broadcast.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Add, a, b)
    }
    /// `a − b`, broadcast. Errors as [`Graph::add`].
    pub fn subtract(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Subtract, a, b)
    }
    /// `a · b` element-wise, broadcast. Errors as [`Graph::add`].
    pub fn multiply(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Multiply, a, b)
    }
    /// `a / b`, broadcast. Errors as [`Graph::add`].
    pub fn divide(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Divide, a, b)
    }
    /// `max(a, b)` element-wise, broadcast. Errors as [`Graph::add`].
    pub fn maximum(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Maximum, a, b)
    }
    /// `min(a, b)` element-wise, broadcast. Errors as [`Graph::add`].
    pub fn minimum(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(Binary::Minimum, a, b)
    }
}
