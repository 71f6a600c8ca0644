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
//! Gradients at two batch sizes, taken at the same weights, give unbiased estimates of both
//! terms (the paper's appendix A.1). The small batch here is one sample: a Dense layer
//! computes its per-sample gradient norms in backward for `O(B·(in + units))` (see
//! [`GradientNorms`]); the large one is the batch itself, `|G_B|²` from the same backward pass:
//!
//! ```text
//! S    = mean_i |G_i|²                       (B_small = 1)
//! |𝒢|² = (B |G_B|² − S) / (B − 1)
//!  𝒮   = (S − |G_B|²) / (1 − 1/B)
//! ```
//!
//! Each epoch sums `𝒮` and `|𝒢|²` over its probed steps and records `B_noise = Σ𝒮 / Σ|𝒢|²`
//! (the paper smooths both before the ratio for the same reason: each alone is noisy, their
//! ratio more so). Both terms are summed over the weights of the Dense layers that see one row
//! per sample (every layer of an MLP; a convnet's or a recurrent network's classifier head):
//! per-sample norms of shared weights (a kernel slid over positions) cost a product each.
//!
//! An earlier version compared consecutive steps' gradients (a window of them as the large
//! batch); the update between them biased the estimate down to a negative signal at small
//! batches on MNIST. Same-weights estimates have no such bias.
//!
//! Cost: every [`PROBE_EVERY`]-th step of an epoch is probed (at least two an epoch): the per-sample
//! sums, and one pass over the Dense weights' gradients for `|G_B|²`. Nothing is allocated,
//! training itself is untouched (the update reads the same gradients).

use crate::error::{Error, Result};
use crate::layers::{GradientNorms, Layer};

/// Steps between probes, at most: every eighth step of a long epoch.
pub const PROBE_EVERY: usize = 8;

/// Steps between probes in an epoch of `steps`: [`PROBE_EVERY`], or fewer so that an epoch
/// has at least two.
pub(crate) fn every(steps: usize) -> usize {
    (steps / 2).clamp(1, PROBE_EVERY)
}

/// The running measurement of one `fit` (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct NoiseScale {
    every: usize,
    /// Steps into the epoch.
    step: usize,
    /// Whether this step is probed.
    probing: bool,
    /// The epoch's sums of the two estimates, and the probes that gave them.
    trace: f64,
    signal: f64,
    probes: usize,
}

impl NoiseScale {
    /// A measurement probing every [`every`]`(steps_per_epoch)` steps.
    pub fn new(steps_per_epoch: usize) -> NoiseScale {
        NoiseScale { every: every(steps_per_epoch), step: 0, probing: false, trace: 0.0, signal: 0.0, probes: 0 }
    }

    /// Before a step's backward pass: asks the layers for per-sample norms on a probed step.
    pub fn begin_step(&mut self, layers: &mut [Box<dyn Layer>]) {
        self.probing = self.step.is_multiple_of(self.every);
        self.step += 1;
        if self.probing {
            norms(layers).for_each(|n| n.asked = true);
        }
    }

    /// After the step's backward pass (and, over several processes, before the all-reduce
    /// changes the gradients: each process estimates from its own shard): the probe's two
    /// estimates, added to the epoch's sums.
    pub fn end_step(&mut self, layers: &mut [Box<dyn Layer>]) {
        if !std::mem::take(&mut self.probing) {
            return;
        }
        let (mut per_sample, mut batch, mut samples) = (0.0, 0.0, 0);
        for n in norms(layers) {
            n.asked = false;
            if n.measured {
                (per_sample, batch, samples) = (per_sample + n.per_sample, batch + n.batch, n.samples);
            }
        }
        if samples < 2 {
            return;
        }
        let b = samples as f64;
        let signal = (b * batch - per_sample) / (b - 1.0);
        let trace = (per_sample - batch) / (1.0 - 1.0 / b);
        if signal.is_finite() && trace.is_finite() {
            self.signal += signal;
            self.trace += trace;
            self.probes += 1;
        }
    }

    /// The epoch's `B_noise` in samples, and starts the next epoch's sums. `None` when no
    /// probe measured (no Dense layer on one row per sample, batches of one sample), or when
    /// the signal measured is not positive (noise swamps it: the epoch had too few steps to
    /// tell, or training sits at a minimum).
    ///
    /// Over several processes each probed its own shard (its `B` the shard's samples); the
    /// sums are added over the processes (each estimates the same `tr(Σ)` and `|G|²`), so every
    /// rank records the same estimate.
    pub fn end_epoch(&mut self, parallel: Option<&super::Parallel>) -> Option<f64> {
        if let Some(p) = parallel {
            let mut total = [0.0f64; 3];
            p.comm.all_reduce_f64(&[self.trace, self.signal, self.probes as f64], &mut total);
            (self.trace, self.signal, self.probes) = (total[0], total[1], total[2] as usize);
        }
        let estimate = (self.probes > 0 && self.signal > 0.0).then(|| self.trace.max(0.0) / self.signal);
        (self.trace, self.signal, self.probes, self.step) = (0.0, 0.0, 0, 0);
        estimate
    }
}

/// The per-sample norms of the trainable layers.
fn norms(layers: &mut [Box<dyn Layer>]) -> impl Iterator<Item = &mut GradientNorms> {
    layers.iter_mut().filter(|l| l.trainable()).map(|l| &mut l.core_mut().gradient_norms)
}

/// The line of `fit`'s summary for the last epoch's measurement: what the number means for
/// the batch size trained at.
pub(crate) fn summary(noise: Option<f64>, batch_size: usize) -> String {
    let Some(b) = noise else {
        return "gradient noise scale: not enough data to estimate (it reads the per-sample gradients of Dense \
                layers on one row per sample, in batches of two or more, and needs a signal above the noise)"
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

/// Refuses a measurement `fit` cannot make, before any work: an epoch's estimate averages at
/// least two steps, and reads the built-in step's backward pass (a custom step runs its own).
pub(super) fn check(options: &super::FitOptions<'_>, steps: usize) -> Result<()> {
    if !options.noise_scale {
        return Ok(());
    }
    if steps < 2 {
        return Err(Error::invalid(
            "steps_per_epoch",
            steps,
            "at least 2 weight updates an epoch to measure the gradient noise scale (an epoch's estimate \
             averages at least two steps' batches): a smaller batch_size, or more steps_per_epoch",
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
