//! The architectures the commands build.

use super::task::Task;
use minibatch::layers::{Dense, Dropout, Embedding, Flatten, Normalization, Reshape, LSTM};
use minibatch::{optimizers, Model, Result, Sequential};

/// The architectures `train --model` and `lab` build: a name parsed once, and what the
/// command does differently for each asked of it here, not by matching the name again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Mlp,
    Convnet,
    Lstm,
    Transformer,
    Resnet,
}

impl Architecture {
    /// Every architecture, in the order `--model`'s help lists them.
    pub const ALL: [Architecture; 5] =
        [Architecture::Mlp, Architecture::Convnet, Architecture::Lstm, Architecture::Transformer, Architecture::Resnet];

    /// The name `--model` takes.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Mlp => "mlp",
            Architecture::Convnet => "convnet",
            Architecture::Lstm => "lstm",
            Architecture::Transformer => "transformer",
            Architecture::Resnet => "resnet",
        }
    }

    /// The architecture named `name`.
    ///
    /// # Errors
    /// [`minibatch::Error::UnknownName`] listing the names.
    pub fn parse(name: &str) -> Result<Architecture> {
        Architecture::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| minibatch::Error::UnknownName {
            kind: "model",
            name: name.into(),
            known: Architecture::ALL.iter().map(|a| a.name()).collect(),
        })
    }

    /// Takes images `[height, width, channels]` (a channel axis is added to grey images).
    pub fn takes_images(self) -> bool {
        matches!(self, Architecture::Convnet | Architecture::Resnet)
    }

    /// Begins with a Normalization adapted to the training rows of a file by default, and
    /// ends in the task's own output (any task, not only classes).
    pub fn dense_or_recurrent(self) -> bool {
        matches!(self, Architecture::Mlp | Architecture::Lstm)
    }
}

/// The models the commands build: an MLP, Keras's Simple MNIST convnet, an LSTM, a
/// Transformer encoder or a residual convnet.
pub struct ModelSpec<'a> {
    pub kind: Architecture,
    pub hidden: &'a [usize],
    pub activation: &'a str,
    pub dropout: f32,
    pub seed: u64,
    /// A Normalization adapted to the training rows, put first (`mlp` and `lstm`).
    pub standardize: Option<&'a Normalization>,
    /// `resnet`: BatchNormalization synchronized over the processes of a distributed run.
    pub sync_batch_norm: bool,
    /// An inverting Normalization holding the targets' statistics, put last (`mlp` and `lstm`
    /// on quantities): the model predicts in the targets' units and [`compile`] trains it on
    /// standardized targets.
    pub unstandardize: Option<&'a Normalization>,
    /// `lstm` on token ids (a TextVectorization's `int` output): the ids' count, for the
    /// `Embedding(mask_zero=True)` in front.
    pub vocabulary: Option<usize>,
}

impl ModelSpec<'_> {
    /// With `standardize`, `mlp` and `lstm` begin with that Normalization.
    /// `mlp`: Flatten (for images), the hidden Dense layers (each with Dropout if asked), the
    /// task's Dense layer. `convnet`: Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3,
    /// relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(softmax), as Keras's example.
    /// `lstm`: LSTM(128) over samples `(time, features)` (an image's rows are its time steps;
    /// a trailing channel axis of 1 is dropped), or over token ids through an
    /// `Embedding(vocabulary, 64, mask_zero=True)`, then the task's Dense layer. `transformer` and
    /// `resnet`: see [`minibatch::bench`]. Compiled with `optimizer` at `lr` (NaN: the
    /// optimizer's default) and the task's loss and metrics.
    ///
    /// # Errors
    /// [`minibatch::Error::InvalidArgument`] for a convnet, transformer or resnet asked for
    /// anything but classes (they end in softmax, as Keras's examples); shapes they cannot take.
    pub fn build(&self, sample_shape: &[usize], task: &Task, optimizer: &str, lr: f32) -> Result<Model> {
        let mut model = self.architecture(sample_shape, task)?;
        compile(&mut model, task, optimizer, lr, &[])?;
        Ok(model)
    }

    /// [`ModelSpec::build`]'s model, not compiled.
    ///
    /// # Errors
    /// As [`ModelSpec::build`].
    pub fn architecture(&self, sample_shape: &[usize], task: &Task) -> Result<Model> {
        let stack = || {
            let model = Sequential::new().seed(self.seed).input_shape(sample_shape);
            match self.standardize {
                Some(norm) => model.add(norm.clone()),
                None => model,
            }
        };
        let head = |model: Sequential| {
            let model = model.add(Dense::new(task.units()).activation(task.activation()));
            match self.unstandardize {
                Some(back) => model.add(back.clone()),
                None => model,
            }
        };
        let classes = task.units();
        if !self.kind.dense_or_recurrent() && task.activation() != "softmax" {
            let expected = "classes (a softmax output): --model mlp or lstm for regression or binary targets";
            return Err(minibatch::Error::invalid("--model", self.kind.name(), expected));
        }
        let model: Model = match self.kind {
            Architecture::Mlp => {
                let mut model = stack();
                if sample_shape.len() > 1 {
                    model = model.add(Flatten::new());
                }
                for &units in self.hidden {
                    model = model.add(Dense::new(units).activation(self.activation));
                    if self.dropout > 0.0 {
                        model = model.add(Dropout::new(self.dropout));
                    }
                }
                head(model).into()
            }
            Architecture::Convnet => minibatch::bench::convnet(sample_shape, classes, self.seed).into(),
            Architecture::Lstm => {
                let model = match (sample_shape, self.vocabulary) {
                    // Token ids: 64 numbers a token, the padding id 0 masked.
                    ([_], Some(ids)) => stack().add(Embedding::new(ids, 64).mask_zero(true)),
                    ([_, _], _) => stack(),
                    (&[t, f, 1], _) => stack().add(Reshape::new(&[t, f])),
                    (other, _) => {
                        return Err(minibatch::Error::shape(
                            "data for --model lstm",
                            "sequences: samples of shape (time, features), such as images' rows",
                            other,
                        ))
                    }
                };
                head(model.add(LSTM::new(128))).into()
            }
            Architecture::Transformer => match sample_shape {
                &[t, f, 1] => minibatch::bench::transformer(&[t, f], classes, self.seed)?,
                other => minibatch::bench::transformer(other, classes, self.seed)?,
            },
            Architecture::Resnet => {
                minibatch::bench::resnet_with(sample_shape, classes, self.seed, self.sync_batch_norm)?
            }
        };
        Ok(model)
    }
}

/// Compiles `model` for `task` with `optimizer` at `lr` (NaN: the optimizer's default), and
/// `extra` metrics (Keras's names, `--metrics`) beside the task's. A model that ends in an
/// inverting Normalization (the targets' statistics, see [`ModelSpec::unstandardize`]) is
/// compiled with its loss taken on standardized targets ([`minibatch::losses::Standardized`]).
///
/// # Errors
/// An unknown optimizer or metric name; what `compile` refuses.
pub fn compile(model: &mut Model, task: &Task, optimizer: &str, lr: f32, extra: &[String]) -> Result<()> {
    let mut opt = optimizers::from_name(optimizer)?;
    if !lr.is_nan() {
        opt.set_learning_rate(lr);
    }
    let mut metrics: Vec<&str> = task.metrics().to_vec();
    for m in extra {
        if !metrics.contains(&m.as_str()) {
            metrics.push(m);
        }
    }
    match target_statistics(model) {
        Some((mean, std)) if !task.is_classifier() => {
            let inner = minibatch::losses::BuiltinLoss::from_name(task.loss())?;
            model.compile(opt, minibatch::losses::Standardized::new(inner, mean, std)?, &metrics)
        }
        _ => model.compile(opt, task.loss(), &metrics),
    }
}

/// How the commands print the loss of `model`: `loss`, or `loss (standardized targets)` for a
/// model trained on standardized targets (its metrics are in the targets' units, its loss not).
pub fn loss_label(model: &Model) -> &'static str {
    if target_statistics(model).is_some() {
        "loss (standardized targets)"
    } else {
        "loss"
    }
}

/// The targets' means and standard deviations when `model`'s last layer is an inverting
/// Normalization (as `train` builds for quantities, and saves).
pub fn target_statistics(model: &Model) -> Option<(Vec<f32>, Vec<f32>)> {
    let last = model.layers().last()?;
    if last.kind() != "Normalization" || last.config()?.get("invert")? != true {
        return None;
    }
    let state = last.state();
    let values = |name: &str| match state.iter().find(|(n, _)| *n == name)? {
        (_, minibatch::layers::State::F32(t)) => Some(t.data().to_vec()),
        _ => None,
    };
    // The layer's own divisor, as it computes it from the variance.
    let back = Normalization::new().invert(true).with_statistics(&values("mean")?, &values("variance")?).ok()?;
    Some((back.mean().to_vec(), back.std().to_vec()))
}
