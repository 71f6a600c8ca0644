//! The narrow set of arithmetic kernels that layers, losses and optimizers reach the numbers
//! through: matrix multiply, bias and reductions. A GPU backend implements this same set.
//!
//! Every kernel writes into a caller-owned buffer and allocates nothing.
//!
//! # Threads
//! Large matrix products run on [`num_threads`] threads, chosen once per process from
//! [`set_num_threads`], else the `MINIBATCH_THREADS` variable, else the number of cores.
//! Each output value is computed by one thread in a fixed order, so results do not depend on
//! the thread count.

pub use super::pool::{num_threads, set_num_threads, MAX_THREADS};

/// `C = op(A) · op(B) + beta · C`, all row-major.
///
/// # Shapes
/// `op(A)` is `[m, k]`: `A` is stored `[m, k]`, or `[k, m]` when `trans_a`.
/// `op(B)` is `[k, n]`: `B` is stored `[k, n]`, or `[n, k]` when `trans_b`.
/// `C` is `[m, n]`. With `beta == 0`, `C`'s old values are ignored (NaN included).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    beta: f32,
) {
    let Some(c) = nonempty_product(c, a, b, (m, k, n), beta) else { return };
    // Thin shapes are memory-bound: dedicated loops beat a packing GEMM by a wide margin
    // (batch size 1 is exactly this case).
    if k == 1 {
        // Outer product: A and B are vectors whatever their transposition.
        for (i, row) in c.chunks_exact_mut(n).enumerate() {
            scale(row, beta);
            axpy(row, a[i], &b[..n]);
        }
        return;
    }
    if m == 1 && !trans_b {
        // c[1,n] = a[1,k] · B[k,n]: accumulate scaled rows of B.
        scale(c, beta);
        for (p, brow) in b.chunks_exact(n).take(k).enumerate() {
            axpy(c, a[p], brow);
        }
        return;
    }
    if m == 1 && trans_b {
        // c[j] = a · B[j, :]
        for (j, cj) in c.iter_mut().enumerate() {
            let d = dot(&a[..k], &b[j * k..(j + 1) * k]);
            *cj = if beta == 0.0 { d } else { beta * *cj + d };
        }
        return;
    }
    if n == 1 && !trans_a {
        for (i, ci) in c.iter_mut().enumerate() {
            let d = dot(&a[i * k..(i + 1) * k], &b[..k]);
            *ci = if beta == 0.0 { d } else { beta * *ci + d };
        }
        return;
    }
    let ((rsa, csa), (rsb, csb)) = strides((m, k, n), trans_a, trans_b);
    // SAFETY: the asserts above guarantee that every index the strides reach lies inside
    // `a`, `b` and `c`, and `c` does not alias `a` or `b` (it is a unique borrow).
    unsafe { super::gemm::sgemm(m, k, n, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr()) }
}

/// What every product checks first: buffers as large as the shapes (else a panic naming
/// them), then the empty cases: no rows or columns, nothing to do; no k, `C = beta·C`. `None`
/// when that was all, else `C`'s `m·n` values.
fn nonempty_product<'c>(
    c: &'c mut [f32],
    a: &[f32],
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    beta: f32,
) -> Option<&'c mut [f32]> {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul buffers too small");
    let c = &mut c[..m * n];
    if m == 0 || n == 0 {
        return None;
    }
    if k == 0 {
        scale(c, beta);
        return None;
    }
    Some(c)
}

/// The strides of row-major `op(A)` `[m, k]` and `op(B)` `[k, n]`, stored transposed or not:
/// element `(i, j)` at `i·rs + j·cs`.
fn strides((m, k, n): (usize, usize, usize), trans_a: bool, trans_b: bool) -> ((usize, usize), (usize, usize)) {
    (if trans_a { (1, m) } else { (k, 1) }, if trans_b { (1, k) } else { (n, 1) })
}

/// The precision of a matrix product: a layer's, under its dtype policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 inputs and sums: [`matmul`].
    #[default]
    F32,
    /// bf16 inputs, f32 sums: [`matmul_bf16`].
    Bf16,
}

/// [`matmul`] or [`matmul_bf16`], by `precision`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_in(
    precision: Precision,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    beta: f32,
) {
    match precision {
        Precision::F32 => matmul(c, a, b, m, k, n, trans_a, trans_b, beta),
        Precision::Bf16 => matmul_bf16(c, a, b, m, k, n, trans_a, trans_b, beta),
    }
}

/// [`matmul`] as Keras's `mixed_bfloat16` computes it: `C = bf16(op(A)) · bf16(op(B)) + beta·C`,
/// the inputs rounded to bfloat16 (nearest, ties to even) and the sums kept in f32. Runs on
/// AMX tiles or AVX512-BF16 where the processor has them, else on the f32 kernel with rounded
/// inputs (see [`isa`](super::isa)). Same shapes and transpositions as [`matmul`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_bf16(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    beta: f32,
) {
    let Some(c) = nonempty_product(c, a, b, (m, k, n), beta) else { return };
    let (sa, sb) = strides((m, k, n), trans_a, trans_b);
    // SAFETY: as in `matmul`: the checks keep every strided index inside the slices (A and B
    // each `m·k` and `k·n` values, whatever their transposition), and `c` is a unique borrow.
    unsafe { super::gemm_bf16::bgemm(m, k, n, a.as_ptr(), sa, b.as_ptr(), sb, beta, c.as_mut_ptr()) }
}

crate::simd! {
    /// `y = alpha · y`, with `alpha == 0` meaning "set to zero" (NaN does not survive).
    pub fn scale(y: &mut [f32], alpha: f32) {
        if alpha == 0.0 {
            y.fill(0.0);
        } else if alpha != 1.0 {
            y.iter_mut().for_each(|v| *v *= alpha);
        }
    }
}

crate::simd! {
    /// `out = a ⊙ b`, element by element.
    pub fn mul(out: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = a * b;
        }
    }
}

crate::simd! {
    /// `y += x`.
    pub fn add(y: &mut [f32], x: &[f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y += x;
        }
    }
}

crate::simd! {
    /// `y += alpha · x`.
    pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

crate::simd! {
    /// Dot product with sixteen independent partial sums (vectorizes; fixed order, so the
    /// same bits at every SIMD level).
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..16 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut tail = 0.0;
        for (x, y) in ra.iter().zip(rb) {
            tail += x * y;
        }
        let mut s = 0.0;
        for v in acc {
            s += v;
        }
        s + tail
    }
}

crate::simd! {
    /// Adds `bias` (length `cols`) to every row of `y` (`[rows, cols]`).
    pub fn add_row_bias(y: &mut [f32], bias: &[f32]) {
        for row in y.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

/// [`add_row_bias`] at a product's precision: in bf16 as Keras's `mixed_bfloat16` adds it —
/// the product's output and the bias rounded to bf16, their sum rounded again.
pub fn add_row_bias_in(precision: Precision, y: &mut [f32], bias: &[f32]) {
    match precision {
        Precision::F32 => add_row_bias(y, bias),
        Precision::Bf16 => add_row_bias_bf16(y, bias),
    }
}

crate::simd! {
    /// `y = round(round(y) + round(bias))` per row, rounding to bf16.
    fn add_row_bias_bf16(y: &mut [f32], bias: &[f32]) {
        for row in y.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = super::bf16::round(super::bf16::round(*v) + super::bf16::round(*b));
            }
        }
    }
}

crate::simd! {
    /// `out[j] = Σ_i x[i, j]`: column sums of `x` (`[rows, cols]`), e.g. a bias gradient.
    pub fn sum_rows(out: &mut [f32], x: &[f32]) {
        out.fill(0.0);
        for row in x.chunks_exact(out.len()) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

/// −1, 0 or 1: the sign, 0 at 0 (where the derivative of |x| is taken as 0, as the backends
/// take it; `f32::signum` gives 1 there).
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The reference product every fast path is tested against: three loops in f64.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_naive(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    beta: f32,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av as f64 * bv as f64;
            }
            let old = if beta == 0.0 { 0.0 } else { beta as f64 * c[i * n + j] as f64 };
            c[i * n + j] = (s + old) as f32;
        }
    }
}

/// Runs `product` and [`matmul_naive`] on the same random operands and returns the largest
/// difference: the check every matrix-product test shares.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn error_vs_naive(
    rng: &mut crate::rng::Rng,
    (m, k, n): (usize, usize, usize),
    ta: bool,
    tb: bool,
    beta: f32,
    product: impl Fn(&mut [f32], &[f32], &[f32]),
) -> f32 {
    let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1., 1.) as f32).collect::<Vec<f32>>();
    let (a, b, c0) = (random(m * k), random(k * n), random(m * n));
    let (mut c, mut want) = (c0.clone(), c0);
    product(&mut c, &a, &b);
    matmul_naive(&mut want, &a, &b, m, k, n, ta, tb, beta);
    c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn matmul_matches_naive_on_every_path() {
        let mut rng = Rng::new(5);
        let shapes = [(1, 7, 5), (1, 1, 3), (4, 1, 6), (5, 9, 1), (1, 33, 1), (13, 17, 11), (64, 70, 33)];
        for &(m, k, n) in &shapes {
            for ta in [false, true] {
                for tb in [false, true] {
                    for beta in [0.0, 1.0, 0.5] {
                        let worst = error_vs_naive(&mut rng, (m, k, n), ta, tb, beta, |c, a, b| {
                            matmul(c, a, b, m, k, n, ta, tb, beta)
                        });
                        assert!(worst < 1e-4, "m{m} k{k} n{n} ta{ta} tb{tb} beta{beta}: max error {worst}");
                    }
                }
            }
        }
    }

    #[test]
    fn blocked_and_threaded_products_match_naive() {
        // k > KC (two balanced k-blocks, the second accumulating), m > MC (two row blocks), edge tiles
        // in both directions, and enough work to split the columns across threads.
        let mut rng = Rng::new(9);
        let (m, k, n) = (300, 300, 70);
        for (ta, tb, beta) in [(false, false, 0.0), (true, false, 1.0), (false, true, 0.5), (true, true, 0.0)] {
            let worst =
                error_vs_naive(&mut rng, (m, k, n), ta, tb, beta, |c, a, b| matmul(c, a, b, m, k, n, ta, tb, beta));
            assert!(worst < 1e-3, "ta{ta} tb{tb} beta{beta}: max error {worst}");
        }
    }

    #[test]
    fn beta_zero_overwrites_nan() {
        let mut c = vec![f32::NAN; 4];
        matmul(&mut c, &[1., 2., 3., 4.], &[1., 0., 0., 1.], 2, 2, 2, false, false, 0.0);
        assert_eq!(c, vec![1., 2., 3., 4.]);
        let mut c = vec![f32::NAN; 2];
        matmul(&mut c, &[1., 2.], &[1., 0., 0., 1.], 1, 2, 2, false, false, 0.0);
        assert_eq!(c, vec![1., 2.]);
    }

    #[test]
    fn reductions() {
        let mut out = [0.0; 2];
        sum_rows(&mut out, &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(out, [9., 12.]);
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(dot(&[1.; 19], &[2.; 19]), 38.0);
    }
}
