//! Reading data sets from files: MNIST-family IDX (raw or gzipped), CSV, NPY and NPZ.
//!
//! Every loader reads its file once, front to back, and checks what it reads against what the
//! file declares (magic numbers, header sizes, the file's length, CRCs). A truncated, corrupt
//! or inconsistent file gives an [`Error::Format`] naming the file and the problem; a missing
//! or unreadable one an [`Error::Io`].
//!
//! ```no_run
//! let mnist = minibatch::io::load_mnist("../shared/data/mnist").unwrap();
//! assert_eq!(mnist.x_train.shape(), &[60000, 28, 28]);
//! let (x, y) = minibatch::io::load_csv("iris.csv", "label").unwrap();
//! let (x, y) = minibatch::io::load_npz("data.npz").unwrap();
//! ```

mod atomic;
mod csv;
mod idx;
mod images;
mod npy;
mod npz;

pub(crate) use self::csv::csv_reader;
pub use self::csv::{
    check_csv_columns, csv_header, load_csv, load_csv_classes, load_csv_features, load_csv_features_with,
    load_csv_table, Categories, CsvTable, MAX_CATEGORIES, MAX_LINE_BYTES,
};
pub use atomic::{is_temp_file, remove_stale_temp_files, write_atomic};
pub use idx::{load_mnist, read_idx, IdxArray};
pub(crate) use images::{check_size, decode_image, image_header};
pub use images::{list_image_folder, load_image_folder, ColorMode, ImageFolder, ImageListing, MAX_PIXELS};
pub use npy::{npy_preamble, parse_npy, write_npy, Dtype, NpyArray, NpyHeader};
pub use npz::{load_npz, load_npz_split, read_npz, write_npz};

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

/// Reads a whole file (a regular file: see [`open_regular`]).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_regular(path)?, &mut bytes).map_err(|e| Error::io(path, &e))?;
    Ok(bytes)
}

/// Refuses anything but a regular file (or a link to one): a FIFO blocks its reader forever,
/// a device such as `/dev/zero` never ends.
///
/// # Errors
/// [`Error::Io`] for a path that cannot be examined; [`Error::Format`] naming what it is.
pub fn regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a folder" } else { "not a regular file (a FIFO, a device or a socket)" };
    Err(Error::format(path, format!("is {kind}: only regular files are read")))
}

/// Opens a regular file for reading (see [`regular_file`]).
///
/// # Errors
/// As [`regular_file`], and [`Error::Io`] when it cannot be opened.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    regular_file(path)?;
    std::fs::File::open(path).map_err(|e| Error::io(path, &e))
}

/// The most classes [`num_classes`] accepts: the command builds one output per class, so a
/// label is a class index, not a quantity.
pub const MAX_CLASSES: usize = 1 << 20;

/// Number of classes in integer labels `y` (largest + 1).
///
/// # Errors
/// [`Error::Label`] naming the sample and the value for a label that is not a whole number
/// in `0..MAX_CLASSES` (a quantity such as 1e9, or a regression target, would otherwise size
/// an output layer of a billion units).
pub fn num_classes(y: &Tensor) -> Result<usize> {
    let mut max = 0.0f32;
    for (sample, &v) in y.data().iter().enumerate() {
        if !(v >= 0.0 && v.fract() == 0.0 && (v as f64) < MAX_CLASSES as f64) {
            return Err(Error::Label {
                sample,
                label: v,
                expected: format!(
                    "class indices 0, 1, 2, ... below {MAX_CLASSES} (one output unit per class; \
                     a label is a class, not a quantity)"
                ),
            });
        }
        max = max.max(v);
    }
    Ok(max as usize + 1)
}

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
    /// A CSV's string columns and their lookups (see [`load_csv_table`]).
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
    /// The CSV column holding the labels.
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
        }
    }
}

/// [`load`] with [`LoadOptions`]: a CSV's label names or a folder's classes numbered as
/// `classes` numbers them (see [`load_csv_classes`]), an image folder read in `color_mode` at
/// `image_size`.
///
/// # Errors
/// As [`load`].
pub fn load_with(source: &str, options: &LoadOptions<'_>) -> Result<Loaded> {
    let (label_column, seed, classes) = (options.label_column, options.seed, options.classes);
    let lower = source.to_ascii_lowercase();
    let class_names = Vec::new();
    if let Some(dir) = source.strip_prefix("mnist:") {
        let d = load_mnist(dir)?;
        return Ok(Loaded {
            x: d.x_train,
            y: d.y_train,
            test: Some((d.x_test, d.y_test)),
            class_names,
            categories: Vec::new(),
        });
    }
    if lower.ends_with(".csv") {
        let t = load_csv_table(source, label_column, classes, options.categories)?;
        return Ok(Loaded { x: t.x, y: t.y, test: None, class_names: t.class_names, categories: t.categories });
    }
    if lower.ends_with(".npz") {
        return load_npz_split(source);
    }
    if Path::new(source).is_dir() {
        // An image folder, one sub-folder per class, pixels scaled to [0, 1] as the other image
        // loaders here scale them.
        let f = load_image_folder(source, options.color_mode, options.image_size, classes)?;
        let mut x = f.x;
        x.data_mut().iter_mut().for_each(|v| *v /= 255.0);
        return Ok(Loaded { x, y: f.y, test: None, class_names: f.class_names, categories: Vec::new() });
    }
    match crate::datasets::load(source, seed) {
        Ok(d) => Ok(Loaded {
            x: d.x_train,
            y: d.y_train,
            test: Some((d.x_test, d.y_test)),
            class_names,
            categories: Vec::new(),
        }),
        Err(_) => Err(Error::UnknownName {
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
                "DIR of class folders",
            ],
        }),
    }
}
