//! `RandomFlip` (see the type).

use super::image_shape;
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `RandomFlip(mode)`: in training, each image mirrored with probability ½ — left to
/// right (`"horizontal"`), top to bottom (`"vertical"`), or both at once on the same draw
/// (`"horizontal_and_vertical"`, the default, as Keras); the identity in inference.
///
/// ```
/// use minibatch::layers::RandomFlip;
/// let layer = RandomFlip::new("horizontal");
/// ```
#[derive(Debug, Clone)]
pub struct RandomFlip {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    mode: String,
    shape: [usize; 3],
    /// Per sample of the latest training batch: 1 where it was flipped (planned; a word each,
    /// so the plan is what the allocator reserves).
    flipped: Vec<u32>,
}

/// RandomFlip's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RandomFlipConfig {
    name: String,
    mode: String,
    seed: Option<u64>,
}

impl RandomFlip {
    /// Flips in `mode`: `horizontal`, `vertical` or `horizontal_and_vertical`.
    pub fn new(mode: &str) -> Self {
        RandomFlip { mode: mode.into(), shape: [0; 3], flipped: Vec::new(), core: LayerCore::default() }
    }

    /// A seed of the layer's own (else one is drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.core.seed = Some(seed);
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`RandomFlipConfig`] describes.
    pub fn from_config(c: RandomFlipConfig) -> Self {
        let mut layer = RandomFlip::new(&c.mode).name(&c.name);
        layer.core.seed = c.seed;
        layer
    }

    /// Copies sample `src` to `dst`, mirrored as the mode says.
    fn mirror(&self, src: &[f32], dst: &mut [f32]) {
        let [h, w, c] = self.shape;
        let (across, down) = match self.mode.as_str() {
            "horizontal" => (true, false),
            "vertical" => (false, true),
            _ => (true, true),
        };
        for i in 0..h {
            let si = if down { h - 1 - i } else { i };
            for j in 0..w {
                let sj = if across { w - 1 - j } else { j };
                dst[(i * w + j) * c..][..c].copy_from_slice(&src[(si * w + sj) * c..][..c]);
            }
        }
    }
}

impl Layer for RandomFlip {
    fn kind(&self) -> &'static str {
        "RandomFlip"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if !matches!(self.mode.as_str(), "horizontal" | "vertical" | "horizontal_and_vertical") {
            return Err(Error::invalid(
                "mode",
                &self.mode,
                format!("horizontal, vertical or horizontal_and_vertical for layer {}", self.core.name),
            ));
        }
        self.shape = image_shape(&self.core.name, input_shape)?;
        self.core.rng = Rng::new(self.core.seed.unwrap_or_else(|| rng.next_u64()));
        Ok(input_shape.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.flipped.len() < max_batch {
            self.flipped.resize(max_batch, 0);
        }
    }

    // # Shapes
    // x, y: [batch, h, w, c]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let per = x.row_len();
        // One key per step; each sample's draw from the key and its global position.
        let key = if training { self.core.rng.next_u64() } else { 0 };
        for s in 0..x.batch() {
            let flip = training && crate::layers::sample_rng(key, self.core.offset + s).next_f32() <= 0.5;
            self.flipped[s] = flip as u32;
            let (src, dst) = (&x.data()[s * per..][..per], &mut y.data_mut()[s * per..][..per]);
            if flip {
                self.mirror(src, dst);
            } else {
                dst.copy_from_slice(src);
            }
        }
    }

    // A mirror is its own inverse: dx is dy mirrored back.
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let per = x.row_len();
        for s in 0..x.batch() {
            let (src, dst) = (&dy.data()[s * per..][..per], &mut dx.data_mut()[s * per..][..per]);
            if self.flipped[s] == 1 {
                self.mirror(src, dst);
            } else {
                dst.copy_from_slice(src);
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        4 * max_batch
    }

    fn workspace_bytes(&self) -> usize {
        self.flipped.capacity() * 4
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(RandomFlipConfig {
            name: self.core.name.clone(),
            mode: self.mode.clone(),
            seed: self.core.seed,
        })
        .ok()
    }

    /// The generator's position, so a resumed run draws what an unbroken one would.
    fn state(&self) -> Vec<(&'static str, State)> {
        crate::layers::rng_state(&self.core.rng)
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        crate::layers::set_rng_state(&self.core.name, &mut self.core.rng, name, value)
    }
}
