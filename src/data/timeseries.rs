//! Keras's `timeseries_dataset_from_array`: sliding windows over one series, as a
//! [`Dataset`] that holds the series once and gathers each window when its batch is filled
//! (see [`timeseries_dataset_from_array`] for which windows and targets).

use super::order::Order;
use super::{Batch, Dataset, Spec};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `timeseries_dataset_from_array`'s arguments other than the series, with Keras's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesOptions {
    /// Steps between the starts of two windows (Keras's `sequence_stride`, default 1).
    pub sequence_stride: usize,
    /// Steps between two values within a window (Keras's `sampling_rate`, default 1).
    pub sampling_rate: usize,
    /// Windows per batch (Keras's default 128).
    pub batch_size: usize,
    /// Shuffle the windows with this seed, anew every epoch (Keras's `shuffle=True, seed=`).
    pub shuffle: Option<u64>,
    /// The first step windows may use (Keras's `start_index`, default 0).
    pub start_index: usize,
    /// The step after the last one windows may use (Keras's `end_index`; default the end).
    pub end_index: Option<usize>,
}

impl Default for TimeseriesOptions {
    fn default() -> Self {
        TimeseriesOptions {
            sequence_stride: 1,
            sampling_rate: 1,
            batch_size: 128,
            shuffle: None,
            start_index: 0,
            end_index: None,
        }
    }
}

/// Sliding windows over a series, made by [`timeseries_dataset_from_array`] (which says
/// which windows and targets).
#[derive(Debug)]
pub struct TimeseriesDataset {
    data: Tensor,
    targets: Option<Tensor>,
    sequence_length: usize,
    sampling_rate: usize,
    batch_size: usize,
    start_index: usize,
    /// Window `w` starts at step `start_index + w · stride`; there are `windows` of them.
    stride: usize,
    windows: usize,
    order: Order,
}

/// Keras's `keras.utils.timeseries_dataset_from_array(data, targets, sequence_length, ...)`:
/// windows of `sequence_length` steps over `data` (axis 0 is time), each with the target
/// `targets[start of the window]` when targets are given. Neither series is copied: `fill`
/// gathers each batch's windows.
///
/// With `T` steps in `data[start_index..end_index]`, window length `L` (`sequence_length`),
/// `sampling_rate` `r` and `sequence_stride` `s`:
///
/// ```text
/// windows start at p = 0, s, 2s, … while p < T − (L − 1)·r   (and start + p < len(targets))
/// sample(p)  = data[start + p], data[start + p + r], …, data[start + p + (L − 1)·r]
/// target(p)  = targets[start + p]
/// ```
///
/// so to predict the step after a window, give `targets = data[L·r..]` (or the series'
/// target column shifted by `L`), as Keras's docs do. Shuffling draws the windows' order
/// from the seed and the epoch, anew every epoch (Keras shuffles with NumPy's and tf.data's
/// generators, which no seed here reproduces).
///
/// ```
/// use minibatch::data::{timeseries_dataset_from_array, Batch, Dataset, TimeseriesOptions};
/// use minibatch::Tensor;
/// // Keras's first example: steps 0..99, windows of 10 taken every 2nd step, every 3 steps.
/// let data = Tensor::from_vec(&[99], (0..99).map(|i| i as f32).collect()).unwrap();
/// let options = TimeseriesOptions { sampling_rate: 2, sequence_stride: 3, ..Default::default() };
/// let ds = timeseries_dataset_from_array(data, None, 10, &options).unwrap();
/// let mut batch = Batch::new(&ds.spec());
/// ds.fill(0, &mut batch).unwrap();
/// assert_eq!(&batch.x(0).data()[..10], &[0., 2., 4., 6., 8., 10., 12., 14., 16., 18.]);
/// assert_eq!(&batch.x(0).data()[10..20], &[3., 5., 7., 9., 11., 13., 15., 17., 19., 21.]);
/// assert_eq!(ds.samples(), Some(27)); // the last window is [78, 80, …, 96]
/// ```
///
/// # Errors
/// [`Error::Empty`] for a series or targets with no steps, a series too short for a single
/// window (naming the span and the steps), or targets that end before `start_index`;
/// [`Error::InvalidArgument`] for a `sequence_length`, stride, rate or batch size of 0, or a
/// `start_index` or `end_index` outside the series or out of order. (Keras refuses an
/// `end_index` equal to the series' length; here it is the default.)
pub fn timeseries_dataset_from_array(
    data: Tensor,
    targets: Option<Tensor>,
    sequence_length: usize,
    options: &TimeseriesOptions,
) -> Result<TimeseriesDataset> {
    let steps = data.shape().first().copied().unwrap_or(0);
    if steps == 0 || data.is_empty() {
        return Err(Error::Empty { what: "the series (data has no steps)".into() });
    }
    let positive = |name: &'static str, v: usize, what: &str| {
        if v == 0 {
            Err(Error::invalid(name, v, format!("at least 1 ({what})")))
        } else {
            Ok(())
        }
    };
    positive("sequence_length", sequence_length, "steps per window")?;
    positive("sequence_stride", options.sequence_stride, "steps between windows")?;
    positive("sampling_rate", options.sampling_rate, "steps between a window's values")?;
    positive("batch_size", options.batch_size, "windows per batch")?;
    let start = options.start_index;
    let end = options.end_index.unwrap_or(steps);
    if start >= steps {
        return Err(Error::invalid("start_index", start, format!("below the series' {steps} steps")));
    }
    if end > steps || end <= start {
        return Err(Error::invalid(
            "end_index",
            end,
            format!("above start_index {start} and at most the series' {steps} steps"),
        ));
    }
    if let Some(t) = &targets {
        if t.shape().first().copied().unwrap_or(0) == 0 {
            return Err(Error::Empty { what: "the targets (no steps)".into() });
        }
    }
    // Windows need (L − 1)·r + 1 steps; saturating, so a huge length is "too short", not an overflow.
    let span = (sequence_length - 1).saturating_mul(options.sampling_rate).saturating_add(1);
    let available = end - start;
    if span > available {
        return Err(Error::Empty {
            what: format!(
                "the windows: sequence_length {sequence_length} at sampling_rate {} spans {span} steps, \
                 longer than the {available} steps of the series from start_index {start} to end_index {end}",
                options.sampling_rate
            ),
        });
    }
    let mut count = available - span + 1;
    if let Some(t) = &targets {
        // Keras: targets[start + p] for each window start p, relative to start_index.
        count = count.min(t.batch().saturating_sub(start));
        if count == 0 {
            return Err(Error::Empty {
                what: format!("the windows: the targets' {} steps end before start_index {start}", t.batch()),
            });
        }
    }
    let windows = count.div_ceil(options.sequence_stride);
    let mut order = Order::all(windows);
    if let Some(seed) = options.shuffle {
        order = order.shuffle(seed);
    }
    Ok(TimeseriesDataset {
        data,
        targets,
        sequence_length,
        sampling_rate: options.sampling_rate,
        batch_size: options.batch_size,
        start_index: start,
        stride: options.sequence_stride,
        windows,
        order,
    })
}

impl TimeseriesDataset {
    /// The windows' first steps in the series, in chronological order.
    pub fn window_starts(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.windows).map(|w| self.start(w))
    }

    /// Window `w`'s first step in the series.
    fn start(&self, w: usize) -> usize {
        self.start_index + w * self.stride
    }
}

impl Dataset for TimeseriesDataset {
    fn spec(&self) -> Spec {
        let mut input = vec![self.sequence_length];
        input.extend_from_slice(&self.data.shape()[1..]);
        Spec {
            inputs: vec![input],
            targets: self.targets.iter().map(|t| t.shape()[1..].to_vec()).collect(),
            weighted: false,
            batch_size: self.batch_size.min(self.windows),
        }
    }

    fn num_batches(&self) -> Option<usize> {
        Some(self.windows.div_ceil(self.batch_size))
    }

    fn samples(&self) -> Option<usize> {
        Some(self.windows)
    }

    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        let (lo, hi) = super::batch_rows(index, self.batch_size, self.windows)?;
        let windows = self.order.rows(lo, hi);
        batch.set_len(windows.len())?;
        let width = self.data.row_len();
        let x = batch.x_mut(0);
        for (w, window) in windows.iter().enumerate() {
            let first = self.start(window);
            let dst = &mut x[w * self.sequence_length * width..(w + 1) * self.sequence_length * width];
            for (j, d) in dst.chunks_exact_mut(width).enumerate() {
                d.copy_from_slice(self.data.row(first + j * self.sampling_rate));
            }
        }
        if let Some(t) = &self.targets {
            let width = t.row_len();
            let y = batch.y_mut(0);
            for (w, window) in windows.iter().enumerate() {
                y[w * width..(w + 1) * width].copy_from_slice(t.row(self.start(window)));
            }
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
