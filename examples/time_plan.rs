//! Predicted against measured time per training step (issue 32, part 2): `lab::plan_time`
//! (the step's products timed at their shapes, the memory it moves at the measured
//! bandwidth) beside `bench::measure` (the best epoch of real training), for the Keras MNIST
//! MLP, convnet and LSTM at batch sizes 32 to 1024.
//!
//! Run: `cargo run --release --example time_plan` (`-- mlp` etc. for one model; `-- SECONDS`
//! per measurement, default 2).

use minibatch::bench::{measure, mnist_convnet, mnist_lstm, mnist_mlp, Workload};
use minibatch::lab::{plan_time, Rates};
use minibatch::tensor::kernels::num_threads;
use minibatch::Model;

fn main() -> minibatch::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2.0);
    let only: Vec<&str> = args.iter().filter(|a| a.parse::<f64>().is_err()).map(|s| s.as_str()).collect();
    let mut rates = Rates::measure();
    println!("threads: {}", num_threads());
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "model", "batch", "GFLOP/st", "pred ms", "meas ms", "products", "ratio"
    );
    let mut worst: f64 = 0.0;
    for (name, workload) in [("mlp", Workload::Mlp), ("convnet", Workload::Convnet), ("lstm", Workload::Lstm)] {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let model: Model = match workload {
            Workload::Mlp => mnist_mlp(0)?.into(),
            Workload::Convnet => mnist_convnet(0)?.into(),
            _ => mnist_lstm(0)?.into(),
        };
        for batch in [32, 128, 512, 1024] {
            let samples = if name == "mlp" { 16384 } else { 4096 };
            let plan = plan_time(&model, batch, samples, 1, &mut rates)?;
            let measured = measure(workload, batch, seconds, samples)?;
            let ratio = plan.seconds_per_step * 1e3 / measured.ms_per_step;
            worst = worst.max((ratio - 1.0).abs());
            println!(
                "{name:>8} {batch:>6} {:>10.3} {:>10.3} {:>10.3} {:>9.0}% {:>8.2}",
                plan.flops_per_step / 1e9,
                plan.seconds_per_step * 1e3,
                measured.ms_per_step,
                100.0 * plan.product_seconds / plan.seconds_per_step,
                ratio
            );
        }
    }
    println!("largest error: {:.0}%", worst * 100.0);
    Ok(())
}
