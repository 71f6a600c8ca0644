//! The tensor: a contiguous, row-major, n-dimensional array of `f32`.
//!
//! Dimension 0 is the batch. A tensor's buffer is allocated once with room for the largest
//! batch it will hold; [`Tensor::set_batch`] changes the batch dimension within that room
//! without allocating, which is how the last, partial batch of an epoch reuses the buffers of
//! the full ones.
//!
//! ```
//! use minibatch::Tensor;
//! let t = Tensor::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
//! assert_eq!(t.shape(), &[2, 3]);
//! assert_eq!(t.row(1), &[4., 5., 6.]);
//! ```

pub mod bf16;
mod denormals;
mod gemm;
mod gemm_bf16;
mod im2col;
pub mod isa;
pub(crate) mod keras_float;
pub mod kernels;
pub mod memory;
mod ndarray_interop;
mod pool;
pub mod simd;
pub(crate) mod window;

pub use denormals::FlushDenormals;
pub(crate) use gemm::{sgemm_packed, PackedB};
pub(crate) use im2col::{col2im, im2col};
pub(crate) use pool::{for_each_part, for_each_range, max_parts};

use crate::error::{Error, Result};

/// A pointer that may cross to the kernel threads, for work on disjoint ranges of one buffer.
pub(crate) struct SendPtr<T = f32>(pub *mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

// SAFETY: used only to hand disjoint ranges of one buffer to the pool's threads.
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// Values `lo..hi` of the buffer.
    ///
    /// # Safety
    /// The range must lie inside the buffer, and no other live slice may overlap it.
    pub unsafe fn slice<'a>(self, lo: usize, hi: usize) -> &'a mut [T] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(lo), hi - lo) }
    }
}

/// The most dimensions a tensor has (batch, height, width, channels, and two to spare).
pub const MAX_DIMS: usize = 6;

/// A contiguous row-major `f32` array whose first dimension is the batch.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    dims: [usize; MAX_DIMS],
    ndim: usize,
    data: Vec<f32>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape())?;
        if self.data.len() <= 16 {
            write!(f, " {:?}", self.data)?;
        }
        Ok(())
    }
}

impl Default for Tensor {
    /// An empty 1-D tensor.
    fn default() -> Self {
        Tensor::zeros(&[0])
    }
}

fn dims_of(shape: &[usize]) -> [usize; MAX_DIMS] {
    assert!(!shape.is_empty() && shape.len() <= MAX_DIMS, "a tensor has 1 to {MAX_DIMS} dimensions, got {shape:?}");
    let mut dims = [0; MAX_DIMS];
    dims[..shape.len()].copy_from_slice(shape);
    dims
}

impl Tensor {
    /// A tensor of zeros.
    ///
    /// # Panics
    /// On a contract violation: more than [`MAX_DIMS`] dimensions, or a shape whose size
    /// overflows. Shapes from outside (files, flags) go through [`memory::element_count`] or
    /// [`Tensor::from_vec`], which return errors instead.
    pub fn zeros(shape: &[usize]) -> Self {
        let dims = dims_of(shape);
        let n = memory::element_count("Tensor::zeros", shape).unwrap_or_else(|e| panic!("{e}"));
        Tensor { dims, ndim: shape.len(), data: vec![0.0; n] }
    }

    /// A tensor of the given shape over `data` (row-major).
    ///
    /// # Errors
    /// [`Error::Shape`] when `data.len()` is not the product of `shape`, or `shape` has no
    /// dimensions or more than [`MAX_DIMS`].
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(Error::shape("tensor", format!("1 to {MAX_DIMS} dimensions"), shape));
        }
        let n = memory::element_count("tensor", shape)?;
        if n != data.len() {
            return Err(Error::Shape {
                what: "tensor data".into(),
                expected: format!("{n} values for shape {shape:?}"),
                received: format!("{} values", data.len()),
            });
        }
        Ok(Tensor { dims: dims_of(shape), ndim: shape.len(), data })
    }

    /// A 2-D tensor from rows of equal length.
    ///
    /// # Errors
    /// [`Error::Shape`] when rows differ in length; [`Error::Empty`] when there are none.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let first = rows.first().ok_or(Error::Empty { what: "rows".into() })?;
        let cols = first.as_ref().len();
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::Shape {
                    what: format!("row {i}"),
                    expected: format!("{cols} values like row 0"),
                    received: format!("{} values", r.len()),
                });
            }
            data.extend_from_slice(r);
        }
        Tensor::from_vec(&[rows.len(), cols], data)
    }

    /// A 1-D tensor.
    pub fn from_slice(values: &[f32]) -> Self {
        Tensor { dims: dims_of(&[values.len()]), ndim: 1, data: values.to_vec() }
    }

    /// The shape, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.ndim]
    }

    /// Number of samples (dimension 0).
    pub fn batch(&self) -> usize {
        self.dims[0]
    }

    /// Values per sample: the product of all dimensions but the first.
    pub fn row_len(&self) -> usize {
        self.dims[1..self.ndim].iter().product()
    }

    /// Total number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, row-major, writable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The values of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// Values the buffer has room for without allocating.
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// The values' storage itself, for a caller that lends it to another owner and gives it
    /// back unchanged in length (the ops' programs write a layer's output and gradients into
    /// the model's buffers this way, without a copy).
    pub(crate) fn storage_mut(&mut self) -> &mut Vec<f32> {
        &mut self.data
    }

    /// Consumes the tensor, returning its values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Zeros for `batch` samples of `sample_shape`: shape `[batch, sample_shape…]`. A buffer
    /// made this way can later hold any batch up to `batch` without allocating
    /// ([`Tensor::set_batch`]).
    pub fn zeros_batch(batch: usize, sample_shape: &[usize]) -> Self {
        let mut shape = vec![batch];
        shape.extend_from_slice(sample_shape);
        Tensor::zeros(&shape)
    }

    /// Sets the batch dimension to `batch`. Does not allocate while `batch` samples fit in the
    /// room the buffer was made with; new values are zero.
    pub fn set_batch(&mut self, batch: usize) {
        let per = self.row_len();
        self.dims[0] = batch;
        self.data.resize(batch * per, 0.0);
    }

    /// Makes the tensor `[batch, sample_shape…]`, keeping its buffer: no allocation while the
    /// values fit the room it was made with (a buffer shared by tensors of several shapes).
    pub(crate) fn set_shape_within(&mut self, batch: usize, sample_shape: &[usize]) {
        self.ndim = sample_shape.len() + 1;
        self.dims[0] = batch;
        self.dims[1..self.ndim].copy_from_slice(sample_shape);
        self.data.resize(batch * sample_shape.iter().product::<usize>(), 0.0);
    }

    /// The same values under another shape with the same number of values.
    ///
    /// # Errors
    /// [`Error::Shape`] when the counts differ.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(self.data.len()) || shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(Error::Shape {
                what: "reshape".into(),
                expected: format!("a shape of {} values", self.data.len()),
                received: format!("{shape:?}"),
            });
        }
        self.dims = dims_of(shape);
        self.ndim = shape.len();
        Ok(self)
    }

    /// Fills `self` (already sized for `indices.len()` samples) with the samples of `src` at
    /// `indices`, in order. Used to gather a shuffled batch without allocating.
    pub fn gather_rows(&mut self, src: &Tensor, indices: &[usize]) {
        let n = src.row_len();
        debug_assert_eq!(n, self.row_len());
        self.set_batch(indices.len());
        for (dst, &i) in self.data.chunks_exact_mut(n).zip(indices) {
            dst.copy_from_slice(&src.data[i * n..(i + 1) * n]);
        }
    }

    /// A new tensor holding samples `start..end`.
    pub fn slice_rows(&self, start: usize, end: usize) -> Tensor {
        let n = self.row_len();
        let mut shape = self.shape().to_vec();
        shape[0] = end - start;
        Tensor { dims: dims_of(&shape), ndim: self.ndim, data: self.data[start * n..end * n].to_vec() }
    }

    /// A new tensor holding the samples at `indices`.
    pub fn select_rows(&self, indices: &[usize]) -> Tensor {
        let mut sample_shape = self.shape().to_vec();
        sample_shape.remove(0);
        let mut t = Tensor::zeros_batch(indices.len(), &sample_shape);
        t.gather_rows(self, indices);
        t
    }

    /// The samples of `parts`, one after another (`numpy.concatenate(parts, axis=0)`).
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when the parts' samples differ in shape.
    pub fn concat_rows(parts: &[&Tensor]) -> crate::Result<Tensor> {
        let Some(first) = parts.first() else { return Ok(Tensor::zeros(&[0])) };
        let mut shape = first.shape().to_vec();
        shape[0] = 0;
        let mut data = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            if p.shape()[1..] != first.shape()[1..] {
                return Err(crate::Error::shape(
                    "rows to concatenate",
                    format!("{:?}", &first.shape()[1..]),
                    &p.shape()[1..],
                ));
            }
            shape[0] += p.batch();
            data.extend_from_slice(p.data());
        }
        Tensor::from_vec(&shape, data)
    }

    /// Index and value of the first NaN or infinity, if any.
    pub fn first_non_finite(&self) -> Option<(usize, f32)> {
        self.data.iter().position(|v| !v.is_finite()).map(|i| (i, self.data[i]))
    }

    /// Index of the largest value of each sample (ties: the first).
    pub fn argmax_rows(&self) -> Vec<usize> {
        (0..self.batch()).map(|i| kernels::argmax(self.row(i))).collect()
    }
}
