//! `CategoryEncoding` (see the type), and the encoding the lookups and `Discretization` share.

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// What an encoding layer outputs (Keras's `output_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// The index itself, one per input value.
    Int,
    /// A row of `depth` with a 1 at the index, per input value.
    OneHot,
    /// A row of `depth` with a 1 at every index in the sample.
    MultiHot,
    /// A row of `depth` counting each index in the sample.
    Count,
}

impl OutputMode {
    /// Keras's name: `int`, `one_hot`, `multi_hot` or `count`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for any other.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "int" => Ok(OutputMode::Int),
            "one_hot" => Ok(OutputMode::OneHot),
            "multi_hot" => Ok(OutputMode::MultiHot),
            "count" => Ok(OutputMode::Count),
            other => Err(Error::UnknownName {
                kind: "output_mode",
                name: other.into(),
                known: vec!["int", "one_hot", "multi_hot", "count"],
            }),
        }
    }

    /// A sample's output shape for input samples of `input` and indices below `depth`
    /// (Keras's rules: one-hot replaces a last axis of 1, or adds one; multi-hot and count
    /// replace the last axis).
    pub(crate) fn output_shape(self, layer: &str, input: &[usize], depth: usize) -> Result<Vec<usize>> {
        match (self, input) {
            (OutputMode::Int, _) => Ok(input.to_vec()),
            (OutputMode::OneHot, [1]) => Ok(vec![depth]),
            (OutputMode::OneHot, [k]) => Ok(vec![*k, depth]),
            (OutputMode::MultiHot | OutputMode::Count, [_]) => Ok(vec![depth]),
            _ => Err(Error::shape(
                format!("input to layer {layer}"),
                "samples of one axis of indices [values] (one_hot, multi_hot and count)",
                input,
            )),
        }
    }

    /// Writes the encoding of one sample's indices `indices` (each below `depth`; others are
    /// skipped) into `out`, sized by [`OutputMode::output_shape`].
    pub(crate) fn encode(self, indices: impl Iterator<Item = usize>, depth: usize, out: &mut [f32]) {
        match self {
            OutputMode::Int => {
                for (o, i) in out.iter_mut().zip(indices) {
                    *o = i as f32;
                }
            }
            OutputMode::OneHot => {
                out.fill(0.0);
                for (row, i) in out.chunks_exact_mut(depth).zip(indices) {
                    if i < depth {
                        row[i] = 1.0;
                    }
                }
            }
            OutputMode::MultiHot | OutputMode::Count => {
                out.fill(0.0);
                for i in indices.filter(|&i| i < depth) {
                    out[i] = if self == OutputMode::Count { out[i] + 1.0 } else { 1.0 };
                }
            }
        }
    }
}

/// Keras's `CategoryEncoding(num_tokens, output_mode="multi_hot")`: integer indices in
/// `[0, num_tokens)` as one-hot rows (`one_hot`), one row marking every index in the sample
/// (`multi_hot`), or one counting them (`count`). Not differentiable in its input (the
/// gradient it passes back is zero), as Keras.
///
/// ```
/// use minibatch::layers::{CategoryEncoding, OutputMode};
/// let layer = CategoryEncoding::new(10, OutputMode::Count);
/// ```
#[derive(Debug, Clone)]
pub struct CategoryEncoding {
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    num_tokens: usize,
    output_mode: OutputMode,
    row: usize,
}

/// CategoryEncoding's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CategoryEncodingConfig {
    name: String,
    num_tokens: usize,
    output_mode: OutputMode,
}

impl CategoryEncoding {
    /// Indices below `num_tokens`, encoded as `output_mode` says (`Int` is refused: Keras's
    /// modes here are one_hot, multi_hot and count).
    pub fn new(num_tokens: usize, output_mode: OutputMode) -> Self {
        CategoryEncoding { num_tokens, output_mode, row: 0, core: LayerCore::default() }
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`CategoryEncodingConfig`] describes.
    pub fn from_config(c: CategoryEncodingConfig) -> Self {
        CategoryEncoding::new(c.num_tokens, c.output_mode).name(&c.name)
    }
}

impl Layer for CategoryEncoding {
    fn kind(&self) -> &'static str {
        "CategoryEncoding"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if self.num_tokens == 0 || self.output_mode == OutputMode::Int {
            return Err(Error::invalid(
                "num_tokens, output_mode",
                format!("{}, {:?}", self.num_tokens, self.output_mode),
                format!("a positive num_tokens and one_hot, multi_hot or count for layer {}", self.core.name),
            ));
        }
        self.row = input_shape.iter().product();
        self.output_mode.output_shape(&self.core.name, input_shape, self.num_tokens)
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        check_indices(x, self.num_tokens, &self.core.name)
    }

    // # Shapes
    // x: [batch, k] indices; y: [batch, depth] (multi_hot, count) or [batch, k, depth]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let per = y.row_len();
        for (s, out) in y.data_mut().chunks_exact_mut(per).enumerate() {
            let indices = x.row(s).iter().map(|&v| if v >= 0.0 { v as usize } else { usize::MAX });
            self.output_mode.encode(indices, self.num_tokens, out);
        }
    }

    // Indices take no gradient.
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, _dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.data_mut().fill(0.0);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = CategoryEncodingConfig {
            name: self.core.name.clone(),
            num_tokens: self.num_tokens,
            output_mode: self.output_mode,
        };
        serde_json::to_value(c).ok()
    }
}

/// Every value of `x` a whole number in `[0, depth)`, else an error naming the value and the
/// sample (Keras: "Input values must be in the range 0 <= values < num_tokens").
pub(crate) fn check_indices(x: &Tensor, depth: usize, layer: &str) -> Result<()> {
    match x.data().iter().position(|&v| !(v >= 0.0 && v.fract() == 0.0 && (v as f64) < depth as f64)) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            "index",
            x.data()[i],
            format!("a whole number in [0, {depth}) for layer {layer}, at sample {}", i / x.row_len().max(1)),
        )),
    }
}
