//! Same seed and thread count: the same History, bit for bit.

use minibatch::layers::{Dense, Dropout};
use minibatch::{datasets, FitOptions, Sequential, Tensor};

/// The History's values and the final weights, as raw bits.
type Bits = (Vec<(String, Vec<u64>)>, Vec<Vec<u32>>);

fn run(seed: u64) -> Bits {
    let data = datasets::load("moons", 5).unwrap();
    let mut m = Sequential::new()
        .seed(seed)
        .add(Dense::new(32).activation("relu"))
        .add(Dropout::new(0.3))
        .add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m
        .fit(&data.x_train, &data.y_train, FitOptions::new().batch_size(16).epochs(3).validation_split(0.2).verbose(0))
        .unwrap();
    let bits = h.history.iter().map(|(k, v)| (k.clone(), v.iter().map(|x| x.to_bits()).collect())).collect();
    let weights = m.get_weights().iter().map(|w| w.data().iter().map(|x| x.to_bits()).collect()).collect();
    (bits, weights)
}

#[test]
fn same_seed_same_history_and_weights_bit_for_bit() {
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0, "the seed matters");
}

/// `minibatch train ARGS --threads T`, saving the model and the History: the weights' bits
/// and the History's values.
fn train_with_threads(dir: &std::path::Path, args: &[&str], threads: usize) -> (Vec<Vec<u32>>, serde_json::Value) {
    let (model, history) = (dir.join(format!("m{threads}.safetensors")), dir.join(format!("h{threads}.json")));
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["--threads".into(), threads.to_string(), "--verbose".into(), "0".into()]);
    all.extend(["--save".into(), model.display().to_string(), "--history".into(), history.display().to_string()]);
    let (ok, _, err) = crate::common::minibatch(&all);
    assert!(ok, "{threads} threads: {err}");
    let weights = minibatch::Model::load(&model).unwrap().get_weights();
    let bits = weights.iter().map(|w| w.data().iter().map(|x| x.to_bits()).collect()).collect();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    (bits, json["history"].clone())
}

/// Every product and optimizer update here is large enough to run on several threads (the
/// GEMM splits from 2^18 multiply-adds, the optimizers from 2^15 values, a recurrent pass by
/// rows), and 1, 2 and 3
/// threads give the same weights and History, bit for bit (each value of a product is
/// computed by one thread in one order whatever the split).
#[test]
fn thread_count_does_not_change_the_bits() {
    let dir = crate::common::temp_dir("threads");
    // An MLP with 256-unit layers at batch 256: 256×256×256 products, 65,536-value updates.
    let mlp = [
        "train",
        "--data",
        "spirals",
        "--hidden",
        "256,256",
        "--dropout",
        "0.1",
        "--batch-size",
        "256",
        "--epochs",
        "2",
        "--validation-split",
        "0.1",
    ];
    // The Keras convnet on 16×16 images at batch 64: (64·196)×9×32 and (64·25)×288×64 products.
    let n = 192;
    let x = Tensor::from_vec(&[n, 16, 16], (0..n * 256).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 10) as f32).collect()).unwrap();
    let images = dir.join("images.npz");
    minibatch::io::write_npz(&images, &[("x", &x), ("y", &y)]).unwrap();
    let convnet =
        ["train", "--data", images.to_str().unwrap(), "--model", "convnet", "--batch-size", "64", "--epochs", "1"];
    // LSTM(128) over 12 steps at batch 30 (odd rows per thread with 3 threads, a tail batch of
    // 18): each thread takes its own rows through every step.
    let sequences = dir.join("sequences.npz");
    let n = 78;
    let x = Tensor::from_vec(&[n, 12, 5], (0..n * 60).map(|i| ((i * 104_729) % 211) as f32 / 211.0 - 0.5).collect());
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 4) as f32).collect()).unwrap();
    minibatch::io::write_npz(&sequences, &[("x", &x.unwrap()), ("y", &y)]).unwrap();
    let lstm =
        ["train", "--data", sequences.to_str().unwrap(), "--model", "lstm", "--batch-size", "30", "--epochs", "2"];
    // The Transformer on the same sequences: attention's samples shared among the threads
    // (3 threads on a tail batch of 18: 6 samples each).
    let transformer = [
        "train",
        "--data",
        sequences.to_str().unwrap(),
        "--model",
        "transformer",
        "--batch-size",
        "30",
        "--epochs",
        "2",
    ];
    for args in [&mlp[..], &convnet[..], &lstm[..], &transformer[..]] {
        let one = train_with_threads(&dir, args, 1);
        assert!(one.1["loss"].as_array().is_some_and(|l| !l.is_empty()), "{}", one.1);
        for threads in [2, 3] {
            let other = train_with_threads(&dir, args, threads);
            assert!(one.0 == other.0, "{}: weights differ with {threads} threads", args[4]);
            assert_eq!(one.1, other.1, "{}: History differs with {threads} threads", args[4]);
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The library's layers that the command does not build, trained in this test binary started
/// again with `MINIBATCH_THREADS` set (the kernels' thread count is fixed per process): the
/// weights' bits of each model, one line per model, into `MINIBATCH_PROBE_OUT`.
#[test]
#[ignore = "run by thread_count_does_not_change_the_bits_of_any_layer with MINIBATCH_THREADS set"]
fn thread_count_probe() {
    use minibatch::layers::{
        BatchNormalization, Bidirectional, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, Flatten, SeparableConv2D,
        SimpleRNN, GRU, LSTM,
    };
    let Some(out) = std::env::var_os("MINIBATCH_PROBE_OUT") else { return };
    let seq = |n: usize, t: usize, f: usize| {
        Tensor::from_vec(&[n, t, f], (0..n * t * f).map(|i| ((i * 7919) % 211) as f32 / 211.0 - 0.5).collect()).unwrap()
    };
    let img = |n: usize| {
        Tensor::from_vec(&[n, 12, 12, 3], (0..n * 432).map(|i| ((i * 104_729) % 251) as f32 / 251.0).collect()).unwrap()
    };
    let n = 66; // batches of 48 and 18: 16 and 6 rows a thread with 3 threads
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 4) as f32).collect()).unwrap();
    let head = |m: Sequential| m.add(Flatten::new()).add(Dense::new(4).activation("softmax"));
    let models: Vec<(&str, Sequential, Tensor)> = vec![
        ("GRU", head(Sequential::new().seed(1).add(GRU::new(64).return_sequences(true))), seq(n, 12, 8)),
        ("SimpleRNN", head(Sequential::new().seed(2).add(SimpleRNN(64).return_sequences(true))), seq(n, 12, 8)),
        ("Bidirectional", head(Sequential::new().seed(3).add(Bidirectional::new(LSTM::new(48)))), seq(n, 12, 8)),
        ("Conv1D", head(Sequential::new().seed(4).add(Conv1D::new(32, 3).activation("relu"))), seq(n, 30, 16)),
        ("DepthwiseConv2D", head(Sequential::new().seed(5).add(DepthwiseConv2D::new(3).depth_multiplier(8))), img(n)),
        ("SeparableConv2D", head(Sequential::new().seed(6).add(SeparableConv2D::new(32, 3))), img(n)),
        ("Conv2DTranspose", head(Sequential::new().seed(7).add(Conv2DTranspose::new(16, 3))), img(n)),
        (
            "Custom(SelfAttention)",
            head(
                Sequential::new()
                    .seed(9)
                    .add(Dense::new(16).activation("tanh"))
                    .add(minibatch::layers::Custom::new(crate::ops_layers::SelfAttention::new(16))),
            ),
            seq(n, 12, 8),
        ),
        (
            "BatchNormalization(synchronized)",
            head(Sequential::new().seed(8).add(Conv2D::new(32, 3)).add(BatchNormalization::new().synchronized(true))),
            img(n),
        ),
    ];
    // Keras's mixed_bfloat16: the bf16 products split among the threads as the f32 ones.
    let mixed = |m: Sequential| {
        let mut m = m;
        m.dtype_policy(minibatch::layers::DTypePolicy::MixedBfloat16);
        m
    };
    let mut models = models;
    models.push((
        "mixed_bfloat16 MLP",
        mixed(head(Sequential::new().seed(10).add(Dense::new(256).activation("relu")).add(Dense::new(256)))),
        seq(n, 12, 8),
    ));
    models.push((
        "mixed_bfloat16 convnet",
        mixed(head(Sequential::new().seed(11).add(Conv2D::new(32, 3).activation("relu")).add(Conv2D::new(16, 3)))),
        img(n),
    ));
    if std::env::var_os("MINIBATCH_PROBE_MIXED_ONLY").is_some() {
        models.retain(|(name, _, _)| name.starts_with("mixed"));
    }
    let mut lines = String::new();
    for (name, mut m, x) in models {
        m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
        let h = m.fit(&x, &y, FitOptions::new().batch_size(48).epochs(2).verbose(0)).unwrap();
        let weights: Vec<u32> = m.get_weights().iter().flat_map(|w| w.data().to_vec()).map(f32::to_bits).collect();
        let losses: Vec<u64> = h.get("loss").unwrap().iter().map(|v| v.to_bits()).collect();
        lines += &format!("{name} {losses:?} {weights:?}\n");
    }
    std::fs::write(out, lines).unwrap();
}

/// Runs [`thread_count_probe`] in a fresh process with these variables; its lines.
fn probe(dir: &std::path::Path, tag: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let out = dir.join(format!("{tag}.txt"));
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", "determinism::thread_count_probe", "--test-threads", "1"])
        .env("MINIBATCH_PROBE_OUT", &out);
    for (k, v) in vars {
        command.env(k, v);
    }
    let run = crate::deadline::output_within(&mut command, crate::deadline::DEADLINE);
    assert!(run.status.success(), "{tag}: {}", String::from_utf8_lossy(&run.stderr));
    std::fs::read_to_string(&out).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn thread_count_does_not_change_the_bits_of_any_layer() {
    let dir = crate::common::temp_dir("threads-layers");
    let probe = |threads: usize| probe(&dir, &format!("t{threads}"), &[("MINIBATCH_THREADS", &threads.to_string())]);
    let one = probe(1);
    assert_eq!(one.len(), 11, "every model trained");
    for threads in [2, 3] {
        for (a, b) in one.iter().zip(probe(threads)) {
            let name = a.split(' ').next().unwrap();
            assert!(*a == b, "{name}: weights or losses differ with {threads} threads");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The emulated bf16 instructions train a `mixed_bfloat16` model to the same bits as the
/// hardware's: `MINIBATCH_KERNELS=emulated` against AVX512-BF16, `emulated-amx` against AMX,
/// on a processor that has them (elsewhere the emulated runs are compared with each other
/// at 1 and 2 threads).
#[test]
fn emulated_bf16_instructions_train_to_the_hardware_bits() {
    use minibatch::tensor::isa::Isa;
    let dir = crate::common::temp_dir("emulated-bf16");
    let run = |kernels: &str, threads: &str| {
        let lines = probe(
            &dir,
            &format!("{kernels}-{threads}"),
            &[("MINIBATCH_KERNELS", kernels), ("MINIBATCH_THREADS", threads), ("MINIBATCH_PROBE_MIXED_ONLY", "1")],
        );
        assert_eq!(lines.len(), 2, "{kernels}: both mixed models trained");
        lines
    };
    let emulated = run("emulated", "1");
    assert!(emulated == run("emulated", "2"), "the emulated kernels depend on the thread count");
    if Isa::Avx512Bf16.supported() {
        assert!(emulated == run("avx512-bf16", "2"), "emulated VDPBF16PS differs from the hardware's");
    } else {
        eprintln!("no AVX512-BF16 here: the emulated kernels ran without a hardware comparison");
    }
    let emulated_amx = run("emulated-amx", "2");
    if Isa::Amx.supported() {
        // The SDM orders the tile's additions; their rounding is documented only as RNE: the
        // hardware's History must agree to the precision of bf16 training, not bit for bit.
        let hardware = run("amx", "2");
        let loss = |line: &str| line.split(['[', ',', ']']).nth(1).map(|v| f64::from_bits(v.trim().parse().unwrap()));
        for (e, h) in emulated_amx.iter().zip(&hardware) {
            let (e, h) = (loss(e).unwrap(), loss(h).unwrap());
            assert!((e - h).abs() <= 1e-3 * e.abs(), "AMX's first loss {h} against the emulation's {e}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
