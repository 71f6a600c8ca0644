//! The recording: a [`Graph`] of the values a user's `call` makes, each with its shape, and the
//! buffers planned from it. Recorded once (when the layer is built), run every step.

use super::Op;
use crate::error::{Error, Result};

/// A value of a [`Graph`]: an input, a weight, a constant, or what an op made of them. Cheap to
/// copy; it is an index into the graph that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var(pub(crate) usize);

/// What the graph knows of a value when it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// The shape of one sample (without the batch axis) when `batched`, else the whole shape.
    pub shape: Vec<usize>,
    /// Whether the value has a leading batch axis (of the step's batch size).
    pub batched: bool,
    /// How the value is made.
    pub op: Op,
    /// The values it reads.
    pub inputs: Vec<Var>,
    /// Whether a gradient flows back to it (it depends on an input or a trainable weight,
    /// not through `stop_gradient`).
    pub needs_grad: bool,
}

impl Node {
    /// Its number of values for a batch of `batch` samples.
    pub fn len(&self, batch: usize) -> usize {
        let per: usize = self.shape.iter().product();
        if self.batched {
            per * batch
        } else {
            per
        }
    }

    /// Its whole shape for a batch of `batch` samples (the batch axis first when batched),
    /// without allocating.
    pub fn full_shape(&self, batch: usize) -> Dims {
        let mut d = Dims { dims: [0; MAX_RANK], rank: 0 };
        if self.batched {
            d.dims[0] = batch;
            d.rank = 1;
        }
        for &x in &self.shape {
            d.dims[d.rank] = x;
            d.rank += 1;
        }
        d
    }
}

/// The most axes a value may have, the batch axis included.
pub const MAX_RANK: usize = 8;

/// A whole shape held inline (no allocation in a step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Dims {
    /// No axes yet.
    pub(crate) fn empty() -> Dims {
        Dims { dims: [0; MAX_RANK], rank: 0 }
    }

    /// One more axis, last.
    pub(crate) fn push(&mut self, d: usize) {
        self.dims[self.rank] = d;
        self.rank += 1;
    }
}

impl std::ops::Deref for Dims {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

/// The ops a user's layer is written with, recorded as it calls them: each method checks
/// its operands' shapes (a mismatch is an error naming the op and both shapes, when the layer
/// is built, never mid-training) and returns the new value. Named as Keras's `keras.ops`;
/// shapes broadcast as NumPy's. A value's axes count the batch axis first, as Keras's do
/// (`axis = -1` is the last feature axis).
///
/// ```
/// use minibatch::ops::Graph;
/// let mut g = Graph::new();
/// let x = g.input(&[3]);                      // one sample: 3 features
/// let w = g.constant(&[3, 2], vec![1.0; 6]).unwrap();
/// let y = g.matmul(x, w).unwrap();            // [batch, 3] · [3, 2]
/// assert_eq!(g.shape(y), vec![2]);
/// assert!(g.matmul(w, x).is_err());           // [3, 2] · [batch, 3]: named shapes
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    /// The values of each constant, by node.
    pub(crate) constants: Vec<(usize, Vec<f32>)>,
    /// The node of each input and of each weight, in the order they were declared.
    pub(crate) input_nodes: Vec<usize>,
    pub(crate) weight_nodes: Vec<usize>,
    /// Whether this is the recording for training (Keras's `training=True`).
    pub(crate) training: bool,
    /// How many random ops were recorded.
    pub(crate) random_ops: u64,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// An empty graph recording `call` for training (`true`) or inference.
    pub(crate) fn for_mode(training: bool) -> Self {
        Graph { training, ..Graph::default() }
    }

    /// Keras's `training` argument to `call`: `true` in the recording run by `fit`'s steps,
    /// `false` in the one run by `predict`, `evaluate` and validation. A layer that behaves
    /// differently in the two (a dropout) is recorded once for each.
    pub fn training(&self) -> bool {
        self.training
    }

    /// Whether the recording holds a random op (a `dropout`).
    pub fn is_random(&self) -> bool {
        self.random_ops > 0
    }

    /// Records a value and returns it. Its rank (with the batch axis) is at most
    /// [`MAX_RANK`]: the recording methods check it first.
    pub(crate) fn push(&mut self, op: Op, inputs: Vec<Var>, shape: Vec<usize>, batched: bool) -> Var {
        let needs_grad = match op {
            Op::Input(_) | Op::Weight(_) => true,
            Op::Constant | Op::StopGradient | Op::OneHot(_) => false,
            _ => inputs.iter().enumerate().any(|(which, v)| op.passes_gradient(which) && self.nodes[v.0].needs_grad),
        };
        self.nodes.push(Node { shape, batched, op, inputs, needs_grad });
        Var(self.nodes.len() - 1)
    }

    /// The next input of the layer: one sample's shape (a batch of them at run time).
    pub fn input(&mut self, shape: &[usize]) -> Var {
        assert!(shape.len() < MAX_RANK, "an input of at most {} axes per sample", MAX_RANK - 1);
        let v = self.push(Op::Input(self.input_nodes.len()), Vec::new(), shape.to_vec(), true);
        self.input_nodes.push(v.0);
        v
    }

    /// The layer's next weight, of the given shape (not batched); a gradient reaches it when
    /// `trainable`.
    pub(crate) fn weight(&mut self, shape: &[usize], trainable: bool) -> Var {
        assert!(shape.len() <= MAX_RANK, "a weight of at most {MAX_RANK} axes");
        let v = self.push(Op::Weight(self.weight_nodes.len()), Vec::new(), shape.to_vec(), false);
        self.weight_nodes.push(v.0);
        self.nodes[v.0].needs_grad = trainable;
        v
    }

    /// The next input, holding a mask (`[time]` per sample, 1 or 0): no gradient reaches it.
    pub(crate) fn mask_input(&mut self, shape: &[usize]) -> Var {
        let v = self.input(shape);
        self.nodes[v.0].needs_grad = false;
        v
    }

    /// Whether `other` records the same values (whatever the mode it was recorded in).
    pub(crate) fn same_recording(&self, other: &Graph) -> bool {
        self.nodes == other.nodes && self.constants == other.constants
    }

    /// A constant (not batched; no gradient): `values` in row-major order.
    ///
    /// # Errors
    /// [`Error::Shape`] when `values` does not hold `shape`'s number of values.
    pub fn constant(&mut self, shape: &[usize], values: Vec<f32>) -> Result<Var> {
        let want: usize = shape.iter().product();
        if values.len() != want || shape.len() > MAX_RANK {
            return Err(Error::Shape {
                what: "ops.constant".into(),
                expected: format!("{want} values for shape {shape:?}"),
                received: format!("{} values", values.len()),
            });
        }
        let v = self.push(Op::Constant, Vec::new(), shape.to_vec(), false);
        self.constants.push((v.0, values));
        Ok(v)
    }

    /// A scalar constant (shape `[]`), which broadcasts against anything.
    pub fn scalar(&mut self, value: f32) -> Var {
        self.constant(&[], vec![value]).expect("one value for shape []")
    }

    /// A value's shape: one sample's for a batched value (see [`Graph::is_batched`]).
    pub fn shape(&self, v: Var) -> Vec<usize> {
        self.nodes[v.0].shape.clone()
    }

    /// Whether a value has the batch axis (it depends on an input).
    pub fn is_batched(&self, v: Var) -> bool {
        self.nodes[v.0].batched
    }

    /// A value's shape as Keras prints it: `(None, 3, 2)` for a batched value.
    pub(crate) fn describe(&self, v: Var) -> String {
        let n = &self.nodes[v.0];
        let dims: Vec<String> = n.shape.iter().map(usize::to_string).collect();
        match (n.batched, dims.len()) {
            (true, 0) => "(None,)".into(),
            (true, _) => format!("(None, {})", dims.join(", ")),
            (false, 1) => format!("({},)", dims[0]),
            (false, _) => format!("({})", dims.join(", ")),
        }
    }

    /// A shape error naming the op, what it expects and its operands' shapes.
    pub(crate) fn mismatch(&self, op: &str, operands: &[Var], expected: &str) -> Error {
        let shapes: Vec<String> = operands.iter().map(|&v| self.describe(v)).collect();
        Error::Shape { what: format!("ops.{op}"), expected: expected.into(), received: shapes.join(" and ") }
    }

    /// An axis counted as Keras counts it (the batch axis first for a batched value;
    /// negative from the end) as an index into the value's recorded shape.
    pub(crate) fn axis(&self, op: &str, v: Var, axis: isize) -> Result<usize> {
        let n = &self.nodes[v.0];
        let rank = n.shape.len() + usize::from(n.batched);
        let full = if axis < 0 { axis + rank as isize } else { axis };
        if full < 0 || full >= rank as isize {
            return Err(self.mismatch(op, &[v], &format!("an axis in [-{rank}, {rank}), not {axis}")));
        }
        match (n.batched, full as usize) {
            (true, 0) => Err(self.mismatch(op, &[v], "an axis other than the batch axis (0)")),
            (true, a) => Ok(a - 1),
            (false, a) => Ok(a),
        }
    }
}
