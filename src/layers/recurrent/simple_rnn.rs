//! The SimpleRNN step: `h_t = act(x_t W + b + h_{t−1} U)`.
//!
//! Backward, with `dh` = ∂loss/∂h_t: `da = dh ⊙ act′(h_t)`, `dh_{t−1} = da Uᵀ`.

use super::activate;
use crate::activations::Activation;
use crate::tensor::{sgemm_packed, PackedB};

/// `z` holds `x_t W + b` (`[n, u]`) on entry; `h_next = act(z + h_prev U)` (`U` packed once for
/// every step).
pub fn forward(
    z: &mut [f32],
    h_prev: &[f32],
    h_next: &mut [f32],
    u_mat: &PackedB,
    act: Activation,
    n: usize,
    u: usize,
) {
    sgemm_packed(n, h_prev, u_mat, z, 1.0);
    h_next.copy_from_slice(z);
    activate(act, h_next, u);
}

/// `z` ← ∂loss/∂(pre-activation); `dh` ← ∂loss/∂h_{t−1} (`Uᵀ` packed once for every step).
pub fn backward(z: &mut [f32], h_t: &[f32], dh: &mut [f32], u_t: &PackedB, act: Activation, n: usize, u: usize) {
    z.copy_from_slice(dh);
    act.backward(z, h_t, h_t, u);
    sgemm_packed(n, z, u_t, dh, 0.0);
}
