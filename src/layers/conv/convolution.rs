//! `Conv2D` and `Conv1D`: convolutions over channels-last inputs (see [`Conv`]).

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::core::regularization::regularization_builders;
use crate::layers::LayerCore;
use crate::layers::{Layer, Padding, Param, Regularization, Window};
use crate::rng::Rng;
use crate::tensor::window::spatial_input;
use crate::tensor::{col2im, im2col, kernels, Tensor};

/// A window size or stride: one number for every axis, or `(height, width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Size {
    /// The same along every axis.
    One(usize),
    /// `(height, width)`.
    Two(usize, usize),
}

impl From<usize> for Size {
    fn from(n: usize) -> Self {
        Size::One(n)
    }
}

impl From<(usize, usize)> for Size {
    fn from((a, b): (usize, usize)) -> Self {
        Size::Two(a, b)
    }
}

impl Size {
    /// `(height, width)` for a layer of `rank` 1 or 2 (1-D layers have height 1).
    pub(crate) fn resolve(self, rank: usize, what: &str, layer: &str) -> Result<(usize, usize)> {
        match (self, rank) {
            (Size::One(n), 1) => Ok((1, n)),
            (Size::One(n), _) => Ok((n, n)),
            (Size::Two(a, b), 2) => Ok((a, b)),
            (Size::Two(a, b), _) => {
                Err(Error::invalid("size", format!("({a}, {b})"), format!("one {what} for the 1-D layer {layer}")))
            }
        }
    }
}

/// Makes 2-D convolutions: `Conv2D::new(filters, kernel_size)` returns a [`Conv`].
pub struct Conv2D;

impl Conv2D {
    /// `filters` output channels, a `kernel_size` window (`3` or `(3, 5)`), Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Size>) -> Conv {
        Conv::new(2, filters, kernel_size.into())
    }
}

/// Makes 1-D convolutions over `(length, channels)` samples: `Conv1D::new(filters, k)`.
pub struct Conv1D;

impl Conv1D {
    /// `filters` output channels, a window of `kernel_size` steps, Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: usize) -> Conv {
        Conv::new(1, filters, Size::One(kernel_size))
    }
}

/// A convolution layer; made by [`Conv2D::new`] or
/// [`Conv1D::new`].
///
/// `Conv2D` and `Conv1D`: convolutions over channels-last inputs, Keras's `(N, H, W, C)` and
/// `(N, L, C)`, computed as one matrix product per batch: the input's patches
/// ([`im2col`](crate::tensor)) times the kernel, through the same GEMM as `Dense`.
///
/// The kernel is `[kh, kw, in, filters]` (`[k, in, filters]` for `Conv1D`), Keras's layout;
/// the bias `[filters]`. Keras's defaults: strides 1, padding `"valid"`, dilation 1, no
/// activation, a bias, `glorot_uniform` kernel (fans counting the window) and `zeros` bias.
/// `Conv1D` is the 2-D layer over a height of 1.
///
/// ```
/// use minibatch::layers::{Conv1D, Conv2D};
/// let conv = Conv2D::new(32, 3).activation("relu");
/// let strided = Conv2D::new(64, (3, 5)).strides(2).padding("same");
/// let temporal = Conv1D::new(16, 5).dilation_rate(2);
/// ```
#[derive(Debug, Clone)]
pub struct Conv {
    rank: usize,
    filters: usize,
    kernel_size: Size,
    strides: Size,
    dilation_rate: Size,
    padding: Result<Padding>,
    activation: Result<Activation>,
    use_bias: bool,
    kernel_initializer: Result<Initializer>,
    bias_initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: `[kernel, bias]`, or `[kernel]` without bias.
    core: LayerCore,
    window: Window,
    /// The batch's patches `[batch · oh · ow, kh · kw · in]`; in `backward`, their gradient.
    cols: Vec<f32>,
}

/// Conv's saved arguments (Keras's names); the rank comes from the class name.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ConvConfig {
    name: String,
    filters: usize,
    kernel_size: Size,
    strides: Size,
    padding: Padding,
    dilation_rate: Size,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    #[serde(flatten)]
    reg: Regularization,
}

impl Conv {
    fn new(rank: usize, filters: usize, kernel_size: Size) -> Self {
        Conv {
            rank,
            filters,
            kernel_size,
            strides: Size::One(1),
            dilation_rate: Size::One(1),
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

    /// The layer a [`ConvConfig`] describes, of rank 1 (`Conv1D`) or 2 (`Conv2D`).
    pub fn from_config(rank: usize, c: ConvConfig) -> Self {
        Conv {
            strides: c.strides,
            dilation_rate: c.dilation_rate,
            padding: Ok(c.padding),
            ..Conv::new(rank, c.filters, c.kernel_size)
                .name(&c.name)
                .activation(c.activation)
                .use_bias(c.use_bias)
                .kernel_initializer(c.kernel_initializer)
                .bias_initializer(c.bias_initializer)
                .regularization(c.reg)
        }
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
    /// Spacing between the window's taps (default 1); Keras allows it only with stride 1.
    pub fn dilation_rate(mut self, rate: impl Into<Size>) -> Self {
        self.dilation_rate = rate.into();
        self
    }
    /// The layer's name (else the model assigns `conv2d`, `conv2d_1`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn act(&self) -> Activation {
        *self.activation.as_ref().expect("activation checked in build")
    }

    /// A 1×1 kernel with stride 1: the input is its own patch matrix.
    fn pointwise(&self) -> bool {
        let g = &self.window;
        g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1
    }

    /// Rows of the patch matrix and its row length, for `x`.
    fn dims(&self, x: &Tensor) -> (usize, usize, usize) {
        let g = &self.window;
        let n = x.len() / (g.h * g.w * g.c);
        (n, n * g.oh * g.ow, g.kh * g.kw * g.c)
    }
}

impl Layer for Conv {
    fn check_arguments(&self) -> Result<()> {
        self.padding.as_ref().map_err(Clone::clone)?;
        self.activation.as_ref().map_err(Clone::clone)?;
        self.kernel_initializer.as_ref().map_err(Clone::clone)?;
        self.bias_initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        if self.rank == 1 {
            "Conv1D"
        } else {
            "Conv2D"
        }
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
        let [h, w, c] = spatial_input(self.rank, input_shape, &name)?;
        let k = self.kernel_size.resolve(self.rank, "kernel size", &name)?;
        let s = self.strides.resolve(self.rank, "stride", &name)?;
        let d = self.dilation_rate.resolve(self.rank, "dilation rate", &name)?;
        self.window = Window::new(&name, [h, w, c], k, s, d, padding)?;
        let g = self.window;
        let kernel_shape: Vec<usize> =
            if self.rank == 2 { vec![g.kh, g.kw, c, self.filters] } else { vec![g.kw, c, self.filters] };
        let mut kernel = Param::claim(&self.core.name, "kernel", &kernel_shape)?;
        let receptive = g.kh * g.kw;
        kinit.fill(kernel.value.data_mut(), receptive * c, receptive * self.filters, rng);
        self.core.params = vec![kernel];
        if self.use_bias {
            let mut bias = Param::claim(&self.core.name, "bias", &[self.filters])?;
            binit.fill(bias.value.data_mut(), receptive * c, receptive * self.filters, rng);
            self.core.params.push(bias);
        }
        self.core.reg.attach(&mut self.core.params)?;
        Ok(if self.rank == 2 { vec![g.oh, g.ow, self.filters] } else { vec![g.ow, self.filters] })
    }

    fn plan(&mut self, max_batch: usize) {
        let g = self.window;
        let rows = max_batch * g.oh * g.ow;
        if !self.pointwise() && self.cols.len() < rows * g.kh * g.kw * g.c {
            self.cols = vec![0.0; rows * g.kh * g.kw * g.c];
        }
        self.core.output.plan(self.act(), rows * self.filters);
    }

    // # Shapes
    // x: [n, h, w, c] → patches P: [n·oh·ow, kh·kw·c]; kernel K: [kh·kw·c, f]; y = P·K: [n·oh·ow, f]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let precision = self.core.precision();
        let (n, rows, k) = self.dims(x);
        let f = self.filters;
        let patches: &[f32] = if self.pointwise() {
            x.data()
        } else {
            im2col(x.data(), n, &self.window, &mut self.cols);
            &self.cols[..rows * k]
        };
        kernels::matmul_in(
            precision,
            y.data_mut(),
            patches,
            self.core.params[0].value.data(),
            rows,
            k,
            f,
            false,
            false,
            0.0,
        );
        if let Some(bias) = self.core.params.get(1) {
            kernels::add_row_bias_in(precision, y.data_mut(), bias.value.data());
        }
        self.core.output.forward(self.act(), y.data_mut(), f);
    }

    // dz = dy ⊙ f'(z);  dK = Pᵀ·dz;  d bias = Σ_rows dz;  dP = dz·Kᵀ, summed back by col2im into dx
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let precision = self.core.precision();
        let (n, rows, k) = self.dims(x);
        let f = self.filters;
        self.core.activation_backward(self.act(), dy.data_mut(), y.data(), f);
        let dz = dy.data();
        let pointwise = self.pointwise();
        let (kernel, rest) = self.core.params.split_first_mut().expect("built");
        let patches: &[f32] = if pointwise { x.data() } else { &self.cols[..rows * k] };
        kernels::matmul_in(precision, kernel.grad.data_mut(), patches, dz, k, rows, f, true, false, 0.0);
        if let Some(bias) = rest.first_mut() {
            kernels::sum_rows(bias.grad.data_mut(), dz);
        }
        if let Some(dx) = dx {
            if pointwise {
                kernels::matmul_in(precision, dx.data_mut(), dz, kernel.value.data(), rows, f, k, false, true, 0.0);
            } else {
                // The patches are no longer needed: their buffer takes their gradient.
                let dcols = &mut self.cols[..rows * k];
                kernels::matmul_in(precision, dcols, dz, kernel.value.data(), rows, f, k, false, true, 0.0);
                col2im(dcols, n, &self.window, dx.data_mut());
            }
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation.clone().unwrap_or(Activation::Linear)
    }

    /// The patches copied out (im2col) and, with the input's gradient, summed back
    /// (col2im), with the bias added and summed over the output: timed on buffers of the
    /// batch's size.
    fn time_elementwise(&self, batch: usize, input_gradient: bool) -> Option<f64> {
        let g = self.window;
        let (rows, k) = (batch * g.oh * g.ow, g.kh * g.kw * g.c);
        let x: Vec<f32> = (0..batch * g.h * g.w * g.c).map(|i| (i % 31) as f32 / 31.0).collect();
        let mut dx = vec![0.0f32; x.len()];
        let mut cols = vec![0.0f32; if self.pointwise() { 0 } else { rows * k }];
        let mut y = vec![0.0f32; rows * self.filters];
        let (bias, mut db) = (vec![0.5f32; self.filters], vec![0.0f32; self.filters]);
        let seconds = crate::layers::cost::best_time(|| {
            if !self.pointwise() {
                im2col(&x, batch, &g, &mut cols);
                if input_gradient {
                    col2im(&cols, batch, &g, &mut dx);
                }
            }
            if self.use_bias {
                kernels::add_row_bias(&mut y, &bias);
                kernels::sum_rows(&mut db, &y);
            }
        });
        Some(seconds)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let g = self.window;
        let rows = max_batch * g.oh * g.ow;
        let cols = if self.pointwise() { 0 } else { rows * g.kh * g.kw * g.c };
        4 * cols + self.core.output.planned_bytes(self.act(), rows * self.filters)
    }

    fn workspace_bytes(&self) -> usize {
        self.cols.len() * 4 + self.core.output.bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = ConvConfig {
            name: self.core.name.clone(),
            filters: self.filters,
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding.clone().ok()?,
            dilation_rate: self.dilation_rate,
            activation: self.activation.clone().ok()?,
            use_bias: self.use_bias,
            kernel_initializer: self.kernel_initializer.clone().ok()?,
            bias_initializer: self.bias_initializer.clone().ok()?,
            reg: self.core.reg,
        };
        serde_json::to_value(c).ok()
    }
}

regularization_builders!(Conv);

crate::layers::weighted_layer_builders!(Conv);
