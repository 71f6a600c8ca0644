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
        "PiecewiseConstantDecay" => {
            let p: PiecewiseConstantDecay = parse(config, class)?;
            Box::new(PiecewiseConstantDecay::new(p.boundaries, p.values)?)
        }
        _ => {
            return Err(Error::UnknownName {
                kind: "schedule class",
                name: class.into(),
                known: vec!["ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay"],
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
        let mut p = step as f64 / self.decay_steps as f64;
        if self.staircase {
            p = p.floor();
        }
        (self.initial_learning_rate as f64 * (self.decay_rate as f64).powf(p)) as f32
    }
}

/// `lr = initial · ((1 − alpha) · ½(1 + cos(π · min(step, decay_steps) / decay_steps)) + alpha)`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CosineDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps to decay over.
    pub decay_steps: u64,
    /// The floor, as a fraction of the initial rate (Keras's default 0).
    pub alpha: f32,
}

impl CosineDecay {
    /// Keras's `CosineDecay(initial_learning_rate, decay_steps)` with `alpha` 0.
    pub fn new(initial_learning_rate: f32, decay_steps: u64) -> Self {
        CosineDecay { initial_learning_rate, decay_steps: decay_steps.max(1), alpha: 0.0 }
    }
    /// The floor as a fraction of the initial rate.
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }
}

impl LearningRateSchedule for CosineDecay {
    fn config(&self) -> Option<serde_json::Value> {
        super::class_config("CosineDecay", self)
    }
    fn rate(&self, step: u64) -> f32 {
        let t = step.min(self.decay_steps) as f64 / self.decay_steps as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        let alpha = self.alpha as f64;
        (self.initial_learning_rate as f64 * ((1.0 - alpha) * cosine + alpha)) as f32
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
