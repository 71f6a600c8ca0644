//! A data source as the command names it (a built-in set, `mnist:DIR`, a `.csv` or `.npz`
//! file, a folder of class folders of images), loaded whole. (`io` re-exports it: the paths
//! are `minibatch::io::load`, `load_with`, `LoadOptions` and `Loaded`.)

use crate::error::{Error, Result};
use crate::io::idx::load_mnist;
use crate::io::images::{load_image_folder, ColorMode};
use crate::io::npz::read_npz_split;
use crate::tensor::Tensor;
use std::path::Path;

use super::table::{load_csv_table_with, Categories, CsvOptions};

/// Training data and, when the source has one, a test split.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Training inputs.
    pub x: Tensor,
    /// Training labels.
    pub y: Tensor,
    /// Held-out inputs and labels.
    pub test: Option<(Tensor, Tensor)>,
    /// The class names, when the labels were names (a CSV's `setosa`, `virginica`): label `i`
    /// is `class_names[i]`. Empty for numeric labels.
    pub class_names: Vec<String>,
    /// A CSV's string columns and their lookups (see [`load_csv_table`](super::table::load_csv_table)).
    pub categories: Categories,
}

/// Loads a data source as the command names it: a built-in data set (`spirals`, see
/// [`crate::datasets`]), `mnist:DIR` (an MNIST-family directory, with its test split), a `.csv`
/// file (labels in `label_column`) or a `.npz` file (arrays `x` and `y`, or Keras's
/// `x_train`, `y_train`, `x_test`, `y_test` with its test split), or a directory of class
/// folders of images (see [`load_image_folder`]; RGB, pixels scaled to `[0, 1]`). `seed` only matters
/// for the built-in sets.
///
/// # Errors
/// [`Error::UnknownName`] for a source that is none of these; any loader's error.
pub fn load(source: &str, label_column: &str, seed: u64) -> Result<Loaded> {
    load_with(source, &LoadOptions { label_column, seed, ..LoadOptions::default() })
}

/// How [`load_with`] reads a source beyond its name.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The CSV column holding the labels (or several, comma-separated: see
    /// [`CsvOptions::label_column`](crate::io::CsvOptions)).
    pub label_column: &'a str,
    /// The seed of a built-in data set.
    pub seed: u64,
    /// Class names that number a CSV's named labels or an image folder's classes (a saved
    /// model's); else they are found in the data, sorted.
    pub classes: Option<&'a [String]>,
    /// An image folder's images resized to (height, width); else they must share one size.
    pub image_size: Option<(usize, usize)>,
    /// An image folder's channels.
    pub color_mode: ColorMode,
    /// A CSV's string columns' lookups (a saved model's), by column name.
    pub categories: Option<&'a [(String, crate::layers::StringLookup)]>,
    /// A CSV's feature columns by name, in this order (a saved model's training header; the
    /// label column skipped), wherever the file has them; else in the file's order.
    pub columns: Option<&'a [String]>,
    /// A CSV's delimiter (`b','` by default).
    pub delimiter: u8,
    /// A text folder's vectorizer (a saved model's, or one adapted to the training texts):
    /// each text becomes its output row.
    pub text: Option<&'a crate::layers::TextVectorization>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            label_column: "label",
            seed: 0,
            classes: None,
            image_size: None,
            color_mode: ColorMode::Rgb,
            categories: None,
            columns: None,
            delimiter: b',',
            text: None,
        }
    }
}

/// [`load`] with [`LoadOptions`]: a CSV's label names or a folder's classes numbered as
/// `classes` numbers them (see [`load_csv_classes`](super::table::load_csv_classes)), an image folder read in `color_mode` at
/// `image_size`.
///
/// # Errors
/// As [`load`].
pub fn load_with(source: &str, options: &LoadOptions<'_>) -> Result<Loaded> {
    let (label_column, classes) = (options.label_column, options.classes);
    let split = |d: crate::datasets::TrainTest| Loaded {
        x: d.x_train,
        y: d.y_train,
        test: Some((d.x_test, d.y_test)),
        class_names: Vec::new(),
        categories: Vec::new(),
    };
    match Source::parse(source) {
        Source::Mnist(dir) => Ok(split(load_mnist(dir)?)),
        Source::Csv(path) => {
            let csv = CsvOptions {
                label_column,
                delimiter: options.delimiter,
                classes,
                categories: options.categories,
                columns: options.columns,
            };
            let t = load_csv_table_with(path, &csv)?;
            Ok(Loaded { x: t.x, y: t.y, test: None, class_names: t.class_names, categories: t.categories })
        }
        Source::Npz(path) => load_npz_split(path),
        Source::ImageFolder(dir) => {
            // One sub-folder per class, pixels scaled to [0, 1] as the other image loaders here
            // scale them.
            let f = load_image_folder(dir, options.color_mode, options.image_size, classes)?;
            Ok(Loaded { x: to_unit(f.x), y: f.y, test: None, class_names: f.class_names, categories: Vec::new() })
        }
        Source::TextFolder(dir) => {
            let Some(text) = options.text else {
                return Err(Error::State(format!(
                    "{} holds texts: they need a TextVectorization to become numbers (the command's train adapts one)",
                    dir.display()
                )));
            };
            let read = super::TextDirectoryOptions {
                shuffle: false,
                class_names: classes.map(<[String]>::to_vec),
                ..super::TextDirectoryOptions::default()
            };
            let folder = super::text_dataset_from_directory(dir, &read)?;
            let (x, y) = (text.call(&folder.texts)?, folder.label_tensor()?);
            Ok(Loaded { x, y, test: None, class_names: folder.class_names, categories: Vec::new() })
        }
        Source::TextFile(path) => Err(Error::format(
            path,
            "holds texts without labels (one per line): predict reads it; train and evaluate read a folder of class folders of .txt files",
        )),
        Source::Builtin(name) => Ok(split(crate::datasets::load(name, options.seed)?)),
        Source::Npy(_) | Source::Unknown(_) => Err(Error::UnknownName {
            kind: "data source",
            name: source.into(),
            known: vec![
                "exam",
                "spirals",
                "moons",
                "blobs",
                "mnist:DIR",
                "FILE.csv",
                "FILE.npz",
                "DIR of class folders (images or .txt files)",
            ],
        }),
    }
}

/// Reads an NPZ as Keras's `keras.datasets` archives store a data set — `x_train`, `y_train`
/// and, when there, `x_test`, `y_test` (`mnist.npz`) — or else as `x` and `y` with no test
/// split. Scaled and shaped as [`load_npz`](crate::io::load_npz).
///
/// # Errors
/// As [`load_npz`](crate::io::load_npz); a test split with only one of `x_test` and `y_test`.
pub fn load_npz_split(path: impl AsRef<Path>) -> Result<Loaded> {
    let (train, test) = read_npz_split(path.as_ref())?;
    Ok(Loaded { x: train.0, y: train.1, test, class_names: Vec::new(), categories: Vec::new() })
}

/// A data source as the command names it, parsed once: every place that reads a source by
/// its name dispatches on this rather than on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// A generated set: `exam`, `spirals`, `moons`, `blobs`.
    Builtin(&'a str),
    /// `mnist:DIR`: an MNIST-family folder of IDX files, with its test split.
    Mnist(&'a Path),
    /// A `.csv` file with a header row.
    Csv(&'a Path),
    /// A `.npz` archive (`x`, `y`, or Keras's `x_train` … `y_test`).
    Npz(&'a Path),
    /// A `.npy` array (inputs read a batch at a time, with their labels in another `.npy`).
    Npy(&'a Path),
    /// A folder of class folders of images.
    ImageFolder(&'a Path),
    /// A folder of `.txt` files: class folders of them (Keras's `text_dataset_from_directory`),
    /// or the files alone (texts to predict).
    TextFolder(&'a Path),
    /// A `.txt` file: one text per line (texts to predict).
    TextFile(&'a Path),
    /// None of these: an unknown name.
    Unknown(&'a str),
}

impl<'a> Source<'a> {
    /// What `text` names: `mnist:` first, then the file extension (any case), then a folder,
    /// then a built-in set's name.
    pub fn parse(text: &'a str) -> Source<'a> {
        if let Some(dir) = text.strip_prefix("mnist:") {
            return Source::Mnist(Path::new(dir));
        }
        let path = Path::new(text);
        match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
            Some("csv") => return Source::Csv(path),
            Some("npz") => return Source::Npz(path),
            Some("npy") => return Source::Npy(path),
            Some("txt") => return Source::TextFile(path),
            _ => {}
        }
        if path.is_dir() {
            return if holds_text(path) { Source::TextFolder(path) } else { Source::ImageFolder(path) };
        }
        if crate::datasets::NAMES.contains(&text) {
            return Source::Builtin(text);
        }
        Source::Unknown(text)
    }

    /// A file of the user's whose numeric features the commands standardize by default (a
    /// CSV or NPZ), rather than a built-in set, MNIST or images.
    pub fn is_table(&self) -> bool {
        matches!(self, Source::Csv(_) | Source::Npz(_))
    }
}

/// Whether `dir` is a folder of texts rather than of images: it holds `.txt` files, in it or
/// in its sub-folders, and no images (an image folder with a stray `notes.txt` stays an image
/// folder). An unreadable folder is left to the image loader to name.
fn holds_text(dir: &Path) -> bool {
    let has = |p: &Path, exts: &[&str]| p.extension().is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)));
    // Unsorted, and stopping at the first image: `Source::parse` runs often, and an image
    // folder's first class folder shows an image at once.
    let listed = |d: &Path| std::fs::read_dir(d).into_iter().flatten().flatten().map(|e| e.path());
    let mut texts = false;
    for p in listed(dir) {
        let inner: Box<dyn Iterator<Item = std::path::PathBuf>> =
            if p.is_dir() { Box::new(listed(&p)) } else { Box::new(std::iter::once(p)) };
        for q in inner {
            if has(&q, &crate::io::images::EXTENSIONS) {
                return false;
            }
            texts |= has(&q, &["txt"]);
        }
    }
    texts
}

/// Pixels of 0..255 scaled to `[0, 1]`, as every image loader here gives them.
fn to_unit(mut x: Tensor) -> Tensor {
    x.data_mut().iter_mut().for_each(|v| *v /= 255.0);
    x
}

/// The images directly in `dir` (Keras's `labels=None`: new images to predict), sorted by
/// name and scaled as an image folder's (see [`load_with`]), with each one's file.
///
/// # Errors
/// As [`crate::io::load_images`].
pub fn load_unlabelled_images(dir: &Path, options: &LoadOptions) -> Result<(Tensor, Vec<std::path::PathBuf>)> {
    let (x, files) = crate::io::images::load_images(dir, options.color_mode, options.image_size)?;
    Ok((to_unit(x), files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_parsed_once_by_its_name() {
        assert_eq!(Source::parse("mnist:../data/mnist"), Source::Mnist(Path::new("../data/mnist")));
        assert_eq!(Source::parse("iris.CSV"), Source::Csv(Path::new("iris.CSV")));
        assert_eq!(Source::parse("d.npz"), Source::Npz(Path::new("d.npz")));
        assert_eq!(Source::parse("x.npy"), Source::Npy(Path::new("x.npy")));
        assert_eq!(Source::parse("spirals"), Source::Builtin("spirals"));
        assert_eq!(Source::parse("Spirals"), Source::Unknown("Spirals"), "names are exact, as datasets::load's");
        let dir = std::env::temp_dir();
        let text = dir.to_string_lossy();
        assert_eq!(Source::parse(&text), Source::ImageFolder(dir.as_path()));
        assert!(Source::parse("a.csv").is_table() && Source::parse("a.npz").is_table());
        assert!(!Source::parse("spirals").is_table() && !Source::parse("mnist:x").is_table());
        let e = load("nope", "label", 0).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("mnist:DIR"), "{e}");
    }
}
