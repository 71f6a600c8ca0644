//! Saving and loading: model files, weights files, and the crash-safe writes under them.
//!
//! # The files
//! Every file is a [safetensors](https://huggingface.co/docs/safetensors/) file: an 8-byte
//! header length, a JSON header, then the raw little-endian tensors. PyTorch
//! (`safetensors.torch.load_file`) and Hugging Face tools read them as they are.
//!
//! - [`Model::save`](crate::Model::save) writes the weights, the layers'
//!   non-trainable state and the optimizer's state, and puts a JSON document in the header's
//!   `__metadata__` under `minibatch`: `format_version`, `model` (the architecture, as
//!   Keras's `get_config()`: `{"class_name": "Sequential", "config": {"seed", "input_shape",
//!   "layers": [{"class_name": "Dense", "config": {"units": 512, "activation": ...}}]}}`),
//!   `compile` (optimizer config with the current learning rate, loss, metrics) and
//!   `optimizer_iterations`. [`Sequential::load`](crate::Sequential::load) rebuilds the model.
//!   [`Model::save_with`](crate::Model::save_with) leaves the optimizer's state out.
//! - [`Model::save_weights`](crate::Model::save_weights) writes the weights and
//!   layer state alone; [`Model::load_weights`](crate::Model::load_weights) reads
//!   them by name into a model built in code, including files exported by PyTorch.
//! - Every file minibatch writes also carries a CRC-32 (`minibatch_crc32`) over its document
//!   and tensors, so a flipped bit is reported instead of loaded.
//!
//! # Tensor names and layouts
//! | what | name | type, shape |
//! |---|---|---|
//! | Dense kernel | `{layer}/kernel` | F32 `[in, units]`: Keras's layout, the transpose of PyTorch's `Linear.weight` |
//! | Dense bias | `{layer}/bias` | F32 `[units]` |
//! | Conv2D / Conv1D kernel | `{layer}/kernel` | F32 `[kh, kw, in, filters]` / `[k, in, filters]` (Keras's layout; PyTorch's `Conv2d.weight` is `[filters, in, kh, kw]`) |
//! | Conv bias | `{layer}/bias` | F32 `[filters]` |
//! | BatchNormalization | `{layer}/gamma`, `{layer}/beta`, `{layer}/moving_mean`, `{layer}/moving_variance` | F32 `[channels]` |
//! | Dropout's mask generator | `{layer}/seed_generator_state` | U64 `[4]` (optional when loading) |
//! | optimizer state | `optimizer/{slot}/{layer}/{param}` | F32, the parameter's shape; slots are Keras's names: `momentum`, `velocity`, `average_gradient` |
//!
//! Layer names are the model's (`dense`, `dense_1`, ...; see
//! [`Model::summary`](crate::Model::summary)). F64 tensors are converted on load.
//!
//! # Keras's weights files
//! A path ending in `.weights.h5` (the suffix Keras insists on) makes
//! [`Model::save_weights`](crate::Model::save_weights) and
//! [`Model::load_weights`](crate::Model::load_weights) write and read Keras 3's own weights
//! file instead ([`Model::save_keras_weights`](crate::Model::save_keras_weights),
//! [`Model::load_keras_weights`](crate::Model::load_keras_weights)): HDF5, each layer's
//! variables at `layers/KEY/vars/0, 1, …` where `KEY` is the layer's class in snake case,
//! numbered within the model (`dense`, `dense_1`), a recurrent layer's in its cell
//! (`layers/lstm/cell/vars`). Keras addresses layers by class and position, not name: the same
//! layers in the same order load, whatever they are called. Tested against files Keras 3.15
//! wrote (`tests/fixtures/make_keras_files.py`), and Keras loads the files minibatch writes.
//! The HDF5 is read and written by `hdf5-pure`, a pure-Rust implementation (no system HDF5
//! library to install, no C to build).
//!
//! # Keras's model files
//! [`Model::load_keras`](crate::Model::load_keras) reads a `.keras` file (a ZIP of
//! `config.json`, `metadata.json` and `model.weights.h5`): the architecture translated layer by
//! layer into minibatch's configuration, every Keras option checked against what was built,
//! the weights as above, the compile configuration, and an adapted lookup's vocabulary from
//! the archive's assets. [`Model::save_keras`](crate::Model::save_keras) writes one
//! (`keras_write`): the same translation the other way, wrappers and nested models included.
//!
//! # Crash safety
//! Every file is written by [`write_atomic`]: to a temporary file beside the target
//! (`.NAME.tmp-PID`), synced, then renamed over the target. A kill at any moment leaves the
//! previous good file in place; the callbacks that write files remove temporary files a killed
//! run left behind when training begins.

mod file_format;
mod keras_legacy;
mod keras_model;
mod keras_weights;
mod keras_write;
mod model_file;
mod tensor_file;

pub use crate::io::atomic::{is_temp_file, remove_stale_temp_files, write_atomic};
pub use file_format::FileFormat;
pub use model_file::layer_from_config;
pub use model_file::FORMAT_VERSION;
pub(crate) use tensor_file::{parse, read, write, TensorFile};

/// Reads every float tensor of a safetensors file, by name in name order (F64 converted to
/// F32, integer tensors left out): inputs or weights exported from NumPy or PyTorch.
///
/// # Errors
/// As loading a model file: [`crate::Error::Io`], or [`crate::Error::Format`] naming the file.
pub fn load_tensors(path: impl AsRef<std::path::Path>) -> crate::Result<Vec<(String, crate::Tensor)>> {
    let file = read(path.as_ref())?;
    Ok(file
        .tensors
        .into_iter()
        .filter_map(|(name, s)| match s {
            crate::layers::State::F32(t) => Some((name, t)),
            crate::layers::State::U64(_) => None,
        })
        .collect())
}
