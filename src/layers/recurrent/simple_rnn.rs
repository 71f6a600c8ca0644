//! The SimpleRNN step: `h_t = act(x_t W + b + h_{t−1} U)`.
//!
//! Backward, with `dh` = ∂loss/∂h_t: `da = dh ⊙ act′(h_t)`, `dh_{t−1} = da Uᵀ`.

use super::activate;
use crate::activations::Activation;
use crate::tensor::kernels;

/// `z` holds `x_t W + b` (`[n, u]`) on entry; `h_next = act(z + h_prev U)`.
pub fn forward(z: &mut [f32], h_prev: &[f32], h_next: &mut [f32], u_mat: &[f32], act: Activation, n: usize, u: usize) {
    kernels::matmul(z, h_prev, u_mat, n, u, u, false, false, 1.0);
    h_next.copy_from_slice(z);
    activate(act, h_next, u);
}

/// `z` ← ∂loss/∂(pre-activation); `dh` ← ∂loss/∂h_{t−1}.
pub fn backward(z: &mut [f32], h_t: &[f32], dh: &mut [f32], u_mat: &[f32], act: Activation, n: usize, u: usize) {
    z.copy_from_slice(dh);
    act.backward(z, h_t, h_t, u);
    kernels::matmul(dh, z, u_mat, n, u, u, false, true, 0.0);
}
