//! Your own layers and losses, written with the ops: trained by `fit`, saved and loaded with
//! their registration (a named error without it), called on several inputs, frozen, and the
//! same bits for the same seed.

use crate::common::temp_dir;
use crate::ops_layers::{GatedResidual, MaskedMean, OpsAttention, OpsDropout, OpsLstm, SelfAttention};
use minibatch::layers::{register_layer, Custom, CustomLayer, Dense, Weight, WeightVars, Weights};
use minibatch::losses::{register_loss, CustomLoss, OpsLoss};
use minibatch::ops::{Graph, Var};
use minibatch::{datasets, FitOptions, Model, Sequential, Tensor};

fn register() {
    register_layer("GatedResidual", |_| Ok(Box::new(GatedResidual::default()))).unwrap();
    register_layer("SelfAttention", |c| {
        let dim = c.get("dim").and_then(serde_json::Value::as_u64).unwrap_or(8) as usize;
        Ok(Box::new(SelfAttention::new(dim)))
    })
    .unwrap();
    register_loss("asymmetric_mse", |_| Ok(Box::new(AsymmetricMse))).unwrap();
}

fn moons_model() -> Model {
    Sequential::new()
        .seed(3)
        .input_shape(&[2])
        .add(Dense::new(16).activation("tanh"))
        .add(Custom::new(GatedResidual::default()))
        .add(Dense::new(2).activation("softmax"))
        .into_model()
}

fn bits(m: &Model) -> Vec<Vec<u32>> {
    m.get_weights().iter().map(|w| w.data().iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn a_custom_layer_trains_saves_loads_and_resumes_with_the_same_bits() {
    register();
    let data = datasets::load("moons", 5).unwrap();
    let opts = || FitOptions::new().batch_size(32).epochs(4).verbose(0);
    let mut m = moons_model();
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m.fit(&data.x_train, &data.y_train, opts()).unwrap();
    let loss = h.get("loss").unwrap();
    assert!(loss.last() < loss.first(), "it learns: {loss:?}");
    let summary = m.summary().unwrap();
    assert!(summary.contains("GatedResidual"), "{summary}");
    assert_eq!(m.count_params(), 2 * 16 + 16 + 3 * 16 * 16 + 16 - 16 * 16 + 16 * 2 + 2);
    // Same seed: the same bits.
    let mut again = moons_model();
    again.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h2 = again.fit(&data.x_train, &data.y_train, opts()).unwrap();
    assert_eq!(h.history, h2.history);
    assert_eq!(bits(&m), bits(&again));
    // Saved and loaded through its registration: the same predictions, then the same next
    // epochs as the model that never stopped.
    let dir = temp_dir("custom_layer_save");
    let path = dir.join("m.safetensors");
    m.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    let (a, b) = (m.predict(&data.x_test, 64).unwrap(), loaded.predict(&data.x_test, 64).unwrap());
    assert_eq!(a.data(), b.data());
    let more = || FitOptions::new().batch_size(32).epochs(2).verbose(0);
    m.fit(&data.x_train, &data.y_train, more()).unwrap();
    loaded.fit(&data.x_train, &data.y_train, more()).unwrap();
    assert_eq!(bits(&m), bits(&loaded), "resumed from the file, bit for bit");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A layer of a class nobody registered: saving works (it gives a config), loading names the
/// class and the way to register it.
#[test]
fn loading_an_unregistered_custom_layer_is_a_named_error() {
    #[derive(Clone)]
    struct Unregistered;
    impl CustomLayer for Unregistered {
        fn class_name(&self) -> &'static str {
            "NeverRegistered"
        }
        fn build(&mut self, _: &mut Weights, _: &[usize]) -> minibatch::Result<()> {
            Ok(())
        }
        fn call(&self, ops: &mut Graph, x: Var, _: &WeightVars) -> minibatch::Result<Var> {
            Ok(ops.tanh(x))
        }
        fn get_config(&self) -> Option<serde_json::Value> {
            Some(serde_json::json!({}))
        }
    }
    let mut m = Sequential::new().input_shape(&[3]).add(Custom::new(Unregistered)).add(Dense::new(1)).into_model();
    m.compile("sgd", "mse", &[]).unwrap();
    let dir = temp_dir("custom_layer_unregistered");
    let path = dir.join("m.safetensors");
    m.save(&path).unwrap();
    let e = Model::load(&path).unwrap_err().to_string();
    assert!(e.contains("NeverRegistered") && e.contains("register_layer"), "{e}");
    // A class that gives no config cannot be saved whole, by name.
    #[derive(Clone)]
    struct NoConfig;
    impl CustomLayer for NoConfig {
        fn class_name(&self) -> &'static str {
            "NoConfig"
        }
        fn build(&mut self, _: &mut Weights, _: &[usize]) -> minibatch::Result<()> {
            Ok(())
        }
        fn call(&self, ops: &mut Graph, x: Var, _: &WeightVars) -> minibatch::Result<Var> {
            Ok(ops.relu(x))
        }
    }
    let mut m = Sequential::new().input_shape(&[3]).add(Custom::new(NoConfig)).add(Dense::new(1)).into_model();
    m.compile("sgd", "mse", &[]).unwrap();
    let e = m.save(dir.join("n.safetensors")).unwrap_err().to_string();
    assert!(e.contains("NoConfig") && e.contains("gives no config"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Mean squared error, twice as hard on under-prediction, written with the ops.
struct AsymmetricMse;

impl CustomLoss for AsymmetricMse {
    fn name(&self) -> &'static str {
        "asymmetric_mse"
    }
    fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
        let e = ops.subtract(y_true, y_pred)?;
        let under = ops.relu(e);
        let sq = ops.square(e);
        let under_sq = ops.square(under);
        let total = ops.add(sq, under_sq)?;
        ops.mean(total, -1, false)
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({}))
    }
}

/// Mean squared error written with the ops.
struct OpsMse;

impl CustomLoss for OpsMse {
    fn name(&self) -> &'static str {
        "ops_mse"
    }
    fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
        let e = ops.subtract(y_pred, y_true)?;
        let sq = ops.square(e);
        ops.mean(sq, -1, false)
    }
}

fn regression() -> (Tensor, Tensor) {
    let n = 64;
    let x = Tensor::from_vec(&[n, 3], (0..n * 3).map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.5).collect()).unwrap();
    let y = Tensor::from_vec(&[n, 2], (0..n * 2).map(|i| ((i * 11) % 13) as f32 / 13.0).collect()).unwrap();
    (x, y)
}

fn regressor() -> Model {
    Sequential::new().seed(4).input_shape(&[3]).add(Dense::new(8).activation("relu")).add(Dense::new(2)).into_model()
}

/// A loss written with the ops trains as the built-in one it spells out (MSE: the History
/// within 1e-6), and a registered one saves and loads with the model; an unregistered or
/// config-less one is a named error.
#[test]
fn a_custom_loss_trains_as_the_built_in_it_spells_out_and_saves_registered() {
    register();
    let (x, y) = regression();
    let opts = || FitOptions::new().batch_size(16).epochs(5).verbose(0);
    let mut builtin = regressor();
    builtin.compile("sgd", "mse", &[]).unwrap();
    let a = builtin.fit(&x, &y, opts()).unwrap();
    let mut ours = regressor();
    ours.compile("sgd", OpsLoss::new(OpsMse), &[]).unwrap();
    let b = ours.fit(&x, &y, opts()).unwrap();
    for (p, q) in a.get("loss").unwrap().iter().zip(b.get("loss").unwrap()) {
        assert!((p - q).abs() <= 1e-6 * p.abs().max(1.0), "{p} vs {q}");
    }
    // Registered: saved and loaded with the model.
    let dir = temp_dir("custom_loss_save");
    let mut m = regressor();
    m.compile("adam", OpsLoss::new(AsymmetricMse), &[]).unwrap();
    m.fit(&x, &y, opts()).unwrap();
    m.save(dir.join("m.safetensors")).unwrap();
    let loaded = Model::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(loaded.loss().unwrap().name(), "asymmetric_mse");
    // No config: saving names the loss.
    let e = ours.save(dir.join("n.safetensors")).unwrap_err().to_string();
    assert!(e.contains("ops_mse"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two inputs into one custom layer of a functional model (Keras's `call([a, b])`), and a
/// frozen custom layer that `fit` leaves as it was.
#[test]
fn a_custom_layer_takes_several_inputs_and_freezes() {
    #[derive(Clone)]
    struct Bilinear {
        w: Option<Weight>,
    }
    impl CustomLayer for Bilinear {
        fn class_name(&self) -> &'static str {
            "Bilinear"
        }
        fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
            self.w = Some(w.add_weight("kernel", &[input_shape[0], 4], "glorot_uniform")?);
            Ok(())
        }
        fn call(&self, _: &mut Graph, _: Var, _: &WeightVars) -> minibatch::Result<Var> {
            unreachable!("called with two inputs")
        }
        fn call_many(&self, ops: &mut Graph, xs: &[Var], w: &WeightVars) -> minibatch::Result<Var> {
            let a = ops.matmul(xs[0], w[self.w.unwrap()])?;
            let b = ops.concatenate(&[xs[1], xs[1]], -1)?;
            ops.multiply(a, b)
        }
    }
    use minibatch::models::{Call, Input};
    let a = Input::named("a", &[3]);
    let b = Input::named("b", &[2]);
    let h = Custom::new(Bilinear { w: None }).call([&a, &b]);
    let out = Dense::new(1).call(&h);
    let mut m = Model::new(&[&a, &b], &[&out]).unwrap();
    m.get_layer_mut(m.layers()[0].name().to_string().as_str()).unwrap().set_trainable(false);
    m.compile("sgd", "mse", &[]).unwrap();
    let xa = Tensor::from_vec(&[8, 3], (0..24).map(|i| i as f32 / 24.0).collect()).unwrap();
    let xb = Tensor::from_vec(&[8, 2], (0..16).map(|i| 1.0 - i as f32 / 16.0).collect()).unwrap();
    let y = Tensor::from_vec(&[8, 1], (0..8).map(|i| i as f32 / 8.0).collect()).unwrap();
    let frozen = m.layers()[0].params()[0].value.data().to_vec();
    let before = m.layers()[1].params()[0].value.data().to_vec();
    m.fit(&[&xa, &xb][..], &y, FitOptions::new().batch_size(4).epochs(2).verbose(0)).unwrap();
    assert_eq!(m.layers()[0].params()[0].value.data(), frozen, "frozen: unchanged");
    assert_ne!(m.layers()[1].params()[0].value.data(), before, "the head trains");
}

/// The largest difference between two tensors' values, relative to their scale.
fn gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0)).fold(0.0, f32::max)
}

/// An LSTM and a MultiHeadAttention written with the ops give the built-in layers' outputs and
/// gradients (input and every weight) to 1e-5, and a whole `fit`'s History within 1e-5.
#[test]
fn an_lstm_and_attention_written_with_ops_match_the_built_in_layers() {
    use minibatch::layers::{Layer, MultiHeadAttention, LSTM};
    use minibatch::rng::Rng;
    let (steps, features) = (5, 3);
    // The built-in layer and its spelling with the ops.
    let pair = |name: &str| -> [Box<dyn Layer>; 2] {
        match name {
            "LSTM" => [Box::new(LSTM::new(4)), Box::new(Custom::new(OpsLstm::new(4)))],
            _ => [Box::new(MultiHeadAttention::new(2, 3)), Box::new(Custom::new(OpsAttention::new(2, 3)))],
        }
    };
    let x = Tensor::from_vec(&[4, steps, features], (0..60).map(|i| ((i * 37) % 23) as f32 / 23.0 - 0.5).collect())
        .unwrap();
    for name in ["LSTM", "MultiHeadAttention"] {
        let [mut theirs, mut ours] = pair(name);
        let mut rng = Rng::new(5);
        let out = theirs.build(&[steps, features], &mut rng).unwrap();
        assert_eq!(ours.build(&[steps, features], &mut rng).unwrap(), out, "{name}");
        // Weights of the built-in's drawing, the biases moved off zero.
        for (i, (mine, theirs)) in ours.params_mut().iter_mut().zip(theirs.params_mut()).enumerate() {
            assert_eq!(mine.value.shape(), theirs.value.shape(), "{name}: weight {i}");
            let moved: Vec<f32> =
                theirs.value.data().iter().enumerate().map(|(j, v)| v + 0.05 * ((i + j) % 5) as f32 - 0.1).collect();
            theirs.value = Tensor::from_vec(theirs.value.shape(), moved).unwrap();
            mine.value = theirs.value.clone();
        }
        let shape: Vec<usize> = std::iter::once(4).chain(out.iter().copied()).collect();
        let (mut y1, mut y2) = (Tensor::zeros(&shape), Tensor::zeros(&shape));
        ours.plan(4);
        theirs.plan(4);
        theirs.forward(&x, &mut y1, true);
        ours.forward(&x, &mut y2, true);
        assert!(gap(y1.data(), y2.data()) < 1e-5, "{name} outputs: {}", gap(y1.data(), y2.data()));
        let g = Tensor::from_vec(&shape, (0..y1.len()).map(|i| ((i * 13) % 7) as f32 / 7.0 - 0.4).collect()).unwrap();
        let (mut d1, mut d2) = (Tensor::zeros(x.shape()), Tensor::zeros(x.shape()));
        theirs.backward(&x, &y1, &mut g.clone(), Some(&mut d1));
        ours.backward(&x, &y2, &mut g.clone(), Some(&mut d2));
        assert!(gap(d1.data(), d2.data()) < 1e-5, "{name} input gradient: {}", gap(d1.data(), d2.data()));
        for (a, b) in theirs.params().iter().zip(ours.params()) {
            let gp = gap(a.grad.data(), b.grad.data());
            assert!(gp < 1e-5, "{name} gradient of {}: {gp}", a.name);
        }
    }
    // A whole fit: the same History within 1e-5.
    let n = 48;
    let xs =
        Tensor::from_vec(&[n, steps, features], (0..n * 15).map(|i| ((i * 29) % 31) as f32 / 31.0 - 0.5).collect())
            .unwrap();
    let ys = Tensor::from_vec(&[n, 1], (0..n).map(|i| (i % 5) as f32 / 5.0).collect()).unwrap();
    let fit = |layer: Box<dyn Layer>, weights: Option<Vec<Tensor>>| {
        let mut m = Sequential::new().seed(2).input_shape(&[steps, features]);
        m.push(layer);
        let mut m = m.add(minibatch::layers::Flatten::new()).add(Dense::new(1)).into_model();
        m.compile("adam", "mse", &[]).unwrap();
        if let Some(w) = weights {
            m.set_weights(&w).unwrap();
        }
        let h = m.fit(&xs, &ys, FitOptions::new().batch_size(16).epochs(3).verbose(0)).unwrap();
        (h.get("loss").unwrap().to_vec(), m.get_weights())
    };
    for name in ["LSTM", "MultiHeadAttention"] {
        let [probe_layer, _] = pair(name);
        let mut probe = Sequential::new().seed(2).input_shape(&[steps, features]);
        probe.push(probe_layer);
        let mut probe = probe.add(minibatch::layers::Flatten::new()).add(Dense::new(1)).into_model();
        probe.compile("adam", "mse", &[]).unwrap();
        let [builtin, ops] = pair(name);
        let start = probe.get_weights();
        let (a, _) = fit(builtin, Some(start.clone()));
        let (b, _) = fit(ops, Some(start));
        let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs() / p.abs().max(1e-3)).fold(0.0, f64::max);
        assert!(worst < 1e-5, "{name}: History {a:?} vs {b:?} (relative {worst:e})");
    }
}

/// `ops.dropout` under `ops.training()` (Keras's `if training: keras.random.dropout(...)`):
/// the layer is recorded for training and for inference; a fit draws the masks the built-in
/// `Dropout` draws, so the Histories and weights are the same bits; inference drops nothing;
/// the generator's place is saved, so a resumed fit draws what an unbroken one would.
#[test]
fn a_dropout_written_with_ops_is_the_dropout_layer_bit_for_bit() {
    use minibatch::layers::{Dropout, Layer};
    register_layer("OpsDropout", |c| {
        Ok(Box::new(OpsDropout { rate: c.get("rate").and_then(serde_json::Value::as_f64).unwrap_or(0.5) as f32 }))
    })
    .unwrap();
    let data = datasets::load("moons", 6).unwrap();
    let model = |dropout: Box<dyn Layer>| {
        let mut m = Sequential::new().seed(4).input_shape(&[2]).add(Dense::new(32).activation("relu"));
        m.push(dropout);
        let mut m = m.add(Dense::new(2).activation("softmax")).into_model();
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        m
    };
    let opts = || FitOptions::new().batch_size(16).epochs(3).validation_split(0.2).verbose(0);
    let mut theirs = model(Box::new(Dropout::new(0.4)));
    let mut ours = model(Box::new(Custom::new(OpsDropout { rate: 0.4 })));
    let a = theirs.fit(&data.x_train, &data.y_train, opts()).unwrap();
    let b = ours.fit(&data.x_train, &data.y_train, opts()).unwrap();
    assert_eq!(a.history, b.history);
    assert_eq!(bits(&theirs), bits(&ours));
    // Inference drops nothing: the same predictions twice, and the built-in's.
    let p = ours.predict(&data.x_test, 64).unwrap();
    assert_eq!(p.data(), ours.predict(&data.x_test, 64).unwrap().data());
    assert_eq!(p.data(), theirs.predict(&data.x_test, 64).unwrap().data());
    // Saved (with its generator's place) and resumed: the same next epochs.
    let dir = temp_dir("ops_dropout_resume");
    let path = dir.join("m.safetensors");
    ours.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    let more = || FitOptions::new().batch_size(16).epochs(2).verbose(0);
    ours.fit(&data.x_train, &data.y_train, more()).unwrap();
    loaded.fit(&data.x_train, &data.y_train, more()).unwrap();
    assert_eq!(bits(&ours), bits(&loaded), "resumed from the file, bit for bit");
    std::fs::remove_dir_all(dir).unwrap();
    // A rate outside [0, 1) is named when the model is built.
    let mut bad = Sequential::new().input_shape(&[2]).add(Custom::new(OpsDropout { rate: 1.5 })).into_model();
    let e = bad.compile("adam", "mse", &[]).unwrap_err().to_string();
    assert!(e.contains("ops.dropout rate") && e.contains("1.5"), "{e}");
}

/// Masks reach a custom layer as Keras's `call(inputs, mask=None)`: a masked mean over the
/// steps gives the built-in `GlobalAveragePooling1D`'s outputs after an `Embedding` with
/// `mask_zero`, and the same History; a step-wise layer (`MaskRule::Pass`) hands the mask on
/// to an LSTM as the built-in `Dropout` does.
#[test]
fn masks_reach_custom_layers_and_pass_through_them() {
    use minibatch::layers::{Dropout, Embedding, GlobalAveragePooling1D, Layer, LSTM};
    let n = 40;
    // Sequences of 6 token ids padded with 0 at the end, 2 to 6 real steps.
    let ids: Vec<f32> =
        (0..n * 6).map(|i| if i % 6 < 2 + (i / 6) % 5 { (1 + (i * 7) % 9) as f32 } else { 0.0 }).collect();
    let x = Tensor::from_vec(&[n, 6], ids).unwrap();
    let y = Tensor::from_vec(&[n, 1], (0..n).map(|i| (i % 3) as f32 / 3.0).collect()).unwrap();
    let model = |pool: Box<dyn Layer>, recurrent: bool| {
        let mut m = Sequential::new().seed(8).input_shape(&[6]).add(Embedding::new(10, 4).mask_zero(true));
        if recurrent {
            m.push(pool);
            m = m.add(LSTM::new(3));
        } else {
            m.push(pool);
        }
        let mut m = m.add(Dense::new(1)).into_model();
        m.compile("adam", "mse", &[]).unwrap();
        m
    };
    let fit = |mut m: Model| {
        let h = m.fit(&x, &y, FitOptions::new().batch_size(8).epochs(3).verbose(0)).unwrap();
        (m.predict(&x, 16).unwrap(), h.get("loss").unwrap().to_vec())
    };
    let (p1, h1) = fit(model(Box::new(GlobalAveragePooling1D::new()), false));
    let (p2, h2) = fit(model(Box::new(Custom::new(MaskedMean)), false));
    assert!(gap(p1.data(), p2.data()) < 1e-5, "predictions: {}", gap(p1.data(), p2.data()));
    assert!(h1.iter().zip(&h2).all(|(a, b)| (a - b).abs() < 1e-5), "{h1:?} vs {h2:?}");
    // Without the mask the mean takes the padding too: a different model.
    let mut plain = Sequential::new().seed(8).input_shape(&[6]).add(Embedding::new(10, 4));
    plain.push(Box::new(Custom::new(MaskedMean)));
    let mut plain = plain.add(Dense::new(1)).into_model();
    plain.compile("adam", "mse", &[]).unwrap();
    let (p3, _) = fit(plain);
    assert!(gap(p1.data(), p3.data()) > 1e-3, "the padding counts without a mask");
    // Passed on: an LSTM after the custom step-wise layer skips the padding as after Dropout.
    let (p4, h4) = fit(model(Box::new(Dropout::new(0.0)), true));
    let (p5, h5) = fit(model(Box::new(Custom::new(OpsDropout { rate: 0.0 })), true));
    assert!(gap(p4.data(), p5.data()) < 1e-6, "predictions: {}", gap(p4.data(), p5.data()));
    assert!(h4.iter().zip(&h5).all(|(a, b)| (a - b).abs() < 1e-6), "{h4:?} vs {h5:?}");
}

/// Keras's `add_weight` arguments: a kernel with an L2 penalty and a non-negative constraint,
/// and a fixed scale (`trainable=False`) that takes no update, counts as non-trainable in the
/// summary and is saved and loaded with the layer.
#[test]
fn add_weight_takes_a_penalty_a_constraint_and_trainable() {
    use crate::ops_layers::ScaledDense;
    register_layer("ScaledDense", |c| {
        Ok(Box::new(ScaledDense::new(c.get("units").and_then(serde_json::Value::as_u64).unwrap_or(1) as usize)))
    })
    .unwrap();
    use minibatch::constraints::Constraint;
    use minibatch::layers::State;
    use minibatch::regularizers::Regularizer;
    let (x, y) = regression();
    let opts = || FitOptions::new().batch_size(16).epochs(4).verbose(0);
    // With its scale at 1, the layer is a Dense without bias with the same penalty and
    // constraint: the same History and kernel.
    let mut dense = Sequential::new()
        .seed(1)
        .input_shape(&[3])
        .add(
            Dense::new(2)
                .use_bias(false)
                .kernel_regularizer(Regularizer::L2 { l2: 0.01 })
                .kernel_constraint(Constraint::NonNeg),
        )
        .into_model();
    let mut ours = Sequential::new().seed(1).input_shape(&[3]).add(Custom::new(ScaledDense::new(2))).into_model();
    for m in [&mut dense, &mut ours] {
        m.compile("sgd", "mse", &[]).unwrap();
    }
    let a = dense.fit(&x, &y, opts()).unwrap();
    let b = ours.fit(&x, &y, opts()).unwrap();
    for (p, q) in a.get("loss").unwrap().iter().zip(b.get("loss").unwrap()) {
        assert!((p - q).abs() <= 1e-6 * p.abs().max(1.0), "{p} vs {q}");
    }
    assert_eq!(ours.get_weights().len(), 1, "one trainable weight");
    assert!(gap(dense.get_weights()[0].data(), ours.get_weights()[0].data()) < 1e-6);
    assert!(ours.get_weights()[0].data().iter().all(|&w| w >= 0.0), "the constraint holds");
    // The fixed scale: untouched by fit, non-trainable in the summary, saved and loaded.
    let layer = ours.layers()[0].name().to_string();
    let state = ours.get_layer(&layer).unwrap().state();
    assert!(matches!(&state[..], [("scale", State::F32(t))] if t.data() == [1.0, 1.0]), "{:?}", state.len());
    let summary = ours.summary().unwrap();
    assert!(summary.contains("Non-trainable params: 2"), "{summary}");
    let half = State::F32(Tensor::from_vec(&[2], vec![0.5, 2.0]).unwrap());
    ours.get_layer_mut(&layer).unwrap().set_state("scale", &half).unwrap();
    let dir = temp_dir("custom_fixed_weight");
    ours.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Model::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(ours.predict(&x, 64).unwrap().data(), loaded.predict(&x, 64).unwrap().data());
    std::fs::remove_dir_all(dir).unwrap();
    // A constraint on axes the weight lacks is named when the model is built.
    let wrong = minibatch::layers::WeightOptions::new()
        .constraint(Constraint::unit_norm().axis(minibatch::constraints::Axes::One(5)));
    let mut w = minibatch::layers::Weights::default();
    assert!(w.add_weight_with("kernel", &[3, 2], wrong).is_err());
}

/// Mean absolute error written with the ops, as a metric (Keras's metric function).
struct OpsMae;

impl minibatch::metrics::CustomMetric for OpsMae {
    fn name(&self) -> &'static str {
        "ops_mae"
    }
    fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
        let e = ops.subtract(y_pred, y_true)?;
        let a = ops.abs(e);
        ops.mean(a, -1, false)
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({}))
    }
}

/// A metric written with the ops reports the built-in one it spells out (MAE: the History
/// within 1e-6, plain and under `weighted_metrics` with sample weights, validation too); a
/// registered one saves and loads with the model, an unregistered one is a named error on
/// `load`, and a `call` that does not reduce to one value per sample is named before `fit`
/// starts.
#[test]
fn a_custom_metric_reports_the_built_in_it_spells_out_and_saves_registered() {
    use minibatch::metrics::{register_metric, OpsMetric};
    use minibatch::CompileOptions;
    let (x, y) = regression();
    let w: Vec<f32> = (0..x.batch()).map(|i| 0.5 + (i % 3) as f32).collect();
    let mut m = regressor();
    let options = CompileOptions::new()
        .metrics(&["mae"])
        .metric(OpsMetric::new(OpsMae))
        .weighted_metrics(&["mae"])
        .weighted_metric(OpsMetric::new(OpsMae));
    m.compile_with("adam", "mse", options).unwrap();
    let opts = FitOptions::new().batch_size(16).epochs(3).validation_split(0.25).sample_weight(&w).verbose(0);
    let h = m.fit(&x, &y, opts).unwrap();
    for (builtin, ours) in [("mae", "ops_mae"), ("weighted_mae", "weighted_ops_mae"), ("val_mae", "val_ops_mae")] {
        let (a, b) = (h.get(builtin).unwrap(), h.get(ours).unwrap_or_else(|| panic!("{ours}: {:?}", h.history)));
        assert!(
            a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-6 * p.abs().max(1.0)),
            "{builtin} {a:?} vs {ours} {b:?}"
        );
    }
    // Saved and loaded with its registration; without it, a named error.
    let dir = temp_dir("custom_metric_save");
    m.save(dir.join("m.safetensors")).unwrap();
    let e = Model::load(dir.join("m.safetensors")).unwrap_err().to_string();
    assert!(e.contains("ops_mae") && e.contains("register_metric"), "{e}");
    register_metric("ops_mae", |_| Ok(Box::new(OpsMae))).unwrap();
    let mut loaded = Model::load(dir.join("m.safetensors")).unwrap();
    let a = m.evaluate(&x, &y, 16).unwrap();
    let b = loaded.evaluate(&x, &y, 16).unwrap();
    assert_eq!(a.get("ops_mae"), b.get("ops_mae"));
    std::fs::remove_dir_all(dir).unwrap();
    // A value per output, not per sample: named before any work.
    struct NotReduced;
    impl minibatch::metrics::CustomMetric for NotReduced {
        fn name(&self) -> &'static str {
            "not_reduced"
        }
        fn call(&self, ops: &mut Graph, y_true: Var, y_pred: Var) -> minibatch::Result<Var> {
            ops.subtract(y_pred, y_true)
        }
    }
    let mut bad = regressor();
    bad.compile_with("adam", "mse", CompileOptions::new().metric(OpsMetric::new(NotReduced))).unwrap();
    let e = bad.fit(&x, &y, FitOptions::new().epochs(1).verbose(0)).unwrap_err().to_string();
    assert!(e.contains("not_reduced") && e.contains("one value per sample"), "{e}");
}

/// A stack of `depth` tanh layers (`x ← tanh(x · Wᵢ)`), with a dropout before each in
/// training when `dropout`.
#[derive(Clone)]
struct DeepTanh {
    depth: usize,
    dropout: bool,
    w: Vec<Weight>,
}

impl CustomLayer for DeepTanh {
    fn class_name(&self) -> &'static str {
        "DeepTanh"
    }
    fn build(&mut self, weights: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let f = input_shape[input_shape.len() - 1];
        self.w = (0..self.depth)
            .map(|_| weights.add_weight("kernel", &[f, f], "glorot_uniform"))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let mut h = x;
        for &k in &self.w {
            if self.dropout && ops.training() {
                h = ops.dropout(h, 0.3)?;
            }
            let z = ops.matmul(h, w[k])?;
            h = ops.tanh(z);
        }
        Ok(h)
    }
}

/// Buffers are shared by lifetime: a recording run forward only (inference) keeps a handful
/// of values, not one per op, and the backward pass hands gradient buffers on; the inference
/// recording of a layer that drops out in training predicts what the same layer without the
/// dropout predicts, bit for bit.
#[test]
fn buffers_are_shared_by_lifetime() {
    use minibatch::ops::Program;
    let (depth, width, batch) = (8, 64, 32);
    let record = || {
        let mut g = Graph::new();
        let x = g.input(&[width]);
        let mut h = x;
        for i in 0..depth {
            let c =
                g.constant(&[width, width], (0..width * width).map(|j| ((i + j) % 7) as f32 / 70.0).collect()).unwrap();
            let z = g.matmul(h, c).unwrap();
            h = g.tanh(z);
        }
        (g, h)
    };
    let one = 4 * batch * width; // the bytes of one value
    let (g, y) = record();
    let inference = Program::forward_only(g, y, batch).buffer_bytes();
    let (g, y) = record();
    let training = Program::new(g, y, batch).buffer_bytes();
    // Forward only: the result and two values in turn. Training: the 2·depth values the
    // backward pass reads, and four gradients (the result's, the input's, two in turn).
    assert!(inference <= 3 * one, "inference: {inference} bytes, {} values", inference / one);
    assert!(training <= (2 * depth + 4) * one, "training: {training} bytes, {} values", training / one);
    // The same predictions through the inference recording as through the training one.
    let model = |dropout: bool| {
        let mut m = Sequential::new()
            .seed(2)
            .input_shape(&[width])
            .add(Custom::new(DeepTanh { depth, dropout, w: Vec::new() }))
            .into_model();
        m.compile("sgd", "mse", &[]).unwrap();
        m
    };
    let (mut with, mut without) = (model(true), model(false));
    let x =
        Tensor::from_vec(&[batch, width], (0..batch * width).map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5).collect())
            .unwrap();
    assert_eq!(with.predict(&x, batch).unwrap().data(), without.predict(&x, batch).unwrap().data());
    let bytes = |m: &Model| m.layers()[0].workspace_bytes();
    // The dropouts' values and masks in training, and three values for inference.
    assert!(bytes(&with) <= bytes(&without) + (2 * depth + 3) * one, "{} vs {}", bytes(&with), bytes(&without));
}

/// A custom layer that makes a NaN (the log of negative inputs, from the 5th sample on) stops a
/// fit under `TerminateOnNaN` right after that batch, as a built-in layer's would.
#[test]
fn a_nan_from_a_custom_layer_follows_terminate_on_nan() {
    use minibatch::callbacks::TerminateOnNaN;
    #[derive(Clone)]
    struct Log;
    impl CustomLayer for Log {
        fn class_name(&self) -> &'static str {
            "Log"
        }
        fn build(&mut self, _: &mut Weights, _: &[usize]) -> minibatch::Result<()> {
            Ok(())
        }
        fn call(&self, ops: &mut Graph, x: Var, _: &WeightVars) -> minibatch::Result<Var> {
            Ok(ops.log(x))
        }
    }
    let x = Tensor::from_vec(&[12, 2], (0..24).map(|i| if i < 8 { 1.0 + i as f32 } else { -1.0 }).collect()).unwrap();
    let y = Tensor::zeros(&[12, 1]);
    let mut m = Sequential::new().input_shape(&[2]).add(Custom::new(Log)).add(Dense::new(1)).into_model();
    m.compile("sgd", "mse", &[]).unwrap();
    let mut stop = TerminateOnNaN::new();
    let options = FitOptions::new().batch_size(2).epochs(3).shuffle(false).verbose(0).callback(&mut stop);
    let h = m.fit(&x, &y, options).unwrap();
    assert_eq!(stop.terminated_at(), Some(2), "the third batch (samples 4 and 5) is the first with a NaN");
    assert_eq!(h.epochs_run(), 1);
}
