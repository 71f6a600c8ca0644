//! `minibatch convert A B`: a model or weights file into another format, by extension.

use super::checks::Files;
use clap::Args;
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

/// What a path's name says it is.
#[derive(Debug, PartialEq)]
enum Format {
    Safetensors,
    Keras,
    KerasWeights,
    Keras2,
}

fn format(flag: &'static str, path: &std::path::Path) -> Result<Format> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".weights.h5") {
        Ok(Format::KerasWeights)
    } else if name.ends_with(".keras") {
        Ok(Format::Keras)
    } else if name.ends_with(".safetensors") {
        Ok(Format::Safetensors)
    } else if name.ends_with(".h5") {
        Ok(Format::Keras2)
    } else {
        Err(Error::invalid(flag, path.display(), "a file ending in .safetensors, .keras, .weights.h5 or .h5"))
    }
}

pub fn convert(args: &ConvertArgs) -> Result<()> {
    let (from, to) = (format("FROM", &args.from)?, format("TO", &args.to)?);
    if to == Format::Keras2 {
        return Err(Error::invalid(
            "TO",
            args.to.display(),
            ".safetensors, .keras or .weights.h5 (Keras 2's .h5 is read only)",
        ));
    }
    if from == Format::KerasWeights {
        return Err(Error::invalid(
            "FROM",
            args.from.display(),
            "a model file (.safetensors or .keras): a .weights.h5 holds no architecture; build the model and load_weights it",
        ));
    }
    Files::default().input("FROM", Some(&args.from)).output("TO", Some(args.to.clone())).check()?;
    let model = Model::load(&args.from)?;
    match to {
        Format::KerasWeights => model.save_weights(&args.to)?,
        _ => model.save(&args.to)?,
    }
    println!("Wrote {} ({} weights) from {}", args.to.display(), model.count_params(), args.from.display());
    Ok(())
}
