//! A tiny GAN on the `moons` points, with a training step of one's own (Keras's `train_step`
//! override, as Keras's GAN example writes it): `fit` runs over the discriminator with the
//! real points as its data; the step (`tests/support/train_steps.rs`) owns the generator and
//! trains the two models with their two optimizers: the discriminator on real (1) and
//! generated (0) points, then the generator through the discriminator's input gradient.
//!
//! Run: `cargo run --release --example gan`

#[path = "../tests/support/train_steps.rs"]
mod train_steps;

use minibatch::layers::Dense;
use minibatch::optimizers::Adam;
use minibatch::{datasets, FitOptions, Model, Sequential, Tensor};

/// The mean distance from each of `points` to the nearest of `real`: how far from the data
/// the generated points lie.
fn distance_to_data(points: &Tensor, real: &Tensor) -> f32 {
    let near = |p: &[f32]| {
        real.data().chunks(2).map(|r| ((p[0] - r[0]).powi(2) + (p[1] - r[1]).powi(2)).sqrt()).fold(f32::MAX, f32::min)
    };
    points.data().chunks(2).map(near).sum::<f32>() / points.batch() as f32
}

fn generated(generator: &mut Model, n: usize) -> Tensor {
    let mut rng = minibatch::rng::Rng::new(99);
    let noise = Tensor::from_vec(&[n, 4], (0..n * 4).map(|_| rng.normal() as f32).collect()).unwrap();
    generator.predict(&noise, 256).unwrap()
}

fn main() -> minibatch::Result<()> {
    let real = datasets::load("moons", 1)?.x_train;
    let mut generator = Sequential::new()
        .seed(1)
        .input_shape(&[4])
        .add(Dense::new(32).activation("relu"))
        .add(Dense::new(32).activation("relu"))
        .add(Dense::new(2))
        .into_model();
    generator.compile(Adam::new(1e-3), "mse", &[])?; // its optimizer; the loss is the step's
    let mut discriminator = Sequential::new()
        .seed(2)
        .input_shape(&[2])
        .add(Dense::new(32).activation("relu"))
        .add(Dense::new(32).activation("relu"))
        .add(Dense::new(1).activation("sigmoid"))
        .into_model();
    discriminator.compile(Adam::new(1e-3), "binary_crossentropy", &[])?;
    discriminator.keep_input_gradients(true);
    let before = distance_to_data(&generated(&mut generator, 500), &real);

    let mut gan = train_steps::Gan::new(generator, 4, 7);
    let unused = Tensor::zeros(&[real.batch(), 1]);
    let options = FitOptions::new().batch_size(64).epochs(300).verbose(0).train_step(&mut gan);
    let history = discriminator.fit(&real, &unused, options)?;
    for epoch in (0..300).step_by(50).chain([299]) {
        let at = |k: &str| history.get(k).map_or(f64::NAN, |v| v[epoch]);
        println!("epoch {:>3}: d_loss {:.4}  g_loss {:.4}", epoch + 1, at("d_loss"), at("g_loss"));
    }
    let after = distance_to_data(&generated(&mut gan.generator, 500), &real);
    println!("mean distance of generated points to the nearest real one: {before:.3} before, {after:.3} after");
    Ok(())
}
