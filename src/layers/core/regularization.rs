//! The regularizers and constraints a weighted layer (Dense, Conv) takes, with Keras's
//! argument names; see [`crate::regularizers`] and [`crate::constraints`].

use crate::constraints::Constraint;
use crate::error::Result;
use crate::layers::Param;
use crate::regularizers::Regularizer;

/// Keras's `kernel_regularizer`, `bias_regularizer`, `activity_regularizer`,
/// `kernel_constraint` and `bias_constraint` (all none by default). Saved in the layer's config.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regularization {
    /// Penalty on the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Penalty on the layer's output, divided by the batch size (Keras 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_regularizer: Option<Regularizer>,
    /// Constraint on the kernel after each update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Constraint on the bias after each update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
}

impl Regularization {
    /// Checks every factor and constraint against the weights' shapes, then attaches them to
    /// `params` (`[kernel]` or `[kernel, bias]`).
    pub(crate) fn attach(&self, params: &mut [Param]) -> Result<()> {
        for r in [self.kernel_regularizer, self.bias_regularizer, self.activity_regularizer].iter().flatten() {
            r.check()?;
        }
        for (i, p) in params.iter_mut().enumerate() {
            let (regularizer, constraint) = if i == 0 {
                (self.kernel_regularizer, self.kernel_constraint)
            } else {
                (self.bias_regularizer, self.bias_constraint)
            };
            if let Some(c) = constraint {
                c.check(p.value.shape())?;
            }
            p.regularizer = regularizer;
            p.constraint = constraint;
        }
        Ok(())
    }
}

/// Builder methods for the [`Regularization`] of a layer type (its `core.reg`).
macro_rules! regularization_builders {
    ($t:ty) => {
        impl $t {
            /// Sets every regularizer and constraint at once.
            pub fn regularization(mut self, reg: $crate::layers::Regularization) -> Self {
                self.core.reg = reg;
                self
            }
            /// Keras's `kernel_regularizer`: a penalty on the kernel, added to the loss.
            pub fn kernel_regularizer(mut self, r: $crate::regularizers::Regularizer) -> Self {
                self.core.reg.kernel_regularizer = Some(r);
                self
            }
            /// Keras's `bias_regularizer`: a penalty on the bias, added to the loss.
            pub fn bias_regularizer(mut self, r: $crate::regularizers::Regularizer) -> Self {
                self.core.reg.bias_regularizer = Some(r);
                self
            }
            /// Keras's `activity_regularizer`: a penalty on the layer's output, divided by the
            /// batch size, added to the loss.
            pub fn activity_regularizer(mut self, r: $crate::regularizers::Regularizer) -> Self {
                self.core.reg.activity_regularizer = Some(r);
                self
            }
            /// Keras's `kernel_constraint`, applied after every update.
            pub fn kernel_constraint(mut self, c: $crate::constraints::Constraint) -> Self {
                self.core.reg.kernel_constraint = Some(c);
                self
            }
            /// Keras's `bias_constraint`, applied after every update.
            pub fn bias_constraint(mut self, c: $crate::constraints::Constraint) -> Self {
                self.core.reg.bias_constraint = Some(c);
                self
            }
        }
    };
}
pub(crate) use regularization_builders;
