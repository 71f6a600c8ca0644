//! `train --data DIR` where DIR holds class folders of `.txt` files: a text classifier, as
//! Keras's text-classification example builds one (`text_dataset_from_directory`, then a
//! `TextVectorization` adapted to the training texts).
//!
//! - `--model mlp` (the default): a bag of words. Each text becomes a multi-hot row over the
//!   `--max-tokens` most frequent words and `--ngrams` word pairs, then Dense layers.
//! - `--model lstm`: token ids padded or cut to `--sequence-length`, then
//!   `Embedding(mask_zero=True)`, `LSTM(128)` and the classes.
//!
//! The vectorizer is adapted to the training texts alone (never the `--test-split` ones) and
//! saved in the model (`"text_vectorization"` in its metadata). `evaluate` reads a class folder
//! through it. `predict` reads a folder of `.txt` files (one text each) or a `.txt` file (one
//! text per line).

use super::model_spec::Architecture;
use super::train_args::TrainArgs;
use minibatch::data::{text_dataset_from_directory, TextDirectoryOptions};
use minibatch::layers::{TextOutput, TextVectorization};
use minibatch::{Error, Model, Result};

use std::path::{Path, PathBuf};

/// The metadata key of a text model's vectorizer.
const KEY: &str = "text_vectorization";

/// The vectorizer `train` builds for `--data dir` and `--model`, adapted to the texts the
/// training rows hold (those `--test-split` leaves, as `load_data` draws them).
pub fn adapted(args: &TrainArgs, dir: &Path, architecture: Architecture) -> Result<TextVectorization> {
    let read = TextDirectoryOptions { shuffle: false, ..TextDirectoryOptions::default() };
    let folder = text_dataset_from_directory(dir, &read)?;
    let rows: Vec<usize> = match args.test_split {
        Some(fraction) => minibatch::datasets::train_test_rows(folder.texts.len(), fraction, args.seed)?.0,
        None => (0..folder.texts.len()).collect(),
    };
    let vectorizer = match architecture {
        Architecture::Mlp => TextVectorization::new().output_mode(TextOutput::MultiHot).ngrams(args.ngrams),
        Architecture::Lstm => TextVectorization::new().output_sequence_length(args.sequence_length).ngrams(args.ngrams),
        other => {
            return Err(Error::invalid(
                "--model",
                other.name(),
                "mlp (a bag of words) or lstm (token ids through an Embedding) for a folder of texts",
            ))
        }
    };
    let mut vectorizer = vectorizer.max_tokens(args.max_tokens);
    vectorizer.adapt(rows.iter().map(|&r| folder.texts[r].as_str()))?;
    Ok(vectorizer)
}

/// Records `vectorizer` in `model`, for `evaluate` and `predict`.
pub fn record(model: &mut Model, vectorizer: &TextVectorization) {
    model.set_metadata(KEY, serde_json::to_value(vectorizer).expect("plain values"));
}

/// The vectorizer `model` was trained with, if it reads texts.
///
/// # Errors
/// [`Error::Format`]-like refusal when the saved vectorizer is malformed.
pub fn of(model: &Model) -> Result<Option<TextVectorization>> {
    let Some(saved) = model.metadata().get(KEY) else { return Ok(None) };
    serde_json::from_value(saved.clone())
        .map(Some)
        .map_err(|e| Error::State(format!("the model's saved text_vectorization cannot be read: {e}")))
}

/// `predict` on texts: a folder's `.txt` files (one text each, named by file) or a `.txt`
/// file's lines (numbered), vectorized as training did: the predictions, the rows, what they
/// are in words, and the files.
pub fn predict_texts(
    model: &mut Model,
    input: &super::data::ModelAndData,
    source: &Path,
) -> Result<super::predict::Predicted> {
    if !matches!(input.split, super::data::Split::Auto | super::data::Split::All) {
        return Err(Error::invalid(
            "--split",
            format!("{:?}", input.split).to_lowercase(),
            format!("all (or auto): {} holds texts to predict, with no split recorded for it", source.display()),
        ));
    }
    let Some(vectorizer) = of(model)? else {
        return Err(Error::invalid(
            "--data",
            source.display(),
            "data of the kind the model was trained on: it was not trained on texts",
        ));
    };
    let (texts, files) = if source.is_dir() {
        let files = text_files(source)?;
        let texts = files.iter().map(|f| minibatch::data::read_text(f, None)).collect::<Result<Vec<_>>>()?;
        let names = files.iter().map(|f| f.strip_prefix(source).unwrap_or(f).display().to_string()).collect();
        (texts, Some(names))
    } else {
        let text = minibatch::data::read_text(source, None)?;
        (text.lines().map(str::to_string).collect::<Vec<_>>(), None)
    };
    if texts.is_empty() {
        return Err(Error::format(source, "holds no texts to predict"));
    }
    let x = vectorizer.call(&texts)?;
    let what = match &files {
        Some(_) => format!("the {} .txt files of {}", texts.len(), source.display()),
        None => format!("the {} lines of {}", texts.len(), source.display()),
    };
    Ok((model.predict(&x, input.batch_size)?, (0..texts.len()).collect(), what, files))
}

/// The `.txt` files directly in `dir`, sorted.
fn text_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, &e))? {
        let path = entry.map_err(|e| Error::io(dir, &e))?.path();
        if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
