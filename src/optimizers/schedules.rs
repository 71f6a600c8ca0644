//! Learning-rate schedules evaluated at every optimizer step, as Keras's
//! `keras.optimizers.schedules`, and [`Scheduled`], which drives an optimizer with one
//! (Keras passes the schedule as the optimizer's `learning_rate`).
//!
//! ```
//! use minibatch::optimizers::{schedules::{ExponentialDecay, Scheduled}, Adam};
//! let optimizer = Scheduled::new(Adam::default(), ExponentialDecay::new(0.01, 1000, 0.96));
//! ```

use super::Optimizer;
use crate::error::{Error, Result};

/// A learning rate as a function of the step count (updates done before this one).
pub trait LearningRateSchedule: Send {
    /// The rate for the update after `step` updates.
    fn rate(&self, step: u64) -> f32;

    /// `{"class_name": ..., "config": {...}}` for saving, as Keras serializes a schedule;
    /// `None` (the default) for a schedule that cannot be saved.
    fn config(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The schedule a [`LearningRateSchedule::config`] describes.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown class, [`Error::State`] for a wrong argument.
pub fn from_config(config: &serde_json::Value) -> Result<Box<dyn LearningRateSchedule>> {
    fn parse<T: serde::de::DeserializeOwned>(config: &serde_json::Value, class: &str) -> Result<T> {
        let c = config.get("config").ok_or_else(|| Error::State(format!("schedule {class}: no \"config\"")))?;
        T::deserialize(c).map_err(|e| Error::State(format!("config of schedule {class}: {e}")))
    }
    let class = config.get("class_name").and_then(|c| c.as_str()).unwrap_or_default();
    Ok(match class {
        "ExponentialDecay" => Box::new(parse::<ExponentialDecay>(config, class)?),
        "CosineDecay" => Box::new(parse::<CosineDecay>(config, class)?),
        "CosineDecayRestarts" => Box::new(parse::<CosineDecayRestarts>(config, class)?),
        "PolynomialDecay" => Box::new(parse::<PolynomialDecay>(config, class)?),
        "InverseTimeDecay" => Box::new(parse::<InverseTimeDecay>(config, class)?),
        "PiecewiseConstantDecay" => {
            let p: PiecewiseConstantDecay = parse(config, class)?;
            Box::new(PiecewiseConstantDecay::new(p.boundaries, p.values)?)
        }
        _ => {
            return Err(Error::UnknownName {
                kind: "schedule class",
                name: class.into(),
                known: vec![
                    "ExponentialDecay",
                    "CosineDecay",
                    "CosineDecayRestarts",
                    "PolynomialDecay",
                    "InverseTimeDecay",
                    "PiecewiseConstantDecay",
                ],
            })
        }
    })
}

/// `lr = initial · rate^(step / decay_steps)`, the exponent floored when `staircase`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExponentialDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps per factor of `decay_rate`.
    pub decay_steps: u64,
    /// The factor per `decay_steps` steps.
    pub decay_rate: f32,
    /// Decay in whole intervals.
    pub staircase: bool,
}

impl ExponentialDecay {
    /// Keras's `ExponentialDecay(initial_learning_rate, decay_steps, decay_rate)`.
    pub fn new(initial_learning_rate: f32, decay_steps: u64, decay_rate: f32) -> Self {
        ExponentialDecay { initial_learning_rate, decay_steps: decay_steps.max(1), decay_rate, staircase: false }
    }
    /// Decays in whole intervals of `decay_steps`.
    pub fn staircase(mut self, staircase: bool) -> Self {
        self.staircase = staircase;
        self
    }
}

impl LearningRateSchedule for ExponentialDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("ExponentialDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let p = progress(step, self.decay_steps, self.staircase);
        (self.initial_learning_rate as f64 * (self.decay_rate as f64).powf(p)) as f32
    }
}

/// Keras's `CosineDecay`: an optional linear warmup, then a cosine decay to a floor.
///
/// Without warmup, `lr = initial · ((1 − alpha) · ½(1 + cos(π · min(step, decay_steps) /
/// decay_steps)) + alpha)`. With `warmup_target` and `warmup_steps` (Keras 3), the rate first
/// climbs linearly from `initial` to `warmup_target` over `warmup_steps`, then decays from
/// `warmup_target` as above over the next `decay_steps` (the step held at
/// `warmup_steps + decay_steps` after).
///
/// ```
/// use minibatch::optimizers::schedules::{CosineDecay, LearningRateSchedule};
/// let s = CosineDecay::new(0.0, 100).warmup(0.1, 10);
/// assert!((s.rate(5) - 0.05).abs() < 1e-7);   // halfway up the warmup
/// assert!((s.rate(10) - 0.1).abs() < 1e-7);   // the target, then the decay
/// assert!((s.rate(60) - 0.05).abs() < 1e-7);  // halfway down
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CosineDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps to decay over.
    pub decay_steps: u64,
    /// The floor, as a fraction of the rate decayed from (Keras's default 0).
    pub alpha: f32,
    /// The rate the warmup climbs to, and the decay starts from (none: no warmup).
    #[serde(default)]
    pub warmup_target: Option<f32>,
    /// Steps of the warmup.
    #[serde(default)]
    pub warmup_steps: u64,
}

impl CosineDecay {
    /// Keras's `CosineDecay(initial_learning_rate, decay_steps)` with `alpha` 0, no warmup.
    pub fn new(initial_learning_rate: f32, decay_steps: u64) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps: decay_steps.max(1),
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0,
        }
    }
    /// The floor as a fraction of the rate decayed from.
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }
    /// Keras's `warmup_target` and `warmup_steps`: a linear climb to `target` first.
    pub fn warmup(mut self, target: f32, steps: u64) -> Self {
        (self.warmup_target, self.warmup_steps) = (Some(target), steps);
        self
    }
}

impl LearningRateSchedule for CosineDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("CosineDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let decay = |step: f64, from: f64| {
            let cosine = 0.5 * (1.0 + (std::f64::consts::PI * step / self.decay_steps as f64).cos());
            let alpha = self.alpha as f64;
            from * ((1.0 - alpha) * cosine + alpha)
        };
        let initial = self.initial_learning_rate as f64;
        match self.warmup_target {
            None => decay(step.min(self.decay_steps) as f64, initial) as f32,
            Some(target) => {
                let (target, warmup) = (target as f64, self.warmup_steps as f64);
                let step = (step as f64).min(self.decay_steps as f64 + warmup);
                if step < warmup {
                    ((target - initial) * step / warmup + initial) as f32
                } else {
                    decay(step - warmup, target) as f32
                }
            }
        }
    }
}

/// Keras's `CosineDecayRestarts` (SGDR, Loshchilov & Hutter 2016): cosine decays that restart,
/// the `i`-th lasting `first_decay_steps · t_mulⁱ` steps and starting from
/// `initial · m_mulⁱ`.
///
/// ```
/// use minibatch::optimizers::schedules::{CosineDecayRestarts, LearningRateSchedule};
/// let s = CosineDecayRestarts::new(1.0, 10); // t_mul 2: periods of 10, 20, 40, ...
/// assert_eq!(s.rate(0), 1.0);
/// assert!(s.rate(9) < 0.05 && s.rate(10) == 1.0 && (s.rate(20) - 0.5).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CosineDecayRestarts {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps of the first period.
    pub first_decay_steps: u64,
    /// Each period's length over the last's (Keras's default 2).
    pub t_mul: f32,
    /// Each restart's rate over the last's (Keras's default 1).
    pub m_mul: f32,
    /// The floor, as a fraction of the initial rate (Keras's default 0).
    pub alpha: f32,
}

impl CosineDecayRestarts {
    /// Keras's `CosineDecayRestarts(initial_learning_rate, first_decay_steps)`: `t_mul` 2,
    /// `m_mul` 1, `alpha` 0.
    pub fn new(initial_learning_rate: f32, first_decay_steps: u64) -> Self {
        CosineDecayRestarts {
            initial_learning_rate,
            first_decay_steps: first_decay_steps.max(1),
            t_mul: 2.0,
            m_mul: 1.0,
            alpha: 0.0,
        }
    }
    /// Each period's length over the last's.
    pub fn t_mul(mut self, t_mul: f32) -> Self {
        self.t_mul = t_mul;
        self
    }
    /// Each restart's rate over the last's.
    pub fn m_mul(mut self, m_mul: f32) -> Self {
        self.m_mul = m_mul;
        self
    }
    /// The floor as a fraction of the initial rate.
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }
}

impl LearningRateSchedule for CosineDecayRestarts {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("CosineDecayRestarts", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let (t_mul, m_mul, alpha) = (self.t_mul as f64, self.m_mul as f64, self.alpha as f64);
        let fraction = step as f64 / self.first_decay_steps as f64;
        // Which period the step falls in, and how far into it (Keras's compute_step).
        let (restart, fraction) = if t_mul == 1.0 {
            let i = fraction.floor();
            (i, fraction - i)
        } else {
            let i = ((1.0 - fraction * (1.0 - t_mul)).ln() / t_mul.ln()).floor();
            let before = (1.0 - t_mul.powf(i)) / (1.0 - t_mul);
            (i, (fraction - before) / t_mul.powf(i))
        };
        let cosine = 0.5 * m_mul.powf(restart) * (1.0 + (std::f64::consts::PI * fraction).cos());
        (self.initial_learning_rate as f64 * ((1.0 - alpha) * cosine + alpha)) as f32
    }
}

/// Keras's `PolynomialDecay`: `lr = (initial − end) · (1 − step/decay_steps)^power + end`, the
/// step held at `decay_steps` after; with `cycle`, `decay_steps` grows to the next multiple
/// of itself past the step instead (decay, then again from the top, more slowly).
///
/// ```
/// use minibatch::optimizers::schedules::{LearningRateSchedule, PolynomialDecay};
/// let s = PolynomialDecay::new(0.1, 100); // to 1e-4, linearly
/// assert!((s.rate(50) - (0.1 + 1e-4) / 2.0).abs() < 1e-7 && (s.rate(500) - 1e-4).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PolynomialDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps to decay over.
    pub decay_steps: u64,
    /// The rate at the end (Keras's default 1e-4).
    pub end_learning_rate: f32,
    /// The polynomial's power (Keras's default 1: linear).
    pub power: f32,
    /// Start over past `decay_steps` (Keras's default false).
    pub cycle: bool,
}

impl PolynomialDecay {
    /// Keras's `PolynomialDecay(initial_learning_rate, decay_steps)`: to 1e-4, linearly, once.
    pub fn new(initial_learning_rate: f32, decay_steps: u64) -> Self {
        PolynomialDecay {
            initial_learning_rate,
            decay_steps: decay_steps.max(1),
            end_learning_rate: 1e-4,
            power: 1.0,
            cycle: false,
        }
    }
    /// The rate at the end.
    pub fn end_learning_rate(mut self, end: f32) -> Self {
        self.end_learning_rate = end;
        self
    }
    /// The polynomial's power.
    pub fn power(mut self, power: f32) -> Self {
        self.power = power;
        self
    }
    /// Start over past `decay_steps`.
    pub fn cycle(mut self, cycle: bool) -> Self {
        self.cycle = cycle;
        self
    }
}

impl LearningRateSchedule for PolynomialDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("PolynomialDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let (mut step, mut decay_steps) = (step as f64, self.decay_steps as f64);
        if self.cycle {
            let multiplier = if step == 0.0 { 1.0 } else { (step / decay_steps).ceil() };
            decay_steps *= multiplier;
        } else {
            step = step.min(decay_steps);
        }
        let (initial, end) = (self.initial_learning_rate as f64, self.end_learning_rate as f64);
        ((initial - end) * (1.0 - step / decay_steps).powf(self.power as f64) + end) as f32
    }
}

/// Keras's `InverseTimeDecay`: `lr = initial / (1 + decay_rate · step / decay_steps)`, the
/// ratio floored when `staircase`.
///
/// ```
/// use minibatch::optimizers::schedules::{InverseTimeDecay, LearningRateSchedule};
/// let s = InverseTimeDecay::new(0.1, 10, 0.5);
/// assert!((s.rate(20) - 0.05).abs() < 1e-8);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InverseTimeDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps per unit of `decay_rate`.
    pub decay_steps: u64,
    /// How fast it decays.
    pub decay_rate: f32,
    /// Decay in whole intervals.
    #[serde(default)]
    pub staircase: bool,
}

impl InverseTimeDecay {
    /// Keras's `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate)`.
    pub fn new(initial_learning_rate: f32, decay_steps: u64, decay_rate: f32) -> Self {
        InverseTimeDecay { initial_learning_rate, decay_steps: decay_steps.max(1), decay_rate, staircase: false }
    }
    /// Decays in whole intervals of `decay_steps`.
    pub fn staircase(mut self, staircase: bool) -> Self {
        self.staircase = staircase;
        self
    }
}

impl LearningRateSchedule for InverseTimeDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("InverseTimeDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let p = progress(step, self.decay_steps, self.staircase);
        (self.initial_learning_rate as f64 / (1.0 + self.decay_rate as f64 * p)) as f32
    }
}

/// `step / decay_steps`, floored with `staircase` (decay in whole intervals).
fn progress(step: u64, decay_steps: u64, staircase: bool) -> f64 {
    let p = step as f64 / decay_steps as f64;
    if staircase {
        p.floor()
    } else {
        p
    }
}

/// Step decay, Keras's `PiecewiseConstantDecay(boundaries, values)`: `values[0]` up to and
/// including step `boundaries[0]`, `values[1]` up to `boundaries[1]`, …, the last value after.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PiecewiseConstantDecay {
    boundaries: Vec<u64>,
    values: Vec<f32>,
}

impl PiecewiseConstantDecay {
    /// `values` must have one more entry than `boundaries`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] otherwise, or for boundaries out of order.
    pub fn new(boundaries: Vec<u64>, values: Vec<f32>) -> crate::Result<Self> {
        if values.len() != boundaries.len() + 1 || boundaries.windows(2).any(|w| w[0] >= w[1]) {
            return Err(crate::Error::invalid(
                "values",
                format!("{} values for {} boundaries", values.len(), boundaries.len()),
                "one more value than boundaries, and increasing boundaries",
            ));
        }
        Ok(PiecewiseConstantDecay { boundaries, values })
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("PiecewiseConstantDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        self.values[self.boundaries.iter().take_while(|&&b| step > b).count()]
    }
}

/// An optimizer whose learning rate follows a schedule, step by step.
pub struct Scheduled<O: Optimizer> {
    inner: O,
    schedule: Box<dyn LearningRateSchedule>,
}

impl<O: Optimizer> Scheduled<O> {
    /// `inner` with its learning rate set from `schedule` before every step.
    pub fn new(inner: O, schedule: impl LearningRateSchedule + 'static) -> Self {
        Scheduled::from_boxed(inner, Box::new(schedule))
    }

    /// Like [`Scheduled::new`], with a schedule already boxed.
    pub fn from_boxed(mut inner: O, schedule: Box<dyn LearningRateSchedule>) -> Self {
        inner.set_learning_rate(schedule.rate(inner.iterations()));
        Scheduled { inner, schedule }
    }
}

impl<O: Optimizer> Optimizer for Scheduled<O> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }
    /// The schedule owns the rate: a rate set from outside lasts until the next step.
    fn set_learning_rate(&mut self, lr: f32) {
        self.inner.set_learning_rate(lr);
    }
    fn iterations(&self) -> u64 {
        self.inner.iterations()
    }
    fn build(&mut self, sizes: &[usize]) {
        self.inner.build(sizes);
    }
    /// The rate for this step: the schedule at the count of batches seen (Keras's
    /// `_iterations`, which counts every batch even while gradients accumulate).
    fn begin_step(&mut self) {
        let lr = self.schedule.rate(self.inner.base().steps());
        self.inner.set_learning_rate(lr);
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        self.inner.update(slot, w, g);
    }
    fn base(&self) -> &super::Base {
        self.inner.base()
    }
    fn base_mut(&mut self) -> &mut super::Base {
        self.inner.base_mut()
    }
    fn finish_step(&mut self) {
        self.inner.finish_step();
    }
    /// The rate follows the restored step count at once.
    fn set_iterations(&mut self, n: u64) {
        self.inner.set_iterations(n);
        self.inner.set_learning_rate(self.schedule.rate(n));
    }
    /// The inner optimizer's config with the schedule under `"schedule"`.
    fn config(&self) -> Option<serde_json::Value> {
        let mut c = self.inner.config()?;
        c.as_object_mut()?.insert("schedule".into(), self.schedule.config()?);
        Some(c)
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        self.inner.slots()
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        self.inner.slots_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::SGD;

    #[test]
    fn schedules_follow_keras_formulas() {
        let e = ExponentialDecay::new(0.1, 10, 0.5);
        assert_eq!(e.rate(0), 0.1);
        assert!((e.rate(10) - 0.05).abs() < 1e-9 && (e.rate(5) - 0.1 * 0.5f32.sqrt()).abs() < 1e-7);
        assert_eq!(e.clone().staircase(true).rate(19), 0.05);
        let c = CosineDecay::new(1.0, 100);
        assert_eq!((c.rate(0), c.rate(100), c.rate(500)), (1.0, 0.0, 0.0));
        assert!((c.rate(50) - 0.5).abs() < 1e-6);
        assert!((CosineDecay::new(1.0, 100).alpha(0.1).rate(100) - 0.1).abs() < 1e-6);
        let p = PiecewiseConstantDecay::new(vec![10, 20], vec![1.0, 0.5, 0.1]).unwrap();
        assert_eq!([p.rate(0), p.rate(10), p.rate(11), p.rate(20), p.rate(21)], [1.0, 1.0, 0.5, 0.5, 0.1]);
        assert!(PiecewiseConstantDecay::new(vec![10], vec![1.0]).is_err());
    }

    #[test]
    fn scheduled_optimizer_uses_each_steps_rate() {
        // SGD with w ← w − lr·g and g = 1: the weight falls by the scheduled rate each step.
        let mut opt = Scheduled::new(SGD::new(123.0), PiecewiseConstantDecay::new(vec![1], vec![1.0, 0.25]).unwrap());
        assert_eq!(opt.learning_rate(), 1.0);
        let mut w = [0.0f32];
        opt.build(&[1]);
        for step in 0..4 {
            opt.begin_step();
            opt.update(0, &mut w, &[1.0]);
            opt.finish_step();
            opt.base_mut().set_steps(step + 1);
        }
        assert_eq!(w[0], -(1.0 + 1.0 + 0.25 + 0.25));
    }
}
