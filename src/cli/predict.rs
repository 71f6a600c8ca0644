//! `minibatch predict`: a saved model's predictions, as CSV or NPY.

use super::data::{self, ModelAndData};
use clap::Args;
use minibatch::{io, Model, Result};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: ModelAndData,
    /// Where to write the predictions: FILE.csv or FILE.npy [default: CSV on standard output].
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

pub fn predict(args: &PredictArgs) -> Result<()> {
    let input = &args.input;
    data::check_model_and_data(input, "--output", args.output.as_ref())?;
    let mut model = Model::load(&input.model)?;
    let x = if input.data.to_ascii_lowercase().ends_with(".csv") {
        io::load_csv_features(&input.data, &input.label_column)?
    } else {
        data::held_out(&input.data, &input.label_column, input.seed)?.0
    };
    let x = data::shaped_for(&model, x)?;
    let p = model.predict(&x, input.batch_size)?;
    let cols = p.row_len();
    let extension = args.output.as_ref().and_then(|o| o.extension()).map(|e| e.to_string_lossy().to_ascii_lowercase());
    let bytes = match extension.as_deref() {
        Some("npy") => io::write_npy(p.shape(), p.data()),
        None | Some("csv") => {
            let mut text = (0..cols).map(|c| format!("output_{c}")).collect::<Vec<_>>().join(",") + "\n";
            for row in p.data().chunks(cols) {
                text += &row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
                text.push('\n');
            }
            text.into_bytes()
        }
        Some(other) => {
            return Err(minibatch::Error::invalid("--output", other, "a file ending in .csv or .npy"));
        }
    };
    match &args.output {
        Some(path) => {
            minibatch::saving::write_atomic(path, &bytes)?;
            eprintln!("Wrote {} predictions of {cols} values to {}", p.batch(), path.display());
        }
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}
