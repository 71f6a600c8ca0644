//! Weight and activity penalties, as Keras's `keras.regularizers`: a term added to the loss
//! that the model minimizes and the History reports.
//!
//! | Keras | penalty | gradient |
//! |---|---|---|
//! | `L1(l1=0.01)` | `l1 · Σ|w|` | `l1 · sign(w)` |
//! | `L2(l2=0.01)` | `l2 · Σw²` | `2 l2 · w` |
//! | `L1L2(l1=0, l2=0)` | both | both |
//!
//! On a layer: `kernel_regularizer` and `bias_regularizer` penalize its weights;
//! `activity_regularizer` penalizes its output, divided by the batch size as Keras 3 does.
//!
//! ```
//! use minibatch::{layers::Dense, regularizers::Regularizer};
//! let layer = Dense::new(8).kernel_regularizer(Regularizer::l2(1e-4));
//! ```

use crate::error::{Error, Result};

/// An L1, L2 or L1L2 penalty. Saved as Keras writes it:
/// `{"class_name": "L2", "config": {"l2": 0.01}}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config")]
pub enum Regularizer {
    /// `l1 · Σ|w|`.
    L1 {
        /// The factor.
        l1: f32,
    },
    /// `l2 · Σw²`.
    L2 {
        /// The factor.
        l2: f32,
    },
    /// `l1 · Σ|w| + l2 · Σw²`.
    L1L2 {
        /// The L1 factor.
        l1: f32,
        /// The L2 factor.
        l2: f32,
    },
}

impl Regularizer {
    /// Keras's `L1(l1)`.
    pub fn l1(l1: f32) -> Self {
        Regularizer::L1 { l1 }
    }
    /// Keras's `L2(l2)`.
    pub fn l2(l2: f32) -> Self {
        Regularizer::L2 { l2 }
    }
    /// Keras's `L1L2(l1, l2)`.
    pub fn l1_l2(l1: f32, l2: f32) -> Self {
        Regularizer::L1L2 { l1, l2 }
    }

    /// The regularizer Keras calls `name` (`l1`, `l2`, `l1_l2`), with Keras's default factors.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for another name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "l1" => Regularizer::l1(0.01),
            "l2" => Regularizer::l2(0.01),
            "l1_l2" => Regularizer::l1_l2(0.01, 0.01),
            _ => {
                return Err(Error::UnknownName {
                    kind: "regularizer",
                    name: name.into(),
                    known: vec!["l1", "l2", "l1_l2"],
                })
            }
        })
    }

    fn factors(&self) -> (f32, f32) {
        match *self {
            Regularizer::L1 { l1 } => (l1, 0.0),
            Regularizer::L2 { l2 } => (0.0, l2),
            Regularizer::L1L2 { l1, l2 } => (l1, l2),
        }
    }

    /// Checks the factors: non-negative and finite.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the factor.
    pub fn check(&self) -> Result<()> {
        let (l1, l2) = self.factors();
        for (name, v) in [("l1", l1), ("l2", l2)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::invalid(name, v, "a non-negative, finite regularization factor"));
            }
        }
        Ok(())
    }

    /// The penalty on `w`.
    pub fn penalty(&self, w: &[f32]) -> f32 {
        let (l1, l2) = self.factors();
        let mut p = 0.0;
        if l1 != 0.0 {
            p += l1 * w.iter().map(|v| v.abs()).sum::<f32>();
        }
        if l2 != 0.0 {
            p += l2 * w.iter().map(|v| v * v).sum::<f32>();
        }
        p
    }

    /// Adds `scale ·` ∂penalty/∂w to `grad`.
    pub fn add_gradient(&self, w: &[f32], grad: &mut [f32], scale: f32) {
        let (l1, l2) = self.factors();
        for (g, &w) in grad.iter_mut().zip(w) {
            *g += scale * (l1 * crate::tensor::kernels::sign(w) + 2.0 * l2 * w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Regularizer;

    #[test]
    fn penalties_and_gradients_follow_keras() {
        let w = [1.0, -2.0, 0.0];
        assert_eq!(Regularizer::l1(0.1).penalty(&w), 0.1 * 3.0);
        assert_eq!(Regularizer::l2(0.1).penalty(&w), 0.1 * 5.0);
        assert!((Regularizer::l1_l2(0.1, 0.2).penalty(&w) - 1.3).abs() < 1e-6);
        let mut g = [0.0; 3];
        Regularizer::l1_l2(0.1, 0.2).add_gradient(&w, &mut g, 1.0);
        assert_eq!(g, [0.1 + 0.4, -0.1 - 0.8, 0.0]);
    }
}
