//! The one error type of the library.
//!
//! The rule: everything a user can get wrong (shapes, empty data, arguments, names, labels,
//! non-finite numbers, files) is reported as an [`Error`] through `Result`. Internal invariants
//! (a buffer planned too small, a layer used before it was built) are programming errors and
//! assert. Messages follow Keras's style: what was expected, what was received, with the values.

use std::fmt;

/// Shorthand for `Result<T, minibatch::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong at the library's boundary.
///
/// `Debug` prints the same sentence as `Display`, so `fn main() -> Result<(), Error>` and
/// `unwrap()` show the message a user reads, not the variant's fields.
#[derive(Clone, PartialEq)]
pub enum Error {
    /// A tensor's shape does not fit where it was used.
    Shape {
        /// What was being checked, e.g. "input to layer dense_1".
        what: String,
        /// The shape that fits, as text (`[batch, 784]`).
        expected: String,
        /// The shape that was given.
        received: String,
    },
    /// `x` and `y` hold different numbers of samples.
    SampleCount {
        /// Samples in `x`.
        x: usize,
        /// Samples in `y`.
        y: usize,
    },
    /// A data set with no samples where some are needed.
    Empty {
        /// Which data: "x", "validation data", ...
        what: String,
    },
    /// An argument outside its valid range.
    InvalidArgument {
        /// The argument's name as the user wrote it (`batch_size`).
        name: &'static str,
        /// What was received.
        value: String,
        /// What would be valid.
        expected: String,
    },
    /// A NaN or infinite value in data that must be finite.
    NonFinite {
        /// Which data.
        what: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value itself.
        value: f32,
    },
    /// A label that the loss cannot accept.
    Label {
        /// Sample index of the first bad label.
        sample: usize,
        /// The label.
        label: f32,
        /// What labels the loss accepts.
        expected: String,
    },
    /// A string name that names nothing we know (`compile("adma", ...)`).
    UnknownName {
        /// What kind of thing: "optimizer", "loss", "metric", "activation", ...
        kind: &'static str,
        /// The name received.
        name: String,
        /// The names that exist.
        known: Vec<&'static str>,
    },
    /// A model used in a way its state does not allow (`fit` before `compile`).
    State(String),
    /// A file's content is truncated, corrupt or inconsistent.
    Format {
        /// The file.
        path: String,
        /// What is wrong, with the values involved.
        message: String,
    },
    /// A tensor that would not fit: in the machine's memory, in a model's weight budget, or
    /// in the bytes a model file holds (see [`crate::tensor::memory`]).
    Memory {
        /// The tensor: `dense_2's kernel`.
        what: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Bytes it would need.
        bytes: u64,
        /// What it would not fit in, as text.
        within: String,
    },
    /// A dataset's batch could not be filled, or failed the checks its data must pass.
    Batch {
        /// The batch's index in the dataset.
        index: usize,
        /// What went wrong.
        error: Box<Error>,
    },
    /// The processes of a distributed run disagree, or cannot go on together (see
    /// [`crate::distributed`]): different arguments or data, more processes than samples.
    Distributed {
        /// The process that found it (0-based).
        rank: usize,
        /// Processes in the run.
        size: usize,
        /// What is wrong, with the values involved.
        message: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { what, expected, received } => {
                write!(f, "shape mismatch for {what}: expected {expected}, received {received}")
            }
            Error::SampleCount { x, y } => {
                write!(f, "x and y must hold the same number of samples: received x with {x} samples and y with {y}")
            }
            Error::Empty { what } => write!(f, "{what} is empty: expected at least one sample"),
            Error::InvalidArgument { name, value, expected } => {
                write!(f, "invalid {name}: expected {expected}, received {name}={value}")
            }
            Error::NonFinite { what, index, value } => {
                write!(f, "{what} must be finite: received {value} at flat index {index}")
            }
            Error::Label { sample, label, expected } => {
                write!(f, "label out of range for the loss: expected {expected}, received {label} for sample {sample}")
            }
            Error::UnknownName { kind, name, known } => {
                write!(f, "unknown {kind} {name:?}: expected one of {}", known.join(", "))
            }
            Error::State(message) => f.write_str(message),
            Error::Format { path, message } => write!(f, "{path}: {message}"),
            Error::Memory { what, shape, bytes, within } => {
                write!(f, "{what} {shape:?} would need {}, more than {within}", human(*bytes))
            }
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::Batch { index, error } => write!(f, "batch {index} of the dataset: {error}"),
            Error::Distributed { rank, size, message } => write!(f, "rank {rank} of {size}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Builds an [`Error::Format`] for `path`.
    pub fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        Error::Format { path: path.display().to_string(), message: message.into() }
    }

    /// Builds an [`Error::Io`] for `path` from an I/O error.
    pub fn io(path: &std::path::Path, e: &std::io::Error) -> Self {
        Error::Io { path: path.display().to_string(), message: e.to_string() }
    }

    /// Builds an [`Error::InvalidArgument`].
    pub fn invalid(name: &'static str, value: impl fmt::Display, expected: impl Into<String>) -> Self {
        Error::InvalidArgument { name, value: value.to_string(), expected: expected.into() }
    }

    /// Builds an [`Error::Shape`] from two shapes.
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, received: &[usize]) -> Self {
        Error::Shape { what: what.into(), expected: expected.into(), received: format!("{received:?}") }
    }
}

/// Bytes as people read them: `256 GB`, `12.5 MB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        1_000_000_000..1_000_000_000_000 => format!("{:.1} GB", b / 1e9),
        _ => format!("{:.0} GB", b / 1e9),
    }
}
