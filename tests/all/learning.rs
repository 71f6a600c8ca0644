//! Models learn: the accuracy targets of the foundation issue.

use minibatch::layers::Dense;
use minibatch::optimizers::Adam;
use minibatch::{datasets, FitOptions, Sequential};

#[test]
fn an_mlp_reaches_97_percent_on_spirals() {
    let data = datasets::load("spirals", 0).unwrap();
    let mut m = Sequential::new()
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    m.compile(Adam::new(0.01), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m.fit(&data.x_train, &data.y_train, FitOptions::new().epochs(60).verbose(0)).unwrap();
    let loss = h.get("loss").unwrap();
    assert!(loss[59] < loss[0] / 5.0, "the learning curve falls: {} → {}", loss[0], loss[59]);
    let acc = m.evaluate(&data.x_test, &data.y_test, 256).unwrap().get("accuracy").unwrap();
    assert!(acc >= 0.97, "spirals test accuracy {acc}");
}

#[test]
fn every_optimizer_and_loss_family_learns() {
    let data = datasets::load("blobs", 2).unwrap();
    for opt in ["sgd", "adam", "adamw", "rmsprop"] {
        let mut m = Sequential::new().add(Dense::new(16).activation("tanh")).add(Dense::new(3).activation("softmax"));
        m.compile(opt, "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        m.fit(&data.x_train, &data.y_train, FitOptions::new().epochs(10).verbose(0)).unwrap();
        let acc = m.evaluate(&data.x_test, &data.y_test, 64).unwrap().get("accuracy").unwrap();
        assert!(acc > 0.9, "{opt}: {acc}");
    }
    // binary cross-entropy with a sigmoid output, and MSE regression
    let moons = datasets::load("moons", 2).unwrap();
    let y2 = moons.y_train.clone().reshape(&[moons.y_train.batch(), 1]).unwrap();
    let mut m = Sequential::new().add(Dense::new(32).activation("relu")).add(Dense::new(1).activation("sigmoid"));
    m.compile(Adam::new(0.01), "binary_crossentropy", &["accuracy"]).unwrap();
    m.fit(&moons.x_train, &y2, FitOptions::new().epochs(30).verbose(0)).unwrap();
    let yt = moons.y_test.clone().reshape(&[moons.y_test.batch(), 1]).unwrap();
    let acc = m.evaluate(&moons.x_test, &yt, 64).unwrap().get("accuracy").unwrap();
    assert!(acc > 0.95, "moons with binary cross-entropy: {acc}");
    // a loss given as a value: logits out, from_logits in the loss
    let mut l = Sequential::new().add(Dense::new(32).activation("relu")).add(Dense::new(2));
    let from_logits = minibatch::losses::BuiltinLoss::SparseCategoricalCrossentropy { from_logits: true };
    l.compile(Adam::new(0.01), from_logits, &["accuracy"]).unwrap();
    l.fit(&moons.x_train, &moons.y_train, FitOptions::new().epochs(30).verbose(0)).unwrap();
    let acc = l.evaluate(&moons.x_test, &moons.y_test, 64).unwrap().get("accuracy").unwrap();
    assert!(acc > 0.95, "moons from logits: {acc}");
    let mut r = Sequential::new().add(Dense::new(32).activation("gelu")).add(Dense::new(1));
    r.compile(Adam::new(0.01), "mse", &["mae"]).unwrap();
    let h = r.fit(&moons.x_train, &y2, FitOptions::new().epochs(20).verbose(0)).unwrap();
    assert!(h.get("loss").unwrap()[19] < 0.1 && h.get("mae").is_some());
}

/// Sequences of 12 steps whose label is whether a marker step (feature 1 set) came in the
/// first half: only a layer that carries state through time can tell, from the last step.
fn marker_sequences(n: usize, seed: u64) -> (minibatch::Tensor, minibatch::Tensor) {
    let mut rng = minibatch::rng::Rng::new(seed);
    let (steps, mut x, mut y) = (12, Vec::new(), Vec::new());
    for _ in 0..n {
        let at = rng.below(steps);
        for t in 0..steps {
            x.push(rng.normal() as f32 * 0.3);
            x.push(if t == at { 1.0 } else { 0.0 });
        }
        y.push((at < steps / 2) as u8 as f32);
    }
    (minibatch::Tensor::from_vec(&[n, steps, 2], x).unwrap(), minibatch::Tensor::from_slice(&y))
}

#[test]
fn every_recurrent_layer_learns_to_remember_a_marker() {
    use minibatch::layers::{LayerNormalization, SimpleRNN, GRU, LSTM};
    let (x, y) = marker_sequences(600, 1);
    let (xt, yt) = marker_sequences(200, 2);
    let models = [
        Sequential::new().add(LSTM::new(16)).add(Dense::new(2).activation("softmax")),
        Sequential::new().add(GRU::new(16)).add(Dense::new(2).activation("softmax")),
        Sequential::new()
            .add(SimpleRNN(16).return_sequences(true))
            .add(LayerNormalization::new())
            .add(SimpleRNN(16))
            .add(Dense::new(2).activation("softmax")),
    ];
    for mut m in models {
        m.compile(Adam::new(0.01), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        m.fit(&x, &y, FitOptions::new().epochs(15).verbose(0)).unwrap();
        let acc = m.evaluate(&xt, &yt, 64).unwrap().get("accuracy").unwrap();
        assert!(acc >= 0.95, "{} reaches {acc} on held-out sequences", m.layers()[0].kind());
    }
}
