//! Memory-mapped NPY files as a [`Dataset`]: the operating system pages the file in and out,
//! and a batch's rows are converted to f32 as they are filled, so a file larger than memory
//! trains with memory bounded by the batch.

use super::order::{Order, Rows};
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use crate::io::NpyHeader;
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One mapped NPY array: rows of `row_bytes` from `header.data_offset`.
#[derive(Debug)]
struct Mapped {
    path: PathBuf,
    file: File,
    map: Mmap,
    header: NpyHeader,
    file_len: u64,
    row_bytes: usize,
}

impl Mapped {
    fn open(path: &Path) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io(path, &e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, &e))?.len();
        // SAFETY: the map is read only; a file truncated by another process while mapped
        // would fault on access, so `fill` checks the file's length before reading.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, &e))?;
        let header = NpyHeader::parse(path, &map[..map.len().min(1 << 16)], file_len)?;
        if header.shape.is_empty() || header.shape[0] == 0 {
            return Err(Error::Empty { what: format!("{} (shape {:?})", path.display(), header.shape) });
        }
        if header.fortran_order && header.shape.len() > 1 {
            return Err(Error::format(
                path,
                format!(
                    "a Fortran-ordered array of shape {:?} cannot be read a row at a time: \
                     save it with numpy.ascontiguousarray",
                    header.shape
                ),
            ));
        }
        let row_bytes = header.shape[1..].iter().product::<usize>() * header.dtype.size();
        Ok(Mapped { path: path.to_path_buf(), file, map, header, file_len, row_bytes })
    }

    fn rows(&self) -> usize {
        self.header.shape[0]
    }

    /// Converts rows `rows` (each `row_bytes`) into `out`, checking first that the file still
    /// has the length it had when opened.
    fn read(&self, rows: Rows<'_>, out: &mut [f32]) -> Result<()> {
        let now = self.file.metadata().map_err(|e| Error::io(&self.path, &e))?.len();
        if now < self.file_len {
            return Err(Error::format(
                &self.path,
                format!("truncated while reading: {} bytes when opened, {now} now", self.file_len),
            ));
        }
        let start = self.header.data_offset;
        let per = out.len() / rows.len().max(1);
        let dtype = self.header.dtype;
        match rows {
            Rows::Range(lo, hi) => {
                let (from, len) = (start + lo * self.row_bytes, (hi - lo) * self.row_bytes);
                dtype.convert(&self.map[from..from + len], out);
                // Read once an epoch: the pages go back to the page cache rather than stay in
                // this process's resident set, so memory follows the batch, not the file. A
                // fault maps more than the page touched: the pages around it ("fault-around")
                // and whole large folios of the page cache (up to 2 MiB on Linux 6), reaching
                // into neighbouring batches' rows that may have been read already. So the
                // range dropped reaches 4 MiB past the batch on both sides (measured: with
                // 256 KiB, resident memory still grew by 70 MiB per GiB of file read).
                const AROUND: usize = 4 << 20;
                let lo = from.saturating_sub(AROUND).max(start);
                let hi = (from + len + AROUND).min(self.map.len());
                // SAFETY: a read-only shared file mapping: a dropped page is read again from
                // the file when next touched (by another worker, or the next epoch).
                let _ = unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo) };
            }
            Rows::List(list) => {
                for (o, &r) in out.chunks_exact_mut(per).zip(list) {
                    dtype.convert(&self.map[start + r * self.row_bytes..start + (r + 1) * self.row_bytes], o);
                }
            }
        }
        Ok(())
    }
}

/// Samples in an NPY file `x` and their targets in an NPY file `y` (`np.save` of arrays
/// with the samples on the first axis), memory-mapped: u1, i1, b1, u2, i2, u4, i4, i8, f4 and
/// f8 arrays, converted to f32 a batch at a time. Nothing is read before it is needed, and
/// nothing is allocated for what a file declares: the header's shape is checked against the
/// file's length when it is opened.
///
/// ```no_run
/// use minibatch::data::{Dataset, NpyDataset};
/// let data = NpyDataset::open("x_train.npy", Some("y_train.npy".as_ref()), 128).unwrap();
/// assert_eq!(data.num_batches(), Some(data.samples().div_ceil(128)));
/// ```
#[derive(Debug)]
pub struct NpyDataset {
    x: Mapped,
    y: Option<Mapped>,
    batch_size: usize,
    /// The rows served and their order (contiguous batches when neither a subset nor shuffled).
    order: Order,
}

impl NpyDataset {
    /// Maps `x` and, when given, `y` (one target per sample, or a row of them), served
    /// `batch_size` samples a batch.
    ///
    /// # Errors
    /// A missing or unreadable file; not an NPY array; a truncated or inconsistent one; an
    /// unsupported dtype; a Fortran-ordered array of more than one axis; no samples;
    /// `x` and `y` with different numbers of samples; `batch_size` 0.
    pub fn open(x: impl AsRef<Path>, y: Option<&Path>, batch_size: usize) -> Result<NpyDataset> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let x = Mapped::open(x.as_ref())?;
        if x.header.shape.len() < 2 {
            return Err(Error::shape(
                format!("x ({})", x.path.display()),
                "[samples, features…]: a batch axis and at least one feature axis",
                &x.header.shape,
            ));
        }
        let y = y.map(Mapped::open).transpose()?;
        if let Some(y) = &y {
            if y.rows() != x.rows() {
                return Err(Error::SampleCount { x: x.rows(), y: y.rows() });
            }
        }
        let order = Order::all(x.rows());
        Ok(NpyDataset { x, y, batch_size, order })
    }

    /// Serves the samples in an order drawn from `seed` and the epoch, anew after every
    /// epoch (reading rows from all over the file: fast while the file fits in the page
    /// cache). Without it, batches are contiguous rows, and `fit`'s `shuffle` shuffles the
    /// order of the batches.
    pub fn shuffle(mut self, seed: u64) -> NpyDataset {
        self.order = self.order.shuffle(seed);
        self
    }

    /// Only the rows `rows` of the files (a training, validation or test split), in that
    /// order.
    ///
    /// # Errors
    /// No rows; a row past the end of the files.
    pub fn rows(mut self, rows: Vec<usize>) -> Result<NpyDataset> {
        if rows.is_empty() {
            return Err(Error::Empty { what: format!("the rows chosen of {}", self.x.path.display()) });
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= self.x.rows()) {
            return Err(Error::invalid(
                "row",
                r,
                format!("a row of {} (below {})", self.x.path.display(), self.x.rows()),
            ));
        }
        self.order = self.order.subset(rows);
        Ok(self)
    }

    /// Samples served (the rows chosen, else every row of the files).
    pub fn samples(&self) -> usize {
        self.order.len()
    }

    /// The dtypes as written in the files (`<f4`, `|u1`, ...): x's, then y's.
    pub fn dtypes(&self) -> (String, Option<String>) {
        (self.x.header.descr.clone(), self.y.as_ref().map(|y| y.header.descr.clone()))
    }
}

impl Dataset for NpyDataset {
    fn spec(&self) -> Spec {
        Spec {
            inputs: vec![self.x.header.shape[1..].to_vec()],
            targets: self.y.iter().map(|y| y.header.shape[1..].to_vec()).collect(),
            weighted: false,
            batch_size: self.batch_size.min(self.samples()),
        }
    }

    fn num_batches(&self) -> Option<usize> {
        Some(self.samples().div_ceil(self.batch_size))
    }

    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        let (lo, hi) = super::batch_rows(index, self.batch_size, self.samples())?;
        let rows = self.order.rows(lo, hi);
        batch.set_len(rows.len())?;
        self.x.read(rows, batch.x_mut(0))?;
        if let Some(y) = &self.y {
            y.read(rows, batch.y_mut(0))?;
        }
        Ok(())
    }

    fn samples(&self) -> Option<usize> {
        Some(NpyDataset::samples(self))
    }

    fn on_epoch_end(&mut self) {
        self.order.next_epoch();
    }
}
