//! `Sequential`: a plain stack of layers, each feeding the next.
//!
//! A front over [`Model`]: adding a layer extends a chain graph, and everything else (compile,
//! fit, evaluate, predict, save, summary) is the model's, reached through `Deref`. It is its
//! own type, rather than a way to build a `Model`, so that Keras's two constructors keep their
//! shapes in Rust: `Sequential::new().add(...)` and `Model::new(&inputs, &outputs)`, and
//! so that a stack can be built before its input shape is known (from the first data, as
//! Keras's `Sequential` without an `Input`).

use super::Model;
use crate::layers::Layer;
use crate::Result;

/// A plain stack of layers, each feeding the next (Keras's `keras.Sequential`).
///
/// ```
/// use minibatch::{layers::Dense, Sequential};
/// let mut model = Sequential::new()
///     .input_shape(&[4])
///     .add(Dense::new(8).activation("relu"))
///     .add(Dense::new(3).activation("softmax"));
/// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
/// assert_eq!(model.count_params(), 4 * 8 + 8 + 8 * 3 + 3);
/// ```
pub struct Sequential {
    model: Model,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.model.fmt(f)
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl std::ops::Deref for Sequential {
    type Target = Model;
    fn deref(&self) -> &Model {
        &self.model
    }
}

impl std::ops::DerefMut for Sequential {
    fn deref_mut(&mut self) -> &mut Model {
        &mut self.model
    }
}

impl From<Sequential> for Model {
    fn from(s: Sequential) -> Model {
        s.model
    }
}

impl Sequential {
    /// An empty model with seed 0.
    pub fn new() -> Self {
        Sequential { model: Model::chain() }
    }

    /// Fixes the per-sample input shape (Keras's `Input(shape=...)`); without it the model is
    /// built from the first data it sees.
    pub fn input_shape(mut self, shape: &[usize]) -> Self {
        self.model.input_shapes = Some(vec![shape.to_vec()]);
        self
    }

    /// The seed of every random choice: initial weights, dropout masks, shuffling. The same
    /// seed and thread count give the same run, bit for bit. Defaults to 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.model.seed = seed;
        self
    }

    /// Names the model (Keras's `name=`; `sequential` by default): the summary's title, saved
    /// with the model.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.model.core.name = name.into();
        self
    }

    /// Appends a layer (Keras's `model.add`; not `std::ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Layer + 'static) -> Self {
        self.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer.
    pub fn push(&mut self, layer: Box<dyn Layer>) {
        self.model.push_layer(layer);
    }

    /// The model itself (what `Deref` reaches).
    pub fn into_model(self) -> Model {
        self.model
    }

    /// Rebuilds a Sequential model [`Model::save`] wrote.
    ///
    /// # Errors
    /// As [`Model::load`]; a file holding a functional model (load it with [`Model::load`]).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Sequential> {
        let path = path.as_ref();
        let model = Model::load(path)?;
        if model.functional {
            return Err(crate::Error::format(path, "holds a functional model: load it with Model::load"));
        }
        Ok(Sequential { model })
    }
}
