//! The tutorial's questions answered with numbers (issue 32): the gradient noise scale, which
//! says above which batch size a larger batch stops buying fewer updates.

use minibatch::layers::Dense;
use minibatch::optimizers::SGD;
use minibatch::{FitOptions, Sequential, Tensor};

/// A regression whose per-sample gradients are known in closed form: `y = a·x₀ + σ·ε` with
/// `x, ε` standard normal (a fixed pseudo-random draw), fitted by a linear model without bias.
fn linear_problem(n: usize, d: usize) -> (Tensor, Tensor) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut normal = move || {
        // Box–Muller over a 64-bit LCG: deterministic, no dependency.
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (u, v) = (uniform(), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..d).map(|_| normal()).collect();
        y.push((row[0] + 2.0 * normal()) as f32);
        x.extend(row.iter().map(|&v| v as f32));
    }
    (Tensor::from_vec(&[n, d], x).unwrap(), Tensor::from_vec(&[n, 1], y).unwrap())
}

/// `tr(Σ)/|G|²` from the per-sample gradients of `mse` at weights `w`: `gᵢ = 2(w·xᵢ − yᵢ)xᵢ`.
fn true_noise_scale(x: &Tensor, y: &Tensor, w: &[f32]) -> f64 {
    let (n, d) = (x.batch(), x.row_len());
    let grads: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let row = x.row(i);
            let r: f64 = row.iter().zip(w).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() - y.data()[i] as f64;
            row.iter().map(|&v| 2.0 * r * v as f64).collect()
        })
        .collect();
    let mean: Vec<f64> = (0..d).map(|j| grads.iter().map(|g| g[j]).sum::<f64>() / n as f64).collect();
    let signal: f64 = mean.iter().map(|m| m * m).sum();
    let trace: f64 =
        grads.iter().map(|g| g.iter().zip(&mean).map(|(a, m)| (a - m) * (a - m)).sum::<f64>()).sum::<f64>() / n as f64;
    trace / signal
}

fn frozen_linear(seed: u64) -> Sequential {
    // A learning rate of 0: the weights, and so the true noise scale, stay where they are.
    let mut m = Sequential::new().seed(seed).input_shape(&[8]).add(Dense::new(1).use_bias(false));
    m.compile(SGD::new(0.0), "mse", &[]).unwrap();
    m
}

#[test]
fn the_noise_scale_matches_a_known_gradient_covariance() {
    let (x, y) = linear_problem(16_384, 8);
    for batch in [8, 32] {
        let mut model = frozen_linear(3);
        let w = model.get_weights()[0].data().to_vec();
        let truth = true_noise_scale(&x, &y, &w);
        let options = FitOptions::new().batch_size(batch).epochs(4).verbose(0).measure_noise_scale(true);
        let h = model.fit(&x, &y, options).unwrap();
        let per_epoch = h.get("noise_scale").expect("measured every epoch");
        assert_eq!(per_epoch.len(), 4);
        let mean = per_epoch.iter().sum::<f64>() / 4.0;
        assert!(
            (mean / truth - 1.0).abs() < 0.15,
            "batch {batch}: measured B_noise {mean:.1} (epochs {per_epoch:?}) against the true {truth:.1}"
        );
    }
}

/// A linear map `y = A·x + ε/2` into 8 outputs from 512 inputs (`A` dense, so the gradient's
/// signal is spread over the kernel's weights).
fn wide_problem(n: usize) -> (Tensor, Tensor) {
    let (d, u) = (512, 8);
    let (x, _) = linear_problem(n, d);
    let (noise, _) = linear_problem(n, u);
    let a: Vec<f32> = (0..d * u).map(|i| (((i * 7919) % 101) as f32 / 101.0 - 0.5) * 4.0 / (d as f32).sqrt()).collect();
    let mut y = vec![0.0f32; n * u];
    for i in 0..n {
        for k in 0..u {
            let dot: f32 = x.row(i).iter().enumerate().map(|(j, v)| v * a[j * u + k]).sum();
            y[i * u + k] = dot + 0.5 * noise.row(i)[k];
        }
    }
    (x, Tensor::from_vec(&[n, u], y).unwrap())
}

/// `tr(Σ)/|G|²` for `mse` over `u` outputs at zero weights: `gᵢ[j,k] = −(2/u)·yᵢₖ·xᵢⱼ`.
fn true_wide_noise_scale(x: &Tensor, y: &Tensor) -> f64 {
    let (n, d, u) = (x.batch(), x.row_len(), y.row_len());
    let mut mean = vec![0.0f64; d * u];
    let mut squares = 0.0f64;
    for i in 0..n {
        for j in 0..d {
            for k in 0..u {
                let g = -2.0 / u as f64 * y.row(i)[k] as f64 * x.row(i)[j] as f64;
                mean[j * u + k] += g / n as f64;
                squares += g * g / n as f64;
            }
        }
    }
    let signal: f64 = mean.iter().map(|m| m * m).sum();
    (squares - signal) / signal
}

#[test]
fn the_noise_scale_matches_for_a_wide_layer_of_several_outputs() {
    let (x, y) = wide_problem(8192);
    let truth = true_wide_noise_scale(&x, &y);
    let mut model =
        Sequential::new().seed(2).input_shape(&[512]).add(Dense::new(8).use_bias(false).kernel_initializer("zeros"));
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let options = FitOptions::new().batch_size(16).epochs(4).verbose(0).measure_noise_scale(true);
    let h = model.fit(&x, &y, options).unwrap();
    let per_epoch =
        h.get("noise_scale").unwrap_or_else(|| panic!("no estimate; the true B_noise is {truth:.1}")).to_vec();
    let mean = per_epoch.iter().sum::<f64>() / per_epoch.len() as f64;
    assert!((mean / truth - 1.0).abs() < 0.2, "measured {mean:.1} (epochs {per_epoch:?}) against the true {truth:.1}");
}

#[test]
fn measuring_the_noise_scale_leaves_training_bit_identical() {
    let (x, y) = linear_problem(2_000, 8);
    let run = |measure: bool| {
        let mut m =
            Sequential::new().seed(5).input_shape(&[8]).add(Dense::new(4).activation("tanh")).add(Dense::new(1));
        m.compile(SGD::new(0.05), "mse", &[]).unwrap();
        let h = m.fit(&x, &y, FitOptions::new().batch_size(50).epochs(3).verbose(0).measure_noise_scale(measure));
        (h.unwrap(), m.get_weights())
    };
    let (plain, w0) = run(false);
    let (measured, w1) = run(true);
    assert_eq!(plain.get("loss"), measured.get("loss"));
    assert_eq!(
        w0.iter().map(|t| t.data().to_vec()).collect::<Vec<_>>(),
        w1.iter().map(|t| t.data().to_vec()).collect::<Vec<_>>()
    );
    assert!(plain.get("noise_scale").is_none());
    let b = measured.get("noise_scale").unwrap();
    // Near the minimum the signal |G|² falls under the noise of an epoch's ten windows: an
    // epoch then records NaN ("not enough data to estimate"), never a negative size.
    assert!(b[0].is_finite() && b[0] > 0.0, "{b:?}");
    assert!(b.iter().all(|v| v.is_nan() || *v > 0.0), "{b:?}");
}

#[test]
fn a_noise_scale_needs_two_updates_an_epoch() {
    let (x, y) = linear_problem(64, 8);
    let mut model = Sequential::new().seed(1).input_shape(&[8]).add(Dense::new(1));
    model.compile(SGD::new(0.1), "mse", &[]).unwrap();
    let before = model.get_weights()[0].data().to_vec();
    let err = model.fit(&x, &y, FitOptions::new().batch_size(64).verbose(0).measure_noise_scale(true)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("steps_per_epoch") && text.contains('1') && text.contains("noise scale"), "{text}");
    assert_eq!(model.get_weights()[0].data(), before.as_slice(), "nothing trained");
}

#[test]
fn without_a_per_sample_dense_layer_or_with_batches_of_one_there_is_no_estimate() {
    use minibatch::layers::{Conv1D, Flatten};
    let (x, y) = linear_problem(256, 8);
    // Batches of one sample: B − 1 = 0, no estimate (not a NaN printed as an answer).
    let mut model = frozen_linear(1);
    let h = model.fit(&x, &y, FitOptions::new().batch_size(1).epochs(1).verbose(0).measure_noise_scale(true));
    assert!(h.unwrap().get("noise_scale").is_none());
    // A Dense layer over timesteps shares its weights across them: not per sample, skipped.
    let x3 = x.clone().reshape(&[256, 4, 2]).unwrap();
    let mut model =
        Sequential::new().seed(1).input_shape(&[4, 2]).add(Conv1D::new(2, 1)).add(Dense::new(1)).add(Flatten::new());
    let y3 = Tensor::from_vec(&[256, 4], (0..1024).map(|i| (i % 3) as f32).collect()).unwrap();
    model.compile(SGD::new(0.01), "mse", &[]).unwrap();
    let h = model.fit(&x3, &y3, FitOptions::new().batch_size(16).epochs(1).verbose(0).measure_noise_scale(true));
    assert!(h.unwrap().get("noise_scale").is_none());
}

/// `(pass, m, k, n, ta, tb, count, stepwise)` of each product.
type Call = (Pass, usize, usize, usize, bool, bool, usize, bool);

/// Each product of a step at `batch` as the layers call them.
fn calls(model: &minibatch::Model, batch: usize) -> Vec<Call> {
    let products = model.products(batch).unwrap();
    products.iter().map(|p| (p.pass, p.m, p.k, p.n, p.ta, p.tb, p.count, p.stepwise)).collect()
}

/// A kernel's products over `rows` rows, `k` in and `n` out: forward, weight gradient and
/// (with `dx`) input gradient.
fn kernel(rows: usize, k: usize, n: usize, dx: bool) -> Vec<Call> {
    let mut c =
        vec![(Forward, rows, k, n, false, false, 1, false), (WeightGradient, k, rows, n, true, false, 1, false)];
    if dx {
        c.push((InputGradient, rows, n, k, false, true, 1, false));
    }
    c
}

use minibatch::layers::Pass::{self, Forward, InputGradient, WeightGradient};

#[test]
fn the_products_of_a_step_are_counted_from_the_shapes_as_each_layer_runs_them() {
    use minibatch::models::zoo::{mnist_convnet, mnist_lstm, mnist_mlp};
    let mlp: minibatch::Model = mnist_mlp(0).unwrap().into();
    let expected = [kernel(128, 784, 512, false), kernel(128, 512, 512, true), kernel(128, 512, 10, true)].concat();
    assert_eq!(calls(&mlp, 128), expected);
    // Conv2D(32, 3) on 28×28×1: 26×26 output pixels per image, a 3·3·1-deep kernel; then
    // Conv2D(64, 3) on the pooled 13×13×32: 11×11 pixels, 3·3·32 deep; Dense on 5·5·64.
    let convnet: minibatch::Model = mnist_convnet(0).unwrap().into();
    let expected =
        [kernel(128 * 26 * 26, 9, 32, false), kernel(128 * 11 * 11, 288, 64, true), kernel(128, 1600, 10, true)]
            .concat();
    assert_eq!(calls(&convnet, 128), expected);
    // LSTM(128) over 28 rows of 28: the input side over all 28·32 rows at once (no input
    // gradient: it reads the model's input), the 28 steps' products stepwise (the recurrent
    // state's gradient runs even on the first layer), the recurrent kernel's gradient over
    // all steps at once; then the Dense head.
    let lstm: minibatch::Model = mnist_lstm(0).unwrap().into();
    let steps = [(Forward, 32, 128, 512, false, false, 28, true), (InputGradient, 32, 512, 128, false, true, 28, true)];
    let recurrent_dw = (WeightGradient, 128, 28 * 32, 512, true, false, 1, false);
    let expected =
        [kernel(28 * 32, 28, 512, false), steps.to_vec(), vec![recurrent_dw], kernel(32, 128, 10, true)].concat();
    assert_eq!(calls(&lstm, 32), expected);
    let flops: f64 = mlp.products(1).unwrap().iter().map(|p| p.flops()).sum();
    assert_eq!(flops, 2.0 * (2.0 * 784.0 * 512.0 + 3.0 * 512.0 * 512.0 + 3.0 * 512.0 * 10.0));
    // GRU runs each step's products shared out over the threads (not stepwise), its recurrent
    // kernel's gradient per step; Bidirectional lists both directions'.
    use minibatch::layers::{Bidirectional, Dense, GRU, LSTM};
    let mut gru = minibatch::Sequential::new().input_shape(&[5, 3]).add(GRU::new(4)).add(Dense::new(1));
    gru.compile("sgd", "mse", &[]).unwrap();
    let gru: minibatch::Model = gru.into();
    let c = calls(&gru, 2);
    assert_eq!(
        c[2..5],
        [
            (Forward, 2, 4, 12, false, false, 5, false),
            (InputGradient, 2, 12, 4, false, true, 5, false),
            (WeightGradient, 4, 2, 12, true, false, 5, false)
        ]
    );
    let mut bi =
        minibatch::Sequential::new().input_shape(&[5, 3]).add(Bidirectional::new(LSTM::new(4))).add(Dense::new(1));
    bi.compile("sgd", "mse", &[]).unwrap();
    let bi: minibatch::Model = bi.into();
    assert_eq!(calls(&bi, 2).len(), 2 * 5 + 3);
    // The LSTM times its own gates and a convolution its patches; a Dense layer leaves its
    // values to the plan's rate.
    let layers = lstm.layers();
    assert!(layers[0].time_elementwise(32, false).is_some_and(|s| s > 0.0 && s.is_finite()));
    assert!(layers[1].time_elementwise(32, true).is_none());
    assert!(convnet.layers()[0].time_elementwise(4, false).is_some_and(|s| s > 0.0));
    assert!(
        bi.layers()[0].time_elementwise(2, false).is_some() && gru.layers()[0].time_elementwise(2, false).is_none()
    );
    let (seconds, bytes) = lstm.time_elementwise(32).unwrap();
    assert!(seconds > 0.0 && bytes == layers[0].planned_workspace_bytes(32), "{seconds} {bytes}");
    assert!(lstm.time_elementwise(0).unwrap_err().to_string().contains("batch_size"));
}

#[test]
fn a_time_plan_scales_with_the_updates_and_refuses_what_it_cannot_plan() {
    use minibatch::lab::{plan_time, AllReduceCost, Rates};
    use minibatch::models::zoo::mnist_mlp;
    let model: minibatch::Model = mnist_mlp(0).unwrap().into();
    let mut rates = Rates::measure();
    let p = plan_time(&model, 100, 1000, 1, &mut rates).unwrap();
    assert_eq!(p.steps_per_epoch, 10);
    assert!(p.product_seconds > 0.0 && p.memory_seconds > 0.0 && p.all_reduce_seconds == 0.0);
    assert!((p.seconds_per_epoch - 10.0 * p.seconds_per_step).abs() < 1e-12);
    assert_eq!(p.flops_per_step, model.products(100).unwrap().iter().map(|p| p.flops()).sum::<f64>());
    // Over 2 processes each computes half the batch, and the gradients cross once.
    let two = plan_time(&model, 100, 1000, 2, &mut rates).unwrap();
    assert_eq!(two.flops_per_step, model.products(50).unwrap().iter().map(|p| p.flops()).sum::<f64>());
    let bytes = 4 * model.count_params();
    assert_eq!(two.all_reduce_seconds, AllReduceCost::one_machine().seconds(bytes, 2));
    assert_eq!(AllReduceCost::one_machine().seconds(bytes, 1), 0.0);
    // Ring: 2(K−1) messages, 2(K−1)/K of the bytes.
    let c = AllReduceCost { latency: 1e-6, seconds_per_byte: 1e-9 };
    assert!((c.seconds(1000, 4) - (6.0 * 1e-6 + 1.5 * 1000.0 * 1e-9)).abs() < 1e-15);
    for (batch, samples, ranks, name) in
        [(0, 10, 1, "batch_size"), (10, 0, 1, "samples"), (10, 10, 0, "ranks"), (2, 10, 3, "ranks")]
    {
        let e = plan_time(&model, batch, samples, ranks, &mut rates).unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn the_lab_predicts_its_time_and_answers_which_batch_size() {
    let (ok, out, err) = crate::common::minibatch(&["lab", "--batch-sizes", "8,32", "--epochs", "3", "--plan"]);
    assert!(ok, "{err}");
    assert!(out.contains("Predicted time per epoch") && out.contains("s/epoch"), "{out}");
    assert!(!out.contains("wrong answers"), "--plan stops before training: {out}");
    let (ok, out, err) =
        crate::common::minibatch(&["lab", "--batch-sizes", "8,32", "--plan", "--plan-ranks", "1,2,16"]);
    assert!(ok, "{err}");
    assert!(out.contains("2 ranks") && out.contains("16 ranks") && out.contains("batch < K"), "{out}");
    let (ok, _, err) = crate::common::minibatch(&["lab", "--plan-ranks", "2"]);
    assert!(!ok && err.contains("--plan-ranks") && err.contains("--plan"), "{err}");
    let (ok, out, err) = crate::common::minibatch(&["lab", "--batch-sizes", "8,32", "--epochs", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("predicted") && out.contains("B_noise"), "{out}");
    assert!(out.contains("Gradient noise scale B_noise ≈") && out.contains("Recommended batch size: "), "{out}");
    assert!(!out.to_lowercase().contains("nan"), "never a NaN printed as an answer: {out}");
    let (ok, out, err) =
        crate::common::minibatch(&["train", "--data", "exam", "--epochs", "2", "--batch-size", "100", "--noise-scale"]);
    assert!(!ok && out.is_empty(), "one update an epoch is refused before any output: {out}");
    assert!(err.contains("steps_per_epoch") && err.contains("noise scale"), "{err}");
}

#[test]
fn the_steps_examples_tradeoff_is_fitted_and_read_off_lab_runs() {
    use minibatch::lab::{self, fit_tradeoff, steps_to_loss};
    // Steps that do not fall with the batch size, or one batch size: nothing to fit.
    assert_eq!(fit_tradeoff(&[(16, 100.0), (64, 100.0), (256, 100.0)]), None);
    assert_eq!(fit_tradeoff(&[(16, 100.0), (16, 90.0)]), None);
    assert_eq!(fit_tradeoff(&[]), None);
    // Noisy points around S = 50·(1 + 300/B) still give B_crit within 10%.
    let noisy: Vec<(usize, f64)> = [(8, 1.04), (32, 0.97), (128, 1.03), (512, 0.98), (2048, 1.02)]
        .iter()
        .map(|&(b, e)| (b, e * 50.0 * (1.0 + 300.0 / b as f64)))
        .collect();
    let fit = fit_tradeoff(&noisy).unwrap();
    assert!((fit.b_crit / 300.0 - 1.0).abs() < 0.1, "{fit:?}");
    // E_min = S_min · B_crit: 50 · 300 samples, within the same 10%.
    assert!((fit.e_min / 15_000.0 - 1.0).abs() < 0.1 && (fit.s_min / 50.0 - 1.0).abs() < 0.1, "{fit:?}");
    // Steps to a held-out loss, from the lab's epochs: interpolated within the epoch that
    // crosses it.
    let exam = minibatch::datasets::load("exam", 0).unwrap();
    let build = || {
        let mut m =
            Sequential::new().seed(0).add(Dense::new(32).activation("relu")).add(Dense::new(4).activation("softmax"));
        m.compile(SGD::new(0.05), "sparse_categorical_crossentropy", &[])?;
        Ok(m)
    };
    let runs = lab::run(&exam.x_train, &exam.y_train, &exam.x_test, &exam.y_test, &[10], 6, build).unwrap();
    let r = &runs[0];
    let (first, third) = (r.epochs[0].val_loss, r.epochs[2].val_loss);
    assert!(third < first, "the held-out loss falls: {first} then {third}");
    assert_eq!(steps_to_loss(r, first + 1.0), Some(r.updates_per_epoch as f64));
    // A target met exactly at an epoch's end takes that epoch's updates.
    let k = r.epochs.iter().position(|e| e.val_loss <= third).unwrap();
    assert_eq!(steps_to_loss(r, third), Some(((k + 1) * r.updates_per_epoch) as f64));
    assert_eq!(steps_to_loss(r, -1.0), None);
    assert!(r.predicted_seconds_per_epoch.is_some_and(|s| s > 0.0));
    // Three seeds of the same runs: a band per batch size (mean, and the two edges).
    let seeds: Vec<_> = (0..3).map(|_| runs.clone()).collect();
    let figure = lab::seeds_figure(&seeds);
    assert_eq!(figure.charts[0].series.len(), 3);
    assert_eq!(figure.charts[0].series[0].points.len(), 6);
}
