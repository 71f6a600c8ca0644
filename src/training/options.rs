//! `FitOptions`: the arguments of `fit`, with Keras's defaults.

use super::SplitMode;
use crate::callbacks::{Callback, History};
use crate::tensor::Tensor;

/// The arguments of [`Sequential::fit`](crate::Sequential::fit), with Keras's defaults:
/// `batch_size` 32, `epochs` 1, `verbose` 1, `validation_split` 0, `shuffle` true,
/// `initial_epoch` 0, `validation_freq` 1.
///
/// ```
/// use minibatch::{callbacks::EarlyStopping, FitOptions};
/// let mut stop = EarlyStopping::new().patience(2);
/// let options = FitOptions::new().batch_size(10).epochs(20).validation_split(0.2).callback(&mut stop);
/// ```
pub struct FitOptions<'a> {
    pub(crate) batch_size: usize,
    pub(crate) epochs: usize,
    pub(crate) verbose: u8,
    pub(crate) validation_split: f64,
    pub(crate) split_mode: SplitMode,
    pub(crate) validation_data: Option<(&'a Tensor, &'a Tensor)>,
    pub(crate) shuffle: bool,
    pub(crate) initial_epoch: usize,
    pub(crate) validation_freq: usize,
    pub(crate) callbacks: Vec<&'a mut dyn Callback>,
    pub(crate) history: Option<History>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            epochs: 1,
            verbose: 1,
            validation_split: 0.0,
            split_mode: SplitMode::Tail,
            validation_data: None,
            shuffle: true,
            initial_epoch: 0,
            validation_freq: 1,
            callbacks: Vec::new(),
            history: None,
        }
    }
}

impl<'a> FitOptions<'a> {
    /// Keras's defaults.
    pub fn new() -> Self {
        FitOptions::default()
    }
    /// Samples per weight update (default 32); the last batch of an epoch may be smaller.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// The epoch index to stop before (default 1). With `initial_epoch`, epochs
    /// `initial_epoch..epochs` run.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// 0 silent, 1 progress bar (default), 2 one line per epoch.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
    /// Holds out the *last* fraction of the samples, before any shuffling, for validation.
    pub fn validation_split(mut self, split: f64) -> Self {
        self.validation_split = split;
        self
    }
    /// How `validation_split` chooses its samples: Keras's tail (default), or a seeded
    /// shuffled or stratified choice (see [`SplitMode`]).
    pub fn validation_split_mode(mut self, mode: SplitMode) -> Self {
        self.split_mode = mode;
        self
    }
    /// Validation data; takes precedence over `validation_split`.
    pub fn validation_data(mut self, x: &'a Tensor, y: &'a Tensor) -> Self {
        self.validation_data = Some((x, y));
        self
    }
    /// Reshuffle the training samples every epoch (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// The first epoch index (to resume a run).
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }
    /// Validate every `n` epochs (default 1): after epochs whose 1-based number divides by `n`.
    pub fn validation_freq(mut self, n: usize) -> Self {
        self.validation_freq = n;
        self
    }
    /// Continues `history`, the History of an earlier `fit`: training starts at the epoch after
    /// its last (`initial_epoch`, which a later call may still override) and the returned
    /// History holds the earlier epochs followed by the new ones, so a run trained in several
    /// calls has one whole learning curve. (Keras returns a fresh History per call.)
    ///
    /// ```
    /// # use minibatch::{datasets, layers::Dense, FitOptions, Sequential};
    /// # let d = datasets::load("blobs", 0).unwrap();
    /// # let mut model = Sequential::new().add(Dense::new(3).activation("softmax"));
    /// # model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    /// let first = model.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(3).verbose(0)).unwrap();
    /// let whole = model
    ///     .fit(&d.x_train, &d.y_train, FitOptions::new().epochs(5).verbose(0).continue_history(first))
    ///     .unwrap();
    /// assert_eq!(whole.epoch, [0, 1, 2, 3, 4]);
    /// ```
    pub fn continue_history(mut self, history: History) -> Self {
        self.initial_epoch = history.next_epoch();
        self.history = Some(history);
        self
    }
    /// Adds a callback; it stays the caller's, to read afterwards.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }
}
