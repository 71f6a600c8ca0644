//! What every optimizer shares, as Keras 3's `BaseOptimizer`: weight decay, gradient clipping,
//! gradient accumulation and the exponential moving average of the weights, applied around
//! the optimizer's own update rule in Keras's order:
//!
//! ```text
//! accumulating (n steps):  acc += g, no update, until every n-th step, where g = (g + acc) / n
//! clip:                    clipnorm (each tensor's norm) | global_clipnorm (all tensors') | clipvalue
//! weight decay:            w ← w − w · weight_decay · lr
//! update:                  the optimizer's rule (Adam, SGD, ...)
//! EMA (every step):        a ← m a + (1 − m) w, with m = 0 before the first update;
//!                          every ema_overwrite_frequency updates, w ← a
//! constraints:             w ← constraint(w), every step
//! ```
//!
//! With accumulation, the optimizer's `iterations` counts updates (Keras's
//! `iterations // gradient_accumulation_steps`), which is what Adam's bias correction sees;
//! a learning-rate schedule sees every step, as in Keras.

use crate::error::{Error, Result};
use crate::params::Param;

/// Keras's `BaseOptimizer` arguments, on every optimizer (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerOptions {
    /// Decoupled weight decay: `w ← w − w · weight_decay · lr` before each update.
    #[serde(default)]
    pub weight_decay: Option<f32>,
    /// Scale each gradient tensor down to this L2 norm when it is larger.
    #[serde(default)]
    pub clipnorm: Option<f32>,
    /// Clip each gradient value to `[−clipvalue, clipvalue]`.
    #[serde(default)]
    pub clipvalue: Option<f32>,
    /// Scale all gradient tensors together down to this joint L2 norm when it is larger.
    #[serde(default)]
    pub global_clipnorm: Option<f32>,
    /// Keep an exponential moving average of the weights.
    #[serde(default)]
    pub use_ema: bool,
    /// The average's momentum (Keras's default 0.99).
    #[serde(default = "default_ema_momentum")]
    pub ema_momentum: f32,
    /// Every this many updates, overwrite the weights with their average.
    #[serde(default)]
    pub ema_overwrite_frequency: Option<u64>,
    /// Average the gradients of this many batches into one update.
    #[serde(default)]
    pub gradient_accumulation_steps: Option<u64>,
}

fn default_ema_momentum() -> f32 {
    0.99
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        OptimizerOptions {
            weight_decay: None,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            use_ema: false,
            ema_momentum: 0.99,
            ema_overwrite_frequency: None,
            gradient_accumulation_steps: None,
        }
    }
}

impl OptimizerOptions {
    /// Checks the arguments as Keras's `BaseOptimizer.__init__` does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`]: two clipping options at once, a clip or decay that is
    /// negative or not finite, `gradient_accumulation_steps` below 2 (Keras's rule; 0 and 1
    /// are refused rather than ignored), `ema_momentum` outside `[0, 1]`,
    /// `ema_overwrite_frequency` 0.
    pub fn check(&self) -> Result<()> {
        let clips = [self.clipnorm, self.clipvalue, self.global_clipnorm];
        if clips.iter().filter(|c| c.is_some()).count() > 1 {
            let show = |c: Option<f32>| c.map_or("None".to_string(), |v| v.to_string());
            return Err(Error::invalid(
                "clipnorm/clipvalue/global_clipnorm",
                format!(
                    "clipnorm={}, clipvalue={}, global_clipnorm={}",
                    show(self.clipnorm),
                    show(self.clipvalue),
                    show(self.global_clipnorm)
                ),
                "only one of clipnorm, clipvalue and global_clipnorm",
            ));
        }
        for (name, v) in [
            ("clipnorm", self.clipnorm),
            ("clipvalue", self.clipvalue),
            ("global_clipnorm", self.global_clipnorm),
            ("weight_decay", self.weight_decay),
        ] {
            if let Some(v) = v {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(Error::invalid(name, v, "a non-negative, finite number"));
                }
            }
        }
        if let Some(n) = self.gradient_accumulation_steps {
            if n < 2 {
                return Err(Error::invalid("gradient_accumulation_steps", n, "an integer >= 2"));
            }
        }
        if self.use_ema {
            if !(0.0..=1.0).contains(&self.ema_momentum) {
                return Err(Error::invalid("ema_momentum", self.ema_momentum, "a number in [0, 1]"));
            }
            if self.ema_overwrite_frequency == Some(0) {
                return Err(Error::invalid("ema_overwrite_frequency", 0, "an integer >= 1"));
            }
        }
        Ok(())
    }
}

/// What every optimizer has, as Keras's `BaseOptimizer`: the learning rate, the update count,
/// the options and the state they need (the gradient accumulators, the weights' moving
/// averages and the count of steps, i.e. batches, taken).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Base {
    /// Step size.
    pub learning_rate: f32,
    /// The arguments.
    #[serde(flatten)]
    pub options: OptimizerOptions,
    /// Updates made (Keras's `iterations`).
    #[serde(skip)]
    pub(crate) iterations: u64,
    /// Batches seen (Keras's `_iterations`): equal to the update count without accumulation.
    #[serde(skip)]
    pub(crate) steps: u64,
    #[serde(skip)]
    pub(crate) accumulators: Vec<Vec<f32>>,
    #[serde(skip)]
    pub(crate) averages: Vec<Vec<f32>>,
}

impl Base {
    /// A learning rate with the default options.
    pub fn new(learning_rate: f32) -> Self {
        Base { learning_rate, ..Base::default() }
    }

    /// Sizes the accumulators and averages for parameters of `sizes` (kept when they match).
    pub fn build(&mut self, sizes: &[usize]) {
        if self.options.gradient_accumulation_steps.is_some() {
            super::build_slots(&mut self.accumulators, sizes);
        } else {
            self.accumulators.clear();
        }
        if self.options.use_ema {
            super::build_slots(&mut self.averages, sizes);
        } else {
            self.averages.clear();
        }
    }

    /// Batches seen so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the batch count (when a saved optimizer is restored).
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The state by Keras's variable names, for saving.
    pub fn slots(&self) -> Vec<(&'static str, &[Vec<f32>])> {
        let mut slots: Vec<(&'static str, &[Vec<f32>])> = Vec::new();
        if !self.accumulators.is_empty() {
            slots.push(("gradient_accumulator", &self.accumulators));
        }
        if !self.averages.is_empty() {
            slots.push(("average", &self.averages));
        }
        slots
    }

    /// The same, writable.
    pub fn slots_mut(&mut self) -> Vec<(&'static str, &mut Vec<Vec<f32>>)> {
        let mut slots: Vec<(&'static str, &mut Vec<Vec<f32>>)> = Vec::new();
        if !self.accumulators.is_empty() {
            slots.push(("gradient_accumulator", &mut self.accumulators));
        }
        if !self.averages.is_empty() {
            slots.push(("average", &mut self.averages));
        }
        slots
    }

    /// The weights' moving averages, one per parameter (empty without `use_ema`).
    pub fn averages(&self) -> &[Vec<f32>] {
        &self.averages
    }
}

/// Parameters the optimizer walks, in a fixed order: a model's layers, or a plain list.
pub trait Params {
    /// Calls `f` with each parameter and its slot index, in order.
    fn for_each(&mut self, f: &mut dyn FnMut(usize, &mut Param));
}

impl Params for [Param] {
    fn for_each(&mut self, f: &mut dyn FnMut(usize, &mut Param)) {
        for (slot, p) in self.iter_mut().enumerate() {
            f(slot, p);
        }
    }
}

/// One step over `params`, whose gradients hold this batch's: accumulation, clipping, weight
/// decay, the optimizer's rule, the moving average and constraints, in Keras's order (see the
/// [module docs](self)). Build the optimizer (and its [`Base`]) for the parameters' sizes
/// first. Allocation-free; `fit` calls it once per batch.
///
/// ```
/// use minibatch::layers::Param;
/// use minibatch::optimizers::{base::apply_gradients, Optimizer, SGD};
/// let mut params = vec![Param::zeros("w", &[2])];
/// params[0].grad.data_mut().copy_from_slice(&[3.0, 4.0]);
/// let mut sgd = SGD::new(0.1).clipnorm(1.0); // the gradient's norm 5 is scaled to 1
/// sgd.build(&[2]);
/// sgd.base_mut().build(&[2]);
/// apply_gradients(&mut sgd, params.as_mut_slice());
/// assert_eq!(params[0].value.data(), &[-0.1 * 0.6, -0.1 * 0.8]);
/// ```
pub fn apply_gradients(opt: &mut dyn super::Optimizer, params: &mut (impl Params + ?Sized)) {
    let o = opt.base().options;
    let step = opt.base().steps;

    // 1. Accumulate, and decide whether this step updates.
    let update = match o.gradient_accumulation_steps {
        Some(n) => {
            let is_update = (step + 1).is_multiple_of(n);
            let acc = &mut opt.base_mut().accumulators;
            params.for_each(&mut |slot, p| {
                let a = &mut acc[slot];
                if is_update {
                    for (g, a) in p.grad.data_mut().iter_mut().zip(a.iter_mut()) {
                        *g = (*g + *a) / n as f32;
                        *a = 0.0;
                    }
                } else {
                    a.iter_mut().zip(p.grad.data()).for_each(|(a, g)| *a += g);
                }
            });
            is_update
        }
        None => true,
    };

    if update {
        // 2. Clip.
        if let Some(c) = o.clipnorm.filter(|&c| c > 0.0) {
            params.for_each(&mut |_, p| {
                let g = p.grad.data_mut();
                let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
                if norm > 0.0 {
                    let d = norm.max(c);
                    g.iter_mut().for_each(|v| *v = *v * c / d);
                }
            });
        } else if let Some(c) = o.global_clipnorm.filter(|&c| c > 0.0) {
            let mut squares = 0.0f32;
            params.for_each(&mut |_, p| squares += p.grad.data().iter().map(|v| v * v).sum::<f32>());
            let scale = c * (1.0 / squares.sqrt()).min(1.0 / c);
            params.for_each(&mut |_, p| p.grad.data_mut().iter_mut().for_each(|v| *v *= scale));
        } else if let Some(c) = o.clipvalue.filter(|&c| c > 0.0) {
            params.for_each(&mut |_, p| p.grad.data_mut().iter_mut().for_each(|v| *v = v.clamp(-c, c)));
        }
        // 3. Weight decay, then 4. the rule.
        opt.begin_step();
        let lr = opt.learning_rate();
        params.for_each(&mut |slot, p| {
            if let Some(wd) = o.weight_decay.filter(|&wd| wd != 0.0) {
                decay(p.value.data_mut(), wd * lr);
            }
            opt.update(slot, p.value.data_mut(), p.grad.data());
        });
        opt.finish_step();
    }

    // 5. The moving average, every step (Keras's `iterations` before this step's increment).
    if o.use_ema {
        let iterations = step / o.gradient_accumulation_steps.unwrap_or(1);
        let m = if iterations != 0 { o.ema_momentum } else { 0.0 };
        let overwrite = o.ema_overwrite_frequency.is_some_and(|f| (iterations + 1).is_multiple_of(f));
        let averages = &mut opt.base_mut().averages;
        params.for_each(&mut |slot, p| {
            let a = &mut averages[slot];
            a.iter_mut().zip(p.value.data()).for_each(|(a, &w)| *a = m * *a + (1.0 - m) * w);
            if overwrite {
                p.value.data_mut().copy_from_slice(a);
            }
        });
    }
    opt.base_mut().steps += 1;

    // 6. Constraints.
    params.for_each(&mut |_, p| {
        if let Some(c) = p.constraint {
            c.apply(&mut p.value);
        }
    });
}

/// Overwrites every weight with its moving average (Keras's `finalize_variable_values`, at the
/// end of `fit` with `use_ema`), or swaps weights and averages when `swap` (Keras's
/// `SwapEMAWeights`). Does nothing without `use_ema`.
pub fn use_averages(opt: &mut dyn super::Optimizer, params: &mut (impl Params + ?Sized), swap: bool) {
    let averages = &mut opt.base_mut().averages;
    if averages.is_empty() {
        return;
    }
    params.for_each(&mut |slot, p| {
        if swap {
            p.value.data_mut().swap_with_slice(&mut averages[slot]);
        } else {
            p.value.data_mut().copy_from_slice(&averages[slot]);
        }
    });
}

crate::simd! {
    /// `w ← w − w · d`
    fn decay(w: &mut [f32], d: f32) {
        w.iter_mut().for_each(|w| *w -= *w * d);
    }
}

/// Builder methods for Keras's `BaseOptimizer` arguments on an optimizer type with a
/// `base: Base` field.
macro_rules! base_options {
    ($t:ty) => {
        base_options!($t, base);
    };
    ($t:ty, $($field:ident).+) => {
        impl $t {
            /// Keras's `weight_decay`: `w ← w − w · weight_decay · lr` before each update.
            pub fn weight_decay(mut self, weight_decay: f32) -> Self {
                self.$($field).+.options.weight_decay = Some(weight_decay);
                self
            }
            /// Keras's `clipnorm`: each gradient tensor scaled down to this L2 norm.
            pub fn clipnorm(mut self, clipnorm: f32) -> Self {
                self.$($field).+.options.clipnorm = Some(clipnorm);
                self
            }
            /// Keras's `clipvalue`: each gradient value clipped to `[−clipvalue, clipvalue]`.
            pub fn clipvalue(mut self, clipvalue: f32) -> Self {
                self.$($field).+.options.clipvalue = Some(clipvalue);
                self
            }
            /// Keras's `global_clipnorm`: all gradients scaled down to this joint L2 norm.
            pub fn global_clipnorm(mut self, global_clipnorm: f32) -> Self {
                self.$($field).+.options.global_clipnorm = Some(global_clipnorm);
                self
            }
            /// Keras's `use_ema` with `ema_momentum`: keep a moving average of the weights,
            /// which replaces them at the end of `fit`.
            pub fn ema(mut self, ema_momentum: f32) -> Self {
                self.$($field).+.options.use_ema = true;
                self.$($field).+.options.ema_momentum = ema_momentum;
                self
            }
            /// Keras's `ema_overwrite_frequency`: every `n` updates the weights become their average.
            pub fn ema_overwrite_frequency(mut self, n: u64) -> Self {
                self.$($field).+.options.ema_overwrite_frequency = Some(n);
                self
            }
            /// Keras's `gradient_accumulation_steps`: one update per `n` batches, with their
            /// mean gradient.
            pub fn gradient_accumulation_steps(mut self, n: u64) -> Self {
                self.$($field).+.options.gradient_accumulation_steps = Some(n);
                self
            }
            /// Sets every `BaseOptimizer` argument at once.
            pub fn options(mut self, options: $crate::optimizers::OptimizerOptions) -> Self {
                self.$($field).+.options = options;
                self
            }
        }
    };
}
pub(crate) use base_options;

/// Builders for an optimizer's own hyperparameters, each taking the f64 the user wrote
/// (Keras's Python float, from which `1 − β` is formed: see `tensor::keras_float`), so a
/// value is set by its builder as by Keras's argument: `Adam::new(1e-3).beta_2(0.98)`.
/// `hyperparameters!(AdamW, adam; beta_1: "…", …)` reaches them through a field.
macro_rules! hyperparameters {
    ($t:ty; $($name:ident: $doc:literal),+ $(,)?) => {
        impl $t {
            $(
                #[doc = $doc]
                pub fn $name(mut self, value: f64) -> Self {
                    self.$name = value;
                    self
                }
            )+
        }
    };
    ($t:ty, $field:ident; $($name:ident: $doc:literal),+ $(,)?) => {
        impl $t {
            $(
                #[doc = $doc]
                pub fn $name(mut self, value: f64) -> Self {
                    self.$field.$name = value;
                    self
                }
            )+
        }
    };
}

pub(crate) use hyperparameters;
