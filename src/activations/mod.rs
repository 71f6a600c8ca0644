//! Activation functions, each with its derivative beside it.
//!
//! Names and defaults are Keras's: `relu`, `sigmoid`, `tanh`, `softmax` (over the last axis),
//! `linear`, `leaky_relu` (negative slope 0.2), `elu` (alpha 1.0), `gelu` (exact, with erf),
//! `silu` (`swish`), `softplus`, `softsign`, `selu`, `hard_sigmoid` (Keras 3's
//! `relu6(x + 3) / 6`), `relu6`, `mish` and `exponential`.
//!
//! Every activation but `gelu` can compute its derivative from its *output*, so layers keep
//! only the output; [`Activation::needs_input`] says when the pre-activation must be kept too.

pub(crate) mod fast;
mod gelu;

use crate::error::{Error, Result};

/// An element-wise (or, for softmax, row-wise) activation function.
///
/// Saved models write it as `{"class_name": "relu"}` or, with arguments,
/// `{"class_name": "leaky_relu", "config": {"negative_slope": 0.2}}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config", rename_all = "snake_case")]
pub enum Activation {
    /// `f(x) = x`.
    Linear,
    /// `f(x) = max(x, 0)`.
    Relu,
    /// `f(x) = 1 / (1 + e^-x)`.
    Sigmoid,
    /// `f(x) = tanh x`.
    Tanh,
    /// `f(x)_i = e^{x_i} / Σ_j e^{x_j}` over each sample's last axis.
    Softmax,
    /// `f(x) = x` for `x > 0`, else `negative_slope · x`.
    LeakyRelu {
        /// Keras's default is 0.2.
        negative_slope: f32,
    },
    /// `f(x) = x` for `x > 0`, else `alpha · (e^x − 1)`.
    Elu {
        /// Keras's default is 1.0.
        alpha: f32,
    },
    /// `f(x) = x · Φ(x)`, the exact Gaussian error linear unit (Keras's `approximate=False`).
    Gelu,
    /// `f(x) = x · σ(x)` (Keras's `silu`, also `swish`).
    Silu,
    /// `f(x) = log(1 + eˣ)`.
    Softplus,
    /// `f(x) = x / (1 + |x|)`.
    Softsign,
    /// `f(x) = λ x` for `x > 0`, else `λ α (eˣ − 1)`, with Keras's λ = 1.0507010 and α = 1.6732632.
    Selu,
    /// `f(x) = clip((x + 3) / 6, 0, 1)` (Keras 3).
    HardSigmoid,
    /// `f(x) = min(max(x, 0), 6)`.
    Relu6,
    /// `f(x) = x · tanh(softplus(x))`.
    Mish,
    /// `f(x) = eˣ`.
    Exponential,
}

/// SELU's scale λ and α, Keras's constants.
const SELU_SCALE: f32 = 1.050_701;
const SELU_ALPHA: f32 = 1.673_263_2;

/// `log(1 + eˣ)`, stable for large |x|.
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The names [`Activation::from_name`] accepts.
pub const NAMES: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "swish",
    "softplus",
    "softsign",
    "selu",
    "hard_sigmoid",
    "relu6",
    "mish",
    "exponential",
];

impl Activation {
    /// The activation Keras calls `name`, with Keras's default arguments.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a name not in [`NAMES`].
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "leaky_relu" => Activation::LeakyRelu { negative_slope: 0.2 },
            "elu" => Activation::Elu { alpha: 1.0 },
            "gelu" => Activation::Gelu,
            "silu" | "swish" => Activation::Silu,
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "selu" => Activation::Selu,
            "hard_sigmoid" => Activation::HardSigmoid,
            "relu6" => Activation::Relu6,
            "mish" => Activation::Mish,
            "exponential" => Activation::Exponential,
            _ => return Err(Error::UnknownName { kind: "activation", name: name.into(), known: NAMES.to_vec() }),
        })
    }

    /// Keras's name for this activation.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Selu => "selu",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::Relu6 => "relu6",
            Activation::Mish => "mish",
            Activation::Exponential => "exponential",
        }
    }

    /// True when the derivative needs the pre-activation input, not only the output.
    pub fn needs_input(&self) -> bool {
        match self {
            Activation::Gelu | Activation::Silu | Activation::Softplus | Activation::Mish => true,
            Activation::LeakyRelu { negative_slope } => *negative_slope <= 0.0,
            Activation::Elu { alpha } => *alpha <= 0.0,
            _ => false,
        }
    }

    /// `y = f(x)`, in place: `y` holds `x` on entry. `cols` is the length of the last axis.
    pub fn forward(&self, y: &mut [f32], cols: usize) {
        forward(*self, y, cols);
    }

    /// `g ← g ⊙ f'(x)`, in place: turns the gradient with respect to the output into the
    /// gradient with respect to the input. `x` is the pre-activation (read only when
    /// [`Activation::needs_input`]), `y = f(x)` the output, `cols` the last axis.
    pub fn backward(&self, g: &mut [f32], x: &[f32], y: &[f32], cols: usize) {
        backward(*self, g, x, y, cols);
    }
}

crate::simd! {
    fn forward(act: Activation, y: &mut [f32], cols: usize) {
        match act {
            Activation::Linear => {}
            Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Softmax => y.chunks_exact_mut(cols).for_each(softmax_in_place),
            Activation::LeakyRelu { negative_slope } => {
                y.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { negative_slope * *v })
            }
            Activation::Elu { alpha } => y.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { alpha * v.exp_m1() }),
            Activation::Gelu => y.iter_mut().for_each(|v| *v = gelu::gelu(*v)),
            Activation::Silu => y.iter_mut().for_each(|v| *v *= sigmoid(*v)),
            Activation::Softplus => y.iter_mut().for_each(|v| *v = softplus(*v)),
            Activation::Softsign => y.iter_mut().for_each(|v| *v /= 1.0 + v.abs()),
            Activation::Selu => y.iter_mut().for_each(|v| {
                *v = if *v > 0.0 { SELU_SCALE * *v } else { SELU_SCALE * SELU_ALPHA * v.exp_m1() }
            }),
            Activation::HardSigmoid => y.iter_mut().for_each(|v| *v = ((*v + 3.0) / 6.0).clamp(0.0, 1.0)),
            Activation::Relu6 => y.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            Activation::Mish => y.iter_mut().for_each(|v| *v *= softplus(*v).tanh()),
            Activation::Exponential => y.iter_mut().for_each(|v| *v = v.exp()),
        }
    }
}

crate::simd! {
    fn backward(act: Activation, g: &mut [f32], x: &[f32], y: &[f32], cols: usize) {
        match act {
            Activation::Linear => {}
            Activation::Relu => g.iter_mut().zip(y).for_each(|(g, &y)| *g = if y > 0.0 { *g } else { 0.0 }),
            Activation::Sigmoid => g.iter_mut().zip(y).for_each(|(g, &y)| *g *= y * (1.0 - y)),
            Activation::Tanh => g.iter_mut().zip(y).for_each(|(g, &y)| *g *= 1.0 - y * y),
            Activation::Softmax => {
                // dx_i = y_i (g_i − Σ_j g_j y_j)
                for (gr, yr) in g.chunks_exact_mut(cols).zip(y.chunks_exact(cols)) {
                    let s: f32 = gr.iter().zip(yr).map(|(a, b)| a * b).sum();
                    gr.iter_mut().zip(yr).for_each(|(g, &y)| *g = y * (*g - s));
                }
            }
            Activation::LeakyRelu { negative_slope } => {
                let pre = if act.needs_input() { x } else { y };
                g.iter_mut().zip(pre).for_each(|(g, &v)| {
                    if v <= 0.0 {
                        *g *= negative_slope
                    }
                })
            }
            Activation::Elu { alpha } => {
                if act.needs_input() {
                    g.iter_mut().zip(x).for_each(|(g, &x)| {
                        if x <= 0.0 {
                            *g *= alpha * x.exp()
                        }
                    })
                } else {
                    // for x ≤ 0: f'(x) = α eˣ = y + α
                    g.iter_mut().zip(y).for_each(|(g, &y)| {
                        if y <= 0.0 {
                            *g *= y + alpha
                        }
                    })
                }
            }
            Activation::Gelu => g.iter_mut().zip(x).for_each(|(g, &x)| *g *= gelu::gelu_derivative(x)),
            Activation::Silu => g.iter_mut().zip(x).for_each(|(g, &x)| {
                let s = sigmoid(x);
                *g *= s + x * s * (1.0 - s)
            }),
            Activation::Softplus => g.iter_mut().zip(x).for_each(|(g, &x)| *g *= sigmoid(x)),
            // 1 / (1 + |x|)² = (1 − |y|)²
            Activation::Softsign => g.iter_mut().zip(y).for_each(|(g, &y)| *g *= (1.0 - y.abs()) * (1.0 - y.abs())),
            // λ for x > 0 (y > 0), else λ α eˣ = y + λ α
            Activation::Selu => {
                g.iter_mut().zip(y).for_each(|(g, &y)| *g *= if y > 0.0 { SELU_SCALE } else { y + SELU_SCALE * SELU_ALPHA })
            }
            Activation::HardSigmoid => {
                g.iter_mut().zip(y).for_each(|(g, &y)| *g *= if y > 0.0 && y < 1.0 { 1.0 / 6.0 } else { 0.0 })
            }
            Activation::Relu6 => g.iter_mut().zip(y).for_each(|(g, &y)| *g *= if y > 0.0 && y < 6.0 { 1.0 } else { 0.0 }),
            Activation::Mish => g.iter_mut().zip(x).for_each(|(g, &x)| {
                let t = softplus(x).tanh();
                *g *= t + x * (1.0 - t * t) * sigmoid(x)
            }),
            Activation::Exponential => g.iter_mut().zip(y).for_each(|(g, &y)| *g *= y),
        }
    }
}

/// The logistic function, stable for large `|x|`.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax of one row, in place, shifted by the row's maximum for stability.
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// `log Σ exp(row)`, stable.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f32 = row.iter().map(|v| (v - max).exp()).sum();
    max + s.ln()
}
