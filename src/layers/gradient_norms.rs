//! Per-sample gradient norms, for the gradient noise scale (see `training/noise_scale.rs`).
//!
//! A Dense layer on one row per sample has, for sample `i` with input `xᵢ` and gradient `dzᵢ`
//! of the batch's mean loss at its pre-activation, the per-sample gradient
//! `Gᵢ = xᵢ ⊗ (B·dzᵢ)` for its kernel and `B·dzᵢ` for its bias, so (Goodfellow, 2015,
//! "Efficient per-example gradient computations"):
//!
//! ```text
//! |Gᵢ|² = B² · |dzᵢ|² · (|xᵢ|² + 1)        (the 1 with a bias)
//! ```
//!
//! `O(B·(in + units))` beside the kernel gradient's `O(B·in·units)`: the mean of the
//! per-sample norms and the batch gradient's norm are two batch sizes' gradients (1 and `B`)
//! at the same weights, which is what the noise scale's estimate needs.

/// A layer's per-sample gradient norms from its last backward pass, when asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradientNorms {
    /// Compute them in the next backward passes.
    pub asked: bool,
    /// Whether the last backward pass computed them (the layer can: one row per sample).
    pub measured: bool,
    /// `mean_i |Gᵢ|²` over the batch's samples.
    pub per_sample: f64,
    /// `|G_B|²`: the squared norm of the batch's gradient of the layer's weights (before any
    /// penalty's gradient joins it).
    pub batch: f64,
    /// The batch's samples, `B`.
    pub samples: usize,
}

impl GradientNorms {
    /// Records a Dense layer's norms from its inputs `x` (`rows × fan_in`), its pre-activation
    /// gradient `dz` (`rows × units`) and its weight gradients, when asked and when `rows` is
    /// the batch's `samples` (one row per sample).
    pub(crate) fn record_dense(
        &mut self,
        x: &[f32],
        dz: &[f32],
        (rows, samples): (usize, usize),
        kernel: &[f32],
        bias: Option<&[f32]>,
    ) {
        self.measured = false;
        if !self.asked || rows != samples || rows == 0 {
            return;
        }
        let (fan_in, units) = (x.len() / rows, dz.len() / rows);
        let with_bias = if bias.is_some() { 1.0 } else { 0.0 };
        let sum: f64 = (0..rows)
            .map(|r| {
                let xn = squares(&x[r * fan_in..(r + 1) * fan_in]);
                let dn = squares(&dz[r * units..(r + 1) * units]);
                dn * (xn + with_bias)
            })
            .sum();
        let b = rows as f64;
        // mean_i B²|dzᵢ|²(|xᵢ|² + 1) = B · Σᵢ |dzᵢ|²(|xᵢ|² + 1)
        self.per_sample = b * sum;
        self.batch = squares(kernel) + bias.map_or(0.0, squares);
        self.samples = rows;
        self.measured = true;
    }
}

/// `|v|²`, by the kernels' vectorized dot product.
fn squares(v: &[f32]) -> f64 {
    f64::from(crate::tensor::kernels::dot(v, v))
}
