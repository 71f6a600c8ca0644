//! `Discretization` (see the type).

use super::category_encoding::OutputMode;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Discretization`: each value to the index of its bin, bins bounded by
/// `bin_boundaries` (`[b0, b1]` gives `(-∞, b0)`, `[b0, b1)`, `[b1, ∞)`: indices 0, 1, 2), or
/// by `num_bins` quantiles learned by [`Discretization::adapt`] with Keras's quantile summary
/// (`epsilon` 0.01, the same boundaries as Keras). Output as indices (`Int`) or encoded
/// (`OneHot`, `MultiHot`, `Count`). Not differentiable in its input (a zero gradient).
///
/// ```
/// use minibatch::layers::Discretization;
/// let ages = Discretization::with_boundaries(&[18.0, 35.0, 65.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Discretization {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    bin_boundaries: Vec<f32>,
    num_bins: Option<usize>,
    epsilon: f64,
    output_mode: OutputMode,
}

/// Discretization's saved arguments (Keras's names), the boundaries included.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DiscretizationConfig {
    name: String,
    bin_boundaries: Vec<f32>,
    num_bins: Option<usize>,
    epsilon: f64,
    output_mode: OutputMode,
}

impl Discretization {
    /// Bins bounded by `boundaries` (increasing).
    pub fn with_boundaries(boundaries: &[f32]) -> Self {
        Discretization {
            bin_boundaries: boundaries.to_vec(),
            num_bins: None,
            epsilon: 0.01,
            output_mode: OutputMode::Int,
            core: LayerCore::default(),
        }
    }

    /// `num_bins` bins of equal counts, from [`Discretization::adapt`].
    pub fn with_num_bins(num_bins: usize) -> Self {
        Discretization { num_bins: Some(num_bins), ..Discretization::with_boundaries(&[]) }
    }

    /// The quantile summary's precision (default 0.01, Keras's).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Indices (default), or one_hot, multi_hot or count over the bins.
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.output_mode = mode;
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`DiscretizationConfig`] describes.
    pub fn from_config(c: DiscretizationConfig) -> Self {
        Discretization {
            bin_boundaries: c.bin_boundaries,
            num_bins: c.num_bins,
            epsilon: c.epsilon,
            output_mode: c.output_mode,
            core: LayerCore::named(&c.name),
        }
    }

    /// The boundaries, given or learned.
    pub fn bin_boundaries(&self) -> &[f32] {
        &self.bin_boundaries
    }

    /// Learns `num_bins − 1` boundaries from the values of `x`, as Keras's `adapt` on an
    /// array: its quantile summary of the sorted values (`epsilon`), compressed to `num_bins`
    /// by interpolating cumulative weights.
    ///
    /// # Errors
    /// A layer made with boundaries rather than `num_bins`; no values; a value that is not
    /// finite.
    pub fn adapt(&mut self, x: &Tensor) -> Result<()> {
        let num_bins = self.num_bins.filter(|&n| n > 0).ok_or_else(|| {
            Error::State("a Discretization made with bin_boundaries cannot adapt: make it with_num_bins".into())
        })?;
        if x.is_empty() {
            return Err(Error::Empty { what: "data to adapt Discretization to".into() });
        }
        if let Some((index, value)) = x.first_non_finite() {
            return Err(Error::NonFinite { what: "data to adapt Discretization to".into(), index, value });
        }
        let summary = summarize(x.data(), self.epsilon);
        let summary = compress(summary, self.epsilon);
        let (bins, _) = compress(summary, 1.0 / num_bins as f64);
        self.bin_boundaries = bins[..bins.len().saturating_sub(1)].to_vec();
        Ok(())
    }

    fn depth(&self) -> usize {
        self.bin_boundaries.len() + 1
    }
}

/// Keras's `summarize`: the sorted values at steps of `max(n·ε, 1)`, each weighing the step.
fn summarize(values: &[f32], epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    // Keras's arithmetic, in double precision: n / (1 / ε).
    let step = (sorted.len() as f64 / (1.0 / epsilon)).max(1.0);
    let (start, stride) = ((step - 1.0) as usize, step as usize);
    let bins: Vec<f32> = sorted.iter().skip(start).step_by(stride).copied().collect();
    let weights = vec![step as f32; bins.len()];
    (bins, weights)
}

/// Keras's `compress_summary`: `1/ε` bins at equal steps of the cumulative weight,
/// interpolated (numpy's `interp`); a summary already that small is kept.
fn compress((bins, weights): (Vec<f32>, Vec<f32>), epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    if (bins.len() as f64) * epsilon < 1.0 {
        return (bins, weights);
    }
    let mut cum = Vec::with_capacity(weights.len());
    let mut total = 0f32;
    for w in &weights {
        total += w;
        cum.push(total);
    }
    let percents: Vec<f32> = cum.iter().map(|c| c / total).collect();
    // numpy's `epsilon + arange(0, 1, epsilon)`.
    let steps = (1.0 / epsilon).ceil() as usize;
    let targets = (0..steps).map(|i| epsilon + i as f64 * epsilon);
    let (mut new_bins, mut new_cum) = (Vec::new(), Vec::new());
    for p in targets {
        new_bins.push(interp(p, &percents, &bins) as f32);
        new_cum.push(interp(p, &percents, &cum));
    }
    let mut prev = 0.0;
    let new_weights = new_cum
        .iter()
        .map(|&c| {
            let w = c - prev;
            prev = c;
            w as f32
        })
        .collect();
    (new_bins, new_weights)
}

/// numpy's `interp(x, xp, fp)`: linear between the points, the end values beyond them.
fn interp(x: f64, xp: &[f32], fp: &[f32]) -> f64 {
    let i = xp.partition_point(|&v| (v as f64) <= x);
    if i == 0 {
        return fp[0] as f64;
    }
    if i == xp.len() {
        return fp[xp.len() - 1] as f64;
    }
    let (x0, x1, y0, y1) = (xp[i - 1] as f64, xp[i] as f64, fp[i - 1] as f64, fp[i] as f64);
    y0 + (x - x0) * (y1 - y0) / (x1 - x0)
}

impl Layer for Discretization {
    fn kind(&self) -> &'static str {
        "Discretization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if self.bin_boundaries.is_empty() && self.num_bins.is_some() {
            return Err(Error::State(format!(
                "layer {} has no bin boundaries: adapt it to data first",
                self.core.name
            )));
        }
        if self.bin_boundaries.iter().any(|b| !b.is_finite()) || self.bin_boundaries.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::invalid(
                "bin_boundaries",
                format!("{:?}", self.bin_boundaries),
                format!("finite, increasing boundaries for layer {}", self.core.name),
            ));
        }
        self.output_mode.output_shape(&self.core.name, input_shape, self.depth())
    }

    // # Shapes
    // x: [batch, k]; y: [batch, k] bin indices, or their encoding over the bins.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let per = y.row_len();
        let bins = &self.bin_boundaries;
        for (s, out) in y.data_mut().chunks_exact_mut(per).enumerate() {
            let indices = x.row(s).iter().map(|&v| bins.partition_point(|&b| b <= v));
            self.output_mode.encode(indices, self.depth(), out);
        }
    }

    // Bins take no gradient.
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, _dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.data_mut().fill(0.0);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = DiscretizationConfig {
            name: self.core.name.clone(),
            bin_boundaries: self.bin_boundaries.clone(),
            num_bins: self.num_bins,
            epsilon: self.epsilon,
            output_mode: self.output_mode,
        };
        serde_json::to_value(c).ok()
    }
}
