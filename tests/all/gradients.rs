//! Finite-difference gradient checks for every layer, activation and loss.
//!
//! For a layer: with upstream gradient `g`, the scalar `L = Σ y ⊙ g` has ∂L/∂x = backward(g);
//! each input and parameter value is nudged by ±ε and the central difference compared.

use crate::common::random;
use minibatch::activations::{self, Activation};
use minibatch::layers::{ActivationLayer, Dense, Dropout, Flatten, Layer};
use minibatch::losses::{mean_loss, BuiltinLoss, Loss};
use minibatch::rng::Rng;
use minibatch::Tensor;

/// Agreement required: `|analytic − numeric| ≤ TOL · max(|analytic|, |numeric|, FLOOR)`.
const TOL: f64 = 2e-3;
const FLOOR: f64 = 1e-3;
/// The floor for whole-model checks (see [`check_model`]).
const MODEL_FLOOR: f64 = 2e-2;
/// Central-difference steps, largest first. The layers compute in f32: a large step keeps the
/// rounding of the outputs small beside the difference; a smaller one is tried when the
/// large step straddles a kink (ReLU, a max) or its truncation error is too large.
const STEPS: [f32; 4] = [1e-2, 3e-3, 1e-3, 3e-4];

/// Checks `analytic` against central differences of `f` around `orig`, at each of [`STEPS`]
/// until one agrees. The step is the one f32 can represent: `(orig + h) − (orig − h)`.
fn check_value(analytic: f32, orig: f32, f: impl FnMut(f32) -> f64, what: &str) {
    check_value_with(FLOOR_NOW.with(|f| f.get()), analytic, orig, f, what)
}

/// [`check_value`] with another floor under the scale of the agreement.
fn check_value_with(floor: f64, analytic: f32, orig: f32, mut f: impl FnMut(f32) -> f64, what: &str) {
    let a = analytic as f64;
    let mut tried = Vec::new();
    for h in STEPS {
        let (hi, lo) = (orig + h, orig - h);
        let n = (f(hi) - f(lo)) / (hi as f64 - lo as f64);
        if (a - n).abs() <= TOL * a.abs().max(n.abs()).max(floor) {
            return;
        }
        tried.push(format!("{n:.7} (step {h})"));
    }
    panic!("{what}: analytic {a:.7} vs numeric {}", tried.join(", "));
}

/// Every parameter of a built layer set to values in `[-1, 1)`, so a gradient check does not
/// run at Keras's initial values (γ = 1 and zero biases hide missing factors and terms).
fn randomize(layer: &mut dyn Layer, seed: u64) {
    for (i, p) in layer.params_mut().iter_mut().enumerate() {
        p.value = random(p.value.shape(), seed * 31 + i as u64);
    }
}

/// Forward in the given mode; `rebuild` re-seeds layers with random state (dropout's mask).
fn forward_loss(
    layer: &mut dyn Layer,
    x: &Tensor,
    g: &Tensor,
    y: &mut Tensor,
    training: bool,
    rebuild: &dyn Fn(&mut dyn Layer),
) -> f64 {
    rebuild(layer);
    layer.forward(x, y, training);
    y.data().iter().zip(g.data()).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn check_layer(layer: Box<dyn Layer>, input_shape: &[usize], batch: usize, rebuild: &dyn Fn(&mut dyn Layer)) {
    check_layer_in_mode(layer, input_shape, batch, true, &|_| {}, rebuild)
}

/// [`check_layer`] for layers whose output runs through many f32 steps (recurrences,
/// attention's products and softmax): the
/// loss `Σ y·g` sums some 40 outputs each rounded to about 1e-7 of itself, which over a
/// difference step of 2e-2 blurs a derivative by up to 1e-4. Gradients are held to 2e-3 of
/// their size, and to 1e-4 when smaller than 5e-2 (a wrong term moves them by far more).
fn check_layer_deep(layer: Box<dyn Layer>, input_shape: &[usize], batch: usize) {
    FLOOR_NOW.with(|f| f.set(5e-2));
    check_layer(layer, input_shape, batch, &no_rebuild);
    FLOOR_NOW.with(|f| f.set(FLOOR));
}

thread_local! {
    /// The floor [`check_value`] uses: [`FLOOR`], raised by [`check_layer_deep`].
    static FLOOR_NOW: std::cell::Cell<f64> = const { std::cell::Cell::new(FLOOR) };
}

/// Builds and randomizes `layer`, lets `prepare` set it up further (moving statistics), then
/// compares `backward` after a `forward` in the given mode with central differences.
fn check_layer_in_mode(
    mut layer: Box<dyn Layer>,
    input_shape: &[usize],
    batch: usize,
    training: bool,
    prepare: &dyn Fn(&mut dyn Layer),
    rebuild: &dyn Fn(&mut dyn Layer),
) {
    let what = layer.kind().to_string();
    let out_shape = layer.build(input_shape, &mut Rng::new(1)).unwrap();
    layer.plan(batch);
    randomize(layer.as_mut(), 5);
    prepare(layer.as_mut());
    let mut xs = vec![batch];
    xs.extend_from_slice(input_shape);
    let mut ys = vec![batch];
    ys.extend_from_slice(&out_shape);
    let mut x = random(&xs, 2);
    let g = random(&ys, 3);
    let mut y = Tensor::zeros(&ys);

    forward_loss(layer.as_mut(), &x, &g, &mut y, training, rebuild);
    let mut dy = g.clone();
    let mut dx = Tensor::zeros(&xs);
    layer.backward(&x, &y, &mut dy, Some(&mut dx));
    let param_grads: Vec<Tensor> = layer.params().iter().map(|p| p.grad.clone()).collect();

    for i in 0..x.len() {
        let orig = x.data()[i];
        check_value(
            dx.data()[i],
            orig,
            |v| {
                x.data_mut()[i] = v;
                let l = forward_loss(layer.as_mut(), &x, &g, &mut y, training, rebuild);
                x.data_mut()[i] = orig;
                l
            },
            &format!("{what} dx[{i}]"),
        );
    }
    for (p, grad) in param_grads.iter().enumerate() {
        let name = layer.params()[p].name;
        for i in 0..grad.len() {
            let orig = layer.params()[p].value.data()[i];
            check_value(
                grad.data()[i],
                orig,
                |v| {
                    layer.params_mut()[p].value.data_mut()[i] = v;
                    let l = forward_loss(layer.as_mut(), &x, &g, &mut y, training, rebuild);
                    layer.params_mut()[p].value.data_mut()[i] = orig;
                    l
                },
                &format!("{what} d{name}[{i}]"),
            );
        }
    }
    checked(&what);
}

/// The layer classes whose gradient checks have passed in this process (see
/// `every_registered_layer_class_passes_a_gradient_check`).
static CHECKED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn checked(class: &str) {
    CHECKED.lock().unwrap_or_else(|e| e.into_inner()).insert(class.to_string());
}

/// Every `class_name` in a configuration, nested models' and wrapped layers' included.
fn record_classes(config: &serde_json::Value) {
    match config {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if let (true, Some(name)) = (key == "class_name", value.as_str()) {
                    checked(name);
                }
                record_classes(value);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(record_classes),
        _ => {}
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
    use minibatch::layers::{SpatialDropout1D, SpatialDropout2D};
    let rebuild_1d = |l: &mut dyn Layer| {
        l.build(&[3, 4], &mut Rng::new(0)).unwrap();
    };
    check_layer(Box::new(SpatialDropout1D::new(0.5).seed(9)), &[3, 4], 4, &rebuild_1d);
    let rebuild_2d = |l: &mut dyn Layer| {
        l.build(&[2, 2, 3], &mut Rng::new(0)).unwrap();
    };
    check_layer(Box::new(SpatialDropout2D::new(0.5).seed(9)), &[2, 2, 3], 4, &rebuild_2d);
}

#[test]
fn lookups_and_encodings_pass_no_gradient() {
    // Indices and bins are piecewise constant in their input: the gradient they pass back is
    // zero, and so are central differences away from the steps.
    use minibatch::layers::{CategoryEncoding, Discretization, IntegerLookup, OutputMode};
    check_layer(Box::new(IntegerLookup::new().with_vocabulary(&[3, 1, 2])), &[4], 3, &no_rebuild);
    let encoded = IntegerLookup::new().with_vocabulary(&[3, 1]).output_mode(OutputMode::Count);
    check_layer(Box::new(encoded), &[4], 3, &no_rebuild);
    check_layer(Box::new(Discretization::with_boundaries(&[5.0, 10.0])), &[4], 3, &no_rebuild);
    check_layer(Box::new(CategoryEncoding::new(4, OutputMode::MultiHot)), &[3], 3, &no_rebuild);
}

#[test]
fn image_augmentations_with_fixed_draws() {
    // In training, each is linear in its input for the draws made (bilinear taps, a mirror, a
    // contrast about the mean): rebuilding with the layer's seed replays the draws.
    use minibatch::layers::{FillMode, Interpolation, RandomContrast, RandomCrop, RandomFlip, RandomRotation};
    use minibatch::layers::{RandomTranslation, RandomZoom};
    let shape = [5, 6, 2];
    let rebuild = |l: &mut dyn Layer| {
        l.build(&[5, 6, 2], &mut Rng::new(0)).unwrap();
    };
    check_layer(Box::new(RandomFlip::new("horizontal_and_vertical").seed(4)), &shape, 4, &rebuild);
    for fill in [FillMode::Reflect, FillMode::Wrap, FillMode::Constant, FillMode::Nearest] {
        check_layer(Box::new(RandomRotation::new(0.3).fill_mode(fill).fill_value(0.3).seed(4)), &shape, 3, &rebuild);
    }
    let nearest = RandomTranslation::new(0.3, 0.4).interpolation(Interpolation::Nearest).seed(4);
    check_layer(Box::new(nearest), &shape, 3, &rebuild);
    check_layer(Box::new(RandomZoom::new(0.5).width_factor(0.3).seed(4)), &shape, 3, &rebuild);
    check_layer(Box::new(RandomCrop::new(3, 4).seed(4)), &shape, 3, &rebuild);
    check_layer(Box::new(RandomCrop::new(7, 7).seed(4)), &shape, 2, &rebuild);
    // Inputs in [-1, 1]: a range that clips nothing, then one that clips some. Where it clips,
    // each input moves its channel's mean and with it every output near a bound, so a finite
    // difference that carries an output across a bound sees a kink: the seed is one whose
    // draws (since they are keyed by sample position) leave no output within a step of the
    // bounds; seeds 4, 6 and 7 put one there and no step agrees to 0.2%.
    check_layer(Box::new(RandomContrast::new(0.6).value_range(-10.0, 10.0).seed(4)), &shape, 3, &rebuild);
    check_layer(Box::new(RandomContrast::new(0.6).value_range(-0.5, 0.7).seed(5)), &shape, 3, &rebuild);
}

#[test]
fn multi_head_self_attention() {
    use minibatch::layers::MultiHeadAttention;
    check_layer_deep(Box::new(MultiHeadAttention::new(2, 3)), &[4, 5], 2);
    check_layer_deep(Box::new(MultiHeadAttention::new(2, 2).use_causal_mask(true)), &[4, 3], 2);
    check_layer_deep(Box::new(MultiHeadAttention::new(3, 2).value_dim(4).output_shape(2).use_bias(false)), &[3, 4], 2);
    check_layer_deep(Box::new(MultiHeadAttention::new(1, 4)), &[1, 2], 3);
    // Attention dropout with a fixed mask: the generator is reset before every forward pass.
    let replay = |l: &mut dyn Layer| {
        l.set_state("seed_generator_state", &minibatch::layers::State::U64(vec![1, 2, 3, 4])).unwrap();
    };
    FLOOR_NOW.with(|f| f.set(5e-2));
    check_layer(Box::new(MultiHeadAttention::new(2, 3).dropout(0.3)), &[4, 5], 2, &replay);
    FLOOR_NOW.with(|f| f.set(FLOOR));
}

#[test]
fn attention_dropout_drops_in_training_only_and_replays_with_its_state() {
    use minibatch::layers::{MultiHeadAttention, State};
    let mut mha = MultiHeadAttention::new(2, 3).dropout(0.5);
    mha.build(&[4, 5], &mut Rng::new(3)).unwrap();
    mha.plan(2);
    let x = random(&[2, 4, 5], 6);
    let run = |l: &mut MultiHeadAttention, training: bool| {
        let mut y = Tensor::zeros(&[2, 4, 5]);
        l.forward(&x, &mut y, training);
        y
    };
    let (a, b) = (run(&mut mha, false), run(&mut mha, false));
    assert_eq!(a, b, "inference is deterministic and drops nothing");
    let saved = mha.state();
    let c = run(&mut mha, true);
    assert_ne!(c, a, "training drops weights");
    let State::U64(words) = &saved[0].1 else { panic!("a generator state") };
    mha.set_state("seed_generator_state", &State::U64(words.clone())).unwrap();
    assert_eq!(run(&mut mha, true), c, "the saved state replays the same mask");
    assert!(MultiHeadAttention::new(2, 3).dropout(1.0).build(&[4, 5], &mut Rng::new(0)).is_err());
}

#[test]
fn time_distributed_layers() {
    use minibatch::layers::{Conv2D, TimeDistributed};
    check_layer(Box::new(TimeDistributed::new(Dense::new(3).activation("tanh"))), &[4, 2], 2, &no_rebuild);
    check_layer(Box::new(TimeDistributed::new(Conv2D::new(2, 2).activation("elu"))), &[3, 3, 3, 1], 2, &no_rebuild);
    check_layer(Box::new(TimeDistributed::new(Flatten::new())), &[2, 2, 3], 2, &no_rebuild);
}

#[test]
fn zero_padding_and_up_sampling() {
    use minibatch::layers::{UpSampling2D, ZeroPadding2D};
    check_layer(Box::new(ZeroPadding2D::new(1)), &[2, 3, 2], 2, &no_rebuild);
    check_layer(Box::new(ZeroPadding2D::with_padding([[0, 2], [1, 0]])), &[3, 2, 1], 2, &no_rebuild);
    check_layer(Box::new(UpSampling2D::new(2)), &[2, 3, 2], 2, &no_rebuild);
    check_layer(Box::new(UpSampling2D::with_size(1, 3)), &[2, 2, 1], 2, &no_rebuild);
    check_layer(Box::new(UpSampling2D::with_size(2, 3).interpolation("bilinear")), &[3, 2, 2], 2, &no_rebuild);
    check_layer(Box::new(UpSampling2D::new(3).interpolation("bilinear")), &[1, 4, 1], 2, &no_rebuild);
    // Resizing: down, up and mixed, bilinear and nearest.
    use minibatch::layers::Resizing;
    check_layer(Box::new(Resizing::new(2, 5)), &[4, 3, 2], 2, &no_rebuild);
    check_layer(Box::new(Resizing::new(5, 2).interpolation("nearest")), &[3, 4, 1], 2, &no_rebuild);
    for (layer, what) in [
        (Resizing::new(2, 2).interpolation("area"), "area"),
        (Resizing::new(0, 2), "height, width"),
        (
            Resizing::from_config(
                serde_json::from_value(serde_json::json!({"height": 2, "width": 2, "antialias": true})).unwrap(),
            ),
            "antialias",
        ),
    ] {
        let err = minibatch::Sequential::new().add(layer).build(&[3, 3, 1]).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    // Keras's other interpolations are named, not run as something else.
    let err = minibatch::Sequential::new().add(UpSampling2D::new(2).interpolation("bicubic")).build(&[2, 2, 1]);
    assert!(err.unwrap_err().to_string().contains("bicubic"));
}

#[test]
fn depthwise_separable_and_transposed_convolutions() {
    use minibatch::layers::{Conv2DTranspose, DepthwiseConv2D, SeparableConv2D};
    check_layer(Box::new(DepthwiseConv2D::new(3).depth_multiplier(2).padding("same")), &[4, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(DepthwiseConv2D::new((2, 3)).strides(2).activation("tanh")), &[5, 6, 3], 2, &no_rebuild);
    check_layer(Box::new(DepthwiseConv2D::new(2).dilation_rate(2)), &[5, 5, 2], 2, &no_rebuild);
    // A product of products (separable), and outputs that sum many patches (transposed): held
    // as the deep layers are (see check_layer_deep).
    check_layer_deep(Box::new(SeparableConv2D::new(3, 3).activation("tanh")), &[4, 5, 2], 2);
    check_layer_deep(Box::new(SeparableConv2D::new(2, 2).depth_multiplier(2).padding("same")), &[3, 4, 3], 2);
    check_layer_deep(Box::new(Conv2DTranspose::new(3, 3)), &[3, 4, 2], 2);
    check_layer_deep(Box::new(Conv2DTranspose::new(2, 3).strides(2).padding("same").activation("tanh")), &[3, 3, 2], 2);
    check_layer_deep(Box::new(Conv2DTranspose::new(2, (3, 2)).strides((2, 3))), &[2, 3, 2], 2);
}

#[test]
fn position_embedding() {
    // Its table's gradient is the sum of dy over the batch at each position; dx is dy.
    check_layer(Box::new(minibatch::layers::PositionEmbedding::new(4)), &[4, 3], 3, &no_rebuild);
    check_layer(Box::new(minibatch::layers::PositionEmbedding::new(6)), &[4, 2], 2, &no_rebuild);
}

#[test]
fn flatten() {
    check_layer(Box::new(Flatten::new()), &[2, 3], 2, &no_rebuild);
}

/// `loss.compute(...) / n` and its gradient, compared by central differences.
fn check_loss(loss: BuiltinLoss, pred: &Tensor, target: &Tensor) {
    check_weighted_loss(loss, pred, target, None);
}

/// The gradient of the batch loss, each sample weighted by `weights`, against differences.
fn check_weighted_loss(loss: BuiltinLoss, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
    let mut grad = vec![0.0; pred.len()];
    mean_loss(&loss, pred, target, weights, Some(&mut grad)).unwrap();
    let mut p = pred.clone();
    for (i, &g) in grad.iter().enumerate() {
        let orig = p.data()[i];
        check_value(
            g,
            orig,
            |v| {
                p.data_mut()[i] = v;
                let l = mean_loss(&loss, &p, target, weights, None).unwrap();
                p.data_mut()[i] = orig;
                l
            },
            &format!("{loss:?} d[{i}]"),
        );
    }
}

/// The fused path: gradient with respect to logits `z` of `loss(act(z))`.
fn check_fused(loss: BuiltinLoss, logits: &Tensor, target: &Tensor) {
    let act = loss.fuses_with().unwrap();
    let k = *logits.shape().last().unwrap();
    let tk = loss.target_len(k);
    let apply = |z: &Tensor| {
        let mut p = z.clone();
        act.forward(p.data_mut(), k);
        p
    };
    // The fused rows: value from the logits, gradient with respect to them; mean over rows.
    let fused = |z: &Tensor, grad: Option<&mut [f32]>| -> f64 {
        let p = apply(z);
        let rows = z.len() / k;
        let mut grad = grad;
        let mut sum = 0.0;
        for r in 0..rows {
            let g = grad.as_deref_mut().map(|g| &mut g[r * k..(r + 1) * k]);
            let (pr, zr, tr) =
                (&p.data()[r * k..(r + 1) * k], &z.data()[r * k..(r + 1) * k], &target.data()[r * tk..(r + 1) * tk]);
            sum += loss.fused_row(pr, zr, tr, g) as f64;
        }
        if let Some(g) = grad {
            g.iter_mut().for_each(|g| *g /= rows as f32);
        }
        sum / rows as f64
    };
    let mut grad = vec![0.0; logits.len()];
    fused(logits, Some(&mut grad));
    let mut z = logits.clone();
    for (i, &g) in grad.iter().enumerate() {
        let orig = z.data()[i];
        check_value(
            g,
            orig,
            |v| {
                z.data_mut()[i] = v;
                let l = fused(&z, None);
                z.data_mut()[i] = orig;
                l
            },
            &format!("fused {loss:?} dz[{i}]"),
        );
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
    check_loss(BuiltinLoss::MeanSquaredError, &p, &t);
    check_loss(BuiltinLoss::MeanAbsoluteError, &p, &t);
}

#[test]
fn binary_crossentropy_on_probabilities_logits_and_fused() {
    let mut t = random(&[5, 2], 4);
    t.data_mut().iter_mut().for_each(|v| *v = (*v + 1.0) / 2.0); // soft targets in [0, 1]
    check_loss(
        BuiltinLoss::BinaryCrossentropy { from_logits: false, label_smoothing: 0.0 },
        &probabilities(&[5, 2], 5, Activation::Sigmoid),
        &t,
    );
    check_loss(BuiltinLoss::BinaryCrossentropy { from_logits: true, label_smoothing: 0.0 }, &random(&[5, 2], 6), &t);
    check_fused(BuiltinLoss::BinaryCrossentropy { from_logits: false, label_smoothing: 0.0 }, &random(&[5, 2], 7), &t);
}

#[test]
fn categorical_crossentropy_on_probabilities_logits_and_fused() {
    let labels = [0usize, 2, 1, 3];
    let onehot = Tensor::from_vec(&[4, 4], (0..16).map(|i| (labels[i / 4] == i % 4) as u8 as f32).collect()).unwrap();
    check_loss(
        BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 },
        &probabilities(&[4, 4], 8, Activation::Softmax),
        &onehot,
    );
    // unnormalized probabilities exercise Keras's division by the row sum
    let mut unnormalized = probabilities(&[4, 4], 9, Activation::Sigmoid);
    unnormalized.data_mut().iter_mut().for_each(|v| *v += 0.1);
    check_loss(
        BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 },
        &unnormalized,
        &onehot,
    );
    check_loss(
        BuiltinLoss::CategoricalCrossentropy { from_logits: true, label_smoothing: 0.0 },
        &random(&[4, 4], 10),
        &onehot,
    );
    check_fused(
        BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 },
        &random(&[4, 4], 11),
        &onehot,
    );

    let sparse = Tensor::from_vec(&[4], labels.iter().map(|&l| l as f32).collect()).unwrap();
    check_loss(
        BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false },
        &probabilities(&[4, 4], 12, Activation::Softmax),
        &sparse,
    );
    check_loss(BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false }, &unnormalized, &sparse);
    check_loss(BuiltinLoss::SparseCategoricalCrossentropy { from_logits: true }, &random(&[4, 4], 13), &sparse);
    check_fused(BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false }, &random(&[4, 4], 14), &sparse);
}

/// The focal cross-entropies on probabilities and logits, with smoothing and balancing, and
/// the overlap losses over a row, a sample and the whole batch, weighted.
#[test]
fn focal_and_overlap_losses() {
    use minibatch::losses::LossAxis;
    let mut soft = random(&[5, 3], 40);
    soft.data_mut().iter_mut().for_each(|v| *v = (*v + 1.0) / 2.0);
    let probs = probabilities(&[5, 3], 41, Activation::Sigmoid);
    for (balance, smoothing, gamma) in [(false, 0.0, 2.0), (true, 0.1, 1.5), (true, 0.0, 0.0)] {
        let loss = BuiltinLoss::BinaryFocalCrossentropy {
            apply_class_balancing: balance,
            alpha: 0.3,
            gamma,
            from_logits: false,
            label_smoothing: smoothing,
        };
        check_loss(loss, &probs, &soft);
        check_loss(loss.from_logits(), &random(&[5, 3], 42), &soft);
    }
    let labels = [0usize, 2, 1, 3];
    let onehot = Tensor::from_vec(&[4, 4], (0..16).map(|i| (labels[i / 4] == i % 4) as u8 as f32).collect()).unwrap();
    let mut unnormalized = probabilities(&[4, 4], 43, Activation::Sigmoid);
    unnormalized.data_mut().iter_mut().for_each(|v| *v += 0.1);
    for (smoothing, gamma) in [(0.0, 2.0), (0.1, 3.0), (0.0, 0.5)] {
        let loss = BuiltinLoss::CategoricalFocalCrossentropy {
            alpha: 0.25,
            gamma,
            from_logits: false,
            label_smoothing: smoothing,
        };
        check_loss(loss, &probabilities(&[4, 4], 44, Activation::Softmax), &onehot);
        check_loss(loss, &unnormalized, &onehot);
        check_loss(loss.from_logits(), &random(&[4, 4], 45), &onehot);
    }
    let seg = probabilities(&[3, 2, 4], 46, Activation::Sigmoid);
    let mut mask = random(&[3, 2, 4], 47);
    mask.data_mut().iter_mut().for_each(|v| *v = (*v > 0.0) as u8 as f32);
    let weights = [1.0, 0.5, 2.0];
    for axis in [LossAxis::Batch, LossAxis::Sample, LossAxis::LastAxis] {
        check_weighted_loss(BuiltinLoss::Dice { axis }, &seg, &mask, Some(&weights));
        check_weighted_loss(BuiltinLoss::Tversky { alpha: 0.3, beta: 0.7, axis }, &seg, &mask, Some(&weights));
    }
}

#[test]
fn loss_values_match_hand_computation() {
    // One sample, p = [0.7, 0.2, 0.1], label 0: −ln 0.7.
    let p = Tensor::from_vec(&[1, 3], vec![0.7, 0.2, 0.1]).unwrap();
    let want = -(0.7f64).ln();
    let sparse = BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false };
    assert!((mean_loss(&sparse, &p, &Tensor::from_slice(&[0.0]), None, None).unwrap() - want).abs() < 1e-6);
    let onehot = Tensor::from_vec(&[1, 3], vec![1., 0., 0.]).unwrap();
    let cce = BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 };
    assert!((mean_loss(&cce, &p, &onehot, None, None).unwrap() - want).abs() < 1e-6);
    // Keras clips p = 0 to 1e-7: the loss is −ln 1e-7 ≈ 16.118, not infinity.
    let zero = Tensor::from_vec(&[1, 3], vec![0.0, 1.0, 0.0]).unwrap();
    let clipped = mean_loss(&sparse, &zero, &Tensor::from_slice(&[0.0]), None, None).unwrap();
    assert!((clipped - 16.118_095).abs() < 1e-3, "{clipped}");
    // MSE averages over the last axis: ((1)² + (3)²) / 2 = 5.
    let mse = mean_loss(
        &BuiltinLoss::MeanSquaredError,
        &Tensor::from_vec(&[1, 2], vec![1.0, 3.0]).unwrap(),
        &Tensor::from_vec(&[1, 2], vec![0.0, 0.0]).unwrap(),
        None,
        None,
    )
    .unwrap();
    assert_eq!(mse, 5.0);
    // From logits, large values stay finite (log-sum-exp).
    let big = Tensor::from_vec(&[1, 2], vec![1000.0, -1000.0]).unwrap();
    let l = mean_loss(
        &BuiltinLoss::SparseCategoricalCrossentropy { from_logits: true },
        &big,
        &Tensor::from_slice(&[1.0]),
        None,
        None,
    )
    .unwrap();
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

/// Whole-model check: the gradient `train_on_batch` leaves in each parameter (SGD with
/// learning rate 0, so nothing moves) against central differences of the training-mode loss
/// it returns (batch statistics in BatchNormalization, as the gradient uses them). Every
/// weight is first set to random values. That loss is a mean the model computes in f32 and
/// rounds to about 1e-7 of its value, which over a step of 1e-3 blurs a difference by some
/// 5e-5: gradients are held to 2e-3 of their size, and to 4e-5 when smaller than 2e-2.
pub fn check_model<'a>(
    model: &mut minibatch::Model,
    x: impl Into<minibatch::Arrays<'a>>,
    y: impl Into<minibatch::Arrays<'a>>,
    stride: usize,
) {
    let (x, y) = (x.into(), y.into());
    model.train_on_batch(x.clone(), y.clone()).unwrap(); // builds the model
    let mut weights = model.get_weights();
    for (t, w) in weights.iter_mut().enumerate() {
        *w = random(w.shape(), 40 + t as u64);
        w.data_mut().iter_mut().for_each(|v| *v *= 0.5);
    }
    model.set_weights(&weights).unwrap();
    model.train_on_batch(x.clone(), y.clone()).unwrap();
    let grads: Vec<Tensor> = model.layers().iter().flat_map(|l| l.params().iter().map(|p| p.grad.clone())).collect();
    assert_eq!(grads.len(), weights.len());
    for (t, g) in grads.iter().enumerate() {
        for i in (0..g.len()).step_by(stride) {
            let orig = weights[t].data()[i];
            check_value_with(
                MODEL_FLOOR,
                g.data()[i],
                orig,
                |v| {
                    let mut w = weights.clone();
                    w[t].data_mut()[i] = v;
                    model.set_weights(&w).unwrap();
                    model.train_on_batch(x.clone(), y.clone()).unwrap()
                },
                &format!("model weight {t}[{i}]"),
            );
        }
    }
    model.set_weights(&weights).unwrap();
    record_classes(&model.to_config().unwrap());
}

#[test]
fn whole_model_gradients_fused_and_after_recompiling() {
    use minibatch::optimizers::SGD;
    let x = random(&[6, 4], 21);
    let labels = Tensor::from_slice(&[0., 1., 2., 1., 0., 2.]);
    let mut model =
        minibatch::Sequential::new().add(Dense::new(5).activation("tanh")).add(Dense::new(3).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    check_model(&mut model, &x, &labels, 1);
    // Recompiled with a loss that does not fuse: the softmax derivative must come back.
    let onehot =
        Tensor::from_vec(&[6, 3], (0..18).map(|i| (labels.data()[i / 3] as usize == i % 3) as u8 as f32).collect())
            .unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &x, &onehot, 1);
}

#[test]
fn whole_convnet_gradients() {
    // The first convolution computes no input gradient, and the buffer plan wires every layer's
    // output to the next one's input and gradient: a whole model checks both.
    use minibatch::layers::{BatchNormalization, Conv2D, MaxPooling2D};
    use minibatch::optimizers::SGD;
    let x = random(&[4, 6, 6, 2], 22);
    let labels = Tensor::from_slice(&[0., 2., 1., 2.]);
    let mut model = minibatch::Sequential::new()
        .input_shape(&[6, 6, 2])
        .add(Conv2D::new(3, 3).activation("tanh"))
        .add(BatchNormalization::new())
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dense::new(3).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    check_model(&mut model, &x, &labels, 1);
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
        GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, Reshape,
    };
    check_layer(Box::new(MaxPooling2D::new(2)), &[4, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(MaxPooling2D::new(3).strides(2).padding("same")), &[5, 5, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling2D::new((2, 3)).padding("same")), &[5, 4, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling2D::new(2).strides(1)), &[3, 3, 1], 2, &no_rebuild);
    check_layer(Box::new(MaxPooling1D::new(2).padding("same")), &[5, 3], 2, &no_rebuild);
    check_layer(Box::new(MaxPooling1D::new(3).strides(2)), &[8, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling1D::new(3).strides(2)), &[7, 2], 2, &no_rebuild);
    check_layer(Box::new(AveragePooling1D::new(3).strides(2).padding("same")), &[8, 2], 2, &no_rebuild);
    check_layer(Box::new(GlobalAveragePooling2D::new()), &[3, 2, 4], 2, &no_rebuild);
    check_layer(Box::new(GlobalMaxPooling2D::new()), &[3, 3, 2], 2, &no_rebuild);
    check_layer(Box::new(GlobalAveragePooling1D::new()), &[5, 3], 2, &no_rebuild);
    check_layer(Box::new(GlobalMaxPooling1D::new()), &[5, 3], 2, &no_rebuild);
    check_layer(Box::new(BatchNormalization::new()), &[3, 2, 3], 4, &no_rebuild);
    check_layer(Box::new(BatchNormalization::new().epsilon(0.1)), &[5], 6, &no_rebuild);
    // Synchronized (Keras's synchronized=True) in one process: its own statistics, the same gradient.
    check_layer(Box::new(BatchNormalization::new().synchronized(true)), &[3, 2, 3], 4, &no_rebuild);
    check_layer(Box::new(Reshape::new(&[2, 3])), &[6], 2, &no_rebuild);
}

#[test]
fn batch_normalization_in_inference_mode() {
    // After an inference-mode forward the moving statistics are constants: dx = γ·dy/σ.
    use minibatch::layers::{BatchNormalization, State};
    let moving = |layer: &mut dyn Layer| {
        let c = layer.params()[0].value.len();
        let mut mean = random(&[c], 60);
        let mut var = random(&[c], 61);
        mean.data_mut().iter_mut().for_each(|v| *v *= 0.3);
        var.data_mut().iter_mut().for_each(|v| *v = 1.0 + 0.5 * *v);
        layer.set_state("moving_mean", &State::F32(mean)).unwrap();
        layer.set_state("moving_variance", &State::F32(var)).unwrap();
    };
    check_layer_in_mode(Box::new(BatchNormalization::new()), &[3, 2, 3], 4, false, &moving, &no_rebuild);
    check_layer_in_mode(Box::new(BatchNormalization::new().epsilon(0.1)), &[5], 6, false, &moving, &no_rebuild);
}

#[test]
fn activations_follow_their_keras_definitions() {
    use minibatch::activations::Activation;
    let at = |a: Activation, x: f32| {
        let mut v = [x];
        a.forward(&mut v, 1);
        v[0] as f64
    };
    let by_name = |name: &str, x: f32| at(Activation::from_name(name).unwrap(), x);
    // gelu, Keras's default (approximate=False): x·Φ(x) = x/2·(1 + erf(x/√2)). Φ from a table.
    for (x, phi) in [(1.0f32, 0.841_344_746_068_543), (-0.5, 0.308_537_538_725_987), (2.5, 0.993_790_334_674_224)] {
        let want = x as f64 * phi;
        assert!((by_name("gelu", x) - want).abs() < 2e-6, "gelu({x}) = {} vs {want}", by_name("gelu", x));
    }
    // The tanh approximation differs by about 1.6e-4 at x = 2.5: the exact form is the one used.
    let tanh_form =
        |x: f64| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
    assert!((by_name("gelu", 2.5) - tanh_form(2.5)).abs() > 1e-4);
    // leaky_relu: Keras's default negative_slope is 0.2.
    assert_eq!(by_name("leaky_relu", -2.0), -0.4f32 as f64);
    assert_eq!(by_name("leaky_relu", 3.0), 3.0);
    // elu: alpha 1, so elu(-1) = e^-1 - 1.
    assert!((by_name("elu", -1.0) - ((-1.0f64).exp() - 1.0)).abs() < 1e-7);
    assert_eq!(by_name("elu", 0.5), 0.5);
    // relu, sigmoid, tanh at single points.
    assert_eq!(by_name("relu", -0.5), 0.0);
    assert!((by_name("sigmoid", 1.0) - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-7);
    assert!((by_name("tanh", 0.5) - 0.5f64.tanh()).abs() < 1e-7);
}

#[test]
fn the_keras_losses_beyond_the_first_five() {
    let signed = random(&[5, 3], 30);
    let positive = {
        let mut t = random(&[5, 3], 31);
        t.data_mut().iter_mut().for_each(|v| *v = 0.1 + (*v).abs());
        t
    };
    let target = random(&[5, 3], 32);
    let positive_target = {
        let mut t = random(&[5, 3], 33);
        t.data_mut().iter_mut().for_each(|v| *v = 0.05 + 0.9 * (*v).abs());
        t
    };
    let signs = Tensor::from_vec(&[5, 3], (0..15).map(|i| if i % 3 == 1 { 1.0 } else { -1.0 }).collect()).unwrap();
    let binary = Tensor::from_vec(&[5, 3], (0..15).map(|i| (i % 2) as f32).collect()).unwrap();
    let onehot = Tensor::from_vec(&[5, 3], (0..15).map(|i| (i % 3 == (i / 3) % 3) as u8 as f32).collect()).unwrap();
    let weights = [1.0, 0.5, 2.0, 0.0, 1.5];
    let mut scaled = signed.clone();
    scaled.data_mut().iter_mut().for_each(|v| *v *= 3.0);
    let cases: Vec<(BuiltinLoss, &Tensor, &Tensor)> = vec![
        (BuiltinLoss::MeanAbsolutePercentageError, &signed, &target),
        (BuiltinLoss::MeanSquaredLogarithmicError, &positive, &positive_target),
        (BuiltinLoss::Huber { delta: 1.0 }, &scaled, &target),
        (BuiltinLoss::Huber { delta: 0.3 }, &scaled, &target),
        (BuiltinLoss::LogCosh, &scaled, &target),
        (BuiltinLoss::KlDivergence, &positive_target, &positive),
        (BuiltinLoss::Poisson, &positive, &positive_target),
        (BuiltinLoss::Hinge, &signed, &signs),
        (BuiltinLoss::Hinge, &signed, &binary),
        (BuiltinLoss::SquaredHinge, &signed, &binary),
        (BuiltinLoss::CategoricalHinge, &signed, &onehot),
        (BuiltinLoss::CosineSimilarity, &signed, &target),
    ];
    for (loss, p, t) in cases {
        check_loss(loss, p, t);
        check_weighted_loss(loss, p, t, Some(&weights));
    }
}

#[test]
fn label_smoothing_on_probabilities_logits_and_the_fused_path() {
    let onehot = Tensor::from_vec(&[4, 3], (0..12).map(|i| (i % 3 == (i / 3) % 3) as u8 as f32).collect()).unwrap();
    let binary = Tensor::from_vec(&[4, 3], (0..12).map(|i| (i % 2) as f32).collect()).unwrap();
    let cce = BuiltinLoss::from_name("categorical_crossentropy").unwrap().label_smoothing(0.2).unwrap();
    let bce = BuiltinLoss::from_name("binary_crossentropy").unwrap().label_smoothing(0.3).unwrap();
    check_loss(cce, &probabilities(&[4, 3], 34, Activation::Softmax), &onehot);
    check_loss(cce.from_logits(), &random(&[4, 3], 35), &onehot);
    check_fused(cce, &random(&[4, 3], 36), &onehot);
    check_loss(bce, &probabilities(&[4, 3], 37, Activation::Sigmoid), &binary);
    check_loss(bce.from_logits(), &random(&[4, 3], 38), &binary);
    check_fused(bce, &random(&[4, 3], 39), &binary);
    // Smoothing 0.2 over 3 classes: the target 1 becomes 0.8 + 0.2/3, the 0s 0.2/3.
    let p = Tensor::from_vec(&[1, 3], vec![0.7, 0.2, 0.1]).unwrap();
    let y = Tensor::from_vec(&[1, 3], vec![1.0, 0.0, 0.0]).unwrap();
    let want = -((0.8 + 0.2 / 3.0) * 0.7f64.ln() + 0.2 / 3.0 * 0.2f64.ln() + 0.2 / 3.0 * 0.1f64.ln());
    assert!((mean_loss(&cce, &p, &y, None, None).unwrap() - want).abs() < 1e-6);
}

#[test]
fn whole_model_gradients_with_weight_and_activity_penalties() {
    // train_on_batch's loss includes the penalties (Keras adds the layers' losses to it), so
    // the differences of that loss check the penalties' gradients, the activity penalty's
    // division by the batch size included.
    use minibatch::optimizers::SGD;
    use minibatch::regularizers::Regularizer;
    let x = random(&[6, 4], 23);
    let labels = Tensor::from_slice(&[0., 1., 2., 1., 0., 2.]);
    let mut model = minibatch::Sequential::new()
        .add(
            Dense::new(5)
                .activation("tanh")
                .kernel_regularizer(Regularizer::l2(0.05))
                .bias_regularizer(Regularizer::l1(0.03))
                .activity_regularizer(Regularizer::l1_l2(0.02, 0.04)),
        )
        .add(Dense::new(3).activation("softmax").activity_regularizer(Regularizer::l2(0.01)));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    check_model(&mut model, &x, &labels, 1);
}

#[test]
fn recurrent_layers_through_time() {
    use minibatch::layers::{SimpleRNN, GRU, LSTM};
    for sequences in [false, true] {
        for backwards in [false, true] {
            let layers: Vec<Box<dyn Layer>> = vec![
                Box::new(SimpleRNN(3).return_sequences(sequences).go_backwards(backwards)),
                Box::new(LSTM::new(3).return_sequences(sequences).go_backwards(backwards)),
                Box::new(GRU::new(3).return_sequences(sequences).go_backwards(backwards)),
            ];
            for layer in layers {
                check_layer_deep(layer, &[4, 2], 3);
            }
        }
    }
    use minibatch::layers::{Bidirectional, MergeMode};
    for mode in [MergeMode::Concat, MergeMode::Sum, MergeMode::Ave, MergeMode::Mul] {
        check_layer_deep(
            Box::new(Bidirectional::new(LSTM::new(2).return_sequences(true)).merge_mode(mode)),
            &[3, 2],
            2,
        );
        check_layer_deep(Box::new(Bidirectional::new(GRU::new(2)).merge_mode(mode)), &[3, 2], 2);
    }
    // Other activations, no bias, one step.
    check_layer_deep(Box::new(LSTM::new(2).activation("softsign").recurrent_activation("hard_sigmoid")), &[3, 2], 2);
    check_layer_deep(Box::new(GRU::new(2).use_bias(false)), &[1, 3], 2);
    check_layer_deep(Box::new(SimpleRNN(4).activation("relu")), &[5, 1], 2);
}

#[test]
fn activation_layers_with_arguments() {
    use minibatch::layers::{LeakyReLU, PReLU, ReLU, Softmax, ELU};
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(ReLU::new().max_value(0.6).negative_slope(0.1).threshold(-0.2)),
        Box::new(ReLU::new()),
        Box::new(LeakyReLU::new()),
        Box::new(ELU::with_alpha(0.5)),
        Box::new(Softmax::new()),
        Box::new(PReLU::new()),
    ];
    for layer in layers {
        check_layer(layer, &[2, 4], 3, &no_rebuild);
    }
}

#[test]
fn layer_normalization_and_embedding() {
    use minibatch::layers::{Embedding, GlobalAveragePooling1D, LayerNormalization, LSTM};
    use minibatch::optimizers::SGD;
    check_layer(Box::new(LayerNormalization::new()), &[5], 3, &no_rebuild);
    check_layer(Box::new(LayerNormalization::new().epsilon(0.1)), &[2, 4], 2, &no_rebuild);
    check_layer(Box::new(LayerNormalization::new().center(false)), &[3], 2, &no_rebuild);
    check_layer(Box::new(LayerNormalization::new().scale(false)), &[3], 2, &no_rebuild);
    // The ids have no gradient: the table's is checked through a whole model, ids repeated.
    let ids =
        Tensor::from_vec(&[4, 5], vec![1., 2., 2., 0., 6., 3., 3., 3., 1., 0., 6., 5., 4., 1., 2., 0., 0., 0., 0., 6.])
            .unwrap();
    let labels = Tensor::from_slice(&[0., 1., 1., 0.]);
    let mut model = minibatch::Sequential::new()
        .add(Embedding::new(7, 3))
        .add(LSTM::new(4).return_sequences(true))
        .add(LayerNormalization::new())
        .add(GlobalAveragePooling1D::new())
        .add(Dense::new(2).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    check_model(&mut model, &ids, &labels, 1);
}

/// LayerNormalization over several trailing axes, GroupNormalization (groups, instance, one
/// group; without beta or gamma), UnitNormalization over one axis and several, and a zero
/// group where UnitNormalization's cap holds.
#[test]
fn group_unit_and_multi_axis_normalizations() {
    use minibatch::layers::{GroupNormalization, LayerNormalization, UnitNormalization};
    check_layer(Box::new(LayerNormalization::new().axis([2, 3])), &[2, 3, 4], 2, &no_rebuild);
    check_layer(Box::new(LayerNormalization::new().axis([1, 2]).center(false)), &[3, 2], 2, &no_rebuild);
    check_layer(Box::new(GroupNormalization::new(2)), &[3, 4], 2, &no_rebuild);
    check_layer(Box::new(GroupNormalization::new(-1).scale(false)), &[2, 2, 3], 2, &no_rebuild);
    check_layer(Box::new(GroupNormalization::new(1).center(false).epsilon(0.1)), &[5, 2], 3, &no_rebuild);
    check_layer(Box::new(UnitNormalization::new()), &[2, 4], 3, &no_rebuild);
    check_layer(Box::new(UnitNormalization::new().axis([-2, -1])), &[3, 2], 2, &no_rebuild);
    // A group of zeros: y = 0 and dx = dy · 1e12 (the cap), not NaN.
    let mut layer = UnitNormalization::new();
    layer.build(&[3], &mut minibatch::rng::Rng::new(0)).unwrap();
    layer.plan(1);
    let x = Tensor::zeros(&[1, 3]);
    let mut y = Tensor::zeros(&[1, 3]);
    layer.forward(&x, &mut y, true);
    let mut dy = Tensor::from_vec(&[1, 3], vec![1e-12, 0.0, -2e-12]).unwrap();
    let mut dx = Tensor::zeros(&[1, 3]);
    layer.backward(&x, &y, &mut dy, Some(&mut dx));
    assert_eq!(y.data(), &[0.0, 0.0, 0.0]);
    assert!(dx.data().iter().all(|v| v.is_finite()) && (dx.data()[0] - 1.0).abs() < 1e-5, "{:?}", dx.data());
}

#[test]
fn preprocessing_layers() {
    use minibatch::layers::{Normalization, Rescaling};
    // A variance of 1e-16 divides by Keras's floor of 1e-7 rather than by its root.
    let norm = || Normalization::new().with_statistics(&[0.5, -1.0, 2.0], &[0.25, 4.0, 1e-16]).unwrap();
    check_layer(Box::new(norm()), &[3], 4, &no_rebuild);
    check_layer(Box::new(norm().invert(true)), &[2, 3], 2, &no_rebuild);
    check_layer(Box::new(Rescaling::new(1.0 / 255.0).offset(-0.5)), &[2, 2], 3, &no_rebuild);
}

/// Every layer class the registry knows (`layers::CLASS_NAMES`) passes a gradient check: the
/// checks in this file and the functional models' record the classes they cover, and this
/// test runs them all and looks for the rest. A new layer with no gradient check fails here,
/// named.
#[test]
fn every_registered_layer_class_passes_a_gradient_check() {
    let checks: [fn(); 33] = [
        dense_with_every_activation,
        group_unit_and_multi_axis_normalizations,
        position_embedding,
        dense_on_the_last_axis_of_a_3d_input,
        activation_layer_for_every_activation_and_argument,
        dropout_with_a_fixed_mask,
        lookups_and_encodings_pass_no_gradient,
        image_augmentations_with_fixed_draws,
        multi_head_self_attention,
        attention_dropout_drops_in_training_only_and_replays_with_its_state,
        time_distributed_layers,
        zero_padding_and_up_sampling,
        depthwise_separable_and_transposed_convolutions,
        flatten,
        whole_model_gradients_fused_and_after_recompiling,
        whole_convnet_gradients,
        conv2d_valid_same_strided_dilated_and_odd_sizes,
        conv1d_valid_same_strided,
        pooling_global_pooling_batch_normalization_and_reshape,
        batch_normalization_in_inference_mode,
        whole_model_gradients_with_weight_and_activity_penalties,
        recurrent_layers_through_time,
        activation_layers_with_arguments,
        layer_normalization_and_embedding,
        preprocessing_layers,
        crate::functional::gradients_through_shared_layers_fan_out_and_two_outputs,
        crate::functional::every_merge_layer_passes_a_gradient_check,
        crate::functional::sequences_attention_and_residuals_in_one_graph,
        crate::functional::masked_sequences_pass_gradient_checks,
        crate::functional::attention_between_two_sequences_passes_gradient_checks,
        crate::functional::return_state_passes_gradient_checks_and_saves,
        crate::functional::bidirectional_split_passes_gradient_checks_and_saves,
        crate::functional::attention_scores_pass_gradient_checks_and_save,
    ];
    for check in checks {
        check();
    }
    crate::functional::a_model_is_a_layer_of_another();
    crate::functional::a_model_called_twice_shares_its_weights();
    let checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let missing: Vec<&&str> = minibatch::layers::CLASS_NAMES.iter().filter(|c| !checked.contains(**c)).collect();
    assert!(missing.is_empty(), "layer classes no gradient check covers: {missing:?}");
}

/// A user's layer made of the ops under test: its weights' shapes and its `call`.
#[derive(Clone)]
struct OpsLayer {
    shapes: Vec<Vec<usize>>,
    handles: Vec<minibatch::layers::Weight>,
    f: fn(
        &mut minibatch::ops::Graph,
        minibatch::ops::Var,
        &[minibatch::ops::Var],
    ) -> minibatch::Result<minibatch::ops::Var>,
}

impl minibatch::layers::CustomLayer for OpsLayer {
    fn class_name(&self) -> &'static str {
        "OpsLayer"
    }
    fn build(&mut self, w: &mut minibatch::layers::Weights, _input: &[usize]) -> minibatch::Result<()> {
        const NAMES: [&str; 3] = ["w0", "w1", "w2"];
        self.handles = self
            .shapes
            .iter()
            .zip(NAMES)
            .map(|(s, n)| w.add_weight(n, s, "glorot_uniform"))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
    fn call(
        &self,
        g: &mut minibatch::ops::Graph,
        x: minibatch::ops::Var,
        w: &minibatch::layers::WeightVars,
    ) -> minibatch::Result<minibatch::ops::Var> {
        let ws: Vec<_> = self.handles.iter().map(|&h| w[h]).collect();
        (self.f)(g, x, &ws)
    }
}

/// `ops.dropout`'s gradient is its mask: rebuilding the layer with its seed replays the mask
/// in every forward pass of the check.
#[test]
fn an_ops_dropout_passes_the_gradient_check_with_its_mask_replayed() {
    let layer = minibatch::layers::Custom::new(OpsLayer {
        shapes: Vec::new(),
        handles: Vec::new(),
        f: |g, x, _| {
            let d = g.dropout(x, 0.4)?;
            let t = g.tanh(d);
            g.multiply(t, x)
        },
    })
    .seed(9);
    let rebuild = |l: &mut dyn Layer| {
        l.build(&[6], &mut Rng::new(0)).unwrap();
    };
    check_layer(Box::new(layer), &[6], 4, &rebuild);
}

fn ops_layer(
    shapes: &[&[usize]],
    f: fn(
        &mut minibatch::ops::Graph,
        minibatch::ops::Var,
        &[minibatch::ops::Var],
    ) -> minibatch::Result<minibatch::ops::Var>,
) -> Box<dyn Layer> {
    let shapes = shapes.iter().map(|s| s.to_vec()).collect();
    Box::new(minibatch::layers::Custom::new(OpsLayer { shapes, handles: Vec::new(), f }))
}

/// Every op's vector-Jacobian product, through a user's layer, against central differences:
/// the element-wise functions, broadcasting both ways (a weight over the batch, a column over
/// rows), the reductions, both matrix products, softmax, reshape, transpose, concatenate.
#[test]
fn ops_built_layers_pass_the_gradient_check() {
    // Element-wise functions (log and sqrt of values kept positive).
    check_layer(
        ops_layer(&[], |g, x, _| {
            let one = g.scalar(1.0);
            let sq = g.square(x);
            let pos = g.add(sq, one)?;
            let (l, r) = (g.log(pos), g.sqrt(pos));
            let (t, s, ge) = (g.tanh(x), g.sigmoid(x), g.gelu(x));
            let c = g.clip(x, -0.5, 0.5);
            let e = g.exp(c);
            let a = g.abs(x);
            let n = g.negative(a);
            let re = g.relu(x);
            let mut y = g.multiply(t, s)?;
            for v in [l, r, ge, e, n, re] {
                y = g.add(y, v)?;
            }
            Ok(y)
        }),
        &[6],
        3,
        &no_rebuild,
    );
    // Broadcasting: a weight over the batch, a column over the rows.
    check_layer(
        ops_layer(&[&[4], &[3, 1]], |g, x, w| {
            let a = g.multiply(x, w[0])?;
            let b = g.add(a, w[1])?;
            let one = g.scalar(1.0);
            let sq = g.square(w[1]);
            let den = g.add(sq, one)?;
            let c = g.divide(b, den)?;
            let d = g.maximum(c, w[0])?;
            let e = g.minimum(d, x)?;
            g.subtract(e, w[1])
        }),
        &[3, 4],
        2,
        &no_rebuild,
    );
    // Reductions, kept and dropped axes, then joined.
    check_layer(
        ops_layer(&[], |g, x, _| {
            let s = g.sum(x, -1, true)?;
            let m = g.mean(x, 1, true)?;
            let mx = g.max(x, -1, true)?;
            let sm = g.multiply(s, m)?;
            let joined = g.concatenate(&[sm, mx, x], -1)?;
            let flat = g.reshape(joined, &[-1])?;
            let total = g.sum(flat, 1, false)?;
            let r = g.reshape(total, &[1])?;
            g.concatenate(&[r, flat], 1)
        }),
        &[3, 4],
        2,
        &no_rebuild,
    );
    // Slices, stacks, a weight table taken by fixed indices, a value's steps taken, where, einsum
    // (on matrix products, laid out and not, and in general).
    check_layer(
        ops_layer(&[&[6, 4], &[4, 5]], |g, x, w| {
            let s = g.slice(x, -1, 1, 2)?;
            let sq = g.square(s);
            let st = g.stack(&[s, sq], 1)?;
            let st = g.reshape(st, &[12])?;
            let idx = g.constant(&[3], vec![5.0, 0.0, 2.0])?;
            let rows = g.take(w[0], idx, 0)?;
            let picked = g.add(x, rows)?;
            let cols = g.constant(&[2], vec![3.0, 1.0])?;
            let cols = g.take(picked, cols, -1)?;
            let cols = g.reshape(cols, &[6])?;
            let mask = g.constant(&[3, 4], (0..12).map(|i| (i % 3 == 0) as u8 as f32).collect())?;
            let cube = g.multiply(sq, s)?;
            let cube = g.reshape(cube, &[6])?;
            let wh = g.where_(mask, picked, x)?;
            let wh = g.reshape(wh, &[12])?;
            let e1 = g.einsum("bij,jk->bik", x, w[1])?;
            let e1 = g.reshape(e1, &[15])?;
            let e2 = g.einsum("bij,bkj->bik", x, picked)?;
            let e2 = g.reshape(e2, &[9])?;
            // A letter summed away inside one operand: the general path, not the products.
            let e3 = g.einsum("bij,jk->bi", x, w[1])?;
            g.concatenate(&[st, cols, cube, wh, e1, e2, e3], -1)
        }),
        &[3, 4],
        2,
        &no_rebuild,
    );
    // Both products, transpose, softmax and log-softmax (self-attention's shape).
    check_layer_deep(
        ops_layer(&[&[4, 5]], |g, x, w| {
            let h = g.matmul(x, w[0])?;
            let ht = g.transpose(h, &[0, 2, 1])?;
            let scores = g.matmul(h, ht)?;
            let p = g.softmax(scores);
            let ctx = g.matmul(p, h)?;
            let flat = g.reshape(ctx, &[15])?;
            Ok(g.log_softmax(flat))
        }),
        &[3, 4],
        2,
    );
}

/// A Dense written with the ops gives the built-in Dense's outputs and gradients (the same
/// kernels in the same order: the same bits), and an op's shape mismatch is a named error when
/// the model is built.
#[test]
fn an_ops_built_dense_matches_the_built_in_one_and_shape_errors_are_named() {
    let mut rng = Rng::new(3);
    let mut ours = ops_layer(&[&[4, 3], &[3]], |g, x, w| {
        let z = g.matmul(x, w[0])?;
        let z = g.add(z, w[1])?;
        Ok(g.relu(z))
    });
    let mut theirs: Box<dyn Layer> = Box::new(Dense::new(3).activation("relu"));
    ours.build(&[4], &mut rng).unwrap();
    theirs.build(&[4], &mut rng).unwrap();
    randomize(theirs.as_mut(), 5);
    for (a, b) in ours.params_mut().iter_mut().zip(theirs.params()) {
        a.value = b.value.clone();
    }
    let x = random(&[5, 4], 9);
    let (mut y1, mut y2) = (Tensor::zeros(&[5, 3]), Tensor::zeros(&[5, 3]));
    ours.plan(5);
    theirs.plan(5);
    ours.forward(&x, &mut y1, true);
    theirs.forward(&x, &mut y2, true);
    assert_eq!(y1.data(), y2.data());
    let g = random(&[5, 3], 11);
    let (mut d1, mut d2) = (Tensor::zeros(&[5, 4]), Tensor::zeros(&[5, 4]));
    ours.backward(&x, &y1, &mut g.clone(), Some(&mut d1));
    theirs.backward(&x, &y2, &mut g.clone(), Some(&mut d2));
    assert_eq!(d1.data(), d2.data());
    for (a, b) in ours.params().iter().zip(theirs.params()) {
        assert_eq!(a.grad.data(), b.grad.data(), "{}", a.name);
    }
    // [batch, 4] · [3, 3]: named at build, with both shapes.
    let mut bad = ops_layer(&[&[3, 3]], |g, x, w| g.matmul(x, w[0]));
    bad.set_name("mixer".into());
    let e = bad.build(&[4], &mut rng).unwrap_err().to_string();
    assert!(e.contains("ops.matmul in layer 'mixer'") && e.contains("(None, 4) and (3, 3)"), "{e}");
    // stop_gradient: the value passes, the gradient does not.
    let mut stopped = ops_layer(&[], |g, x, _| {
        let s = g.stop_gradient(x);
        g.multiply(x, s)
    });
    stopped.build(&[2], &mut rng).unwrap();
    stopped.plan(1);
    let x = Tensor::from_vec(&[1, 2], vec![3.0, -2.0]).unwrap();
    let mut y = Tensor::zeros(&[1, 2]);
    stopped.forward(&x, &mut y, true);
    assert_eq!(y.data(), [9.0, 4.0]);
    let mut dx = Tensor::zeros(&[1, 2]);
    stopped.backward(&x, &y, &mut Tensor::from_vec(&[1, 2], vec![1.0, 1.0]).unwrap(), Some(&mut dx));
    assert_eq!(dx.data(), [3.0, -2.0], "x · stop_gradient(x) has gradient x, not 2x");
}

/// `take(table, ids, 0)` is an embedding lookup: Keras's `Embedding` outputs and table gradient,
/// bit for bit; an id out of range gives NaN (not a silent row); `one_hot` marks each id.
#[test]
fn take_is_an_embedding_lookup_and_one_hot_marks_ids() {
    let mut rng = Rng::new(4);
    let mut ours = ops_layer(&[&[7, 3]], |g, x, w| g.take(w[0], x, 0));
    let mut theirs: Box<dyn Layer> = Box::new(minibatch::layers::Embedding::new(7, 3));
    ours.build(&[5], &mut rng).unwrap();
    theirs.build(&[5], &mut rng).unwrap();
    randomize(theirs.as_mut(), 2);
    ours.params_mut()[0].value = theirs.params()[0].value.clone();
    let ids = Tensor::from_vec(&[2, 5], vec![0.0, 6.0, 3.0, 3.0, 1.0, 2.0, 2.0, 5.0, 0.0, 4.0]).unwrap();
    let (mut y1, mut y2) = (Tensor::zeros(&[2, 5, 3]), Tensor::zeros(&[2, 5, 3]));
    for l in [&mut ours, &mut theirs] {
        l.plan(2);
    }
    ours.forward(&ids, &mut y1, true);
    theirs.forward(&ids, &mut y2, true);
    assert_eq!(y1.data(), y2.data());
    let g = random(&[2, 5, 3], 8);
    ours.backward(&ids, &y1, &mut g.clone(), None);
    theirs.backward(&ids, &y2, &mut g.clone(), None);
    assert_eq!(ours.params()[0].grad.data(), theirs.params()[0].grad.data());
    let bad = Tensor::from_vec(&[2, 5], vec![0.0, 7.0, 3.0, -1.0, 1.5, 2.0, 2.0, 5.0, 0.0, 4.0]).unwrap();
    ours.forward(&bad, &mut y1, false);
    let nan_rows: Vec<bool> = y1.data().chunks(3).map(|r| r.iter().all(|v| v.is_nan())).collect();
    assert_eq!(nan_rows, [false, true, false, true, true, false, false, false, false, false]);
    let mut hot = ops_layer(&[], |g, x, _| Ok(g.one_hot(x, 4)));
    hot.build(&[3], &mut rng).unwrap();
    hot.plan(1);
    let x = Tensor::from_vec(&[1, 3], vec![2.0, 0.0, 9.0]).unwrap();
    let mut y = Tensor::zeros(&[1, 3, 4]);
    hot.forward(&x, &mut y, false);
    assert_eq!(y.data(), [0., 0., 1., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
    // Shapes that do not fit are named at build.
    let mut bad_einsum = ops_layer(&[&[5, 2]], |g, x, w| g.einsum("bij,jk->bik", x, w[0]));
    let e = bad_einsum.build(&[3, 4], &mut rng).unwrap_err().to_string();
    assert!(e.contains("ops.einsum") && e.contains("one size for letter 'j'"), "{e}");
    let mut bad_slice = ops_layer(&[], |g, x, _| g.slice(x, 1, 3, 4));
    let e = bad_slice.build(&[5], &mut rng).unwrap_err().to_string();
    assert!(e.contains("ops.slice") && e.contains("0..5"), "{e}");
}

/// Every op's value against a plain loop over the same numbers: a layer of that op alone run
/// forward on `x` of shape `[2, 3, 4]`, each output compared with what the loop computes (to
/// 1e-6 of its size).
#[test]
fn every_op_computes_what_a_plain_loop_computes() {
    use minibatch::ops::{Graph, Var};
    type Call = fn(&mut Graph, Var, &[Var]) -> minibatch::Result<Var>;
    type Unary = (&'static str, Call, fn(f32) -> f32);
    type Binary = (&'static str, Call, fn(f32, f32) -> f32);
    let (b, n, m) = (2usize, 3usize, 4usize);
    let xv: Vec<f32> = (0..b * n * m).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.4).collect();
    let x = Tensor::from_vec(&[b, n, m], xv.clone()).unwrap();
    let at = |s: usize, i: usize, j: usize| xv[(s * n + i) * m + j];
    // The constants the cases use: a row `c[j]`, a column `k[i]`, a matrix `w[j][o]`.
    let c = |j: usize| 0.5 + j as f32 * 0.25;
    let k = |i: usize| 1.0 - i as f32 * 0.3;
    let w = |j: usize, o: usize| ((j * 5 + o * 3) % 7) as f32 / 7.0 - 0.3;
    fn row(g: &mut Graph) -> Var {
        g.constant(&[4], (0..4).map(|j| 0.5 + j as f32 * 0.25).collect()).unwrap()
    }
    fn column(g: &mut Graph) -> Var {
        g.constant(&[3, 1], (0..3).map(|i| 1.0 - i as f32 * 0.3).collect()).unwrap()
    }
    fn matrix(g: &mut Graph) -> Var {
        g.constant(&[4, 5], (0..20).map(|i| (((i / 5) * 5 + (i % 5) * 3) % 7) as f32 / 7.0 - 0.3).collect()).unwrap()
    }
    let run = |f: Call| -> (Vec<usize>, Vec<f32>) {
        let mut layer = ops_layer(&[], f);
        let out = layer.build(&[n, m], &mut Rng::new(0)).unwrap();
        layer.plan(b);
        let shape: Vec<usize> = std::iter::once(b).chain(out.iter().copied()).collect();
        let mut y = Tensor::zeros(&shape);
        layer.forward(&x, &mut y, false);
        (out, y.data().to_vec())
    };
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{what}: sizes");
        for (i, (g, e)) in got.iter().zip(want).enumerate() {
            assert!((g - e).abs() <= 1e-6 * e.abs().max(1.0), "{what}[{i}]: {g} vs {e}");
        }
    };
    let each = |f: &dyn Fn(usize, usize, usize) -> f32| -> Vec<f32> {
        (0..b)
            .flat_map(|s| (0..n).flat_map(move |i| (0..m).map(move |j| (s, i, j))))
            .map(|(s, i, j)| f(s, i, j))
            .collect()
    };
    // Element-wise, each its formula.
    let unary: [Unary; 11] = [
        ("exp", |g, x, _| Ok(g.exp(x)), f32::exp),
        (
            "log",
            |g, x, _| {
                let s = g.square(x);
                let one = g.scalar(1.0);
                let p = g.add(s, one)?;
                Ok(g.log(p))
            },
            |v| (v * v + 1.0).ln(),
        ),
        (
            "sqrt",
            |g, x, _| {
                let s = g.square(x);
                let one = g.scalar(1.0);
                let p = g.add(s, one)?;
                Ok(g.sqrt(p))
            },
            |v| (v * v + 1.0).sqrt(),
        ),
        ("abs", |g, x, _| Ok(g.abs(x)), f32::abs),
        ("negative", |g, x, _| Ok(g.negative(x)), |v| -v),
        ("tanh", |g, x, _| Ok(g.tanh(x)), f32::tanh),
        ("sigmoid", |g, x, _| Ok(g.sigmoid(x)), |v| 1.0 / (1.0 + (-v).exp())),
        ("relu", |g, x, _| Ok(g.relu(x)), |v| v.max(0.0)),
        (
            "gelu",
            |g, x, _| Ok(g.gelu(x)),
            |v| 0.5 * v * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh()),
        ),
        ("clip", |g, x, _| Ok(g.clip(x, -0.2, 0.3)), |v| v.clamp(-0.2, 0.3)),
        ("stop_gradient", |g, x, _| Ok(g.stop_gradient(x)), |v| v),
    ];
    for (name, f, plain) in unary {
        close(name, &run(f).1, &each(&|s, i, j| plain(at(s, i, j))));
    }
    // Broadcast against a row of the last axis and a column of the middle one.
    let binary: [Binary; 6] = [
        (
            "add",
            |g, x, _| {
                let r = row(g);
                g.add(x, r)
            },
            |a, b| a + b,
        ),
        (
            "subtract",
            |g, x, _| {
                let r = row(g);
                g.subtract(x, r)
            },
            |a, b| a - b,
        ),
        (
            "multiply",
            |g, x, _| {
                let r = row(g);
                g.multiply(x, r)
            },
            |a, b| a * b,
        ),
        (
            "divide",
            |g, x, _| {
                let r = row(g);
                g.divide(x, r)
            },
            |a, b| a / b,
        ),
        (
            "maximum",
            |g, x, _| {
                let r = row(g);
                g.maximum(x, r)
            },
            f32::max,
        ),
        (
            "minimum",
            |g, x, _| {
                let r = row(g);
                g.minimum(x, r)
            },
            f32::min,
        ),
    ];
    for (name, f, plain) in binary {
        close(name, &run(f).1, &each(&|s, i, j| plain(at(s, i, j), c(j))));
    }
    let (_, y) = run(|g, x, _| {
        let col = column(g);
        g.multiply(x, col)
    });
    close("multiply by a column", &y, &each(&|s, i, j| at(s, i, j) * k(i)));
    // Reductions over each axis, kept or not.
    let (shape, y) = run(|g, x, _| g.sum(x, 1, false));
    assert_eq!(shape, [m]);
    close(
        "sum over axis 1",
        &y,
        &(0..b)
            .flat_map(|s| (0..m).map(move |j| (s, j)))
            .map(|(s, j)| (0..n).map(|i| at(s, i, j)).sum())
            .collect::<Vec<f32>>(),
    );
    let (shape, y) = run(|g, x, _| g.mean(x, -1, true));
    assert_eq!(shape, [n, 1]);
    close(
        "mean over axis -1",
        &y,
        &(0..b * n).map(|r| (0..m).map(|j| at(r / n, r % n, j)).sum::<f32>() / m as f32).collect::<Vec<f32>>(),
    );
    let (_, y) = run(|g, x, _| g.max(x, 2, false));
    close(
        "max over axis 2",
        &y,
        &(0..b * n).map(|r| (0..m).map(|j| at(r / n, r % n, j)).fold(f32::MIN, f32::max)).collect::<Vec<f32>>(),
    );
    // Products: by a matrix, and each sample by its own transpose.
    let (shape, y) = run(|g, x, _| {
        let w = matrix(g);
        g.matmul(x, w)
    });
    assert_eq!(shape, [n, 5]);
    // x · W by the loop, for matmul and for einsum.
    let product: Vec<f32> = (0..b * n * 5)
        .map(|q| {
            let (r, o) = (q / 5, q % 5);
            (0..m).map(|j| at(r / n, r % n, j) * w(j, o)).sum()
        })
        .collect();
    close("matmul", &y, &product);
    let (_, y) = run(|g, x, _| {
        let t = g.transpose(x, &[0, 2, 1])?;
        g.matmul(x, t)
    });
    close(
        "matmul per sample",
        &y,
        &(0..b * n * n)
            .map(|q| {
                let (s, i, l) = (q / (n * n), q / n % n, q % n);
                (0..m).map(|j| at(s, i, j) * at(s, l, j)).sum()
            })
            .collect::<Vec<f32>>(),
    );
    let (_, y) = run(|g, x, _| {
        let w = matrix(g);
        g.einsum("bij,jk->bik", x, w)
    });
    close("einsum", &y, &product);
    // Softmax and its log over the last axis.
    let soft = |s: usize, i: usize, j: usize| {
        let top = (0..m).map(|l| at(s, i, l)).fold(f32::MIN, f32::max);
        (at(s, i, j) - top).exp() / (0..m).map(|l| (at(s, i, l) - top).exp()).sum::<f32>()
    };
    close("softmax", &run(|g, x, _| Ok(g.softmax(x))).1, &each(&soft));
    close("log_softmax", &run(|g, x, _| Ok(g.log_softmax(x))).1, &each(&|s, i, j| soft(s, i, j).ln()));
    // Moving values: transpose, reshape, concatenate, expand_dims, stack, slice.
    let (shape, y) = run(|g, x, _| g.transpose(x, &[0, 2, 1]));
    assert_eq!(shape, [m, n]);
    close("transpose", &y, &(0..b * m * n).map(|q| at(q / (m * n), q % n, q / n % m)).collect::<Vec<f32>>());
    let (shape, y) = run(|g, x, _| g.reshape(x, &[2, -1]));
    assert_eq!(shape, [2, 6]);
    close("reshape", &y, &xv);
    let (shape, y) = run(|g, x, _| {
        let r = g.reshape(x, &[3, 4])?;
        g.concatenate(&[x, r], -1)
    });
    assert_eq!(shape, [n, 2 * m]);
    close(
        "concatenate",
        &y,
        &(0..b * n * 2 * m)
            .map(|q| {
                let (r, j) = (q / (2 * m), q % (2 * m) % m);
                at(r / n, r % n, j)
            })
            .collect::<Vec<f32>>(),
    );
    let (shape, y) = run(|g, x, _| g.expand_dims(x, 2));
    assert_eq!(shape, [n, 1, m]);
    close("expand_dims", &y, &xv);
    let (shape, y) = run(|g, x, _| {
        let t = g.tanh(x);
        g.stack(&[x, t], 1)
    });
    assert_eq!(shape, [2, n, m]);
    close(
        "stack",
        &y,
        &(0..b * 2 * n * m)
            .map(|q| {
                let (s, which, r) = (q / (2 * n * m), q / (n * m) % 2, q % (n * m));
                let v = at(s, r / m, r % m);
                if which == 0 {
                    v
                } else {
                    v.tanh()
                }
            })
            .collect::<Vec<f32>>(),
    );
    let (shape, y) = run(|g, x, _| g.slice(x, 2, 1, 2));
    assert_eq!(shape, [n, 2]);
    close("slice", &y, &(0..b * n * 2).map(|q| at(q / (n * 2), q / 2 % n, 1 + q % 2)).collect::<Vec<f32>>());
    // Indexing: rows of the matrix by fixed ids, a one-hot, a choice.
    let (shape, y) = run(|g, x, _| {
        let ids = g.constant(&[3], vec![2.0, 0.0, 3.0])?;
        g.take(x, ids, 2)
    });
    assert_eq!(shape, [n, 3]);
    close("take", &y, &(0..b * n * 3).map(|q| at(q / (n * 3), q / 3 % n, [2, 0, 3][q % 3])).collect::<Vec<f32>>());
    let (_, y) = run(|g, x, _| {
        let ids = g.constant(&[3], vec![1.0, 0.0, 3.0])?;
        let h = g.one_hot(ids, 4);
        g.add(x, h)
    });
    close("one_hot", &y, &each(&|s, i, j| at(s, i, j) + f32::from(u8::from([1, 0, 3][i] == j))));
    let (_, y) = run(|g, x, _| {
        let pos = g.relu(x);
        let r = row(g);
        g.where_(pos, x, r)
    });
    close("where_", &y, &each(&|s, i, j| if at(s, i, j) > 0.0 { at(s, i, j) } else { c(j) }));
    let (_, y) = run(|g, x, _| g.dropout(x, 0.0));
    close("dropout at rate 0", &y, &xv);
}
