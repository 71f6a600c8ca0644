//! `Conv2DTranspose`: the transpose of a convolution, which grows an image (see
//! [`ConvTranspose`]).

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::LayerCore;
use crate::layers::{Layer, Padding, Param, Size, Window};
use crate::rng::Rng;
use crate::tensor::window::spatial_input;
use crate::tensor::{col2im, im2col, kernels, Tensor};

/// Makes transposed convolutions: `Conv2DTranspose::new(filters, kernel_size)` returns a
/// [`ConvTranspose`].
pub struct Conv2DTranspose;

impl Conv2DTranspose {
    /// `filters` output channels, a `kernel_size` window, Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Size>) -> ConvTranspose {
        ConvTranspose::new(filters, kernel_size.into())
    }
}

/// Keras's `Conv2DTranspose` over channels-last images: the adjoint of the `Conv2D` with the
/// same window, so with `strides` 2 it doubles the height and width. Output size per axis:
/// `"valid"` `in · s + max(k − s, 0)`, `"same"` `in · s` (Keras's, without `output_padding`).
///
/// Each input pixel's channels times the kernel give a `[kh, kw, filters]` patch, and the
/// patches are summed into the output where the window puts them (`col2im`): one matrix
/// product per batch. The kernel is `[kh, kw, filters, in]` (Keras's layout), the bias
/// `[filters]`; `glorot_uniform` and `zeros` by default. Not yet: `dilation_rate` other than 1
/// and `output_padding`.
///
/// ```
/// use minibatch::layers::Conv2DTranspose;
/// let up = Conv2DTranspose::new(16, 3).strides(2).padding("same").activation("relu");
/// ```
#[derive(Debug, Clone)]
pub struct ConvTranspose {
    filters: usize,
    kernel_size: Size,
    strides: Size,
    padding: Result<Padding>,
    activation: Result<Activation>,
    use_bias: bool,
    kernel_initializer: Result<Initializer>,
    bias_initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    /// The window over the *output* whose positions are the input's pixels.
    window: Window,
    /// `[n · h · w, kh · kw · filters]`: each input pixel's patch; in backward, the output
    /// gradient's patches.
    cols: Vec<f32>,
}

/// Conv2DTranspose's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ConvTransposeConfig {
    name: String,
    filters: usize,
    kernel_size: Size,
    strides: Size,
    padding: Padding,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
}

impl ConvTranspose {
    fn new(filters: usize, kernel_size: Size) -> Self {
        ConvTranspose {
            filters,
            kernel_size,
            strides: Size::One(1),
            padding: Ok(Padding::Valid),
            activation: Ok(Activation::Linear),
            use_bias: true,
            kernel_initializer: Ok(Initializer::GlorotUniform),
            bias_initializer: Ok(Initializer::Zeros),
            window: Window::default(),
            cols: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`ConvTransposeConfig`] describes.
    pub fn from_config(c: ConvTransposeConfig) -> Self {
        let mut layer = ConvTranspose::new(c.filters, c.kernel_size)
            .strides(c.strides)
            .name(&c.name)
            .activation(c.activation)
            .use_bias(c.use_bias)
            .kernel_initializer(c.kernel_initializer)
            .bias_initializer(c.bias_initializer);
        layer.padding = Ok(c.padding);
        layer
    }

    /// Window steps (default 1): the factor the image grows by.
    pub fn strides(mut self, strides: impl Into<Size>) -> Self {
        self.strides = strides.into();
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, padding: &str) -> Self {
        self.padding = Padding::from_name(padding);
        self
    }
    /// The layer's name (else the model assigns `conv2d_transpose`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn act(&self) -> Activation {
        *self.activation.as_ref().expect("activation checked in build")
    }

    /// Input pixels (`n · h · w`) and the patch length, for `x`.
    fn dims(&self, x: &Tensor) -> (usize, usize, usize) {
        let g = &self.window;
        let n = x.batch();
        (n, n * g.oh * g.ow, g.kh * g.kw * self.filters)
    }
}

impl Layer for ConvTranspose {
    fn check_arguments(&self) -> Result<()> {
        self.padding.as_ref().map_err(Clone::clone)?;
        self.activation.as_ref().map_err(Clone::clone)?;
        self.kernel_initializer.as_ref().map_err(Clone::clone)?;
        self.bias_initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "Conv2DTranspose"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.activation.clone()?;
        let (kinit, binit, padding) =
            (self.kernel_initializer.clone()?, self.bias_initializer.clone()?, self.padding.clone()?);
        let name = self.core.name.clone();
        if self.filters == 0 {
            return Err(Error::invalid("filters", 0, format!("a positive number of filters for layer {name}")));
        }
        let [h, w, c] = spatial_input(2, input_shape, &name)?;
        let (kh, kw) = self.kernel_size.resolve(2, "kernel size", &name)?;
        let (sh, sw) = self.strides.resolve(2, "stride", &name)?;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::invalid("kernel_size / strides", 0, format!("positive sizes for layer {name}")));
        }
        let length = |input: usize, k: usize, s: usize| match padding {
            Padding::Valid => input * s + k.saturating_sub(s),
            Padding::Same => input * s,
        };
        let (oh, ow) = (length(h, kh, sh), length(w, kw, sw));
        // The convolution of the output back to the input's size: its transpose is this layer.
        self.window = Window::new(&name, [oh, ow, self.filters], (kh, kw), (sh, sw), (1, 1), padding)?;
        if (self.window.oh, self.window.ow) != (h, w) {
            return Err(Error::State(format!(
                "layer {name}: the window over its {oh}×{ow} output has {}×{} positions, not the input's {h}×{w}",
                self.window.oh, self.window.ow
            )));
        }
        let f = self.filters;
        let mut kernel = Param::claim(&name, "kernel", &[kh, kw, f, c])?;
        // Keras's fans for a [kh, kw, filters, in] kernel: the receptive field times its last
        // two axes.
        kinit.fill(kernel.value.data_mut(), kh * kw * f, kh * kw * c, rng);
        self.core.params = vec![kernel];
        if self.use_bias {
            let mut bias = Param::claim(&name, "bias", &[f])?;
            binit.fill(bias.value.data_mut(), kh * kw * f, kh * kw * c, rng);
            self.core.params.push(bias);
        }
        Ok(vec![oh, ow, f])
    }

    fn plan(&mut self, max_batch: usize) {
        let g = self.window;
        let k = g.kh * g.kw * self.filters;
        if self.cols.len() < max_batch * g.oh * g.ow * k {
            self.cols = vec![0.0; max_batch * g.oh * g.ow * k];
        }
        self.core.output.plan(self.act(), max_batch * g.h * g.w * self.filters);
    }

    // # Shapes
    // x: [n·h·w, in]; kernel K: [kh·kw·f, in]; patches = x Kᵀ: [n·h·w, kh·kw·f]; y = col2im(patches)
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let precision = self.core.precision();
        let (n, pixels, k) = self.dims(x);
        let c = x.row_len() / (self.window.oh * self.window.ow);
        let cols = &mut self.cols[..pixels * k];
        kernels::matmul_in(precision, cols, x.data(), self.core.params[0].value.data(), pixels, c, k, false, true, 0.0);
        col2im(cols, n, &self.window, y.data_mut());
        if let Some(bias) = self.core.params.get(1) {
            kernels::add_row_bias_in(precision, y.data_mut(), bias.value.data());
        }
        self.core.output.forward(self.act(), y.data_mut(), self.filters);
    }

    // dz = dy ⊙ f'(z); d patches = im2col(dz); dK = d patchesᵀ x; dx = d patches K; d bias = Σ dz
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let precision = self.core.precision();
        let (n, pixels, k) = self.dims(x);
        let c = x.row_len() / (self.window.oh * self.window.ow);
        self.core.activation_backward(self.act(), dy.data_mut(), y.data(), self.filters);
        let dz = dy.data();
        let (kernel, rest) = self.core.params.split_first_mut().expect("built");
        if let Some(bias) = rest.first_mut() {
            kernels::sum_rows(bias.grad.data_mut(), dz);
        }
        im2col(dz, n, &self.window, &mut self.cols);
        let dcols = &self.cols[..pixels * k];
        kernels::matmul_in(precision, kernel.grad.data_mut(), dcols, x.data(), k, pixels, c, true, false, 0.0);
        if let Some(dx) = dx {
            kernels::matmul_in(precision, dx.data_mut(), dcols, kernel.value.data(), pixels, k, c, false, false, 0.0);
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation.clone().unwrap_or(Activation::Linear)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let g = self.window;
        let cols = max_batch * g.oh * g.ow * g.kh * g.kw * self.filters;
        4 * cols + self.core.output.planned_bytes(self.act(), max_batch * g.h * g.w * self.filters)
    }

    fn workspace_bytes(&self) -> usize {
        4 * self.cols.len() + self.core.output.bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = ConvTransposeConfig {
            name: self.core.name.clone(),
            filters: self.filters,
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding.clone().ok()?,
            activation: self.activation.clone().ok()?,
            use_bias: self.use_bias,
            kernel_initializer: self.kernel_initializer.clone().ok()?,
            bias_initializer: self.bias_initializer.clone().ok()?,
        };
        serde_json::to_value(c).ok()
    }
}

crate::layers::weighted_layer_builders!(ConvTranspose);
