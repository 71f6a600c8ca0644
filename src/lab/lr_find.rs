//! The learning-rate range test: see [`lr_find`].

use crate::error::{Error, Result};
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::Serialize;

/// The sweep's settings; the defaults are Lightning's.
#[derive(Debug, Clone, Serialize)]
pub struct LrFindOptions {
    /// The first rate.
    pub min_lr: f64,
    /// The last rate.
    pub max_lr: f64,
    /// Steps of the sweep (one batch each).
    pub num_steps: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// The sweep stops once the smoothed loss exceeds this many times its lowest value.
    pub early_stop_threshold: f64,
    /// The loss's exponential smoothing (Lightning's `beta`).
    pub beta: f64,
    /// Seed of the batches' order.
    pub seed: u64,
}

impl Default for LrFindOptions {
    fn default() -> Self {
        LrFindOptions {
            min_lr: 1e-8,
            max_lr: 1.0,
            num_steps: 100,
            batch_size: 32,
            early_stop_threshold: 4.0,
            beta: 0.98,
            seed: 0,
        }
    }
}

/// What the sweep saw: see [`lr_find`].
#[derive(Debug, Clone, Serialize)]
pub struct LrFind {
    /// The rate of each step taken.
    pub rates: Vec<f64>,
    /// The smoothed, bias-corrected loss after each step.
    pub losses: Vec<f64>,
    /// The batch loss of each step.
    pub raw_losses: Vec<f64>,
    /// The rate where the smoothed loss fell fastest (Lightning: the steepest gradient of the
    /// loss over the steps, leaving out the first 10 and the last), if the sweep had enough
    /// steps.
    pub suggestion: Option<f64>,
    /// fast.ai's `valley`: the rate two thirds of the way down the longest stretch over which
    /// the smoothed loss keeps falling (over the steps less the first tenth and the last 5).
    pub valley: Option<f64>,
    /// fast.ai's `minimum`: the rate of the lowest smoothed loss (over the same steps), over
    /// 10.
    pub minimum: Option<f64>,
    /// Whether the loss diverged (passed the threshold) before the last step.
    pub stopped_early: bool,
}

impl LrFind {
    /// The rate where the loss diverged (the last step's, when the sweep stopped early).
    pub fn divergence(&self) -> Option<f64> {
        self.stopped_early.then(|| self.rates.last().copied()).flatten()
    }

    /// The rate to train at: fast.ai's [`valley`](LrFind::valley) (its default suggestion
    /// since fastai 2.5), else [`minimum`](LrFind::minimum) / 10, else Lightning's steepest
    /// descent ([`suggestion`](LrFind::suggestion)). The steepest descent of a curve smoothed
    /// with β = 0.98 lags the raw loss and can land a decade from divergence (Adam on digits:
    /// 7.4e-2, which trains to 0.52 accuracy); the valley lies well inside the falling stretch.
    pub fn recommended(&self) -> Option<f64> {
        self.valley.or(self.minimum).or(self.suggestion)
    }

    /// A warning when the steepest-descent suggestion lies within a decade of the rate where
    /// the loss diverged: the smoothed curve lags the raw loss, so "steepest" can land just
    /// before the cliff, where training is unstable.
    pub fn warning(&self) -> Option<String> {
        let (rate, cliff) = (self.suggestion?, self.divergence()?);
        (rate * 10.0 > cliff).then(|| {
            let safer =
                self.valley.or(self.minimum).map_or(String::new(), |v| format!("; the valley's {v:.3e} is safer"));
            format!("the suggestion {rate:.3e} is within a decade of where the loss diverged ({cliff:.3e}){safer}")
        })
    }
}

/// The learning-rate range test (Leslie Smith's, as PyTorch Lightning's `lr_find` runs it):
/// train for a few hundred steps while the rate grows exponentially from tiny to large, watch
/// the smoothed loss, and suggest the rate where it falls fastest. Too small a rate barely
/// moves the loss; too large a one makes it climb; the steepest descent lies between.
///
/// Runs the range test on `model` (compiled) with `x`, `y`, then returns the model to the
/// state it was in: weights, layers' state, and the optimizer's state, step count and rate.
///
/// ```
/// use minibatch::{datasets, lab, layers::Dense, optimizers::SGD, Sequential};
/// let d = datasets::load("moons", 0).unwrap();
/// let mut model = Sequential::new().seed(0).input_shape(&[2])
///     .add(Dense::new(16).activation("relu")).add(Dense::new(2).activation("softmax"));
/// model.compile(SGD::new(0.01), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
/// let before = model.get_weights();
/// let found = lab::lr_find(&mut model, &d.x_train, &d.y_train, &lab::LrFindOptions::default()).unwrap();
/// assert!(found.suggestion.is_some());
/// assert_eq!(model.get_weights(), before, "the model is returned as it was");
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for rates that are not `0 < min_lr < max_lr`, fewer than 2
/// steps, or a batch size of 0; as [`Model::train_on_batch`].
pub fn lr_find(model: &mut Model, x: &Tensor, y: &Tensor, options: &LrFindOptions) -> Result<LrFind> {
    let o = options;
    if !(o.min_lr > 0.0 && o.max_lr > o.min_lr && o.max_lr.is_finite()) {
        let value = format!("min_lr {} and max_lr {}", o.min_lr, o.max_lr);
        return Err(Error::invalid("lr_find rates", value, "0 < min_lr < max_lr, finite"));
    }
    if o.num_steps < 2 {
        return Err(Error::invalid("num_steps", o.num_steps, "at least 2 steps"));
    }
    if o.batch_size == 0 {
        return Err(Error::invalid("batch_size", 0, "a positive number of samples per step"));
    }
    if model.optimizer().is_none() {
        return Err(Error::State("lr_find needs a compiled model: call compile first".into()));
    }
    let n = x.batch();
    let batch = o.batch_size.min(n.max(1));
    let saved = model.checkpoint()?;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::derive(o.seed, 0x1F_F1D);
    let mut at = n; // start with a fresh shuffle
    let (mut rates, mut losses, mut raw_losses) = (Vec::new(), Vec::new(), Vec::new());
    let (mut average, mut best) = (0.0f64, f64::INFINITY);
    let mut stopped_early = false;
    let result = (|| -> Result<()> {
        for step in 0..o.num_steps {
            // Lightning's exponential schedule: min · (max / min)^(step / (steps − 1)).
            let rate = o.min_lr * (o.max_lr / o.min_lr).powf(step as f64 / (o.num_steps - 1) as f64);
            model.optimizer_mut().expect("compiled").set_learning_rate(rate as f32);
            if at + batch > n {
                rng.shuffle(&mut order);
                at = 0;
            }
            let rows = &order[at..at + batch];
            at += batch;
            let loss = model.train_on_batch(&x.select_rows(rows), &y.select_rows(rows))?;
            average = o.beta * average + (1.0 - o.beta) * loss;
            let smoothed = average / (1.0 - o.beta.powi(step as i32 + 1));
            rates.push(rate);
            raw_losses.push(loss);
            losses.push(smoothed);
            if !smoothed.is_finite() || (step > 0 && smoothed > o.early_stop_threshold * best) {
                stopped_early = step + 1 < o.num_steps;
                break;
            }
            best = best.min(smoothed);
        }
        Ok(())
    })();
    model.rewind(&saved)?;
    result?;
    let suggestion = steepest(&losses).map(|i| rates[i]);
    // fast.ai's suggestions look at the steps less the first tenth of the sweep and the last 5.
    let (lo, hi) = (o.num_steps / 10, losses.len().saturating_sub(5));
    let (valley, minimum) = if hi > lo + 1 {
        let window = &losses[lo..hi];
        let lowest =
            (0..window.len()).filter(|&i| window[i].is_finite()).min_by(|&a, &b| window[a].total_cmp(&window[b]));
        (valley_of(window).map(|i| rates[lo + i]), lowest.map(|i| rates[lo + i] / 10.0))
    } else {
        (None, None)
    };
    Ok(LrFind { rates, losses, raw_losses, suggestion, valley, minimum, stopped_early })
}

/// fast.ai's `valley`: the longest strictly falling subsequence of the losses (by dynamic
/// programming over every earlier step), and the step two thirds along the stretch it spans
/// (`start + ⌊s⌋ + ⌊s / 2⌋`, `s` a third of its length).
fn valley_of(losses: &[f64]) -> Option<usize> {
    let n = losses.len();
    if n < 2 {
        return None;
    }
    let mut falling = vec![1usize; n];
    let (mut start, mut end) = (0usize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && falling[i] < falling[j] + 1 {
                falling[i] = falling[j] + 1;
            }
            if falling[end] < falling[i] {
                end = i;
                start = end - falling[end];
            }
        }
    }
    let sections = (end - start) as f64 / 3.0;
    Some((start + sections as usize + (sections / 2.0) as usize).min(n - 1))
}

/// Lightning's suggestion: the step where `numpy.gradient` of the loss is most negative,
/// leaving out the first 10 steps and the last, over finite losses.
fn steepest(losses: &[f64]) -> Option<usize> {
    let (skip_begin, skip_end) = (10, 1);
    if losses.len() <= skip_begin + skip_end + 1 {
        return None;
    }
    let kept: Vec<(usize, f64)> =
        (skip_begin..losses.len() - skip_end).map(|i| (i, losses[i])).filter(|(_, v)| v.is_finite()).collect();
    if kept.len() < 2 {
        return None;
    }
    // numpy.gradient: one-sided at the ends, central differences inside.
    let m = kept.len();
    let gradient = |j: usize| match j {
        0 => kept[1].1 - kept[0].1,
        j if j == m - 1 => kept[m - 1].1 - kept[m - 2].1,
        j => (kept[j + 1].1 - kept[j - 1].1) / 2.0,
    };
    (0..m).min_by(|&a, &b| gradient(a).total_cmp(&gradient(b))).map(|j| kept[j].0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn steepest_is_numpys_gradient_argmin_after_the_skips() {
        // A loss that dips at step 15: numpy.gradient is most negative at step 14.
        let mut losses: Vec<f64> = (0..30).map(|i| 5.0 - 0.01 * i as f64).collect();
        losses[15] -= 1.0;
        assert_eq!(super::steepest(&losses), Some(14));
        assert_eq!(super::steepest(&losses[..12]), None);
    }

    #[test]
    fn valley_is_two_thirds_down_the_longest_fall_as_fastai_computes_it() {
        // Flat for 5 steps, falling over steps 5..=20, then climbing: the longest fall is 17
        // steps (one flat step, then 16), and fast.ai's loop (checked in Python) gives
        // start = 20 − 17 = 3 and end = 20, so sections = 17/3 and the valley is step
        // 3 + 5 + 2 = 10.
        let losses: Vec<f64> = (0..30)
            .map(|i| {
                if i < 5 {
                    3.0
                } else if i <= 20 {
                    3.0 - 0.1 * (i - 4) as f64
                } else {
                    1.4 + (i - 20) as f64
                }
            })
            .collect();
        assert_eq!(super::valley_of(&losses), Some(10));
        assert_eq!(super::valley_of(&[1.0]), None);
    }
}
