//! The LSTM step, as Keras writes it (gates in the order `i, f, c̃, o`):
//!
//! ```text
//! z = x_t W + b + h_{t−1} U                     [n, 4u]
//! i = σ(z_i)   f = σ(z_f)   c̃ = tanh(z_c)   o = σ(z_o)
//! c_t = f ⊙ c_{t−1} + i ⊙ c̃
//! h_t = o ⊙ tanh(c_t)
//! ```
//!
//! (σ is the recurrent activation, tanh the activation.) Backward, with `dh` = ∂loss/∂h_t and
//! `dc` the cell gradient carried from step t + 1:
//!
//! ```text
//! do = dh ⊙ tanh c_t            dc ← dc + dh ⊙ o ⊙ tanh′(c_t)
//! di = dc ⊙ c̃   dc̃ = dc ⊙ i   df = dc ⊙ c_{t−1}          dc_{t−1} = dc ⊙ f
//! dz = (di σ′(i), df σ′(f), dc̃ tanh′(c̃), do σ′(o))       dh_{t−1} = dz Uᵀ
//! ```

use super::{activate, derivative};
use crate::activations::Activation;
use crate::tensor::{sgemm_packed, PackedB};

/// `z` holds `x_t W + b` on entry and the activated gates on exit; `aux` ← `act(c_t)`. For
/// `n` rows, on the calling thread (the driver shares rows out over the kernel threads), with
/// the recurrent kernel `U` packed once for every step.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    z: &mut [f32],
    h_prev: &[f32],
    h_next: &mut [f32],
    (c_prev, c_next): (&[f32], &mut [f32]),
    aux: &mut [f32],
    u_mat: &PackedB,
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    sgemm_packed(n, h_prev, u_mat, z, 1.0);
    forward_rows(z, c_prev, c_next, aux, h_next, (act, gate), n, u);
}

/// The element-wise part of [`forward`] for `n` rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_rows(
    z: &mut [f32],
    c_prev: &[f32],
    c_next: &mut [f32],
    aux: &mut [f32],
    h_next: &mut [f32],
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    for b in 0..n {
        let zr = &mut z[b * 4 * u..(b + 1) * 4 * u];
        let (ifg, o) = zr.split_at_mut(3 * u);
        let (i_f, g) = ifg.split_at_mut(2 * u);
        activate(gate, i_f, u);
        activate(act, g, u);
        activate(gate, o, u);
        let (i, f) = i_f.split_at(u);
        let r = b * u..(b + 1) * u;
        let (cp, cn, tc, h) = (&c_prev[r.clone()], &mut c_next[r.clone()], &mut aux[r.clone()], &mut h_next[r]);
        for j in 0..u {
            cn[j] = f[j] * cp[j] + i[j] * g[j];
            tc[j] = cn[j];
        }
        activate(act, tc, u);
        for j in 0..u {
            h[j] = o[j] * tc[j];
        }
    }
}

/// `z` (the gates) ← ∂loss/∂z; `dh` ← ∂loss/∂h_{t−1}; `dc` ← ∂loss/∂c_{t−1}. For `n` rows, on
/// the calling thread, with `Uᵀ` packed once for every step.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    z: &mut [f32],
    c_prev: &[f32],
    aux: &[f32],
    dh: &mut [f32],
    dc: &mut [f32],
    u_t: &PackedB,
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    backward_rows(z, c_prev, aux, dh, dc, (act, gate), n, u);
    sgemm_packed(n, z, u_t, dh, 0.0);
}

/// The element-wise part of [`backward`] for `n` rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_rows(
    z: &mut [f32],
    c_prev: &[f32],
    aux: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    (act, gate): (Activation, Activation),
    n: usize,
    u: usize,
) {
    // Keras's defaults, tanh and sigmoid, get their derivatives inline, so the loop has no
    // per-value dispatch on the activations and the compiler vectorizes it.
    if act == Activation::Tanh && gate == Activation::Sigmoid {
        let (dact, dgate) = (|y: f32| 1.0 - y * y, |y: f32| y * (1.0 - y));
        backward_lanes(z, c_prev, aux, dh, dc, (dact, dgate), n, u);
    } else {
        let (dact, dgate) = (|y| derivative(act, y), |y| derivative(gate, y));
        backward_lanes(z, c_prev, aux, dh, dc, (dact, dgate), n, u);
    }
}

/// [`backward_rows`] with the activations' derivatives (from their outputs) `dact`, `dgate`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_lanes(
    z: &mut [f32],
    c_prev: &[f32],
    aux: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    (dact, dgate): (impl Fn(f32) -> f32, impl Fn(f32) -> f32),
    n: usize,
    u: usize,
) {
    for b in 0..n {
        let r = b * u..(b + 1) * u;
        let (cp, tc, dhr, dcr) = (&c_prev[r.clone()], &aux[r.clone()], &dh[r.clone()], &mut dc[r]);
        // The gates as four slices.
        let (zi, rest) = z[b * 4 * u..(b + 1) * 4 * u].split_at_mut(u);
        let (zf, rest) = rest.split_at_mut(u);
        let (zg, zo) = rest.split_at_mut(u);
        let gates = zi.iter_mut().zip(zf.iter_mut()).zip(zg.iter_mut()).zip(zo.iter_mut());
        let carried = cp.iter().zip(tc).zip(dhr).zip(dcr.iter_mut());
        for ((((i, f), g), o), (((&cp, &tc), &dh), dc)) in gates.zip(carried) {
            let (iv, fv, gv, ov) = (*i, *f, *g, *o);
            let dct = *dc + dh * ov * dact(tc);
            *i = dct * gv * dgate(iv);
            *f = dct * cp * dgate(fv);
            *g = dct * iv * dact(gv);
            *o = dh * tc * dgate(ov);
            *dc = dct * fv;
        }
    }
}
