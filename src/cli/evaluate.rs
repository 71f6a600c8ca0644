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
    let chosen = data::select(&model, input, false)?;
    let x = data::shaped_for(&model, chosen.x)?;
    let y = chosen.y.expect("labelled data");
    let logs = model.evaluate(&x, &y, input.batch_size)?;
    let values: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("{} ({} samples: {})", values.join(" - "), x.batch(), chosen.what);
    if let Some(path) = &args.json {
        let figures: serde_json::Map<String, Value> = logs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let doc = json!({ "samples": x.batch(), "rows": chosen.what, "logs": figures });
        let text = serde_json::to_string_pretty(&doc).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    Ok(())
}
