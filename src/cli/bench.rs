//! `minibatch bench`: training throughput per batch size.

use super::checks;
use clap::Args;
use minibatch::Result;
use serde_json::json;

#[derive(Args)]
pub struct BenchArgs {
    /// mlp (the Keras MNIST MLP, RMSprop), convnet (the Keras MNIST convnet, Adam), lstm
    /// (MNIST rows through LSTM(128), Adam) or transformer (MNIST rows through a 2-block
    /// Transformer encoder, Adam).
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Batch sizes to measure, comma-separated (each 1 to 16777216).
    #[arg(long, default_value = "1,32,128,1024", value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// Seconds of training per batch size, 0 to 3600 (the best epoch counts).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Samples per epoch (batch size 1 uses an eighth; 8 to 1073741824).
    #[arg(long, default_value_t = 8192)]
    pub samples: usize,
    /// Write the figures as JSON to this file ("-" for standard output, instead of the table).
    #[arg(long)]
    pub json: Option<String>,
    /// Threads for matrix products [default: MINIBATCH_THREADS, else all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Log each measured epoch for TensorBoard to DIR (Keras's defaults: epoch scalars and the
    /// graph), to see what logging costs.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<std::path::PathBuf>,
    /// Measure the gradient noise scale in each measured epoch (`train --noise-scale`), to
    /// see what it costs.
    #[arg(long)]
    pub noise_scale: bool,
    /// Keras's dtype policy to train under: float32 or mixed_bfloat16 [default: float32].
    #[arg(long)]
    pub precision: Option<String>,
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    checks::non_negative("--seconds", args.seconds)?;
    if args.seconds > 3600.0 {
        return Err(minibatch::Error::invalid("--seconds", args.seconds, "0 to 3600 seconds per batch size"));
    }
    checks::count("--samples", args.samples, 8, checks::MAX_SAMPLES)?;
    checks::counts("--batch-sizes", &args.batch_sizes, 1, checks::MAX_BATCH)?;
    checks::threads(args.threads)?;
    checks::Files::default().output_folder("--tensorboard", args.tensorboard.as_deref(), &[]).check()?;
    if let Some(n) = args.threads {
        minibatch::tensor::kernels::set_num_threads(n);
    }
    let threads = minibatch::tensor::kernels::num_threads();
    let precision = checks::precision(args.precision.as_deref())?.unwrap_or_default();
    let kernels = minibatch::tensor::isa::current().describe();
    let table = args.json.as_deref() != Some("-");
    let (workload, title) = match args.model.as_str() {
        "mlp" => (minibatch::bench::Workload::Mlp, "Keras MNIST MLP 784-512-512-10, RMSprop, no dropout"),
        "convnet" => (minibatch::bench::Workload::Convnet, "Keras MNIST convnet (34,826 parameters), Adam"),
        "lstm" => {
            (minibatch::bench::Workload::Lstm, "MNIST rows through LSTM(128), Dense(10) (81,674 parameters), Adam")
        }
        "transformer" => (
            minibatch::bench::Workload::Transformer,
            "MNIST rows through a 2-block Transformer encoder (d 64, 4 heads, ff 128), Adam",
        ),
        other => {
            return Err(minibatch::Error::UnknownName {
                kind: "model",
                name: other.into(),
                known: vec!["mlp", "convnet", "lstm", "transformer"],
            })
        }
    };
    if table {
        println!("{title}; {threads} threads; best epoch of ~{}s; {}; {kernels}", args.seconds, precision.name());
        println!(
            "{:>6} {:>12} {:>10} {:>8} {:>11} {:>13}",
            "batch", "samples/s", "ms/step", "steps", "model MiB", "peak RSS MiB"
        );
    }
    let mut results = Vec::new();
    for &b in &args.batch_sizes {
        if b == 0 {
            return Err(minibatch::Error::invalid("batch_size", 0, "positive batch sizes"));
        }
        let samples = if b == 1 { args.samples / 8 } else { args.samples };
        let extras = minibatch::bench::Extras {
            tensorboard: args.tensorboard.as_deref(),
            noise_scale: args.noise_scale,
            precision,
        };
        let m = minibatch::bench::measure_with(workload, b, args.seconds, samples, &extras)?;
        if table {
            let mib = |v: f64| v / (1u64 << 20) as f64;
            let rss = m.peak_rss_bytes.map_or("-".into(), |r| format!("{:.1}", mib(r as f64)));
            println!(
                "{:>6} {:>12.0} {:>10.3} {:>8} {:>11.1} {:>13}",
                m.batch_size,
                m.samples_per_s,
                m.ms_per_step,
                m.steps,
                mib(m.model_bytes as f64),
                rss
            );
        }
        results.push(m);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(
            &json!({ "framework": "minibatch", "model": workload, "threads": threads, "precision": precision.name(),
                "kernels": kernels, "results": results }),
        )
        .expect("plain values");
        if path == "-" {
            println!("{text}");
        } else {
            minibatch::saving::write_atomic(std::path::Path::new(path), (text + "\n").as_bytes())?;
        }
    }
    Ok(())
}
