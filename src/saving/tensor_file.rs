//! Reading and writing safetensors files, with a checksum over everything minibatch writes.
//!
//! safetensors itself has no checksum: a flipped bit in a weight would load silently. Files
//! minibatch writes carry, in the header's `__metadata__`, a JSON document under `minibatch`
//! and a CRC-32 under `minibatch_crc32` covering that document and every tensor's name, type,
//! shape and bytes. Files from elsewhere (PyTorch's exporter) have neither and are read as
//! they are.

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::layers::State;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

/// The metadata key of minibatch's JSON document.
const DOC_KEY: &str = "minibatch";
/// The metadata key of the checksum.
const CRC_KEY: &str = "minibatch_crc32";

/// A safetensors file's tensors by name, and minibatch's JSON document if it has one.
#[derive(Debug, Default)]
pub(crate) struct TensorFile {
    pub tensors: BTreeMap<String, State>,
    pub doc: Option<serde_json::Value>,
}

/// A tensor's bytes as safetensors stores them (little-endian).
fn bytes(state: &State) -> (Dtype, Vec<usize>, Vec<u8>) {
    match state {
        State::F32(t) => (Dtype::F32, t.shape().to_vec(), t.data().iter().flat_map(|v| v.to_le_bytes()).collect()),
        State::U64(w) => (Dtype::U64, vec![w.len()], w.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

/// The checksum of a document and tensors, in name order.
fn checksum<'a>(doc: &str, tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(doc.as_bytes());
    for (name, dtype, shape, data) in tensors {
        h.update(name.as_bytes());
        h.update(format!("{dtype:?}{shape:?}").as_bytes());
        h.update(data);
    }
    h.finalize()
}

/// Writes `tensors` and `doc` to `path`, crash-safely.
pub(crate) fn write(path: &Path, tensors: &BTreeMap<String, State>, doc: &serde_json::Value) -> Result<()> {
    let encoded: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(name, s)| (name.as_str(), bytes(s))).map(|(n, (d, s, b))| (n, d, s, b)).collect();
    let doc = doc.to_string();
    let crc = checksum(&doc, encoded.iter().map(|(n, d, s, b)| (*n, *d, s.as_slice(), b.as_slice())));
    let views = encoded
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (*n, v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::format(path, format!("cannot encode a tensor: {e}")))?;
    let metadata = [(DOC_KEY.to_string(), doc), (CRC_KEY.to_string(), crc.to_string())].into_iter().collect();
    let mut bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::format(path, format!("cannot encode the file: {e}")))?;
    sort_header(&mut bytes).map_err(|e| Error::format(path, format!("cannot encode the file: {e}")))?;
    write_atomic(path, &bytes)
}

/// Rewrites a serialized file's JSON header with its keys in sorted order, so that the same
/// model gives the same bytes: safetensors takes the metadata as a hash map, whose order
/// changes from run to run. The same keys and values take the same room, so the header keeps
/// its length (and the data its alignment); the padding stays spaces.
fn sort_header(bytes: &mut [u8]) -> std::result::Result<(), String> {
    let n = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or("no header")? as usize;
    let header = bytes.get_mut(8..8 + n).ok_or("header past the end")?;
    // serde_json's maps keep keys sorted.
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let sorted = value.to_string();
    if sorted.len() > n {
        return Err(format!("sorted header of {} bytes does not fit in {n}", sorted.len()));
    }
    header[..sorted.len()].copy_from_slice(sorted.as_bytes());
    header[sorted.len()..].fill(b' ');
    Ok(())
}

/// Reads a safetensors file, checking its structure and, for minibatch's files, the checksum.
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable file; [`Error::Format`] naming the file for a
/// truncated or corrupt one, a checksum mismatch, or a tensor of a type minibatch cannot hold.
pub(crate) fn read(path: &Path) -> Result<TensorFile> {
    let raw = crate::io::file::read_file(path)?;
    parse(path, &raw)
}

/// Reads the bytes `raw` of a safetensors file as [`read`] reads the file `path` (which
/// messages name): a file another process read and sent.
pub(crate) fn parse(path: &Path, raw: &[u8]) -> Result<TensorFile> {
    let file = SafeTensors::deserialize(raw).map_err(|e| {
        Error::format(path, format!("not a complete safetensors file ({e}); it may be truncated or corrupt"))
    })?;
    let (_, header) = SafeTensors::read_metadata(raw).map_err(|e| Error::format(path, e.to_string()))?;
    let metadata = header.metadata().as_ref();
    let doc_text = metadata.and_then(|m| m.get(DOC_KEY));
    let crc_text = metadata.and_then(|m| m.get(CRC_KEY));

    let mut views = file.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    match (doc_text, crc_text) {
        (None, None) => {}
        (Some(doc), Some(crc)) => {
            let stored: u32 = crc.parse().map_err(|_| Error::format(path, format!("corrupt checksum {crc:?}")))?;
            let actual = checksum(doc, views.iter().map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())));
            if stored != actual {
                return Err(Error::format(
                    path,
                    "checksum mismatch: the file was changed or damaged after minibatch wrote it",
                ));
            }
        }
        _ => return Err(Error::format(path, "corrupt header: minibatch's document and its checksum do not match up")),
    }
    let doc = match doc_text {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| Error::format(path, format!("corrupt model document: {e}")))?)
        }
        None => None,
    };

    let mut tensors = BTreeMap::new();
    for (name, view) in views {
        let data = view.data();
        let state = match view.dtype() {
            Dtype::F32 => {
                State::F32(tensor(path, &name, view.shape(), data.chunks_exact(4).map(|c| f32::from_le_bytes(le(c))))?)
            }
            Dtype::F64 => State::F32(tensor(
                path,
                &name,
                view.shape(),
                data.chunks_exact(8).map(|c| f64::from_le_bytes(le(c)) as f32),
            )?),
            Dtype::U64 | Dtype::I64 => State::U64(data.chunks_exact(8).map(|c| u64::from_le_bytes(le(c))).collect()),
            other => {
                return Err(Error::format(
                    path,
                    format!("tensor {name} has type {other:?}: expected F32 or F64 (weights) or U64/I64 (state)"),
                ))
            }
        };
        tensors.insert(name, state);
    }
    Ok(TensorFile { tensors, doc })
}

/// A tensor from a file's values; a scalar becomes shape `[1]`.
fn tensor(path: &Path, name: &str, shape: &[usize], values: impl Iterator<Item = f32>) -> Result<Tensor> {
    let shape = if shape.is_empty() { vec![1] } else { shape.to_vec() };
    Tensor::from_vec(&shape, values.collect()).map_err(|e| Error::format(path, format!("tensor {name}: {e}")))
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    c.try_into().expect("chunks_exact")
}
