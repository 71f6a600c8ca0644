//! Knowledge distillation with a training step of one's own (Keras's `train_step` override,
//! as Keras's distillation example writes it): a small student learns the digits from the
//! labels and from a larger teacher's softened probabilities,
//! `α · crossentropy + (1 − α) · T² · KL(softmax(teacher / T) ‖ softmax(student / T))` at the
//! example's `α = 0.1`, `T = 10`; the step (`tests/support/train_steps.rs`) owns the teacher.
//! Beside it, the same student trained on the labels alone.
//!
//! Run: `cargo run --release --example distillation` (reads `$MINIBATCH_DATA/tabular/digits.csv`,
//! by default `../shared/data/tabular/digits.csv`).

#[path = "../tests/support/train_steps.rs"]
mod train_steps;

use minibatch::layers::Dense;
use minibatch::losses::BuiltinLoss;
use minibatch::{FitOptions, Model, Sequential, Tensor};

fn model(hidden: usize, seed: u64) -> Model {
    let mut m = Sequential::new()
        .seed(seed)
        .input_shape(&[64])
        .add(Dense::new(hidden).activation("relu"))
        .add(Dense::new(10))
        .into_model();
    let loss = BuiltinLoss::from_name("sparse_categorical_crossentropy").unwrap().from_logits();
    m.compile("adam", loss, &["accuracy"]).unwrap();
    m
}

fn main() -> minibatch::Result<()> {
    let dir = std::env::var("MINIBATCH_DATA").unwrap_or_else(|_| "../shared/data".into());
    let (x, y) = minibatch::io::load_csv(format!("{dir}/tabular/digits.csv"), "label")?;
    let x = Tensor::from_vec(x.shape(), x.data().iter().map(|v| v / 16.0).collect())?;
    // The first 300 rows train (few: where a teacher helps), the rest test.
    let part = |t: &Tensor, lo: usize, hi: usize| {
        let per = t.row_len();
        let mut shape = t.shape().to_vec();
        shape[0] = hi - lo;
        Tensor::from_vec(&shape, t.data()[lo * per..hi * per].to_vec())
    };
    let n = x.batch();
    let (xt, yt, xv, yv) = (part(&x, 0, 300)?, part(&y, 0, 300)?, part(&x, 300, n)?, part(&y, 300, n)?);
    let quiet = || FitOptions::new().batch_size(32).epochs(60).verbose(0);
    let accuracy = |m: &mut Model| m.evaluate(&xv, &yv, 256).map(|l| l.get("accuracy").unwrap_or(f64::NAN));

    let mut teacher = model(256, 1);
    teacher.fit(&xt, &yt, quiet())?;
    println!("teacher (64-256-10): test accuracy {:.4}", accuracy(&mut teacher)?);
    let mut alone = model(8, 2);
    alone.fit(&xt, &yt, quiet())?;
    println!("student (64-8-10) on the labels alone: test accuracy {:.4}", accuracy(&mut alone)?);
    let mut student = model(8, 2);
    let mut step = train_steps::Distill::new(teacher, 0.1, 10.0);
    let h = student.fit(&xt, &yt, quiet().train_step(&mut step))?;
    let last = |k: &str| h.get(k).and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
    println!(
        "student distilled (alpha 0.1, temperature 10): test accuracy {:.4} (last epoch: student_loss {:.4}, distillation_loss {:.4})",
        accuracy(&mut student)?,
        last("student_loss"),
        last("distillation_loss")
    );
    Ok(())
}
