//! `RecurrentOutput`: one of the tensors a recurrent layer returns with `return_state`.

use super::Cell;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::layers::LayerCore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Part `part` (0 the output, 1 the last hidden state, 2 LSTM's last cell state) of a
/// recurrent layer's packed `return_state` tensor.
///
/// A node of the graph makes one tensor. A recurrent layer called with Keras's
/// `return_state=True` makes three (the output, the last `h`, LSTM's last `c`): its tensor
/// packs them, sample by sample, and one `RecurrentOutput` node per part takes its values out
/// (forward: a copy; backward: the part's gradient in place, zeros elsewhere — the graph adds
/// the parts' gradients where the packed tensor fans out). See
/// [`Recurrent::call_with_states`](super::Recurrent::call_with_states).
#[derive(Debug, Clone)]
pub struct RecurrentOutput {
    part: usize,
    units: usize,
    sequences: bool,
    cell: Cell,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    /// Where the part starts in a packed sample, and its values.
    start: usize,
    len: usize,
}

/// A [`RecurrentOutput`]'s saved arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RecurrentOutputConfig {
    name: String,
    part: usize,
    units: usize,
    return_sequences: bool,
    cell: Cell,
}

impl RecurrentOutput {
    /// Part `part` of the packed tensor of a `cell` layer of `units` (returning sequences or
    /// not).
    pub fn new(part: usize, units: usize, sequences: bool, cell: Cell) -> Self {
        RecurrentOutput { part, units, sequences, cell, start: 0, len: 0, core: LayerCore::default() }
    }

    /// The layer's name (Keras's `name=`): its key in the summary and its weights' paths.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`RecurrentOutputConfig`] describes.
    pub fn from_config(c: RecurrentOutputConfig) -> Self {
        let mut layer = RecurrentOutput::new(c.part, c.units, c.return_sequences, c.cell);
        layer.core.name = c.name;
        layer
    }
}

impl Layer for RecurrentOutput {
    fn kind(&self) -> &'static str {
        "RecurrentOutput"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let states = if self.cell == Cell::LSTM { 2 } else { 1 };
        let u = self.units;
        let packed = match input_shape {
            &[p] if u > 0 && p > states * u && self.part <= states => p,
            other => {
                return Err(Error::shape(
                    format!("input to {} (RecurrentOutput)", self.core.name),
                    "a recurrent layer's packed return_state tensor",
                    other,
                ))
            }
        };
        let output = packed - states * u;
        (self.start, self.len) = if self.part == 0 { (0, output) } else { (output + (self.part - 1) * u, u) };
        Ok(match self.part {
            0 if self.sequences => vec![output / u, u],
            _ => vec![self.len],
        })
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        crate::layers::output_part::take_part(x, y, self.start, self.len);
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            crate::layers::output_part::give_part(x, dy, dx, self.start, self.len);
        }
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = RecurrentOutputConfig {
            name: self.core.name.clone(),
            part: self.part,
            units: self.units,
            return_sequences: self.sequences,
            cell: self.cell,
        };
        serde_json::to_value(c).ok()
    }
}
