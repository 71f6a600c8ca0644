//! Keras's `mixed_bfloat16` dtype policy: where the bf16 roundings happen, what stays f32,
//! how it is saved, and that it learns as f32 does.

use crate::common::{random, shared_data, temp_dir};
use minibatch::layers::{Conv2D, DTypePolicy, Dense, Flatten, MaxPooling2D, Reshape, WithDType};
use minibatch::tensor::{bf16, kernels};
use minibatch::{io, FitOptions, Model, Sequential, Tensor};

/// A hidden Dense layer computes `round_bf16(bf16(x) · bf16(W) + b)` (products through
/// `matmul_bf16`, the output a bf16 tensor); the last layer's product is bf16 too, but its
/// output, the model's, stays f32.
#[test]
fn hidden_layers_round_to_bf16_and_the_output_stays_f32() {
    let mut model = Sequential::new().seed(3).add(Dense::new(24).activation("tanh")).add(Dense::new(5));
    model.dtype_policy(DTypePolicy::MixedBfloat16);
    model.build(&[13]).unwrap();
    let x = random(&[7, 13], 4);
    let got = model.predict(&x, 7).unwrap();
    let w = model.get_weights();
    let mut h = vec![0.0; 7 * 24];
    kernels::matmul_bf16(&mut h, x.data(), w[0].data(), 7, 13, 24, false, false, 0.0);
    for (i, v) in h.iter_mut().enumerate() {
        *v = bf16::round((*v + w[1].data()[i % 24]).tanh());
    }
    let mut want = vec![0.0; 7 * 5];
    kernels::matmul_bf16(&mut want, &h, w[2].data(), 7, 24, 5, false, false, 0.0);
    for (i, v) in want.iter_mut().enumerate() {
        *v += w[3].data()[i % 5];
    }
    // tanh: minibatch's vectorized tanh may differ from libm's in the last bit, which the
    // rounding to bf16 almost always absorbs.
    let close = got.data().iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-6 * w.abs().max(1.0));
    assert!(close, "{:?} against {want:?}", got.data());
    assert!(got.data().iter().any(|&v| bf16::round(v) != v), "the model's outputs are f32, not rounded");
    // The same model under float32 computes other numbers.
    model.dtype_policy(DTypePolicy::Float32);
    let f32_out = model.predict(&x, 7).unwrap();
    assert!(f32_out.data() != got.data());
}

/// A layer's own policy wins over its model's (Keras's `dtype=` on a layer).
#[test]
fn a_layer_keeps_its_own_policy() {
    let mut model = Sequential::new()
        .add(Dense::new(8).activation("relu"))
        .add(Dense::new(8).activation("relu").dtype(DTypePolicy::Float32))
        .add(Dense::new(2));
    model.dtype_policy(DTypePolicy::MixedBfloat16);
    model.build(&[4]).unwrap();
    let policies: Vec<DTypePolicy> = model.layers().iter().map(|l| l.core().policy()).collect();
    assert_eq!(policies, [DTypePolicy::MixedBfloat16, DTypePolicy::Float32, DTypePolicy::MixedBfloat16]);
}

/// Saved and loaded, every layer keeps its policy (written as Keras's `dtype`), and the
/// loaded model predicts the same bits.
#[test]
fn the_policy_is_saved_with_the_model() {
    let dir = temp_dir("mixed-save");
    let mut model = Sequential::new()
        .seed(1)
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(3).activation("softmax").dtype(DTypePolicy::Float32));
    model.dtype_policy(DTypePolicy::MixedBfloat16);
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let (x, y) = (random(&[40, 6], 2), Tensor::from_vec(&[40], (0..40).map(|i| (i % 3) as f32).collect()).unwrap());
    model.fit(&x, &y, FitOptions::new().batch_size(8).epochs(2).verbose(0)).unwrap();
    let path = dir.join("m.mbm");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    let policies: Vec<&str> = loaded.layers().iter().map(|l| l.core().policy().name()).collect();
    assert_eq!(policies, ["mixed_bfloat16", "float32"]);
    let mut loaded = loaded;
    assert!(loaded.predict(&x, 40).unwrap().data() == model.predict(&x, 40).unwrap().data());
    // The config says it as Keras does.
    let config = loaded.to_config().unwrap();
    assert_eq!(config["config"]["layers"][0]["config"]["dtype"]["config"]["name"], "mixed_bfloat16");
    // A float32 model's config has no dtype keys (as before the policy existed).
    let mut plain = Sequential::new().add(Dense::new(2));
    plain.build(&[3]).unwrap();
    assert!(plain.to_config().unwrap()["config"]["layers"][0]["config"].get("dtype").is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The MNIST MLP and convnet trained under `mixed_bfloat16` reach f32's test accuracy within
/// 0.3 points, over three seeds (the mean of each). Shortened for the tests: the MLP two
/// epochs, the convnet one epoch on 30,000 images.
#[test]
fn mixed_bfloat16_learns_mnist_as_f32_does() {
    let Some(data) = shared_data() else { return };
    let mnist = io::load_mnist(data.join("mnist")).unwrap();
    let mlp = |seed: u64| -> Model {
        Sequential::new()
            .seed(seed)
            .add(Flatten::new())
            .add(Dense::new(512).activation("relu"))
            .add(Dense::new(512).activation("relu"))
            .add(Dense::new(10).activation("softmax"))
            .into()
    };
    let convnet = |seed: u64| -> Model {
        Sequential::new()
            .seed(seed)
            .add(Reshape::new(&[28, 28, 1]))
            .add(Conv2D::new(32, 3).activation("relu"))
            .add(MaxPooling2D::new(2))
            .add(Conv2D::new(64, 3).activation("relu"))
            .add(MaxPooling2D::new(2))
            .add(Flatten::new())
            .add(Dense::new(10).activation("softmax"))
            .into()
    };
    type Make<'a> = &'a dyn Fn(u64) -> Model;
    let cases: [(&str, Make, usize, usize); 2] = [("MLP", &mlp, 60_000, 2), ("convnet", &convnet, 30_000, 1)];
    for (name, make, n, epochs) in cases {
        let (x, y) = (mnist.x_train.slice_rows(0, n), mnist.y_train.slice_rows(0, n));
        let mean_accuracy = |policy: DTypePolicy| -> f64 {
            let total: f64 = (0..3)
                .map(|seed| {
                    let mut m = make(seed);
                    m.dtype_policy(policy);
                    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
                    m.fit(&x, &y, FitOptions::new().batch_size(128).epochs(epochs).verbose(0)).unwrap();
                    m.evaluate(&mnist.x_test, &mnist.y_test, 1000).unwrap().get("accuracy").unwrap()
                })
                .sum();
            total / 3.0
        };
        let (f32_acc, bf16_acc) = (mean_accuracy(DTypePolicy::Float32), mean_accuracy(DTypePolicy::MixedBfloat16));
        eprintln!("{name}: f32 {f32_acc:.4}, mixed_bfloat16 {bf16_acc:.4}");
        assert!(f32_acc > 0.95, "{name}: f32 {f32_acc}");
        assert!((f32_acc - bf16_acc).abs() <= 0.003, "{name}: f32 {f32_acc:.4}, mixed_bfloat16 {bf16_acc:.4}");
    }
}

/// The command's `--precision`: trains under the policy, saves it, and refuses a policy it
/// does not have, by name.
#[test]
fn the_command_trains_under_mixed_bfloat16() {
    let dir = temp_dir("mixed-cli");
    let model = dir.join("m.mbm");
    let args = ["train", "--data", "spirals", "--epochs", "2", "--precision", "mixed_bfloat16", "--save"];
    let (ok, out, err) = crate::common::minibatch(&[&args[..], &[model.to_str().unwrap()]].concat());
    assert!(ok, "{out}{err}");
    let loaded = Model::load(&model).unwrap();
    assert!(loaded.layers().iter().all(|l| l.core().policy() == DTypePolicy::MixedBfloat16));
    let (ok, _, err) = crate::common::minibatch(&["train", "--precision", "mixed_float16"]);
    assert!(!ok && err.contains("--precision") && err.contains("mixed_float16"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `MINIBATCH_KERNELS` is checked before any work: an unknown level, and one this processor
/// lacks, are refused by name; an emulated one runs anywhere.
#[test]
fn minibatch_kernels_is_checked_by_name() {
    let run = |value: &str| {
        let out = crate::deadline::output_within(
            std::process::Command::new(env!("CARGO_BIN_EXE_minibatch"))
                .args(["train", "--data", "spirals", "--epochs", "1", "--precision", "mixed_bfloat16"])
                .env("MINIBATCH_KERNELS", value),
            crate::deadline::DEADLINE,
        );
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, err) = run("avx1024");
    assert!(!ok && err.contains("MINIBATCH_KERNELS") && err.contains("avx1024") && err.contains("emulated"), "{err}");
    let (ok, err) = run("emulated");
    assert!(ok, "{err}");
    if !minibatch::tensor::isa::Isa::Amx.supported() {
        let (ok, err) = run("amx");
        assert!(!ok && err.contains("lacks amx"), "{err}");
    }
}
