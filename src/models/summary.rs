//! `summary()`: Keras's table of layers, output shapes and parameter counts.

use super::Model;
use crate::error::{Error, Result};

impl Model {
    /// The Keras-style summary table.
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
        if self.functional {
            return Ok(self.functional_summary());
        }
        let (w1, w2, w3) = (29, 24, 15);
        let line =
            |l: char, m: char, r: char| format!("{l}{}{m}{}{m}{}{r}\n", "━".repeat(w1), "━".repeat(w2), "━".repeat(w3));
        let mut s = format!("Model: \"{}\"\n", self.name);
        s += &line('┏', '┳', '┓');
        s += &format!(
            "┃ {:<a$} ┃ {:<b$} ┃ {:>c$} ┃\n",
            "Layer (type)",
            "Output Shape",
            "Param #",
            a = w1 - 2,
            b = w2 - 2,
            c = w3 - 2
        );
        s += &line('┡', '╇', '┩');
        for (i, layer) in self.layers.iter().enumerate() {
            let name = format!("{} ({})", layer.name(), layer.kind());
            s += &format!(
                "│ {:<a$} │ {:<b$} │ {:>c$} │\n",
                name,
                shape_text(&self.shapes[i + 1]),
                thousands(layer_params(layer.as_ref())),
                a = w1 - 2,
                b = w2 - 2,
                c = w3 - 2
            );
        }
        s += &format!("└{}┴{}┴{}┘\n", "─".repeat(w1), "─".repeat(w2), "─".repeat(w3));
        s += &self.totals();
        Ok(s)
    }

    /// The parameter totals under the table.
    fn totals(&self) -> String {
        let trainable = self.count_params();
        let fixed: usize = self.layers.iter().map(|l| non_trainable(l.as_ref())).sum();
        let total = trainable + fixed;
        let mut s = format!(" Total params: {} ({})\n", thousands(total), bytes(total * 4));
        s += &format!(" Trainable params: {} ({})\n", thousands(trainable), bytes(trainable * 4));
        s += &format!(" Non-trainable params: {} ({})\n", thousands(fixed), bytes(fixed * 4));
        s += &self.activation_memory();
        s
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

    /// A functional model's table, with Keras's "Connected to" column: the inputs first, then
    /// each layer once (its first call's output shape), connected to the tensors of every call
    /// as `layer[call][0]`, one per line. Columns are as wide as their content.
    fn functional_summary(&self) -> String {
        let g = &self.graph;
        let mut rows: Vec<[String; 4]> = Vec::new();
        let history = |t: usize| match g.producer(t) {
            None => format!("{}[0][0]", self.input_names[t]),
            Some(n) => {
                let li = g.nodes[n].layer;
                let call = g.nodes[..n].iter().filter(|m| m.layer == li).count();
                format!("{}[{call}][0]", self.layers[li].name())
            }
        };
        for (i, name) in self.input_names.iter().enumerate() {
            rows.push([format!("{name} (InputLayer)"), shape_text(&self.shapes[i]), "0".into(), "-".into()]);
        }
        for (li, layer) in self.layers.iter().enumerate() {
            let calls: Vec<usize> = (0..g.nodes.len()).filter(|&n| g.nodes[n].layer == li).collect();
            let connected: Vec<String> =
                calls.iter().flat_map(|&n| g.nodes[n].inputs.iter().map(|&t| history(t))).collect();
            rows.push([
                format!("{} ({})", layer.name(), layer.kind()),
                shape_text(&self.shapes[g.inputs + calls[0]]),
                thousands(layer_params(layer.as_ref())),
                connected.join("\n"),
            ]);
        }
        let heads = ["Layer (type)", "Output Shape", "Param #", "Connected to"];
        let mut w = [0usize; 4];
        for (c, head) in heads.iter().enumerate() {
            let widest = rows.iter().flat_map(|r| r[c].lines().map(|l| l.chars().count()));
            w[c] = widest.chain([head.chars().count()]).max().unwrap_or(0) + 2;
        }
        let line = |l: char, m: char, r: char, fill: &str| {
            let cols: Vec<String> = w.iter().map(|&n| fill.repeat(n)).collect();
            format!("{l}{}{r}\n", cols.join(&m.to_string()))
        };
        // A row with several inbound tensors takes a line for each, as Keras wraps them.
        let row = |cells: &[String; 4], edge: char| {
            let height = cells.iter().map(|c| c.lines().count()).max().unwrap_or(1);
            let mut out = String::new();
            for i in 0..height {
                let cell = |c: usize| cells[c].lines().nth(i).unwrap_or("");
                out += &format!(
                    "{edge} {:<a$} {edge} {:<b$} {edge} {:>c$} {edge} {:<d$} {edge}\n",
                    cell(0),
                    cell(1),
                    cell(2),
                    cell(3),
                    a = w[0] - 2,
                    b = w[1] - 2,
                    c = w[2] - 2,
                    d = w[3] - 2
                );
            }
            out
        };
        let mut s = format!("Model: \"{}\"\n", self.name);
        s += &line('┏', '┳', '┓', "━");
        s += &row(&heads.map(String::from), '┃');
        s += &line('┡', '╇', '┩', "━");
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                s += &line('├', '┼', '┤', "─");
            }
            s += &row(r, '│');
        }
        s += &line('└', '┴', '┘', "─");
        s += &self.totals();
        s
    }
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
