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
