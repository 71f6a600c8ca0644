//! Every matrix product of one training step of the 784-512-512-10 MLP, timed (best of 5):
//! where a step's time goes. Run: `cargo run --release --example mlp_step_gemms -- 1024`

use minibatch::tensor::kernels::matmul;
use std::time::Instant;

fn main() {
    let b: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    // (label, m, k, n, trans_a, trans_b) as Dense::forward/backward call them
    let products = [
        ("fwd 1", b, 784, 512, false, false),
        ("fwd 2", b, 512, 512, false, false),
        ("fwd 3", b, 512, 10, false, false),
        ("dW 3", 512, b, 10, true, false),
        ("dx 3", b, 10, 512, false, true),
        ("dW 2", 512, b, 512, true, false),
        ("dx 2", b, 512, 512, false, true),
        ("dW 1", 784, b, 512, true, false),
    ];
    let mut total = 0.0;
    for (label, m, k, n, ta, tb) in products {
        let a = vec![0.5f32; m * k];
        let bm = vec![0.25f32; k * n];
        let mut c = vec![0f32; m * n];
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..5 {
                matmul(&mut c, &a, &bm, m, k, n, ta, tb, 0.0);
            }
            best = best.min(t.elapsed().as_secs_f64() / 5.0);
        }
        total += best;
        let gf = 2.0 * (m * k * n) as f64 / best / 1e9;
        println!("{label:>6} {m:>5}x{k:>5}x{n:>4} ta={ta:<5} tb={tb:<5} {:>9.1} us {gf:>7.1} GFLOP/s", best * 1e6);
    }
    println!("total {:.2} ms per step", total * 1e3);
}
