//! The gradient noise scale, measured during `fit`: how many samples per update it takes
//! before a larger batch stops buying fewer steps (McCandlish et al., 2018, "An Empirical
//! Model of Large-Batch Training").
//!
//! With `G` the true gradient and `Σ` the per-sample gradients' covariance, a batch of `B`
//! samples gives a gradient `G_B` with
//!
//! ```text
//! E|G_B|² = |G|² + tr(Σ) / B
//! ```
//!
//! The *simple noise scale* `B_noise = tr(Σ) / |G|²` is the batch size where the noise
//! `tr(Σ)/B` equals the signal `|G|²`: well below it, halving the steps costs little more
//! than twice the samples; well above it, more samples per update buy almost no fewer steps.
//! The paper's critical batch size `B_crit` (where steps and samples trade off evenly) is
//! close to it (their figure 4).
//!
//! Two batch sizes give unbiased estimates of both terms (the paper's appendix A.1). The
//! step's own gradient is the small batch, `B_small = B`; the mean of the gradients of a
//! window of `k` consecutive steps is the large one, `B_big = k·B`:
//!
//! ```text
//! |𝒢|² = (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small)
//!  𝒮   = (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)
//! ```
//!
//! with `|G_small|²` the mean of the window's `k` squared norms. Each epoch sums `𝒮` and
//! `|𝒢|²` over its windows and records `B_noise = Σ𝒮 / Σ|𝒢|²` (the paper smooths both
//! before the ratio for the same reason: each alone is noisy, their ratio more so). The
//! weights move between the steps of a window, which the estimate ignores: a window of
//! [`WINDOW`] steps keeps that drift small while the two batch sizes stay far enough apart.
//! Over several processes the gradient is the all-reduced one of the global batch.
//!
//! Cost per step: one pass over the gradients (a squared norm and an addition into one
//! buffer the size of the weights, reserved when training begins); nothing allocated, and
//! training itself is untouched (the update reads the same gradients).

use crate::error::{Error, Result};
use crate::layers::Layer;

/// Steps whose mean gradient is the large batch.
pub const WINDOW: usize = 4;

/// The running measurement of one `fit` (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct NoiseScale {
    /// Steps per window: [`WINDOW`], or the epoch's steps when fewer.
    window: usize,
    /// The window's summed gradient, one value per trainable weight.
    sum: Vec<f32>,
    /// Steps in the window so far, their batch size, and their squared norms summed.
    steps: usize,
    batch: usize,
    small_norms: f64,
    /// The epoch's sums of the two estimates.
    trace: f64,
    signal: f64,
    windows: usize,
    /// Windows closed over the run (which blocks the next one reads).
    closed: usize,
}

impl NoiseScale {
    /// A measurement over windows of `min(WINDOW, steps_per_epoch)` steps, for the trainable
    /// weights of `layers`.
    pub fn new(layers: &[Box<dyn Layer>], steps_per_epoch: usize) -> NoiseScale {
        let weights: usize = trainable(layers).map(|g| g.len()).sum();
        NoiseScale {
            window: WINDOW.min(steps_per_epoch).max(2),
            sum: vec![0.0; weights],
            steps: 0,
            batch: 0,
            small_norms: 0.0,
            trace: 0.0,
            signal: 0.0,
            windows: 0,
            closed: 0,
        }
    }

    /// Reads the gradients of a step over `samples` samples (before the update). A batch of
    /// another size than the window's (an epoch's short last batch) closes the window
    /// unused: the estimates need one `B_small`.
    pub fn observe(&mut self, layers: &[Box<dyn Layer>], samples: usize) {
        if self.steps > 0 && samples != self.batch {
            self.reset_window(layers);
        }
        self.batch = samples;
        let (mut squares, mut at) = (0.0f64, 0);
        let offset = self.offset();
        for g in trainable(layers) {
            squares += sampled(&mut self.sum[at..at + g.len()], g, offset, add_and_square);
            at += g.len();
        }
        self.small_norms += squares;
        self.steps += 1;
        if self.steps == self.window {
            self.close_window(layers);
        }
    }

    /// Which of every [`STRIDE`] blocks this window reads: each in turn, window after window.
    fn offset(&self) -> usize {
        self.closed % STRIDE
    }

    /// The two estimates from a full window, added to the epoch's sums.
    fn close_window(&mut self, layers: &[Box<dyn Layer>]) {
        let k = self.steps as f64;
        let (small, big) = (self.batch as f64, k * self.batch as f64);
        let g_small = self.small_norms / k;
        let (mut g_big, mut at, offset) = (0.0, 0, self.offset());
        for g in trainable(layers) {
            g_big += sampled(&mut self.sum[at..at + g.len()], g, offset, |sum, _| sum_of_squares(sum));
            at += g.len();
        }
        g_big /= k * k;
        let signal = (big * g_big - small * g_small) / (big - small);
        let trace = (g_small - g_big) / (1.0 / small - 1.0 / big);
        if signal.is_finite() && trace.is_finite() {
            self.signal += signal;
            self.trace += trace;
            self.windows += 1;
        }
        self.reset_window(layers);
        self.closed += 1;
    }

    /// Clears the window's sums: only the blocks it read, never the whole buffer.
    fn reset_window(&mut self, layers: &[Box<dyn Layer>]) {
        let (mut at, offset) = (0, self.offset());
        for g in trainable(layers) {
            sampled(&mut self.sum[at..at + g.len()], g, offset, |sum, _| {
                sum.fill(0.0);
                0.0
            });
            at += g.len();
        }
        (self.steps, self.small_norms) = (0, 0.0);
    }

    /// The epoch's `B_noise` in samples, and starts the next epoch's sums. `None` when no
    /// window completed, or when the signal measured is not positive (noise swamps it: the
    /// epoch had too few steps to tell).
    pub fn end_epoch(&mut self, layers: &[Box<dyn Layer>]) -> Option<f64> {
        self.reset_window(layers);
        let estimate = (self.windows > 0 && self.signal > 0.0).then(|| self.trace.max(0.0) / self.signal);
        (self.trace, self.signal, self.windows) = (0.0, 0.0, 0);
        estimate
    }
}

/// A tensor of more than `STRIDE` blocks is read one block in `STRIDE` per window (the next
/// window the next block of each `STRIDE`), its sums scaled up by the blocks skipped: the
/// squared norms are sums over the weights, so a sample of the weights estimates them, and the
/// step's cost falls `STRIDE` times where it is memory-bound (a 669k-weight MLP at batch 128:
/// 25% of the step read in full, see BENCHMARKS.md).
pub const STRIDE: usize = 32;

/// Weights per block: four 64-byte cache lines of f32.
const BLOCK: usize = 64;

/// `f(sum, g)` over the blocks of one tensor this window reads (`offset` of every [`STRIDE`],
/// or all of a small tensor), scaled by the share of blocks read.
fn sampled(sum: &mut [f32], g: &[f32], offset: usize, f: impl Fn(&mut [f32], &[f32]) -> f64) -> f64 {
    let blocks = g.len().div_ceil(BLOCK);
    if blocks <= STRIDE {
        return f(sum, g);
    }
    let (mut total, mut read) = (0.0, 0usize);
    for b in (offset..blocks).step_by(STRIDE) {
        let range = b * BLOCK..((b + 1) * BLOCK).min(g.len());
        total += f(&mut sum[range.clone()], &g[range]);
        read += 1;
    }
    total * blocks as f64 / read.max(1) as f64
}

/// Lanes of the sums below: independent accumulators the compiler keeps in vector registers.
const LANES: usize = 16;

/// `sum += g`, returning `|g|²`: one pass, in lanes of f32 (each lane's partial sum is small
/// against what an estimate needs), added up in f64.
fn add_and_square(sum: &mut [f32], g: &[f32]) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let (body, tail) = (g.len() / LANES * LANES, g.len() % LANES);
    for (s, g) in sum[..body].chunks_exact_mut(LANES).zip(g[..body].chunks_exact(LANES)) {
        for i in 0..LANES {
            lanes[i] += g[i] * g[i];
            s[i] += g[i];
        }
    }
    let mut total: f64 = lanes.iter().map(|&v| v as f64).sum();
    for (s, &v) in sum[body..].iter_mut().zip(&g[body..body + tail]) {
        total += v as f64 * v as f64;
        *s += v;
    }
    total
}

/// `|v|²`, in lanes as [`add_and_square`].
fn sum_of_squares(v: &[f32]) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&x| x as f64 * x as f64).sum();
    for c in chunks {
        for i in 0..LANES {
            lanes[i] += c[i] * c[i];
        }
    }
    tail + lanes.iter().map(|&x| x as f64).sum::<f64>()
}

/// The gradients of the trainable weights, in the model's order.
fn trainable(layers: &[Box<dyn Layer>]) -> impl Iterator<Item = &[f32]> {
    layers.iter().filter(|l| l.trainable()).flat_map(|l| l.params()).map(|p| p.grad.data())
}

/// The line of `fit`'s summary for the last epoch's measurement: what the number means for
/// the batch size trained at.
pub(crate) fn summary(noise: Option<f64>, batch_size: usize) -> String {
    let Some(b) = noise else {
        return "gradient noise scale: not enough data to estimate (no window of full batches, or the signal \
                was swamped by noise)"
            .into();
    };
    let verdict = if (batch_size as f64) < b / 2.0 {
        "smaller than it: a larger batch would take nearly proportionally fewer updates"
    } else if (batch_size as f64) > 2.0 * b {
        "larger than it: a smaller batch would reach the same loss on fewer samples"
    } else {
        "near it: the batch trades updates for samples evenly"
    };
    format!("gradient noise scale B_noise ≈ {b:.0} samples (McCandlish et al. 2018); batch {batch_size} is {verdict}")
}

/// Refuses a measurement `fit` cannot make, before any work: it compares one step's gradient
/// with the mean of several, so it needs at least two updates an epoch, and the built-in
/// step's gradients (a custom step computes its own).
pub(super) fn check(options: &super::FitOptions<'_>, steps: usize) -> Result<()> {
    if !options.noise_scale {
        return Ok(());
    }
    if steps < 2 {
        return Err(Error::invalid(
            "steps_per_epoch",
            steps,
            "at least 2 weight updates an epoch to measure the gradient noise scale (it compares one batch's \
             gradient with the mean of several): a smaller batch_size, or more steps_per_epoch",
        ));
    }
    if options.train_step.is_some() {
        return Err(Error::invalid(
            "measure_noise_scale",
            true,
            "fit's own training step: a custom train_step computes its gradients itself",
        ));
    }
    Ok(())
}
