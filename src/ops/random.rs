//! Random ops: `dropout` (Keras's `keras.random.dropout`), forward beside its gradient.
//!
//! | op | y | ∂y/∂x |
//! |---|---|---|
//! | `dropout(rate)` | x ⊙ m, mᵢ = 1/(1 − rate) with probability 1 − rate, else 0 | m |
//!
//! The mask `m` of each sample comes from the step's key and the sample's position in the
//! global batch, as the `Dropout` layer draws it: the same seed and steps give
//! the same masks, whatever the thread count or the number of processes. The forward pass
//! keeps the mask in the op's workspace for the backward pass.

use super::{Graph, Op, Var};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// What the random ops of one step draw from: a key the layer draws from its seeded generator
/// once per step, and the position of the batch's first sample in the global batch (its
/// shard's offset when a batch is split over processes).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Draw {
    pub key: u64,
    pub offset: usize,
}

impl Graph {
    /// Keras's `keras.random.dropout(x, rate)`: each value of `x` zeroed with probability
    /// `rate`, the others scaled by `1 / (1 − rate)`. It drops whenever it runs: write it
    /// under `if ops.training()` (Keras's `training` argument) to drop in training only.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a rate outside `[0, 1)`; [`Error::Shape`] for a value
    /// without the batch axis (each sample's mask is drawn by its position in the batch).
    pub fn dropout(&mut self, x: Var, rate: f32) -> Result<Var> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::invalid("ops.dropout rate", rate, "a number in [0, 1)"));
        }
        if !self.is_batched(x) {
            return Err(self.mismatch("ops.dropout", &[x], "a value with the batch axis"));
        }
        let salt = self.random_ops;
        self.random_ops += 1;
        let n = &self.nodes[x.0];
        let shape = n.shape.clone();
        Ok(self.push(Op::Dropout { rate, salt }, vec![x], shape, true))
    }
}

/// `y = x ⊙ m` for a batch of `batch` samples of `per` values each, the mask `m` drawn into
/// `mask`: sample `i`'s from `draw.key` (mixed with the op's `salt`, so two dropouts of one
/// step differ) and its position `draw.offset + i`.
pub(crate) fn forward(x: &[f32], rate: f32, salt: u64, draw: Draw, per: usize, y: &mut [f32], mask: &mut [f32]) {
    let key = draw.key ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for (i, ((x, y), m)) in x.chunks(per).zip(y.chunks_mut(per)).zip(mask.chunks_mut(per)).enumerate() {
        let mut rng = Rng::derive(key, (draw.offset + i) as u64);
        dropout_mask(&mut rng, rate, m);
        y.iter_mut().zip(x).zip(&*m).for_each(|((y, &x), &m)| *y = x * m);
    }
}

/// `d (+)= dz ⊙ m`, with the mask the forward pass kept.
pub(crate) fn backward(dz: &[f32], mask: &[f32], d: &mut [f32], acc: bool) {
    d.iter_mut().zip(dz).zip(mask).for_each(|((d, &g), &m)| super::vjp::put(d, g * m, acc));
}

/// Fills `mask` with dropout scales from `rng`: each 64 random bits decide two values, kept
/// (`1/(1 − rate)`) when a 32-bit half is at or above `rate · 2³²`, else 0. The `Dropout`
/// layer, MultiHeadAttention's attention dropout and `ops.dropout` draw this way.
pub(crate) fn dropout_mask(rng: &mut Rng, rate: f32, mask: &mut [f32]) {
    let scale = 1.0 / (1.0 - rate);
    let threshold = (rate as f64 * 4_294_967_296.0) as u64;
    for pair in mask.chunks_mut(2) {
        let bits = rng.next_u64();
        for (m, half) in pair.iter_mut().zip([bits & 0xFFFF_FFFF, bits >> 32]) {
            *m = if half >= threshold { scale } else { 0.0 };
        }
    }
}
