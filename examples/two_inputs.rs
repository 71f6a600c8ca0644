//! A functional model with two inputs and two outputs, on real data: the `digits` table's
//! 8×8 images through a convolutional branch, and each image's eight row sums through a dense
//! branch, joined to predict the digit (softmax over 10) and whether it is even (sigmoid).
//!
//! Run: `cargo run --release --example two_inputs` (reads `$MINIBATCH_DATA/tabular/digits.csv`,
//! by default `../shared/data/tabular/digits.csv`).

use minibatch::layers::{Concatenate, Conv2D, Dense, Flatten, MaxPooling2D};
use minibatch::models::{Call, Input, Losses};
use minibatch::{CompileOptions, FitOptions, Model, Tensor};

fn main() -> minibatch::Result<()> {
    let dir = std::env::var("MINIBATCH_DATA").unwrap_or_else(|_| "../shared/data".into());
    let (x, labels) = minibatch::io::load_csv(format!("{dir}/tabular/digits.csv"), "label")?;
    let n = x.batch();

    // The two inputs: the pixels as an image (0..16 scaled to 0..1), and the row sums.
    let pixels = x.data().iter().map(|v| v / 16.0).collect::<Vec<f32>>();
    let images = Tensor::from_vec(&[n, 8, 8, 1], pixels)?;
    let sums: Vec<f32> = images.data().chunks(8).map(|row| row.iter().sum::<f32>() / 8.0).collect();
    let row_sums = Tensor::from_vec(&[n, 8], sums)?;
    // The two targets: the digit, and 1 for an even digit.
    let even =
        Tensor::from_vec(&[n, 1], labels.data().iter().map(|&d| (d as u32).is_multiple_of(2) as u8 as f32).collect())?;

    // Every fifth sample held out for the test.
    let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 0);
    let pick = |t: &Tensor, rows: &[usize]| t.select_rows(rows);

    // The graph: a conv branch and a dense branch, joined, then two heads.
    let image = Input::named("image", &[8, 8, 1]);
    let rows = Input::named("row_sums", &[8]);
    let seen = Conv2D::new(32, 3).padding("same").activation("relu").call(&image);
    let seen = MaxPooling2D::new(2).call(&seen);
    let seen = Flatten::new().call(&Conv2D::new(32, 3).activation("relu").call(&seen));
    let summed = Dense::new(16).activation("relu").call(&rows);
    let joined = Dense::new(64).activation("relu").call(&Concatenate::new().call([&seen, &summed]));
    let digit = Dense::new(10).activation("softmax").name("digit").call(&joined);
    let is_even = Dense::new(1).activation("sigmoid").name("even").call(&joined);
    let mut model = Model::new(&[&image, &rows], &[&digit, &is_even])?.with_seed(1)?;
    model.compile_with(
        "adam",
        Losses::named(&[("digit", "sparse_categorical_crossentropy"), ("even", "binary_crossentropy")]),
        CompileOptions::new()
            .output_metrics("digit", &["accuracy"])
            .output_metrics("even", &["binary_accuracy"])
            .loss_weights(&[1.0, 0.5]),
    )?;
    print!("{}", model.summary()?);

    let x_train = [pick(&images, &train), pick(&row_sums, &train)];
    let y_train = [pick(&labels, &train), pick(&even, &train)];
    model.fit(
        [&x_train[0], &x_train[1]],
        [&y_train[0], &y_train[1]],
        FitOptions::new().batch_size(32).epochs(30).validation_split(0.1).verbose(2),
    )?;

    // The test set, by input and output name.
    let (ti, tr, td, te) = (pick(&images, &test), pick(&row_sums, &test), pick(&labels, &test), pick(&even, &test));
    let logs = model.evaluate(&[("image", &ti), ("row_sums", &tr)][..], &[("digit", &td), ("even", &te)][..], 256)?;
    println!(
        "Test digit accuracy: {:.4} - test even accuracy: {:.4} ({} test samples)",
        logs.get("digit_accuracy").unwrap_or(f64::NAN),
        logs.get("even_binary_accuracy").unwrap_or(f64::NAN),
        test.len()
    );
    Ok(())
}
