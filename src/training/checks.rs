//! Every check of user input, made once per call before any work, so a bad call fails with a
//! clear error and leaves the model untouched.

use crate::error::{Error, Result};
use crate::models::Sequential;
use crate::tensor::Tensor;

impl Sequential {
    /// Builds the model from `x` if needed and checks that `x` fits it. `what` names `x` in
    /// errors (built only on error: a steady-state call allocates nothing).
    pub(crate) fn check_inputs(&mut self, x: &Tensor, what: &dyn Fn() -> String) -> Result<()> {
        if x.batch() == 0 || x.is_empty() {
            return Err(Error::Empty { what: what() });
        }
        let sample = &x.shape()[1..];
        if sample.is_empty() {
            return Err(Error::shape(
                what(),
                "[samples, features…]: a batch axis and at least one feature axis",
                x.shape(),
            ));
        }
        if !self.is_built() {
            let shape = self.get_input_shape().map(|s| s.to_vec()).unwrap_or_else(|| sample.to_vec());
            self.build(&shape)?;
        }
        if sample != self.shapes[0].as_slice() {
            return Err(Error::Shape {
                what: what(),
                expected: format!("samples of shape {:?} (the model's input)", self.shapes[0]),
                received: format!("{:?}, i.e. samples of shape {sample:?}", x.shape()),
            });
        }
        if let Some((index, value)) = x.first_non_finite() {
            return Err(Error::NonFinite { what: what(), index, value });
        }
        Ok(())
    }

    /// Checks `x` and `y` together for training or evaluation.
    pub(crate) fn check_data(&mut self, x: &Tensor, y: &Tensor, what: &str) -> Result<()> {
        let c = self.compiled.as_ref().ok_or_else(|| {
            Error::State(
                "the model must be compiled before training or evaluating: call compile(optimizer, loss, metrics)"
                    .into(),
            )
        })?;
        let loss = c.loss;
        if y.batch() != x.batch() {
            return Err(Error::SampleCount { x: x.batch(), y: y.batch() });
        }
        self.check_inputs(x, &|| format!("x ({what})"))?;
        if let Some((index, value)) = y.first_non_finite() {
            return Err(Error::NonFinite { what: format!("y ({what})"), index, value });
        }
        loss.check_targets(y, self.output_shape().expect("built"))
    }
}

/// The per-sample shape of `y` as the loss buffers hold it.
pub(crate) fn target_shape(y: &Tensor) -> &[usize] {
    if y.shape().len() == 1 {
        &[1]
    } else {
        &y.shape()[1..]
    }
}
