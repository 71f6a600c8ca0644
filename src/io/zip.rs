//! ZIP archives, as NumPy's NPZ and Keras's `.keras` files are: entries stored or deflated,
//! ZIP64 sizes as NumPy writes them, each entry's CRC-32 checked. Written uncompressed (what
//! `np.savez` and Keras write).

use super::file::read_file;
use crate::error::{Error, Result};
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

/// Every entry of the ZIP archive at `path`, in archive order, as `(name, bytes)`. `kind`
/// names the file in messages (`an NPZ (ZIP) archive`); each entry's declared size is checked
/// against the decode budget, with `expansion` bytes of the caller's own for each byte, before
/// anything is inflated.
///
/// # Errors
/// [`Error::Format`] for a file that is not a ZIP archive, a damaged directory, an entry whose
/// data is cut short or fails its CRC, or an unsupported compression.
pub(crate) fn read_zip(path: &Path, kind: &str, expansion: u64) -> Result<Vec<(String, Vec<u8>)>> {
    let mut bytes = read_file(path)?;
    let bad = |m: String| Error::format(path, m);
    let truncated = || bad("truncated or damaged ZIP archive (a record runs past the end of the file)".into());

    // 1. The end-of-central-directory record, searched back from the end (it may carry a comment).
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&bytes, i) == Some(EOCD))
        .ok_or_else(|| bad(format!("not {kind}: no end-of-central-directory record")))?;
    let entries = u16_at(&bytes, eocd + 10).ok_or_else(truncated)? as usize;
    let mut at = u32_at(&bytes, eocd + 16).ok_or_else(truncated)? as usize;

    // 2. The central directory: name, method, CRC, sizes and local-header offset per entry.
    let mut found = Vec::with_capacity(entries.min(4096));
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
        let range = usize::try_from(csize)
            .ok()
            .and_then(|c| Some(local.checked_add(skip)?..local.checked_add(skip)?.checked_add(c)?))
            .filter(|range| range.end <= bytes.len())
            .ok_or_else(|| bad(format!("truncated: entry {name} declares {csize} bytes, the archive ends first")))?;
        let data = &bytes[range.clone()];
        // The entry's bytes (and what the caller decodes them into: `expansion` bytes for each),
        // checked against the decode budget before anything is inflated.
        let declared = usize::try_from(usize_).unwrap_or(usize::MAX);
        crate::tensor::memory::check_decoded(&format!("{} entry {name}", path.display()), &[declared], expansion)?;
        let raw = match method {
            // Stored: its bytes stay where they are until every entry is read (below).
            0 => Content::Stored(range.start, range.len()),
            8 => {
                // Inflated as it comes, and never past the declared size (plus one byte, to
                // tell a longer stream): the declared size alone allocates nothing.
                let mut out = Vec::with_capacity((usize_ as usize).min(data.len().saturating_mul(8)).min(1 << 26));
                flate2::read::DeflateDecoder::new(data)
                    .take(usize_.saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|e| bad(format!("corrupt deflate data in entry {name}: {e}")))?;
                Content::Owned(out)
            }
            m => {
                return Err(bad(format!(
                    "entry {name} uses ZIP compression method {m}: expected 0 (stored) or 8 (deflate)"
                )))
            }
        };
        let view = match &raw {
            Content::Stored(start, len) => &bytes[*start..start + len],
            Content::Owned(v) => v.as_slice(),
        };
        if view.len() as u64 != usize_ || crc32fast::hash(view) != crc {
            return Err(bad(format!(
                "entry {name} is corrupt: its size or CRC-32 does not match the archive's directory"
            )));
        }
        found.push((name, raw));
    }
    // 4. The stored entries out of the archive's bytes: the largest (a `.keras` file's weights)
    // takes the archive's own buffer, moved to its front, so no copy of the whole file is made.
    let largest = (0..found.len())
        .filter_map(|i| match found[i].1 {
            Content::Stored(_, len) => Some((len, i)),
            Content::Owned(_) => None,
        })
        .max()
        .map(|(_, i)| i);
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(found.len());
    for (i, (name, content)) in found.iter_mut().enumerate() {
        let data = match content {
            Content::Owned(v) => std::mem::take(v),
            Content::Stored(..) if Some(i) == largest => Vec::new(),
            Content::Stored(start, len) => bytes[*start..*start + *len].to_vec(),
        };
        out.push((std::mem::take(name), data));
    }
    if let Some(i) = largest {
        if let Content::Stored(start, len) = found[i].1 {
            bytes.copy_within(start..start + len, 0);
            bytes.truncate(len);
            out[i].1 = bytes;
        }
    }
    Ok(out)
}

/// An entry's bytes while the archive is read: inflated into a buffer of its own, or stored
/// at `(offset, length)` in the archive's bytes.
enum Content {
    Owned(Vec<u8>),
    Stored(usize, usize),
}

/// An uncompressed ZIP archive of `entries` (name, bytes), as bytes.
pub(crate) fn zip_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (crc, size, offset) = (crc32fast::hash(data), data.len() as u32, out.len() as u32);
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
        out.extend_from_slice(data);
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
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}
