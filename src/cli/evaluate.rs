//! `minibatch evaluate`: a saved model's loss and metrics on data.

use super::data::{self, ModelAndData};
use clap::Args;
use minibatch::{Model, Result};
use serde_json::{json, Value};

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub input: ModelAndData,
    /// Also write the figures, unrounded, as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let input = &args.input;
    data::check_model_and_data(input, "--json", args.json.as_ref())?;
    let mut model = Model::load(&input.model)?;
    let (x, y, which) = data::held_out(&input.data, &input.label_column, input.seed)?;
    let x = data::shaped_for(&model, x)?;
    let logs = model.evaluate(&x, &y, input.batch_size)?;
    let values: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("{} ({} samples, {which} of {})", values.join(" - "), x.batch(), input.data);
    if let Some(path) = &args.json {
        let figures: serde_json::Map<String, Value> = logs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let text =
            serde_json::to_string_pretty(&json!({ "samples": x.batch(), "logs": figures })).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    Ok(())
}
