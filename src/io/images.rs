//! Image folders as Keras's `image_dataset_from_directory` reads them: one sub-folder per
//! class (sorted by name: the class index), PNG, JPEG, GIF or BMP files inside, decoded with
//! the `image` crate.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};

/// How many channels each image becomes (Keras's `color_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// One channel.
    Grayscale,
    /// Three channels (Keras's default).
    Rgb,
    /// Four channels.
    Rgba,
}

impl ColorMode {
    /// Keras's name: `grayscale`, `rgb` or `rgba`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for any other.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "grayscale" => Ok(ColorMode::Grayscale),
            "rgb" => Ok(ColorMode::Rgb),
            "rgba" => Ok(ColorMode::Rgba),
            other => Err(Error::UnknownName {
                kind: "color mode",
                name: other.into(),
                known: vec!["grayscale", "rgb", "rgba"],
            }),
        }
    }

    /// Channels per pixel: 1, 3 or 4.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// An image folder's images, labels and class names.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// `[n, height, width, channels]`, pixel values 0..255 as Keras gives them.
    pub x: Tensor,
    /// Each image's class index.
    pub y: Tensor,
    /// The class sub-folders' names, sorted: label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
    /// Each image's file, in the order of `x`.
    pub files: Vec<PathBuf>,
}

/// The file extensions read (Keras's `ALLOWLIST_FORMATS`, less WebP).
pub(crate) const EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "gif", "bmp"];

/// The largest side an image may declare: a file's header is not trusted with the size of an
/// allocation.
pub(crate) const MAX_SIDE: u32 = 16_384;

/// The most pixels one image may have, as read or as resized: 2^27 (134 million, 11585²).
/// A few compressed bytes can declare far more (a decompression bomb); Pillow refuses from
/// 179 million pixels for the same reason. No training image comes near it.
pub const MAX_PIXELS: usize = 1 << 27;

/// Reads the images under `dir`, one sub-folder per class, as Keras's
/// `image_dataset_from_directory(dir, labels="inferred", color_mode, image_size)` finds them:
/// classes are the sub-folders in sorted order, files in sorted order within each. With
/// `image_size` (height, width) every image is resized to it (bilinear); without, every image
/// must have the first one's size. `classes`, when given, fixes the class names and their
/// order (a saved model's), and a folder not among them is an error.
///
/// ```no_run
/// use minibatch::io::{load_image_folder, ColorMode};
/// let digits = load_image_folder("digits/", ColorMode::Grayscale, Some((28, 28)), None).unwrap();
/// assert_eq!(digits.x.shape()[1..], [28, 28, 1]);
/// ```
///
/// # Errors
/// [`Error::Io`] for a folder that cannot be read; [`Error::Format`] naming the folder or file
/// for no class folders, an empty class folder, an entry named as an image that is not a
/// regular file (a FIFO, a device), an image that cannot be decoded, one larger than 16384
/// pixels a side, or one of another size without `image_size`; [`Error::Memory`] when the
/// images, or one image, would decode to more than the decode budget
/// ([`crate::tensor::memory::decode_budget`]).
pub fn load_image_folder(
    dir: impl AsRef<Path>,
    color: ColorMode,
    image_size: Option<(usize, usize)>,
    classes: Option<&[String]>,
) -> Result<ImageFolder> {
    let dir = dir.as_ref();
    let listing = list_image_folder(dir, classes)?;
    let x = decode_images(dir, &listing.files, color, image_size)?;
    Ok(ImageFolder {
        x,
        y: Tensor::from_slice(&listing.labels),
        class_names: listing.class_names,
        files: listing.files,
    })
}

/// The images directly in `dir`, sorted by name, without labels: Keras's
/// `image_dataset_from_directory(dir, labels=None)`, for predicting new images. Pixels 0..255,
/// shaped and sized as [`load_image_folder`]'s; each image's file beside.
///
/// # Errors
/// As [`load_image_folder`]; [`Error::Format`] for a folder with no images in it.
pub fn load_images(
    dir: impl AsRef<Path>,
    color: ColorMode,
    image_size: Option<(usize, usize)>,
) -> Result<(Tensor, Vec<PathBuf>)> {
    let dir = dir.as_ref();
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(Error::format(dir, "holds no images (png, jpg, gif, bmp) and no class folders"));
    }
    Ok((decode_images(dir, &files, color, image_size)?, files))
}

/// Whether `dir` holds class folders (a labelled image folder) rather than images alone.
///
/// # Errors
/// [`Error::Io`] for a folder that cannot be read.
pub fn has_class_folders(dir: &Path) -> Result<bool> {
    Ok(super::file::sorted_entries(dir)?.iter().any(|p| p.is_dir()))
}

/// `files` decoded as `color`, at `image_size` or each at the first one's size, into
/// `[n, height, width, channels]` (0..255). The whole set's pixels are checked against the
/// decode budget before any is decoded.
fn decode_images(
    dir: &Path,
    files: &[PathBuf],
    color: ColorMode,
    image_size: Option<(usize, usize)>,
) -> Result<Tensor> {
    let (h, w) = match image_size {
        Some(size) => size,
        None => image_header(&files[0])?,
    };
    let shape = [files.len(), h, w, color.channels()];
    let what = match image_size {
        Some(_) => format!("the images of {}", dir.display()),
        None => format!("the images of {} (each the size of the first, {})", dir.display(), files[0].display()),
    };
    crate::tensor::memory::check_decoded(&what, &shape, 4)?;
    let mut pixels = Vec::with_capacity(shape.iter().product());
    for file in files {
        let (image, dims) = decode_image(file, color, image_size)?;
        check_size(file, &files[0], &(h, w), dims)?;
        pixels.extend(image);
    }
    Tensor::from_vec(&shape, pixels)
}

/// The image files in `folder` (by extension, sorted), each checked to be a regular file: a
/// FIFO named as an image would block the reader forever, a device could be endless.
fn image_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let images: Vec<PathBuf> = super::file::sorted_entries(folder)?
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
        })
        .collect();
    for image in &images {
        super::file::regular_file(image)?;
    }
    Ok(images)
}

/// An image folder's files and labels, not decoded.
#[derive(Debug, Clone)]
pub struct ImageListing {
    /// Every image file: classes in sorted order, files in sorted order within each.
    pub files: Vec<PathBuf>,
    /// Each file's class index.
    pub labels: Vec<f32>,
    /// The class sub-folders' names: label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
}

/// The files of an image folder as [`load_image_folder`] finds them, without decoding any.
///
/// # Errors
/// As [`load_image_folder`] for the folders.
pub fn list_image_folder(dir: &Path, classes: Option<&[String]>) -> Result<ImageListing> {
    let found: Vec<String> = super::file::sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if found.is_empty() {
        return Err(Error::format(
            dir,
            "holds no class folders (one sub-folder of images per class; predict reads a folder of images alone)",
        ));
    }
    let class_names = match classes {
        Some(known) if !known.is_empty() => {
            if let Some(stray) = found.iter().find(|f| !known.contains(f)) {
                let message =
                    format!("class folder {stray:?} is not one of the model's classes ({})", known.join(", "));
                return Err(Error::format(dir, message));
            }
            known.to_vec()
        }
        _ => found.clone(),
    };
    let (mut files, mut labels) = (Vec::new(), Vec::new());
    for name in &found {
        let class = class_names.iter().position(|c| c == name).expect("checked above");
        let folder = dir.join(name);
        let images = image_files(&folder)?;
        if images.is_empty() {
            return Err(Error::format(&folder, format!("class folder {name:?} holds no images (png, jpg, gif, bmp)")));
        }
        labels.extend(std::iter::repeat_n(class as f32, images.len()));
        files.extend(images);
    }
    Ok(ImageListing { files, labels, class_names })
}

/// An image of `dims` where the folder's are `size` (height, width), the size of its first
/// image `first`: an error naming both files.
pub(crate) fn check_size(file: &Path, first: &Path, size: &(usize, usize), dims: (usize, usize)) -> Result<()> {
    let (h, w) = *size;
    if (h, w) == dims {
        return Ok(());
    }
    Err(Error::format(
        file,
        format!(
            "is {}×{} where the folder's first image, {}, is {h}×{w}: give image_size \
             (the command's --image-size) to resize them all",
            dims.0,
            dims.1,
            first.display()
        ),
    ))
}

/// An image's (height, width) from its header, checked against [`MAX_SIDE`], without
/// decoding it.
pub(crate) fn image_header(file: &Path) -> Result<(usize, usize)> {
    let reader = std::io::BufReader::new(super::file::open_regular(file)?);
    let reader = image::io::Reader::new(reader).with_guessed_format().map_err(|e| Error::io(file, &e))?;
    let (w, h) =
        reader.into_dimensions().map_err(|e| Error::format(file, format!("cannot be decoded as an image: {e}")))?;
    if w.max(h) > MAX_SIDE {
        return Err(Error::format(file, format!("is {h}×{w}: more than {MAX_SIDE} pixels a side")));
    }
    Ok((h as usize, w as usize))
}

/// The pixels of `file` as `color` (0..255), resized to `size` when given, and their
/// (height, width). The size its header declares is checked against the decode budget
/// before anything is decoded: a few compressed bytes can declare gigabytes of pixels.
pub(crate) fn decode_image(
    file: &Path,
    color: ColorMode,
    size: Option<(usize, usize)>,
) -> Result<(Vec<f32>, (usize, usize))> {
    let (h, w) = image_header(file)?;
    // Held at once: the decoded image (up to 8 bytes a pixel: RGBA at 16 bits), its 8-bit
    // conversion and the f32 pixels; the same again at the requested size.
    let per_pixel = 8 + 4 + 4 * color.channels() as u64;
    let what = file.display().to_string();
    for (what, (h, w)) in [(what.clone(), (h, w)), (format!("{what} resized"), size.unwrap_or((h, w)))] {
        if h.saturating_mul(w) > MAX_PIXELS {
            return Err(Error::Memory {
                what,
                shape: vec![h, w, color.channels()],
                bytes: (h as u64 * w as u64).saturating_mul(per_pixel),
                within: format!(
                    "the {MAX_PIXELS} pixels minibatch decodes from one image ({h}×{w} declared; a decompression bomb?)"
                ),
            });
        }
        crate::tensor::memory::check_decoded(&what, &[h, w], per_pixel)?;
    }
    let reader = std::io::BufReader::new(super::file::open_regular(file)?);
    let mut reader = image::io::Reader::new(reader).with_guessed_format().map_err(|e| Error::io(file, &e))?;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(crate::tensor::memory::decode_budget());
    reader.limits(limits);
    let mut img = reader.decode().map_err(|e| Error::format(file, format!("cannot be decoded as an image: {e}")))?;
    if let Some((h, w)) = size.filter(|&(h, w)| (img.height() as usize, img.width() as usize) != (h, w)) {
        img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    }
    let dims = (img.height() as usize, img.width() as usize);
    let pixels: Vec<f32> = match color {
        ColorMode::Grayscale => img.to_luma8().into_raw().into_iter().map(f32::from).collect(),
        ColorMode::Rgb => img.to_rgb8().into_raw().into_iter().map(f32::from).collect(),
        ColorMode::Rgba => img.to_rgba8().into_raw().into_iter().map(f32::from).collect(),
    };
    Ok((pixels, dims))
}
