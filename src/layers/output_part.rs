//! `OutputPart`: one of the tensors a layer with several outputs packs into one (see the type).

use super::{Layer, LayerCore};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// One of the tensors a layer with several outputs packs into one, since a node of the graph
/// makes one tensor: part `index` of `parts` equal parts packed along the first axis of each
/// sample (Keras's `Bidirectional(merge_mode=None)`: the forward and the backward outputs, as
/// `[2, shape…]`), or, made by [`OutputPart::of`], part `index` of the layout the producing
/// layer declares ([`Layer::output_parts`]: `Attention`'s output and scores, flat). One
/// `OutputPart` node per part takes its values out (forward: a copy; backward: the part's
/// gradient in place, zeros elsewhere — the graph adds the parts' gradients where the packed
/// tensor fans out). See [`Bidirectional::call_split`](crate::layers::Bidirectional::call_split)
/// and [`Attention::call_with_scores`](crate::layers::Attention::call_with_scores).
#[derive(Debug, Clone)]
pub struct OutputPart {
    index: usize,
    parts: usize,
    /// Made by [`OutputPart::of`]: the layout comes from the producing layer.
    of_producer: bool,
    /// That layout's part: its offset in a flat packed sample and its shape.
    slice: Option<(usize, Vec<usize>)>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    /// Values of one part of a sample.
    len: usize,
}

/// `y` ← values `start..start + len` of each sample of the packed `x`.
pub(crate) fn take_part(x: &Tensor, y: &mut Tensor, start: usize, len: usize) {
    for (dst, src) in y.data_mut().chunks_exact_mut(len).zip(x.data().chunks_exact(x.row_len())) {
        dst.copy_from_slice(&src[start..start + len]);
    }
}

/// `dx` ← the part's gradient `dy` at values `start..start + len` of each packed sample of
/// `x`, zeros elsewhere.
pub(crate) fn give_part(x: &Tensor, dy: &Tensor, dx: &mut Tensor, start: usize, len: usize) {
    for (dst, src) in dx.data_mut().chunks_exact_mut(x.row_len()).zip(dy.data().chunks_exact(len)) {
        dst.fill(0.0);
        dst[start..start + len].copy_from_slice(src);
    }
}

/// An [`OutputPart`]'s saved arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct OutputPartConfig {
    name: String,
    index: usize,
    parts: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    of_producer: bool,
}

impl OutputPart {
    /// Part `index` (from 0) of `parts`.
    pub fn new(index: usize, parts: usize) -> Self {
        OutputPart { index, parts, of_producer: false, slice: None, core: LayerCore::default(), len: 0 }
    }

    /// Part `index` of the layout the layer whose tensor it reads declares
    /// ([`Layer::output_parts`]), given when the model is built.
    pub fn of(index: usize) -> Self {
        OutputPart { of_producer: true, ..OutputPart::new(index, 0) }
    }

    /// Where the part starts in a packed sample.
    fn start(&self) -> usize {
        match &self.slice {
            Some((offset, _)) => *offset,
            None => self.index * self.len,
        }
    }

    /// The layer's name (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer an [`OutputPartConfig`] describes.
    pub fn from_config(c: OutputPartConfig) -> Self {
        let part = if c.of_producer { OutputPart::of(c.index) } else { OutputPart::new(c.index, c.parts) };
        part.name(&c.name)
    }
}

impl Layer for OutputPart {
    fn kind(&self) -> &'static str {
        "OutputPart"
    }

    crate::layers::lends_core!();

    fn place_part(&mut self, parts: &[(usize, Vec<usize>)]) {
        if self.of_producer {
            self.slice = parts.get(self.index).cloned();
        }
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if self.of_producer {
            let packed: usize = input_shape.iter().product();
            return match &self.slice {
                Some((offset, shape)) if offset + shape.iter().product::<usize>() <= packed => {
                    self.len = shape.iter().product();
                    Ok(shape.clone())
                }
                _ => Err(Error::shape(
                    format!("input to {} (OutputPart {} of a layer's packed outputs)", self.core.name, self.index),
                    "the tensor of a layer that packs several outputs (Attention with return_attention_scores)",
                    input_shape,
                )),
            };
        }
        match input_shape {
            [p, rest @ ..] if *p == self.parts && self.index < self.parts && !rest.is_empty() => {
                self.len = rest.iter().product();
                Ok(rest.to_vec())
            }
            other => Err(Error::shape(
                format!("input to {} (OutputPart {} of {})", self.core.name, self.index, self.parts),
                format!("samples of {} packed parts [{}, …] (a layer's several outputs)", self.parts, self.parts),
                other,
            )),
        }
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        take_part(x, y, self.start(), self.len);
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            give_part(x, dy, dx, self.start(), self.len);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = OutputPartConfig {
            name: self.core.name.clone(),
            index: self.index,
            parts: self.parts,
            of_producer: self.of_producer,
        };
        serde_json::to_value(c).ok()
    }
}
