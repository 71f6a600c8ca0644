//! Finite-difference gradient checks for every layer, activation and loss.
//!
//! For a layer: with upstream gradient `g`, the scalar `L = Σ y ⊙ g` has ∂L/∂x = backward(g);
//! each input and parameter value is nudged by ±ε and the central difference compared.

use crate::common::random;
use minibatch::activations::{self, Activation};
use minibatch::layers::{ActivationLayer, Dense, Dropout, Flatten, Layer};
use minibatch::losses::Loss;
use minibatch::rng::Rng;
use minibatch::Tensor;

const EPS: f32 = 1e-3;

fn close(analytic: f32, numeric: f64, what: &str) {
    let (a, n) = (analytic as f64, numeric);
    let rel = (a - n).abs() / (a.abs() + n.abs()).max(1e-2);
    assert!(rel < 2e-2, "{what}: analytic {a:.6} vs numeric {n:.6} (relative error {rel:.4})");
}

/// Forward in training mode; `rebuild` re-seeds layers with random state (dropout's mask).
fn forward_loss(
    layer: &mut dyn Layer,
    x: &Tensor,
    g: &Tensor,
    y: &mut Tensor,
    rebuild: &dyn Fn(&mut dyn Layer),
) -> f64 {
    rebuild(layer);
    layer.forward(x, y, true);
    y.data().iter().zip(g.data()).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn check_layer(mut layer: Box<dyn Layer>, input_shape: &[usize], batch: usize, rebuild: &dyn Fn(&mut dyn Layer)) {
    let what = layer.kind().to_string();
    let out_shape = layer.build(input_shape, &mut Rng::new(1)).unwrap();
    layer.plan(batch);
    let mut xs = vec![batch];
    xs.extend_from_slice(input_shape);
    let mut ys = vec![batch];
    ys.extend_from_slice(&out_shape);
    let mut x = random(&xs, 2);
    let g = random(&ys, 3);
    let mut y = Tensor::zeros(&ys);

    forward_loss(layer.as_mut(), &x, &g, &mut y, rebuild);
    let mut dy = g.clone();
    let mut dx = Tensor::zeros(&xs);
    layer.backward(&x, &y, &mut dy, Some(&mut dx));
    let param_grads: Vec<Tensor> = layer.params().iter().map(|p| p.grad.clone()).collect();

    for i in 0..x.len() {
        let orig = x.data()[i];
        x.data_mut()[i] = orig + EPS;
        let plus = forward_loss(layer.as_mut(), &x, &g, &mut y, rebuild);
        x.data_mut()[i] = orig - EPS;
        let minus = forward_loss(layer.as_mut(), &x, &g, &mut y, rebuild);
        x.data_mut()[i] = orig;
        close(dx.data()[i], (plus - minus) / (2.0 * EPS as f64), &format!("{what} dx[{i}]"));
    }
    for (p, grad) in param_grads.iter().enumerate() {
        for i in 0..grad.len() {
            let orig = layer.params()[p].value.data()[i];
            layer.params_mut()[p].value.data_mut()[i] = orig + EPS;
            let plus = forward_loss(layer.as_mut(), &x, &g, &mut y, rebuild);
            layer.params_mut()[p].value.data_mut()[i] = orig - EPS;
            let minus = forward_loss(layer.as_mut(), &x, &g, &mut y, rebuild);
            layer.params_mut()[p].value.data_mut()[i] = orig;
            let name = layer.params()[p].name;
            close(grad.data()[i], (plus - minus) / (2.0 * EPS as f64), &format!("{what} d{name}[{i}]"));
        }
    }
}

fn no_rebuild(_: &mut dyn Layer) {}

#[test]
fn dense_with_every_activation() {
    for &name in activations::NAMES {
        check_layer(Box::new(Dense::new(4).activation(name)), &[5], 3, &no_rebuild);
    }
    check_layer(Box::new(Dense::new(3).use_bias(false)), &[4], 2, &no_rebuild);
}

#[test]
fn dense_on_the_last_axis_of_a_3d_input() {
    check_layer(Box::new(Dense::new(3).activation("tanh")), &[2, 4], 2, &no_rebuild);
}

#[test]
fn activation_layer_for_every_activation_and_argument() {
    for &name in activations::NAMES {
        check_layer(Box::new(ActivationLayer::new(name)), &[6], 3, &no_rebuild);
    }
    for a in [
        Activation::LeakyRelu { negative_slope: 0.0 },
        Activation::LeakyRelu { negative_slope: -0.5 },
        Activation::Elu { alpha: 0.5 },
        Activation::Elu { alpha: -1.0 },
    ] {
        check_layer(Box::new(ActivationLayer::new(a)), &[6], 3, &no_rebuild);
    }
}

#[test]
fn dropout_with_a_fixed_mask() {
    // Rebuilding with the layer's own seed replays the same mask for every forward pass.
    let rebuild = |l: &mut dyn Layer| {
        l.build(&[8], &mut Rng::new(0)).unwrap();
    };
    check_layer(Box::new(Dropout::new(0.4).seed(9)), &[8], 4, &rebuild);
}

#[test]
fn flatten() {
    check_layer(Box::new(Flatten::new()), &[2, 3], 2, &no_rebuild);
}

/// `loss.compute(...) / n` and its gradient, compared by central differences.
fn check_loss(loss: Loss, pred: &Tensor, target: &Tensor) {
    let n = pred.batch() as f64;
    let mut grad = vec![0.0; pred.len()];
    loss.compute(pred, target, Some(&mut grad), false);
    let mut p = pred.clone();
    for (i, &g) in grad.iter().enumerate() {
        let orig = p.data()[i];
        p.data_mut()[i] = orig + EPS;
        let plus = loss.compute(&p, target, None, false) / n;
        p.data_mut()[i] = orig - EPS;
        let minus = loss.compute(&p, target, None, false) / n;
        p.data_mut()[i] = orig;
        close(g, (plus - minus) / (2.0 * EPS as f64), &format!("{loss:?} d[{i}]"));
    }
}

/// The fused path: gradient with respect to logits `z` of `loss(act(z))`.
fn check_fused(loss: Loss, logits: &Tensor, target: &Tensor) {
    let act = loss.fuses_with().unwrap();
    let k = *logits.shape().last().unwrap();
    let apply = |z: &Tensor| {
        let mut p = z.clone();
        act.forward(p.data_mut(), k);
        p
    };
    let n = logits.batch() as f64;
    let mut grad = vec![0.0; logits.len()];
    loss.compute(&apply(logits), target, Some(&mut grad), true);
    let mut z = logits.clone();
    for (i, &g) in grad.iter().enumerate() {
        let orig = z.data()[i];
        z.data_mut()[i] = orig + EPS;
        let plus = loss.compute(&apply(&z), target, None, true) / n;
        z.data_mut()[i] = orig - EPS;
        let minus = loss.compute(&apply(&z), target, None, true) / n;
        z.data_mut()[i] = orig;
        close(g, (plus - minus) / (2.0 * EPS as f64), &format!("fused {loss:?} dz[{i}]"));
    }
}

fn probabilities(shape: &[usize], seed: u64, act: Activation) -> Tensor {
    let mut t = random(shape, seed);
    t.data_mut().iter_mut().for_each(|v| *v *= 2.0);
    act.forward(t.data_mut(), *shape.last().unwrap());
    t
}

#[test]
fn regression_losses() {
    let (p, t) = (random(&[4, 3], 1), random(&[4, 3], 2));
    check_loss(Loss::MeanSquaredError, &p, &t);
    check_loss(Loss::MeanAbsoluteError, &p, &t);
}

#[test]
fn binary_crossentropy_on_probabilities_logits_and_fused() {
    let mut t = random(&[5, 2], 4);
    t.data_mut().iter_mut().for_each(|v| *v = (*v + 1.0) / 2.0); // soft targets in [0, 1]
    check_loss(Loss::BinaryCrossentropy { from_logits: false }, &probabilities(&[5, 2], 5, Activation::Sigmoid), &t);
    check_loss(Loss::BinaryCrossentropy { from_logits: true }, &random(&[5, 2], 6), &t);
    check_fused(Loss::BinaryCrossentropy { from_logits: false }, &random(&[5, 2], 7), &t);
}

#[test]
fn categorical_crossentropy_on_probabilities_logits_and_fused() {
    let labels = [0usize, 2, 1, 3];
    let onehot = Tensor::from_vec(&[4, 4], (0..16).map(|i| (labels[i / 4] == i % 4) as u8 as f32).collect()).unwrap();
    check_loss(
        Loss::CategoricalCrossentropy { from_logits: false },
        &probabilities(&[4, 4], 8, Activation::Softmax),
        &onehot,
    );
    // unnormalized probabilities exercise Keras's division by the row sum
    let mut unnormalized = probabilities(&[4, 4], 9, Activation::Sigmoid);
    unnormalized.data_mut().iter_mut().for_each(|v| *v += 0.1);
    check_loss(Loss::CategoricalCrossentropy { from_logits: false }, &unnormalized, &onehot);
    check_loss(Loss::CategoricalCrossentropy { from_logits: true }, &random(&[4, 4], 10), &onehot);
    check_fused(Loss::CategoricalCrossentropy { from_logits: false }, &random(&[4, 4], 11), &onehot);

    let sparse = Tensor::from_vec(&[4], labels.iter().map(|&l| l as f32).collect()).unwrap();
    check_loss(
        Loss::SparseCategoricalCrossentropy { from_logits: false },
        &probabilities(&[4, 4], 12, Activation::Softmax),
        &sparse,
    );
    check_loss(Loss::SparseCategoricalCrossentropy { from_logits: false }, &unnormalized, &sparse);
    check_loss(Loss::SparseCategoricalCrossentropy { from_logits: true }, &random(&[4, 4], 13), &sparse);
    check_fused(Loss::SparseCategoricalCrossentropy { from_logits: false }, &random(&[4, 4], 14), &sparse);
}

#[test]
fn loss_values_match_hand_computation() {
    // One sample, p = [0.7, 0.2, 0.1], label 0: −ln 0.7.
    let p = Tensor::from_vec(&[1, 3], vec![0.7, 0.2, 0.1]).unwrap();
    let want = -(0.7f64).ln();
    let sparse = Loss::SparseCategoricalCrossentropy { from_logits: false };
    assert!((sparse.compute(&p, &Tensor::from_slice(&[0.0]), None, false) - want).abs() < 1e-6);
    let onehot = Tensor::from_vec(&[1, 3], vec![1., 0., 0.]).unwrap();
    let cce = Loss::CategoricalCrossentropy { from_logits: false };
    assert!((cce.compute(&p, &onehot, None, false) - want).abs() < 1e-6);
    // Keras clips p = 0 to 1e-7: the loss is −ln 1e-7 ≈ 16.118, not infinity.
    let zero = Tensor::from_vec(&[1, 3], vec![0.0, 1.0, 0.0]).unwrap();
    let clipped = sparse.compute(&zero, &Tensor::from_slice(&[0.0]), None, false);
    assert!((clipped - 16.118_095).abs() < 1e-3, "{clipped}");
    // MSE averages over the last axis: ((1)² + (3)²) / 2 = 5.
    let mse = Loss::MeanSquaredError.compute(
        &Tensor::from_vec(&[1, 2], vec![1.0, 3.0]).unwrap(),
        &Tensor::from_vec(&[1, 2], vec![0.0, 0.0]).unwrap(),
        None,
        false,
    );
    assert_eq!(mse, 5.0);
    // From logits, large values stay finite (log-sum-exp).
    let big = Tensor::from_vec(&[1, 2], vec![1000.0, -1000.0]).unwrap();
    let l = Loss::SparseCategoricalCrossentropy { from_logits: true }.compute(
        &big,
        &Tensor::from_slice(&[1.0]),
        None,
        false,
    );
    assert!((l - 2000.0).abs() < 1e-3);
}

#[test]
fn softmax_and_sigmoid_are_stable() {
    let mut row = [1000.0f32, 0.0, -1000.0];
    activations::softmax_in_place(&mut row);
    assert_eq!(row, [1.0, 0.0, 0.0]);
    assert_eq!(activations::sigmoid(-1000.0), 0.0);
    assert_eq!(activations::sigmoid(1000.0), 1.0);
}

/// Whole-model check: the gradient `train_on_batch` leaves in each parameter (learning rate 0)
/// against central differences of `evaluate`'s loss.
fn check_model(model: &mut minibatch::Sequential, x: &Tensor, y: &Tensor) {
    model.train_on_batch(x, y).unwrap();
    let grads: Vec<Tensor> = model.layers().iter().flat_map(|l| l.params().iter().map(|p| p.grad.clone())).collect();
    let weights = model.get_weights();
    let eps = 1e-2f32;
    for (t, g) in grads.iter().enumerate() {
        for i in (0..g.len()).step_by(7) {
            let mut w = weights.clone();
            w[t].data_mut()[i] += eps;
            model.set_weights(&w).unwrap();
            let plus = model.evaluate(x, y, 64).unwrap().get("loss").unwrap();
            w[t].data_mut()[i] -= 2.0 * eps;
            model.set_weights(&w).unwrap();
            let minus = model.evaluate(x, y, 64).unwrap().get("loss").unwrap();
            close(g.data()[i], (plus - minus) / (2.0 * eps as f64), &format!("model param {t}[{i}]"));
        }
    }
    model.set_weights(&weights).unwrap();
}

#[test]
fn whole_model_gradients_fused_and_after_recompiling() {
    use minibatch::optimizers::SGD;
    let x = random(&[6, 4], 21);
    let labels = Tensor::from_slice(&[0., 1., 2., 1., 0., 2.]);
    let mut model =
        minibatch::Sequential::new().add(Dense::new(5).activation("tanh")).add(Dense::new(3).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    check_model(&mut model, &x, &labels);
    // Recompiled with a loss that does not fuse: the softmax derivative must come back.
    let onehot =
        Tensor::from_vec(&[6, 3], (0..18).map(|i| (labels.data()[i / 3] as usize == i % 3) as u8 as f32).collect())
            .unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &x, &onehot);
}

#[test]
fn conv2d_valid_same_strided_dilated_and_odd_sizes() {
    use minibatch::layers::Conv2D;
    check_layer(Box::new(Conv2D::new(3, 3)), &[5, 6, 2], 2, &no_rebuild);
    check_layer(Box::new(Conv2D::new(2, (2, 3)).padding("same").activation("tanh")), &[5, 4, 3], 2, &no_rebuild);
    check_layer(Box::new(Conv2D::new(2, 3).strides(2).padding("same")), &[7, 6, 2], 2, &no_rebuild);
    check_layer(Box::new(Conv2D::new(2, 3).strides((2, 1))), &[7, 5, 1], 1, &no_rebuild);
    check_layer(Box::new(Conv2D::new(2, 2).dilation_rate(2).activation("sigmoid")), &[6, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(Conv2D::new(3, 1).use_bias(false).activation("gelu")), &[3, 3, 4], 2, &no_rebuild);
}

#[test]
fn conv1d_valid_same_strided() {
    use minibatch::layers::Conv1D;
    check_layer(Box::new(Conv1D::new(3, 3)), &[7, 2], 2, &no_rebuild);
    check_layer(Box::new(Conv1D::new(2, 4).padding("same").strides(2).activation("elu")), &[9, 3], 2, &no_rebuild);
    check_layer(Box::new(Conv1D::new(2, 2).dilation_rate(3)), &[8, 1], 2, &no_rebuild);
}

#[test]
fn pooling_global_pooling_batch_normalization_and_reshape() {
    use minibatch::layers::{
        AveragePooling1D, AveragePooling2D, BatchNormalization, GlobalAveragePooling1D, GlobalAveragePooling2D,
        GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, Reshape,
    };
    check_layer(Box::new(MaxPooling2D::new(2)), &[4, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(MaxPooling2D::new(3).strides(2).padding("same")), &[5, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling2D::new((2, 3)).padding("same")), &[5, 4, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling2D::new(2).strides(1)), &[3, 3, 1], 2, &no_rebuild);
    check_layer(Box::new(MaxPooling1D::new(2).padding("same")), &[5, 3], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling1D::new(3).strides(2)), &[7, 2], 2, &no_rebuild);
    check_layer(Box::new(GlobalAveragePooling2D::new()), &[3, 2, 4], 2, &no_rebuild);
    check_layer(Box::new(GlobalMaxPooling2D::new()), &[3, 3, 2], 2, &no_rebuild);
    check_layer(Box::new(GlobalAveragePooling1D::new()), &[5, 3], 2, &no_rebuild);
    check_layer(Box::new(BatchNormalization::new()), &[3, 2, 3], 4, &no_rebuild);
    check_layer(Box::new(BatchNormalization::new().epsilon(0.1)), &[5], 6, &no_rebuild);
    check_layer(Box::new(Reshape::new(&[2, 3])), &[6], 2, &no_rebuild);
}
