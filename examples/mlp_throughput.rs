//! Training throughput of the 784-512-512-10 ReLU MLP with Adam, on MNIST-shaped random data,
//! at several batch sizes: samples/s, ms per weight update, and the training buffers' size.
//!
//! Run: `cargo run --release --example mlp_throughput` (`MINIBATCH_THREADS` sets the threads;
//! arguments override the batch sizes, e.g. `-- 1 32 128 1024`).

use minibatch::layers::Dense;
use minibatch::optimizers::Adam;
use minibatch::rng::Rng;
use minibatch::tensor::kernels::num_threads;
use minibatch::{FitOptions, Sequential, Tensor};
use std::time::Instant;

fn main() -> minibatch::Result<()> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1, 32, 128, 1024] } else { sizes };
    let mut rng = Rng::new(0);
    let n = 8192;
    let x = Tensor::from_vec(&[n, 784], (0..n * 784).map(|_| rng.next_f32()).collect())?;
    let y = Tensor::from_vec(&[n], (0..n).map(|_| rng.below(10) as f32).collect())?;
    println!("784-512-512-10 ReLU MLP, Adam, sparse categorical cross-entropy; threads: {}", num_threads());
    println!("{:>6} {:>12} {:>10} {:>8} {:>12}", "batch", "samples/s", "ms/step", "steps", "buffers KiB");
    for batch in sizes {
        let mut model = Sequential::new()
            .input_shape(&[784])
            .add(Dense::new(512).activation("relu"))
            .add(Dense::new(512).activation("relu"))
            .add(Dense::new(10).activation("softmax"));
        model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
        // Enough samples for about two seconds of work, at least a few steps; one warm-up epoch.
        let samples = if batch == 1 { 2048 } else { n };
        let (xs, ys) = (x.slice_rows(0, samples), y.slice_rows(0, samples));
        let quick = FitOptions::new().batch_size(batch).verbose(0);
        model.fit(
            &xs.slice_rows(0, batch.max(64).min(samples)),
            &ys.slice_rows(0, batch.max(64).min(samples)),
            quick,
        )?;
        // Best of 3 epochs: shared machines are noisy.
        let mut best = f64::INFINITY;
        let mut steps = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let h = model.fit(&xs, &ys, FitOptions::new().batch_size(batch).verbose(0))?;
            best = best.min(t.elapsed().as_secs_f64());
            steps = h.weight_updates;
        }
        println!(
            "{:>6} {:>12.0} {:>10.3} {:>8} {:>12.1}",
            batch,
            samples as f64 / best,
            best * 1e3 / steps as f64,
            steps,
            model.buffer_bytes() as f64 / 1024.0
        );
    }
    Ok(())
}
