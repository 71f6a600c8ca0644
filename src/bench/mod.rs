//! Training-throughput measurement, as `minibatch bench` runs it, on MNIST-shaped random data,
//! per batch size: samples per second, milliseconds per weight update, the planned training
//! memory and the process's peak resident memory. Two workloads: the Keras MNIST MLP
//! (784-512-512-10, ReLU, softmax, RMSprop, no dropout) and the Keras MNIST convnet
//! (Conv2D 32 and 64, max pooling, Dropout 0.5, softmax, Adam). The models themselves are
//! [`crate::models::zoo`]'s (re-exported here).

use crate::error::Result;
pub use crate::models::zoo::{
    convnet, mnist_convnet, mnist_lstm, mnist_mlp, mnist_resnet, mnist_transformer, resnet, resnet_with, transformer,
};
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::FitOptions;
use serde::Serialize;

mod rss;
pub use rss::{peak_rss, release_free_memory, reset_peak_rss, resident};
use std::time::Instant;

/// One batch size's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Samples per weight update.
    pub batch_size: usize,
    /// Training samples per second (best epoch).
    pub samples_per_s: f64,
    /// Milliseconds per weight update (best epoch).
    pub ms_per_step: f64,
    /// Weight updates timed.
    pub steps: u64,
    /// Bytes of weights, gradients, optimizer state and planned buffers.
    pub model_bytes: usize,
    /// The process's peak resident memory so far, if the OS reports it (Linux `VmHWM`).
    pub peak_rss_bytes: Option<u64>,
}

/// The workloads [`measure`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// [`mnist_mlp`].
    Mlp,
    /// [`mnist_convnet`].
    Convnet,
    /// [`mnist_lstm`].
    Lstm,
    /// [`mnist_transformer`].
    Transformer,
}

/// Trains `workload` at `batch_size` for about `seconds` (after one warm-up pass) and returns
/// the best epoch's throughput. Epochs are `samples` long (rounded to whole batches).
pub fn measure(workload: Workload, batch_size: usize, seconds: f64, samples: usize) -> Result<Measurement> {
    measure_with(workload, batch_size, seconds, samples, &Extras::default())
}

/// What a measured `fit` does besides training, to see what it costs.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    /// Log each measured epoch for TensorBoard here, with Keras's defaults
    /// (`update_freq="epoch"`, the graph).
    pub tensorboard: Option<&'a std::path::Path>,
    /// Measure the gradient noise scale ([`FitOptions::measure_noise_scale`]).
    pub noise_scale: bool,
    /// Train under this dtype policy ([`Model::dtype_policy`]; `float32` by default).
    pub precision: crate::layers::DTypePolicy,
}

/// [`measure`], each measured epoch (one `fit`) doing the [`Extras`] asked for.
pub fn measure_with(
    workload: Workload,
    batch_size: usize,
    seconds: f64,
    samples: usize,
    extras: &Extras<'_>,
) -> Result<Measurement> {
    let mut rng = Rng::new(1);
    let n = samples.max(batch_size).div_ceil(batch_size) * batch_size;
    let shape: &[usize] = match workload {
        Workload::Mlp => &[n, 784],
        Workload::Convnet => &[n, 28, 28, 1],
        Workload::Lstm | Workload::Transformer => &[n, 28, 28],
    };
    let x = Tensor::from_vec(shape, (0..n * 784).map(|_| rng.next_f32()).collect())?;
    let y = Tensor::from_vec(&[n], (0..n).map(|_| rng.below(10) as f32).collect())?;
    let mut model: Model = match workload {
        Workload::Mlp => mnist_mlp(0)?.into(),
        Workload::Convnet => mnist_convnet(0)?.into(),
        Workload::Lstm => mnist_lstm(0)?.into(),
        Workload::Transformer => mnist_transformer(0)?,
    };
    model.dtype_policy(extras.precision);
    let options = || FitOptions::new().batch_size(batch_size).verbose(0);
    let warm = batch_size.max(256).min(n);
    model.fit(&x.slice_rows(0, warm), &y.slice_rows(0, warm), options())?;
    let (mut best, mut steps, start) = (f64::INFINITY, 0, Instant::now());
    while start.elapsed().as_secs_f64() < seconds || steps == 0 {
        let t = Instant::now();
        let mut board =
            extras.tensorboard.map(|d| crate::callbacks::TensorBoard::new(d.join(format!("batch_{batch_size}"))));
        let fit = FitOptions::new().batch_size(batch_size).verbose(0).measure_noise_scale(extras.noise_scale);
        let h = match board.as_mut() {
            Some(tb) => model.fit(&x, &y, fit.callback(tb))?,
            None => model.fit(&x, &y, fit)?,
        };
        best = best.min(t.elapsed().as_secs_f64());
        steps = h.weight_updates;
    }
    Ok(Measurement {
        batch_size,
        samples_per_s: n as f64 / best,
        ms_per_step: best * 1e3 / steps as f64,
        steps,
        model_bytes: model.memory_plan(batch_size)?.total(),
        peak_rss_bytes: peak_rss(),
    })
}
