//! `Embedding`: integer token ids to learned vectors (see the type).

use crate::error::{Error, Result};
use crate::initializers::{Initializer, IntoInitializer};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Turns integer token ids `[batch, …]` into vectors `[batch, …, output_dim]`: row `id` of the
/// `embeddings` matrix `[input_dim, output_dim]`.
///
/// Keras's defaults: `embeddings_initializer` uniform in `[−0.05, 0.05)`. The ids come as f32
/// values (as Keras casts them); before any work the model checks that every id is an integer
/// in `[0, input_dim)` when the Embedding is the first layer (an error names the sample, the id
/// and the range). Backward adds each position's gradient into its id's row; the ids have no
/// gradient.
///
/// With `mask_zero`, id 0 is padding: the layer puts a mask on its output that marks those
/// positions to be skipped by the layers after it (recurrent layers carry their state over
/// them, global pooling over time leaves them out), as Keras propagates it; see
/// [`MaskRule`](crate::layers::MaskRule).
///
/// ```
/// use minibatch::layers::{Dense, Embedding, GlobalAveragePooling1D};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[20])
///     .add(Embedding::new(1000, 16))
///     .add(GlobalAveragePooling1D::new())
///     .add(Dense::new(1).activation("sigmoid"));
/// ```
#[derive(Debug, Clone)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    initializer: Result<Initializer>,
    mask_zero: bool,
    /// The input is one id per position (`[positions]`): a mask can follow it.
    sequence_input: bool,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// Embedding's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct EmbeddingConfig {
    name: String,
    input_dim: usize,
    output_dim: usize,
    embeddings_initializer: Initializer,
    #[serde(default)]
    mask_zero: bool,
}

impl Embedding {
    /// A table of `input_dim` ids, each a vector of `output_dim`.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Embedding {
            input_dim,
            output_dim,
            initializer: Ok(Initializer::RandomUniform { minval: -0.05, maxval: 0.05 }),
            mask_zero: false,
            sequence_input: false,
            core: LayerCore::default(),
        }
    }

    /// The layer an [`EmbeddingConfig`] describes (not built).
    pub fn from_config(c: EmbeddingConfig) -> Self {
        Embedding::new(c.input_dim, c.output_dim)
            .name(&c.name)
            .embeddings_initializer(c.embeddings_initializer)
            .mask_zero(c.mask_zero)
    }

    /// Treats id 0 as padding and masks it for the layers after (Keras's `mask_zero`,
    /// default false).
    pub fn mask_zero(mut self, mask_zero: bool) -> Self {
        self.mask_zero = mask_zero;
        self
    }

    /// The table's initializer (default uniform in `[−0.05, 0.05)`).
    pub fn embeddings_initializer(mut self, init: impl IntoInitializer) -> Self {
        self.initializer = init.into_initializer();
        self
    }

    /// The layer's name (else the model assigns `embedding`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
}

/// The table row of `id` (clamped into range: ids are checked before a model runs).
fn row_of(id: f32, input_dim: usize) -> usize {
    (id.max(0.0) as usize).min(input_dim - 1)
}

impl Layer for Embedding {
    fn check_arguments(&self) -> Result<()> {
        self.initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "Embedding"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let init = self.initializer.clone()?;
        for (arg, v) in [("input_dim", self.input_dim), ("output_dim", self.output_dim)] {
            if v == 0 {
                return Err(Error::invalid(arg, 0, format!("a positive size for layer {}", self.core.name)));
            }
        }
        let mut table = Param::claim(&self.core.name, "embeddings", &[self.input_dim, self.output_dim])?;
        init.fill(table.value.data_mut(), self.input_dim, self.output_dim, rng);
        self.core.params = vec![table];
        self.sequence_input = input_shape.len() == 1;
        let mut out = input_shape.to_vec();
        out.push(self.output_dim);
        Ok(out)
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let bad = x.data().iter().position(|&v| v < 0.0 || v >= self.input_dim as f32 || v.fract() != 0.0);
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::invalid(
                "token id",
                x.data()[i],
                format!(
                    "an integer in [0, {}) for layer {} (input_dim), at sample {}",
                    self.input_dim,
                    self.core.name,
                    i / x.row_len().max(1)
                ),
            )),
        }
    }

    // # Shapes
    // x: [positions] ids; embeddings: [input_dim, d]; y: [positions, d]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let d = self.output_dim;
        let table = self.core.params[0].value.data();
        for (out, &id) in y.data_mut().chunks_exact_mut(d).zip(x.data()) {
            let r = row_of(id, self.input_dim);
            out.copy_from_slice(&table[r * d..(r + 1) * d]);
        }
    }

    // d embeddings[id] += dy at each position holding id
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let d = self.output_dim;
        let grad = self.core.params[0].grad.data_mut();
        grad.fill(0.0);
        for (g, &id) in dy.data().chunks_exact(d).zip(x.data()) {
            let r = row_of(id, self.input_dim);
            crate::tensor::kernels::add(&mut grad[r * d..(r + 1) * d], g);
        }
        if let Some(dx) = dx {
            dx.data_mut().fill(0.0);
        }
    }

    fn mask_rule(&self) -> crate::layers::MaskRule {
        if self.mask_zero && self.sequence_input {
            crate::layers::MaskRule::Produce
        } else {
            crate::layers::MaskRule::Drop
        }
    }

    fn compute_mask(&self, x: &Tensor, mask: &mut Tensor) {
        mask.data_mut().iter_mut().zip(x.data()).for_each(|(m, &id)| *m = (id != 0.0) as u8 as f32);
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = EmbeddingConfig {
            name: self.core.name.clone(),
            input_dim: self.input_dim,
            output_dim: self.output_dim,
            embeddings_initializer: self.initializer.clone().ok()?,
            mask_zero: self.mask_zero,
        };
        serde_json::to_value(c).ok()
    }
}
