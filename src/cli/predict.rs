//! `minibatch predict`: a saved model's predictions, as CSV or NPY.

use super::data::{self, ModelAndData};
use super::task::Task;
use clap::Args;
use minibatch::{io, Model, Result, Tensor};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: ModelAndData,
    /// Where to write the predictions: FILE.csv (with a row column) or FILE.npy (with the rows'
    /// numbers in FILE.rows.npy) [default: CSV on standard output].
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

pub fn predict(args: &PredictArgs) -> Result<()> {
    let input = &args.input;
    data::check_model_and_data(input, "--output", args.output.as_ref())?;
    let extension = args.output.as_ref().and_then(|o| o.extension()).map(|e| e.to_string_lossy().to_ascii_lowercase());
    if !matches!(extension.as_deref(), None | Some("csv") | Some("npy")) {
        let shown = args.output.as_ref().map_or(String::new(), |o| o.display().to_string());
        return Err(minibatch::Error::invalid("--output", shown, "a file ending in .csv or .npy"));
    }
    if let (Some(path), Some("npy")) = (&args.output, extension.as_deref()) {
        // The rows' file beside it is an output too: never one of the inputs.
        super::checks::Files::default()
            .input("--model", Some(&input.model))
            .input("--data", Some(std::path::Path::new(&input.data)))
            .output("--output", Some(path.with_extension("rows.npy")))
            .check()?;
    }
    if input.labels.is_some() {
        return Err(minibatch::Error::invalid(
            "--labels",
            "given to predict",
            "no labels: predict reads --data x.npy alone",
        ));
    }
    let mut model = Model::load(&input.model)?;
    let (p, rows, what, files) = match minibatch::data::Source::parse(&input.data) {
        minibatch::data::Source::Npy(_) => {
            let (p, rows, what) = predict_mapped(&mut model, input)?;
            (p, rows, what, None)
        }
        minibatch::data::Source::ImageFolder(dir) if !io::has_class_folders(dir)? => {
            predict_images(&mut model, input, dir)?
        }
        minibatch::data::Source::TextFile(path) => predict_texts(&mut model, input, path)?,
        minibatch::data::Source::TextFolder(dir) if !io::has_class_folders(dir)? => {
            predict_texts(&mut model, input, dir)?
        }
        source => {
            let chosen = data::select(&model, input, true)?;
            let x = data::shaped_for(&model, chosen.x)?;
            // An image folder's rows are its files: named beside their predictions.
            let files = match source {
                minibatch::data::Source::ImageFolder(dir) => {
                    let listing = io::list_image_folder(dir, Some(&data::class_names(&model)))?;
                    Some(chosen.rows.iter().map(|&r| file_name(dir, &listing.files[r])).collect())
                }
                _ => None,
            };
            (model.predict(&x, input.batch_size)?, chosen.rows, chosen.what, files)
        }
    };
    let chosen = Chosen { rows, what };
    let bytes = match extension.as_deref() {
        Some("npy") => io::write_npy(p.shape(), p.data()),
        _ => {
            let task = Task::of(&model);
            // A classifier's columns are its classes; several targets' are their label columns.
            let names = match &task {
                Some(t) if !t.is_classifier() => data::target_names(&model),
                _ => data::class_names(&model),
            };
            predictions_csv(&p, &chosen.rows, files.as_deref(), task.as_ref(), &names).into_bytes()
        }
    };
    match &args.output {
        Some(path) if extension.as_deref() == Some("npy") => {
            // An array has no row column: the rows' numbers in the source go beside it, in
            // P.rows.npy (int64), so each prediction can be matched to its input.
            let rows_path = path.with_extension("rows.npy");
            let mut rows = io::npy_preamble(&[chosen.rows.len()], "<i8");
            chosen.rows.iter().for_each(|&r| rows.extend_from_slice(&(r as i64).to_le_bytes()));
            minibatch::saving::write_atomic(path, &bytes)?;
            minibatch::saving::write_atomic(&rows_path, &rows)?;
            eprintln!(
                "Wrote {} predictions ({}) to {}, their rows' numbers in the source to {}",
                p.batch(),
                chosen.what,
                path.display(),
                rows_path.display()
            );
        }
        Some(path) => {
            minibatch::saving::write_atomic(path, &bytes)?;
            eprintln!("Wrote {} predictions ({}) to {}", p.batch(), chosen.what, path.display());
        }
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

/// The rows predicted: each one's number in the source, and what they are, in words.
struct Chosen {
    rows: Vec<usize>,
    what: String,
}

/// `--data x.npy`: the inputs read and predicted a batch at a time by 2 prefetching
/// workers (the rows of the split train recorded for the file, as `--split` says).
fn predict_mapped(model: &mut Model, input: &ModelAndData) -> Result<(Tensor, Vec<usize>, String)> {
    let (mut ds, rows, what) = data::mapped_dataset(model, input, None)?;
    let mut outputs = model.predict_dataset(&mut ds, minibatch::EvaluateOptions::new().workers(2))?;
    if outputs.len() > 1 {
        return Err(minibatch::Error::State(format!("the model has {} outputs: predict writes one", outputs.len())));
    }
    Ok((outputs.remove(0), rows, what))
}

/// A folder of images without class folders (Keras's `labels=None`): every image, sorted by
/// name, read at the size and in the colour mode the model was trained with, scaled to
/// [0, 1] as training scaled them; the predictions, the rows, what they are in words and each
/// row's file.
fn predict_images(model: &mut Model, input: &ModelAndData, dir: &std::path::Path) -> Result<Predicted> {
    whole_source_only(input, &format!("{} is a folder of images", dir.display()))?;
    let options = data::load_options(model, "", input.seed, &[], &[])?;
    let (x, files) = io::load_unlabelled_images(dir, &options)?;
    let x = data::shaped_for(model, x)?;
    let names = files.iter().map(|f| file_name(dir, f)).collect();
    let what = format!("the {} images of {}", x.batch(), dir.display());
    Ok((model.predict(&x, input.batch_size)?, (0..files.len()).collect(), what, Some(names)))
}

/// Refuses a `--split` other than all (or auto) for a source predicted whole, `what` saying
/// what it is: no split is recorded for unlabelled files.
fn whole_source_only(input: &ModelAndData, what: &str) -> Result<()> {
    if matches!(input.split, data::Split::Auto | data::Split::All) {
        return Ok(());
    }
    Err(minibatch::Error::invalid(
        "--split",
        format!("{:?}", input.split).to_lowercase(),
        format!("all (or auto): {what}, with no split recorded for it"),
    ))
}

/// `predict` on texts: a folder's `.txt` files (one text each, named by file) or a `.txt`
/// file's lines (numbered), vectorized as training did: the predictions, the rows, what they
/// are in words, and the files.
fn predict_texts(model: &mut Model, input: &ModelAndData, source: &std::path::Path) -> Result<Predicted> {
    whole_source_only(input, &format!("{} holds texts to predict", source.display()))?;
    let Some(vectorizer) = super::texts::of(model)? else {
        return Err(minibatch::Error::invalid(
            "--data",
            source.display(),
            "data of the kind the model was trained on: it was not trained on texts",
        ));
    };
    let (texts, files) = super::texts::read_for_predict(source)?;
    let x = vectorizer.call(&texts)?;
    let what = match &files {
        Some(_) => format!("the {} .txt files of {}", texts.len(), source.display()),
        None => format!("the {} lines of {}", texts.len(), source.display()),
    };
    Ok((model.predict(&x, input.batch_size)?, (0..texts.len()).collect(), what, files))
}

/// Predictions, each row's number in the source, what the rows are in words, and each row's
/// file for an image folder.
type Predicted = (Tensor, Vec<usize>, String, Option<Vec<String>>);

/// `file`'s path below the folder `dir` (`cats/1.png`), as the CSV's `file` column names it.
fn file_name(dir: &std::path::Path, file: &std::path::Path) -> String {
    file.strip_prefix(dir).unwrap_or(file).to_string_lossy().into_owned()
}

/// The predictions as CSV: each row's number in the source (`row`), its file for images
/// (`file`, quoted as RFC 4180 asks when it holds a comma or quote), then for a classifier the
/// predicted class (its name when the labels were names) and each class's probability
/// (`p_setosa` or `p_0`), for a regression model each output (`prediction`, or per target
/// `prediction_price` by `names`, else `prediction_0`, ...); values as C's `%.6g`.
pub fn predictions_csv(
    p: &Tensor,
    rows: &[usize],
    files: Option<&[String]>,
    task: Option<&Task>,
    names: &[String],
) -> String {
    let cols = p.row_len();
    let label = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let classifier = task.is_some_and(Task::is_classifier);
    let binary = matches!(task, Some(Task::Binary { outputs: 1, .. }));
    let mut header = vec!["row".to_string()];
    if files.is_some() {
        header.push("file".into());
    }
    if classifier {
        header.push("class".into());
        if binary {
            header.push(format!("p_{}", label(1)));
        } else {
            header.extend((0..cols).map(|c| format!("p_{}", label(c))));
        }
    } else if cols == 1 {
        header.push("prediction".into());
    } else {
        header.extend((0..cols).map(|c| format!("prediction_{}", label(c))));
    }
    let mut text = header.join(",") + "\n";
    for (i, (values, row)) in p.data().chunks(cols).zip(rows).enumerate() {
        text += &row.to_string();
        if let Some(file) = files.and_then(|f| f.get(i)) {
            text.push(',');
            text += &csv_field(file);
        }
        if classifier {
            let class = if binary { usize::from(values[0] > 0.5) } else { minibatch::tensor::kernels::argmax(values) };
            text.push(',');
            text += &label(class);
        }
        for v in values {
            text.push(',');
            text += &format_g(*v as f64, 6);
        }
        text.push('\n');
    }
    text
}

/// `text` as one CSV field: quoted, its quotes doubled, when it holds a comma, quote or line
/// break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `v` as C's `printf("%.{precision}g")`: `precision` significant digits, trailing zeros
/// dropped, in exponent form (`1.5e-07`) below 1e-4 or from 10^precision.
pub fn format_g(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let p = precision.max(1);
    // The exponent after rounding to p significant digits, as %e would print it.
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v))
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn formats_as_printf_g() {
        let cases: [(f64, &str); 12] = [
            (0.5, "0.5"),
            (1.0, "1"),
            (0.123456789, "0.123457"),
            (123456.7, "123457"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (-2.5, "-2.5"),
            (0.9999996, "1"),
            (999999.5, "1e+06"),
            (1e-300, "1e-300"),
            (0.0, "0"),
        ];
        for (v, text) in cases {
            assert_eq!(format_g(v, 6), text, "{v}");
        }
    }
}
