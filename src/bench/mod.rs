//! Training-throughput measurement, as `minibatch bench` runs it, on MNIST-shaped random data,
//! per batch size: samples per second, milliseconds per weight update, the planned training
//! memory and the process's peak resident memory. Two workloads: the Keras MNIST MLP
//! (784-512-512-10, ReLU, softmax, RMSprop, no dropout) and the Keras MNIST convnet
//! (Conv2D 32 and 64, max pooling, Dropout 0.5, softmax, Adam).

use crate::error::Result;
use crate::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D};
use crate::optimizers::{Adam, RMSprop};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{FitOptions, Sequential};
use serde::Serialize;
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

/// The Keras MNIST MLP without dropout.
pub fn mnist_mlp(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new()
        .seed(seed)
        .input_shape(&[784])
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(10).activation("softmax"));
    model.compile(RMSprop::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// The Keras "Simple MNIST convnet": 34,826 parameters, Adam.
pub fn mnist_convnet(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new()
        .seed(seed)
        .input_shape(&[28, 28, 1])
        .add(Conv2D::new(32, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// MNIST's rows as 28 time steps: LSTM(128), Dense(10) softmax, Adam (81,674 parameters).
pub fn mnist_lstm(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new()
        .seed(seed)
        .input_shape(&[28, 28])
        .add(crate::layers::LSTM::new(128))
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(model)
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
}

/// Trains `workload` at `batch_size` for about `seconds` (after one warm-up pass) and returns
/// the best epoch's throughput. Epochs are `samples` long (rounded to whole batches).
pub fn measure(workload: Workload, batch_size: usize, seconds: f64, samples: usize) -> Result<Measurement> {
    let mut rng = Rng::new(1);
    let n = samples.max(batch_size).div_ceil(batch_size) * batch_size;
    let shape: &[usize] = match workload {
        Workload::Mlp => &[n, 784],
        Workload::Convnet => &[n, 28, 28, 1],
        Workload::Lstm => &[n, 28, 28],
    };
    let x = Tensor::from_vec(shape, (0..n * 784).map(|_| rng.next_f32()).collect())?;
    let y = Tensor::from_vec(&[n], (0..n).map(|_| rng.below(10) as f32).collect())?;
    let mut model = match workload {
        Workload::Mlp => mnist_mlp(0)?,
        Workload::Convnet => mnist_convnet(0)?,
        Workload::Lstm => mnist_lstm(0)?,
    };
    let options = || FitOptions::new().batch_size(batch_size).verbose(0);
    let warm = batch_size.max(256).min(n);
    model.fit(&x.slice_rows(0, warm), &y.slice_rows(0, warm), options())?;
    let (mut best, mut steps, start) = (f64::INFINITY, 0, Instant::now());
    while start.elapsed().as_secs_f64() < seconds || steps == 0 {
        let t = Instant::now();
        let h = model.fit(&x, &y, options())?;
        best = best.min(t.elapsed().as_secs_f64());
        steps = h.weight_updates;
    }
    let params = model.count_params() * 4;
    Ok(Measurement {
        batch_size,
        samples_per_s: n as f64 / best,
        ms_per_step: best * 1e3 / steps as f64,
        steps,
        // weights, gradients and the optimizer's state slots (RMSprop one, Adam two)
        model_bytes: if workload == Workload::Mlp { 3 } else { 4 } * params + model.buffer_bytes(),
        peak_rss_bytes: peak_rss(),
    })
}

/// Peak resident memory of this process (Linux only).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
