//! The Keras MNIST MLP and convnet on the real data: CI's shortened runs.
//! The full run and its figure are in the README.

use crate::common::shared_data;
use minibatch::layers::{Dense, Dropout, Flatten};
use minibatch::optimizers::RMSprop;
use minibatch::{io, FitOptions, Sequential};

#[test]
fn keras_mnist_mlp_two_epochs_reaches_97_percent() {
    let Some(data) = shared_data() else { return };
    let mnist = io::load_mnist(data.join("mnist")).unwrap();
    let mut model = Sequential::new()
        .add(Flatten::new())
        .add(Dense::new(512).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(512).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(10).activation("softmax"));
    model.compile(RMSprop::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    assert_eq!(model.count_params(), 0, "not built before it sees data");
    let h = model.fit(&mnist.x_train, &mnist.y_train, FitOptions::new().batch_size(128).epochs(2).verbose(0)).unwrap();
    assert_eq!(h.steps_per_epoch, 469);
    assert_eq!(model.count_params(), 669_706);
    let acc = model.evaluate(&mnist.x_test, &mnist.y_test, 1000).unwrap().get("accuracy").unwrap();
    assert!(acc >= 0.97, "MNIST test accuracy after 2 epochs: {acc}");
}

/// The Keras MNIST convnet, shortened for CI: one epoch instead of 15 (about 10 s here).
/// (The full 15-epoch run and its figure are in the README.)
#[test]
fn keras_mnist_convnet_one_epoch_reaches_97_percent() {
    use minibatch::layers::{Conv2D, MaxPooling2D, Reshape};
    let Some(data) = shared_data() else { return };
    let mnist = io::load_mnist(data.join("mnist")).unwrap();
    let mut model = Sequential::new()
        .add(Reshape::new(&[28, 28, 1]))
        .add(Conv2D::new(32, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model.fit(&mnist.x_train, &mnist.y_train, FitOptions::new().batch_size(128).epochs(1).verbose(0)).unwrap();
    assert_eq!(model.count_params(), 34_826);
    let acc = model.evaluate(&mnist.x_test, &mnist.y_test, 1000).unwrap().get("accuracy").unwrap();
    assert!(acc >= 0.97, "MNIST test accuracy after one epoch: {acc}");
}
