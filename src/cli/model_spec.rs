//! The architectures the commands build.

use super::task::Task;
use minibatch::layers::{Dense, Dropout, Flatten, Normalization, Reshape, LSTM};
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
}

impl ModelSpec<'_> {
    /// With `standardize`, `mlp` and `lstm` begin with that Normalization.
    /// `mlp`: Flatten (for images), the hidden Dense layers (each with Dropout if asked), the
    /// task's Dense layer. `convnet`: Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3,
    /// relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(softmax), as Keras's example.
    /// `lstm`: LSTM(128) over samples `(time, features)` (an image's rows are its time steps;
    /// a trailing channel axis of 1 is dropped), the task's Dense layer. `transformer` and
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
        let head = || Dense::new(task.units()).activation(task.activation());
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
                model.add(head()).into()
            }
            Architecture::Convnet => minibatch::bench::convnet(sample_shape, classes, self.seed).into(),
            Architecture::Lstm => {
                let model = match sample_shape {
                    [_, _] => stack(),
                    &[t, f, 1] => stack().add(Reshape::new(&[t, f])),
                    other => {
                        return Err(minibatch::Error::shape(
                            "data for --model lstm",
                            "sequences: samples of shape (time, features), such as images' rows",
                            other,
                        ))
                    }
                };
                model.add(LSTM::new(128)).add(head()).into()
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
/// `extra` metrics (Keras's names, `--metrics`) beside the task's.
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
    model.compile(opt, task.loss(), &metrics)
}
