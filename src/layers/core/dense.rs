//! `Dense`: a fully-connected layer, `y = activation(x · kernel + bias)`.

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::core::regularization::regularization_builders;
use crate::layers::LayerCore;
use crate::layers::{Layer, Param, Regularization};
use crate::rng::Rng;
use crate::tensor::{kernels, Tensor};

/// A fully-connected layer, `y = activation(x · kernel + bias)`.
///
/// Applied to the last axis of the input, as in Keras: a per-sample input `[…, in]` gives an
/// output `[…, units]`. The kernel is `[in, units]` (Keras's layout), the bias `[units]`.
///
/// ```
/// use minibatch::layers::Dense;
/// let layer = Dense::new(64).activation("relu").kernel_initializer("he_normal");
/// ```
#[derive(Debug, Clone)]
pub struct Dense {
    units: usize,
    activation: Result<Activation>,
    use_bias: bool,
    kernel_initializer: Result<Initializer>,
    bias_initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: `[kernel, bias]`, or `[kernel]` without bias.
    core: LayerCore,
}

impl Dense {
    /// A layer of `units` outputs with Keras's defaults: no activation, a bias,
    /// `glorot_uniform` kernel and `zeros` bias.
    pub fn new(units: usize) -> Self {
        Dense {
            units,
            activation: Ok(Activation::Linear),
            use_bias: true,
            kernel_initializer: Ok(Initializer::GlorotUniform),
            bias_initializer: Ok(Initializer::Zeros),
            core: LayerCore::default(),
        }
    }

    /// The layer's name (else the model assigns `dense`, `dense_1`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn act(&self) -> Activation {
        *self.activation.as_ref().expect("activation checked in build")
    }
}

/// Dense's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DenseConfig {
    name: String,
    units: usize,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    #[serde(flatten)]
    reg: Regularization,
}

impl Dense {
    /// The layer a [`DenseConfig`] describes (not built).
    pub fn from_config(c: DenseConfig) -> Self {
        Dense::new(c.units)
            .name(&c.name)
            .activation(c.activation)
            .use_bias(c.use_bias)
            .kernel_initializer(c.kernel_initializer)
            .bias_initializer(c.bias_initializer)
            .regularization(c.reg)
    }
}

impl Layer for Dense {
    fn check_arguments(&self) -> Result<()> {
        self.activation.as_ref().map_err(Clone::clone)?;
        self.kernel_initializer.as_ref().map_err(Clone::clone)?;
        self.bias_initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "Dense"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.activation.clone()?;
        let (kinit, binit) = (self.kernel_initializer.clone()?, self.bias_initializer.clone()?);
        if self.units == 0 {
            return Err(Error::invalid("units", 0, format!("a positive number of units for layer {}", self.core.name)));
        }
        let fan_in = *input_shape.last().filter(|&&n| n > 0).ok_or_else(|| {
            Error::shape(format!("input to layer {}", self.core.name), "a last axis of at least 1 feature", input_shape)
        })?;
        let mut kernel = Param::claim(&self.core.name, "kernel", &[fan_in, self.units])?;
        kinit.fill(kernel.value.data_mut(), fan_in, self.units, rng);
        self.core.params = vec![kernel];
        if self.use_bias {
            let mut bias = Param::claim(&self.core.name, "bias", &[self.units])?;
            binit.fill(bias.value.data_mut(), fan_in, self.units, rng);
            self.core.params.push(bias);
        }
        self.core.reg.attach(&mut self.core.params)?;
        let mut out = input_shape.to_vec();
        *out.last_mut().expect("non-empty") = self.units;
        Ok(out)
    }

    fn plan(&mut self, max_batch: usize) {
        self.core.output.plan(self.act(), max_batch * self.units);
    }

    // # Shapes
    // x: [rows, in] (rows = batch × leading axes), kernel: [in, units], y: [rows, units]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let precision = self.core.precision();
        let w = &self.core.params[0].value;
        let (fan_in, units) = (w.shape()[0], self.units);
        let rows = x.len() / fan_in;
        kernels::matmul_in(precision, y.data_mut(), x.data(), w.data(), rows, fan_in, units, false, false, 0.0);
        if let Some(bias) = self.core.params.get(1) {
            kernels::add_row_bias_in(precision, y.data_mut(), bias.value.data());
        }
        self.core.output.forward(self.act(), y.data_mut(), units);
    }

    // dz = dy ⊙ f'(z);  d kernel = xᵀ · dz;  d bias = Σ_rows dz;  dx = dz · kernelᵀ
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let precision = self.core.precision();
        let (fan_in, units) = (self.core.params[0].value.shape()[0], self.units);
        let rows = x.len() / fan_in;
        self.core.activation_backward(self.act(), dy.data_mut(), y.data(), units);
        let dz = dy.data();
        let (kernel, rest) = self.core.params.split_first_mut().expect("built");
        kernels::matmul_in(precision, kernel.grad.data_mut(), x.data(), dz, fan_in, rows, units, true, false, 0.0);
        if let Some(bias) = rest.first_mut() {
            kernels::sum_rows(bias.grad.data_mut(), dz);
        }
        if self.core.gradient_norms.asked {
            let bias = rest.first().map(|b| b.grad.data());
            self.core.gradient_norms.record_dense(x.data(), dz, (rows, x.batch()), kernel.grad.data(), bias);
        }
        if let Some(dx) = dx {
            kernels::matmul_in(
                precision,
                dx.data_mut(),
                dz,
                kernel.value.data(),
                rows,
                units,
                fan_in,
                false,
                true,
                0.0,
            );
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation.clone().unwrap_or(Activation::Linear)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        self.core.output.planned_bytes(self.act(), max_batch * self.units)
    }

    fn workspace_bytes(&self) -> usize {
        self.core.output.bytes()
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = DenseConfig {
            name: self.core.name.clone(),
            units: self.units,
            activation: self.activation.clone().ok()?,
            use_bias: self.use_bias,
            kernel_initializer: self.kernel_initializer.clone().ok()?,
            bias_initializer: self.bias_initializer.clone().ok()?,
            reg: self.core.reg,
        };
        serde_json::to_value(c).ok()
    }
}

regularization_builders!(Dense);

crate::layers::weighted_layer_builders!(Dense);
