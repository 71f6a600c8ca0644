//! Conversions between [`Tensor`] and `ndarray` arrays.
//!
//! ```
//! use minibatch::Tensor;
//! let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
//! let t = Tensor::try_from(a.view().into_dyn()).unwrap();
//! assert_eq!(t.shape(), &[2, 2]);
//! let back: ndarray::ArrayD<f32> = t.into();
//! assert_eq!(back, a.into_dyn());
//! ```

use super::Tensor;
use crate::error::Error;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

impl TryFrom<ArrayViewD<'_, f32>> for Tensor {
    type Error = Error;

    /// Copies the array into a new tensor in row-major order (any memory layout is accepted).
    fn try_from(a: ArrayViewD<'_, f32>) -> Result<Self, Error> {
        let shape = a.shape().to_vec();
        let data: Vec<f32> = a.iter().copied().collect();
        Tensor::from_vec(&shape, data)
    }
}

impl TryFrom<ArrayD<f32>> for Tensor {
    type Error = Error;

    fn try_from(a: ArrayD<f32>) -> Result<Self, Error> {
        Tensor::try_from(a.view())
    }
}

impl TryFrom<ndarray::Array2<f32>> for Tensor {
    type Error = Error;

    fn try_from(a: ndarray::Array2<f32>) -> Result<Self, Error> {
        Tensor::try_from(a.into_dyn())
    }
}

impl TryFrom<ndarray::Array1<f32>> for Tensor {
    type Error = Error;

    fn try_from(a: ndarray::Array1<f32>) -> Result<Self, Error> {
        Tensor::try_from(a.into_dyn())
    }
}

impl From<Tensor> for ArrayD<f32> {
    fn from(t: Tensor) -> Self {
        let shape = IxDyn(t.shape());
        ArrayD::from_shape_vec(shape, t.into_vec()).expect("a tensor's shape matches its data")
    }
}

impl Tensor {
    /// A view of the tensor as an `ndarray` array, without copying.
    pub fn view(&self) -> ArrayViewD<'_, f32> {
        ArrayViewD::from_shape(IxDyn(self.shape()), self.data()).expect("a tensor's shape matches its data")
    }
}
