//! Merge layers: several tensors in, one out (Keras's `Add`, `Subtract`, `Multiply`,
//! `Average`, `Maximum`, `Minimum`, `Concatenate`, `Dot`). Forward and backward of each
//! operation sit side by side in [`Merge::forward_many`] and [`Merge::backward_many`].

use super::{InputGrads, Inputs, Layer};
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// The operation a [`Merge`] layer applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MergeOp {
    /// `x₀ + x₁ + …`
    Add,
    /// `x₀ − x₁` (exactly two inputs)
    Subtract,
    /// `x₀ · x₁ · …`, elementwise
    Multiply,
    /// `(x₀ + x₁ + …) / k`
    Average,
    /// The elementwise maximum (the gradient goes to the first input holding it).
    Maximum,
    /// The elementwise minimum (the gradient goes to the first input holding it).
    Minimum,
    /// Joined along a per-sample axis (Keras's `axis`, counted with the batch axis: `-1` is
    /// the last, `1` the first after the batch).
    Concatenate(i64),
    /// Keras's `Dot`: per sample, two tensors of rank 1 or 2 contracted over one axis each
    /// (`[d], [d] → [1]`; `[p, d], [q, d] → [p, q]` over the last axes); with `normalize`,
    /// along those axes first (cosine similarity). See `dot.rs`.
    Dot {
        /// Keras's `axes`, one per input, counted with the batch axis (−1: the last).
        axes: [i64; 2],
        /// Normalize along the contracted axes first.
        normalize: bool,
    },
}

impl MergeOp {
    fn class(&self) -> &'static str {
        match self {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
            MergeOp::Concatenate(_) => "Concatenate",
            MergeOp::Dot { .. } => "Dot",
        }
    }
}

/// A layer that merges the tensors it is called on (see [`MergeOp`]). Made by [`Add::new`],
/// [`Concatenate::new`] and the others, under Keras's class names.
///
/// ```
/// use minibatch::layers::{Add, Concatenate, Dense};
/// use minibatch::models::{Call, Input, Model};
/// let (a, b) = (Input::new(&[4]), Input::new(&[2]));
/// let joined = Concatenate::new().call([&a, &b]); // (None, 6)
/// let out = Add::new().call([&Dense::new(6).call(&joined), &joined]);
/// let model = Model::new(&[&a, &b], &[&out]).unwrap();
/// assert_eq!(model.output_shape(), Some(&[6][..]));
/// ```
#[derive(Debug, Clone)]
pub struct Merge {
    op: MergeOp,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    /// Per input: its per-sample shape (set by `build_many`).
    shapes: Vec<Vec<usize>>,
    /// Concatenate: the per-sample axis, the product of the axes before it, and each input's
    /// block (its axis length times the product of the axes after it).
    outer: usize,
    blocks: Vec<usize>,
    /// Dot: the product's layout and workspace.
    dot: super::dot::DotProduct,
}

macro_rules! merge_class {
    ($t:ident, $op:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $t;
        impl $t {
            /// The layer.
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> Merge {
                Merge::new($op)
            }
        }
    };
}

merge_class!(Add, MergeOp::Add, "Keras's `Add`: the sum of the inputs, which share one shape.");
merge_class!(Subtract, MergeOp::Subtract, "Keras's `Subtract`: the first of two inputs minus the second.");
merge_class!(Multiply, MergeOp::Multiply, "Keras's `Multiply`: the elementwise product of the inputs.");
merge_class!(Average, MergeOp::Average, "Keras's `Average`: the elementwise mean of the inputs.");
merge_class!(Maximum, MergeOp::Maximum, "Keras's `Maximum`: the elementwise maximum of the inputs.");
merge_class!(Minimum, MergeOp::Minimum, "Keras's `Minimum`: the elementwise minimum of the inputs.");

/// Keras's `Concatenate(axis=-1)`: the inputs joined along an axis.
pub struct Concatenate;
impl Concatenate {
    /// Joined along the last axis.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Merge {
        Merge::new(MergeOp::Concatenate(-1))
    }
    /// Joined along `axis`, counted as Keras counts it (with the batch axis; negative from
    /// the end).
    pub fn axis(axis: i64) -> Merge {
        Merge::new(MergeOp::Concatenate(axis))
    }
}

/// Keras's `Dot(axes, normalize)`: per sample, the two inputs (rank 1 or 2) contracted over
/// one axis each, as Keras's `batch_dot`.
///
/// ```
/// use minibatch::layers::Dot;
/// use minibatch::models::{Call, Input, Model};
/// // Attention scores: [Tq, d] · [Tv, d] over the last axes → [Tq, Tv].
/// let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
/// let scores = Dot::with_axes([2, 2], false).call([&q, &v]);
/// let model = Model::new(&[&q, &v], &[&scores]).unwrap();
/// assert_eq!(model.output_shape(), Some(&[3, 5][..]));
/// ```
pub struct Dot;
impl Dot {
    /// Over the last axes (Keras's `axes=-1`; for vectors, their dot product `[1]`); with
    /// `normalize`, the cosine similarity.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(normalize: bool) -> Merge {
        Dot::with_axes([-1, -1], normalize)
    }

    /// Keras's `Dot(axes=(a, b), normalize)`: input 0 contracted over its axis `a`, input 1
    /// over `b` (counted with the batch axis: 1 is a sample's first; −1 the last).
    #[allow(clippy::new_ret_no_self)]
    pub fn with_axes(axes: [i64; 2], normalize: bool) -> Merge {
        Merge::new(MergeOp::Dot { axes, normalize })
    }
}

/// Keras's `axes` of `Dot`: one for both inputs, or one each.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum DotAxes {
    /// The same axis of both.
    One(i64),
    /// One per input.
    Pair(Vec<i64>),
}

/// A merge layer's saved arguments: Keras's (`axis` for Concatenate, `axes` and `normalize`
/// for Dot).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MergeConfig {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    axis: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    axes: Option<DotAxes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    normalize: Option<bool>,
}

impl Merge {
    /// A merge layer applying `op`.
    pub fn new(op: MergeOp) -> Self {
        Merge {
            op,
            shapes: Vec::new(),
            outer: 0,
            blocks: Vec::new(),
            dot: Default::default(),
            core: LayerCore::default(),
        }
    }

    /// Names the layer (else the model names it: `add`, `add_1`, …).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.to_string();
        self
    }

    /// The operation.
    pub fn op(&self) -> MergeOp {
        self.op
    }

    /// The layer a Keras class name and [`MergeConfig`] describe.
    ///
    /// # Errors
    /// A class that is not a merge layer; Dot axes that are not one or two integers.
    pub fn from_config(class: &str, c: MergeConfig) -> Result<Self> {
        let op = match class {
            "Add" => MergeOp::Add,
            "Subtract" => MergeOp::Subtract,
            "Multiply" => MergeOp::Multiply,
            "Average" => MergeOp::Average,
            "Maximum" => MergeOp::Maximum,
            "Minimum" => MergeOp::Minimum,
            "Concatenate" => MergeOp::Concatenate(c.axis.unwrap_or(-1)),
            "Dot" => {
                let axes = match &c.axes {
                    None => [-1, -1],
                    Some(DotAxes::One(a)) => [*a, *a],
                    Some(DotAxes::Pair(v)) if v.len() == 2 => [v[0], v[1]],
                    Some(other) => return Err(Error::invalid("Dot axes", format!("{other:?}"), "one axis, or two")),
                };
                MergeOp::Dot { axes, normalize: c.normalize.unwrap_or(false) }
            }
            _ => return Err(Error::invalid("merge layer class", class, "Add, Subtract, Multiply, ... or Dot")),
        };
        let mut m = Merge::new(op);
        m.core.name = c.name;
        Ok(m)
    }

    fn shape_error(&self, expected: &str, shapes: &[Vec<usize>]) -> Error {
        Error::Shape {
            what: format!("inputs of layer {} ({})", self.core.name, self.op.class()),
            expected: expected.into(),
            received: format!("{shapes:?}"),
        }
    }
}

impl Layer for Merge {
    fn kind(&self) -> &'static str {
        self.op.class()
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape.to_vec()], rng)
    }

    fn build_many(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        let two = matches!(self.op, MergeOp::Subtract | MergeOp::Dot { .. });
        if shapes.len() < 2 || (two && shapes.len() != 2) {
            let n = if two { "exactly 2 tensors" } else { "at least 2 tensors" };
            return Err(self.shape_error(n, shapes));
        }
        self.shapes = shapes.to_vec();
        match self.op {
            MergeOp::Concatenate(axis) => {
                let rank = shapes[0].len() as i64;
                let a = if axis < 0 { rank + 1 + axis } else { axis };
                if a < 1 || a > rank || shapes.iter().any(|s| s.len() as i64 != rank) {
                    return Err(Error::invalid(
                        "Concatenate axis",
                        axis,
                        format!("a per-sample axis of inputs of one rank ({rank}), as 1..={rank} or -1..=-{rank}"),
                    ));
                }
                let a = (a - 1) as usize;
                let same_elsewhere =
                    shapes.iter().all(|s| s.iter().enumerate().all(|(i, &d)| i == a || d == shapes[0][i]));
                if !same_elsewhere {
                    return Err(self.shape_error(&format!("shapes equal except along axis {axis}"), shapes));
                }
                self.outer = shapes[0][..a].iter().product();
                self.blocks = shapes.iter().map(|s| s[a..].iter().product()).collect();
                let mut out = shapes[0].clone();
                out[a] = shapes.iter().map(|s| s[a]).sum();
                Ok(out)
            }
            MergeOp::Dot { axes, normalize } => {
                let (product, shape) =
                    super::dot::DotProduct::build(&shapes[0], &shapes[1], axes, normalize, &self.core.name)?;
                self.dot = product;
                Ok(shape)
            }
            _ => {
                if shapes.iter().any(|s| *s != shapes[0]) {
                    return Err(self.shape_error("tensors of one shape", shapes));
                }
                Ok(shapes[0].clone())
            }
        }
    }

    fn plan(&mut self, max_batch: usize) {
        self.dot.plan(max_batch);
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        self.dot.workspace_bytes(max_batch)
    }

    fn workspace_bytes(&self) -> usize {
        self.dot.workspace_bytes(self.dot.planned_batch())
    }

    // A merge layer is only ever built for two or more inputs: the one-input methods are the
    // merge of a single tensor, itself.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        super::pass_forward(x, y);
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        super::pass_backward(dy, dx);
    }

    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, _training: bool) {
        let out = y.data_mut();
        let k = xs.len();
        match self.op {
            MergeOp::Add | MergeOp::Average | MergeOp::Subtract => {
                out.copy_from_slice(xs.get(0).data());
                for (i, x) in xs.iter().enumerate().skip(1) {
                    let sign = if self.op == MergeOp::Subtract && i == 1 { -1.0 } else { 1.0 };
                    out.iter_mut().zip(x.data()).for_each(|(o, v)| *o += sign * v);
                }
                if self.op == MergeOp::Average {
                    out.iter_mut().for_each(|o| *o /= k as f32);
                }
            }
            MergeOp::Multiply => {
                out.copy_from_slice(xs.get(0).data());
                for x in xs.iter().skip(1) {
                    out.iter_mut().zip(x.data()).for_each(|(o, v)| *o *= v);
                }
            }
            MergeOp::Maximum | MergeOp::Minimum => {
                let max = self.op == MergeOp::Maximum;
                out.copy_from_slice(xs.get(0).data());
                for x in xs.iter().skip(1) {
                    for (o, &v) in out.iter_mut().zip(x.data()) {
                        if (max && v > *o) || (!max && v < *o) {
                            *o = v;
                        }
                    }
                }
            }
            MergeOp::Concatenate(_) => {
                let total: usize = self.blocks.iter().sum();
                let n = xs.get(0).batch() * self.outer;
                for r in 0..n {
                    let mut at = r * total;
                    for (x, &b) in xs.iter().zip(&self.blocks) {
                        out[at..at + b].copy_from_slice(&x.data()[r * b..(r + 1) * b]);
                        at += b;
                    }
                }
            }
            MergeOp::Dot { .. } => {
                let (a, b) = (xs.get(0), xs.get(1));
                self.dot.forward(a.data(), b.data(), out, a.batch());
            }
        }
    }

    fn backward_many(&mut self, xs: Inputs<'_>, y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        let k = xs.len();
        let g = dy.data();
        if let MergeOp::Dot { .. } = self.op {
            let (a, b) = (xs.get(0), xs.get(1));
            for i in 0..2 {
                let Some(dx) = dxs.get_mut(i) else { continue };
                let (da, db) = if i == 0 { (Some(dx.data_mut()), None) } else { (None, Some(dx.data_mut())) };
                self.dot.backward(a.data(), b.data(), g, da, db, a.batch());
            }
            return;
        }
        for i in 0..k {
            let Some(dx) = dxs.get_mut(i) else { continue };
            let dx = dx.data_mut();
            match self.op {
                MergeOp::Add => dx.copy_from_slice(g),
                MergeOp::Subtract => {
                    let sign = if i == 1 { -1.0 } else { 1.0 };
                    dx.iter_mut().zip(g).for_each(|(d, v)| *d = sign * v);
                }
                MergeOp::Average => dx.iter_mut().zip(g).for_each(|(d, v)| *d = v / k as f32),
                MergeOp::Multiply => {
                    dx.copy_from_slice(g);
                    for (_, x) in xs.iter().enumerate().filter(|&(j, _)| j != i) {
                        dx.iter_mut().zip(x.data()).for_each(|(d, v)| *d *= v);
                    }
                }
                MergeOp::Maximum | MergeOp::Minimum => {
                    // The output came from the first input holding it.
                    let out = y.data();
                    for (e, d) in dx.iter_mut().enumerate() {
                        let first = (0..k).find(|&j| xs.get(j).data()[e] == out[e]);
                        *d = if first == Some(i) { g[e] } else { 0.0 };
                    }
                }
                MergeOp::Concatenate(_) => {
                    let total: usize = self.blocks.iter().sum();
                    let offset: usize = self.blocks[..i].iter().sum();
                    let b = self.blocks[i];
                    for r in 0..xs.get(0).batch() * self.outer {
                        dx[r * b..(r + 1) * b].copy_from_slice(&g[r * total + offset..r * total + offset + b]);
                    }
                }
                MergeOp::Dot { .. } => unreachable!("Dot's gradients are written above"),
            }
        }
    }

    // Keras: the output's mask is the OR of the inputs' when all have one. Its Maximum and
    // Minimum also take a masked step's value from the other inputs: not yet here.
    fn mask_rule(&self) -> crate::layers::MaskRule {
        match self.op {
            MergeOp::Maximum | MergeOp::Minimum => crate::layers::MaskRule::Unsupported,
            _ => crate::layers::MaskRule::Pass,
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let (axis, axes, normalize) = match self.op {
            MergeOp::Concatenate(axis) => (Some(axis), None, None),
            MergeOp::Dot { axes, normalize } => (None, Some(DotAxes::Pair(axes.to_vec())), Some(normalize)),
            _ => (None, None, None),
        };
        serde_json::to_value(MergeConfig { name: self.core.name.clone(), axis, axes, normalize }).ok()
    }
}
