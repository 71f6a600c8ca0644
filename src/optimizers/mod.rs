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

/// One optimizer in the [`REGISTRY`]: Keras's name (`compile("adam", …)`), its class name in
/// saved configurations, a constructor with Keras's defaults, and one from a saved config.
pub struct Entry {
    /// Keras's name: `adam`.
    pub name: &'static str,
    /// The class name a saved configuration gives: `Adam`.
    pub class: &'static str,
    /// The optimizer with Keras's defaults.
    pub new: fn() -> Box<dyn Optimizer>,
    /// The optimizer a saved `{"class_name", "config"}` describes.
    pub from_config: fn(&serde_json::Value) -> Result<Box<dyn Optimizer>>,
}

/// The table of optimizers, one row each: adding an optimizer is its file and one row here.
/// [`NAMES`], [`from_name`], [`from_config`] and `compile`'s [`IntoOptimizer`] all read it.
macro_rules! registry {
    ($($t:ident => $name:literal),* $(,)?) => {
        /// Every optimizer, in the order the command's help lists them.
        pub const REGISTRY: &[Entry] = &[$(Entry {
            name: $name,
            class: stringify!($t),
            new: || Box::new($t::default()),
            from_config: |config| Ok(Box::new(parse_config::<$t>(config, stringify!($t))?)),
        }),*];
        $(impl IntoOptimizer for $t {
            fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
                Ok(Box::new(self))
            }
        })*
    };
}

registry! {
    SGD => "sgd",
    Adam => "adam",
    AdamW => "adamw",
    RMSprop => "rmsprop",
    Nadam => "nadam",
    Adamax => "adamax",
    Adagrad => "adagrad",
    Adadelta => "adadelta",
    Lion => "lion",
}

/// `config`'s `"config"` entry as an optimizer of class `class`.
fn parse_config<T: serde::de::DeserializeOwned>(config: &serde_json::Value, class: &str) -> Result<T> {
    let c = config.get("config").ok_or_else(|| Error::State(format!("optimizer {class}: no \"config\"")))?;
    T::deserialize(c).map_err(|e| Error::State(format!("config of optimizer {class}: {e}")))
}

/// The names [`from_name`] accepts: the [`REGISTRY`]'s, in order.
pub const NAMES: &[&str] = &{
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
};

/// The class names [`from_config`] accepts: the [`REGISTRY`]'s, in order.
const CLASSES: &[&str] = &{
    let mut classes = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        classes[i] = REGISTRY[i].class;
        i += 1;
    }
    classes
};

/// The optimizer a [`Optimizer::config`] describes, with fresh state (see
/// [`crate::saving`] for restoring the state too). A config with a `"schedule"` entry gives a
/// [`schedules::Scheduled`] optimizer.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown class; [`Error::State`] naming the argument that is
/// missing or wrong.
pub fn from_config(config: &serde_json::Value) -> Result<Box<dyn Optimizer>> {
    let class = config.get("class_name").and_then(|c| c.as_str()).unwrap_or_default();
    let entry = REGISTRY.iter().find(|e| e.class == class).ok_or_else(|| Error::UnknownName {
        kind: "optimizer class",
        name: class.into(),
        known: CLASSES.to_vec(),
    })?;
    let optimizer = (entry.from_config)(config)?;
    Ok(match config.get("schedule") {
        Some(schedule) => Box::new(schedules::Scheduled::from_boxed(optimizer, schedules::from_config(schedule)?)),
        None => optimizer,
    })
}

/// The optimizer Keras calls `name`, with Keras's defaults.
///
/// # Errors
/// [`Error::UnknownName`] for a name not in [`NAMES`].
pub fn from_name(name: &str) -> Result<Box<dyn Optimizer>> {
    let lower = name.to_ascii_lowercase();
    match REGISTRY.iter().find(|e| e.name == lower) {
        Some(entry) => Ok((entry.new)()),
        None => Err(Error::UnknownName { kind: "optimizer", name: name.into(), known: NAMES.to_vec() }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the table: its name is the optimizer's own, its config names its class,
    /// and the config rebuilds an optimizer with the same config; after a few updates, a
    /// rebuilt one continues identically (same slots, same bits).
    #[test]
    fn every_registry_entry_round_trips_its_config() {
        for entry in REGISTRY {
            let mut opt = (entry.new)();
            assert_eq!(opt.name(), entry.name);
            assert_eq!(from_name(&entry.name.to_ascii_uppercase()).unwrap().name(), entry.name);
            let config = opt.config().unwrap_or_else(|| panic!("{} gives no config", entry.name));
            assert_eq!(config["class_name"], entry.class, "{}", entry.name);
            let rebuilt = from_config(&config).unwrap();
            assert_eq!(rebuilt.config(), Some(config.clone()), "{}", entry.name);
            // The same updates from the same start: the same weights.
            let mut again = from_config(&config).unwrap();
            opt.build(&[3]);
            again.build(&[3]);
            let (mut a, mut b) = (vec![0.5f32, -1.0, 2.0], vec![0.5f32, -1.0, 2.0]);
            for step in 0..3 {
                let g = [0.1 * step as f32, -0.2, 0.3];
                for (o, w) in [(&mut opt, &mut a), (&mut again, &mut b)] {
                    o.begin_step();
                    o.update(0, w, &g);
                    o.finish_step();
                }
            }
            assert_eq!(a, b, "{}", entry.name);
            assert_ne!(a, vec![0.5, -1.0, 2.0], "{} moved the weights", entry.name);
        }
        assert_eq!(NAMES.len(), REGISTRY.len());
        let e = from_config(&serde_json::json!({"class_name": "Adma", "config": {}})).err().unwrap().to_string();
        assert!(e.contains("Adma") && e.contains("AdamW"), "{e}");
    }
}
