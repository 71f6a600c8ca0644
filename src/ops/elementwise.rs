//! Element-wise ops of one value: each function beside its derivative, written in terms of the
//! input `x` and the output `y` (whichever is cheaper).
//!
//! | op | y | ∂y/∂x |
//! |---|---|---|
//! | `exp` | eˣ | y |
//! | `log` | ln x | 1/x |
//! | `sqrt` | √x | 1/(2y) |
//! | `square` | x² | 2x |
//! | `abs` | \|x\| | sign x |
//! | `negative` | −x | −1 |
//! | `tanh` | tanh x | 1 − y² |
//! | `sigmoid` | 1/(1 + e⁻ˣ) | y(1 − y) |
//! | `relu` | max(x, 0) | 1 where x > 0 |
//! | `gelu` | ½x(1 + tanh(c(x + 0.044715x³))), c = √(2/π) | ½(1 + tanh u) + ½x(1 − tanh²u)·c(1 + 3·0.044715x²), u = c(x + 0.044715x³) |
//! | `clip(lo, hi)` | min(max(x, lo), hi) | 1 where lo ≤ x ≤ hi (TensorFlow's rule) |

use super::{Graph, Op, Var};

/// An element-wise function of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// `exp` (see the table above).
    Exp,
    /// `log` (see the table above).
    Log,
    /// `sqrt` (see the table above).
    Sqrt,
    /// `square` (see the table above).
    Square,
    /// `abs` (see the table above).
    Abs,
    /// `negative` (see the table above).
    Negative,
    /// `tanh` (see the table above).
    Tanh,
    /// `sigmoid` (see the table above).
    Sigmoid,
    /// `relu` (see the table above).
    Relu,
    /// `gelu` (see the table above).
    Gelu,
    /// `clip(x, lo, hi)`.
    Clip(f32, f32),
}

/// √(2/π), Keras's (and PyTorch's) tanh approximation of GELU.
const GELU_C: f32 = 0.797_884_6;

impl Unary {
    /// `y = f(x)`.
    pub(crate) fn value(self, x: f32) -> f32 {
        match self {
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Sqrt => x.sqrt(),
            Unary::Square => x * x,
            Unary::Abs => x.abs(),
            Unary::Negative => -x,
            Unary::Tanh => x.tanh(),
            Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Unary::Relu => x.max(0.0),
            Unary::Gelu => 0.5 * x * (1.0 + (GELU_C * (x + 0.044_715 * x * x * x)).tanh()),
            Unary::Clip(lo, hi) => x.max(lo).min(hi),
        }
    }

    /// `∂y/∂x` at `x`, given `y = f(x)`.
    pub(crate) fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Unary::Exp => y,
            Unary::Log => 1.0 / x,
            Unary::Sqrt => 0.5 / y,
            Unary::Square => 2.0 * x,
            Unary::Abs => crate::tensor::kernels::sign(x),
            Unary::Negative => -1.0,
            Unary::Tanh => 1.0 - y * y,
            Unary::Sigmoid => y * (1.0 - y),
            Unary::Relu => f32::from(x > 0.0),
            Unary::Gelu => gelu_grad(x),
            Unary::Clip(lo, hi) => f32::from(x >= lo && x <= hi),
        }
    }
}

/// d/dx of ½x(1 + tanh u), u = c(x + 0.044715x³): ½(1 + tanh u) + ½x(1 − tanh²u)·c(1 + 3·0.044715x²).
pub(crate) fn gelu_grad(x: f32) -> f32 {
    let t = (GELU_C * (x + 0.044_715 * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044_715 * x * x)
}

/// `y = f(x)`, element by element.
pub(crate) fn forward(f: Unary, x: &[f32], y: &mut [f32]) {
    // The common cheap ones get loops of their own (monomorphized, so they vectorize).
    let run = |op: &dyn Fn(f32) -> f32, y: &mut [f32]| y.iter_mut().zip(x).for_each(|(y, &x)| *y = op(x));
    match f {
        Unary::Relu => y.iter_mut().zip(x).for_each(|(y, &x)| *y = x.max(0.0)),
        Unary::Square => y.iter_mut().zip(x).for_each(|(y, &x)| *y = x * x),
        Unary::Negative => y.iter_mut().zip(x).for_each(|(y, &x)| *y = -x),
        _ => run(&|x| f.value(x), y),
    }
}

/// `dx = dy · f'(x)`, added to `dx` when `acc`.
pub(crate) fn backward(f: Unary, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], acc: bool) {
    use super::vjp::put;
    match f {
        // From the output alone: y > 0 exactly where x > 0.
        Unary::Relu => {
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                put(dx, if y > 0.0 { g } else { 0.0 }, acc);
            }
        }
        Unary::Tanh => {
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                put(dx, g * (1.0 - y * y), acc);
            }
        }
        Unary::Sigmoid => {
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                put(dx, g * y * (1.0 - y), acc);
            }
        }
        _ => {
            for (((dx, &x), &y), &g) in dx.iter_mut().zip(x).zip(y).zip(dy) {
                put(dx, g * f.derivative(x, y), acc);
            }
        }
    }
}

impl Graph {
    fn unary(&mut self, f: Unary, x: Var) -> Var {
        let n = &self.nodes[x.0];
        let (shape, batched) = (n.shape.clone(), n.batched);
        self.push(Op::Unary(f), vec![x], shape, batched)
    }

    /// `eˣ`, element-wise.
    pub fn exp(&mut self, x: Var) -> Var {
        self.unary(Unary::Exp, x)
    }
    /// `ln x`, element-wise.
    pub fn log(&mut self, x: Var) -> Var {
        self.unary(Unary::Log, x)
    }
    /// `√x`, element-wise.
    pub fn sqrt(&mut self, x: Var) -> Var {
        self.unary(Unary::Sqrt, x)
    }
    /// `x²`, element-wise.
    pub fn square(&mut self, x: Var) -> Var {
        self.unary(Unary::Square, x)
    }
    /// `|x|`, element-wise.
    pub fn abs(&mut self, x: Var) -> Var {
        self.unary(Unary::Abs, x)
    }
    /// `−x`, element-wise.
    pub fn negative(&mut self, x: Var) -> Var {
        self.unary(Unary::Negative, x)
    }
    /// `tanh x`, element-wise.
    pub fn tanh(&mut self, x: Var) -> Var {
        self.unary(Unary::Tanh, x)
    }
    /// The logistic sigmoid, element-wise.
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.unary(Unary::Sigmoid, x)
    }
    /// `max(x, 0)`, element-wise.
    pub fn relu(&mut self, x: Var) -> Var {
        self.unary(Unary::Relu, x)
    }
    /// GELU, Keras's default `approximate=True` (the tanh form).
    pub fn gelu(&mut self, x: Var) -> Var {
        self.unary(Unary::Gelu, x)
    }
    /// `x` held to `[lo, hi]`.
    pub fn clip(&mut self, x: Var, lo: f32, hi: f32) -> Var {
        self.unary(Unary::Clip(lo, hi), x)
    }
    /// `x` itself, through which no gradient flows (Keras's `ops.stop_gradient`).
    pub fn stop_gradient(&mut self, x: Var) -> Var {
        let n = &self.nodes[x.0];
        let (shape, batched) = (n.shape.clone(), n.batched);
        self.push(Op::StopGradient, vec![x], shape, batched)
    }
}
