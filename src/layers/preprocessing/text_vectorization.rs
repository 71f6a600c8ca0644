//! `TextVectorization` (see the type): text to token ids or bag-of-words rows, natively (Keras
//! needs TensorFlow installed for this layer under every backend: keras-team/keras#18516).
//!
//! ```text
//! text ─ standardize ─▶ "the cat sat on the mat"      lower ASCII, strip ASCII punctuation
//!      ─ split ──────▶ [the, cat, sat, on, the, mat]  runs of ASCII whitespace, or characters
//!      ─ ngrams ─────▶ [the, …, the cat, cat sat, …]  every 1-gram, then every 2-gram, …
//!      ─ lookup ─────▶ int:       [2, 7, 6, 9, 2, 21]  0 padding, 1 [UNK], then the vocabulary
//!                      multi_hot: [0, 1, 0, 0, 0, 0, 1, 1, …]  column 0 [UNK], then the vocabulary
//!                      count:     how many times each; tf_idf: count · idf
//! ```

use super::string_lookup::by_frequency;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// How text is standardized before it is split (Keras's `standardize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standardize {
    /// ASCII letters lowercased, then ASCII punctuation removed (Keras's default).
    LowerAndStripPunctuation,
    /// ASCII letters lowercased (TensorFlow's `tf.strings.lower`: `É` stays `É`).
    Lower,
    /// ASCII punctuation removed: ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~``.
    StripPunctuation,
}

/// How standardized text becomes tokens (Keras's `split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Runs of ASCII whitespace separate tokens; none is empty (Keras's default).
    Whitespace,
    /// Every character (Unicode scalar value) is a token.
    Character,
}

/// What [`TextVectorization`] outputs (Keras's `output_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOutput {
    /// Token ids `[batch, length]`: 0 pads, 1 is `[UNK]`, then the vocabulary.
    Int,
    /// `[batch, columns]`, 1 where a token occurs: column 0 `[UNK]`, then the vocabulary.
    MultiHot,
    /// `[batch, columns]`: how many times each token occurs.
    Count,
    /// `[batch, columns]`: count times the token's inverse document frequency from `adapt`.
    TfIdf,
}

impl TextOutput {
    /// Keras's name: `int`, `multi_hot`, `count` or `tf_idf`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for any other.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "int" => Ok(TextOutput::Int),
            "multi_hot" => Ok(TextOutput::MultiHot),
            "count" => Ok(TextOutput::Count),
            "tf_idf" => Ok(TextOutput::TfIdf),
            other => Err(Error::UnknownName {
                kind: "output_mode",
                name: other.into(),
                known: vec!["int", "multi_hot", "count", "tf_idf"],
            }),
        }
    }
}

/// The padding token (index 0 in `int` mode) and the out-of-vocabulary token.
const PAD: &str = "";
const OOV: &str = "[UNK]";

/// Keras's `TextVectorization`: strings to token ids (for an `Embedding`) or to bag-of-words
/// rows (for a `Dense` layer), with the vocabulary (and, for `tf_idf`, the inverse document
/// frequencies) learned by [`TextVectorization::adapt`] from an in-memory list or
/// [`TextVectorization::adapt_file`] from a text file streamed line by line. Standardization,
/// splitting, ngrams and lookup follow Keras 3 (and TensorFlow's string ops under it): the
/// vocabulary is ordered by count, equal counts by the larger string first; `max_tokens`
/// counts the special tokens (`""` and `[UNK]` in `int` mode, `[UNK]` otherwise).
///
/// minibatch's tensors hold numbers, so, as [`StringLookup`](crate::layers::StringLookup),
/// this runs before the model rather than inside it; it serializes (serde) with Keras's
/// config names, and the command saves it in the model's metadata, so `predict` reads raw
/// text the way training did.
///
/// ```
/// use minibatch::layers::TextVectorization;
/// let mut text = TextVectorization::new().output_sequence_length(4);
/// text.adapt(["The cat sat.", "the dog sat!", "A cat"]).unwrap();
/// assert_eq!(text.get_vocabulary(), ["", "[UNK]", "the", "sat", "cat", "dog", "a"]);
/// let ids = text.call(&["the cat ran", "dog"]).unwrap();
/// assert_eq!(ids.shape(), &[2, 4]);
/// assert_eq!(ids.data(), &[2.0, 4.0, 1.0, 0.0, 5.0, 0.0, 0.0, 0.0]);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "TextVectorizationConfig", into = "TextVectorizationConfig")]
pub struct TextVectorization {
    config: TextVectorizationConfig,
    index: HashMap<String, usize>,
}

/// What a [`TextVectorization`] is made of, with Keras's names (its `get_config()`, plus the
/// learned vocabulary and inverse document frequencies that Keras keeps as assets).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextVectorizationConfig {
    /// The most columns or ids, special tokens included; `None`: no limit.
    pub max_tokens: Option<usize>,
    /// `None`: the text as it is.
    pub standardize: Option<Standardize>,
    /// `None`: each text is one token.
    pub split: Option<Split>,
    /// The ngram widths; empty: tokens alone (Keras's `ngrams=None`; `ngrams=2` is `[1, 2]`).
    pub ngrams: Vec<usize>,
    /// What `call` returns.
    pub output_mode: TextOutput,
    /// `int` mode: pad or truncate every row to this many ids (else to the longest row).
    pub output_sequence_length: Option<usize>,
    /// `multi_hot`, `count`, `tf_idf`: `max_tokens` columns even when the vocabulary is
    /// smaller.
    pub pad_to_max_tokens: bool,
    /// The learned tokens, most frequent first, without the special tokens.
    pub vocabulary: Vec<String>,
    /// `tf_idf`: the weight of each column (`[UNK]`'s first: the mean of the others).
    pub idf_weights: Vec<f32>,
}

/// The most vocabulary tokens or ngram width a saved configuration may claim: checked before
/// anything is sized by it.
const MOST_TOKENS: usize = 1 << 24;
const MOST_NGRAM: usize = 64;

impl TextVectorizationConfig {
    fn check(&self) -> Result<()> {
        let start = if self.output_mode == TextOutput::Int { 2 } else { 1 };
        if let Some(m) = self.max_tokens {
            if m <= start {
                return Err(Error::invalid(
                    "max_tokens",
                    m,
                    format!("more than {start}: the special tokens take {start} (\"\" and [UNK] in int mode, [UNK] otherwise)"),
                ));
            }
        }
        if let Some(&n) = self.ngrams.iter().find(|&&n| n == 0 || n > MOST_NGRAM) {
            return Err(Error::invalid("ngrams", n, format!("widths from 1 to {MOST_NGRAM}")));
        }
        if self.output_sequence_length.is_some() && self.output_mode != TextOutput::Int {
            return Err(Error::invalid(
                "output_sequence_length",
                self.output_sequence_length.unwrap_or(0),
                "unset unless output_mode is int",
            ));
        }
        if self.output_sequence_length == Some(0) {
            return Err(Error::invalid("output_sequence_length", 0, "a positive number of ids per text"));
        }
        if self.pad_to_max_tokens && (self.max_tokens.is_none() || self.output_mode == TextOutput::Int) {
            return Err(Error::invalid(
                "pad_to_max_tokens",
                true,
                "set only with max_tokens, in multi_hot, count or tf_idf mode",
            ));
        }
        if self.vocabulary.len() > MOST_TOKENS {
            return Err(Error::invalid("vocabulary", self.vocabulary.len(), format!("at most {MOST_TOKENS} tokens")));
        }
        let columns = self.vocabulary.len() + 1;
        if self.output_mode == TextOutput::TfIdf && !self.vocabulary.is_empty() && self.idf_weights.len() < columns {
            return Err(Error::invalid(
                "idf_weights",
                self.idf_weights.len(),
                format!("one per column ({columns}: [UNK] and the vocabulary) in tf_idf mode"),
            ));
        }
        Ok(())
    }
}

impl TryFrom<TextVectorizationConfig> for TextVectorization {
    type Error = Error;
    fn try_from(config: TextVectorizationConfig) -> Result<Self> {
        config.check()?;
        let mut t = TextVectorization { config, index: HashMap::new() };
        t.reindex();
        Ok(t)
    }
}

impl From<TextVectorization> for TextVectorizationConfig {
    fn from(t: TextVectorization) -> Self {
        t.config
    }
}

impl Default for TextVectorization {
    fn default() -> Self {
        TextVectorization::new()
    }
}

impl TextVectorization {
    /// Keras's defaults: no token limit, `lower_and_strip_punctuation`, `whitespace`, no
    /// ngrams, `int` output padded to the longest text of each call.
    pub fn new() -> Self {
        TextVectorization {
            config: TextVectorizationConfig {
                max_tokens: None,
                standardize: Some(Standardize::LowerAndStripPunctuation),
                split: Some(Split::Whitespace),
                ngrams: Vec::new(),
                output_mode: TextOutput::Int,
                output_sequence_length: None,
                pad_to_max_tokens: false,
                vocabulary: Vec::new(),
                idf_weights: Vec::new(),
            },
            index: HashMap::new(),
        }
    }

    /// Rebuilds one from its configuration (a saved model's), checking it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming an argument out of range, or `idf_weights` missing in
    /// `tf_idf` mode.
    pub fn from_config(config: TextVectorizationConfig) -> Result<Self> {
        config.try_into()
    }

    /// The configuration, vocabulary included.
    pub fn config(&self) -> &TextVectorizationConfig {
        &self.config
    }

    /// The most ids or columns, special tokens included (checked at [`Self::adapt`] and
    /// [`Self::call`]).
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.config.max_tokens = Some(n);
        self
    }

    /// `standardize`: `lower_and_strip_punctuation` (the default), `lower`,
    /// `strip_punctuation`, or `None` for the text as it is.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for another name.
    pub fn standardize(mut self, name: Option<&str>) -> Result<Self> {
        self.config.standardize = match name {
            None => None,
            Some("lower_and_strip_punctuation") => Some(Standardize::LowerAndStripPunctuation),
            Some("lower") => Some(Standardize::Lower),
            Some("strip_punctuation") => Some(Standardize::StripPunctuation),
            Some(other) => {
                return Err(Error::UnknownName {
                    kind: "standardize",
                    name: other.into(),
                    known: vec!["lower_and_strip_punctuation", "lower", "strip_punctuation"],
                })
            }
        };
        Ok(self)
    }

    /// `split`: `whitespace` (the default), `character`, or `None` for the whole text as one
    /// token.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for another name.
    pub fn split(mut self, name: Option<&str>) -> Result<Self> {
        self.config.split = match name {
            None => None,
            Some("whitespace") => Some(Split::Whitespace),
            Some("character") => Some(Split::Character),
            Some(other) => {
                return Err(Error::UnknownName {
                    kind: "split",
                    name: other.into(),
                    known: vec!["whitespace", "character"],
                })
            }
        };
        Ok(self)
    }

    /// Ngrams of every width from 1 to `n` (Keras's `ngrams=n`).
    pub fn ngrams(mut self, n: usize) -> Self {
        self.config.ngrams = (1..=n).collect();
        if n == 0 {
            self.config.ngrams = vec![0];
        }
        self
    }

    /// Ngrams of the widths given (Keras's `ngrams=(1, 3)`).
    pub fn ngram_widths(mut self, widths: &[usize]) -> Self {
        self.config.ngrams = widths.to_vec();
        self
    }

    /// What [`Self::call`] returns (`int`, `multi_hot`, `count` or `tf_idf`).
    pub fn output_mode(mut self, mode: TextOutput) -> Self {
        self.config.output_mode = mode;
        self
    }

    /// `int` mode: every row padded with 0 or truncated to `n` ids.
    pub fn output_sequence_length(mut self, n: usize) -> Self {
        self.config.output_sequence_length = Some(n);
        self
    }

    /// Bag-of-words modes: `max_tokens` columns even when the vocabulary is smaller.
    pub fn pad_to_max_tokens(mut self, pad: bool) -> Self {
        self.config.pad_to_max_tokens = pad;
        self
    }

    /// Sets the vocabulary (without the special tokens), and in `tf_idf` mode each token's
    /// inverse document frequency (`[UNK]`'s is their mean), as Keras's `set_vocabulary`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a repeated or special token, or idf weights missing or
    /// not one per token.
    pub fn set_vocabulary<S: AsRef<str>>(&mut self, vocabulary: &[S], idf_weights: Option<&[f32]>) -> Result<()> {
        let tokens: Vec<String> = vocabulary.iter().map(|s| s.as_ref().to_string()).collect();
        let mut seen = HashSet::new();
        if let Some(t) = tokens.iter().find(|t| !seen.insert(t.as_str()) || *t == PAD || *t == OOV) {
            return Err(Error::invalid("vocabulary", format!("{t:?}"), "tokens once each, not \"\" or [UNK]"));
        }
        let idf = match (self.config.output_mode, idf_weights) {
            (TextOutput::TfIdf, Some(w)) if w.len() == tokens.len() => with_oov_mean(w),
            (TextOutput::TfIdf, w) => {
                return Err(Error::invalid(
                    "idf_weights",
                    w.map_or("none".to_string(), |w| w.len().to_string()),
                    format!("one per vocabulary token ({}) in tf_idf mode", tokens.len()),
                ))
            }
            (_, Some(_)) => {
                return Err(Error::invalid("idf_weights", "given", "only in tf_idf mode"));
            }
            (_, None) => Vec::new(),
        };
        let mut config = self.config.clone();
        (config.vocabulary, config.idf_weights) = (tokens, idf);
        *self = TextVectorization::from_config(config)?;
        Ok(())
    }

    /// Learns the vocabulary (and in `tf_idf` mode the inverse document frequencies) from
    /// `texts`, each one document, replacing what was there: tokens by count, equal counts
    /// the larger string first, as many as `max_tokens` leaves room for.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `texts` is empty or gives no token (an empty
    /// vocabulary), or for an argument out of range.
    pub fn adapt<'s>(&mut self, texts: impl IntoIterator<Item = &'s str>) -> Result<()> {
        self.config.check()?;
        let mut counts = Counts { idf: self.config.output_mode == TextOutput::TfIdf, ..Counts::default() };
        for text in texts {
            counts.add(&self.tokens(text));
        }
        self.finish(counts, "the texts")
    }

    /// [`Self::adapt`] over the lines of a UTF-8 text file (each line one document), streamed:
    /// memory holds the counts, never the file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the file, line and
    /// byte offset of bytes that are not UTF-8; as [`Self::adapt`].
    pub fn adapt_file(&mut self, path: &std::path::Path) -> Result<()> {
        self.config.check()?;
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
        let mut reader = std::io::BufReader::new(file);
        let mut counts = Counts { idf: self.config.output_mode == TextOutput::TfIdf, ..Counts::default() };
        let (mut line, mut offset) = (Vec::new(), 0usize);
        for number in 1.. {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(|e| Error::io(path, &e))?;
            if read == 0 {
                break;
            }
            let text = std::str::from_utf8(&line).map_err(|e| {
                let at = offset + e.valid_up_to();
                Error::format(path, format!("line {number} is not UTF-8 at byte offset {at}"))
            })?;
            counts.add(&self.tokens(text.trim_end_matches(['\n', '\r'])));
            offset += read;
        }
        self.finish(counts, &path.display().to_string())
    }

    /// The vocabulary from `counts` (of `what`, for the error).
    fn finish(&mut self, counts: Counts, what: &str) -> Result<()> {
        if counts.documents == 0 {
            return Err(Error::invalid("adapt data", format!("{what}: no text"), "at least one text"));
        }
        let start = self.start();
        let mut tokens = by_frequency(counts.tokens);
        tokens.retain(|t| t != PAD && t != OOV);
        if let Some(m) = self.config.max_tokens {
            tokens.truncate(m.saturating_sub(start));
        }
        if tokens.is_empty() {
            return Err(Error::invalid(
                "adapt data",
                format!("{what}: {} texts without a token", counts.documents),
                "at least one token: an empty vocabulary would map every text to [UNK]",
            ));
        }
        let idf = if self.config.output_mode == TextOutput::TfIdf {
            let n = counts.documents as f64;
            let weights: Vec<f32> =
                tokens.iter().map(|t| (1.0 + n / (1.0 + counts.in_documents[t.as_str()] as f64)).ln() as f32).collect();
            with_oov_mean(&weights)
        } else {
            Vec::new()
        };
        let mut config = self.config.clone();
        (config.vocabulary, config.idf_weights) = (tokens, idf);
        *self = TextVectorization::from_config(config)?;
        Ok(())
    }

    /// Index of the first vocabulary token: after `""` and `[UNK]` in `int` mode, after
    /// `[UNK]` otherwise.
    fn start(&self) -> usize {
        if self.config.output_mode == TextOutput::Int {
            2
        } else {
            1
        }
    }

    fn reindex(&mut self) {
        let start = self.start();
        self.index = self.config.vocabulary.iter().enumerate().map(|(i, t)| (t.clone(), start + i)).collect();
    }

    /// The vocabulary with the special tokens first (`""`, `[UNK]` in `int` mode; `[UNK]`
    /// otherwise), as Keras's `get_vocabulary()`.
    pub fn get_vocabulary(&self) -> Vec<&str> {
        let special: &[&str] = if self.config.output_mode == TextOutput::Int { &[PAD, OOV] } else { &[OOV] };
        special.iter().copied().chain(self.config.vocabulary.iter().map(String::as_str)).collect()
    }

    /// Ids (`int`) or columns: the special tokens and the vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.start() + self.config.vocabulary.len()
    }

    /// Columns of a bag-of-words row: `max_tokens` with `pad_to_max_tokens`, else
    /// [`Self::vocabulary_size`].
    pub fn columns(&self) -> usize {
        match (self.config.pad_to_max_tokens, self.config.max_tokens) {
            (true, Some(m)) => m,
            _ => self.vocabulary_size(),
        }
    }

    /// `text` standardized, split and grouped into ngrams: the tokens looked up.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let standardized = standardize(text, self.config.standardize);
        let words: Vec<&str> = match self.config.split {
            None => vec![standardized.as_str()],
            // absl's ASCII whitespace, as TensorFlow's split: Rust's lacks the vertical tab.
            Some(Split::Whitespace) => {
                let space = |c: char| c.is_ascii_whitespace() || c == '\x0B';
                standardized.split(space).filter(|w| !w.is_empty()).collect()
            }
            Some(Split::Character) => {
                standardized.char_indices().map(|(i, c)| &standardized[i..i + c.len_utf8()]).collect()
            }
        };
        if self.config.ngrams.is_empty() {
            return words.into_iter().map(str::to_string).collect();
        }
        let mut tokens = Vec::new();
        for &width in &self.config.ngrams {
            if width > 0 && width <= words.len() {
                tokens.extend(words.windows(width).map(|w| w.join(" ")));
            }
        }
        tokens
    }

    /// The id of `token`: 0 for `""`, the vocabulary's index, else `[UNK]`'s (1 in `int` mode,
    /// 0 otherwise).
    pub fn id(&self, token: &str) -> usize {
        match self.index.get(token) {
            Some(&i) => i,
            None if token == PAD && self.config.output_mode == TextOutput::Int => 0,
            None => self.start() - 1,
        }
    }

    /// The output for `texts`: `[texts, length]` ids in `int` mode (length
    /// `output_sequence_length`, else the most tokens of any text, at least 1), else
    /// `[texts, columns]` rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no texts; [`Error::State`] for a bag-of-words mode with
    /// no vocabulary and no `pad_to_max_tokens` (nothing to size its columns).
    pub fn call<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor> {
        self.config.check()?;
        if texts.is_empty() {
            return Err(Error::invalid("texts", 0, "at least one text"));
        }
        let ids: Vec<Vec<usize>> =
            texts.iter().map(|t| self.tokens(t.as_ref()).iter().map(|s| self.id(s)).collect()).collect();
        let n = texts.len();
        if self.config.output_mode == TextOutput::Int {
            let longest = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let len = self.config.output_sequence_length.unwrap_or(longest);
            let mut out = vec![0.0f32; n * len];
            for (row, ids) in out.chunks_exact_mut(len).zip(&ids) {
                for (o, &i) in row.iter_mut().zip(ids) {
                    *o = i as f32;
                }
            }
            return Tensor::from_vec(&[n, len], out);
        }
        if self.config.vocabulary.is_empty() && !self.config.pad_to_max_tokens {
            return Err(Error::State(
                "TextVectorization in multi_hot, count or tf_idf mode needs a vocabulary: call adapt or set_vocabulary first (or set pad_to_max_tokens with max_tokens)".into(),
            ));
        }
        let columns = self.columns();
        let mut out = vec![0.0f32; n * columns];
        for (row, ids) in out.chunks_exact_mut(columns).zip(&ids) {
            for &i in ids.iter().filter(|&&i| i < columns) {
                row[i] = match self.config.output_mode {
                    TextOutput::MultiHot => 1.0,
                    _ => row[i] + 1.0,
                };
            }
            if self.config.output_mode == TextOutput::TfIdf {
                for (v, w) in row.iter_mut().zip(&self.config.idf_weights) {
                    *v *= w;
                }
                // Columns past the vocabulary (pad_to_max_tokens) weigh 0, as Keras pads.
                let weighted = self.config.idf_weights.len().min(columns);
                row[weighted..].fill(0.0);
            }
        }
        Tensor::from_vec(&[n, columns], out)
    }
}

/// `weights` with `[UNK]`'s in front: their mean, as Keras pads them.
fn with_oov_mean(weights: &[f32]) -> Vec<f32> {
    let mean = weights.iter().sum::<f32>() / weights.len().max(1) as f32;
    std::iter::once(mean).chain(weights.iter().copied()).collect()
}

/// Token counts over documents, and (with `idf`, for `tf_idf`) the documents each token
/// occurs in.
#[derive(Default)]
struct Counts {
    tokens: HashMap<String, usize>,
    in_documents: HashMap<String, usize>,
    documents: usize,
    idf: bool,
}

impl Counts {
    fn add(&mut self, tokens: &[String]) {
        self.documents += 1;
        let mut seen = HashSet::new();
        for t in tokens {
            bump(&mut self.tokens, t);
            if self.idf && seen.insert(t.as_str()) {
                bump(&mut self.in_documents, t);
            }
        }
    }
}

/// Counts `token` once more in `counts`, copying its string only the first time.
fn bump(counts: &mut HashMap<String, usize>, token: &str) {
    match counts.get_mut(token) {
        Some(count) => *count += 1,
        None => {
            counts.insert(token.to_string(), 1);
        }
    }
}

/// `text` standardized as TensorFlow's string ops do it: `tf.strings.lower` lowers ASCII
/// letters only; the punctuation Keras strips is ASCII's.
fn standardize(text: &str, how: Option<Standardize>) -> String {
    let (lower, strip) = match how {
        None => (false, false),
        Some(Standardize::LowerAndStripPunctuation) => (true, true),
        Some(Standardize::Lower) => (true, false),
        Some(Standardize::StripPunctuation) => (false, true),
    };
    text.chars()
        .filter(|c| !(strip && c.is_ascii_punctuation()))
        .map(|c| if lower { c.to_ascii_lowercase() } else { c })
        .collect()
}
