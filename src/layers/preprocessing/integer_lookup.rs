//! `IntegerLookup` (see the type).

use super::category_encoding::OutputMode;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Keras's `IntegerLookup`: whole-number values (ids, codes, years) to indices of a
/// vocabulary, learned by [`IntegerLookup::adapt`] (most frequent first; equal counts, the
/// larger value first, as Keras) or given. Index 0 is the mask token's when there is one, then
/// `num_oov_indices` for values not in the vocabulary (with several, value `v` takes OOV
/// index `v mod num_oov_indices`, Keras's `floormod`), then the vocabulary in order.
/// Output as indices (`Int`, Keras's default) or encoded (`OneHot`, `MultiHot`, `Count`, over
/// the vocabulary size); with `invert`, indices back to values (the OOV index to `oov_token`,
/// -1). Saved with the model, vocabulary included. Not differentiable in its input.
///
/// ```
/// use minibatch::layers::IntegerLookup;
/// use minibatch::Tensor;
/// let mut lookup = IntegerLookup::new();
/// lookup.adapt(&Tensor::from_vec(&[6, 1], vec![12., 36., 12., 1138., 36., 12.]).unwrap()).unwrap();
/// assert_eq!(lookup.vocabulary(), &[12, 36, 1138]); // index 1, 2, 3; 0 for the rest
/// ```
#[derive(Debug, Clone)]
pub struct IntegerLookup {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    vocabulary: Vec<i64>,
    num_oov_indices: usize,
    mask_token: Option<i64>,
    oov_token: i64,
    output_mode: OutputMode,
    invert: bool,
    index: HashMap<i64, usize>,
}

/// IntegerLookup's saved arguments (Keras's names), the vocabulary included.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct IntegerLookupConfig {
    name: String,
    vocabulary: Vec<i64>,
    num_oov_indices: usize,
    mask_token: Option<i64>,
    oov_token: i64,
    output_mode: OutputMode,
    invert: bool,
}

impl Default for IntegerLookup {
    fn default() -> Self {
        IntegerLookup::new()
    }
}

impl IntegerLookup {
    /// An empty vocabulary (to [`adapt`](IntegerLookup::adapt)), one OOV index, no mask,
    /// indices out.
    pub fn new() -> Self {
        IntegerLookup {
            vocabulary: Vec::new(),
            num_oov_indices: 1,
            mask_token: None,
            oov_token: -1,
            output_mode: OutputMode::Int,
            invert: false,
            index: HashMap::new(),
            core: LayerCore::default(),
        }
    }

    /// A given vocabulary, in index order.
    pub fn with_vocabulary(mut self, vocabulary: &[i64]) -> Self {
        self.set_vocabulary(vocabulary.to_vec());
        self
    }

    /// Indices for values outside the vocabulary: 1 (default), several (a value `v` takes the
    /// `v mod n`-th, as Keras's `floormod`), or 0 (such a value is an error).
    pub fn num_oov_indices(mut self, n: usize) -> Self {
        self.num_oov_indices = n;
        let vocabulary = std::mem::take(&mut self.vocabulary);
        self.set_vocabulary(vocabulary);
        self
    }

    /// A value meaning "no value", given index 0 (Keras's `mask_token`).
    pub fn mask_token(mut self, token: i64) -> Self {
        self.mask_token = Some(token);
        let vocabulary = std::mem::take(&mut self.vocabulary);
        self.set_vocabulary(vocabulary);
        self
    }

    /// Indices, or one_hot, multi_hot or count over the vocabulary size.
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.output_mode = mode;
        self
    }

    /// Indices back to values.
    pub fn invert(mut self, invert: bool) -> Self {
        self.invert = invert;
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer an [`IntegerLookupConfig`] describes.
    pub fn from_config(c: IntegerLookupConfig) -> Self {
        let mut l = IntegerLookup {
            num_oov_indices: c.num_oov_indices,
            mask_token: c.mask_token,
            oov_token: c.oov_token,
            output_mode: c.output_mode,
            invert: c.invert,
            ..IntegerLookup::new()
        };
        l.core.name = c.name;
        l.set_vocabulary(c.vocabulary);
        l
    }

    /// Learns the vocabulary from the values of `x`: most frequent first, equal counts the
    /// larger value first (Keras's order); the mask token is left out.
    ///
    /// # Errors
    /// [`Error::Empty`] for no values; a value that is not a whole number, named.
    pub fn adapt(&mut self, x: &Tensor) -> Result<()> {
        if x.is_empty() {
            return Err(Error::Empty { what: "data to adapt IntegerLookup to".into() });
        }
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for (i, &v) in x.data().iter().enumerate() {
            let token = whole(v).ok_or_else(|| {
                Error::invalid("value", v, format!("whole numbers to adapt IntegerLookup to (flat index {i})"))
            })?;
            if Some(token) != self.mask_token {
                *counts.entry(token).or_default() += 1;
            }
        }
        self.set_vocabulary(super::string_lookup::by_frequency(counts));
        Ok(())
    }

    /// The learned or given vocabulary, in index order (without the mask and OOV entries).
    pub fn vocabulary(&self) -> &[i64] {
        &self.vocabulary
    }

    /// Indices in all: mask, OOV and vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.start() + self.vocabulary.len()
    }

    /// The first vocabulary index.
    fn start(&self) -> usize {
        self.mask_token.is_some() as usize + self.num_oov_indices
    }

    fn set_vocabulary(&mut self, vocabulary: Vec<i64>) {
        let start = self.start();
        self.index = vocabulary.iter().enumerate().map(|(i, &t)| (t, start + i)).collect();
        self.vocabulary = vocabulary;
    }

    /// The index of value `v` (an OOV index when not in the vocabulary: `v mod n` among the
    /// `n` OOV indices, as Keras's `floormod`).
    fn lookup(&self, v: f32) -> usize {
        let oov_start = self.mask_token.is_some() as usize;
        let oov = |t: i64| oov_start + t.rem_euclid(self.num_oov_indices.max(1) as i64) as usize;
        match whole(v) {
            Some(t) if Some(t) == self.mask_token => 0,
            Some(t) => self.index.get(&t).copied().unwrap_or_else(|| oov(t)),
            None => oov_start,
        }
    }

    /// The value at index `i` (the OOV token for an OOV index or one past the vocabulary).
    fn value(&self, i: f32) -> f32 {
        let i = i as usize;
        match self.mask_token {
            Some(m) if i == 0 => m as f32,
            _ => self.vocabulary.get(i.wrapping_sub(self.start())).map_or(self.oov_token as f32, |&t| t as f32),
        }
    }
}

/// `v` as a whole number, if it is one.
fn whole(v: f32) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0).then_some(v as i64)
}

impl Layer for IntegerLookup {
    fn kind(&self) -> &'static str {
        "IntegerLookup"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if self.num_oov_indices > 1 << 20 {
            return Err(Error::invalid(
                "num_oov_indices",
                self.num_oov_indices,
                format!("at most 1048576 for layer {}", self.core.name),
            ));
        }
        if self.vocabulary.is_empty() {
            return Err(Error::State(format!(
                "layer {} has no vocabulary: adapt it to data or give one (with_vocabulary)",
                self.core.name
            )));
        }
        if self.invert && self.output_mode != OutputMode::Int {
            return Err(Error::invalid(
                "invert",
                true,
                format!("output_mode int with invert for layer {}", self.core.name),
            ));
        }
        self.output_mode.output_shape(&self.core.name, input_shape, self.vocabulary_size())
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let bad = x.data().iter().position(|&v| {
            if self.invert {
                !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < self.vocabulary_size())
            } else {
                whole(v).is_none()
                    || (self.num_oov_indices == 0
                        && whole(v) != self.mask_token
                        && !self.index.contains_key(&(v as i64)))
            }
        });
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::invalid(
                "value",
                x.data()[i],
                if self.invert {
                    format!("an index below {} for layer {}", self.vocabulary_size(), self.core.name)
                } else if self.num_oov_indices == 0 && whole(x.data()[i]).is_some() {
                    format!("a value of the vocabulary of layer {} (num_oov_indices is 0)", self.core.name)
                } else {
                    format!("a whole number for layer {}", self.core.name)
                },
            )),
        }
    }

    // # Shapes
    // x: [batch, k] values; y: [batch, k] indices, or their encoding over the vocabulary size.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        if self.invert {
            for (o, &v) in y.data_mut().iter_mut().zip(x.data()) {
                *o = self.value(v);
            }
            return;
        }
        let per = y.row_len();
        let depth = self.vocabulary_size();
        for (s, out) in y.data_mut().chunks_exact_mut(per).enumerate() {
            self.output_mode.encode(x.row(s).iter().map(|&v| self.lookup(v)), depth, out);
        }
    }

    // Values take no gradient.
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, _dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.data_mut().fill(0.0);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = IntegerLookupConfig {
            name: self.core.name.clone(),
            vocabulary: self.vocabulary.clone(),
            num_oov_indices: self.num_oov_indices,
            mask_token: self.mask_token,
            oov_token: self.oov_token,
            output_mode: self.output_mode,
            invert: self.invert,
        };
        serde_json::to_value(c).ok()
    }
}
