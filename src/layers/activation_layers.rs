//! Keras's activation layers with arguments: `LeakyReLU`, `ELU` and `Softmax` (an
//! [`ActivationLayer`] under Keras's class name), `ReLU` (whose cap and threshold no
//! [`Activation`] carries) and `PReLU`, whose slope is learned.

use super::{ActivationLayer, Layer, Param};
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::{Initializer, IntoInitializer};
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `LeakyReLU(negative_slope=0.3)` layer (Keras 3's default slope is 0.3, where the
/// `leaky_relu` *function*'s is 0.2).
pub struct LeakyReLU;

impl LeakyReLU {
    /// With Keras's default slope 0.3.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> ActivationLayer {
        LeakyReLU::with_slope(0.3)
    }
    /// With the given negative slope.
    pub fn with_slope(negative_slope: f32) -> ActivationLayer {
        ActivationLayer::new(Activation::LeakyRelu { negative_slope }).class("LeakyReLU")
    }
}

/// Keras's `ELU(alpha=1.0)` layer.
pub struct ELU;

impl ELU {
    /// With Keras's default alpha 1.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> ActivationLayer {
        ELU::with_alpha(1.0)
    }
    /// With the given alpha.
    pub fn with_alpha(alpha: f32) -> ActivationLayer {
        ActivationLayer::new(Activation::Elu { alpha }).class("ELU")
    }
}

/// Keras's `Softmax(axis=-1)` layer.
pub struct Softmax;

impl Softmax {
    /// Over the last axis.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> ActivationLayer {
        ActivationLayer::new(Activation::Softmax).class("Softmax")
    }
}

/// Keras's `ReLU(max_value=None, negative_slope=0, threshold=0)` layer:
/// `f(x) = max_value` for `x ≥ max_value`, `x` for `threshold ≤ x < max_value`, else
/// `negative_slope · (x − threshold)`.
///
/// ```
/// use minibatch::layers::ReLU;
/// let relu6 = ReLU::new().max_value(6.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReLU {
    max_value: Option<f32>,
    negative_slope: f32,
    threshold: f32,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// ReLU's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ReLUConfig {
    name: String,
    max_value: Option<f32>,
    negative_slope: f32,
    threshold: f32,
}

impl ReLU {
    /// Keras's defaults: a plain rectifier.
    pub fn new() -> Self {
        ReLU::default()
    }
    /// The largest output.
    pub fn max_value(mut self, v: f32) -> Self {
        self.max_value = Some(v);
        self
    }
    /// The slope below the threshold.
    pub fn negative_slope(mut self, v: f32) -> Self {
        self.negative_slope = v;
        self
    }
    /// Where the rectifier turns.
    pub fn threshold(mut self, v: f32) -> Self {
        self.threshold = v;
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// The layer a [`ReLUConfig`] describes.
    pub fn from_config(c: ReLUConfig) -> Self {
        ReLU {
            max_value: c.max_value,
            negative_slope: c.negative_slope,
            threshold: c.threshold,
            core: LayerCore::named(&c.name),
        }
    }
    fn value_and_slope(&self, x: f32) -> (f32, f32) {
        match self.max_value {
            Some(m) if x >= m => (m, 0.0),
            _ if x >= self.threshold => (x, 1.0),
            _ => (self.negative_slope * (x - self.threshold), self.negative_slope),
        }
    }
}

impl Layer for ReLU {
    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn kind(&self) -> &'static str {
        "ReLU"
    }

    crate::layers::lends_core!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if let Some(m) = self.max_value {
            if m.is_nan() || m < 0.0 {
                return Err(Error::invalid(
                    "max_value",
                    m,
                    format!("a non-negative number (layer {})", self.core.name),
                ));
            }
        }
        if !self.negative_slope.is_finite() || !self.threshold.is_finite() {
            return Err(Error::invalid(
                "negative_slope/threshold",
                format!("{}/{}", self.negative_slope, self.threshold),
                "finite numbers",
            ));
        }
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        y.data_mut().iter_mut().zip(x.data()).for_each(|(y, &x)| *y = self.value_and_slope(x).0);
    }
    // dx = dy · f′(x), from the input
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            for ((d, &g), &x) in dx.data_mut().iter_mut().zip(dy.data()).zip(x.data()) {
                *d = g * self.value_and_slope(x).1;
            }
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        let c = ReLUConfig {
            name: self.core.name.clone(),
            max_value: self.max_value,
            negative_slope: self.negative_slope,
            threshold: self.threshold,
        };
        serde_json::to_value(c).ok()
    }
}

/// Keras's `PReLU`: `f(x) = x` for `x > 0`, else `α · x`, with a learned `α` for every value of
/// a sample (Keras's default `shared_axes=None`), initialized to zeros.
///
/// ```
/// use minibatch::layers::PReLU;
/// let layer = PReLU::new().alpha_initializer("ones");
/// ```
#[derive(Debug, Clone)]
pub struct PReLU {
    initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// PReLU's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PReLUConfig {
    name: String,
    alpha_initializer: Initializer,
}

impl Default for PReLU {
    fn default() -> Self {
        PReLU::new()
    }
}

impl PReLU {
    /// α starts at zero, as Keras's default.
    pub fn new() -> Self {
        PReLU { initializer: Ok(Initializer::Zeros), core: LayerCore::default() }
    }
    /// α's initializer, by value or Keras's name.
    pub fn alpha_initializer(mut self, init: impl IntoInitializer) -> Self {
        self.initializer = init.into_initializer();
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// The layer a [`PReLUConfig`] describes.
    pub fn from_config(c: PReLUConfig) -> Self {
        PReLU::new().alpha_initializer(c.alpha_initializer).name(&c.name)
    }
}

impl Layer for PReLU {
    fn check_arguments(&self) -> Result<()> {
        self.initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn kind(&self) -> &'static str {
        "PReLU"
    }

    crate::layers::lends_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let init = self.initializer.clone()?;
        if input_shape.is_empty() {
            return Err(Error::shape(
                format!("input to layer {} (PReLU)", self.core.name),
                "samples of at least one axis (one slope per value of a sample; Keras's scalar slope for one value per sample is absent)",
                input_shape,
            ));
        }
        let mut alpha = Param::claim(&self.core.name, "alpha", input_shape)?;
        let n = alpha.value.len();
        init.fill(alpha.value.data_mut(), n, n, rng);
        self.core.params = vec![alpha];
        Ok(input_shape.to_vec())
    }
    // # Shapes
    // x, y: [batch, sample…]; alpha: [sample…]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let alpha = self.core.params[0].value.data();
        for (yr, xr) in y.data_mut().chunks_exact_mut(alpha.len()).zip(x.data().chunks_exact(alpha.len())) {
            for ((y, &x), &a) in yr.iter_mut().zip(xr).zip(alpha) {
                *y = if x > 0.0 { x } else { a * x };
            }
        }
    }
    // dx = dy · (1 or α); dα = Σ_batch dy · x where x ≤ 0
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let (value, grad) = {
            let p = &mut self.core.params[0];
            (p.value.data(), p.grad.data_mut())
        };
        let k = value.len();
        grad.fill(0.0);
        for (gr, xr) in dy.data().chunks_exact(k).zip(x.data().chunks_exact(k)) {
            for ((a, &g), &x) in grad.iter_mut().zip(gr).zip(xr) {
                if x <= 0.0 {
                    *a += g * x;
                }
            }
        }
        if let Some(dx) = dx {
            for ((d, &g), (i, &x)) in dx.data_mut().iter_mut().zip(dy.data()).zip(x.data().iter().enumerate()) {
                *d = if x > 0.0 { g } else { g * value[i % k] };
            }
        }
    }
    fn config(&self) -> Option<serde_json::Value> {
        let c = PReLUConfig { name: self.core.name.clone(), alpha_initializer: self.initializer.clone().ok()? };
        serde_json::to_value(c).ok()
    }
}
