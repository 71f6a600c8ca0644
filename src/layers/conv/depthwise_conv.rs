//! `DepthwiseConv2D` and `SeparableConv2D`: a window per input channel, then (separable) a
//! 1×1 convolution mixing the channels (see [`DepthwiseConv`]).

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::LayerCore;
use crate::layers::{Layer, Padding, Param, Size, Window};
use crate::rng::Rng;
use crate::tensor::window::spatial_input;
use crate::tensor::{col2im, im2col, kernels, Tensor};

/// Makes depthwise convolutions: `DepthwiseConv2D::new(kernel_size)` returns a
/// [`DepthwiseConv`].
pub struct DepthwiseConv2D;

impl DepthwiseConv2D {
    /// A `kernel_size` window per input channel, Keras's defaults (depth multiplier 1).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(kernel_size: impl Into<Size>) -> DepthwiseConv {
        DepthwiseConv::new(None, kernel_size.into())
    }
}

/// Makes separable convolutions: `SeparableConv2D::new(filters, kernel_size)` returns a
/// [`DepthwiseConv`] with a pointwise part.
pub struct SeparableConv2D;

impl SeparableConv2D {
    /// A depthwise `kernel_size` window, then a 1×1 convolution to `filters` channels.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Size>) -> DepthwiseConv {
        DepthwiseConv::new(Some(filters), kernel_size.into())
    }
}

/// Keras's `DepthwiseConv2D` and `SeparableConv2D` over channels-last images `(N, H, W, C)`.
///
/// Depthwise: each input channel `i` is convolved with its own `depth_multiplier` kernels,
/// giving output channels `i · m + j`; the kernel is `[kh, kw, C, m]` (Keras's `kernel`), the
/// bias `[C · m]`. Separable: that depthwise result (no bias) then goes through a 1×1
/// convolution, `pointwise_kernel` `[1, 1, C · m, filters]`, and the bias `[filters]`. Keras's
/// defaults: strides 1, padding `"valid"`, dilation 1, depth multiplier 1, no activation, a
/// bias, `glorot_uniform` kernels and `zeros` bias.
///
/// ```
/// use minibatch::layers::{DepthwiseConv2D, SeparableConv2D};
/// let depthwise = DepthwiseConv2D::new(3).depth_multiplier(2).padding("same");
/// let separable = SeparableConv2D::new(32, 3).activation("relu");
/// ```
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    /// `Some(filters)` for SeparableConv2D.
    pointwise: Option<usize>,
    kernel_size: Size,
    strides: Size,
    dilation_rate: Size,
    padding: Result<Padding>,
    depth_multiplier: usize,
    activation: Result<Activation>,
    use_bias: bool,
    depthwise_initializer: Result<Initializer>,
    pointwise_initializer: Result<Initializer>,
    bias_initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: depthwise `[kernel, bias]`; separable `[depthwise_kernel, pointwise_kernel,
    /// bias]` (without the bias when `use_bias` is false).
    core: LayerCore,
    window: Window,
    /// `[rows, kh·kw·C]`: the patches; in backward, their gradient.
    cols: Vec<f32>,
    /// Separable: `[rows, C·m]`, the depthwise result, and its gradient.
    mid: Vec<f32>,
    dmid: Vec<f32>,
}

/// The saved arguments of both layers (Keras's names; `filters` and `pointwise_initializer`
/// only for SeparableConv2D).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DepthwiseConvConfig {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filters: Option<usize>,
    kernel_size: Size,
    strides: Size,
    padding: Padding,
    depth_multiplier: usize,
    dilation_rate: Size,
    activation: Activation,
    use_bias: bool,
    depthwise_initializer: Initializer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pointwise_initializer: Option<Initializer>,
    bias_initializer: Initializer,
}

impl DepthwiseConv {
    fn new(pointwise: Option<usize>, kernel_size: Size) -> Self {
        DepthwiseConv {
            pointwise,
            kernel_size,
            strides: Size::One(1),
            dilation_rate: Size::One(1),
            padding: Ok(Padding::Valid),
            depth_multiplier: 1,
            activation: Ok(Activation::Linear),
            use_bias: true,
            depthwise_initializer: Ok(Initializer::GlorotUniform),
            pointwise_initializer: Ok(Initializer::GlorotUniform),
            bias_initializer: Ok(Initializer::Zeros),
            window: Window::default(),
            cols: Vec::new(),
            mid: Vec::new(),
            dmid: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`DepthwiseConvConfig`] describes (separable when it has `filters`).
    pub fn from_config(c: DepthwiseConvConfig) -> Self {
        let mut layer = DepthwiseConv::new(c.filters, c.kernel_size)
            .strides(c.strides)
            .dilation_rate(c.dilation_rate)
            .depth_multiplier(c.depth_multiplier)
            .activation(c.activation)
            .use_bias(c.use_bias)
            .depthwise_initializer(c.depthwise_initializer)
            .bias_initializer(c.bias_initializer)
            .name(&c.name);
        layer.padding = Ok(c.padding);
        if let Some(init) = c.pointwise_initializer {
            layer = layer.pointwise_initializer(init);
        }
        layer
    }

    /// Window steps (default 1).
    pub fn strides(mut self, strides: impl Into<Size>) -> Self {
        self.strides = strides.into();
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, padding: &str) -> Self {
        self.padding = Padding::from_name(padding);
        self
    }
    /// Spacing between the window's taps (default 1).
    pub fn dilation_rate(mut self, rate: impl Into<Size>) -> Self {
        self.dilation_rate = rate.into();
        self
    }
    /// Kernels per input channel (default 1).
    pub fn depth_multiplier(mut self, m: usize) -> Self {
        self.depth_multiplier = m;
        self
    }
    /// The activation, by value or Keras's name.
    pub fn activation(mut self, activation: impl crate::layers::IntoActivation) -> Self {
        self.activation = activation.into_activation();
        self
    }
    /// Whether to add a bias (default true).
    pub fn use_bias(mut self, on: bool) -> Self {
        self.use_bias = on;
        self
    }
    /// The depthwise kernel's initializer.
    pub fn depthwise_initializer(mut self, init: impl crate::initializers::IntoInitializer) -> Self {
        self.depthwise_initializer = init.into_initializer();
        self
    }
    /// The pointwise kernel's initializer (SeparableConv2D).
    pub fn pointwise_initializer(mut self, init: impl crate::initializers::IntoInitializer) -> Self {
        self.pointwise_initializer = init.into_initializer();
        self
    }
    /// The bias initializer.
    pub fn bias_initializer(mut self, init: impl crate::initializers::IntoInitializer) -> Self {
        self.bias_initializer = init.into_initializer();
        self
    }
    /// The layer's name (else the model assigns `depthwise_conv2d`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn act(&self) -> Activation {
        *self.activation.as_ref().expect("activation checked in build")
    }

    /// Channels after the depthwise part.
    fn mid_channels(&self) -> usize {
        self.window.c * self.depth_multiplier
    }

    fn out_channels(&self) -> usize {
        self.pointwise.unwrap_or_else(|| self.mid_channels())
    }

    /// Rows of the patch matrix (`n · oh · ow`) and its row length, for `x`.
    fn dims(&self, x: &Tensor) -> (usize, usize, usize) {
        let g = &self.window;
        let n = x.len() / (g.h * g.w * g.c);
        (n, n * g.oh * g.ow, g.kh * g.kw * g.c)
    }
}

/// `out[r, i·m + j] = Σ_t cols[r, t·c + i] · kernel[t, i, j]` over rows `r` of `[rows, taps·c]`.
fn depthwise(cols: &[f32], kernel: &[f32], out: &mut [f32], taps: usize, c: usize, m: usize) {
    for (row, o) in cols.chunks_exact(taps * c).zip(out.chunks_exact_mut(c * m)) {
        o.fill(0.0);
        for (t, tap) in row.chunks_exact(c).enumerate() {
            let k = &kernel[t * c * m..(t + 1) * c * m];
            for (i, &v) in tap.iter().enumerate() {
                for j in 0..m {
                    o[i * m + j] += v * k[i * m + j];
                }
            }
        }
    }
}

impl Layer for DepthwiseConv {
    fn check_arguments(&self) -> Result<()> {
        self.padding.as_ref().map_err(Clone::clone)?;
        self.activation.as_ref().map_err(Clone::clone)?;
        self.depthwise_initializer.as_ref().map_err(Clone::clone)?;
        self.pointwise_initializer.as_ref().map_err(Clone::clone)?;
        self.bias_initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        if self.pointwise.is_some() {
            "SeparableConv2D"
        } else {
            "DepthwiseConv2D"
        }
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.activation.clone()?;
        let (dinit, pinit, binit, padding) = (
            self.depthwise_initializer.clone()?,
            self.pointwise_initializer.clone()?,
            self.bias_initializer.clone()?,
            self.padding.clone()?,
        );
        let name = self.core.name.clone();
        if self.depth_multiplier == 0 || self.pointwise == Some(0) {
            return Err(Error::invalid("depth_multiplier / filters", 0, format!("positive sizes for layer {name}")));
        }
        let [h, w, c] = spatial_input(2, input_shape, &name)?;
        let k = self.kernel_size.resolve(2, "kernel size", &name)?;
        let s = self.strides.resolve(2, "stride", &name)?;
        let d = self.dilation_rate.resolve(2, "dilation rate", &name)?;
        self.window = Window::new(&name, [h, w, c], k, s, d, padding)?;
        let (g, m) = (self.window, self.depth_multiplier);
        let receptive = g.kh * g.kw;
        let separable = self.pointwise.is_some();
        let dname = if separable { "depthwise_kernel" } else { "kernel" };
        let mut kernel = Param::claim(&name, dname, &[g.kh, g.kw, c, m])?;
        dinit.fill(kernel.value.data_mut(), receptive * c, receptive * m, rng);
        self.core.params = vec![kernel];
        if let Some(f) = self.pointwise {
            let mut pk = Param::claim(&name, "pointwise_kernel", &[1, 1, c * m, f])?;
            pinit.fill(pk.value.data_mut(), c * m, f, rng);
            self.core.params.push(pk);
        }
        let out = self.out_channels();
        if self.use_bias {
            let mut bias = Param::claim(&name, "bias", &[out])?;
            binit.fill(bias.value.data_mut(), receptive * c, out, rng);
            self.core.params.push(bias);
        }
        Ok(vec![g.oh, g.ow, out])
    }

    fn plan(&mut self, max_batch: usize) {
        let g = self.window;
        let rows = max_batch * g.oh * g.ow;
        if self.cols.len() < rows * g.kh * g.kw * g.c {
            self.cols = vec![0.0; rows * g.kh * g.kw * g.c];
        }
        if self.pointwise.is_some() && self.mid.len() < rows * self.mid_channels() {
            self.mid = vec![0.0; rows * self.mid_channels()];
            self.dmid = vec![0.0; rows * self.mid_channels()];
        }
        self.core.output.plan(self.act(), rows * self.out_channels());
    }

    // # Shapes
    // x: [n, h, w, c] → patches [rows, kh·kw·c] → depthwise [rows, c·m] → (separable) · P [c·m, f]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let precision = self.core.precision();
        let (n, rows, k) = self.dims(x);
        let (c, m, taps) = (self.window.c, self.depth_multiplier, self.window.kh * self.window.kw);
        let out = self.out_channels();
        im2col(x.data(), n, &self.window, &mut self.cols);
        let cols = &self.cols[..rows * k];
        let kernel = self.core.params[0].value.data();
        match self.pointwise {
            None => depthwise(cols, kernel, y.data_mut(), taps, c, m),
            Some(f) => {
                let mid = &mut self.mid[..rows * c * m];
                depthwise(cols, kernel, mid, taps, c, m);
                kernels::matmul_in(
                    precision,
                    y.data_mut(),
                    mid,
                    self.core.params[1].value.data(),
                    rows,
                    c * m,
                    f,
                    false,
                    false,
                    0.0,
                );
            }
        }
        if self.use_bias {
            kernels::add_row_bias_in(precision, y.data_mut(), self.core.params.last().expect("bias").value.data());
        }
        self.core.output.forward(self.act(), y.data_mut(), out);
    }

    // dz = dy ⊙ f'(z); separable: dP = midᵀ dz, d mid = dz Pᵀ; depthwise:
    // dK[t, i, j] = Σ_r cols[r, t·c + i] · d mid[r, i·m + j]; d cols[r, t·c + i] = Σ_j K[t, i, j] ·
    // d mid[r, i·m + j], summed back by col2im into dx.
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let precision = self.core.precision();
        let (n, rows, k) = self.dims(x);
        let (c, m, taps) = (self.window.c, self.depth_multiplier, self.window.kh * self.window.kw);
        let out = self.out_channels();
        self.core.activation_backward(self.act(), dy.data_mut(), y.data(), out);
        let dz = dy.data();
        if self.use_bias {
            kernels::sum_rows(self.core.params.last_mut().expect("bias").grad.data_mut(), dz);
        }
        let dmid: &[f32] = match self.pointwise {
            None => dz,
            Some(f) => {
                let mid = &self.mid[..rows * c * m];
                kernels::matmul_in(
                    precision,
                    self.core.params[1].grad.data_mut(),
                    mid,
                    dz,
                    c * m,
                    rows,
                    f,
                    true,
                    false,
                    0.0,
                );
                let dmid = &mut self.dmid[..rows * c * m];
                kernels::matmul_in(
                    precision,
                    dmid,
                    dz,
                    self.core.params[1].value.data(),
                    rows,
                    f,
                    c * m,
                    false,
                    true,
                    0.0,
                );
                &self.dmid[..rows * c * m]
            }
        };
        let (kernel, _) = self.core.params.split_first_mut().expect("built");
        let dk = kernel.grad.data_mut();
        dk.fill(0.0);
        let cols = &mut self.cols[..rows * k];
        for (row, g) in cols.chunks_exact_mut(taps * c).zip(dmid.chunks_exact(c * m)) {
            for (t, tap) in row.chunks_exact_mut(c).enumerate() {
                let kv = &kernel.value.data()[t * c * m..(t + 1) * c * m];
                let kg = &mut dk[t * c * m..(t + 1) * c * m];
                for (i, v) in tap.iter_mut().enumerate() {
                    let mut back = 0.0;
                    for j in 0..m {
                        kg[i * m + j] += *v * g[i * m + j];
                        back += kv[i * m + j] * g[i * m + j];
                    }
                    // The patch is no longer needed: its place takes its gradient.
                    *v = back;
                }
            }
        }
        if let Some(dx) = dx {
            col2im(cols, n, &self.window, dx.data_mut());
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation.clone().unwrap_or(Activation::Linear)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let g = self.window;
        let rows = max_batch * g.oh * g.ow;
        let mid = if self.pointwise.is_some() { 2 * rows * self.mid_channels() } else { 0 };
        4 * (rows * g.kh * g.kw * g.c + mid) + self.core.output.planned_bytes(self.act(), rows * self.out_channels())
    }

    fn workspace_bytes(&self) -> usize {
        4 * (self.cols.len() + self.mid.len() + self.dmid.len()) + self.core.output.bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = DepthwiseConvConfig {
            name: self.core.name.clone(),
            filters: self.pointwise,
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding.clone().ok()?,
            depth_multiplier: self.depth_multiplier,
            dilation_rate: self.dilation_rate,
            activation: self.activation.clone().ok()?,
            use_bias: self.use_bias,
            depthwise_initializer: self.depthwise_initializer.clone().ok()?,
            pointwise_initializer: match self.pointwise {
                Some(_) => Some(self.pointwise_initializer.clone().ok()?),
                None => None,
            },
            bias_initializer: self.bias_initializer.clone().ok()?,
        };
        serde_json::to_value(c).ok()
    }
}
