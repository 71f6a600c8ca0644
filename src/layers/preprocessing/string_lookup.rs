//! `StringLookup` (see the type).

use crate::error::{Error, Result};
use std::collections::HashMap;

/// Keras's `StringLookup`: strings (a CSV's categories, a label's names) to indices of a
/// vocabulary learned by [`StringLookup::adapt`] (most frequent first; equal counts, the
/// larger string first, as Keras) or given. Index 0 is the mask token's when there is one,
/// then `num_oov_indices` for strings not in the vocabulary (`[UNK]`; with several, a string
/// takes OOV index `Fingerprint64(s) mod n`, FarmHash's, as Keras's `to_hash_bucket_fast`), then the
/// vocabulary in order.
///
/// minibatch's tensors hold numbers, so this is not a layer inside a model: it turns strings
/// into the indices a model takes, before the model (the command's CSV loader uses it for
/// string columns, and saves the vocabulary with the model so `predict` reads raw files the
/// same way). [`IntegerLookup`](crate::layers::IntegerLookup) is its in-model counterpart.
///
/// ```
/// use minibatch::layers::StringLookup;
/// let mut colors = StringLookup::new();
/// colors.adapt(["red", "blue", "red", "green", "red", "blue"]).unwrap();
/// assert_eq!(colors.get_vocabulary(), ["[UNK]", "red", "blue", "green"]);
/// assert_eq!((colors.lookup("blue"), colors.lookup("mauve")), (2, 0));
/// assert_eq!(colors.invert(1), "red");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Saved", into = "Saved")]
pub struct StringLookup {
    vocabulary: Vec<String>,
    num_oov_indices: usize,
    mask_token: Option<String>,
    oov_token: String,
    index: HashMap<String, usize>,
}

/// What a saved [`StringLookup`] holds (Keras's names); the index is rebuilt from it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Saved {
    vocabulary: Vec<String>,
    num_oov_indices: usize,
    mask_token: Option<String>,
    oov_token: String,
}

/// The most OOV indices a lookup takes (a saved file's count is checked against it before
/// `get_vocabulary` would repeat `[UNK]` that many times).
const MOST_OOV_INDICES: usize = 1 << 20;

impl TryFrom<Saved> for StringLookup {
    type Error = String;
    fn try_from(s: Saved) -> std::result::Result<Self, String> {
        if s.num_oov_indices > MOST_OOV_INDICES {
            return Err(format!("num_oov_indices {} (at most {MOST_OOV_INDICES})", s.num_oov_indices));
        }
        let mut l = StringLookup {
            vocabulary: s.vocabulary,
            num_oov_indices: s.num_oov_indices,
            mask_token: s.mask_token,
            oov_token: s.oov_token,
            index: HashMap::new(),
        };
        l.reindex();
        Ok(l)
    }
}

impl From<StringLookup> for Saved {
    fn from(l: StringLookup) -> Self {
        Saved {
            vocabulary: l.vocabulary,
            num_oov_indices: l.num_oov_indices,
            mask_token: l.mask_token,
            oov_token: l.oov_token,
        }
    }
}

impl Default for StringLookup {
    fn default() -> Self {
        StringLookup::new()
    }
}

impl StringLookup {
    /// An empty vocabulary, one OOV index (`[UNK]`), no mask token.
    pub fn new() -> Self {
        StringLookup {
            vocabulary: Vec::new(),
            num_oov_indices: 1,
            mask_token: None,
            oov_token: "[UNK]".into(),
            index: HashMap::new(),
        }
    }

    /// A given vocabulary, in index order.
    ///
    /// # Errors
    /// A string given twice, or the mask token among them.
    pub fn with_vocabulary<S: AsRef<str>>(mut self, vocabulary: &[S]) -> Result<Self> {
        let vocabulary: Vec<String> = vocabulary.iter().map(|s| s.as_ref().to_string()).collect();
        for (i, s) in vocabulary.iter().enumerate() {
            if vocabulary[..i].contains(s) || self.mask_token.as_ref() == Some(s) {
                return Err(Error::invalid("vocabulary", s, "distinct strings other than the mask token"));
            }
        }
        self.vocabulary = vocabulary;
        self.reindex();
        Ok(self)
    }

    /// Strings outside the vocabulary: 1 index (default), several (a string takes the
    /// `Fingerprint64(s) mod n`-th, as Keras hashes it), or none (then they are errors).
    ///
    /// # Errors
    /// More than 1048576.
    pub fn num_oov_indices(mut self, n: usize) -> Result<Self> {
        if n > MOST_OOV_INDICES {
            return Err(Error::invalid("num_oov_indices", n, format!("at most {MOST_OOV_INDICES}")));
        }
        self.num_oov_indices = n;
        self.reindex();
        Ok(self)
    }

    /// A string meaning "no value", given index 0 (Keras's `mask_token`).
    pub fn mask_token(mut self, token: &str) -> Self {
        self.mask_token = Some(token.into());
        self.reindex();
        self
    }

    /// Learns the vocabulary: most frequent first, equal counts the larger string first
    /// (Keras's order); the mask token is left out.
    ///
    /// # Errors
    /// [`Error::Empty`] for no strings.
    pub fn adapt<'s>(&mut self, strings: impl IntoIterator<Item = &'s str>) -> Result<()> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for s in strings {
            if self.mask_token.as_deref() != Some(s) {
                *counts.entry(s).or_default() += 1;
            }
        }
        if counts.is_empty() {
            return Err(Error::Empty { what: "strings to adapt StringLookup to".into() });
        }
        self.vocabulary = by_frequency(counts).into_iter().map(str::to_string).collect();
        self.reindex();
        Ok(())
    }

    /// A lookup (one OOV index, no mask) learned from each string's count, as
    /// [`StringLookup::adapt`] would learn it from the strings themselves.
    ///
    /// # Errors
    /// [`Error::Empty`] for no strings.
    pub fn from_counts(counts: HashMap<String, usize>) -> Result<Self> {
        if counts.is_empty() {
            return Err(Error::Empty { what: "strings to adapt StringLookup to".into() });
        }
        let mut lookup = StringLookup::new();
        lookup.vocabulary = by_frequency(counts);
        lookup.reindex();
        Ok(lookup)
    }

    /// Keras's `get_vocabulary()`: every index's string, the mask token and `[UNK]` first.
    pub fn get_vocabulary(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.mask_token.iter().map(String::as_str).collect();
        out.extend(std::iter::repeat_n(self.oov_token.as_str(), self.num_oov_indices));
        out.extend(self.vocabulary.iter().map(String::as_str));
        out
    }

    /// Indices in all: mask, OOV and vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.start() + self.vocabulary.len()
    }

    /// The index of `s`: its place, the mask's 0, or its OOV index.
    pub fn lookup(&self, s: &str) -> usize {
        self.try_lookup(s).unwrap_or_else(|| self.oov_index(s))
    }

    /// The OOV index of a string outside the vocabulary: the first, or with several its
    /// FarmHash `Fingerprint64` bucket (Keras's `tf.strings.to_hash_bucket_fast`).
    fn oov_index(&self, s: &str) -> usize {
        let bucket = match self.num_oov_indices {
            0 | 1 => 0,
            n => (farmhash::fingerprint64(s.as_bytes()) % n as u64) as usize,
        };
        self.mask_token.is_some() as usize + bucket
    }

    /// The index of `s`, or `None` for a string outside the vocabulary.
    pub fn try_lookup(&self, s: &str) -> Option<usize> {
        if self.mask_token.as_deref() == Some(s) {
            return Some(0);
        }
        self.index.get(s).copied()
    }

    /// The index of `s`, with `num_oov_indices` 0 an error for a string never seen.
    ///
    /// # Errors
    /// A string outside the vocabulary when there is no OOV index, named with `what`
    /// (`row 7, column "color"`).
    pub fn lookup_strict(&self, s: &str, what: &dyn Fn() -> String) -> Result<usize> {
        match self.try_lookup(s) {
            Some(i) => Ok(i),
            None if self.num_oov_indices >= 1 => Ok(self.oov_index(s)),
            None => Err(Error::invalid(
                "string",
                format!("{s:?}"),
                format!("one of the {} strings the lookup learned ({})", self.vocabulary.len(), what()),
            )),
        }
    }

    /// The string at index `i`: the mask token, `[UNK]` for an OOV index or one past the
    /// vocabulary.
    pub fn invert(&self, i: usize) -> &str {
        match &self.mask_token {
            Some(m) if i == 0 => m,
            _ => self.vocabulary.get(i.wrapping_sub(self.start())).map_or(self.oov_token.as_str(), String::as_str),
        }
    }

    fn start(&self) -> usize {
        self.mask_token.is_some() as usize + self.num_oov_indices
    }

    fn reindex(&mut self) {
        let start = self.start();
        self.index = self.vocabulary.iter().enumerate().map(|(i, s)| (s.clone(), start + i)).collect();
    }
}

/// Keras's vocabulary order: most frequent first, equal counts the larger token first (its
/// `lexsort` of (token, count), reversed). [`crate::layers::IntegerLookup`] learns the same
/// way.
pub(super) fn by_frequency<T: Ord>(counts: HashMap<T, usize>) -> Vec<T> {
    let mut tokens: Vec<(T, usize)> = counts.into_iter().collect();
    tokens.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    tokens.into_iter().map(|(t, _)| t).collect()
}
