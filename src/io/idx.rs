//! IDX files (MNIST, Fashion-MNIST, EMNIST): a big-endian header — two zero bytes, a type
//! byte (0x08 = u8), the number of dimensions, then each dimension as a u32 — followed by the
//! values, row-major. Files ending in `.gz` are decompressed while read (the gzip CRC and
//! length are checked).

use crate::datasets::TrainTest;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The content of an IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The dimensions the header declares.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes, raw or gzipped (by the `.gz` extension), streaming it
/// once: the header, then exactly the values it declares, then the end of the file.
///
/// # Errors
/// [`Error::Format`] for a bad magic number, a type other than u8, data shorter or longer than
/// the header declares, or a corrupt gzip stream; [`Error::Io`] when the file cannot be read.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let file = super::file::open_regular(path)?;
    let gzipped = path.extension().is_some_and(|e| e == "gz");
    let file_len = file.metadata().map_err(|e| Error::io(path, &e))?.len();
    let buffered = std::io::BufReader::with_capacity(1 << 16, file);
    let mut reader: Box<dyn Read> =
        if gzipped { Box::new(flate2::read::GzDecoder::new(buffered)) } else { Box::new(buffered) };
    let gz_error = |e: std::io::Error| Error::format(path, format!("corrupt gzip stream: {e}"));

    // 1. The header: magic (0, 0, type, ndim), then ndim big-endian u32 dimensions.
    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic).map_err(gz_error)?;
    if got < 4 {
        return Err(Error::format(path, format!("truncated: {got} bytes, an IDX header needs at least 4")));
    }
    let magic_value = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            path,
            format!("not an IDX file: magic number {magic_value:#010x} does not start with two zero bytes"),
        ));
    }
    if magic[2] != 0x08 {
        return Err(Error::format(
            path,
            format!("IDX type {:#04x} is not supported: expected 0x08 (unsigned bytes)", magic[2]),
        ));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 {
        return Err(Error::format(path, "the IDX header declares 0 dimensions"));
    }
    let mut dims_raw = vec![0u8; 4 * ndim];
    let got = read_full(&mut reader, &mut dims_raw).map_err(gz_error)?;
    if got < dims_raw.len() {
        return Err(Error::format(
            path,
            format!("truncated header: {ndim} dimensions need {} bytes, the file has {}", 4 + 4 * ndim, 4 + got),
        ));
    }
    let dims: Vec<usize> =
        dims_raw.chunks_exact(4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize).collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| c <= 1 << 34)
        .ok_or_else(|| Error::format(path, format!("implausible dimensions {dims:?}")))?;
    // A raw file shorter than its header declares is truncated, whatever the size; a gzipped
    // file's few bytes can declare (and hold) gigabytes: the bytes and their f32 copy are
    // checked against the decode budget before any is read.
    let header_len = 4 + 4 * ndim as u64;
    if !gzipped && file_len < header_len.saturating_add(count as u64) {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header (magic {magic_value}) declares {dims:?} = {count} values, the file holds {}",
                file_len.saturating_sub(header_len)
            ),
        ));
    }
    crate::tensor::memory::check_decoded(&path.display().to_string(), &dims, 5)?;

    // 2. Exactly `count` values, then nothing more. Read as they come (a compressed stream's
    // length is unknown until its end), so memory follows the bytes present, never the count
    // the header declares.
    let mut data = Vec::with_capacity(count.min(1 << 20));
    let got = (&mut reader).take(count as u64).read_to_end(&mut data).map_err(gz_error)?;
    if got < count {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header (magic {magic_value}) declares {dims:?} = {count} values, the file holds {got}"
            ),
        ));
    }
    let mut extra = [0u8; 1];
    if read_full(&mut reader, &mut extra).map_err(gz_error)? > 0 {
        return Err(Error::format(
            path,
            format!(
                "inconsistent: bytes follow the {count} values the header (magic {magic_value}) declares for {dims:?}"
            ),
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Finds `name` or `name.gz` in `dir`.
fn find(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    for name in names {
        for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::Io {
        path: dir.display().to_string(),
        message: format!("no {} (or .gz) in this directory", names.join(" or ")),
    })
}

fn images(path: &Path) -> Result<Tensor> {
    let a = read_idx(path)?;
    if a.dims.len() != 3 {
        return Err(Error::format(path, format!("expected images [n, rows, cols], the header declares {:?}", a.dims)));
    }
    // Pixels 0..255 scaled to [0, 1], as the Keras examples do.
    let data = a.data.iter().map(|&p| p as f32 / 255.0).collect();
    Tensor::from_vec(&a.dims, data)
}

fn labels(path: &Path) -> Result<Tensor> {
    let a = read_idx(path)?;
    if a.dims.len() != 1 {
        return Err(Error::format(path, format!("expected labels [n], the header declares {:?}", a.dims)));
    }
    Ok(Tensor::from_slice(&a.data.iter().map(|&l| l as f32).collect::<Vec<_>>()))
}

/// Loads an MNIST-family directory: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw or `.gz`. Images are
/// `[n, 28, 28]` with pixels scaled to `[0, 1]`; labels are class indices `[n]`.
///
/// # Errors
/// A missing file, any [`read_idx`] error, or image and label counts that differ.
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<TrainTest> {
    let dir = dir.as_ref();
    let load = |img: &str, lbl: &str| -> Result<(Tensor, Tensor)> {
        let (ip, lp) =
            (find(dir, &[img, &img.replace("-idx", ".idx")])?, find(dir, &[lbl, &lbl.replace("-idx", ".idx")])?);
        let (x, y) = (images(&ip)?, labels(&lp)?);
        if x.batch() != y.batch() {
            return Err(Error::format(
                &lp,
                format!("{} labels for {} images in {}", y.batch(), x.batch(), ip.display()),
            ));
        }
        Ok((x, y))
    };
    let (x_train, y_train) = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let (x_test, y_test) = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let num_classes = super::labels::num_classes(&y_train)?.max(super::labels::num_classes(&y_test)?);
    Ok(TrainTest { name: "mnist", x_train, y_train, x_test, y_test, num_classes })
}
