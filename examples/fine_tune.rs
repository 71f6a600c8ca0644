//! Keras's transfer-learning recipe: a base trained on one task, frozen, a new head trained on
//! another, then the top of the base unfrozen and fine-tuned at a low rate.
//!
//! The "pretrained" base here learns the ten digits on half of the `digits` table; the new
//! task is whether a digit is even, on the other half, from one sample in ten of it (transfer
//! pays where data is scarce). The base's weights move into the new model by path
//! (`base_1/kernel`), as Keras's `get_layer(...).weights`.
//!
//! Run: `cargo run --release --example fine_tune` (reads `$MINIBATCH_DATA/tabular/digits.csv`,
//! by default `../shared/data/tabular/digits.csv`).

use minibatch::layers::Dense;
use minibatch::optimizers::Adam;
use minibatch::{FitOptions, Model, Sequential, Tensor};

/// The base (two hidden layers) and a head of `classes`.
fn model(classes: usize) -> Model {
    Sequential::new()
        .seed(7)
        .input_shape(&[64])
        .add(Dense::new(64).activation("relu").name("base_1"))
        .add(Dense::new(32).activation("relu").name("base_2"))
        .add(Dense::new(classes).activation("softmax").name("head"))
        .into_model()
}

fn main() -> minibatch::Result<()> {
    let dir = std::env::var("MINIBATCH_DATA").unwrap_or_else(|_| "../shared/data".into());
    let (x, labels) = minibatch::io::load_csv(format!("{dir}/tabular/digits.csv"), "label")?;
    let x = Tensor::from_vec(x.shape(), x.data().iter().map(|v| v / 16.0).collect())?;
    let rows = |keep: &dyn Fn(usize, f32) -> bool| -> Vec<usize> {
        labels.data().iter().enumerate().filter(|&(i, &d)| keep(i, d)).map(|(i, _)| i).collect()
    };
    let digits = |rows: &[usize]| Tensor::from_vec(&[rows.len()], rows.iter().map(|&i| labels.data()[i]).collect());
    let parity = |rows: &[usize]| {
        Tensor::from_vec(&[rows.len()], rows.iter().map(|&i| (labels.data()[i] as u32 % 2) as f32).collect())
    };
    let quiet = || FitOptions::new().batch_size(32).verbose(0);

    // 1. The pretrained base: the ten digits, on the even rows.
    let old = rows(&|i, _| i % 2 == 0);
    let mut pretrained = model(10);
    pretrained.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    pretrained.fit(&x.select_rows(&old), &digits(&old)?, quiet().epochs(20))?;

    // 2. The new task on the odd rows: even or odd, learned from one row in ten of them.
    let train = rows(&|i, _| i % 20 == 1);
    let test = rows(&|i, _| i % 2 == 1 && i % 20 != 1);
    let (xt, yt) = (x.select_rows(&train), parity(&train)?);
    let (xv, yv) = (x.select_rows(&test), parity(&test)?);
    let accuracy =
        |m: &mut Model| -> minibatch::Result<f64> { Ok(m.evaluate(&xv, &yv, 256)?.get("accuracy").unwrap_or(0.0)) };

    // From scratch, for comparison.
    let mut scratch = model(2);
    scratch.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    scratch.fit(&xt, &yt, quiet().epochs(100))?;
    println!("from scratch on {} samples: test accuracy {:.4}", train.len(), accuracy(&mut scratch)?);

    // 3. The base's weights into the new model, frozen; only the new head trains.
    let mut tuned = model(2);
    tuned.build(&[64])?;
    for path in ["base_1/kernel", "base_1/bias", "base_2/kernel", "base_2/bias"] {
        tuned.set_weight(path, pretrained.get_weight(path).expect("a weight of the base"))?;
    }
    for name in ["base_1", "base_2"] {
        tuned.get_layer_mut(name).expect("a layer").set_trainable(false);
    }
    tuned.compile(Adam::new(1e-2), "sparse_categorical_crossentropy", &["accuracy"])?;
    tuned.fit(&xt, &yt, quiet().epochs(100))?;
    println!("frozen base, new head:      test accuracy {:.4}", accuracy(&mut tuned)?);

    // 4. The top of the base unfrozen, fine-tuned at a low rate (compile again, as Keras).
    tuned.get_layer_mut("base_2").expect("a layer").set_trainable(true);
    tuned.compile(Adam::new(1e-4), "sparse_categorical_crossentropy", &["accuracy"])?;
    tuned.fit(&xt, &yt, quiet().epochs(30))?;
    println!("base_2 fine-tuned at 1e-4:  test accuracy {:.4}", accuracy(&mut tuned)?);
    Ok(())
}
