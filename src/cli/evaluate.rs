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
    let (logs, samples, what) = match &input.labels {
        Some(labels) => evaluate_mapped(&mut model, input, labels)?,
        None => {
            let chosen = data::select(&model, input, false)?;
            let x = data::shaped_for(&model, chosen.x)?;
            let y = chosen.y.expect("labelled data");
            (model.evaluate(&x, &y, input.batch_size)?, x.batch(), chosen.what)
        }
    };
    let loss_label = super::model_spec::loss_label(&model);
    let label = |k: &str| if k == "loss" { loss_label.to_string() } else { k.to_string() };
    let values: Vec<String> = logs.iter().map(|(k, v)| format!("{}: {v:.4}", label(k))).collect();
    println!("{} ({samples} samples: {what})", values.join(" - "));
    if let Some(path) = &args.json {
        let figures: serde_json::Map<String, Value> = logs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let doc = json!({ "samples": samples, "rows": what, "logs": figures });
        let text = serde_json::to_string_pretty(&doc).expect("plain values");
        minibatch::saving::write_atomic(path, (text + "\n").as_bytes())?;
    }
    Ok(())
}

/// `--data x.npy --labels y.npy`: the rows read and evaluated a batch at a time, by 2
/// prefetching workers (the rows of the split train recorded for the file, as `--split` says).
fn evaluate_mapped(
    model: &mut Model,
    input: &data::ModelAndData,
    labels: &std::path::Path,
) -> Result<(minibatch::callbacks::Logs, usize, String)> {
    let (mut ds, _, what) = data::mapped_dataset(model, input, Some(labels))?;
    let logs = model.evaluate_dataset(&mut ds, minibatch::EvaluateOptions::new().workers(2))?;
    Ok((logs, ds.samples(), what))
}
