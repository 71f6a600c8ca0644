//! The variables a layer holds: [`Param`], a trainable tensor with its gradient (and its
//! regularizer and constraint), and [`State`], a non-trainable one saved with the weights.
//! Below both the layers that own them and the optimizers that update them; `layers`
//! re-exports both.

use crate::error::Result;
use crate::tensor::Tensor;

/// A trainable tensor and its gradient, of the same shape.
#[derive(Debug, Clone)]
pub struct Param {
    /// Keras's variable name within the layer: `kernel`, `bias`.
    pub name: &'static str,
    /// The current values.
    pub value: Tensor,
    /// ∂loss/∂value from the latest backward pass.
    pub grad: Tensor,
    /// A penalty on the values, added to the loss (Keras's `kernel_regularizer`, say).
    pub regularizer: Option<crate::regularizers::Regularizer>,
    /// Applied to the values after every update (Keras's `kernel_constraint`, say).
    pub constraint: Option<crate::constraints::Constraint>,
}

impl Param {
    /// A parameter of zeros with the given shape.
    pub fn zeros(name: &'static str, shape: &[usize]) -> Self {
        Param { name, value: Tensor::zeros(shape), grad: Tensor::zeros(shape), regularizer: None, constraint: None }
    }

    /// [`Param::zeros`] for layer `layer`, after claiming its room from the weight budget in
    /// force (see [`crate::tensor::memory`]): the way a layer's `build` creates its weights.
    ///
    /// # Errors
    /// [`Error::Memory`](crate::Error::Memory) or [`Error::Shape`](crate::Error::Shape) naming the layer and the weight when the shape is
    /// larger than the budget or overflows.
    pub fn claim(layer: &str, name: &'static str, shape: &[usize]) -> Result<Self> {
        crate::tensor::memory::claim(&format!("{layer}'s {name}"), shape)?;
        Ok(Param::zeros(name, shape))
    }
}

/// A non-trainable variable a layer saves with its weights: moving statistics (`F32`) or a
/// random generator's state (`U64`, as Keras saves a `SeedGenerator`'s state).
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Values of a float variable.
    F32(Tensor),
    /// Words of an integer variable.
    U64(Vec<u64>),
}
