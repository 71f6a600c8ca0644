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

pub use self::csv::{check_csv_columns, csv_header, MAX_LINE_BYTES};
pub(crate) use self::csv::{csv_error, csv_reader};
// Tables and sources (a CSV's category columns encoded, a source dispatched by its name) are
// `data`'s; their paths stay here.
pub use crate::data::source::{load, load_with, LoadOptions, Loaded};
pub use crate::data::table::{
    load_csv, load_csv_classes, load_csv_features, load_csv_features_with, load_csv_table, Categories, CsvTable,
    MAX_CATEGORIES,
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
