//! The data the commands read: sources, test splits, and the shapes models take.

use super::checks::{self, Files};
use clap::Args;
use minibatch::data::Source;
use minibatch::{io, Model, Result, Tensor};
use std::path::Path;

/// Which rows of `--data` evaluate and predict use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// evaluate: the test split `train --test-split` recorded in the model when `--data` is the
    /// data it was drawn from; else the source's own test split (built-in sets, mnist:DIR, an
    /// NPZ with x_test); else every row. predict: every row of a file, in the file's order
    /// (the source's own test split for a source that has one).
    Auto,
    /// The held-out rows: the recorded split, or the source's own test split.
    Test,
    /// The rows trained on: the other side of the recorded split, or the source's own
    /// training split.
    Train,
    /// Every row.
    All,
}

/// What evaluate and predict share: the model file and the data.
#[derive(Args)]
pub struct ModelAndData {
    /// A model file written by `train --save` (or `Model::save`).
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// Data, as for train: a built-in set, mnist:DIR, FILE.csv or FILE.npz (predict reads a
    /// CSV without its label column too).
    #[arg(long)]
    pub data: String,
    /// Which rows of --data: the held-out test rows, the training rows, all of them, or auto
    /// (evaluate: the test split train --test-split recorded in the model for this data, else
    /// the source's own test split, else all rows; predict: every row of a file in its order,
    /// or a source's own test split).
    #[arg(long, value_enum, default_value_t = Split::Auto)]
    pub split: Split,
    /// The CSV column holding the labels [default: the one train read, recorded in the model,
    /// else "label"].
    #[arg(long)]
    pub label_column: Option<String>,
    /// The CSV's field delimiter: , ; | or tab [default: the one train read, recorded in the
    /// model, else ,].
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The labels of `--data x.npy` in an NPY file, for evaluate: the inputs are read a batch at
    /// a time, as `train --labels` read them (predict reads `--data x.npy`
    /// alone, a batch at a time too).
    #[arg(long)]
    pub labels: Option<std::path::PathBuf>,
    /// Seed of a built-in data set (as given to train).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per forward pass (1 to 16777216).
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
}

/// The test split `train --test-split` drew, as recorded in the saved model (metadata
/// `test_split`): enough to find the same rows again, and to know the data for the same.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedSplit {
    /// `--data` as given to train.
    pub source: String,
    /// Rows the split was drawn from.
    pub rows: usize,
    /// The fraction held out.
    pub fraction: f64,
    /// The shuffle's seed.
    pub seed: u64,
    /// Rows held out.
    pub test_rows: usize,
    /// A fingerprint of the data: CRC-32 of a file's bytes, or of a folder's (an image
    /// folder's, `mnist:DIR`'s) file names, sizes and first and last bytes; none for a
    /// built-in set.
    pub crc32: Option<u32>,
    /// `source` resolved (`.`, `..` and links followed; the folder of `mnist:DIR`), when it
    /// names a path: the same data however it is spelled.
    #[serde(default)]
    pub path: Option<String>,
}

impl RecordedSplit {
    /// The split `train --test-split fraction --seed seed` draws from `rows` rows of `source`.
    pub fn new(source: &str, rows: usize, fraction: f64, seed: u64) -> Result<Self> {
        let (_, test) = minibatch::datasets::train_test_rows(rows, fraction, seed)?;
        Ok(RecordedSplit {
            source: source.into(),
            rows,
            fraction,
            seed,
            test_rows: test.len(),
            crc32: fingerprint(source)?,
            path: resolved(source),
        })
    }

    /// The split recorded in `model`, if any.
    pub fn of(model: &Model) -> Option<Self> {
        serde_json::from_value(model.metadata().get("test_split")?.clone()).ok()
    }

    /// Whether `source` is the data this split was drawn from: the same bytes (wherever the
    /// file or folder now is), or the same built-in set.
    fn matches(&self, source: &str) -> Result<bool> {
        Ok(match self.crc32 {
            Some(crc) => fingerprint(source)? == Some(crc),
            None => self.source == source,
        })
    }

    /// Whether `source` names the place the split was drawn from, however it is spelled.
    fn same_place(&self, source: &str) -> bool {
        self.source == source || (self.path.is_some() && self.path == resolved(source))
    }
}

/// The path `source` names: the folder of `mnist:DIR`, else the text as a path.
fn source_path(source: &str) -> &Path {
    match Source::parse(source) {
        Source::Mnist(dir) => dir,
        _ => Path::new(source),
    }
}

/// The path `source` names (the folder of `mnist:DIR`), resolved, if it exists.
fn resolved(source: &str) -> Option<String> {
    let path = source_path(source);
    Some(path.canonicalize().ok()?.to_string_lossy().into_owned())
}

/// A data source's fingerprint (see [`RecordedSplit::crc32`]); `None` for a built-in set.
fn fingerprint(source: &str) -> Result<Option<u32>> {
    let path = source_path(source);
    let mut hasher = crc32fast::Hasher::new();
    if path.is_dir() {
        folder_fingerprint(path, path, 0, &mut hasher)?;
        return Ok(Some(hasher.finalize()));
    }
    if !path.is_file() {
        return Ok(None);
    }
    // Streamed: a data file may be larger than memory.
    let mut file = io::open_regular(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let read = std::io::Read::read(&mut file, &mut buf).map_err(|e| minibatch::Error::io(path, &e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buf[..read]);
    }
    Ok(Some(hasher.finalize()))
}

/// Adds to `hasher` every entry under `dir` (sorted; three levels at most, as deep as an image
/// folder's class folders go): its path below `root`, and for a file its size and its first
/// and last 4 KiB. Cheap for a folder of any size, and it changes when a file moves to
/// another class, is renamed, added, removed, or rewritten at another size or with another
/// header or end.
fn folder_fingerprint(root: &Path, dir: &Path, depth: usize, hasher: &mut crc32fast::Hasher) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| minibatch::Error::io(dir, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry.strip_prefix(root).unwrap_or(&entry).to_string_lossy().into_owned();
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        let Ok(meta) = std::fs::metadata(&entry) else { continue };
        if meta.is_dir() && depth < 2 {
            folder_fingerprint(root, &entry, depth + 1, hasher)?;
        } else if meta.is_file() {
            let len = meta.len();
            hasher.update(&len.to_le_bytes());
            let file = std::fs::File::open(&entry).map_err(|e| minibatch::Error::io(&entry, &e))?;
            let mut block = [0u8; 4096];
            for at in [0, len.saturating_sub(4096)] {
                let n = (len - at).min(4096) as usize;
                file.read_exact_at(&mut block[..n], at).map_err(|e| minibatch::Error::io(&entry, &e))?;
                hasher.update(&block[..n]);
            }
        }
    }
    Ok(())
}

/// How to read data for `model`: its class names, and the image size and colour mode it was
/// trained with on an image folder (recorded by `train`).
pub fn load_options<'a>(
    model: &Model,
    label_column: &'a str,
    seed: u64,
    names: &'a [String],
    categories: &'a [(String, minibatch::layers::StringLookup)],
) -> Result<io::LoadOptions<'a>> {
    let meta = model.metadata();
    let image_size = meta.get("image_size").and_then(|v| serde_json::from_value::<(usize, usize)>(v.clone()).ok());
    let color_mode = match meta.get("color_mode").and_then(|v| v.as_str()) {
        Some(name) => io::ColorMode::from_name(name)?,
        None => io::ColorMode::Rgb,
    };
    let categories = Some(categories).filter(|c| !c.is_empty());
    Ok(io::LoadOptions {
        label_column,
        seed,
        classes: Some(names),
        image_size,
        color_mode,
        categories,
        columns: None,
        delimiter: b',',
        text: None,
    })
}

/// The CSV delimiter: `--delimiter`, else the one `train` read (metadata `csv_delimiter`),
/// else a comma.
///
/// # Errors
/// As [`io::parse_delimiter`].
pub fn delimiter(model: &Model, input: &ModelAndData) -> Result<u8> {
    match &input.delimiter {
        Some(text) => io::parse_delimiter(text),
        None => match model.metadata().get("csv_delimiter").and_then(serde_json::Value::as_str) {
            Some(text) => io::parse_delimiter(text),
            None => Ok(b','),
        },
    }
}

/// The string columns a model was trained with and their lookups (`train` on a CSV with
/// string columns records them).
pub fn string_columns(model: &Model) -> io::Categories {
    model.metadata().get("string_columns").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// `--image-size` as (height, width): `28x28`, `28,28` or one number for both.
pub fn image_size(flag: &'static str, text: &str) -> Result<(usize, usize)> {
    let parts: Vec<&str> = text.split(['x', 'X', ',']).map(str::trim).collect();
    let sides: Option<Vec<usize>> =
        parts.iter().map(|p| p.parse().ok().filter(|&v: &usize| (1..=16_384).contains(&v))).collect();
    match sides.as_deref() {
        Some(&[side]) => Ok((side, side)),
        Some(&[h, w]) => Ok((h, w)),
        _ => Err(minibatch::Error::invalid(flag, text, "HEIGHTxWIDTH such as 28x28, each from 1 to 16384")),
    }
}

/// The class names a model recorded (`train` on a CSV whose labels are names).
pub fn class_names(model: &Model) -> Vec<String> {
    model.metadata().get("class_names").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// The rows evaluate or predict use: inputs, labels (when the source has them), each row's
/// number in the source, and what they are, in words.
pub struct Selected {
    pub x: Tensor,
    pub y: Option<Tensor>,
    /// Each row's place: in the file for a recorded split or a whole file; within the chosen
    /// part of a source with its own test split (all: the training rows, then the test rows).
    pub rows: Vec<usize>,
    pub what: String,
}

/// The split `train --test-split` recorded in `model`, when it applies to `source` (the same
/// bytes, or the same built-in set or folder); `None` when there is none, the data is another,
/// or it changed and every row is asked for.
///
/// # Errors
/// `source` is the file train used but its bytes changed, and `split` asks for train's rows.
/// `predicting` under [`Split::Auto`]: never a recorded split (predict's rows are its input's).
fn recorded_split(model: &Model, source: &str, split: Split, predicting: bool) -> Result<Option<RecordedSplit>> {
    // predict writes one row per input, in the input's order, unless the split is asked for.
    if predicting && split == Split::Auto {
        return Ok(None);
    }
    let Some(r) = RecordedSplit::of(model) else { return Ok(None) };
    if r.matches(source)? {
        return Ok(Some(r));
    }
    if r.same_place(source) && split != Split::All {
        return Err(minibatch::Error::State(format!(
            "{source} has changed since the model was trained on it (its bytes differ): the test rows \
             train held out cannot be found again; give --split all to use every row"
        )));
    }
    Ok(None)
}

/// The rows of `n` in a recorded split's source that `split` names, and what they are, in
/// words.
///
/// # Errors
/// `n` is not the number of rows the split was drawn from.
fn recorded_rows(r: &RecordedSplit, source: &str, split: Split, n: usize) -> Result<(Vec<usize>, String)> {
    if n != r.rows {
        return Err(minibatch::Error::State(format!(
            "the model's test split was drawn from {} rows of {}; {source} has {n}: its test rows cannot \
             be found again",
            r.rows, r.source
        )));
    }
    let (train, test) = minibatch::datasets::train_test_rows(r.rows, r.fraction, r.seed)?;
    let of = |f: f64| format!("seed {}, {} of the {} rows of {source}", r.seed, f, r.rows);
    Ok(match split {
        Split::Auto | Split::Test => (test, format!("the test rows train held out ({})", of(r.fraction))),
        Split::Train => {
            let rest = ((1.0 - r.fraction) * 1e6).round() / 1e6;
            (train, format!("the rows train trained on ({})", of(rest)))
        }
        Split::All => ((0..r.rows).collect(), format!("all rows of {source}")),
    })
}

/// `--data x.npy` (and `labels` for evaluate; predict gives none) read a batch at a time: the rows
/// `input.split` names for `model` (those of the split train recorded for this file, else all
/// of them), each row's number in the file, and what they are, in words.
///
/// # Errors
/// As [`minibatch::data::NpyDataset::open`]; as [`recorded_split`] and [`recorded_rows`].
pub fn mapped_dataset(
    model: &Model,
    input: &ModelAndData,
    labels: Option<&Path>,
) -> Result<(minibatch::data::NpyDataset, Vec<usize>, String)> {
    let source = input.data.as_str();
    let mut data = minibatch::data::NpyDataset::open(source, labels, input.batch_size)?;
    // Images of [height, width] for a model that takes [height, width, 1], as train served them.
    let takes_channel =
        model.input_shapes().and_then(|s| s.first().map(|s| s.len() == 3 && s[2] == 1)).unwrap_or(false);
    if takes_channel {
        data = data.with_channel_axis();
    }
    let n = data.samples();
    match recorded_split(model, source, input.split, labels.is_none())? {
        Some(r) => {
            let (rows, what) = recorded_rows(&r, source, input.split, n)?;
            Ok((data.rows(rows.clone())?, rows, what))
        }
        None => Ok((data, (0..n).collect(), format!("all rows of {source}"))),
    }
}

/// The CSV label column: `--label-column`, else the one `train` read (metadata
/// `label_column`), else `label`.
pub fn label_column(model: &Model, input: &ModelAndData) -> String {
    input.label_column.clone().unwrap_or_else(|| trained_label(model))
}

/// The CSV header `train` recorded in `model` (metadata `csv_columns`), if any.
pub fn csv_columns(model: &Model) -> Option<Vec<String>> {
    serde_json::from_value(model.metadata().get("csv_columns")?.clone()).ok()
}

/// The names of a regression's targets, when `train` read several label columns (`--label-column
/// price,rent`): one per model output.
pub fn target_names(model: &Model) -> Vec<String> {
    let label = trained_label(model);
    match csv_columns(model) {
        Some(header) => io::label_columns(&header, &label).into_iter().map(|c| header[c].clone()).collect(),
        None => Vec::new(),
    }
}

/// The label column `train` read (metadata `label_column`; `label` for a model saved before
/// it was recorded).
fn trained_label(model: &Model) -> String {
    model.metadata().get("label_column").and_then(serde_json::Value::as_str).unwrap_or("label").to_string()
}

/// The feature columns the model was trained on, in training's order: the CSV header `train`
/// recorded, less its label column.
pub fn trained_features(model: &Model) -> Option<Vec<String>> {
    let header = csv_columns(model)?;
    let labels = io::label_columns(&header, &trained_label(model));
    Some(header.into_iter().enumerate().filter(|(i, _)| !labels.contains(i)).map(|(_, c)| c).collect())
}

/// A CSV `source` holds the feature columns the model was trained on, in any order (see
/// [`io::check_csv_columns`]).
///
/// # Errors
/// As [`io::check_csv_columns`].
pub fn check_columns(model: &Model, source: &str, label_column: &str, delimiter: u8) -> Result<()> {
    match csv_columns(model) {
        Some(expected) if matches!(Source::parse(source), Source::Csv(_)) => io::check_csv_columns(
            Path::new(source),
            &io::csv_header(source, delimiter)?,
            &expected,
            label_column,
            &trained_label(model),
        ),
        _ => Ok(()),
    }
}

/// A source's inputs, labels (when read) and own test split (when it has one).
type Read = (Tensor, Option<Tensor>, Option<(Tensor, Tensor)>);

/// The rows of `input.data` that `input.split` names for `model` (labels read as its class
/// names number them). `features_only` for predict: a CSV is read without its labels (a file
/// without its label column), and [`Split::Auto`] means every row in the file's order.
pub fn select(model: &Model, input: &ModelAndData, features_only: bool) -> Result<Selected> {
    let source = input.data.as_str();
    let names = class_names(model);
    let categories = string_columns(model);
    let label_column = label_column(model, input);
    let delimiter = delimiter(model, input)?;
    check_columns(model, source, &label_column, delimiter)?;
    // A CSV's features are read by name, in training's order, wherever the file has them.
    let columns = trained_features(model);
    // A forecaster's windows hold the target column's past: it is read for predict too.
    let window = super::windows::Window::of(model);
    // A text model reads a class folder through the vectorizer it was trained with.
    let vectorizer = super::texts::of(model)?;
    let load = || -> Result<Read> {
        if features_only && window.is_none() && matches!(Source::parse(source), Source::Csv(_)) {
            let given = Some(&categories[..]).filter(|c| !c.is_empty());
            let csv = io::CsvOptions {
                label_column: &label_column,
                delimiter,
                categories: given,
                columns: columns.as_deref(),
                classes: None,
            };
            return Ok((io::load_csv_features_only(source, &csv)?, None, None));
        }
        let options = io::LoadOptions {
            columns: columns.as_deref(),
            delimiter,
            text: vectorizer.as_ref(),
            ..load_options(model, &label_column, input.seed, &names, &categories)?
        };
        let d = io::load_with(source, &options)?;
        Ok((d.x, Some(d.y), d.test))
    };
    let recorded = recorded_split(model, source, input.split, features_only)?;
    let pick = |x: &Tensor, y: &Option<Tensor>, rows: Vec<usize>, what: String| Selected {
        x: x.select_rows(&rows),
        y: y.as_ref().map(|y| y.select_rows(&rows)),
        rows,
        what,
    };
    let (x, y, own_test) = load()?;
    if let (Some(window), Some(y)) = (window, &y) {
        // predict: every window, the last forecasts past the file's end; evaluate: those
        // whose target is in the file.
        let w = window.apply(&x, y, features_only)?;
        let what = format!("the {} windows of {} rows of {source}", w.rows.len(), window.length);
        return Ok(Selected { x: w.x, y: w.y, rows: w.rows, what });
    }
    if let Some(r) = &recorded {
        let (rows, what) = recorded_rows(r, source, input.split, x.batch())?;
        return Ok(pick(&x, &y, rows, what));
    }
    // The whole of the loaded rows, moved rather than copied.
    fn all(x: Tensor, y: Option<Tensor>, what: String) -> Selected {
        Selected { rows: (0..x.batch()).collect(), x, y, what }
    }
    match (input.split, own_test) {
        (Split::Auto | Split::Test, Some((tx, ty))) => Ok(Selected {
            rows: (0..tx.batch()).collect(),
            x: tx,
            y: Some(ty),
            what: format!("the test split of {source}"),
        }),
        (Split::Train, Some(_)) => Ok(all(x, y, format!("the training split of {source}"))),
        (Split::All, Some((tx, ty))) => {
            let y = y.as_ref().expect("labelled");
            Ok(Selected {
                rows: (0..x.batch() + tx.batch()).collect(),
                x: Tensor::concat_rows(&[&x, &tx])?,
                y: Some(Tensor::concat_rows(&[y, &ty])?),
                what: format!("all of {source}, training and test splits"),
            })
        }
        (Split::Auto | Split::All, None) => Ok(all(x, y, format!("all rows of {source}"))),
        (Split::Test | Split::Train, None) => Err(minibatch::Error::State(format!(
            "{source} has no test split of its own, and the model records none drawn from it (train \
             --test-split records one): give --split all to use every row"
        ))),
    }
}

/// Images of shape `(h, w)` as `(h, w, 1)`, as Keras's example adds the channel axis.
pub fn with_channel_axis(data: io::Loaded) -> Result<io::Loaded> {
    let add = |x: Tensor| -> Result<Tensor> {
        match x.shape() {
            [n, h, w] => {
                let shape = [*n, *h, *w, 1];
                x.reshape(&shape)
            }
            [_, _, _, _] => Ok(x),
            other => Err(minibatch::Error::shape(
                "data for --model convnet",
                "images: samples of shape (height, width) or (height, width, channels)",
                &other[1..],
            )),
        }
    };
    Ok(io::Loaded {
        x: add(data.x)?,
        y: data.y,
        test: match data.test {
            Some((x, y)) => Some((add(x)?, y)),
            None => None,
        },
        class_names: data.class_names,
        categories: data.categories,
    })
}

/// Images `(h, w)` given to a model saved for `(h, w, 1)` (as `train --model convnet` saves
/// it) get their channel axis; anything else is left for the model's own shape check.
pub fn shaped_for(model: &Model, x: Tensor) -> Result<Tensor> {
    match model.get_input_shape() {
        Some(&[h, w, 1]) if x.shape()[1..] == [h, w] => {
            let shape = [x.batch(), h, w, 1];
            x.reshape(&shape)
        }
        _ => Ok(x),
    }
}

/// What evaluate and predict check before any work: the batch size, and that `output` (under
/// `flag`) overwrites neither the model nor the data.
pub fn check_model_and_data(
    input: &ModelAndData,
    flag: &'static str,
    output: Option<&std::path::PathBuf>,
) -> Result<()> {
    checks::count("--batch-size", input.batch_size, 1, checks::MAX_BATCH)?;
    Files::default()
        .input("--model", Some(&input.model))
        .input("--data", Some(Path::new(&input.data)))
        .input("--labels", input.labels.as_deref())
        .output(flag, output.cloned())
        .check()
}

/// Whether `source` is a file of the user's (CSV, NPZ), whose numeric features the commands
/// standardize by default, rather than a built-in set or `mnist:DIR`.
pub fn is_file(source: &str) -> bool {
    Source::parse(source).is_table()
}

/// A Normalization adapted to `rows` of `x` (the rows training will learn from: never the
/// validation or test rows), and the sentence the command prints about it.
pub fn standardizer(x: &Tensor, rows: &[usize]) -> Result<(minibatch::layers::Normalization, String)> {
    let mut adapted = minibatch::layers::Normalization::new();
    adapted.adapt(&x.select_rows(rows))?;
    standardizer_from(&adapted, rows.len())
}

/// The command's Normalization from one adapted on `rows` training rows: a feature constant
/// over them is centred, not divided by Keras's floor of 1e-7 (a test row that differs would
/// become enormous): scikit-learn's StandardScaler rule.
pub fn standardizer_from(
    adapted: &minibatch::layers::Normalization,
    rows: usize,
) -> Result<(minibatch::layers::Normalization, String)> {
    let norm = centred_where_constant(adapted, minibatch::layers::Normalization::new())?;
    let note = format!(
        "features standardized (a Normalization layer adapted on the {rows} training rows; --no-standardize keeps them raw)"
    );
    Ok((norm, note))
}

/// `layer` given `adapted`'s statistics, a variance of 0 (a value constant over the training
/// rows) read as 1: that value is centred, not divided by Keras's floor of 1e-7 (a later row
/// that differs would become enormous), as scikit-learn's StandardScaler treats it.
fn centred_where_constant(
    adapted: &minibatch::layers::Normalization,
    layer: minibatch::layers::Normalization,
) -> Result<minibatch::layers::Normalization> {
    let variance: Vec<f32> = adapted.variance().iter().map(|&v| if v > 0.0 { v } else { 1.0 }).collect();
    layer.with_statistics(adapted.mean(), &variance)
}

/// An inverting Normalization holding the statistics of the targets `y` training learns from
/// (never the validation or test rows), to end a regression model with (see
/// [`super::model_spec::ModelSpec::unstandardize`]), and the sentence the command prints about
/// it. A target constant over the rows is centred only, as [`standardizer_from`]'s features.
pub fn target_scaler(y: &Tensor) -> Result<(minibatch::layers::Normalization, String)> {
    let mut adapted = minibatch::layers::Normalization::new();
    let columns = [y.batch(), y.row_len().max(1)];
    adapted.adapt(&y.clone().reshape(&columns)?)?;
    let back = minibatch::layers::Normalization::new().invert(true).name("unstandardize_targets");
    let back = centred_where_constant(&adapted, back)?;
    let stats: Vec<String> = back.mean().iter().zip(back.std()).map(|(m, s)| format!("mean {m}, std {s}")).collect();
    let note = format!(
        "targets standardized for training ({}; the loss is of standardized targets, predictions and metrics in \
         the targets' units; --no-standardize-targets keeps them raw)",
        stats.join("; ")
    );
    Ok((back, note))
}
