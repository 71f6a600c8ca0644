//! Reading data sets from files: MNIST-family IDX (raw or gzipped), CSV, NPY and NPZ.
//!
//! Every loader reads its file once, front to back, and checks what it reads against what the
//! file declares (magic numbers, header sizes, the file's length, CRCs). A truncated, corrupt
//! or inconsistent file gives an [`Error::Format`](crate::Error::Format) naming the file and the problem; a missing
//! or unreadable one an [`Error::Io`](crate::Error::Io).
//!
//! ```no_run
//! let mnist = minibatch::io::load_mnist("../shared/data/mnist").unwrap();
//! assert_eq!(mnist.x_train.shape(), &[60000, 28, 28]);
//! let (x, y) = minibatch::io::load_csv("iris.csv", "label").unwrap();
//! let (x, y) = minibatch::io::load_npz("data.npz").unwrap();
//! ```

pub(crate) mod atomic;
pub(crate) mod csv;
pub(crate) mod file;
pub(crate) mod idx;
pub(crate) mod images;
mod labels;
pub(crate) mod npy;
pub(crate) mod npz;
pub mod protobuf;
pub mod tfevents;
pub(crate) mod zip;

pub use self::csv::{check_csv_columns, check_delimiter, csv_header, label_columns, parse_delimiter, MAX_LINE_BYTES};
// Tables and sources (a CSV's category columns encoded, a source dispatched by its name) are
// `data`'s; their paths stay here.
pub use crate::data::source::{load, load_npz_split, load_unlabelled_images, load_with, LoadOptions, Loaded};
pub use crate::data::table::{
    load_csv, load_csv_classes, load_csv_features, load_csv_features_only, load_csv_features_with, load_csv_table,
    load_csv_table_with, Categories, CsvOptions, CsvTable, MAX_CATEGORIES,
};
pub use atomic::{is_temp_file, remove_stale_temp_files, write_atomic};
pub use file::{open_regular, regular_file};
pub use idx::{load_mnist, read_idx, IdxArray};
pub use labels::{num_classes, MAX_CLASSES};

pub use images::{
    has_class_folders, list_image_folder, load_image_folder, load_images, ColorMode, ImageFolder, ImageListing,
    MAX_PIXELS,
};
pub use npy::{holds_u8_images, npy_preamble, parse_npy, write_npy, Dtype, NpyArray, NpyHeader};
pub use npz::{load_npz, read_npz, write_npz};
