//! `summary()`: Keras's table of layers, output shapes and parameter counts.

use super::Model;
use crate::error::{Error, Result};

impl Model {
    /// The Keras-style summary table: each layer's name and type, output shape and parameter
    /// count (and, for a functional model, Keras's "Connected to" column), then the totals.
    /// Columns are as wide as their widest cell, at least Keras's widths, so long names stay
    /// in line. Once the optimizer has state (after the first update), its variables are
    /// counted as Keras counts them (every slot, the iteration count and the learning rate),
    /// and the total includes them.
    ///
    /// ```text
    /// Model: "sequential"
    /// ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    /// ┃ Layer (type)                ┃ Output Shape           ┃       Param # ┃
    /// ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    /// │ dense (Dense)               │ (None, 64)             │           192 │
    /// ...
    ///  Total params: 4,418 (17.26 KB)
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] before the model is built (give `input_shape`, or fit it first).
    pub fn summary(&self) -> Result<String> {
        if !self.is_built() {
            return Err(Error::State(
                "this model has not yet been built: give it an input_shape, or call build() or fit() first".into(),
            ));
        }
        let mut s = format!("Model: \"{}\"\n", self.core.name);
        s += &if self.functional { self.functional_table() } else { self.sequential_table() };
        s += &self.totals();
        Ok(s)
    }

    /// Prints [`Model::summary`] to standard output, as Keras's `model.summary()` does.
    ///
    /// # Errors
    /// As [`Model::summary`].
    pub fn print_summary(&self) -> Result<()> {
        print!("{}", self.summary()?);
        Ok(())
    }

    /// A stack's rows: one per layer.
    fn sequential_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                vec![
                    format!("{} ({})", layer.name(), layer.kind()),
                    shape_text(&self.shapes[i + 1]),
                    thousands(layer_params(layer.as_ref())),
                ]
            })
            .collect();
        table(&["Layer (type)", "Output Shape", "Param #"], &rows, false)
    }

    /// The parameter totals under the table.
    fn totals(&self) -> String {
        // As Keras: a frozen layer's weights count as non-trainable, beside the state.
        let trainable = self.count_trainable_params();
        let fixed: usize =
            self.layers.iter().map(|l| non_trainable(l.as_ref())).sum::<usize>() + self.count_params() - trainable;
        let optimizer = self.optimizer_params();
        let total = trainable + fixed + optimizer.unwrap_or(0);
        let mut s = format!(" Total params: {} ({})\n", thousands(total), bytes(total * 4));
        s += &format!(" Trainable params: {} ({})\n", thousands(trainable), bytes(trainable * 4));
        s += &format!(" Non-trainable params: {} ({})\n", thousands(fixed), bytes(fixed * 4));
        if let Some(n) = optimizer {
            s += &format!(" Optimizer params: {} ({})\n", thousands(n), bytes(n * 4));
        }
        s += &self.activation_memory();
        s
    }

    /// The optimizer's variables once it has state, as Keras counts them: every slot value
    /// (moments, accumulators, averages), the iteration count and the learning rate.
    fn optimizer_params(&self) -> Option<usize> {
        let c = self.compiled.as_ref()?;
        let opt = &c.optimizer;
        if opt.base().steps() == 0 {
            return None;
        }
        let slots = opt.slots().into_iter().chain(opt.base().slots());
        Some(slots.map(|(_, values)| values.iter().map(Vec::len).sum::<usize>()).sum::<usize>() + 2)
    }

    /// The activation buffers per sample, as planned: for inference with buffers reused after
    /// their last reader, against one buffer per tensor; and for training, which keeps every
    /// activation for backward, with a gradient beside each (and the scratch where gradients
    /// are added).
    fn activation_memory(&self) -> String {
        let sizes: Vec<usize> = self.shapes.iter().map(|s| s.iter().product()).collect();
        let naive: usize = sizes.iter().sum();
        let grads: usize = sizes[self.graph.inputs..].iter().sum::<usize>()
            + self.graph.scratch.iter().map(|&t| sizes[t]).sum::<usize>();
        let reused = self.slot_plan().total();
        format!(
            " Activations per sample: {} in inference (buffers reused; {} without), {} in training\n",
            bytes(reused * 4),
            bytes(naive * 4),
            bytes((naive + grads) * 4)
        )
    }

    /// A functional model's rows, with Keras's "Connected to" column: the inputs first, then
    /// each layer once (its first call's output shape), connected to the tensors of every call
    /// as `layer[call][0]`, one per line.
    fn functional_table(&self) -> String {
        let g = &self.graph;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let history = |t: usize| match g.producer(t) {
            None => format!("{}[0][0]", self.input_names[t]),
            Some(n) => {
                let li = g.nodes[n].layer;
                let call = g.nodes[..n].iter().filter(|m| m.layer == li).count();
                format!("{}[{call}][0]", self.layers[li].name())
            }
        };
        for (i, name) in self.input_names.iter().enumerate() {
            rows.push(vec![format!("{name} (InputLayer)"), shape_text(&self.shapes[i]), "0".into(), "-".into()]);
        }
        for (li, layer) in self.layers.iter().enumerate() {
            let calls: Vec<usize> = (0..g.nodes.len()).filter(|&n| g.nodes[n].layer == li).collect();
            let connected: Vec<String> =
                calls.iter().flat_map(|&n| g.nodes[n].inputs.iter().map(|&t| history(t))).collect();
            rows.push(vec![
                format!("{} ({})", layer.name(), layer.kind()),
                shape_text(&self.shapes[g.inputs + calls[0]]),
                thousands(layer_params(layer.as_ref())),
                connected.join("\n"),
            ]);
        }
        table(&["Layer (type)", "Output Shape", "Param #", "Connected to"], &rows, true)
    }
}

/// One node of a model's graph, as [`Model::connections`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The input's or the layer's name.
    pub name: String,
    /// `InputLayer`, or the layer's class (`Dense`).
    pub kind: String,
    /// The names of the inputs and layers it reads (every call's, for a shared layer).
    pub inputs: Vec<String>,
    /// Its output shape as the summary prints it (`(None, 64)`), once built.
    pub output_shape: Option<String>,
}

impl Model {
    /// The model's graph: each input, then each layer with the inputs and layers it reads (a
    /// Sequential model's layer reads the one before it), as the summary's "Connected to"
    /// column; for TensorBoard's Graphs tab and exporters.
    pub fn connections(&self) -> Vec<Connection> {
        let g = &self.graph;
        let built = self.is_built();
        let shape = |t: usize| built.then(|| self.shapes.get(t).map(|s| shape_text(s))).flatten();
        let source = |t: usize| match g.producer(t) {
            None => self.input_names.get(t).cloned().unwrap_or_else(|| format!("input_{t}")),
            Some(n) => self.layers[g.nodes[n].layer].name().to_string(),
        };
        let mut out: Vec<Connection> = (0..g.inputs)
            .map(|i| Connection {
                name: source(i),
                kind: "InputLayer".into(),
                inputs: Vec::new(),
                output_shape: shape(i),
            })
            .collect();
        for (li, layer) in self.layers.iter().enumerate() {
            let calls: Vec<usize> = (0..g.nodes.len()).filter(|&n| g.nodes[n].layer == li).collect();
            let mut inputs: Vec<String> = Vec::new();
            for t in calls.iter().flat_map(|&n| g.nodes[n].inputs.iter().copied()) {
                let name = source(t);
                if !inputs.contains(&name) {
                    inputs.push(name);
                }
            }
            out.push(Connection {
                name: layer.name().to_string(),
                kind: layer.kind().to_string(),
                inputs,
                output_shape: calls.first().and_then(|&n| shape(g.inputs + n)),
            });
        }
        out
    }
}

/// Keras's box table: a bold header, then `rows` (a cell may hold several lines), with rule
/// lines between rows when `ruled`. Each column is as wide as its widest line, and at least
/// Keras's width for the column (29, 24, 15, ...); "Param #" is right-aligned.
fn table(heads: &[&str], rows: &[Vec<String>], ruled: bool) -> String {
    const KERAS_WIDTHS: [usize; 4] = [29, 24, 15, 0];
    let w: Vec<usize> = heads
        .iter()
        .enumerate()
        .map(|(c, head)| {
            let widest = rows.iter().flat_map(|r| r[c].lines().map(|l| l.chars().count()));
            (widest.chain([head.chars().count()]).max().unwrap_or(0) + 2).max(KERAS_WIDTHS[c.min(3)])
        })
        .collect();
    let line = |l: char, m: char, r: char, fill: &str| {
        let cols: Vec<String> = w.iter().map(|&n| fill.repeat(n)).collect();
        format!("{l}{}{r}\n", cols.join(&m.to_string()))
    };
    let row = |cells: &[String], edge: char| {
        let height = cells.iter().map(|c| c.lines().count()).max().unwrap_or(1).max(1);
        let mut out = String::new();
        for i in 0..height {
            out.push(edge);
            for (c, cell) in cells.iter().enumerate() {
                let text = cell.lines().nth(i).unwrap_or("");
                let pad = " ".repeat(w[c] - 2 - text.chars().count());
                if heads[c] == "Param #" {
                    out += &format!(" {pad}{text} {edge}");
                } else {
                    out += &format!(" {text}{pad} {edge}");
                }
            }
            out.push('\n');
        }
        out
    };
    let mut s = line('┏', '┳', '┓', "━");
    s += &row(&heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(), '┃');
    s += &line('┡', '╇', '┩', "━");
    for (i, r) in rows.iter().enumerate() {
        if ruled && i > 0 {
            s += &line('├', '┼', '┤', "─");
        }
        s += &row(r, '│');
    }
    s + &line('└', '┴', '┘', "─")
}

/// `(None, 28, 28)`: Keras's shape text, the batch axis as `None`.
fn shape_text(shape: &[usize]) -> String {
    format!("(None, {})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// A layer's trainable and non-trainable values.
fn layer_params(layer: &dyn crate::layers::Layer) -> usize {
    layer.params().iter().map(|p| p.value.len()).sum::<usize>() + non_trainable(layer)
}

/// Values of a layer's non-trainable float variables (BatchNormalization's moving statistics;
/// a random generator's state is not a parameter).
fn non_trainable(layer: &dyn crate::layers::Layer) -> usize {
    layer.state().iter().map(|(_, s)| if let crate::layers::State::F32(t) = s { t.len() } else { 0 }).sum()
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n}.00 B"),
        n if n < 1024 * 1024 => format!("{:.2} KB", n as f64 / 1024.0),
        n => format!("{:.2} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::thousands(34826), "34,826");
        assert_eq!(super::thousands(100), "100");
        assert_eq!(super::bytes(136_304), "133.11 KB");
    }
}
