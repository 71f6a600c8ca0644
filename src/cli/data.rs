//! The data the commands read: sources, test splits, and the shapes models take.

use super::checks::{self, Files};
use clap::Args;
use minibatch::{io, Model, Result, Tensor};
use std::path::Path;

/// What evaluate and predict share: the model file and the data.
#[derive(Args)]
pub struct ModelAndData {
    /// A model file written by `train --save` (or `Model::save`).
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// Data, as for train: the test split of a built-in set or mnist:DIR, or the whole of a
    /// FILE.csv or FILE.npz (predict reads a CSV without its label column too).
    #[arg(long)]
    pub data: String,
    /// The CSV column holding the labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Seed of a built-in data set (as given to train).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
}

/// Images of shape `(h, w)` as `(h, w, 1)`, as Keras's example adds the channel axis.
pub fn with_channel_axis(data: io::Loaded) -> Result<io::Loaded> {
    let add = |x: Tensor| -> Result<Tensor> {
        match x.shape() {
            [n, h, w] => {
                let shape = [*n, *h, *w, 1];
                x.reshape(&shape)
            }
            [_, _, _, _] => Ok(x),
            other => Err(minibatch::Error::shape(
                "data for --model convnet",
                "images: samples of shape (height, width) or (height, width, channels)",
                &other[1..],
            )),
        }
    };
    Ok(io::Loaded {
        x: add(data.x)?,
        y: data.y,
        test: match data.test {
            Some((x, y)) => Some((add(x)?, y)),
            None => None,
        },
    })
}

/// The labelled data `evaluate` and `predict` use: the test split of a source that has one,
/// else the whole source.
pub fn held_out(source: &str, label_column: &str, seed: u64) -> Result<(Tensor, Tensor, &'static str)> {
    let data = io::load(source, label_column, seed)?;
    Ok(match data.test {
        Some((x, y)) => (x, y, "test split"),
        None => (data.x, data.y, "all samples"),
    })
}

/// Images `(h, w)` given to a model saved for `(h, w, 1)` (as `train --model convnet` saves
/// it) get their channel axis; anything else is left for the model's own shape check.
pub fn shaped_for(model: &Model, x: Tensor) -> Result<Tensor> {
    match model.get_input_shape() {
        Some(&[h, w, 1]) if x.shape()[1..] == [h, w] => {
            let shape = [x.batch(), h, w, 1];
            x.reshape(&shape)
        }
        _ => Ok(x),
    }
}

/// What evaluate and predict check before any work: the batch size, and that `output` (under
/// `flag`) overwrites neither the model nor the data.
pub fn check_model_and_data(
    input: &ModelAndData,
    flag: &'static str,
    output: Option<&std::path::PathBuf>,
) -> Result<()> {
    checks::at_least_one("--batch-size", input.batch_size)?;
    Files::default()
        .input("--model", Some(&input.model))
        .input("--data", Some(Path::new(&input.data)))
        .output(flag, output.cloned())
        .check()
}
