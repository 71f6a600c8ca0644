//! Layers written with the ops beside the built-in ones they spell out, training steps timed
//! in alternating rounds (medians):
//! - the Keras MNIST MLP (784 → 512 relu → 512 relu → 10 softmax, Adam) with its two hidden
//!   layers as built-in `Dense` or as a `Custom` layer of `matmul`, `add` and `relu`;
//! - an LSTM(32) over 20 steps of 8 features, built-in or unrolled with the ops;
//! - a MultiHeadAttention(4 heads of 8) over 16 steps of 32 features, built-in or with `einsum`.
//!
//! Run: `cargo run --release --example ops_speed -- 32 128 1024` (the MLP's batch sizes; the
//! LSTM and the attention run at 32 and 128).

#[path = "../tests/support/ops_layers.rs"]
mod ops_layers;

use minibatch::layers::{Custom, Dense, Flatten, Layer, MultiHeadAttention, LSTM};
use minibatch::{Model, Sequential, Tensor};
use ops_layers::{OpsAttention, OpsDense, OpsLstm};
use std::time::Instant;

/// A model of `layers` (then a head), compiled; its input is one sample of `shape`.
fn model(shape: &[usize], layers: Vec<Box<dyn Layer>>, head: Box<dyn Layer>, loss: &str) -> Model {
    let mut m = Sequential::new().seed(1).input_shape(shape);
    for l in layers {
        m.push(l);
    }
    m.push(head);
    let mut m = m.into_model();
    m.compile("adam", loss, &[]).unwrap();
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ms per training step of each model on `(x, y)`, 6 timed rounds alternating them.
fn race(models: &mut [Model; 2], x: &Tensor, y: &Tensor) -> [f64; 2] {
    let steps = (4096 / x.batch()).clamp(4, 64);
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..7 {
        for (m, t) in models.iter_mut().zip(times.iter_mut()) {
            m.train_on_batch(x, y).unwrap();
            let start = Instant::now();
            for _ in 0..steps {
                m.train_on_batch(x, y).unwrap();
            }
            if round > 0 {
                t.push(start.elapsed().as_secs_f64() * 1e3 / steps as f64);
            }
        }
    }
    let [a, b] = times;
    [median(a), median(b)]
}

fn data(batch: usize, shape: &[usize], targets: usize, classes: bool) -> (Tensor, Tensor) {
    let per: usize = shape.iter().product();
    let mut full = vec![batch];
    full.extend(shape);
    let x = Tensor::from_vec(&full, (0..batch * per).map(|i| ((i * 31) % 255) as f32 / 255.0 - 0.5).collect()).unwrap();
    let y = if classes {
        Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap()
    } else {
        Tensor::from_vec(&[batch, targets], (0..batch * targets).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap()
    };
    (x, y)
}

fn main() {
    let batches: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![32, 128, 1024] } else { batches };
    println!("threads: {}", minibatch::tensor::kernels::num_threads());
    println!(
        "{:>20} {:>6} {:>14} {:>14} {:>8} {:>16} {:>12}",
        "model", "batch", "built-in ms", "ops ms", "ops/built-in", "built-in KiB", "ops KiB"
    );
    // Each step's time, and the layers' workspaces (the ops programs' buffers, shared by
    // lifetime; the built-in layers' caches).
    let row = |name: &str, b: usize, models: &mut [Model; 2], x: &Tensor, y: &Tensor| {
        let [d, o] = race(models, x, y);
        let kib = |m: &Model| m.layers().iter().map(|l| l.workspace_bytes()).sum::<usize>() as f64 / 1024.0;
        let (kd, ko) = (kib(&models[0]), kib(&models[1]));
        println!("{name:>20} {b:>6} {d:>14.3} {o:>14.3} {:>8.2} {kd:>16.0} {ko:>12.0}", o / d);
    };
    for &b in &batches {
        let mlp = |ops: bool| {
            let hidden = || -> Box<dyn Layer> {
                if ops {
                    Box::new(Custom::new(OpsDense::new(512)))
                } else {
                    Box::new(Dense::new(512).activation("relu"))
                }
            };
            let head = Box::new(Dense::new(10).activation("softmax"));
            model(&[784], vec![hidden(), hidden()], head, "sparse_categorical_crossentropy")
        };
        let (x, y) = data(b, &[784], 0, true);
        row("MLP 784-512-512-10", b, &mut [mlp(false), mlp(true)], &x, &y);
    }
    for b in [32, 128] {
        let lstm = |ops: bool| -> Model {
            let layer: Box<dyn Layer> =
                if ops { Box::new(Custom::new(OpsLstm::new(32))) } else { Box::new(LSTM::new(32)) };
            model(&[20, 8], vec![layer], Box::new(Dense::new(1)), "mse")
        };
        let (x, y) = data(b, &[20, 8], 1, false);
        row("LSTM(32), 20 steps", b, &mut [lstm(false), lstm(true)], &x, &y);
        let attention = |ops: bool| -> Model {
            let layer: Box<dyn Layer> = if ops {
                Box::new(Custom::new(OpsAttention::new(4, 8)))
            } else {
                Box::new(MultiHeadAttention::new(4, 8))
            };
            model(&[16, 32], vec![layer, Box::new(Flatten::new())], Box::new(Dense::new(1)), "mse")
        };
        let (x, y) = data(b, &[16, 32], 1, false);
        row("MHA(4x8), 16 steps", b, &mut [attention(false), attention(true)], &x, &y);
    }
}
