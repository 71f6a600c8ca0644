//! Data-parallel training speed over MPI: the all-reduce's cost per gradient size, then the
//! bench models' training throughput over however many ranks `mpirun` started, and (from one
//! rank's figures) the projected per-rank batch that keeps 90% scaling efficiency on larger
//! clusters.
//!
//! ```sh
//! cargo build --release --features mpi --example distributed
//! target/release/examples/distributed --threads 2                          # 1 rank × 2 threads
//! mpirun -np 2 target/release/examples/distributed --threads 1             # 2 ranks × 1 thread
//! ```
//!
//! Rank 0 prints. Batch sizes are global (each rank computes `batch / K` samples a step).

use minibatch::bench::{measure, Workload};
use minibatch::distributed;
use std::time::Instant;

fn main() -> minibatch::Result<()> {
    let world = distributed::init()?;
    let comm = world.comm().clone();
    let (rank, size) = (comm.rank(), comm.size());
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse::<f64>().ok());
    let threads = flag("--threads").unwrap_or(1.0) as usize;
    let seconds = flag("--seconds").unwrap_or(3.0);
    minibatch::tensor::kernels::set_num_threads(threads);
    let say = |line: String| {
        if rank == 0 {
            println!("{line}");
        }
    };
    say(format!("{} × {threads} thread(s) each; {}", size, comm.describe()));

    // 1. The all-reduce alone: median time per call for each size.
    let mut points = Vec::new();
    if size > 1 {
        say("\nall-reduce (f32 sum), median of 30 calls".into());
        say(format!("{:>12} {:>12} {:>12}", "bytes", "ms", "GB/s (algo)"));
        for floats in [256usize, 4_096, 65_536, 262_144, 1 << 20, 4 << 20] {
            let send = vec![1.0f32; floats];
            let mut recv = vec![0.0f32; floats];
            let mut times: Vec<f64> = (0..30)
                .map(|_| {
                    comm.barrier();
                    let t = Instant::now();
                    comm.all_reduce_f32(&send, &mut recv);
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            points.push((4.0 * floats as f64, median));
            say(format!("{:>12} {:>12.4} {:>12.2}", 4 * floats, median * 1e3, 4.0 * floats as f64 / median / 1e9));
        }
        // The cost model t = α + bytes / β: α from the smallest message, β from a least-squares
        // line through the messages of 64 KiB and more.
        let alpha = points[0].1;
        let large: Vec<&(f64, f64)> = points.iter().filter(|(b, _)| *b >= 65536.0).collect();
        let n = large.len() as f64;
        let (sx, sy) = large.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let sxx: f64 = large.iter().map(|(x, _)| x * x).sum();
        let sxy: f64 = large.iter().map(|(x, y)| x * y).sum();
        let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        say(format!("cost model: latency α = {:.1} µs, bandwidth 1/β = {:.2} GB/s", alpha * 1e6, 1.0 / slope / 1e9));
    }

    // 2. The bench models, trained over every rank (each measure is a fit: batches are
    // global); over several ranks, alternately with one all-reduce after backward and with
    // buckets sent during backward (MINIBATCH_BUCKET_KB). Medians of `rounds` rounds.
    let rounds = flag("--rounds").unwrap_or(3.0) as usize;
    let configs: &[(&str, &str)] =
        if size > 1 { &[("after backward", "0"), ("overlapped", "1024")] } else { &[("one process", "1024")] };
    say(format!(
        "\n{:<12} {:>5} {:>9} {:>16} {:>14} {:>9}",
        "model", "batch", "params", "all-reduce", "samples/s", "ms/step"
    ));
    let mut rows = Vec::new();
    for (name, workload, batch) in [
        ("mlp", Workload::Mlp, 1024),
        ("convnet", Workload::Convnet, 128),
        ("lstm", Workload::Lstm, 128),
        ("transformer", Workload::Transformer, 128),
    ] {
        let params = match workload {
            Workload::Mlp => minibatch::bench::mnist_mlp(0)?.count_params(),
            Workload::Convnet => minibatch::bench::mnist_convnet(0)?.count_params(),
            Workload::Lstm => minibatch::bench::mnist_lstm(0)?.count_params(),
            Workload::Transformer => minibatch::bench::mnist_transformer(0)?.count_params(),
        };
        let mut figures = vec![Vec::new(); configs.len()];
        for _ in 0..rounds {
            for (i, (_, kb)) in configs.iter().enumerate() {
                std::env::set_var("MINIBATCH_BUCKET_KB", kb);
                figures[i].push(measure(workload, batch, seconds, 8192)?);
            }
        }
        for (i, (label, _)) in configs.iter().enumerate() {
            figures[i].sort_by(|a, b| a.samples_per_s.total_cmp(&b.samples_per_s));
            let m = &figures[i][rounds / 2];
            say(format!(
                "{name:<12} {batch:>5} {params:>9} {label:>16} {:>14.0} {:>9.2}",
                m.samples_per_s, m.ms_per_step
            ));
            if i == 0 {
                rows.push((name, params, m.samples_per_s));
            }
        }
    }

    // 3. From one rank's compute: the per-rank batch for 90% efficiency on a ring all-reduce,
    // t_comm = 2(K−1)·α + 2(K−1)/K · bytes/B, compute b·c per step, efficiency b·c/(b·c + t_comm).
    if size == 1 {
        say("\nprojected per-rank batch for ≥ 90% scaling efficiency (no overlap; ring all-reduce)".into());
        say("network: 25 Gb/s with α = 25 µs (TCP), 100 Gb/s with α = 5 µs (RDMA); 90% of line rate".into());
        say(format!(
            "{:<12} {:>10} {:>8} {:>8} {:>8} {:>8}",
            "model", "MB grads", "8×25G", "64×25G", "8×100G", "64×100G"
        ));
        for (name, params, per_s) in &rows {
            let bytes = 4.0 * *params as f64;
            let c = 1.0 / per_s; // seconds per sample, this rank's threads
            let batch = |k: f64, gbit: f64, alpha: f64| {
                let t = 2.0 * (k - 1.0) * alpha + 2.0 * (k - 1.0) / k * bytes / (0.9 * gbit * 1e9 / 8.0);
                (9.0 * t / c).ceil()
            };
            say(format!(
                "{name:<12} {:>10.2} {:>8} {:>8} {:>8} {:>8}",
                bytes / 1e6,
                batch(8.0, 25.0, 25e-6),
                batch(64.0, 25.0, 25e-6),
                batch(8.0, 100.0, 5e-6),
                batch(64.0, 100.0, 5e-6)
            ));
        }
    }
    Ok(())
}
