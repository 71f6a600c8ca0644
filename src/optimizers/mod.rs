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

mod adam;
mod adamw;
mod rmsprop;
pub mod schedules;
mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use rmsprop::RMSprop;
pub use sgd::SGD;

use crate::error::{Error, Result};

/// A rule that turns gradients into weight updates. See the [module docs](self).
pub trait Optimizer: Send {
    /// Keras's name: `adam`, `sgd`, ...
    fn name(&self) -> &'static str;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Sets the learning rate (schedules and callbacks use this).
    fn set_learning_rate(&mut self, lr: f32);

    /// Steps completed so far (Keras's `optimizer.iterations`).
    fn iterations(&self) -> u64;

    /// Allocates state for parameters of the given sizes, one slot each, in the order
    /// `update` will be called. Calling it again with the same sizes keeps the state.
    fn build(&mut self, sizes: &[usize]);

    /// Applies one update to parameter `slot`: `w ← w − step(g)`.
    fn update(&mut self, slot: usize, w: &mut [f32], g: &[f32]);

    /// Ends a step: the iteration count advances.
    fn finish_step(&mut self);
}

/// The names [`from_name`] accepts.
pub const NAMES: &[&str] = &["sgd", "adam", "adamw", "rmsprop"];

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
into_optimizer!(SGD, Adam, AdamW, RMSprop);

impl<O: Optimizer + 'static> IntoOptimizer for schedules::Scheduled<O> {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(self))
    }
}

/// Parameters with at least this many values are updated on all kernel threads.
pub(crate) const PARALLEL_MIN: usize = 1 << 15;

/// A pointer that may cross to the kernel threads, for updates of disjoint ranges.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut f32);

// SAFETY: used only to hand disjoint ranges of one buffer to the pool's threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Values `lo..hi` of the buffer.
    ///
    /// # Safety
    /// The range must lie inside the buffer, and no other live slice may overlap it.
    pub unsafe fn slice<'a>(self, lo: usize, hi: usize) -> &'a mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(lo), hi - lo) }
    }
}

/// Makes `slots` hold one zeroed vector per size, keeping existing state when sizes match.
pub(crate) fn build_slots(slots: &mut Vec<Vec<f32>>, sizes: &[usize]) {
    if slots.len() != sizes.len() || slots.iter().zip(sizes).any(|(s, &n)| s.len() != n) {
        *slots = sizes.iter().map(|&n| vec![0.0; n]).collect();
    }
}
