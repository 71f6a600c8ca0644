//! Training-throughput measurement, as `minibatch bench` runs it, on MNIST-shaped random data,
//! per batch size: samples per second, milliseconds per weight update, the planned training
//! memory and the process's peak resident memory. Two workloads: the Keras MNIST MLP
//! (784-512-512-10, ReLU, softmax, RMSprop, no dropout) and the Keras MNIST convnet
//! (Conv2D 32 and 64, max pooling, Dropout 0.5, softmax, Adam).

use crate::error::Result;
use crate::layers::{
    Add, BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D,
    LayerNormalization, MaxPooling2D, MultiHeadAttention, PositionEmbedding, ReLU,
};
use crate::models::{Call, Input, Model, SymbolicTensor};
use crate::optimizers::{Adam, RMSprop};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{FitOptions, Sequential};
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
    let mut model = convnet(&[28, 28, 1], 10, seed);
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// [`mnist_convnet`]'s layers for images of `sample_shape` and `classes` classes, not compiled.
pub fn convnet(sample_shape: &[usize], classes: usize, seed: u64) -> Sequential {
    Sequential::new()
        .seed(seed)
        .input_shape(sample_shape)
        .add(Conv2D::new(32, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(classes).activation("softmax"))
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

/// A small Transformer encoder over MNIST's 28 rows: each row projected to 64 values plus a
/// learned position embedding, two blocks of MultiHeadAttention(4 heads of 16) and a
/// feed-forward (128, relu), each with a residual Add and LayerNormalization (post-norm, as
/// Keras's `TransformerEncoder` example and PyTorch's `nn.TransformerEncoderLayer`), then
/// GlobalAveragePooling1D and Dense(10) softmax; Adam.
pub fn mnist_transformer(seed: u64) -> Result<Model> {
    transformer(&[28, 28], 10, seed)
}

/// [`mnist_transformer`]'s architecture for samples `(time, features)` and `classes` classes.
///
/// # Errors
/// A sample shape that is not `(time, features)`.
pub fn transformer(sample_shape: &[usize], classes: usize, seed: u64) -> Result<Model> {
    let &[time, _] = sample_shape else {
        return Err(crate::Error::shape(
            "data for the transformer",
            "sequences: samples of shape (time, features), such as images' rows",
            sample_shape,
        ));
    };
    let rows = Input::new(sample_shape);
    let x = Dense::new(64).call(&rows);
    let mut x = Add::new().call([&x, &PositionEmbedding::new(time).call(&x)]);
    for _ in 0..2 {
        let attended = MultiHeadAttention::new(4, 16).call(&x);
        x = LayerNormalization::new().call(&Add::new().call([&x, &attended]));
        let ff = Dense::new(128).activation("relu").call(&x);
        let ff = Dense::new(64).call(&ff);
        x = LayerNormalization::new().call(&Add::new().call([&x, &ff]));
    }
    let pooled = GlobalAveragePooling1D::new().call(&x);
    let out = Dense::new(classes).activation("softmax").call(&pooled);
    let mut model = Model::new(&[&rows], &[&out])?.with_seed(seed)?;
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// A small residual convnet for MNIST (functional, Add skips, BatchNormalization): a Conv2D(32)
/// stem, then at 14×14 and 7×7 a residual block of two 3×3 convolutions each (the second
/// widening to 64 channels first), GlobalAveragePooling2D, Dense(10) softmax; Adam.
///
/// BatchNormalization's `momentum` is 0.9 (PyTorch's default) rather than Keras's 0.99: with
/// Adam moving the weights fast over MNIST's 422 steps an epoch, moving statistics that
/// average over ~100 steps lag the weights, and inference then scores far below training
/// (Keras with 0.99 shows the same: 0.37 validation accuracy after the first epoch).
pub fn mnist_resnet(seed: u64) -> Result<Model> {
    resnet(&[28, 28, 1], 10, seed)
}

/// [`mnist_resnet`]'s architecture for images `(height, width, channels)` and `classes`
/// classes.
///
/// # Errors
/// A sample shape that is not an image, or one smaller than 4×4.
pub fn resnet(sample_shape: &[usize], classes: usize, seed: u64) -> Result<Model> {
    resnet_with(sample_shape, classes, seed, false)
}

/// [`resnet`] with its BatchNormalization layers `synchronized` (see
/// [`BatchNormalization::synchronized`]: over several processes, normalized by the whole
/// global batch).
///
/// # Errors
/// As [`resnet`].
pub fn resnet_with(sample_shape: &[usize], classes: usize, seed: u64, synchronized: bool) -> Result<Model> {
    if !matches!(sample_shape, &[h, w, _] if h >= 4 && w >= 4) {
        return Err(crate::Error::shape(
            "data for the resnet",
            "images: samples of shape (height, width, channels), at least 4×4",
            sample_shape,
        ));
    }
    fn conv_bn(x: &SymbolicTensor, filters: usize, relu: bool, sync: bool) -> SymbolicTensor {
        let c = Conv2D::new(filters, 3).padding("same").use_bias(false).call(x);
        let b = BatchNormalization::new().momentum(0.9).synchronized(sync).call(&c);
        if relu {
            ReLU::new().call(&b)
        } else {
            b
        }
    }
    fn block(x: &SymbolicTensor, filters: usize, sync: bool) -> SymbolicTensor {
        let y = conv_bn(x, filters, true, sync);
        let y = conv_bn(&y, filters, false, sync);
        ReLU::new().call(&Add::new().call([x, &y]))
    }
    let image = Input::new(sample_shape);
    let x = conv_bn(&image, 32, true, synchronized);
    let x = MaxPooling2D::new(2).call(&x);
    let x = block(&x, 32, synchronized);
    let x = conv_bn(&x, 64, true, synchronized);
    let x = MaxPooling2D::new(2).call(&x);
    let x = block(&x, 64, synchronized);
    let pooled = GlobalAveragePooling2D::new().call(&x);
    let out = Dense::new(classes).activation("softmax").call(&pooled);
    let mut model = Model::new(&[&image], &[&out])?.with_seed(seed)?;
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
    /// [`mnist_transformer`].
    Transformer,
}

/// Trains `workload` at `batch_size` for about `seconds` (after one warm-up pass) and returns
/// the best epoch's throughput. Epochs are `samples` long (rounded to whole batches).
pub fn measure(workload: Workload, batch_size: usize, seconds: f64, samples: usize) -> Result<Measurement> {
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
    Ok(Measurement {
        batch_size,
        samples_per_s: n as f64 / best,
        ms_per_step: best * 1e3 / steps as f64,
        steps,
        model_bytes: model.memory_plan(batch_size)?.total(),
        peak_rss_bytes: peak_rss(),
    })
}
