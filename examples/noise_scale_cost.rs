//! What measuring the gradient noise scale (`FitOptions::measure_noise_scale`) costs a training
//! step: the Keras MNIST MLP and convnet at batch 128, epochs with and without the
//! measurement alternating in one process, the median of each side and of the pairs' ratios.
//!
//! Run: `cargo run --release --example noise_scale_cost` (`-- PAIRS` for more pairs).

use minibatch::models::zoo::{mnist_convnet, mnist_mlp};
use minibatch::rng::Rng;
use minibatch::tensor::kernels::num_threads;
use minibatch::{FitOptions, Model, Tensor};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> minibatch::Result<()> {
    let pairs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(9);
    let batch = 128;
    println!("batch {batch}, {pairs} alternating pairs, threads: {}", num_threads());
    println!("{:>8} {:>12} {:>14} {:>12}", "model", "ms/step", "with noise", "median ratio");
    for (name, n, shape) in [("mlp", 8192, vec![784]), ("convnet", 4096, vec![28, 28, 1])] {
        let mut rng = Rng::new(0);
        let len: usize = shape.iter().product();
        let mut full = vec![n];
        full.extend(&shape);
        let x = Tensor::from_vec(&full, (0..n * len).map(|_| rng.next_f32()).collect())?;
        let y = Tensor::from_vec(&[n], (0..n).map(|_| rng.below(10) as f32).collect())?;
        let mut model: Model = if name == "mlp" { mnist_mlp(0)?.into() } else { mnist_convnet(0)?.into() };
        let mut epoch = |measure: bool| -> minibatch::Result<f64> {
            let t = Instant::now();
            let options = FitOptions::new().batch_size(batch).verbose(0).measure_noise_scale(measure);
            let h = model.fit(&x, &y, options)?;
            Ok(t.elapsed().as_secs_f64() * 1e3 / h.weight_updates as f64)
        };
        epoch(true)?;
        let (mut plain, mut measured, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..pairs {
            // Alternate which side runs first, so that drift favours neither.
            let (a, b) = if i % 2 == 0 {
                let a = epoch(false)?;
                (a, epoch(true)?)
            } else {
                let b = epoch(true)?;
                (epoch(false)?, b)
            };
            plain.push(a);
            measured.push(b);
            ratios.push(b / a);
        }
        println!("{name:>8} {:>12.3} {:>14.3} {:>12.3}", median(plain), median(measured), median(ratios));
    }
    Ok(())
}
