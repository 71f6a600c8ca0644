//! GEMM throughput (best of 5 rounds) on the shapes an MLP and the MNIST convnet's training
//! steps use, plus a large square product (the machine's practical peak), in f32 and in bf16
//! (`mixed_bfloat16`'s products: inputs rounded to bf16, f32 sums). Prints the kernels that ran.
//! Run: `cargo run --release --example gemm` (MINIBATCH_THREADS sets the threads,
//! MINIBATCH_KERNELS the instructions: avx2, avx512, avx512-bf16, amx, emulated, ...).

use minibatch::tensor::isa;
use minibatch::tensor::kernels::{matmul, matmul_bf16, num_threads};
use std::time::Instant;

/// `kernels::matmul`'s signature.
type Product = fn(&mut [f32], &[f32], &[f32], usize, usize, usize, bool, bool, f32);

fn main() {
    if let Err(e) = isa::check_requested() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    println!("threads: {}; {}", num_threads(), isa::current().describe());
    println!("{:>24} {:>12} {:>10} {:>12} {:>10}", "m x k x n (op)", "f32 us", "GFLOP/s", "bf16 us", "GFLOP/s");
    let shapes = [
        (32, 784, 512, false, false, "fwd b32"),
        (128, 784, 512, false, false, "fwd b128"),
        (1024, 784, 512, false, false, "fwd b1024"),
        (784, 128, 512, true, false, "dW b128"),
        (128, 512, 784, false, true, "dx b128"),
        (86528, 9, 32, false, false, "conv1 fwd b128"),
        (9, 86528, 32, true, false, "conv1 dW b128"),
        (15488, 288, 64, false, false, "conv2 fwd b128"),
        (288, 15488, 64, true, false, "conv2 dW b128"),
        (15488, 64, 288, false, true, "conv2 dx b128"),
        (512, 512, 512, false, false, "square"),
        (2048, 2048, 2048, false, false, "large"),
    ];
    for (m, k, n, ta, tb, label) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let iters = ((3e10 / flops) as usize).clamp(3, 5000);
        let time = |product: Product, c: &mut [f32]| {
            product(c, &a, &b, m, k, n, ta, tb, 0.0);
            // Best of 5 rounds: this kind of shared machine is noisy.
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..iters.div_ceil(5) {
                        product(c, &a, &b, m, k, n, ta, tb, 0.0);
                    }
                    t.elapsed().as_secs_f64() / iters.div_ceil(5) as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let (s, h) = (time(matmul, &mut c), time(matmul_bf16, &mut c));
        println!(
            "{:>24} {:>12.1} {:>10.1} {:>12.1} {:>10.1}",
            format!("{m}x{k}x{n} ({label})"),
            s * 1e6,
            flops / s / 1e9,
            h * 1e6,
            flops / h / 1e9
        );
    }
}
