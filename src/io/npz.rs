//! NPZ, NumPy's archive of arrays (`np.savez`, `np.savez_compressed`): a ZIP file whose entries
//! are `NAME.npy`. Entries may be stored or deflated, with ZIP64 sizes as NumPy writes them;
//! each entry's CRC-32 is checked.

use super::file::read_file;
use super::npy::{parse_npy, write_npy, NpyArray};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::io::Read;
use std::path::Path;

const EOCD: u32 = 0x0605_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Reads every array of an NPZ file, in archive order, as `(name without .npy, array)`.
///
/// # Errors
/// [`Error::Format`] for a file that is not a ZIP archive, a damaged directory, an entry whose
/// data is cut short or fails its CRC, an unsupported compression, or a bad NPY entry.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let bad = |m: String| Error::format(path, m);
    let truncated = || bad("truncated or damaged ZIP archive (a record runs past the end of the file)".into());

    // 1. The end-of-central-directory record, searched back from the end (it may carry a comment).
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&bytes, i) == Some(EOCD))
        .ok_or_else(|| bad("not an NPZ (ZIP) archive: no end-of-central-directory record".into()))?;
    let entries = u16_at(&bytes, eocd + 10).ok_or_else(truncated)? as usize;
    let mut at = u32_at(&bytes, eocd + 16).ok_or_else(truncated)? as usize;

    // 2. The central directory: name, method, CRC, sizes and local-header offset per entry.
    let mut arrays = Vec::with_capacity(entries);
    for _ in 0..entries {
        if u32_at(&bytes, at) != Some(CENTRAL) {
            return Err(bad(format!("damaged ZIP central directory at byte {at}")));
        }
        let method = u16_at(&bytes, at + 10).ok_or_else(truncated)?;
        let crc = u32_at(&bytes, at + 16).ok_or_else(truncated)?;
        let mut csize = u32_at(&bytes, at + 20).ok_or_else(truncated)? as u64;
        let mut usize_ = u32_at(&bytes, at + 24).ok_or_else(truncated)? as u64;
        let name_len = u16_at(&bytes, at + 28).ok_or_else(truncated)? as usize;
        let extra_len = u16_at(&bytes, at + 30).ok_or_else(truncated)? as usize;
        let comment_len = u16_at(&bytes, at + 32).ok_or_else(truncated)? as usize;
        let mut offset = u32_at(&bytes, at + 42).ok_or_else(truncated)? as u64;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).to_string();
        // ZIP64: sizes and offset saturated at 0xFFFFFFFF live in extra field 0x0001, in order.
        let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(truncated)?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, e).unwrap_or(0), u16_at(extra, e + 2).unwrap_or(0) as usize);
            if id == 1 {
                let mut f = e + 4;
                for field in [&mut usize_, &mut csize, &mut offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(extra, f).ok_or_else(truncated)?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at += 46 + name_len + extra_len + comment_len;

        // 3. The entry's data, after its local header (whose own extra field may differ).
        let local = usize::try_from(offset).unwrap_or(usize::MAX);
        if u32_at(&bytes, local) != Some(LOCAL) {
            return Err(bad(format!("damaged ZIP entry {name}: no local header at byte {local}")));
        }
        let skip = 30
            + u16_at(&bytes, local + 26).ok_or_else(truncated)? as usize
            + u16_at(&bytes, local + 28).ok_or_else(truncated)? as usize;
        let data = usize::try_from(csize)
            .ok()
            .and_then(|c| Some(local.checked_add(skip)?..local.checked_add(skip)?.checked_add(c)?))
            .and_then(|range| bytes.get(range))
            .ok_or_else(|| bad(format!("truncated: entry {name} declares {csize} bytes, the archive ends first")))?;
        // The entry's bytes and their f32 copy (up to 4 bytes for each byte), checked against
        // the decode budget before anything is inflated.
        let declared = usize::try_from(usize_).unwrap_or(usize::MAX);
        crate::tensor::memory::check_decoded(&format!("{} entry {name}", path.display()), &[declared], 5)?;
        let raw = match method {
            0 => data.to_vec(),
            8 => {
                // Inflated as it comes, and never past the declared size (plus one byte, to
                // tell a longer stream): the declared size alone allocates nothing.
                let mut out = Vec::with_capacity((usize_ as usize).min(data.len().saturating_mul(8)).min(1 << 26));
                flate2::read::DeflateDecoder::new(data)
                    .take(usize_.saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|e| bad(format!("corrupt deflate data in entry {name}: {e}")))?;
                out
            }
            m => {
                return Err(bad(format!(
                    "entry {name} uses ZIP compression method {m}: expected 0 (stored) or 8 (deflate)"
                )))
            }
        };
        if raw.len() as u64 != usize_ || crc32fast::hash(&raw) != crc {
            return Err(bad(format!(
                "entry {name} is corrupt: its size or CRC-32 does not match the archive's directory"
            )));
        }
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
    if x.descr.ends_with("u1") && x.shape.len() >= 3 {
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
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, t) in arrays {
        let data = write_npy(t.shape(), t.data());
        let name = format!("{name}.npy");
        let (crc, size, offset) = (crc32fast::hash(&data), data.len() as u32, out.len() as u32);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&LOCAL.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);
        central.extend_from_slice(&CENTRAL.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(&EOCD.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(arrays.len() as u16).to_le_bytes());
    out.extend_from_slice(&(arrays.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    super::atomic::write_atomic(path, &out)
}
