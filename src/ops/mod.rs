//! Differentiable operations: write a layer's forward with these, and its gradient follows.
//!
//! A user's layer (see [`crate::layers::Custom`]) records its `call` once, when it is built,
//! into a [`Graph`]: each op checks its operands' shapes then (a mismatch is an error naming
//! the op and both shapes) and adds a node. [`Program`] plans the buffers for the largest
//! batch (values and gradients whose lifetimes do not overlap share one: `slots.rs`), then
//! runs the recording forward and, in reverse, each op's vector-Jacobian product, every step,
//! allocating nothing. The heavy ops run on the
//! library's kernels (`matmul` on its GEMM).
//!
//! The ops are named as Keras's `keras.ops`, shapes broadcast as NumPy's, and each family's
//! file holds its forward beside its gradient:
//!
//! | file | ops |
//! |---|---|
//! | [`elementwise`] | `exp`, `log`, `sqrt`, `square`, `abs`, `negative`, `tanh`, `sigmoid`, `relu`, `gelu`, `clip`, `stop_gradient` |
//! | [`broadcast`] | `add`, `subtract`, `multiply`, `divide`, `maximum`, `minimum` |
//! | [`reduce`] | `sum`, `mean`, `max` over an axis, `keepdims` |
//! | [`linalg`] | `matmul` |
//! | [`softmax`] | `softmax`, `log_softmax` |
//! | [`shape`] | `reshape`, `transpose`, `concatenate`, `expand_dims`, `stack` |
//! | [`indexing`] | `slice`, `take`, `one_hot`, `where_` |
//! | [`einsum`] | `einsum` of two values |
//! | [`random`] | `dropout` |

pub mod broadcast;
pub mod einsum;
pub mod elementwise;
mod graph;
pub mod indexing;
pub mod linalg;
mod program;
pub mod random;
pub mod reduce;
pub mod shape;
mod slots;
pub mod softmax;
mod vjp;

pub use broadcast::Binary;
pub use elementwise::Unary;
pub(crate) use graph::Node;
pub use graph::{Graph, Var};
pub use linalg::Product;
pub use program::Program;
pub(crate) use program::{per_sample, NoWeights, Slices, Sources, WeightSource};
pub(crate) use random::{dropout_mask, Draw};
pub use reduce::Reduce;

/// How a recorded value is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The layer's input `i`.
    Input(usize),
    /// The layer's weight `i`.
    Weight(usize),
    /// A constant's values, kept by the graph.
    Constant,
    /// Its input, without a gradient.
    StopGradient,
    /// An element-wise function.
    Unary(Unary),
    /// An element-wise function of two broadcast values.
    Binary(Binary),
    /// A reduction over one axis of the recorded shape.
    Reduce {
        /// Which.
        f: Reduce,
        /// The axis, in the recorded shape (one sample's for a batched value).
        axis: usize,
        /// Whether the axis stays, with size 1.
        keepdims: bool,
    },
    /// A matrix product.
    MatMul(Product),
    /// Softmax (or log-softmax) over the last axis.
    Softmax {
        /// `log_softmax` when true.
        log: bool,
    },
    /// The same values in another shape.
    Reshape,
    /// The axes permuted (whole axes, the batch axis first).
    Transpose(Vec<usize>),
    /// Values joined along an axis of the recorded shape.
    Concatenate(usize),
    /// A range along an axis of the recorded shape.
    Slice {
        /// The axis.
        axis: usize,
        /// The first position taken.
        start: usize,
        /// How many.
        len: usize,
    },
    /// Rows picked by index.
    Take(indexing::Gather),
    /// A one-hot encoding of this depth (no gradient).
    OneHot(usize),
    /// `a` where the condition holds, else `b`.
    Where,
    /// A two-value `einsum`.
    Einsum(Box<einsum::Einsum>),
    /// Dropout at this rate; `salt` tells the layer's random ops apart.
    Dropout {
        /// The fraction dropped.
        rate: f32,
        /// The op's place among the recording's random ops.
        salt: u64,
    },
}

impl Op {
    /// Whether a gradient flows to operand `which` (not to `take`'s indices, `where`'s
    /// condition, or through `one_hot` and `stop_gradient`).
    pub(crate) fn passes_gradient(&self, which: usize) -> bool {
        !matches!((self, which), (Op::Take(_), 1) | (Op::Where, 0) | (Op::OneHot(_), _) | (Op::StopGradient, _))
    }
}
