//! `UnitNormalization` (see the type).

use super::axes::Axes;
use crate::error::Result;
use crate::layers::{Layer, LayerCore};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `UnitNormalization`: each group of values over `axis` (the last by default) scaled
/// to unit L2 norm, as Keras's `ops.normalize(x, order=2, epsilon=1e-12)` computes it:
///
/// ```text
/// r = min(1 / √(Σ x²), 1 / ε)        y = x · r
/// dx = (dy − y · Σ y ⊙ dy) · r        (dx = dy · r where the cap 1/ε holds r)
/// ```
///
/// No weights.
///
/// ```
/// use minibatch::layers::UnitNormalization;
/// let norm = UnitNormalization::new().axis([1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct UnitNormalization {
    axis: Axes,
    /// Name and random state (no weights; see [`LayerCore`]).
    core: LayerCore,
    group: usize,
    /// The latest batch's `r` per group.
    inv_norm: Vec<f32>,
    sample_len: usize,
}

/// Keras's `epsilon` of `ops.normalize` in UnitNormalization.
const EPSILON: f32 = 1e-12;

/// UnitNormalization's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct UnitNormalizationConfig {
    name: String,
    #[serde(default)]
    axis: Axes,
}

impl Default for UnitNormalization {
    fn default() -> Self {
        UnitNormalization::new()
    }
}

impl UnitNormalization {
    /// Over the last axis (Keras's default `axis=-1`).
    pub fn new() -> Self {
        UnitNormalization {
            axis: Axes::default(),
            core: LayerCore::default(),
            group: 0,
            inv_norm: Vec::new(),
            sample_len: 0,
        }
    }

    /// Keras's `axis`: one axis or several, the sample's last ones (checked when built).
    pub fn axis(mut self, axis: impl Into<Axes>) -> Self {
        self.axis = axis.into();
        self
    }

    /// The layer's name (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`UnitNormalizationConfig`] describes (not built).
    pub fn from_config(c: UnitNormalizationConfig) -> Self {
        UnitNormalization::new().axis(c.axis).name(&c.name)
    }
}

impl Layer for UnitNormalization {
    fn kind(&self) -> &'static str {
        "UnitNormalization"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.group = self.axis.group_len(input_shape, &self.core.name)?.max(1);
        self.sample_len = input_shape.iter().product();
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        let groups = max_batch * self.sample_len / self.group;
        if self.inv_norm.len() < groups {
            self.inv_norm = vec![0.0; groups];
        }
    }

    // # Shapes
    // x, y: [groups, group]; r: [groups]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let g = self.group;
        for ((xr, yr), r) in x.data().chunks_exact(g).zip(y.data_mut().chunks_exact_mut(g)).zip(&mut self.inv_norm) {
            let squares: f32 = xr.iter().map(|v| v * v).sum();
            *r = (1.0 / squares.sqrt()).min(1.0 / EPSILON);
            yr.iter_mut().zip(xr).for_each(|(y, x)| *y = x * *r);
        }
    }

    fn backward(&mut self, _x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let g = self.group;
        let groups = y.data().chunks_exact(g).zip(dy.data().chunks_exact(g)).zip(dx.data_mut().chunks_exact_mut(g));
        for (((yr, dyr), dxr), &r) in groups.zip(&self.inv_norm) {
            // Where the cap holds r, r does not depend on x.
            let dot = if r < 1.0 / EPSILON { yr.iter().zip(dyr).map(|(y, d)| y * d).sum::<f32>() } else { 0.0 };
            for ((o, &d), &y) in dxr.iter_mut().zip(dyr).zip(yr) {
                *o = (d - y * dot) * r;
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * max_batch * self.sample_len / self.group.max(1)
    }

    fn workspace_bytes(&self) -> usize {
        4 * self.inv_norm.len()
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Pass
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(UnitNormalizationConfig { name: self.core.name.clone(), axis: self.axis.clone() }).ok()
    }
}
