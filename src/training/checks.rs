//! Every check of user input, made once per call before any work, so a bad call fails with a
//! clear error and leaves the model untouched.

use crate::error::{Error, Result};
use crate::models::Sequential;
use crate::tensor::Tensor;

impl Sequential {
    /// Builds the model from `x` if needed and checks that `x` fits it. `what` names `x` in
    /// errors (built only on error: a steady-state call allocates nothing).
    pub(crate) fn check_inputs(&mut self, x: &Tensor, what: &dyn Fn() -> String) -> Result<()> {
        if x.batch() == 0 || x.is_empty() {
            return Err(Error::Empty { what: what() });
        }
        let sample = &x.shape()[1..];
        if sample.is_empty() {
            return Err(Error::shape(
                what(),
                "[samples, features…]: a batch axis and at least one feature axis",
                x.shape(),
            ));
        }
        if !self.is_built() {
            let shape = self.get_input_shape().map(|s| s.to_vec()).unwrap_or_else(|| sample.to_vec());
            self.build(&shape)?;
        }
        if sample != self.shapes[0].as_slice() {
            return Err(Error::Shape {
                what: what(),
                expected: format!("samples of shape {:?} (the model's input)", self.shapes[0]),
                received: format!("{:?}, i.e. samples of shape {sample:?}", x.shape()),
            });
        }
        if let Some((index, value)) = x.first_non_finite() {
            return Err(Error::NonFinite { what: what(), index, value });
        }
        self.layers[0].check_input(x)
    }

    /// Checks `x` and `y` together for training or evaluation.
    pub(crate) fn check_data(&mut self, x: &Tensor, y: &Tensor, what: &str) -> Result<()> {
        if self.compiled.is_none() {
            return Err(Error::State(
                "the model must be compiled before training or evaluating: call compile(optimizer, loss, metrics)"
                    .into(),
            ));
        }
        if y.batch() != x.batch() {
            return Err(Error::SampleCount { x: x.batch(), y: y.batch() });
        }
        self.check_inputs(x, &|| format!("x ({what})"))?;
        if let Some((index, value)) = y.first_non_finite() {
            return Err(Error::NonFinite { what: format!("y ({what})"), index, value });
        }
        let c = self.compiled.as_ref().expect("checked");
        c.loss.check_targets(y, self.output_shape().expect("built"))
    }
}

/// The per-sample shape of `y` as the loss buffers hold it.
pub(crate) fn target_shape(y: &Tensor) -> &[usize] {
    if y.shape().len() == 1 {
        &[1]
    } else {
        &y.shape()[1..]
    }
}

/// Checks sample weights: one per sample, finite, non-negative.
pub(crate) fn check_sample_weights(w: &[f32], n: usize, what: &str) -> Result<()> {
    if w.len() != n {
        return Err(Error::Shape {
            what: format!("sample_weight ({what})"),
            expected: format!("{n} weights, one per sample"),
            received: format!("{} weights", w.len()),
        });
    }
    if let Some((index, &value)) = w.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite { what: format!("sample_weight ({what})"), index, value });
    }
    if let Some((i, v)) = w.iter().enumerate().find(|(_, &v)| v < 0.0) {
        return Err(Error::invalid("sample_weight", v, format!("non-negative weights (sample {i} of the {what})")));
    }
    Ok(())
}

/// Keras's `class_weight` as one weight per sample of `y`: its class is the rounded label
/// (one value per sample) or the arg max of the row; classes not listed weigh 1.
pub(crate) fn class_weights_to_samples(
    class_weight: &[(usize, f32)],
    y: &Tensor,
    output: &[usize],
) -> Result<Vec<f32>> {
    let k = *output.last().unwrap_or(&1);
    let classes = if k == 1 { 2 } else { k };
    let mut table = vec![1.0f32; classes];
    for &(class, w) in class_weight {
        if class >= classes {
            return Err(Error::invalid(
                "class_weight",
                class,
                format!("a class of the model's output, in [0, {classes})"),
            ));
        }
        if !(w >= 0.0 && w.is_finite()) {
            return Err(Error::invalid("class_weight", w, format!("a non-negative, finite weight (class {class})")));
        }
        table[class] = w;
    }
    let class_of = |row: &[f32]| -> usize {
        if row.len() == 1 {
            row[0].round().max(0.0) as usize
        } else {
            crate::tensor::kernels::argmax(row)
        }
    };
    (0..y.batch())
        .map(|i| {
            let c = class_of(y.row(i));
            table.get(c).copied().ok_or_else(|| Error::Label {
                sample: i,
                label: y.row(i)[0],
                expected: format!("a class in [0, {classes}) to look up in class_weight"),
            })
        })
        .collect()
}
