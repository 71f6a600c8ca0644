//! NPY, NumPy's array file: the magic `\x93NUMPY`, a version, a header dict
//! (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`), then the raw values.
//! Supported dtypes: u1, i1, b1, u2, i2, u4, i4, i8, f4, f8 (little- or big-endian),
//! converted to f32; Fortran order is converted to row-major.
//!
//! [`parse_npy`] reads a whole array; [`NpyHeader`] and [`Dtype::convert`] are the two halves
//! it is made of, for a reader that maps the file and converts a few rows at a time
//! ([`crate::data::NpyDataset`]).

use crate::error::{Error, Result};
use std::path::Path;

/// An array read from NPY, as f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values converted to f32.
    pub data: Vec<f32>,
    /// The dtype as written in the file (`<f4`, `|u1`, ...).
    pub descr: String,
}

/// An NPY element type: its kind (`u`, `i`, `b`, `f`), its size in bytes and its byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtype {
    kind: u8,
    size: usize,
    big_endian: bool,
}

impl Dtype {
    /// Bytes per value.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Converts the raw values `raw` (`out.len()` of them) to f32 into `out`. Allocates
    /// nothing.
    pub fn convert(&self, raw: &[u8], out: &mut [f32]) {
        debug_assert_eq!(raw.len(), out.len() * self.size);
        let big = self.big_endian;
        macro_rules! convert {
            ($t:ty) => {
                for (o, c) in out.iter_mut().zip(raw.chunks_exact(self.size)) {
                    let a = c.try_into().expect("dtype size");
                    *o = (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f32;
                }
            };
        }
        match (self.kind, self.size) {
            (b'u', 1) => out.iter_mut().zip(raw).for_each(|(o, &v)| *o = v as f32),
            (b'i', 1) => out.iter_mut().zip(raw).for_each(|(o, &v)| *o = v as i8 as f32),
            (b'b', 1) => out.iter_mut().zip(raw).for_each(|(o, &v)| *o = (v != 0) as u8 as f32),
            (b'u', 2) => convert!(u16),
            (b'i', 2) => convert!(i16),
            (b'i', 4) => convert!(i32),
            (b'u', 4) => convert!(u32),
            (b'i', 8) => convert!(i64),
            (b'f', 4) => convert!(f32),
            (b'f', 8) => convert!(f64),
            _ => unreachable!("a Dtype is made only for the supported kinds"),
        }
    }
}

/// An NPY file's header, checked against the file's length.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// The shape.
    pub shape: Vec<usize>,
    /// The dtype as written in the file (`<f4`, `|u1`, ...).
    pub descr: String,
    /// The element type.
    pub dtype: Dtype,
    /// Whether the values are in column-major order.
    pub fortran_order: bool,
    /// Where the values begin in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Reads the header at the start of `bytes` (the file's first bytes; `file_len` the
    /// whole file's length) and checks that the file holds exactly the values the shape
    /// declares; `path` names the file in errors.
    ///
    /// # Errors
    /// [`Error::Format`] for a bad magic string, an unreadable header, an unsupported dtype,
    /// or data shorter or longer than the shape declares.
    pub fn parse(path: &Path, bytes: &[u8], file_len: u64) -> Result<NpyHeader> {
        let bad = |m: String| Error::format(path, m);
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("not an NPY array: the magic string \\x93NUMPY is missing".into()));
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize, 12),
            v => return Err(bad(format!("NPY version {v} is not supported (1, 2 or 3)"))),
        };
        let header = bytes.get(start..start + header_len).ok_or_else(|| {
            bad(format!("truncated: the header declares {header_len} bytes, the file has {}", bytes.len() - start))
        })?;
        let header = std::str::from_utf8(header).map_err(|_| bad("the NPY header is not text".into()))?;
        let descr =
            dict_value(header, "descr").ok_or_else(|| bad(format!("no 'descr' in the NPY header {header:?}")))?;
        let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
        let fortran_order = dict_value(header, "fortran_order")
            .ok_or_else(|| bad("no 'fortran_order' in the NPY header".into()))?
            == "True";
        let shape_text = dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in the NPY header".into()))?;
        let shape: Vec<usize> = shape_text
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| bad(format!("bad shape {shape_text} in the NPY header"))))
            .collect::<Result<_>>()?;
        let unsupported = || {
            bad(format!(
                "unsupported dtype {descr:?}: expected u1, i1, b1, u2, i2, i4, u4, i8, f4 or f8 ('<', '>' or '|' first)"
            ))
        };
        let (order, kind, size) = match descr.as_bytes() {
            [order @ (b'<' | b'>' | b'|' | b'='), kind, digit @ b'1'..=b'8'] => {
                (*order, *kind, (digit - b'0') as usize)
            }
            _ => return Err(unsupported()),
        };
        let supported =
            matches!((kind, size), (b'u' | b'i' | b'b', 1) | (b'u' | b'i', 2 | 4) | (b'i', 8) | (b'f', 4 | 8));
        if !supported {
            return Err(unsupported());
        }
        let data_offset = start + header_len;
        let raw_len = file_len.saturating_sub(data_offset as u64);
        // The shape's byte count, in checked arithmetic: a declared shape must be backed by
        // the file's bytes before anything is allocated or mapped for it.
        let needed = shape.iter().try_fold(size as u64, |acc, &d| acc.checked_mul(d as u64));
        if needed != Some(raw_len) {
            let needs = needed.map_or("more bytes than this machine can address".to_string(), |n| format!("{n} bytes"));
            let what = if needed.is_none_or(|n| raw_len < n) { "truncated" } else { "inconsistent" };
            return Err(bad(format!(
                "{what}: shape {shape:?} of {descr} needs {needs} of data, the file has {raw_len}"
            )));
        }
        let dtype = Dtype { kind, size, big_endian: order == b'>' };
        Ok(NpyHeader { shape, descr, dtype, fortran_order, data_offset })
    }
}

/// Whether an array holds u8 images: dtype u1 (`|u1`) with three or more axes (`[n, h, w]`
/// or `[n, h, w, c]`). Their pixels are scaled from 0..255 to `[0, 1]` by every loader, one
/// rule whatever the container (an NPZ, NPY files read a batch at a time).
pub fn holds_u8_images(descr: &str, shape: &[usize]) -> bool {
    descr.ends_with("u1") && shape.len() >= 3
}

/// Parses an NPY file's bytes; `path` names it in errors.
///
/// # Errors
/// [`Error::Format`] for a bad magic string, an unreadable header, an unsupported dtype, or
/// data shorter or longer than the shape declares.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    let header = NpyHeader::parse(path, bytes, bytes.len() as u64)?;
    let raw = &bytes[header.data_offset..];
    // The f32 copy (4 bytes for each of a u8 array's 1), and a Fortran array's reordered one.
    let copies = if header.fortran_order { 8 } else { 4 };
    crate::tensor::memory::check_decoded(&path.display().to_string(), &header.shape, copies)?;
    let mut data = vec![0.0f32; raw.len() / header.dtype.size];
    header.dtype.convert(raw, &mut data);
    if header.fortran_order && header.shape.len() > 1 {
        data = fortran_to_c(&data, &header.shape);
    }
    Ok(NpyArray { shape: header.shape, data, descr: header.descr })
}

/// The text of `key`'s value in a Python dict literal (up to the next top-level comma).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

/// Reorders column-major values to row-major.
fn fortran_to_c(data: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    let mut idx = vec![0usize; shape.len()];
    for v in data {
        // idx walks in Fortran order (first axis fastest); place at its C-order offset.
        let c = idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i);
        out[c] = *v;
        for (i, d) in idx.iter_mut().zip(shape) {
            *i += 1;
            if *i < *d {
                break;
            }
            *i = 0;
        }
    }
    out
}

/// Writes `data` of `shape` as a little-endian f32 NPY (version 1) to bytes.
pub fn write_npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut out = npy_preamble(shape, "<f4");
    out.reserve(data.len() * 4);
    data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

/// The bytes an NPY file (version 1) of `shape` and dtype `descr` (`<f4`, `|u1`, `<i8`, ...)
/// begins with; its raw values follow, row-major. For writing a file too large to build in
/// memory, a batch of rows at a time.
pub fn npy_preamble(shape: &[usize], descr: &str) -> Vec<u8> {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // The whole preamble is padded with spaces to a multiple of 64 bytes, ending in '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fortran_order() {
        let bytes = write_npy(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        assert_eq!((bytes.len() - 24) % 64, 0, "preamble padded to a multiple of 64 bytes, then 6 f32 values");
        let a = parse_npy(Path::new("t.npy"), &bytes).unwrap();
        assert_eq!((a.shape, a.data), (vec![2, 3], vec![1., 2., 3., 4., 5., 6.]));
        assert_eq!(fortran_to_c(&[1., 4., 2., 5., 3., 6.], &[2, 3]), vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(dict_value("{'shape': (3, 4), 'x': 1}", "shape"), Some("(3, 4)"));
    }
}
