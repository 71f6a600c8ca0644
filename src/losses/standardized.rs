//! `Standardized` (see the type).

use super::{BuiltinLoss, Loss};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::cell::RefCell;

/// A regression loss taken on standardized targets, for a model whose last layer turns its
/// standardized outputs back into the targets' units (a `layers::Normalization` with `invert`):
/// scikit-learn's `TransformedTargetRegressor` with a `StandardScaler`, kept inside one
/// model.
///
/// For each output `j` with the targets' mean `μⱼ` and standard deviation `σⱼ` (the
/// inverting layer's),
///
/// ```text
/// z = (p − μ) / σ          the prediction, standardized (the layer's input, exactly)
/// t = (y − μ) / σ          the target, standardized
/// L(p, y) = inner(z, t)    e.g. mean (z − t)²
/// ∂L/∂p = ∂inner/∂z / σ    so that, through the layer (× σ), the network below it
///                          gets ∂inner/∂z: training on standardized targets
/// ```
///
/// The network therefore trains as on standardized targets (the same steps for every
/// optimizer, whatever the targets' scale: prices in dollars do not make SGD's steps 10¹⁰
/// times larger), while predictions and the metrics beside the loss (`mae`) are in the
/// targets' own units. The reported `loss` is the inner loss of the standardized values.
///
/// ```
/// use minibatch::{layers::{Dense, Normalization}, losses::{BuiltinLoss, Standardized}, Sequential};
/// // Targets with mean 250 000 and standard deviation 80 000 (variance 6.4e9).
/// let back = Normalization::new().invert(true).with_statistics(&[250_000.0], &[6.4e9]).unwrap();
/// let loss = Standardized::new(BuiltinLoss::MeanSquaredError, back.mean().to_vec(), back.std().to_vec()).unwrap();
/// let mut model = Sequential::new().input_shape(&[3]).add(Dense::new(8).activation("relu")).add(Dense::new(1)).add(back);
/// model.compile("adam", loss, &["mae"]).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardized {
    /// The loss of the standardized values: a regression loss.
    pub loss: BuiltinLoss,
    /// Per output, the targets' mean.
    pub mean: Vec<f32>,
    /// Per output, the targets' standard deviation (positive).
    pub std: Vec<f32>,
}

/// The saved `class_name`.
pub(super) const CLASS_NAME: &str = "standardized";

thread_local! {
    /// `[z | t | ∂inner/∂z]` for one row, grown once per thread to the widest row seen.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Standardized {
    /// `loss` on targets standardized by `mean` and `std`, one of each per output.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for lengths that differ or are 0, a mean that is not finite,
    /// a standard deviation that is not finite and positive, or a loss that does not take
    /// quantities (the cross-entropies, hinges, cosine similarity; Poisson and the logarithmic
    /// and percentage errors, whose targets must keep their sign and scale).
    pub fn new(loss: BuiltinLoss, mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        use BuiltinLoss::*;
        if !matches!(loss, MeanSquaredError | MeanAbsoluteError | Huber { .. } | LogCosh) {
            return Err(Error::invalid(
                "loss",
                loss.keras_name(),
                "mean_squared_error, mean_absolute_error, huber or log_cosh (a loss of quantities whose \
                 meaning survives standardizing them)",
            ));
        }
        let ok = mean.iter().all(|m| m.is_finite()) && std.iter().all(|s| s.is_finite() && *s > 0.0);
        if mean.len() != std.len() || mean.is_empty() || !ok {
            return Err(Error::invalid(
                "target statistics",
                format!("{} means, {} standard deviations", mean.len(), std.len()),
                "as many finite means as finite, positive standard deviations, at least one",
            ));
        }
        Ok(Standardized { loss, mean, std })
    }
}

impl Loss for Standardized {
    /// The inner loss's name: the task a saved model was compiled for reads as its own.
    fn name(&self) -> &str {
        self.loss.keras_name()
    }

    fn row(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>) -> f32 {
        let k = pred.len();
        SCRATCH.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < 3 * k {
                buf.resize(3 * k, 0.0);
            }
            let (z, rest) = buf.split_at_mut(k);
            let (t, g) = rest.split_at_mut(k);
            // Rows are the last axis: output j of the row has statistics j.
            for j in 0..k {
                let (m, s) = (self.mean[j % self.mean.len()], self.std[j % self.std.len()]);
                z[j] = (pred[j] - m) / s;
                t[j] = (target[j] - m) / s;
            }
            match grad {
                Some(out) => {
                    let value = self.loss.row(z, t, Some(&mut g[..k]));
                    for j in 0..k {
                        out[j] = g[j] / self.std[j % self.std.len()];
                    }
                    value
                }
                None => self.loss.row(z, t, None),
            }
        })
    }

    fn check_targets(&self, y: &Tensor, output: &[usize]) -> Result<()> {
        let k = *output.last().unwrap_or(&1);
        if k != self.mean.len() {
            return Err(Error::shape(
                "outputs of a model trained on standardized targets",
                format!("{} values per row, one per standardized target", self.mean.len()),
                output,
            ));
        }
        self.loss.check_targets(y, output)
    }

    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "class_name": CLASS_NAME, "config": self }))
    }

    fn check_arguments(&self) -> Result<()> {
        Standardized::new(self.loss, self.mean.clone(), self.std.clone()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value is the inner loss of the standardized values, and the gradient matches
    /// finite differences of the value.
    #[test]
    fn value_and_gradient() {
        for inner in [
            BuiltinLoss::MeanSquaredError,
            BuiltinLoss::MeanAbsoluteError,
            BuiltinLoss::Huber { delta: 1.0 },
            BuiltinLoss::LogCosh,
        ] {
            let loss = Standardized::new(inner, vec![100.0, -3.0], vec![50.0, 0.5]).unwrap();
            let (p, y) = ([180.0f32, -2.2], [120.0f32, -3.4]);
            let expected = inner.row(&[(180.0 - 100.0) / 50.0, (-2.2 + 3.0) / 0.5], &[0.4, -0.8], None);
            let mut g = [0.0; 2];
            let value = loss.row(&p, &y, Some(&mut g));
            assert!((value - expected).abs() < 1e-6, "{inner:?}: {value} vs {expected}");
            for j in 0..2 {
                let h = 1e-2 * loss.std[j];
                let (mut up, mut down) = (p, p);
                up[j] += h;
                down[j] -= h;
                let numeric = (loss.row(&up, &y, None) - loss.row(&down, &y, None)) / (2.0 * h);
                assert!(
                    (numeric - g[j]).abs() < 1e-3 * numeric.abs().max(1e-2),
                    "{inner:?} {j}: {numeric} vs {}",
                    g[j]
                );
            }
        }
    }

    /// Saved and read back by `losses::from_config`; a cross-entropy or a zero deviation is
    /// refused by name.
    #[test]
    fn round_trips_and_refuses_what_it_cannot_mean() {
        let loss = Standardized::new(BuiltinLoss::MeanSquaredError, vec![1.0], vec![2.0]).unwrap();
        let back = super::super::from_config(&loss.config().unwrap()).unwrap();
        assert_eq!(back.name(), "mean_squared_error");
        assert_eq!(back.row(&[5.0], &[1.0], None), 4.0);
        let ce = BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false };
        assert!(Standardized::new(ce, vec![0.0], vec![1.0]).unwrap_err().to_string().contains("sparse_categorical"));
        let zero = Standardized::new(BuiltinLoss::MeanSquaredError, vec![0.0], vec![0.0]).unwrap_err();
        assert!(zero.to_string().contains("positive standard deviations"), "{zero}");
    }
}
