//! `Normalization` (see the type).

use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `backend.epsilon()`: the smallest standard deviation divided by.
const EPSILON: f32 = 1e-7;

/// Keras's `Normalization(axis=-1, mean=None, variance=None, invert=False)`: each feature of
/// the last axis standardized, `y = (x − mean) / max(√variance, 1e-7)`, with the mean and
/// variance given or learned from data by [`Normalization::adapt`] (over every axis but the
/// last, the variance the biased one, as numpy's `var`). `invert` undoes it:
/// `y = mean + x · max(√variance, 1e-7)`. The statistics are non-trainable variables saved with
/// the model's weights (Keras's `mean` and `variance`), so a saved model standardizes raw data
/// as it did in training. Before `adapt` (and without `mean` and `variance`) the layer is the
/// identity (mean 0, variance 1), as Keras's.
///
/// ```
/// use minibatch::{layers::{Dense, Normalization}, Sequential, Tensor};
/// let x = Tensor::from_vec(&[4, 2], vec![1.0, 100.0, 2.0, 200.0, 3.0, 300.0, 4.0, 400.0]).unwrap();
/// let mut norm = Normalization::new();
/// norm.adapt(&x).unwrap();
/// assert_eq!(norm.mean(), &[2.5, 250.0]);
/// assert_eq!(norm.variance(), &[1.25, 12500.0]);
/// let model = Sequential::new().input_shape(&[2]).add(norm).add(Dense::new(1));
/// ```
#[derive(Debug, Clone)]
pub struct Normalization {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    invert: bool,
    /// Per feature of the last axis.
    mean: Tensor,
    variance: Tensor,
    /// `max(√variance, ε)` per feature, derived from `variance`.
    std: Vec<f32>,
    features: usize,
}

/// Normalization's saved arguments (Keras's names; the statistics travel with the weights).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct NormalizationConfig {
    name: String,
    axis: i64,
    #[serde(default)]
    invert: bool,
    /// Features of the last axis (the statistics' size).
    #[serde(default)]
    features: usize,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization::new()
    }
}

impl Normalization {
    /// The identity until adapted (or given statistics).
    pub fn new() -> Self {
        Normalization {
            invert: false,
            mean: Tensor::zeros(&[0]),
            variance: Tensor::zeros(&[0]),
            std: Vec::new(),
            features: 0,
            core: LayerCore::default(),
        }
    }

    /// The layer a [`NormalizationConfig`] describes (its statistics come with the weights).
    ///
    /// # Errors
    /// An axis other than the last.
    pub fn from_config(c: NormalizationConfig) -> Result<Self> {
        if c.axis != -1 {
            return Err(Error::invalid("axis", c.axis, "-1 (the last axis)"));
        }
        let mut n = Normalization { invert: c.invert, ..Normalization::new() };
        n.core.name = c.name;
        if c.features > 0 {
            n.set_statistics(vec![0.0; c.features], vec![1.0; c.features]);
        }
        Ok(n)
    }

    /// The layer's name (else the model assigns `normalization`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// Undo the standardization instead: `y = mean + x · max(√variance, 1e-7)`.
    pub fn invert(mut self, on: bool) -> Self {
        self.invert = on;
        self
    }

    /// Given statistics (Keras's `mean=` and `variance=`), one value per feature.
    ///
    /// # Errors
    /// Lengths that differ, none, or values that are not finite (a negative variance).
    pub fn with_statistics(mut self, mean: &[f32], variance: &[f32]) -> Result<Self> {
        let finite = mean.iter().chain(variance).all(|v| v.is_finite()) && variance.iter().all(|&v| v >= 0.0);
        if mean.len() != variance.len() || mean.is_empty() || !finite {
            let received = format!("{} means and {} variances", mean.len(), variance.len());
            let expected = "as many finite means as finite, non-negative variances, at least one";
            return Err(Error::invalid("Normalization statistics", received, expected));
        }
        self.set_statistics(mean.to_vec(), variance.to_vec());
        Ok(self)
    }

    /// Learns each feature's mean and (biased) variance from `x` `[samples, …, features]`, over
    /// every axis but the last (Keras's `adapt` on an array), computed in double precision.
    ///
    /// # Errors
    /// [`Error::Empty`] for no samples; [`Error::NonFinite`] naming the value for NaN or
    /// infinity; [`Error::Shape`] for data whose features differ from the layer's (once built).
    pub fn adapt(&mut self, x: &Tensor) -> Result<()> {
        if x.batch() == 0 || x.is_empty() {
            return Err(Error::Empty { what: "data to adapt Normalization to".into() });
        }
        let f = *x.shape().last().expect("not empty");
        if x.shape().len() < 2 {
            return Err(Error::shape("data to adapt Normalization to", "[samples, features…]", x.shape()));
        }
        if self.features != 0 && f != self.features {
            let expected = format!("{} features on the last axis, as the layer has", self.features);
            return Err(Error::shape("data to adapt Normalization to", expected, x.shape()));
        }
        if let Some((index, value)) = x.first_non_finite() {
            return Err(Error::NonFinite { what: "data to adapt Normalization to".into(), index, value });
        }
        let (mut mean, mut m2) = (vec![0f64; f], vec![0f64; f]);
        let rows = moments(x.data(), &mut mean, &mut m2) as f64;
        self.set_statistics(mean.iter().map(|&m| m as f32).collect(), m2.iter().map(|&s| (s / rows) as f32).collect());
        Ok(())
    }

    /// Features the layer was built or adapted for (0: not yet).
    pub(crate) fn features(&self) -> usize {
        self.features
    }

    /// Each feature's mean.
    pub fn mean(&self) -> &[f32] {
        self.mean.data()
    }

    /// Each feature's variance.
    pub fn variance(&self) -> &[f32] {
        self.variance.data()
    }

    /// Each feature's divisor `max(√variance, 1e-7)`: what [`Normalization::invert`]
    /// multiplies by.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Whether the layer undoes a standardization ([`Normalization::invert`]).
    pub fn inverts(&self) -> bool {
        self.invert
    }

    pub(crate) fn set_statistics(&mut self, mean: Vec<f32>, variance: Vec<f32>) {
        self.features = mean.len();
        self.std = variance.iter().map(|&v| v.sqrt().max(EPSILON)).collect();
        self.mean = Tensor::from_slice(&mean);
        self.variance = Tensor::from_slice(&variance);
    }
}

impl Layer for Normalization {
    fn kind(&self) -> &'static str {
        "Normalization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let Some(&f) = input_shape.last().filter(|&&f| f > 0) else {
            return Err(Error::shape(format!("input to layer {}", self.core.name), "[…, features]", input_shape));
        };
        match self.features {
            0 => self.set_statistics(vec![0.0; f], vec![1.0; f]),
            n if n != f => {
                return Err(Error::Shape {
                    what: format!("input to layer {} (Normalization)", self.core.name),
                    expected: format!("{n} features on the last axis, as the layer was adapted to"),
                    received: format!("{input_shape:?}"),
                })
            }
            _ => {}
        }
        Ok(input_shape.to_vec())
    }

    // y = (x − m) / s per feature (inverted: y = m + x · s).
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let (m, s) = (self.mean.data(), &self.std);
        for (yr, xr) in y.data_mut().chunks_exact_mut(self.features).zip(x.data().chunks_exact(self.features)) {
            for (((yv, &xv), &mv), &sv) in yr.iter_mut().zip(xr).zip(m).zip(s) {
                *yv = if self.invert { mv + xv * sv } else { (xv - mv) / sv };
            }
        }
    }

    // dx = dy / s (inverted: dx = dy · s).
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let s = &self.std;
        for (dr, gr) in dx.data_mut().chunks_exact_mut(self.features).zip(dy.data().chunks_exact(self.features)) {
            for ((d, &g), &sv) in dr.iter_mut().zip(gr).zip(s) {
                *d = if self.invert { g * sv } else { g / sv };
            }
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = NormalizationConfig {
            name: self.core.name.clone(),
            axis: -1,
            invert: self.invert,
            features: self.features,
        };
        serde_json::to_value(c).ok()
    }

    fn state(&self) -> Vec<(&'static str, State)> {
        vec![("mean", State::F32(self.mean.clone())), ("variance", State::F32(self.variance.clone()))]
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        let State::F32(t) = value else {
            return Err(Error::State(format!("layer {}: {name} must hold floats", self.core.name)));
        };
        if t.len() != self.features {
            return Err(Error::State(format!("layer {}: {name} must hold {} values", self.core.name, self.features)));
        }
        let (mut mean, mut variance) = (self.mean.data().to_vec(), self.variance.data().to_vec());
        match name {
            "mean" => mean.copy_from_slice(t.data()),
            "variance" => variance.copy_from_slice(t.data()),
            _ => return Err(Error::State(format!("layer {} has no variable {name}", self.core.name))),
        }
        self.set_statistics(mean, variance);
        Ok(())
    }
}

/// Each feature's mean (into `mean`) and sum of squared deviations from it (into `m2`) over
/// the rows of `data` (`mean.len()` features each), in double precision, two passes; returns
/// the number of rows.
pub(crate) fn moments(data: &[f32], mean: &mut [f64], m2: &mut [f64]) -> usize {
    let f = mean.len();
    let rows = data.len() / f;
    mean.fill(0.0);
    m2.fill(0.0);
    if rows == 0 {
        return 0;
    }
    for row in data.chunks_exact(f) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    for row in data.chunks_exact(f) {
        for ((s, &v), m) in m2.iter_mut().zip(row).zip(mean.iter()) {
            *s += (v as f64 - m) * (v as f64 - m);
        }
    }
    rows
}
