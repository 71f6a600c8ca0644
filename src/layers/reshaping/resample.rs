//! Resampling images to another size, as `jax.image.resize` does without antialiasing (Keras
//! 3's `UpSampling2D(interpolation="bilinear")` and `Resizing` on the jax backend): output
//! pixel `i` of `out` samples the input at `r = (i + ½) · in / out − ½`, half-pixel centres.
//!
//! ```text
//! bilinear: r clamped to [0, in − 1], i₀ = ⌊r⌋, i₁ = min(i₀ + 1, in − 1), t = r − i₀   (j₀, j₁, u across)
//!           y[i, j] = (1−t)(1−u) x[i₀, j₀] + (1−t) u x[i₀, j₁] + t (1−u) x[i₁, j₀] + t u x[i₁, j₁]
//! nearest:  i₀ = min(⌊(i + ½) · in / out⌋, in − 1), t = 0
//! backward: each output's gradient added into the pixels it blends, with the same weights
//! ```

/// The sampling positions of one axis: `(i₀, i₁, t)` per output step.
pub(crate) fn steps(len: usize, out: usize, bilinear: bool) -> Vec<(usize, usize, f32)> {
    let scale = len as f64 / out as f64;
    (0..out)
        .map(|i| {
            if !bilinear {
                let i0 = (((i as f64 + 0.5) * scale).floor() as usize).min(len - 1);
                return (i0, i0, 0.0);
            }
            let r = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
            let i0 = r.floor() as usize;
            (i0, (i0 + 1).min(len - 1), (r - i0 as f64) as f32)
        })
        .collect()
}

/// `y` `[n, rows, cols, c]` from `x` `[n, h, w, c]` through the steps of each axis.
pub(crate) fn forward(
    x: &[f32],
    y: &mut [f32],
    (h, w, c): (usize, usize, usize),
    rows: &[(usize, usize, f32)],
    cols: &[(usize, usize, f32)],
) {
    let (oh, ow) = (rows.len(), cols.len());
    for (b, img) in x.chunks_exact(h * w * c).enumerate() {
        for (i, &(i0, i1, t)) in rows.iter().enumerate() {
            for (j, &(j0, j1, u)) in cols.iter().enumerate() {
                let dst = &mut y[((b * oh + i) * ow + j) * c..][..c];
                let px = |r: usize, q: usize| &img[(r * w + q) * c..][..c];
                let weights = [(1.0 - t) * (1.0 - u), (1.0 - t) * u, t * (1.0 - u), t * u];
                let pixels = [px(i0, j0), px(i0, j1), px(i1, j0), px(i1, j1)];
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = weights.iter().zip(&pixels).map(|(wt, p)| wt * p[k]).sum();
                }
            }
        }
    }
}

/// `dx` `[n, h, w, c]` from the output's gradient `dy`: [`forward`]'s transpose.
pub(crate) fn backward(
    dy: &[f32],
    dx: &mut [f32],
    (h, w, c): (usize, usize, usize),
    rows: &[(usize, usize, f32)],
    cols: &[(usize, usize, f32)],
) {
    let (oh, ow) = (rows.len(), cols.len());
    let n = dy.len() / (oh * ow * c).max(1);
    dx.fill(0.0);
    for (b, d) in dx.chunks_exact_mut(h * w * c).take(n).enumerate() {
        for (i, &(i0, i1, t)) in rows.iter().enumerate() {
            for (j, &(j0, j1, u)) in cols.iter().enumerate() {
                let src = &dy[((b * oh + i) * ow + j) * c..][..c];
                let weights = [(1.0 - t) * (1.0 - u), (1.0 - t) * u, t * (1.0 - u), t * u];
                for ((r, q), wt) in [(i0, j0), (i0, j1), (i1, j0), (i1, j1)].into_iter().zip(weights) {
                    let dst = &mut d[(r * w + q) * c..][..c];
                    dst.iter_mut().zip(src).for_each(|(d, g)| *d += wt * g);
                }
            }
        }
    }
}
