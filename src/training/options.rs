//! `FitOptions`: the arguments of `fit`, with Keras's defaults.

use super::Arrays;
use super::SplitMode;
use crate::callbacks::{Callback, History};
use crate::data::Dataset;

/// The arguments of [`Model::fit`](crate::Model::fit), with Keras's defaults:
/// `batch_size` 32, `epochs` 1, `verbose` 1, `validation_split` 0, `shuffle` true,
/// `initial_epoch` 0, `validation_freq` 1, no sample or class weights, every batch every
/// epoch (`steps_per_epoch` none).
///
/// ```
/// use minibatch::{callbacks::EarlyStopping, FitOptions};
/// let mut stop = EarlyStopping::new().patience(2);
/// let options = FitOptions::new().batch_size(10).epochs(20).validation_split(0.2).callback(&mut stop);
/// ```
pub struct FitOptions<'a> {
    pub(crate) batch_size: usize,
    /// Whether `batch_size` was set (a dataset brings its own: Keras refuses both).
    pub(crate) batch_size_given: bool,
    pub(crate) epochs: usize,
    pub(crate) verbose: u8,
    pub(crate) validation_split: f64,
    pub(crate) split_mode: SplitMode,
    pub(crate) validation_data: Option<(Arrays<'a>, Arrays<'a>, Option<&'a [f32]>)>,
    pub(crate) validation_dataset: Option<&'a mut dyn Dataset>,
    pub(crate) workers: usize,
    pub(crate) max_queue_size: usize,
    pub(crate) validation_batch_size: Option<usize>,
    pub(crate) validation_steps: Option<usize>,
    pub(crate) steps_per_epoch: Option<usize>,
    pub(crate) sample_weight: Option<&'a [f32]>,
    pub(crate) class_weight: Option<super::ClassWeight>,
    pub(crate) shuffle: bool,
    pub(crate) initial_epoch: usize,
    pub(crate) validation_freq: usize,
    pub(crate) callbacks: Vec<&'a mut dyn Callback>,
    pub(crate) history: Option<History>,
    pub(crate) train_step: Option<&'a mut dyn super::TrainStep>,
    pub(crate) noise_scale: bool,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            batch_size_given: false,
            epochs: 1,
            verbose: 1,
            validation_split: 0.0,
            split_mode: SplitMode::Tail,
            validation_data: None,
            validation_dataset: None,
            workers: 0,
            max_queue_size: 10,
            validation_batch_size: None,
            validation_steps: None,
            steps_per_epoch: None,
            sample_weight: None,
            class_weight: None,
            shuffle: true,
            initial_epoch: 0,
            validation_freq: 1,
            callbacks: Vec::new(),
            history: None,
            train_step: None,
            noise_scale: false,
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
        self.batch_size_given = true;
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
    pub fn validation_data(mut self, x: impl Into<Arrays<'a>>, y: impl Into<Arrays<'a>>) -> Self {
        self.validation_data = Some((x.into(), y.into(), None));
        self
    }
    /// Validation data with one weight per sample (Keras's `validation_data=(x, y, w)`): the
    /// `val_loss` and weighted metrics weigh each sample by it.
    pub fn validation_data_weighted(
        mut self,
        x: impl Into<Arrays<'a>>,
        y: impl Into<Arrays<'a>>,
        sample_weight: &'a [f32],
    ) -> Self {
        self.validation_data = Some((x.into(), y.into(), Some(sample_weight)));
        self
    }
    /// A [`Dataset`] to validate on (Keras's `validation_data=dataset`), read with the same
    /// `workers` as the training data; with [`Model::fit`](crate::Model::fit) on arrays as
    /// well as with [`Model::fit_dataset`](crate::Model::fit_dataset).
    pub fn validation_dataset(mut self, data: &'a mut dyn Dataset) -> Self {
        self.validation_dataset = Some(data);
        self
    }
    /// Background threads that fill a dataset's batches ahead of the training step (default
    /// 0: the training thread fills each batch when it needs it). Keras 3 sets this on the
    /// `PyDataset` (`workers`, where its 1 means no background thread); here it is an argument
    /// of the call, so any [`Dataset`] can be prefetched. The batches, and so the History, are
    /// the same for any number.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Batches the workers may fill ahead of the training step (Keras's `max_queue_size`,
    /// default 10): the ring of planned batch buffers they fill.
    pub fn max_queue_size(mut self, n: usize) -> Self {
        self.max_queue_size = n;
        self
    }
    /// Samples per validation batch (default: `batch_size`). Only memory and rounding depend
    /// on it.
    pub fn validation_batch_size(mut self, n: usize) -> Self {
        self.validation_batch_size = Some(n);
        self
    }
    /// Validate on the first `n` batches of the validation data only (Keras's
    /// `validation_steps`); each validation starts from the first batch.
    pub fn validation_steps(mut self, n: usize) -> Self {
        self.validation_steps = Some(n);
        self
    }
    /// Weight updates per epoch, as Keras 3 counts them for arrays: an epoch takes the next
    /// `n` batches of the current pass over the data; a pass that runs out ends the epoch
    /// early (Keras warns "ran out of data"), and the next epoch starts a new, reshuffled pass.
    /// So with `n` smaller than `ceil(samples / batch_size)`, epochs walk through the data in
    /// turns; with `n` larger, each epoch is one pass.
    pub fn steps_per_epoch(mut self, n: usize) -> Self {
        self.steps_per_epoch = Some(n);
        self
    }
    /// One weight per training sample (Keras's `sample_weight`): each sample's loss is
    /// multiplied by it, and the batch loss is the weighted sum over the batch size (Keras's
    /// `sum_over_batch_size`). Also weighs the weighted metrics, and the validation samples
    /// that `validation_split` holds out.
    pub fn sample_weight(mut self, w: &'a [f32]) -> Self {
        self.sample_weight = Some(w);
        self
    }
    /// A weight per class (Keras's `class_weight`): each training sample weighs as its class
    /// (its integer label, or the arg max of a one-hot target; classes not listed weigh 1).
    /// Not with `sample_weight`; not applied to validation data, as in Keras.
    ///
    /// ```
    /// use minibatch::FitOptions;
    /// // Class 1 is rare: each of its samples counts five times.
    /// let options = FitOptions::new().class_weight([(0, 1.0), (1, 5.0)]);
    /// ```
    pub fn class_weight(mut self, weights: impl IntoIterator<Item = (usize, f32)>) -> Self {
        self.class_weight = Some(super::ClassWeight::Given(weights.into_iter().collect()));
        self
    }
    /// `class_weight="balanced"`, the rule Keras users bring from scikit-learn: each class
    /// present in the training rows (after `validation_split` holds its share out) weighs
    /// `n / (classes present · its count)`, so every class counts as much in the loss (see
    /// [`balanced_class_weights`](super::balanced_class_weights)). Arrays only: with a dataset,
    /// compute the weights from its labels and give them to [`FitOptions::class_weight`].
    ///
    /// ```
    /// use minibatch::{layers::Dense, FitOptions, Sequential, Tensor};
    /// // Three samples of class 0 to one of class 1: class 1 weighs 3 times as much.
    /// let x = Tensor::from_vec(&[4, 1], vec![0.0, 0.1, 0.2, 1.0]).unwrap();
    /// let y = Tensor::from_slice(&[0.0, 0.0, 0.0, 1.0]);
    /// let mut model = Sequential::new().add(Dense::new(2).activation("softmax"));
    /// model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    /// model.fit(&x, &y, FitOptions::new().class_weight_balanced().verbose(0)).unwrap();
    /// ```
    pub fn class_weight_balanced(mut self) -> Self {
        self.class_weight = Some(super::ClassWeight::Balanced);
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

    /// Your own training step (Keras's `train_step` override), run on each batch instead of
    /// the built-in one; it stays the caller's (see [`TrainStep`](super::TrainStep)).
    pub fn train_step(mut self, step: &'a mut dyn super::TrainStep) -> Self {
        self.train_step = Some(step);
        self
    }

    /// Measure the gradient noise scale `B_noise = tr(Σ)/|G|²` during training (McCandlish
    /// et al., 2018): the batch size above which a larger batch stops buying fewer updates.
    /// Each epoch's estimate, in samples, joins the History as `noise_scale` (and so
    /// TensorBoard and the CSV log), and the summary says what it means for the batch size
    /// trained at. Not a Keras argument.
    ///
    /// Every [`NOISE_SCALE_PROBE_EVERY`](super::NOISE_SCALE_PROBE_EVERY)-th step (at least two
    /// an epoch) compares the Dense layers' per-sample gradient norms with the batch's
    /// gradient, both at the same weights. An epoch where it cannot tell (a model without a
    /// Dense layer on one row per sample, batches of one sample, or a signal `|G|²` the noise
    /// swamps, as at a minimum) has no estimate: its History value is NaN, and the summary
    /// says "not enough data to estimate". Training is unchanged (the update reads the same
    /// gradients); the cost is about 1% of a step (BENCHMARKS.md). Over several processes each
    /// probes its own shard and the sums are added over them, so every rank records the same
    /// estimate. `fit` refuses it with fewer than two updates an epoch, and with a custom
    /// training step.
    ///
    /// ```
    /// use minibatch::{layers::Dense, FitOptions, Sequential, Tensor};
    /// let x = Tensor::from_vec(&[256, 2], (0..512).map(|i| ((i * 37) % 11) as f32 / 11.0).collect()).unwrap();
    /// let y = Tensor::from_vec(&[256, 1], (0..256).map(|i| ((i * 7) % 5) as f32).collect()).unwrap();
    /// let mut model = Sequential::new().seed(1).add(Dense::new(1));
    /// model.compile("sgd", "mse", &[]).unwrap();
    /// let h = model.fit(&x, &y, FitOptions::new().batch_size(8).epochs(2).verbose(0).measure_noise_scale(true)).unwrap();
    /// assert!(h.get("noise_scale").unwrap().iter().all(|b| *b > 0.0));
    /// ```
    pub fn measure_noise_scale(mut self, measure: bool) -> Self {
        self.noise_scale = measure;
        self
    }
}

/// The arguments of [`Model::evaluate_with`](crate::Model::evaluate_with) and
/// [`Model::predict_with`](crate::Model::predict_with), with Keras's defaults:
/// `batch_size` 32, every batch, no sample weights.
///
/// ```
/// use minibatch::EvaluateOptions;
/// let weights = [1.0, 0.5, 2.0];
/// let options = EvaluateOptions::new().batch_size(128).sample_weight(&weights);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions<'a> {
    pub(crate) batch_size: usize,
    pub(crate) steps: Option<usize>,
    pub(crate) sample_weight: Option<&'a [f32]>,
    pub(crate) workers: usize,
    pub(crate) max_queue_size: usize,
}

impl Default for EvaluateOptions<'_> {
    fn default() -> Self {
        EvaluateOptions { batch_size: 32, steps: None, sample_weight: None, workers: 0, max_queue_size: 10 }
    }
}

impl<'a> EvaluateOptions<'a> {
    /// Keras's defaults.
    pub fn new() -> Self {
        EvaluateOptions::default()
    }
    /// Samples per batch (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Only the first `n` batches (Keras's `steps`).
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = Some(n);
        self
    }
    /// One weight per sample (Keras's `sample_weight`, for `evaluate`).
    pub fn sample_weight(mut self, w: &'a [f32]) -> Self {
        self.sample_weight = Some(w);
        self
    }
    /// Background threads filling a dataset's batches ahead (see [`FitOptions::workers`]).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Batches the workers may fill ahead (see [`FitOptions::max_queue_size`]).
    pub fn max_queue_size(mut self, n: usize) -> Self {
        self.max_queue_size = n;
        self
    }
}
