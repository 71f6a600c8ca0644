//! NPZ, NumPy's archive of arrays (`np.savez`, `np.savez_compressed`): a ZIP file whose entries
//! are `NAME.npy`. Entries may be stored or deflated, with ZIP64 sizes as NumPy writes them;
//! each entry's CRC-32 is checked.

use super::npy::{parse_npy, write_npy, NpyArray};
use super::zip::{read_zip, zip_bytes};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

/// Reads every array of an NPZ file, in archive order, as `(name without .npy, array)`.
///
/// # Errors
/// [`Error::Format`] for a file that is not a ZIP archive, a damaged directory, an entry whose
/// data is cut short or fails its CRC, an unsupported compression, or a bad NPY entry.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    // Each entry's bytes and their f32 copy (up to 4 bytes for each byte).
    let mut arrays = Vec::new();
    for (name, raw) in read_zip(path, "an NPZ (ZIP) archive", 5)? {
        let array = parse_npy(&path.join(&name), &raw)?;
        arrays.push((name.trim_end_matches(".npy").to_string(), array));
    }
    Ok(arrays)
}

/// Reads the arrays `x` and `y` of an NPZ file as tensors. Images stored as u8 (`|u1`) with
/// three or more axes are scaled from 0..255 to `[0, 1]`; `y` is flattened to `[n]` when it has
/// one value per sample.
///
/// # Errors
/// As [`read_npz`], and a missing `x` or `y`, or `x` and `y` of different lengths.
pub fn load_npz(path: impl AsRef<Path>) -> Result<(Tensor, Tensor)> {
    let path = path.as_ref();
    let mut arrays = read_npz(path)?;
    pair(path, &mut arrays, "x", "y")
}

/// An NPZ's training pair and, when it has them, its test pair, as `keras.datasets`
/// archives store a data set — `x_train`, `y_train` and, when there, `x_test`, `y_test`
/// (`mnist.npz`) — or else `x` and `y` with no test split. Scaled and shaped as
/// [`load_npz`]. (`io::load_npz_split` gives them as a source's `Loaded`.)
///
/// # Errors
/// As [`load_npz`]; a test split with only one of `x_test` and `y_test`.
#[allow(clippy::type_complexity)]
pub(crate) fn read_npz_split(path: &Path) -> Result<((Tensor, Tensor), Option<(Tensor, Tensor)>)> {
    let mut arrays = read_npz(path)?;
    let has = |arrays: &[(String, NpyArray)], key: &str| arrays.iter().any(|(k, _)| k == key);
    if !has(&arrays, "x_train") {
        return Ok((pair(path, &mut arrays, "x", "y")?, None));
    }
    let train = pair(path, &mut arrays, "x_train", "y_train")?;
    let test = match (has(&arrays, "x_test"), has(&arrays, "y_test")) {
        (false, false) => None,
        (true, true) => Some(pair(path, &mut arrays, "x_test", "y_test")?),
        _ => {
            let message = "holds one of x_test and y_test without the other: a test split needs both";
            return Err(Error::format(path, message));
        }
    };
    Ok((train, test))
}

/// Takes arrays `xk` and `yk` out of `arrays` as tensors (see [`load_npz`]).
fn pair(path: &Path, arrays: &mut Vec<(String, NpyArray)>, xk: &str, yk: &str) -> Result<(Tensor, Tensor)> {
    let names: Vec<String> = arrays.iter().map(|(k, _)| k.clone()).collect();
    let mut take = |key: &str| -> Result<NpyArray> {
        let i = arrays
            .iter()
            .position(|(k, _)| k == key)
            .ok_or_else(|| Error::format(path, format!("no array {key:?}: the archive holds {}", names.join(", "))))?;
        Ok(arrays.swap_remove(i).1)
    };
    let (x, y) = (take(xk)?, take(yk)?);
    if x.shape.first() != y.shape.first() || x.shape.is_empty() {
        return Err(Error::format(
            path,
            format!("{xk} has shape {:?} and {yk} {:?}: expected the same number of samples", x.shape, y.shape),
        ));
    }
    let mut xd = x.data;
    if super::npy::holds_u8_images(&x.descr, &x.shape) {
        xd.iter_mut().for_each(|v| *v /= 255.0);
    }
    let y_shape = if y.shape.len() == 2 && y.shape[1] == 1 { vec![y.shape[0]] } else { y.shape };
    Ok((Tensor::from_vec(&x.shape, xd)?, Tensor::from_vec(&y_shape, y.data)?))
}

/// Writes `arrays` as an uncompressed NPZ (what `np.savez` writes), each as f32.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(&str, &Tensor)]) -> Result<()> {
    let path = path.as_ref();
    let entries: Vec<(String, Vec<u8>)> =
        arrays.iter().map(|(name, t)| (format!("{name}.npy"), write_npy(t.shape(), t.data()))).collect();
    let out = zip_bytes(&entries);
    super::atomic::write_atomic(path, &out)
}
