//! `Masking`: marks the time steps whose features all equal a value as padding (see the type).

use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, MaskRule};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Masking(mask_value=0.0)`: over samples `[time, features]`, a step whose features
/// all equal `mask_value` is padding. The layer zeroes those steps and puts a mask on its
/// output, so that the layers after skip them (see [`MaskRule`]).
///
/// ```
/// use minibatch::layers::{Dense, Masking, LSTM};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[10, 3])
///     .add(Masking::new(0.0))
///     .add(LSTM::new(8))
///     .add(Dense::new(1));
/// ```
#[derive(Debug, Clone)]
pub struct Masking {
    mask_value: f32,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    features: usize,
}

/// Masking's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MaskingConfig {
    name: String,
    mask_value: f32,
}

impl Masking {
    /// Steps whose features all equal `mask_value` are masked.
    pub fn new(mask_value: f32) -> Self {
        Masking { mask_value, features: 0, core: LayerCore::default() }
    }

    /// The layer a [`MaskingConfig`] describes.
    pub fn from_config(c: MaskingConfig) -> Self {
        Masking::new(c.mask_value).name(&c.name)
    }

    /// The layer's name (else the model assigns `masking`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn keep(&self, step: &[f32]) -> bool {
        step.iter().any(|&v| v != self.mask_value)
    }
}

impl Layer for Masking {
    fn kind(&self) -> &'static str {
        "Masking"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let &[_, features] = input_shape else {
            return Err(Error::shape(
                format!("input to layer {} (Masking)", self.core.name),
                "sequences: samples of shape (time, features)",
                input_shape,
            ));
        };
        self.features = features;
        Ok(input_shape.to_vec())
    }

    // y = x where the step is kept, 0 where it is masked
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        for (out, step) in y.data_mut().chunks_exact_mut(self.features).zip(x.data().chunks_exact(self.features)) {
            if self.keep(step) {
                out.copy_from_slice(step);
            } else {
                out.fill(0.0);
            }
        }
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let f = self.features;
        for ((d, g), step) in
            dx.data_mut().chunks_exact_mut(f).zip(dy.data().chunks_exact(f)).zip(x.data().chunks_exact(f))
        {
            if self.keep(step) {
                d.copy_from_slice(g);
            } else {
                d.fill(0.0);
            }
        }
    }

    fn mask_rule(&self) -> MaskRule {
        MaskRule::Produce
    }

    fn compute_mask(&self, x: &Tensor, mask: &mut Tensor) {
        for (m, step) in mask.data_mut().iter_mut().zip(x.data().chunks_exact(self.features)) {
            *m = self.keep(step) as u8 as f32;
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(MaskingConfig { name: self.core.name.clone(), mask_value: self.mask_value }).ok()
    }
}
