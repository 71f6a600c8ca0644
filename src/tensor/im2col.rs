//! `im2col` and `col2im`: the patches a convolution multiplies, laid out as rows of a matrix,
//! so a convolution is one matrix product through the same GEMM as `Dense`.
//!
//! # Shapes
//! `x` is channels-last, `[n, h, w, c]`. `cols` is `[n · oh · ow, kh · kw · c]`: row
//! `(s, i, j)` holds the window of output position `(i, j)` of sample `s`, tap by tap
//! (`ki`, `kj`), each tap the `c` channels of one input pixel (zeros where the window hangs
//! over the padding). That row order is the kernel's `[kh, kw, c, filters]` order (Keras's
//! layout), so `cols · kernel` is the convolution, already channels-last.

use super::kernels;
use super::pool::for_each_range;
use super::window::Window;
use super::SendPtr;

/// Fills `cols` with the patches of `x` (see the [module docs](self)). Runs on the kernel
/// threads, a share of the samples each.
pub fn im2col(x: &[f32], n: usize, g: &Window, cols: &mut [f32]) {
    let (rows_per_sample, k) = (g.oh * g.ow, g.kh * g.kw * g.c);
    let sample_in = g.h * g.w * g.c;
    debug_assert!(x.len() >= n * sample_in && cols.len() >= n * rows_per_sample * k);
    let out = SendPtr(cols.as_mut_ptr());
    for_each_range(n, 2, |lo, hi| {
        // SAFETY: samples lo..hi own rows lo·rows_per_sample..hi·rows_per_sample, disjoint
        // between the ranges the pool hands out, and inside `cols`.
        let cols = unsafe { out.slice(lo * rows_per_sample * k, hi * rows_per_sample * k) };
        for (s, sample_cols) in (lo..hi).zip(cols.chunks_exact_mut(rows_per_sample * k)) {
            let x = &x[s * sample_in..(s + 1) * sample_in];
            let mut rows = sample_cols.chunks_exact_mut(k);
            for i in 0..g.oh {
                for j in 0..g.ow {
                    let row = rows.next().expect("oh · ow rows");
                    for (ki, taps) in row.chunks_exact_mut(g.kw * g.c).enumerate() {
                        let Some(y) = g.in_y(i, ki) else {
                            taps.fill(0.0);
                            continue;
                        };
                        // The common case: the window's row lies inside the input, in one piece.
                        if let Some(start) = g.row_inside(j) {
                            copy(taps, &x[(y * g.w + start) * g.c..][..g.kw * g.c]);
                            continue;
                        }
                        for (kj, tap) in taps.chunks_exact_mut(g.c).enumerate() {
                            match g.in_x(j, kj) {
                                Some(xx) => copy(tap, &x[(y * g.w + xx) * g.c..][..g.c]),
                                None => tap.fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    });
}

/// The adjoint of [`im2col`]: overwrites `dx` (`[n, h, w, c]`) with the sums of the patch
/// gradients in `dcols` over every window that covers each input value.
pub fn col2im(dcols: &[f32], n: usize, g: &Window, dx: &mut [f32]) {
    let (rows_per_sample, k) = (g.oh * g.ow, g.kh * g.kw * g.c);
    let sample_in = g.h * g.w * g.c;
    let out = SendPtr(dx.as_mut_ptr());
    for_each_range(n, 2, |lo, hi| {
        // SAFETY: samples lo..hi own their disjoint share of `dx`.
        let dx = unsafe { out.slice(lo * sample_in, hi * sample_in) };
        dx.fill(0.0);
        for (s, dx) in (lo..hi).zip(dx.chunks_exact_mut(sample_in)) {
            let dcols = &dcols[s * rows_per_sample * k..(s + 1) * rows_per_sample * k];
            let mut rows = dcols.chunks_exact(k);
            for i in 0..g.oh {
                for j in 0..g.ow {
                    let row = rows.next().expect("oh · ow rows");
                    for (ki, taps) in row.chunks_exact(g.kw * g.c).enumerate() {
                        let Some(y) = g.in_y(i, ki) else { continue };
                        if let Some(start) = g.row_inside(j) {
                            kernels::add(&mut dx[(y * g.w + start) * g.c..][..g.kw * g.c], taps);
                            continue;
                        }
                        for (kj, tap) in taps.chunks_exact(g.c).enumerate() {
                            if let Some(xx) = g.in_x(j, kj) {
                                kernels::add(&mut dx[(y * g.w + xx) * g.c..][..g.c], tap);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// `dst = src` for the short runs of a patch: fixed-size moves, which compile to vector loads
/// and stores, rather than a `memcpy` call per run (a 1-channel 3-tap run is 12 bytes).
#[inline]
fn copy(dst: &mut [f32], src: &[f32]) {
    let (mut d, mut s) = (dst, src);
    while d.len() >= 16 {
        d[..16].copy_from_slice(&s[..16]);
        (d, s) = (&mut d[16..], &s[16..]);
    }
    if d.len() >= 8 {
        d[..8].copy_from_slice(&s[..8]);
        (d, s) = (&mut d[8..], &s[8..]);
    }
    if d.len() >= 4 {
        d[..4].copy_from_slice(&s[..4]);
        (d, s) = (&mut d[4..], &s[4..]);
    }
    for (d, s) in d.iter_mut().zip(s) {
        *d = *s;
    }
}
