//! The models the command builds and `minibatch bench` measures: the Keras MNIST MLP and
//! convnet, an LSTM and a Transformer encoder over MNIST's rows, and a residual convnet, each
//! also for other sample shapes and class counts (`bench` re-exports them).

use crate::error::Result;
use crate::layers::{
    Add, BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D,
    LayerNormalization, MaxPooling2D, MultiHeadAttention, PositionEmbedding, ReLU,
};
use crate::models::{Call, Input, Model, SymbolicTensor};
use crate::optimizers::{Adam, RMSprop};
use crate::Sequential;

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
