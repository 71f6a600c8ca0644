//! Datasets' memory and speed, with printed figures (BENCHMARKS.md records them):
//!
//! - `npy`: one epoch of the Keras MNIST MLP (784-512-512-10, RMSprop, batch 128) from an
//!   f32 NPY file of 1, 2 and 4 GiB read a batch at a time, written by the benchmark, each in a fresh
//!   process: its peak resident memory against the file's size and the model's memory plan;
//! - `prefetch`: the same model on real MNIST at batch 128, in memory (`fit(x, y)`) against
//!   NPY files read by a `NpyDataset` with 0 and 2 prefetching workers: samples/s, medians of
//!   rounds that take turns.
//!
//! - `images`: MNIST's first 10,000 training images written as PNG class folders, through
//!   `ImageFolderDataset` (decoding by 2 workers) and RandomFlip + RandomRotation(0.1) into
//!   the Keras MNIST convnet, beside PyTorch's `DataLoader(num_workers=2)` with torchvision's
//!   ImageFolder, RandomHorizontalFlip and RandomRotation(36°) into the same convnet
//!   (`bench/pytorch_images.py`, run by `PYTHON`, default `python3`), rounds taking turns.
//!
//! Run: `cargo run --release --example data_pipeline -- npy 1 2 4`,
//! `cargo run --release --example data_pipeline -- prefetch [rounds]` and `-- images [rounds]`
//! (MNIST from
//! `MINIBATCH_DATA`/mnist or ../shared/data/mnist; files go to `MINIBATCH_BENCH_DIR`, else the
//! system's temporary directory, and are removed afterwards).

use minibatch::bench::{self as rss, mnist_mlp};
use minibatch::data::NpyDataset;
use minibatch::io::npy_preamble;
use minibatch::{FitOptions, Result, Tensor};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cpu = cpu_name();
    match args.first().map(String::as_str) {
        Some("npy") => {
            let sizes: Vec<f64> = args[1..].iter().filter_map(|a| a.parse().ok()).collect();
            let sizes = if sizes.is_empty() { vec![1.0, 2.0, 4.0] } else { sizes };
            println!("One epoch of the MNIST MLP (784-512-512-10, RMSprop, batch 128) from an f32 NPY read a batch at a time");
            println!("CPU: {cpu}; threads: {}", minibatch::tensor::kernels::num_threads());
            println!(
                "{:>9} {:>10} {:>10} {:>13} {:>15} {:>10}",
                "file GiB", "samples", "seconds", "samples/s", "peak RSS MiB", "plan MiB"
            );
            for gib in sizes {
                // A fresh process per size: its peak resident set is this run's alone.
                let out = std::process::Command::new(std::env::current_exe().expect("the running example"))
                    .args(["npy-one", &gib.to_string()])
                    .output()
                    .expect("runs itself");
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        }
        Some("npy-one") => npy_one(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0)),
        Some("prefetch") => prefetch(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5), &cpu),
        Some("images") => images(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3), &cpu),
        _ => {
            eprintln!("usage: data_pipeline npy [GiB...] | prefetch [rounds] | images [rounds]");
            std::process::exit(2);
        }
    }
}

fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("MINIBATCH_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("minibatch-data-pipeline-{}", std::process::id()))
}

/// Writes `rows` samples of 784 f32 values (a pattern, so nothing is held in memory) and
/// their labels, a chunk at a time.
fn write_npy_files(dir: &Path, rows: usize) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    let mut fx = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(&x)?);
    fx.write_all(&npy_preamble(&[rows, 784], "<f4"))?;
    let mut row = [0u8; 784 * 4];
    for r in 0..rows {
        for (j, v) in row.chunks_exact_mut(4).enumerate() {
            v.copy_from_slice(&((((r * 31 + j * 7) % 255) as f32) / 255.0).to_le_bytes());
        }
        fx.write_all(&row)?;
    }
    fx.flush()?;
    let mut fy = std::io::BufWriter::new(std::fs::File::create(&y)?);
    fy.write_all(&npy_preamble(&[rows], "|u1"))?;
    fy.write_all(&(0..rows).map(|r| (r % 10) as u8).collect::<Vec<_>>())?;
    fy.flush()?;
    Ok((x, y))
}

fn npy_one(gib: f64) -> Result<()> {
    let rows = (gib * 1024.0 * MIB / (784.0 * 4.0)) as usize;
    let dir = bench_dir();
    let (x, y) = write_npy_files(&dir, rows).map_err(|e| minibatch::Error::io(&dir, &e))?;
    let mut model = mnist_mlp(0)?;
    let mut data = NpyDataset::open(&x, Some(&y), 128)?;
    rss::release_free_memory();
    rss::reset_peak_rss();
    let started = Instant::now();
    model.fit_dataset(&mut data, FitOptions::new().epochs(1).verbose(0).workers(2))?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = rss::peak_rss().unwrap_or(0) as f64 / MIB;
    let plan = model.memory_plan(128)?.total() as f64 / MIB;
    println!(
        "{:>9.2} {:>10} {:>10.1} {:>13.0} {:>15.1} {:>10.1}",
        (std::fs::metadata(&x).map(|m| m.len()).unwrap_or(0)) as f64 / 1024.0 / MIB,
        data.samples(),
        seconds,
        data.samples() as f64 / seconds,
        peak,
        plan
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn prefetch(rounds: usize, cpu: &str) -> Result<()> {
    let mnist = minibatch::io::load_mnist(mnist_root())?;
    let n = mnist.x_train.batch();
    let x = mnist.x_train.reshape(&[n, 784])?;
    let x = Tensor::from_vec(&[n, 784], x.data().iter().map(|v| v / 255.0).collect())?;
    let y = mnist.y_train;
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).map_err(|e| minibatch::Error::io(&dir, &e))?;
    let (xf, yf) = (dir.join("x.npy"), dir.join("y.npy"));
    std::fs::write(&xf, minibatch::io::write_npy(&[n, 784], x.data())).map_err(|e| minibatch::Error::io(&xf, &e))?;
    std::fs::write(&yf, minibatch::io::write_npy(&[n], y.data())).map_err(|e| minibatch::Error::io(&yf, &e))?;

    println!("MNIST MLP (784-512-512-10, RMSprop), batch 128, one epoch of 60,000 samples per run");
    println!(
        "CPU: {cpu}; threads: {}; {rounds} rounds, each run once per round in turn",
        minibatch::tensor::kernels::num_threads()
    );
    let names = ["in memory: fit(x, y)", "NPY, 0 workers", "NPY, 2 workers"];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut model = mnist_mlp(0)?;
    // Warm-up: plans the buffers, pages the files in.
    model.fit(&x.slice_rows(0, 1024), &y.slice_rows(0, 1024), FitOptions::new().batch_size(128).verbose(0))?;
    for _ in 0..rounds {
        for (k, rate) in rates.iter_mut().enumerate() {
            let started = Instant::now();
            match k {
                0 => {
                    model.fit(&x, &y, FitOptions::new().batch_size(128).verbose(0))?;
                }
                _ => {
                    let mut data = NpyDataset::open(&xf, Some(&yf), 128)?;
                    let workers = if k == 1 { 0 } else { 2 };
                    model.fit_dataset(&mut data, FitOptions::new().verbose(0).workers(workers))?;
                }
            }
            rate.push(n as f64 / started.elapsed().as_secs_f64());
        }
    }
    let base = median(&mut rates[0].clone());
    println!("{:<24} {:>12} {:>14}", "source", "samples/s", "vs in memory");
    for (name, rate) in names.iter().zip(&mut rates) {
        let m = median(rate);
        println!("{name:<24} {m:>12.0} {:>13.2}x", m / base);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn mnist_root() -> PathBuf {
    std::env::var_os("MINIBATCH_DATA").map(PathBuf::from).unwrap_or_else(|| "../shared/data".into()).join("mnist")
}

fn images(rounds: usize, cpu: &str) -> Result<()> {
    use minibatch::data::ImageFolderDataset;
    use minibatch::io::ColorMode;
    use minibatch::layers::{RandomFlip, RandomRotation, Rescaling};
    let mnist = minibatch::io::load_mnist(mnist_root())?;
    let n = 10_000;
    let dir = bench_dir().join("mnist-png");
    for i in 0..n {
        let class = dir.join(format!("{}", mnist.y_train.data()[i] as usize));
        std::fs::create_dir_all(&class).map_err(|e| minibatch::Error::io(&class, &e))?;
        let pixels: Vec<u8> = mnist.x_train.row(i).iter().map(|&v| v as u8).collect();
        let img = image::GrayImage::from_raw(28, 28, pixels).expect("28×28");
        img.save(class.join(format!("{i:05}.png"))).map_err(|e| minibatch::Error::format(&class, e.to_string()))?;
    }
    let x = mnist.x_train.slice_rows(0, n).reshape(&[n, 28, 28, 1])?;
    let y = mnist.y_train.slice_rows(0, n);
    let model = || -> Result<minibatch::Model> {
        let front = minibatch::Sequential::new()
            .seed(0)
            .input_shape(&[28, 28, 1])
            .add(RandomFlip::new("horizontal"))
            .add(RandomRotation::new(0.1))
            .add(Rescaling::new(1.0 / 255.0));
        let inner: minibatch::Model = minibatch::bench::convnet(&[28, 28, 1], 10, 0).into();
        let mut m: minibatch::Model = front.add(inner).into();
        m.compile(minibatch::optimizers::Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
        Ok(m)
    };
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    println!("MNIST's first {n} images as PNG class folders; flip + rotate (±36°) + the Keras MNIST convnet, Adam, batch 128");
    println!(
        "CPU: {cpu}; threads: {}; {rounds} rounds, each run once per round in turn; 2 loading workers each",
        minibatch::tensor::kernels::num_threads()
    );
    let names = [
        "minibatch, arrays in memory (no decoding)",
        "minibatch, ImageFolderDataset",
        "PyTorch, ImageFolder + DataLoader",
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let mut m = model()?;
        let started = Instant::now();
        m.fit(&x, &y, FitOptions::new().batch_size(128).verbose(0))?;
        rates[0].push(n as f64 / started.elapsed().as_secs_f64());
        let mut m = model()?;
        let mut data = ImageFolderDataset::open(&dir, 128)?.color_mode(ColorMode::Grayscale).shuffle(0);
        let started = Instant::now();
        m.fit_dataset(&mut data, FitOptions::new().verbose(0).workers(2).shuffle(false))?;
        rates[1].push(n as f64 / started.elapsed().as_secs_f64());
        let out = std::process::Command::new(&python)
            .args(["bench/pytorch_images.py", dir.to_str().expect("a UTF-8 path"), "--threads"])
            .arg(minibatch::tensor::kernels::num_threads().to_string())
            .output()
            .map_err(|e| minibatch::Error::State(format!("running {python}: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rate =
            serde_json::from_str::<serde_json::Value>(text.trim()).ok().and_then(|v| v["samples_per_s"][0].as_f64());
        match rate {
            Some(r) => rates[2].push(r),
            None => eprintln!("PyTorch run failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    println!("{:<44} {:>12}", "pipeline", "samples/s");
    for (name, rate) in names.iter().zip(&mut rates) {
        if !rate.is_empty() {
            println!("{name:<44} {:>12.0}", median(rate));
        }
    }
    let _ = std::fs::remove_dir_all(bench_dir());
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
