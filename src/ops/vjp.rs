//! The arguments every op's vector-Jacobian product shares, apart from the program that
//! runs them (so the op files and [`super::program`] each depend on this file, not on each
//! other).

use super::Node;

/// The output side of one vector-Jacobian product: the result's gradient `dz` and node `z`,
/// the batch, and the operand's gradient buffer `d`, which already holds a contribution when
/// `acc` (then the product adds to it; else it overwrites).
pub(crate) struct GradOut<'a> {
    pub dz: &'a [f32],
    pub z: &'a Node,
    pub batch: usize,
    pub d: &'a mut [f32],
    pub acc: bool,
}

/// `*d = v`, or `*d += v` when the gradient already has a contribution (`acc`).
#[inline(always)]
pub(crate) fn put(d: &mut f32, v: f32, acc: bool) {
    if acc {
        *d += v;
    } else {
        *d = v;
    }
}
