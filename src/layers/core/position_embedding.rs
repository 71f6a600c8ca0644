//! `PositionEmbedding`: a learned vector per position of a sequence (see the type).

use crate::error::{Error, Result};
use crate::initializers::{Initializer, IntoInitializer};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// A learned vector for each position of a sequence, Keras Hub's `PositionEmbedding`: for
/// samples `[positions, d]` it outputs row `p` of its `embeddings` `[sequence_length, d]` at
/// each position `p` (the same for every sample, whatever the input's values). Added to the
/// sequence, it tells attention, which is blind to order, where each step is:
///
/// ```
/// use minibatch::layers::{Add, Dense, PositionEmbedding};
/// use minibatch::models::{Call, Input, Model};
/// let rows = Input::new(&[28, 28]);
/// let projected = Dense::new(64).call(&rows);
/// let positioned = Add::new().call([&projected, &PositionEmbedding::new(28).call(&projected)]);
/// let model = Model::new(&[&rows], &[&positioned]).unwrap();
/// assert_eq!(model.count_params(), 28 * 64 + 64 + 28 * 64);
/// ```
///
/// Keras Hub's defaults: `initializer` glorot_uniform. Backward sums the output's gradient
/// over the batch into the embeddings; the input gets none (the output does not depend on it).
#[derive(Debug, Clone)]
pub struct PositionEmbedding {
    sequence_length: usize,
    initializer: Result<Initializer>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// PositionEmbedding's saved arguments (Keras Hub's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PositionEmbeddingConfig {
    name: String,
    sequence_length: usize,
    initializer: Initializer,
}

impl PositionEmbedding {
    /// Embeddings for sequences of up to `sequence_length` positions.
    pub fn new(sequence_length: usize) -> Self {
        PositionEmbedding { sequence_length, initializer: Ok(Initializer::GlorotUniform), core: LayerCore::default() }
    }

    /// The layer a [`PositionEmbeddingConfig`] describes (not built).
    pub fn from_config(c: PositionEmbeddingConfig) -> Self {
        PositionEmbedding::new(c.sequence_length).name(&c.name).initializer(c.initializer)
    }

    /// The embeddings' initializer (default glorot_uniform).
    pub fn initializer(mut self, init: impl IntoInitializer) -> Self {
        self.initializer = init.into_initializer();
        self
    }

    /// The layer's name (else the model assigns `position_embedding`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
}

impl Layer for PositionEmbedding {
    fn check_arguments(&self) -> Result<()> {
        self.initializer.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "PositionEmbedding"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let init = self.initializer.clone()?;
        let &[positions, d] = input_shape else {
            return Err(Error::shape(
                format!("input of layer {} (PositionEmbedding)", self.core.name),
                "sequences: samples of shape (positions, features)",
                input_shape,
            ));
        };
        if positions > self.sequence_length {
            return Err(Error::invalid(
                "sequence_length",
                self.sequence_length,
                format!("at least the input's {positions} positions (layer {})", self.core.name),
            ));
        }
        let mut table = Param::claim(&self.core.name, "embeddings", &[self.sequence_length, d])?;
        init.fill(table.value.data_mut(), self.sequence_length, d, rng);
        self.core.params = vec![table];
        Ok(input_shape.to_vec())
    }

    // y[b, p, :] = embeddings[p, :]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let n = x.row_len();
        let table = &self.core.params[0].value.data()[..n];
        for row in y.data_mut().chunks_exact_mut(n) {
            row.copy_from_slice(table);
        }
    }

    // d embeddings[p, :] = Σ_b dy[b, p, :]; the input has no gradient
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.row_len();
        let grad = self.core.params[0].grad.data_mut();
        grad.fill(0.0);
        for row in dy.data().chunks_exact(n) {
            crate::tensor::kernels::add(&mut grad[..n], row);
        }
        if let Some(dx) = dx {
            dx.data_mut().fill(0.0);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = PositionEmbeddingConfig {
            name: self.core.name.clone(),
            sequence_length: self.sequence_length,
            initializer: self.initializer.clone().ok()?,
        };
        serde_json::to_value(c).ok()
    }
}
