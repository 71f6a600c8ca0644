//! Each layer of the Keras MNIST convnet, forward and backward, timed (best of 5): where a
//! training step's time goes. Run: `cargo run --release --example convnet_layers -- 128`

use minibatch::layers::{Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D};
use minibatch::rng::Rng;
use minibatch::Tensor;
use std::time::Instant;

fn best_of<F: FnMut()>(mut f: F) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let b: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(128);
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Conv2D::new(32, 3).activation("relu")),
        Box::new(MaxPooling2D::new(2)),
        Box::new(Conv2D::new(64, 3).activation("relu")),
        Box::new(MaxPooling2D::new(2)),
        Box::new(Flatten::new()),
        Box::new(Dropout::new(0.5)),
        Box::new(Dense::new(10)),
    ];
    let mut rng = Rng::new(0);
    let mut shape = vec![28, 28, 1];
    let (mut fwd_total, mut bwd_total) = (0.0, 0.0);
    println!("batch {b}, {} threads; ms per call, best of 5", minibatch::tensor::kernels::num_threads());
    for (i, layer) in layers.iter_mut().enumerate() {
        let out = layer.build(&shape, &mut rng).unwrap();
        layer.plan(b);
        let with_batch = |s: &[usize]| [&[b][..], s].concat();
        let n: usize = with_batch(&shape).iter().product();
        let x = Tensor::from_vec(&with_batch(&shape), (0..n).map(|_| rng.next_f32()).collect()).unwrap();
        let mut y = Tensor::zeros(&with_batch(&out));
        let mut dy = Tensor::from_vec(&with_batch(&out), (0..y.len()).map(|_| rng.next_f32() - 0.5).collect()).unwrap();
        let mut dx = Tensor::zeros(&with_batch(&shape));
        let fwd = best_of(|| layer.forward(&x, &mut y, true));
        // The first layer's input gradient is never needed in training.
        let bwd = best_of(|| layer.backward(&x, &y, &mut dy, if i == 0 { None } else { Some(&mut dx) }));
        println!("{:>14} {:?} → {:?}: forward {fwd:7.3}  backward {bwd:7.3}", layer.kind(), shape, out);
        fwd_total += fwd;
        bwd_total += bwd;
        shape = out;
    }
    println!("total: forward {fwd_total:.3} + backward {bwd_total:.3} = {:.3} ms", fwd_total + bwd_total);
}
