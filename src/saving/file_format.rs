//! [`FileFormat`]: which of the formats minibatch reads and writes a path names, by its
//! ending — the one place `load`, `save`, `load_weights`, `save_weights` and the command's
//! `convert` decide it.

use std::path::Path;

/// A model or weights file's format, by its name.
///
/// ```
/// use minibatch::saving::FileFormat;
/// use std::path::Path;
/// assert_eq!(FileFormat::of(Path::new("model.weights.h5")), Some(FileFormat::KerasWeights));
/// assert_eq!(FileFormat::of(Path::new("Model.KERAS")), Some(FileFormat::Keras));
/// assert_eq!(FileFormat::of(Path::new("model.txt")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// minibatch's own (`.safetensors`): a model, or weights alone.
    Safetensors,
    /// Keras 3's model file (`.keras`).
    Keras,
    /// Keras 3's weights file (`.weights.h5`, the ending Keras insists on).
    KerasWeights,
    /// Keras 2's model file, legacy HDF5 (`.h5` but not `.weights.h5`).
    Keras2,
}

impl FileFormat {
    /// The format `path`'s ending names (any case), or `None` for another ending.
    pub fn of(path: &Path) -> Option<FileFormat> {
        let name = path.to_string_lossy().to_lowercase();
        if name.ends_with(".weights.h5") {
            Some(FileFormat::KerasWeights)
        } else if name.ends_with(".h5") {
            Some(FileFormat::Keras2)
        } else if name.ends_with(".keras") {
            Some(FileFormat::Keras)
        } else if name.ends_with(".safetensors") {
            Some(FileFormat::Safetensors)
        } else {
            None
        }
    }
}
