//! A data source as the command names it (a built-in set, `mnist:DIR`, a `.csv` or `.npz`
//! file, a folder of class folders of images), loaded whole. (`io` re-exports it: the paths
//! are `minibatch::io::load`, `load_with`, `LoadOptions` and `Loaded`.)

use crate::error::{Error, Result};
use crate::io::{load_image_folder, load_mnist, load_npz_split, ColorMode};
use crate::tensor::Tensor;
use std::path::Path;

use super::table::{load_csv_table, Categories};

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
/// `classes` numbers them (see [`load_csv_classes`](super::table::load_csv_classes)), an image folder read in `color_mode` at
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
