//! Your own layers and losses, written with the ops: trained by `fit`, saved and loaded with
//! their registration (a named error without it), called on several inputs, frozen, and the
//! same bits for the same seed.

use crate::common::temp_dir;
use crate::ops_layers::{GatedResidual, OpsAttention, OpsLstm, SelfAttention};
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
