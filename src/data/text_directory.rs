//! Keras's `text_dataset_from_directory`: a folder of class sub-folders of `.txt` files, read
//! into texts and labels (see [`text_dataset_from_directory`]).

use super::numpy_order::numpy_shuffle;
use super::Subset;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// How [`text_dataset_from_directory`] reads a folder (Keras's arguments; `labels="inferred"`).
#[derive(Debug, Clone)]
pub struct TextDirectoryOptions {
    /// The classes in label order (their sub-folders); `None`: the sub-folders, sorted.
    pub class_names: Option<Vec<String>>,
    /// Truncate each text to at most this many bytes (at a character boundary).
    pub max_length: Option<usize>,
    /// Draw the files' order from `seed` as Keras does (NumPy's `RandomState(seed)`), else
    /// keep the sorted order.
    pub shuffle: bool,
    /// The seed of the order (Keras's `seed`; below 2³², as NumPy's legacy seeding takes it).
    pub seed: u64,
    /// With `subset`: the fraction of files (the last of the order) held out for validation.
    pub validation_split: Option<(f64, Subset)>,
    /// Follow symbolic links to folders while walking the class folders.
    pub follow_links: bool,
}

impl Default for TextDirectoryOptions {
    /// Keras's defaults: classes inferred, no truncation, shuffled (seed 0 here: Keras draws
    /// one), no split, links not followed.
    fn default() -> Self {
        TextDirectoryOptions {
            class_names: None,
            max_length: None,
            shuffle: true,
            seed: 0,
            validation_split: None,
            follow_links: false,
        }
    }
}

/// The texts of a class folder with their labels, in the order Keras's
/// `text_dataset_from_directory` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFolder {
    /// Each file's text.
    pub texts: Vec<String>,
    /// Each text's class index into `class_names`.
    pub labels: Vec<usize>,
    /// The classes: label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
    /// Each text's file.
    pub files: Vec<PathBuf>,
}

impl TextFolder {
    /// The labels as a `[texts]` tensor of class indices (for a sparse categorical loss).
    ///
    /// # Errors
    /// As [`crate::Tensor::from_vec`] (never for a folder read here: it has texts).
    pub fn label_tensor(&self) -> Result<crate::Tensor> {
        crate::Tensor::from_vec(&[self.labels.len()], self.labels.iter().map(|&l| l as f32).collect())
    }
}

/// The most bytes one text file may hold: checked against the file's size before reading it.
const MOST_TEXT_BYTES: u64 = 1 << 30;

/// Reads `dir`'s class sub-folders of `.txt` files as Keras's
/// `text_dataset_from_directory(dir, labels="inferred", label_mode="int")`: classes are the
/// sub-folders in sorted order (or `class_names`), each walked recursively for `.txt` files,
/// sorted by folder then name; with `shuffle`, the order NumPy's `RandomState(seed)` draws,
/// as Keras's `index_directory`; with a `validation_split`, the last `⌊split · n⌋` files of
/// that order are the validation subset and the others the training one — the same files on
/// the same side as Keras for the same seed.
///
/// minibatch returns the texts in memory, for [`crate::layers::TextVectorization`], rather
/// than batches of a `tf.data` pipeline; Keras's TensorFlow pipeline reshuffles every epoch
/// in its own order where `fit` reshuffles in minibatch's. Texts must be UTF-8 (Keras reads
/// bytes); `max_length` counts bytes as Keras's `tf.strings.substr` does, but never cuts a
/// character in two.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("minibatch-doc-text-{}", std::process::id()));
/// # for (class, file, text) in [("neg", "a.txt", "dull"), ("pos", "b.txt", "great fun")] {
/// #     std::fs::create_dir_all(dir.join(class)).unwrap();
/// #     std::fs::write(dir.join(class).join(file), text).unwrap();
/// # }
/// use minibatch::data::{text_dataset_from_directory, TextDirectoryOptions};
/// let options = TextDirectoryOptions { shuffle: false, ..TextDirectoryOptions::default() };
/// let folder = text_dataset_from_directory(&dir, &options).unwrap();
/// assert_eq!(folder.class_names, ["neg", "pos"]);
/// assert_eq!((folder.texts[1].as_str(), folder.labels[1]), ("great fun", 1));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::Format`] for a folder without class sub-folders, a class without `.txt` files, a
/// class folder not among `class_names`, or a file that is not UTF-8 (naming the file and the
/// byte offset); [`Error::InvalidArgument`] for a split outside (0, 1), a seed of 2³² or more,
/// or a subset left empty; [`Error::Io`] for what cannot be read.
pub fn text_dataset_from_directory(dir: &Path, options: &TextDirectoryOptions) -> Result<TextFolder> {
    if let Some((split, _)) = options.validation_split {
        if !(split > 0.0 && split < 1.0) {
            return Err(Error::invalid("validation_split", split, "a fraction strictly between 0 and 1"));
        }
    }
    let seed = u32::try_from(options.seed)
        .map_err(|_| Error::invalid("seed", options.seed, "below 2^32 (NumPy's RandomState takes 32 bits)"))?;
    let found: Vec<String> = crate::io::file::sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if found.is_empty() {
        return Err(Error::format(dir, "holds no class folders (one sub-folder of .txt files per class)"));
    }
    let class_names = match &options.class_names {
        Some(known) => {
            if let Some(stray) = found.iter().find(|f| !known.contains(f)).or(known.iter().find(|k| !found.contains(k)))
            {
                let message = format!(
                    "class folder {stray:?} is not both among the class names ({}) and the sub-folders ({})",
                    known.join(", "),
                    found.join(", ")
                );
                return Err(Error::format(dir, message));
            }
            known.clone()
        }
        None => found.clone(),
    };
    let (mut files, mut labels) = (Vec::new(), Vec::new());
    for (class, name) in class_names.iter().enumerate() {
        let folder = dir.join(name);
        let mut texts = Vec::new();
        walk_text_files(&folder, options.follow_links, &mut texts)?;
        if texts.is_empty() {
            return Err(Error::format(&folder, format!("class folder {name:?} holds no .txt files")));
        }
        // Keras sorts (folder, name) pairs of strings: a folder's own files before its
        // sub-folders', folders compared as strings (`a-b` before `a/x`).
        let key = |p: &PathBuf| {
            let bytes = |o: Option<&std::ffi::OsStr>| o.map(|o| o.as_encoded_bytes().to_vec()).unwrap_or_default();
            (bytes(p.parent().map(Path::as_os_str)), bytes(p.file_name()))
        };
        texts.sort_by_cached_key(key);
        labels.extend(std::iter::repeat_n(class, texts.len()));
        files.extend(texts);
    }
    if options.shuffle {
        numpy_shuffle(&mut files, seed);
        numpy_shuffle(&mut labels, seed);
    }
    if let Some((split, subset)) = options.validation_split {
        let held = (split * files.len() as f64) as usize;
        // Keras's `samples[:-0]` would leave the training side empty with no file held out.
        if held == 0 || held == files.len() {
            return Err(Error::invalid(
                "validation_split",
                split,
                format!("a split leaving files on both sides ({} files: {held} held out)", files.len()),
            ));
        }
        let keep = match subset {
            Subset::Training => 0..files.len() - held,
            Subset::Validation => files.len() - held..files.len(),
        };
        files = files[keep.clone()].to_vec();
        labels = labels[keep].to_vec();
    }
    let texts = files.iter().map(|f| read_text(f, options.max_length)).collect::<Result<Vec<_>>>()?;
    Ok(TextFolder { texts, labels, class_names, files })
}

/// Reads `file` as UTF-8, truncated to at most `max_length` bytes at a character boundary.
///
/// # Errors
/// [`Error::Format`] naming the file and the byte offset of the first byte that is not
/// UTF-8, or a file larger than 1 GiB; [`Error::Io`].
pub fn read_text(file: &Path, max_length: Option<usize>) -> Result<String> {
    let size = std::fs::metadata(file).map_err(|e| Error::io(file, &e))?.len();
    if size > MOST_TEXT_BYTES {
        return Err(Error::format(file, format!("holds {size} bytes: more than {MOST_TEXT_BYTES} for one text")));
    }
    let bytes = crate::io::file::read_file(file)?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        Error::format(
            file,
            format!("is not UTF-8 text: byte offset {} begins an invalid sequence", e.utf8_error().valid_up_to()),
        )
    })?;
    if let Some(max) = max_length {
        if text.len() > max {
            let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
        }
    }
    Ok(text)
}

/// Every `.txt` file under `folder`, recursively (into linked folders with `follow_links`).
fn walk_text_files(folder: &Path, follow_links: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in crate::io::file::sorted_entries(folder)? {
        let link = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, &e))?.file_type().is_symlink();
        if path.is_dir() {
            if !link || follow_links {
                walk_text_files(&path, follow_links, out)?;
            }
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
            crate::io::file::regular_file(&path)?;
            out.push(path);
        }
    }
    Ok(())
}
