//! What a layer's training step costs in arithmetic, counted before anything runs: the
//! matrix products it calls, each as it calls it ([`Product`]). The time plan
//! ([`crate::lab::plan_time`]) times each on this machine at its own shape; the model adds
//! them up over its graph ([`crate::Model::products`]). A layer whose own element-wise work
//! is heavy (a recurrent cell's gates) times it itself ([`super::Layer::time_elementwise`]).

use super::Param;
use serde::Serialize;

/// Which part of the step a product belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Pass {
    /// The forward pass: `x · W`.
    Forward,
    /// The weights' gradient: `xᵀ · dy`.
    WeightGradient,
    /// The input's gradient: `dy · Wᵀ` (not run for a layer reading only the model's inputs).
    InputGradient,
}

/// One matrix product of a training step, `op(A)[m, k] × op(B)[k, n]`, as the layer calls the
/// kernel: `ta`/`tb` say an operand is read transposed, `count` how many times a step runs it.
///
/// `stepwise` marks a recurrent layer's steps: the `count` products run one after another
/// with B packed once for all of them, and the batch's rows shared out over the kernel
/// threads, each thread running every step on its own rows (one hand-off per pass instead
/// of one per step). Such products are timed that way, since that is how fast they run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// The layer's name.
    pub layer: String,
    /// The part of the step.
    pub pass: Pass,
    /// Rows of the result: the batch's samples times the positions each has (a
    /// convolution's output pixels, a Dense layer's timesteps), or the batch for one step of
    /// a recurrent layer.
    pub m: usize,
    /// The summed axis: a Dense layer's features, a convolution's `kh·kw·channels`; the
    /// batch's rows for a weight gradient.
    pub k: usize,
    /// Columns of the result.
    pub n: usize,
    /// A is stored `[k, m]`.
    pub ta: bool,
    /// B is stored `[n, k]`.
    pub tb: bool,
    /// Times a step runs it.
    pub count: usize,
    /// A recurrent layer's steps (see above).
    pub stepwise: bool,
}

impl Product {
    /// A product run once a step, not stepwise.
    pub fn once(layer: &str, pass: Pass, (m, k, n): (usize, usize, usize), (ta, tb): (bool, bool)) -> Product {
        Product { layer: layer.to_string(), pass, m, k, n, ta, tb, count: 1, stepwise: false }
    }

    /// Floating-point operations a step: `2·m·k·n·count`.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64 * self.count as f64
    }
}

/// The three products of a kernel applied to `rows` rows of `k` features giving `n`:
/// `[rows, k] × [k, n]` forward, `[k, rows] × [rows, n]` for the kernel's gradient (A read
/// transposed) and, with `input_gradient`, `[rows, n] × [n, k]` for the input's (B read
/// transposed).
pub fn kernel_products(layer: &str, rows: usize, k: usize, n: usize, input_gradient: bool) -> Vec<Product> {
    let mut products = vec![
        Product::once(layer, Pass::Forward, (rows, k, n), (false, false)),
        Product::once(layer, Pass::WeightGradient, (k, rows, n), (true, false)),
    ];
    if input_gradient {
        products.push(Product::once(layer, Pass::InputGradient, (rows, n, k), (false, true)));
    }
    products
}

/// [`super::Layer::products`]'s default: every weight whose name ends in `kernel` with two or more
/// axes is one kernel ([`kernel_products`]): its last axis is `n`, the rest `k`, applied to
/// `rows` rows.
pub fn weight_kernel_products(layer: &str, params: &[Param], rows: usize, input_gradient: bool) -> Vec<Product> {
    let kernels = params.iter().filter(|p| p.name.ends_with("kernel") && p.value.shape().len() >= 2);
    kernels
        .flat_map(|p| {
            let n = p.value.shape().last().copied().unwrap_or(1).max(1);
            kernel_products(layer, rows, p.value.len() / n, n, input_gradient)
        })
        .collect()
}

/// The best time in seconds of `f` over calls adding up to about 10 ms (at least 3, at most
/// 1000): long enough that a slow moment of a shared machine does not decide it.
pub(crate) fn best_time(mut f: impl FnMut()) -> f64 {
    let (mut best, mut spent, mut calls) = (f64::INFINITY, 0.0, 0);
    while calls < 3 || (spent < 1e-2 && calls < 1000) {
        let t = std::time::Instant::now();
        f();
        let s = t.elapsed().as_secs_f64();
        (best, spent, calls) = (best.min(s), spent + s, calls + 1);
    }
    best
}
