//! The README's example: spirals, an MLP, early stopping on validation loss.
//! Run: `cargo run --release --example quickstart`

use minibatch::{callbacks::EarlyStopping, datasets, layers::Dense, FitOptions, Sequential};

fn main() -> minibatch::Result<()> {
    let data = datasets::load("spirals", 0)?;
    let mut model = Sequential::new()
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;

    let mut stop = EarlyStopping::new().monitor("val_loss").patience(5).restore_best_weights(true);
    let history = model.fit(
        &data.x_train,
        &data.y_train,
        FitOptions::new().batch_size(32).epochs(100).validation_split(0.2).callback(&mut stop),
    )?;
    println!("epochs run: {}, best epoch: {:?}", history.epochs_run(), stop.best_epoch().map(|e| e + 1));
    println!("test: {}", model.evaluate(&data.x_test, &data.y_test, 256)?);
    Ok(())
}
