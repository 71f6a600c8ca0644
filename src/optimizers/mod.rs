//! Optimizers with Keras 3's defaults and update formulas.
//!
//! An optimizer keeps one state slot per parameter tensor (moments, velocities), sized once by
//! [`Optimizer::build`]; a step calls [`Optimizer::update`] for every parameter and then
//! [`Optimizer::finish_step`]. Nothing allocates after `build`.
//!
//! | name | defaults |
//! |---|---|
//! | `sgd` | learning_rate 0.01, momentum 0, nesterov false |
//! | `adam` | learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7 |
//! | `adamw` | as adam, weight_decay 0.004 |
//! | `rmsprop` | learning_rate 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false |
//! | `nadam` | learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7 |
//! | `adamax` | learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7 |
//! | `adagrad` | learning_rate 0.001, initial_accumulator_value 0.1, epsilon 1e-7 |
//! | `adadelta` | learning_rate 0.001, rho 0.95, epsilon 1e-7 |
//! | `lion` | learning_rate 0.001, beta_1 0.9, beta_2 0.99 |
//!
//! Every optimizer also takes Keras's `BaseOptimizer` arguments — `weight_decay`, `clipnorm`,
//! `clipvalue`, `global_clipnorm`, `use_ema` (`.ema(momentum)`), `ema_overwrite_frequency`,
//! `gradient_accumulation_steps` — applied around its rule as Keras applies them (see
//! [`base`]):
//!
//! ```
//! use minibatch::optimizers::Adam;
//! let optimizer = Adam::new(1e-3).clipnorm(1.0).weight_decay(1e-4).gradient_accumulation_steps(4);
//! ```

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod adamw;
pub mod base;
mod lion;
mod nadam;
mod rmsprop;
pub mod schedules;
mod sgd;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use adamw::AdamW;
pub use base::{Base, OptimizerOptions};
pub use lion::Lion;
pub use nadam::Nadam;
pub use rmsprop::RMSprop;
pub use sgd::SGD;

use crate::error::{Error, Result};
pub(crate) use crate::tensor::SendPtr;

/// A rule that turns gradients into weight updates. See the [module docs](self).
pub trait Optimizer: Send {
    /// Keras's name: `adam`, `sgd`, ...
    fn name(&self) -> &'static str;

    /// The current learning rate.
    fn learning_rate(&self) -> f32 {
        self.base().learning_rate
    }

    /// Sets the learning rate (schedules and callbacks use this).
    fn set_learning_rate(&mut self, lr: f32) {
        self.base_mut().learning_rate = lr;
    }

    /// Updates made so far (Keras's `optimizer.iterations`).
    fn iterations(&self) -> u64 {
        self.base().iterations
    }

    /// Allocates state for parameters of the given sizes, one slot each, in the order
    /// `update` will be called. Calling it again with the same sizes keeps the state.
    fn build(&mut self, sizes: &[usize]);

    /// Called once before the updates of a step (a schedule sets its rate here).
    fn begin_step(&mut self) {}

    /// Applies one update to parameter `slot`: `w ← w − step(g)`.
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]);

    /// Ends an update: the iteration count advances.
    fn finish_step(&mut self) {
        self.base_mut().iterations += 1;
    }

    /// Sets the update count (when a saved optimizer is restored).
    fn set_iterations(&mut self, n: u64) {
        self.base_mut().iterations = n;
    }

    /// Keras's `get_config()` as `{"class_name": "Adam", "config": {...}}`, with the current
    /// learning rate, from which [`from_config`] rebuilds the optimizer; `None` (the default)
    /// for an optimizer that cannot be saved.
    fn config(&self) -> Option<serde_json::Value> {
        None
    }

    /// The per-parameter state by Keras's slot names (`momentum`, `velocity`, ...): one vector
    /// per parameter in `build` order, or none for a slot the settings do not use.
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        Vec::new()
    }

    /// The same slots, writable (to restore them).
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        Vec::new()
    }

    /// Keras's `BaseOptimizer` arguments and their state (see [`base`]).
    fn base(&self) -> &Base;

    /// The same, writable.
    fn base_mut(&mut self) -> &mut Base;
}

impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn learning_rate(&self) -> f32 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        (**self).set_learning_rate(lr)
    }
    fn iterations(&self) -> u64 {
        (**self).iterations()
    }
    fn build(&mut self, sizes: &[usize]) {
        (**self).build(sizes)
    }
    fn begin_step(&mut self) {
        (**self).begin_step()
    }
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]) {
        (**self).update(slot, w, g)
    }
    fn finish_step(&mut self) {
        (**self).finish_step()
    }
    fn set_iterations(&mut self, n: u64) {
        (**self).set_iterations(n)
    }
    fn config(&self) -> Option<serde_json::Value> {
        (**self).config()
    }
    fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        (**self).slots()
    }
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        (**self).slots_mut()
    }
    fn base(&self) -> &Base {
        (**self).base()
    }
    fn base_mut(&mut self) -> &mut Base {
        (**self).base_mut()
    }
}

/// Checks an optimizer's learning rate and `BaseOptimizer` arguments before training.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the argument and its value.
pub fn check_options(optimizer: &dyn Optimizer) -> Result<()> {
    let lr = optimizer.learning_rate();
    if !(lr >= 0.0 && lr.is_finite()) {
        return Err(Error::invalid("learning_rate", lr, "a non-negative, finite step size"));
    }
    optimizer.base().options.check()
}

/// `{"class_name": name, "config": value's public fields}`.
pub(crate) fn class_config(name: &str, value: &impl serde::Serialize) -> Option<serde_json::Value> {
    Some(serde_json::json!({ "class_name": name, "config": serde_json::to_value(value).ok()? }))
}

/// The optimizer a [`Optimizer::config`] describes, with fresh state (see
/// [`crate::saving`] for restoring the state too). A config with a `"schedule"` entry gives a
/// [`schedules::Scheduled`] optimizer.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown class; [`Error::State`] naming the argument that is
/// missing or wrong.
pub fn from_config(config: &serde_json::Value) -> Result<Box<dyn Optimizer>> {
    fn parse<T: serde::de::DeserializeOwned>(config: &serde_json::Value, class: &str) -> Result<T> {
        let c = config.get("config").ok_or_else(|| Error::State(format!("optimizer {class}: no \"config\"")))?;
        T::deserialize(c).map_err(|e| Error::State(format!("config of optimizer {class}: {e}")))
    }
    let class = config.get("class_name").and_then(|c| c.as_str()).unwrap_or_default();
    let optimizer: Box<dyn Optimizer> = match class {
        "SGD" => Box::new(parse::<SGD>(config, class)?),
        "Adam" => Box::new(parse::<Adam>(config, class)?),
        "AdamW" => Box::new(parse::<AdamW>(config, class)?),
        "RMSprop" => Box::new(parse::<RMSprop>(config, class)?),
        "Nadam" => Box::new(parse::<Nadam>(config, class)?),
        "Adamax" => Box::new(parse::<Adamax>(config, class)?),
        "Adagrad" => Box::new(parse::<Adagrad>(config, class)?),
        "Adadelta" => Box::new(parse::<Adadelta>(config, class)?),
        "Lion" => Box::new(parse::<Lion>(config, class)?),
        _ => {
            return Err(Error::UnknownName {
                kind: "optimizer class",
                name: class.into(),
                known: vec!["SGD", "Adam", "AdamW", "RMSprop", "Nadam", "Adamax", "Adagrad", "Adadelta", "Lion"],
            })
        }
    };
    Ok(match config.get("schedule") {
        Some(schedule) => Box::new(schedules::Scheduled::from_boxed(optimizer, schedules::from_config(schedule)?)),
        None => optimizer,
    })
}

/// The names [`from_name`] accepts.
pub const NAMES: &[&str] = &["sgd", "adam", "adamw", "rmsprop", "nadam", "adamax", "adagrad", "adadelta", "lion"];

/// The optimizer Keras calls `name`, with Keras's defaults.
///
/// # Errors
/// [`Error::UnknownName`] for a name not in [`NAMES`].
pub fn from_name(name: &str) -> Result<Box<dyn Optimizer>> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "sgd" => Box::new(SGD::default()),
        "adam" => Box::new(Adam::default()),
        "adamw" => Box::new(AdamW::default()),
        "rmsprop" => Box::new(RMSprop::default()),
        "nadam" => Box::new(Nadam::default()),
        "adamax" => Box::new(Adamax::default()),
        "adagrad" => Box::new(Adagrad::default()),
        "adadelta" => Box::new(Adadelta::default()),
        "lion" => Box::new(Lion::default()),
        _ => return Err(Error::UnknownName { kind: "optimizer", name: name.into(), known: NAMES.to_vec() }),
    })
}

/// Something `compile` accepts as an optimizer: a name or an optimizer value.
pub trait IntoOptimizer {
    /// Resolves it.
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>>;
}

impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        from_name(self)
    }
}

impl IntoOptimizer for Box<dyn Optimizer> {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(self)
    }
}

macro_rules! into_optimizer {
    ($($t:ty),*) => {$(
        impl IntoOptimizer for $t {
            fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
                Ok(Box::new(self))
            }
        }
    )*};
}
into_optimizer!(SGD, Adam, AdamW, RMSprop, Nadam, Adamax, Adagrad, Adadelta, Lion);

impl<O: Optimizer + 'static> IntoOptimizer for schedules::Scheduled<O> {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(self))
    }
}

/// Parameters with at least this many values are updated on all kernel threads.
pub(crate) const PARALLEL_MIN: usize = 1 << 15;

/// Makes `slots` hold one zeroed vector per size, keeping existing state when sizes match.
pub(crate) fn build_slots(slots: &mut Vec<Vec<f32>>, sizes: &[usize]) {
    if slots.len() != sizes.len() || slots.iter().zip(sizes).any(|(s, &n)| s.len() != n) {
        *slots = sizes.iter().map(|&n| vec![0.0; n]).collect();
    }
}
