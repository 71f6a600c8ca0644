//! `summary()`: Keras's table of layers, output shapes and parameter counts.

use super::Sequential;
use crate::error::{Error, Result};

impl Sequential {
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
        let (w1, w2, w3) = (29, 24, 15);
        let line =
            |l: char, m: char, r: char| format!("{l}{}{m}{}{m}{}{r}\n", "━".repeat(w1), "━".repeat(w2), "━".repeat(w3));
        let mut s = String::from("Model: \"sequential\"\n");
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
            let shape =
                format!("(None, {})", self.shapes[i + 1].iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            let params: usize =
                layer.params().iter().map(|p| p.value.len()).sum::<usize>() + non_trainable(layer.as_ref());
            let name = format!("{} ({})", layer.name(), layer.kind());
            s += &format!(
                "│ {:<a$} │ {:<b$} │ {:>c$} │\n",
                name,
                shape,
                thousands(params),
                a = w1 - 2,
                b = w2 - 2,
                c = w3 - 2
            );
        }
        s += &format!("└{}┴{}┴{}┘\n", "─".repeat(w1), "─".repeat(w2), "─".repeat(w3));
        let trainable = self.count_params();
        let fixed: usize = self.layers.iter().map(|l| non_trainable(l.as_ref())).sum();
        let total = trainable + fixed;
        s += &format!(" Total params: {} ({})\n", thousands(total), bytes(total * 4));
        s += &format!(" Trainable params: {} ({})\n", thousands(trainable), bytes(trainable * 4));
        s += &format!(" Non-trainable params: {} ({})\n", thousands(fixed), bytes(fixed * 4));
        Ok(s)
    }
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
