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
/// signal is spread over the kernel's weights), for a kernel large enough to be read a block
/// in every `STRIDE` per window.
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
fn the_noise_scale_read_from_a_sample_of_the_weights_matches_too() {
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
