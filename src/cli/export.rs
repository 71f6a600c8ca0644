//! `minibatch export --model m.safetensors --format onnx out.onnx`: a saved model for runtimes
//! that are not training frameworks.

use super::checks::Files;
use clap::Args;
use minibatch::{Error, Model, Result};
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    /// The model to export: a minibatch model file (`.safetensors`) or a Keras 3 model file
    /// (`.keras`).
    #[arg(long)]
    pub model: PathBuf,
    /// The format to write: onnx (opset 17, the batch dimension dynamic).
    #[arg(long, default_value = "onnx")]
    pub format: String,
    /// The file to write.
    pub output: PathBuf,
}

pub fn export(args: &ExportArgs) -> Result<()> {
    if args.format != "onnx" {
        return Err(Error::UnknownName { kind: "export format", name: args.format.clone(), known: vec!["onnx"] });
    }
    Files::default().input("--model", Some(&args.model)).output("OUTPUT", Some(args.output.clone())).check()?;
    let model = Model::load(&args.model)?;
    model.export_onnx(&args.output)?;
    println!(
        "Wrote {} (ONNX, opset {}, {} weights) from {}",
        args.output.display(),
        minibatch::export::onnx::OPSET,
        model.count_params(),
        args.model.display()
    );
    Ok(())
}
