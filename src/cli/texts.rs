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
use minibatch::data::{text_dataset_from_directory, TextDirectoryOptions};
use minibatch::layers::{TextOutput, TextVectorization};
use minibatch::{Error, Model, Result};

use std::path::{Path, PathBuf};

/// The metadata key of a text model's vectorizer.
const KEY: &str = "text_vectorization";

/// How `train` vectorizes texts (`--max-tokens`, `--sequence-length`, `--ngrams`), and which
/// rows it trains on (`--test-split` with `--seed`).
pub struct TextFlags {
    pub max_tokens: usize,
    pub sequence_length: usize,
    pub ngrams: usize,
    pub test_split: Option<f64>,
    pub seed: u64,
}

/// The vectorizer `train` builds for `--data dir` and `--model`, adapted to the texts the
/// training rows hold (those `--test-split` leaves, as `load_data` draws them).
pub fn adapted(args: &TextFlags, dir: &Path, architecture: Architecture) -> Result<TextVectorization> {
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

/// A folder's `.txt` files (one text each, with their names below it) or a `.txt` file's
/// lines, for `predict`.
///
/// # Errors
/// A file that cannot be read or is not UTF-8; a source holding no text.
pub fn read_for_predict(source: &Path) -> Result<(Vec<String>, Option<Vec<String>>)> {
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
    Ok((texts, files))
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
