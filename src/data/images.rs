//! Image folders as a [`Dataset`]: Keras's `image_dataset_from_directory`, decoded a batch at a
//! time (by the prefetching workers when there are any), so a folder larger than memory
//! trains.

use super::order::Order;
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use crate::io::images::{check_size, decode_image, image_header, list_image_folder, ColorMode};
use crate::rng::Rng;
use std::path::{Path, PathBuf};

/// Which side of a `validation_split` a dataset serves (Keras's `subset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// The first `n − ⌊split · n⌋` files of the seeded order.
    Training,
    /// The last `⌊split · n⌋`.
    Validation,
}

/// The images under a folder of class sub-folders, as Keras's
/// `image_dataset_from_directory(dir, labels="inferred")` reads them (classes are the sorted
/// sub-folder names; PNG, JPEG, GIF, BMP), decoded when a batch is filled: pixels 0..255 as
/// Keras gives them, `[height, width, channels]` by `color_mode`, resized (bilinear) to
/// `image_size` when given, else all of the first image's size.
///
/// ```no_run
/// use minibatch::data::{ImageFolderDataset, Subset};
/// use minibatch::io::ColorMode;
/// let train = ImageFolderDataset::open("photos/", 32)?
///     .image_size(64, 64)
///     .color_mode(ColorMode::Rgb)
///     .validation_split(0.2, Subset::Training, 7)?
///     .shuffle(7);
/// # Ok::<(), minibatch::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageFolderDataset {
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// The first image (in sorted order): its size is every image's without `image_size`.
    first: PathBuf,
    labels: Vec<f32>,
    class_names: Vec<String>,
    color: ColorMode,
    size: (usize, usize),
    resize: bool,
    batch_size: usize,
    /// The rows served and their order.
    order: Order,
}

impl ImageFolderDataset {
    /// The images under `dir`, `batch_size` a batch, RGB, of the first image's size.
    ///
    /// # Errors
    /// A folder that cannot be read, no class folders, an empty class folder, a first image
    /// whose header cannot be read or declares more than 16384 pixels a side; `batch_size` 0.
    pub fn open(dir: impl AsRef<Path>, batch_size: usize) -> Result<ImageFolderDataset> {
        ImageFolderDataset::open_with_classes(dir, batch_size, None)
    }

    /// [`ImageFolderDataset::open`] with the class names fixed (a saved model's), a folder not
    /// among them an error.
    ///
    /// # Errors
    /// As [`ImageFolderDataset::open`].
    pub fn open_with_classes(
        dir: impl AsRef<Path>,
        batch_size: usize,
        classes: Option<&[String]>,
    ) -> Result<ImageFolderDataset> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let dir = dir.as_ref();
        let listing = list_image_folder(dir, classes)?;
        let first = &listing.files[0];
        let (h, w) = image_header(first)?;
        Ok(ImageFolderDataset {
            dir: dir.to_path_buf(),
            order: Order::all(listing.files.len()),
            first: first.clone(),
            files: listing.files,
            labels: listing.labels,
            class_names: listing.class_names,
            color: ColorMode::Rgb,
            size: (h, w),
            resize: false,
            batch_size,
        })
    }

    /// Every image resized to `height × width` (Keras's `image_size`).
    pub fn image_size(mut self, height: usize, width: usize) -> Self {
        self.size = (height, width);
        self.resize = true;
        self
    }

    /// Grayscale, RGB (default) or RGBA (Keras's `color_mode`).
    pub fn color_mode(mut self, color: ColorMode) -> Self {
        self.color = color;
        self
    }

    /// One side of a split, as Keras's `validation_split` with `subset` and `seed`: the files
    /// in an order drawn from `seed`, the last `⌊fraction · n⌋` of them validation, the rest
    /// training. Both sides of one folder with one seed are disjoint and cover it.
    ///
    /// # Errors
    /// A fraction outside `(0, 1)`, or one that leaves a side empty.
    pub fn validation_split(mut self, fraction: f64, subset: Subset, seed: u64) -> Result<ImageFolderDataset> {
        let n = self.files.len();
        let held = (fraction * n as f64) as usize;
        if !(fraction > 0.0 && fraction < 1.0) || held == 0 || held == n {
            return Err(Error::invalid(
                "validation_split",
                fraction,
                format!("a fraction in (0, 1) leaving files on both sides of the {n} in {}", self.dir.display()),
            ));
        }
        let mut order: Vec<usize> = (0..n).collect();
        Rng::derive(seed, 0x1_3a9e).shuffle(&mut order);
        let chosen = match subset {
            Subset::Training => &order[..n - held],
            Subset::Validation => &order[n - held..],
        };
        self.files = chosen.iter().map(|&i| self.files[i].clone()).collect();
        self.labels = chosen.iter().map(|&i| self.labels[i]).collect();
        self.order = self.order.resized(self.files.len());
        Ok(self)
    }

    /// Serves the images in an order drawn from `seed` and the epoch, anew every epoch.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.order = self.order.shuffle(seed);
        self
    }

    /// The class names: label `i` is `class_names()[i]`.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Images served.
    pub fn samples(&self) -> usize {
        self.files.len()
    }

    /// Each image's class index, in file order (not the epoch's).
    pub fn labels(&self) -> &[f32] {
        &self.labels
    }
}

impl Dataset for ImageFolderDataset {
    fn spec(&self) -> Spec {
        Spec {
            inputs: vec![vec![self.size.0, self.size.1, self.color.channels()]],
            targets: vec![vec![]],
            weighted: false,
            batch_size: self.batch_size.min(self.samples()),
        }
    }

    fn num_batches(&self) -> Option<usize> {
        Some(self.samples().div_ceil(self.batch_size))
    }

    fn samples(&self) -> Option<usize> {
        Some(self.files.len())
    }

    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        let (lo, hi) = super::batch_rows(index, self.batch_size, self.samples())?;
        batch.set_len(hi - lo)?;
        let per = self.size.0 * self.size.1 * self.color.channels();
        for (k, r) in self.order.rows(lo, hi).iter().enumerate() {
            let file = &self.files[r];
            let (pixels, dims) = decode_image(file, self.color, self.resize.then_some(self.size))?;
            check_size(file, &self.first, &self.size, dims)?;
            batch.x_mut(0)[k * per..][..per].copy_from_slice(&pixels);
            batch.y_mut(0)[k] = self.labels[r];
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: u64) {
        self.order.set_epoch(epoch);
    }

    fn on_epoch_end(&mut self) {
        self.order.next_epoch();
    }
}
