//! `minibatch convert A B`: a model or weights file into another format, by extension.

use super::checks::Files;
use clap::Args;
use minibatch::saving::FileFormat;
use minibatch::{Error, Model, Result};
use std::path::PathBuf;

#[derive(Args)]
pub struct ConvertArgs {
    /// The file to read: a minibatch model file (`.safetensors`, from `train --save`), a
    /// Keras 3 model file (`.keras`) or a Keras 2 one (`.h5`).
    pub from: PathBuf,
    /// The file to write: a minibatch model file (`.safetensors`), a Keras 3 model file
    /// (`.keras`, which `keras.saving.load_model` reads) or Keras 3's weights file
    /// (`.weights.h5`, which Keras's `model.load_weights` reads into the same model).
    pub to: PathBuf,
}

/// The format `path` names, or an error naming `flag`.
fn format(flag: &'static str, path: &std::path::Path) -> Result<FileFormat> {
    FileFormat::of(path).ok_or_else(|| {
        Error::invalid(flag, path.display(), "a file ending in .safetensors, .keras, .weights.h5 or .h5")
    })
}

pub fn convert(args: &ConvertArgs) -> Result<()> {
    let (from, to) = (format("FROM", &args.from)?, format("TO", &args.to)?);
    if to == FileFormat::Keras2 {
        return Err(Error::invalid(
            "TO",
            args.to.display(),
            ".safetensors, .keras or .weights.h5 (Keras 2's .h5 is read only)",
        ));
    }
    if from == FileFormat::KerasWeights {
        return Err(Error::invalid(
            "FROM",
            args.from.display(),
            "a model file (.safetensors or .keras): a .weights.h5 holds no architecture; build the model and load_weights it",
        ));
    }
    Files::default().input("FROM", Some(&args.from)).output("TO", Some(args.to.clone())).check()?;
    let model = Model::load(&args.from)?;
    match to {
        FileFormat::KerasWeights => model.save_weights(&args.to)?,
        _ => model.save(&args.to)?,
    }
    println!("Wrote {} ({} weights) from {}", args.to.display(), model.count_params(), args.from.display());
    Ok(())
}
