//! `GlobalAveragePooling2D`, `GlobalMaxPooling2D` and their 1-D forms (see [`GlobalPooling`]).

use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, PoolOp};
use crate::rng::Rng;
use crate::tensor::window::spatial_input;
use crate::tensor::Tensor;

macro_rules! global_constructors {
    ($($(#[$doc:meta])* $name:ident => ($op:expr, $rank:expr);)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl $name {
            /// The layer, with Keras's defaults (`keepdims=False`).
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> GlobalPooling {
                GlobalPooling {
                    op: $op,
                    rank: $rank,
                    core: LayerCore::default(),
                    positions: 0,
                    channels: 0,
                    argmax: Vec::new(),
                    mask: Vec::new(),
                    masked: false,
                }
            }
        }
    )*};
}

global_constructors! {
    /// Makes 2-D global average pooling, returning a [`GlobalPooling`].
    GlobalAveragePooling2D => (PoolOp::Average, 2);
    /// Makes 2-D global max pooling, returning a [`GlobalPooling`].
    GlobalMaxPooling2D => (PoolOp::Max, 2);
    /// Makes 1-D global average pooling, returning a [`GlobalPooling`].
    GlobalAveragePooling1D => (PoolOp::Average, 1);
    /// Makes 1-D global max pooling, returning a [`GlobalPooling`].
    GlobalMaxPooling1D => (PoolOp::Max, 1);
}

/// A global pooling layer.
///
/// `GlobalAveragePooling2D`, `GlobalMaxPooling2D` and their 1-D forms: one value per channel,
/// the mean or the largest over all positions: `[h, w, c] → [c]` (`[steps, c] → [c]`).
///
/// ```
/// use minibatch::layers::{GlobalAveragePooling2D, GlobalMaxPooling1D};
/// let gap = GlobalAveragePooling2D::new();
/// let gmp = GlobalMaxPooling1D::new();
/// ```
#[derive(Debug, Clone)]
pub struct GlobalPooling {
    op: PoolOp,
    rank: usize,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    positions: usize,
    channels: usize,
    /// Max: per sample and channel, the position chosen.
    argmax: Vec<u32>,
    /// Average over time: `[n, positions]`, the latest batch's mask, when it came with one
    /// (Keras's GlobalAveragePooling1D averages over the unmasked steps only).
    mask: Vec<f32>,
    masked: bool,
}

/// Global pooling's saved arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct GlobalPoolingConfig {
    name: String,
}

impl GlobalPooling {
    /// The layer a [`GlobalPoolingConfig`] describes.
    pub fn from_config(op: PoolOp, rank: usize, c: GlobalPoolingConfig) -> Self {
        GlobalPooling {
            op,
            rank,
            positions: 0,
            channels: 0,
            argmax: Vec::new(),
            mask: Vec::new(),
            masked: false,
            core: LayerCore::named(&c.name),
        }
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
}

impl Layer for GlobalPooling {
    fn kind(&self) -> &'static str {
        match (self.op, self.rank) {
            (PoolOp::Average, 2) => "GlobalAveragePooling2D",
            (PoolOp::Max, 2) => "GlobalMaxPooling2D",
            (PoolOp::Average, _) => "GlobalAveragePooling1D",
            (PoolOp::Max, _) => "GlobalMaxPooling1D",
        }
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let [h, w, c] = spatial_input(self.rank, input_shape, &self.core.name)?;
        if h * w * c == 0 {
            return Err(Error::shape(
                format!("input to layer {}", self.core.name),
                "a sample of at least one value",
                input_shape,
            ));
        }
        (self.positions, self.channels) = (h * w, c);
        Ok(vec![self.channels])
    }

    fn plan(&mut self, max_batch: usize) {
        if self.op == PoolOp::Max && self.argmax.len() < max_batch * self.channels {
            self.argmax = vec![0; max_batch * self.channels];
        }
        if self.op == PoolOp::Average && self.rank == 1 && self.mask.len() < max_batch * self.positions {
            self.mask = vec![0.0; max_batch * self.positions];
        }
    }

    fn forward_many(&mut self, xs: crate::layers::Inputs<'_>, y: &mut Tensor, training: bool) {
        self.masked = false;
        if let (Some(mask), PoolOp::Average, 1) = (xs.mask(), self.op, self.rank) {
            self.mask[..mask.len()].copy_from_slice(mask.data());
            self.masked = true;
        }
        self.pool(xs.get(0), y, training);
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.masked = false;
        self.pool(x, y, training);
    }

    // Average: dy / positions to every position (with a mask: dy / Σ mask to the unmasked
    // ones). Max: dy to the position chosen.
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let (p, c) = (self.positions, self.channels);
        for (s, (dx, dy)) in dx.data_mut().chunks_exact_mut(p * c).zip(dy.data().chunks_exact(c)).enumerate() {
            match self.op {
                PoolOp::Average if self.masked => {
                    let m = &self.mask[s * p..(s + 1) * p];
                    let count: f32 = m.iter().sum();
                    for (pixel, &keep) in dx.chunks_exact_mut(c).zip(m) {
                        let scale = if count > 0.0 { keep / count } else { 0.0 };
                        pixel.iter_mut().zip(dy).for_each(|(d, &g)| *d = g * scale);
                    }
                }
                PoolOp::Average => {
                    for pixel in dx.chunks_exact_mut(c) {
                        pixel.iter_mut().zip(dy).for_each(|(d, &g)| *d = g / p as f32);
                    }
                }
                PoolOp::Max => {
                    dx.fill(0.0);
                    for (ch, (&at, &g)) in self.argmax[s * c..(s + 1) * c].iter().zip(dy).enumerate() {
                        dx[at as usize * c + ch] = g;
                    }
                }
            }
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let argmax = if self.op == PoolOp::Max { max_batch * self.channels } else { 0 };
        let mask = if self.op == PoolOp::Average && self.rank == 1 { max_batch * self.positions } else { 0 };
        4 * (argmax + mask)
    }

    fn workspace_bytes(&self) -> usize {
        self.argmax.len() * 4 + self.mask.len() * 4
    }

    fn config(&self) -> Option<serde_json::Value> {
        serde_json::to_value(GlobalPoolingConfig { name: self.core.name.clone() }).ok()
    }
}

impl GlobalPooling {
    // x: [n, positions, c] → y: [n, c]
    fn pool(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let (p, c) = (self.positions, self.channels);
        for (s, (x, y)) in x.data().chunks_exact(p * c).zip(y.data_mut().chunks_exact_mut(c)).enumerate() {
            match self.op {
                PoolOp::Average if self.masked => {
                    // Keras: Σ mask·x / Σ mask (here 0 where every step is masked, not NaN).
                    let m = &self.mask[s * p..(s + 1) * p];
                    y.fill(0.0);
                    for (pixel, &keep) in x.chunks_exact(c).zip(m) {
                        y.iter_mut().zip(pixel).for_each(|(o, v)| *o += keep * v);
                    }
                    let count: f32 = m.iter().sum();
                    y.iter_mut().for_each(|o| *o = if count > 0.0 { *o / count } else { 0.0 });
                }
                PoolOp::Average => {
                    y.fill(0.0);
                    for pixel in x.chunks_exact(c) {
                        y.iter_mut().zip(pixel).for_each(|(o, v)| *o += v);
                    }
                    y.iter_mut().for_each(|o| *o /= p as f32);
                }
                PoolOp::Max => {
                    let arg = &mut self.argmax[s * c..(s + 1) * c];
                    y.copy_from_slice(&x[..c]);
                    arg.fill(0);
                    for (at, pixel) in x.chunks_exact(c).enumerate().skip(1) {
                        for ch in 0..c {
                            if pixel[ch] > y[ch] {
                                y[ch] = pixel[ch];
                                arg[ch] = at as u32;
                            }
                        }
                    }
                }
            }
        }
    }
}
