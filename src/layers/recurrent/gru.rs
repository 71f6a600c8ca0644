//! The GRU step, Keras 3's default `reset_after=True` (gates in the order `z, r, h̃`), with an
//! input bias `b_x` and a recurrent bias `b_h`:
//!
//! ```text
//! x̂ = x_t W + b_x     ĥ = h_{t−1} U + b_h           both [n, 3u]
//! z = σ(x̂_z + ĥ_z)   r = σ(x̂_r + ĥ_r)   h̃ = tanh(x̂_h + r ⊙ ĥ_h)
//! h_t = z ⊙ h_{t−1} + (1 − z) ⊙ h̃
//! ```
//!
//! Backward, with `dh` = ∂loss/∂h_t:
//!
//! ```text
//! da_h = dh ⊙ (1 − z) ⊙ tanh′(h̃)     da_z = dh ⊙ (h_{t−1} − h̃) ⊙ σ′(z)
//! da_r = da_h ⊙ ĥ_h ⊙ σ′(r)
//! ∂x̂ = (da_z, da_r, da_h)            ∂ĥ = (da_z, da_r, da_h ⊙ r)
//! dh_{t−1} = dh ⊙ z + ∂ĥ Uᵀ
//! ```

use super::{activate, derivative};
use crate::activations::Activation;
use crate::tensor::kernels;

/// `z` holds `x̂` on entry and `(z, r, h̃)` on exit; `aux` ← `ĥ_h`; `hz` is `[n, 3u]` scratch.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    z: &mut [f32],
    h_prev: &[f32],
    h_next: &mut [f32],
    aux: &mut [f32],
    hz: &mut [f32],
    u_mat: &[f32],
    recurrent_bias: Option<&[f32]>,
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    kernels::matmul(hz, h_prev, u_mat, n, u, 3 * u, false, false, 0.0);
    if let Some(b) = recurrent_bias {
        kernels::add_row_bias(hz, b);
    }
    for b in 0..n {
        let (zr, hr) = (&mut z[b * 3 * u..(b + 1) * 3 * u], &hz[b * 3 * u..(b + 1) * 3 * u]);
        for j in 0..2 * u {
            zr[j] += hr[j];
        }
        activate(gate, &mut zr[..2 * u], u);
        for j in 0..u {
            zr[2 * u + j] += zr[u + j] * hr[2 * u + j];
        }
        activate(act, &mut zr[2 * u..], u);
        let r = b * u..(b + 1) * u;
        aux[r.clone()].copy_from_slice(&hr[2 * u..]);
        let (hp, hn) = (&h_prev[r.clone()], &mut h_next[r]);
        for j in 0..u {
            let (zg, hh) = (zr[j], zr[2 * u + j]);
            hn[j] = zg * hp[j] + (1.0 - zg) * hh;
        }
    }
}

/// `z` ← ∂loss/∂x̂; `dzh` ← ∂loss/∂ĥ (its row sums added to `recurrent_bias_grad`); `dh` ←
/// ∂loss/∂h_{t−1}.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    z: &mut [f32],
    h_prev: &[f32],
    aux: &[f32],
    dh: &mut [f32],
    dzh: &mut [f32],
    tmp: &mut [f32],
    u_mat: &[f32],
    recurrent_bias_grad: Option<&mut [f32]>,
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    for b in 0..n {
        let (zr, dr) = (&mut z[b * 3 * u..(b + 1) * 3 * u], &mut dzh[b * 3 * u..(b + 1) * 3 * u]);
        let r = b * u..(b + 1) * u;
        let (hp, hh_h, dhr, direct) = (&h_prev[r.clone()], &aux[r.clone()], &dh[r.clone()], &mut tmp[r]);
        for j in 0..u {
            let (zg, rg, hh) = (zr[j], zr[u + j], zr[2 * u + j]);
            let da_h = dhr[j] * (1.0 - zg) * derivative(act, hh);
            let da_z = dhr[j] * (hp[j] - hh) * derivative(gate, zg);
            let da_r = da_h * hh_h[j] * derivative(gate, rg);
            direct[j] = dhr[j] * zg;
            (zr[j], zr[u + j], zr[2 * u + j]) = (da_z, da_r, da_h);
            (dr[j], dr[u + j], dr[2 * u + j]) = (da_z, da_r, da_h * rg);
        }
    }
    if let Some(g) = recurrent_bias_grad {
        for row in dzh.chunks_exact(3 * u) {
            kernels::add(g, row);
        }
    }
    dh.copy_from_slice(tmp);
    kernels::matmul(dh, dzh, u_mat, n, 3 * u, u, false, true, 1.0);
}
