//! Classifying texts as Keras's text-classification example does, without TensorFlow: a
//! generated corpus of three topics written as class folders of `.txt` files
//! (`datasets::write_topics`), read by `text_dataset_from_directory` with Keras's seeded
//! validation split, a `TextVectorization` adapted to the training texts (multi-hot words and
//! word pairs), and a small Dense classifier. The folder is left for the command:
//!
//! ```sh
//! cargo run --release --example text_classifier
//! cargo run --release -- train --data target/topics --test-split 0.2 --save target/topics.mb
//! cargo run --release -- predict --model target/topics.mb --data target/topics-new.txt
//! ```

use minibatch::data::{text_dataset_from_directory, Subset, TextDirectoryOptions};
use minibatch::layers::{Dense, TextOutput, TextVectorization};
use minibatch::{FitOptions, Sequential};

fn main() -> minibatch::Result<()> {
    let dir = std::path::Path::new("target/topics");
    minibatch::datasets::write_topics(dir, 300, 0)?;
    let new = "the striker scored a late goal\nbake the dough with butter\nthunder and rain all day\n";
    std::fs::write("target/topics-new.txt", new).map_err(|e| minibatch::Error::io(dir, &e))?;
    let side = |subset| {
        let options = TextDirectoryOptions { seed: 1337, validation_split: Some((0.2, subset)), ..Default::default() };
        text_dataset_from_directory(dir, &options)
    };
    let (train, val) = (side(Subset::Training)?, side(Subset::Validation)?);
    let mut text = TextVectorization::new().output_mode(TextOutput::MultiHot).ngrams(2).max_tokens(2000);
    text.adapt(train.texts.iter().map(String::as_str))?;
    let (x, y) = (text.call(&train.texts)?, train.label_tensor()?);
    let (vx, vy) = (text.call(&val.texts)?, val.label_tensor()?);
    println!(
        "{} training and {} validation texts, {} classes {:?}; {} columns (words and word pairs)",
        train.texts.len(),
        val.texts.len(),
        train.class_names.len(),
        train.class_names,
        text.columns()
    );
    let mut model = Sequential::new()
        .seed(0)
        .input_shape(&[text.columns()])
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    model.fit(&x, &y, FitOptions::new().epochs(20).batch_size(32).verbose(0))?;
    let logs = model.evaluate(&vx, &vy, 32)?;
    println!(
        "validation accuracy {:.4}, loss {:.4}",
        logs.get("accuracy").unwrap_or(f64::NAN),
        logs.get("loss").unwrap_or(f64::NAN)
    );
    let p = model.predict(&text.call(&new.lines().collect::<Vec<_>>())?, 32)?;
    for (line, row) in new.lines().zip(p.data().chunks(3)) {
        let class = minibatch::tensor::kernels::argmax(row);
        println!("{line:?}: {} ({:.2})", train.class_names[class], row[class]);
    }
    Ok(())
}
