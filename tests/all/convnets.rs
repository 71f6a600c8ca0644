//! Convolutions, pooling and batch normalization: values against direct computations, Keras's
//! MNIST convnet's summary, BatchNormalization's training and inference behaviour, saving.

use crate::common::{random, temp_dir};
use minibatch::layers::{
    BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Layer, MaxPooling2D, Padding, Window,
};
use minibatch::rng::Rng;
use minibatch::{FitOptions, Sequential, Tensor};

/// The Keras "Simple MNIST convnet", as the benchmark builds it (Adam).
fn keras_convnet() -> Sequential {
    minibatch::bench::mnist_convnet(0).unwrap()
}

#[test]
fn the_keras_convnet_has_34826_parameters_and_keras_shapes() {
    let m = keras_convnet();
    assert_eq!(m.count_params(), 34_826);
    let s = m.summary().unwrap();
    // Rows as cells: the columns are as wide as the longest name (max_pooling2d_1 ...).
    let rows: Vec<Vec<String>> = s
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| l.split('│').map(|c| c.trim().to_string()).collect())
        .collect();
    for expected in [
        ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320"],
        ["max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"],
        ["conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"],
        ["max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"],
        ["flatten (Flatten)", "(None, 1600)", "0"],
        ["dense (Dense)", "(None, 10)", "16,010"],
    ] {
        assert!(rows.iter().any(|r| r[1..4] == expected), "{expected:?} in\n{s}");
    }
    for line in ["Total params: 34,826 (136.04 KB)", "Non-trainable params: 0"] {
        assert!(s.contains(line), "{line:?} in\n{s}");
    }
}

#[test]
fn a_hand_computed_convolution() {
    // 3×3 input 1..9, a 2×2 kernel of ones: each output is the sum of its window.
    let mut conv = Conv2D::new(1, 2).kernel_initializer("ones");
    conv.build(&[3, 3, 1], &mut Rng::new(0)).unwrap();
    conv.plan(1);
    let x = Tensor::from_vec(&[1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
    let mut y = Tensor::zeros(&[1, 2, 2, 1]);
    conv.forward(&x, &mut y, false);
    assert_eq!(y.data(), &[12.0, 16.0, 24.0, 28.0]);
    // "same" with stride 2 over 3×3: output 2×2, one zero row/column after (TensorFlow's split).
    let mut same = Conv2D::new(1, 2).strides(2).padding("same").kernel_initializer("ones");
    assert_eq!(same.build(&[3, 3, 1], &mut Rng::new(0)).unwrap(), [2, 2, 1]);
    same.plan(1);
    same.forward(&x, &mut y, false);
    assert_eq!(y.data(), &[12.0, 9.0, 15.0, 9.0]);
}

/// Forward then backward with an upstream gradient of ones; returns (y, dx).
fn pool_once(mut layer: impl Layer, x: &Tensor, out: &[usize]) -> (Vec<f32>, Vec<f32>) {
    layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
    layer.plan(x.batch());
    let mut y = Tensor::zeros(out);
    layer.forward(x, &mut y, true);
    let mut dy = Tensor::from_vec(out, vec![1.0; y.len()]).unwrap();
    let mut dx = Tensor::zeros(x.shape());
    layer.backward(x, &y, &mut dy, Some(&mut dx));
    (y.data().to_vec(), dx.data().to_vec())
}

#[test]
fn average_pooling_with_same_padding_divides_by_the_real_values() {
    // 3×3 input 1..9, 2×2 windows, stride 2, "same": TensorFlow pads one row and column after,
    // and each window averages only the values it covers (Keras on TensorFlow).
    use minibatch::layers::{AveragePooling1D, AveragePooling2D};
    let x = Tensor::from_vec(&[1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
    let (y, dx) = pool_once(AveragePooling2D::new(2).padding("same"), &x, &[1, 2, 2, 1]);
    assert_eq!(y, [(1. + 2. + 4. + 5.) / 4., (3. + 6.) / 2., (7. + 8.) / 2., 9.]);
    assert_eq!(dx, [0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1.0]);
    // 1-D: 5 steps, windows of 2, stride 2: [1 2] [3 4] [5]
    let x = Tensor::from_vec(&[1, 5, 1], vec![1., 2., 3., 4., 5.]).unwrap();
    let (y, dx) = pool_once(AveragePooling1D::new(2).padding("same"), &x, &[1, 3, 1]);
    assert_eq!(y, [1.5, 3.5, 5.0]);
    assert_eq!(dx, [0.5, 0.5, 0.5, 0.5, 1.0]);
}

#[test]
fn max_pooling_gives_a_tie_s_gradient_to_the_first_maximum() {
    // TensorFlow's MaxPoolGrad: among equal maxima, the first in the window (row-major) takes
    // the whole gradient.
    use minibatch::layers::{GlobalMaxPooling1D, MaxPooling1D};
    let x = Tensor::from_vec(&[1, 2, 2, 1], vec![5., 5., 5., 5.]).unwrap();
    let (y, dx) = pool_once(MaxPooling2D::new(2), &x, &[1, 1, 1, 1]);
    assert_eq!((y, dx), (vec![5.0], vec![1., 0., 0., 0.]));
    let x = Tensor::from_vec(&[1, 2, 2, 1], vec![1., 3., 3., 2.]).unwrap();
    let (_, dx) = pool_once(MaxPooling2D::new(2), &x, &[1, 1, 1, 1]);
    assert_eq!(dx, [0., 1., 0., 0.]);
    // overlapping windows (stride 1): each window's first maximum
    let x = Tensor::from_vec(&[1, 4, 1], vec![2., 7., 7., 1.]).unwrap();
    let (y, dx) = pool_once(MaxPooling1D::new(2).strides(1), &x, &[1, 3, 1]);
    assert_eq!((y, dx), (vec![7., 7., 7.], vec![0., 2., 1., 0.]));
    let x = Tensor::from_vec(&[1, 4, 1], vec![-1., 4., 0., 4.]).unwrap();
    let (_, dx) = pool_once(GlobalMaxPooling1D::new(), &x, &[1, 1]);
    assert_eq!(dx, [0., 1., 0., 0.]);
}

/// A direct convolution, TensorFlow's definition, for comparison.
fn direct(x: &Tensor, kernel: &Tensor, bias: &[f32], g: &Window) -> Vec<f32> {
    let n = x.batch();
    let f = bias.len();
    let mut out = vec![0.0f32; n * g.oh * g.ow * f];
    for s in 0..n {
        for i in 0..g.oh {
            for j in 0..g.ow {
                for o in 0..f {
                    let mut acc = bias[o] as f64;
                    for ki in 0..g.kh {
                        for kj in 0..g.kw {
                            let (yy, xx) = (
                                (i * g.sh + ki * g.dh) as isize - g.pad_top as isize,
                                (j * g.sw + kj * g.dw) as isize - g.pad_left as isize,
                            );
                            if yy < 0 || xx < 0 || yy >= g.h as isize || xx >= g.w as isize {
                                continue;
                            }
                            for c in 0..g.c {
                                let xv = x.data()[((s * g.h + yy as usize) * g.w + xx as usize) * g.c + c];
                                let kv = kernel.data()[((ki * g.kw + kj) * g.c + c) * f + o];
                                acc += xv as f64 * kv as f64;
                            }
                        }
                    }
                    out[((s * g.oh + i) * g.ow + j) * f + o] = acc as f32;
                }
            }
        }
    }
    out
}

#[test]
fn convolutions_equal_the_direct_definition() {
    // (height, width, channels, kernel, stride, dilation, padding)
    type Case = (usize, usize, usize, (usize, usize), usize, usize, &'static str);
    let cases: [Case; 5] = [
        (9, 7, 3, (3, 3), 1, 1, "valid"),
        (8, 8, 2, (3, 2), 2, 1, "same"),
        (7, 9, 4, (2, 2), 1, 2, "same"),
        (6, 6, 5, (1, 1), 1, 1, "valid"),
        (11, 10, 1, (5, 5), 3, 1, "valid"),
    ];
    for (h, w, c, k, s, d, padding) in cases {
        let mut conv = Conv2D::new(4, k).strides(s).dilation_rate(d).padding(padding).bias_initializer("random_normal");
        let out = conv.build(&[h, w, c], &mut Rng::new(3)).unwrap();
        conv.plan(3);
        let pad = if padding == "same" { Padding::Same } else { Padding::Valid };
        let g = Window::new("t", [h, w, c], k, (s, s), (d, d), pad).unwrap();
        let x = random(&[3, h, w, c], 4);
        let mut y = Tensor::zeros(&[3, out[0], out[1], out[2]]);
        conv.forward(&x, &mut y, false);
        let expected = direct(&x, &conv.params()[0].value, conv.params()[1].value.data(), &g);
        for (a, b) in y.data().iter().zip(&expected) {
            assert!((a - b).abs() < 1e-4, "{h}x{w}x{c} k{k:?} s{s} d{d} {padding}: {a} vs {b}");
        }
    }
}

#[test]
fn batch_normalization_uses_batch_statistics_in_training_and_moving_ones_in_inference() {
    let mut bn = BatchNormalization::new().momentum(0.5);
    bn.build(&[2], &mut Rng::new(0)).unwrap();
    bn.plan(4);
    // Channel 0: 1,2,3,4 (mean 2.5, variance 1.25); channel 1: all 10 (variance 0).
    let x = Tensor::from_vec(&[4, 2], vec![1., 10., 2., 10., 3., 10., 4., 10.]).unwrap();
    let mut y = Tensor::zeros(&[4, 2]);
    bn.forward(&x, &mut y, true);
    let inv = 1.0 / (1.25f32 + 1e-3).sqrt();
    for (i, v) in [1.0f32, 2.0, 3.0, 4.0].iter().enumerate() {
        assert!((y.data()[2 * i] - (v - 2.5) * inv).abs() < 1e-5);
        assert!(y.data()[2 * i + 1].abs() < 1e-6, "a constant channel normalizes to 0");
    }
    // moving = 0.5 · old + 0.5 · batch: old mean 0, old variance 1.
    assert_eq!(bn.moving_mean(), &[1.25, 5.0]);
    assert_eq!(bn.moving_variance(), &[1.125, 0.5]);
    // Inference: the moving statistics, and they do not move.
    bn.forward(&x, &mut y, false);
    assert!((y.data()[0] - (1.0 - 1.25) / (1.125f32 + 1e-3).sqrt()).abs() < 1e-6);
    assert!((y.data()[1] - (10.0 - 5.0) / (0.5f32 + 1e-3).sqrt()).abs() < 1e-5);
    assert_eq!(bn.moving_mean(), &[1.25, 5.0]);
}

#[test]
fn batch_normalization_statistics_are_saved_as_non_trainable_weights() {
    let mut m = Sequential::new()
        .seed(1)
        .input_shape(&[6, 6, 2])
        .add(Conv2D::new(4, 3).padding("same"))
        .add(BatchNormalization::new())
        .add(GlobalAveragePooling2D::new())
        .add(Dense::new(3).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let summary = m.summary().unwrap();
    assert!(summary.contains("│            16 │"), "gamma, beta, moving mean and variance: 4 × 4\n{summary}");
    assert!(summary.contains("Non-trainable params: 8 (32.00 B)"), "{summary}");
    let x = random(&[20, 6, 6, 2], 5);
    let y = Tensor::from_vec(&[20], (0..20).map(|i| (i % 3) as f32).collect()).unwrap();
    m.fit(&x, &y, FitOptions::new().epochs(2).batch_size(8).verbose(0)).unwrap();
    let dir = temp_dir("bn-save");
    m.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Sequential::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(loaded.predict(&x, 8).unwrap(), m.predict(&x, 8).unwrap(), "moving statistics came back");
    let names = minibatch::saving::load_tensors(dir.join("m.safetensors")).unwrap();
    assert!(names.iter().any(|(n, t)| n == "batch_normalization/moving_variance" && t.shape() == [4]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_convolution_arguments_and_inputs_are_named_errors() {
    use minibatch::layers::{AveragePooling1D, Conv1D, Reshape};
    use minibatch::Error;
    let build = |layer: Box<dyn Layer>, shape: &[usize]| {
        let mut m = Sequential::new();
        m.push(layer);
        m.build(shape).unwrap_err().to_string()
    };
    let e = build(Box::new(Conv2D::new(4, 3)), &[28, 28]);
    assert!(e.contains("conv2d") && e.contains("(height, width, channels)") && e.contains("[28, 28]"), "{e}");
    let e = build(Box::new(Conv2D::new(4, 5)), &[3, 3, 1]);
    assert!(e.contains("window") && e.contains("valid"), "{e}");
    let e = build(Box::new(Conv2D::new(0, 3)), &[8, 8, 1]);
    assert!(e.contains("filters"), "{e}");
    let e = build(Box::new(Conv2D::new(2, 3).strides(2).dilation_rate(2)), &[9, 9, 1]);
    assert!(e.contains("dilat"), "{e}");
    let e = build(Box::new(Conv2D::new(2, 3).padding("full")), &[9, 9, 1]);
    assert!(e.contains("unknown padding \"full\""), "{e}");
    let e = build(Box::new(Conv1D::new(2, 3).strides((1, 2))), &[9, 1]);
    assert!(e.contains("1-D"), "{e}");
    let e = build(Box::new(MaxPooling2D::new(0)), &[4, 4, 1]);
    assert!(e.contains("positive"), "{e}");
    let e = build(Box::new(AveragePooling1D::new(2)), &[4, 4, 1]);
    assert!(e.contains("(steps, channels)"), "{e}");
    let e = build(Box::new(Reshape::new(&[3, 3])), &[10]);
    assert!(e.contains("9 values per sample"), "{e}");
    // Data of the wrong shape for a built convnet: a shape error from fit, not a panic.
    let mut m = keras_convnet();
    let err = m.fit(&random(&[4, 28, 28], 1), &Tensor::from_slice(&[0., 1., 2., 3.]), FitOptions::new().verbose(0));
    assert!(matches!(err, Err(Error::Shape { .. })), "{err:?}");
}

#[test]
fn batch_normalization_moving_statistics_use_keras_s_one_minus_momentum() {
    // moving_mean = moving_mean · 0.99 + mean · float32(1 − 0.99) = mean · 0.01f32 from zeros.
    let mut bn = BatchNormalization::new();
    bn.build(&[1], &mut Rng::new(0)).unwrap();
    bn.plan(2);
    let x = Tensor::from_vec(&[2, 1], vec![1.0, 2.0]).unwrap();
    let mut y = Tensor::zeros(&[2, 1]);
    bn.forward(&x, &mut y, true);
    assert_eq!(bn.moving_mean()[0].to_bits(), (1.5f32 * 0.01f32).to_bits());
    assert_ne!(bn.moving_mean()[0], 1.5f32 * (1.0 - 0.99f32));
}
