//! Every check of user input, made once per call before any work, so a bad call fails with a
//! clear error and leaves the model untouched.

use super::Arrays;
use crate::data::{check_sample_weights, Dataset, Spec};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::Tensor;
use std::borrow::Cow;

/// The arrays of `x` and `y` in the order of the model's inputs and outputs.
type Resolved<'s, 'a> = (Cow<'s, [&'a Tensor]>, Cow<'s, [&'a Tensor]>);

impl Model {
    /// `x` and `y` in the order of the model's inputs and outputs (`what` names the data).
    pub(crate) fn resolve<'s, 'a>(&self, x: &'s Arrays<'a>, y: &'s Arrays<'a>, what: &str) -> Result<Resolved<'s, 'a>> {
        let xs = x.resolve(self.graph.inputs, &|| self.input_names.clone(), &|| format!("x ({what})"))?;
        let ys = y.resolve(self.graph.outputs.len(), &|| self.output_names(), &|| format!("y ({what})"))?;
        Ok((xs, ys))
    }

    /// Builds the model from `xs` if needed and checks that every input array fits it.
    /// `what(i, name)` names input `i` in errors (called only on error: a steady-state call
    /// allocates nothing).
    pub(crate) fn check_inputs(&mut self, xs: &[&Tensor], what: &dyn Fn(usize, &str) -> String) -> Result<()> {
        let name = |m: &Model, i: usize| what(i, m.input_names.get(i).map_or("", |s| s.as_str()));
        for (i, x) in xs.iter().enumerate() {
            if x.batch() == 0 || x.is_empty() {
                return Err(Error::Empty { what: name(self, i) });
            }
            // One value per sample only for an input declared so (Keras's `Input(shape=())`):
            // elsewhere a rank-1 array is far more often features missing their batch axis.
            let scalar_input = self.input_shapes().and_then(|s| s.get(i)).is_some_and(|s| s.is_empty());
            if x.shape().len() < 2 && !(scalar_input && x.shape().len() == 1) {
                return Err(Error::shape(
                    name(self, i),
                    "[samples, features…]: a batch axis and at least one feature axis (an input declared with shape [], Keras's Input(shape=()), takes [samples])",
                    x.shape(),
                ));
            }
            if x.batch() != xs[0].batch() {
                return Err(Error::SampleCount { x: xs[0].batch(), y: x.batch() });
            }
        }
        if !self.is_built() {
            let shapes = match self.input_shapes() {
                Some(s) => s.to_vec(),
                None => xs.iter().map(|x| x.shape()[1..].to_vec()).collect(),
            };
            self.build_inputs(&shapes)?;
        }
        for (i, x) in xs.iter().enumerate() {
            let sample = &x.shape()[1..];
            if sample != self.shapes[i].as_slice() {
                return Err(Error::Shape {
                    what: name(self, i),
                    expected: format!(
                        "samples of shape {:?} (the model's input {})",
                        self.shapes[i], self.input_names[i]
                    ),
                    received: format!("{:?}, i.e. samples of shape {sample:?}", x.shape()),
                });
            }
            if let Some((index, value)) = x.first_non_finite() {
                return Err(Error::NonFinite { what: name(self, i), index, value });
            }
        }
        // The layers that read a model input check its values (an Embedding's token ids).
        for node in &self.graph.nodes {
            for &t in node.inputs.iter().filter(|&&t| t < self.graph.inputs) {
                self.layers[node.layer].check_input(xs[t])?;
            }
        }
        Ok(())
    }

    /// The checks [`Model::fit`] makes on its data before any work (the model compiled, sample
    /// counts, shapes, finite values, targets the loss can take), on their own: a program can
    /// refuse bad data before it prints or writes anything. Builds the model from `x` if it
    /// is not built yet.
    ///
    /// # Errors
    /// As [`Model::fit`] for its data.
    pub fn check_training_data<'x>(&mut self, x: impl Into<Arrays<'x>>, y: impl Into<Arrays<'x>>) -> Result<()> {
        let (x, y) = (x.into(), y.into());
        let (xs, ys) = self.resolve(&x, &y, "training data")?;
        self.check_data(xs.as_ref(), ys.as_ref(), "training data")
    }

    /// Checks `xs` and `ys` together for training or evaluation.
    pub(crate) fn check_data(&mut self, xs: &[&Tensor], ys: &[&Tensor], what: &str) -> Result<()> {
        if self.compiled.is_none() {
            return Err(Error::State(
                "the model must be compiled before training or evaluating: call compile(optimizer, loss, metrics)"
                    .into(),
            ));
        }
        for y in ys {
            if y.batch() != xs[0].batch() {
                return Err(Error::SampleCount { x: xs[0].batch(), y: y.batch() });
            }
        }
        let several = xs.len() > 1;
        self.check_inputs(xs, &|i, input| {
            if several {
                format!("x[{i}] ({what}, input {input})")
            } else {
                format!("x ({what})")
            }
        })?;
        for (k, y) in ys.iter().enumerate() {
            let label = || {
                if ys.len() > 1 {
                    format!("y[{k}] ({what}, output {})", self.output_names()[k])
                } else {
                    format!("y ({what})")
                }
            };
            if let Some((index, value)) = y.first_non_finite() {
                return Err(Error::NonFinite { what: label(), index, value });
            }
            let c = self.compiled.as_mut().expect("checked");
            let output = &self.shapes[self.graph.outputs[k]];
            c.losses[k].check_targets(y, output)?;
            for (m, _) in c.metrics.iter_mut().zip(&c.metric_output).filter(|(_, &o)| o == k) {
                m.check_shapes(target_shape(y), output)?;
            }
        }
        Ok(())
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

/// Keras's `class_weight` as a weight per class of an output of shape `output` (classes not
/// listed weigh 1).
///
/// # Errors
/// A class the output does not have; a negative or non-finite weight.
pub(crate) fn class_weight_table(class_weight: &[(usize, f32)], output: &[usize]) -> Result<Vec<f32>> {
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
    Ok(table)
}

/// One weight per sample of `y` from the class table: a sample's class is its rounded label
/// (one value per sample) or the arg max of its row.
pub(crate) fn class_weights_to_samples(table: &[f32], y: &Tensor) -> Result<Vec<f32>> {
    let mut out = vec![0.0; y.batch()];
    class_weights_into(table, y, &mut out)?;
    Ok(out)
}

/// [`class_weights_to_samples`] into `out` (one per sample), allocating nothing.
pub(crate) fn class_weights_into(table: &[f32], y: &Tensor, out: &mut [f32]) -> Result<()> {
    for (i, o) in out.iter_mut().enumerate() {
        let row = y.row(i);
        let c = if row.len() == 1 { row[0].round().max(0.0) as usize } else { crate::tensor::kernels::argmax(row) };
        *o = *table.get(c).ok_or_else(|| Error::Label {
            sample: i,
            label: row[0],
            expected: format!("a class in [0, {}) to look up in class_weight", table.len()),
        })?;
    }
    Ok(())
}

/// The per-sample shape of a dataset's target as the loss buffers hold it: `[1]` for one
/// label per sample (`[]`).
pub(crate) fn target_sample_shape(sample: &[usize]) -> &[usize] {
    if sample.is_empty() {
        &[1]
    } else {
        sample
    }
}

/// Calls `f` with references to `ts`, on the stack for up to 8 tensors (a batch's inputs
/// or targets), so checking a batch allocates nothing.
pub(crate) fn with_refs<R>(ts: &[Tensor], f: impl FnOnce(&[&Tensor]) -> R) -> R {
    const ON_STACK: usize = 8;
    match ts.first() {
        None => f(&[]),
        Some(first) if ts.len() <= ON_STACK => {
            let refs: [&Tensor; ON_STACK] = std::array::from_fn(|i| ts.get(i).unwrap_or(first));
            f(&refs[..ts.len()])
        }
        Some(_) => f(&ts.iter().collect::<Vec<_>>()),
    }
}

impl Model {
    /// Checks a dataset's spec against the model (building it from the spec if needed) before
    /// any work: its inputs and targets, one per model input and output, of the shapes the
    /// model takes; a batch size of at least 1. Returns the spec.
    pub(crate) fn check_spec(&mut self, data: &dyn Dataset, what: &str) -> Result<Spec> {
        if self.compiled.is_none() {
            return Err(Error::State(
                "the model must be compiled before training or evaluating: call compile(optimizer, loss, metrics)"
                    .into(),
            ));
        }
        let spec = data.spec();
        self.check_input_spec(&spec, what)?;
        let outputs = self.graph.outputs.len();
        if spec.targets.len() != outputs {
            return Err(Error::Shape {
                what: format!("the {what}'s targets"),
                expected: format!("{outputs}, one per model output ({})", self.output_names().join(", ")),
                received: format!("{}", spec.targets.len()),
            });
        }
        let c = self.compiled.as_mut().expect("checked");
        for (m, &k) in c.metrics.iter_mut().zip(&c.metric_output) {
            // One label per sample (`[]`) is held as `[1]`.
            let target = if spec.targets[k].is_empty() { &[1][..] } else { &spec.targets[k] };
            m.check_shapes(target, &self.shapes[self.graph.outputs[k]])?;
        }
        Ok(spec)
    }

    /// Checks a dataset's inputs and batch size against the model, building it if needed.
    pub(crate) fn check_input_spec(&mut self, spec: &Spec, what: &str) -> Result<()> {
        if spec.batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, format!("a positive batch size for the {what}")));
        }
        if spec.inputs.len() != self.graph.inputs {
            return Err(Error::Shape {
                what: format!("the {what}'s inputs"),
                expected: format!("{}, one per model input ({})", self.graph.inputs, self.input_names.join(", ")),
                received: format!("{}", spec.inputs.len()),
            });
        }
        if !self.is_built() {
            let shapes = match self.input_shapes() {
                Some(s) => s.to_vec(),
                None => spec.inputs.clone(),
            };
            self.build_inputs(&shapes)?;
        }
        for (i, sample) in spec.inputs.iter().enumerate() {
            if *sample != self.shapes[i] {
                return Err(Error::Shape {
                    what: format!("the {what}'s input {i}"),
                    expected: format!(
                        "samples of shape {:?} (the model's input {})",
                        self.shapes[i], self.input_names[i]
                    ),
                    received: format!("samples of shape {sample:?}"),
                });
            }
        }
        Ok(())
    }

    /// `class_weight` as a weight per class of the model's one output.
    pub(crate) fn class_table(&self, class_weight: &[(usize, f32)], outputs: usize) -> Result<Vec<f32>> {
        if outputs > 1 {
            return Err(Error::invalid(
                "class_weight",
                format!("given for a model with {outputs} outputs"),
                "a model with one output (as Keras); use sample_weight",
            ));
        }
        class_weight_table(class_weight, self.output_shape().expect("built"))
    }

    /// Keras's `validation_data` arrays in the order of the model's inputs and outputs,
    /// checked as training data is, with their weights.
    pub(crate) fn validation_arrays<'a>(
        &mut self,
        x: &Arrays<'a>,
        y: &Arrays<'a>,
        w: Option<&[f32]>,
    ) -> Result<(Vec<&'a Tensor>, Vec<&'a Tensor>)> {
        let (xs, ys) = self.resolve(x, y, "validation data")?;
        let (xs, ys) = (xs.to_vec(), ys.to_vec());
        self.check_data(&xs, &ys, "validation data")?;
        if let Some(w) = w {
            check_sample_weights(w, xs[0].batch(), "validation data")?;
        }
        Ok((xs, ys))
    }

    /// Refuses to train after a layer was frozen or unfrozen since the optimizer's slots were
    /// sized: Keras applies a change of `trainable` only at the next `compile`, and minibatch
    /// says so rather than train the old set silently.
    pub(crate) fn check_trainable(&self) -> Result<()> {
        let Some(c) = &self.compiled else { return Ok(()) };
        if c.trainable.is_empty() {
            return Ok(());
        }
        let changed = self.layers.iter().zip(&c.trainable).find(|(l, &was)| l.trainable() != was);
        match changed {
            None => Ok(()),
            Some((l, _)) => Err(Error::State(format!(
                "layer {} was {} after compile: compile the model again so the optimizer takes the change (as Keras)",
                l.name(),
                if l.trainable() { "unfrozen" } else { "frozen" }
            ))),
        }
    }
}
