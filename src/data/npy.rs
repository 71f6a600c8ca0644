//! NPY files as a [`Dataset`], read a batch at a time: each batch's rows are read with
//! positional reads (`pread`) through a small fixed buffer and converted to f32 as they are
//! filled, so a file larger than memory trains with memory bounded by the batch, and a file
//! truncated while training is an error naming it (a memory map would kill the process with
//! `SIGBUS` on the first page past the new end).

use super::order::{Order, Rows};
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use crate::io::npy::NpyHeader;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read per `pread`: a multiple of every dtype's size, small enough for the stack.
const CHUNK: usize = 64 << 10;

/// One NPY array on disk: rows of `row_bytes` from `header.data_offset`.
#[derive(Debug)]
struct NpyFile {
    path: PathBuf,
    file: File,
    header: NpyHeader,
    row_bytes: usize,
}

impl NpyFile {
    fn open(path: &Path) -> Result<NpyFile> {
        let file = crate::io::file::open_regular(path)?;
        let file_len = file.metadata().map_err(|e| Error::io(path, &e))?.len();
        // The header: at most 64 KiB at the start (NPY version 1 caps it there; version 2's
        // longer headers are refused by the parser if they do not fit).
        let mut head = vec![0u8; (file_len.min(1 << 16)) as usize];
        file.read_exact_at(&mut head, 0).map_err(|e| Error::io(path, &e))?;
        let header = NpyHeader::parse(path, &head, file_len)?;
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
        Ok(NpyFile { path: path.to_path_buf(), file, header, row_bytes })
    }

    fn rows(&self) -> usize {
        self.header.shape[0]
    }

    /// Converts rows `rows` (each `row_bytes`) into `out`, reading them with `pread` through
    /// a buffer on the stack (allocating nothing). A file that has become shorter since it
    /// was opened is an error naming it.
    fn read(&self, rows: Rows<'_>, out: &mut [f32]) -> Result<()> {
        let start = self.header.data_offset;
        let per = out.len() / rows.len().max(1);
        match rows {
            Rows::Range(lo, hi) => self.convert(start + lo * self.row_bytes, (hi - lo) * self.row_bytes, out),
            Rows::List(list) => {
                for (o, &r) in out.chunks_exact_mut(per).zip(list) {
                    self.convert(start + r * self.row_bytes, self.row_bytes, o)?;
                }
                Ok(())
            }
        }
    }

    /// Reads `len` bytes at `from` and converts them into `out`, a chunk at a time.
    fn convert(&self, from: usize, len: usize, out: &mut [f32]) -> Result<()> {
        let mut chunk = [0u8; CHUNK];
        let size = self.header.dtype.size();
        let mut done = 0;
        while done < len {
            let n = (len - done).min(CHUNK);
            let bytes = &mut chunk[..n];
            self.file.read_exact_at(bytes, (from + done) as u64).map_err(|e| {
                let now = self.file.metadata().map_or(0, |m| m.len());
                Error::format(
                    &self.path,
                    format!(
                        "bytes {}..{} cannot be read ({e}): the file is {now} bytes now (truncated while reading?)",
                        from + done,
                        from + done + n
                    ),
                )
            })?;
            self.header.dtype.convert(bytes, &mut out[done / size..(done + n) / size]);
            done += n;
        }
        Ok(())
    }
}

/// Samples in an NPY file `x` and their targets in an NPY file `y` (`np.save` of arrays
/// with the samples on the first axis), read a batch at a time: u1, i1, b1, u2, i2, u4, i4, i8, f4 and
/// f8 arrays, converted to f32 a batch at a time. Images stored as u8 (`|u1`, three or more
/// axes) are scaled from 0..255 to `[0, 1]`, as [`crate::io::load_npz`] scales them, so the
/// same bytes train the same whatever the container. Nothing is read before it is needed, and
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
    x: NpyFile,
    y: Option<NpyFile>,
    batch_size: usize,
    /// The rows served and their order (contiguous batches when neither a subset nor shuffled).
    order: Order,
    /// u8 images: each value read is scaled by 1/255.
    pixels: bool,
    /// A channel axis of 1 given to images of `[height, width]` (see [`NpyDataset::with_channel_axis`]).
    channel_axis: bool,
}

impl NpyDataset {
    /// Opens `x` and, when given, `y` (one target per sample, or a row of them), served
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
        let x = NpyFile::open(x.as_ref())?;
        if x.header.shape.len() < 2 {
            return Err(Error::shape(
                format!("x ({})", x.path.display()),
                "[samples, features…]: a batch axis and at least one feature axis",
                &x.header.shape,
            ));
        }
        let y = y.map(NpyFile::open).transpose()?;
        if let Some(y) = &y {
            if y.rows() != x.rows() {
                return Err(Error::SampleCount { x: x.rows(), y: y.rows() });
            }
        }
        let order = Order::all(x.rows());
        let pixels = crate::io::holds_u8_images(&x.header.descr, &x.header.shape);
        Ok(NpyDataset { x, y, batch_size, order, pixels, channel_axis: false })
    }

    /// Serves `batch_size` samples a batch from now on (a batch size chosen once the model is
    /// known, such as the largest a memory budget allows).
    ///
    /// # Errors
    /// `batch_size` 0.
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<NpyDataset> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        self.batch_size = batch_size;
        Ok(self)
    }

    /// Samples of `[height, width]` served as `[height, width, 1]` (a grayscale image's channel
    /// axis, which a convolution needs; the values are the same); others as they are.
    pub fn with_channel_axis(mut self) -> NpyDataset {
        self.channel_axis = self.x.header.shape.len() == 3;
        self
    }

    /// Whether x holds u8 images, served scaled to `[0, 1]`.
    pub fn scales_pixels(&self) -> bool {
        self.pixels
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
        let mut sample = self.x.header.shape[1..].to_vec();
        if self.channel_axis {
            sample.push(1);
        }
        Spec {
            inputs: vec![sample],
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
        let x = batch.x_mut(0);
        self.x.read(rows, x)?;
        if self.pixels {
            x.iter_mut().for_each(|v| *v /= 255.0);
        }
        if let Some(y) = &self.y {
            y.read(rows, batch.y_mut(0))?;
        }
        Ok(())
    }

    fn samples(&self) -> Option<usize> {
        Some(NpyDataset::samples(self))
    }

    fn on_epoch_begin(&mut self, epoch: u64) {
        self.order.set_epoch(epoch);
    }

    fn on_epoch_end(&mut self) {
        self.order.next_epoch();
    }
}
