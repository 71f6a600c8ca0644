//! Keras 3's weights files (`.weights.h5`) and model files (`.keras`), both ways, against files Keras itself wrote
//! (`tests/fixtures/make_keras_files.py`): the same model built here loads them and predicts
//! what Keras predicted; minibatch writes them back so that they reload with the same bits (and
//! Keras loads them: the script's `--check` mode, run where Keras is installed).

use crate::common::temp_dir;
use minibatch::layers::{BatchNormalization, Conv2D, Dense, Embedding, Flatten, MaxPooling2D, LSTM};
use minibatch::{Model, Sequential, Tensor};
use serde_json::Value;

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_files")
}

fn recorded() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("outputs.json")).unwrap()).unwrap()
}

/// The fixture models built here (the rest are read whole from their `.keras` files).
const BUILT_HERE: [&str; 5] = ["mlp", "convnet", "sequence", "two_heads", "two_features"];

/// Every model the fixture script records: each test walks this list, so a fixture that goes
/// missing fails by name rather than leaving a loop with nothing to check.
const ALL_MODELS: [&str; 12] = [
    "mlp",
    "convnet",
    "sequence",
    "two_heads",
    "two_features",
    "attention",
    "shared",
    "nested",
    "nested_twice",
    "masked_attention",
    "time_distributed",
    "custom_layer",
];

/// The fixture's layer of one's own, `GatedResidual`, registered under its Keras class name
/// (minibatch's port, written with the ops: `tests/support/ops_layers.rs`).
fn register() {
    minibatch::layers::register_layer("GatedResidual", |_| Ok(Box::new(crate::ops_layers::GatedResidual::default())))
        .unwrap();
}

/// A fixture model as minibatch builds it: in code for [`BUILT_HERE`], else from its
/// `.keras` file.
fn fresh(name: &str) -> Model {
    if BUILT_HERE.contains(&name) {
        model(name)
    } else {
        Model::load_keras(fixtures().join(format!("{name}.keras"))).unwrap()
    }
}

/// The fixture script's models, built here with minibatch's own layer names (Keras's files
/// address layers by class and position, not name).
fn model(name: &str) -> Model {
    let m = match name {
        "mlp" => Sequential::new()
            .input_shape(&[4])
            .add(Dense::new(8).activation("relu"))
            .add(BatchNormalization::new())
            .add(Dense::new(3).activation("softmax")),
        "convnet" => Sequential::new()
            .input_shape(&[6, 6, 1])
            .add(Conv2D::new(4, 3).activation("relu"))
            .add(MaxPooling2D::new(2))
            .add(Flatten::new())
            .add(Dense::new(2)),
        "sequence" => {
            Sequential::new().input_shape(&[5]).add(Embedding::new(10, 4)).add(LSTM::new(4)).add(Dense::new(2))
        }
        "two_heads" => {
            use minibatch::layers::{Concatenate, Dropout};
            use minibatch::models::{Call, Input};
            let a = Input::named("a", &[4]);
            let b = Input::named("b", &[3]);
            let ha = Dense::new(5).activation("relu").call(&a);
            let hb = Dense::new(5).activation("tanh").call(&b);
            let h = Dropout::new(0.3).call(&Concatenate::new().call([&ha, &hb]));
            let digit = Dense::new(3).activation("softmax").name("digit").call(&h);
            let even = Dense::new(1).activation("sigmoid").name("even").call(&h);
            let mut m = Model::new(&[&a, &b], &[&digit, &even]).unwrap();
            m.compile("sgd", minibatch::models::Losses::each(&["mse", "mse"]), &[]).unwrap();
            return m;
        }
        "two_features" => Sequential::new()
            .input_shape(&[2])
            .add(Dense::new(16).activation("relu"))
            .add(Dense::new(2).activation("softmax")),
        other => panic!("no model {other}"),
    };
    let mut m = m.into_model();
    m.compile("sgd", "mse", &[]).unwrap();
    m
}

fn tensor(v: &Value) -> Tensor {
    fn flat(v: &Value, out: &mut Vec<f32>, shape: &mut Vec<usize>, depth: usize) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                items.iter().for_each(|x| flat(x, out, shape, depth + 1));
            }
            x => out.push(x.as_f64().unwrap() as f32),
        }
    }
    let (mut data, mut shape) = (Vec::new(), Vec::new());
    flat(v, &mut data, &mut shape, 0);
    Tensor::from_vec(&shape, data).unwrap()
}

/// A case's inputs and Keras's outputs.
fn case_tensors(case: &Value) -> (Vec<Tensor>, Vec<Tensor>) {
    let list = |k: &str| case[k].as_array().unwrap().iter().map(tensor).collect();
    (list("inputs"), list("outputs"))
}

/// The largest difference between `m`'s predictions on `xs` and `want`.
fn worst(m: &mut Model, xs: &[Tensor], want: &[Tensor]) -> f32 {
    let refs: Vec<&Tensor> = xs.iter().collect();
    let got = m.predict_outputs(&refs[..], 8).unwrap();
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f32;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.shape(), w.shape());
        worst = g.data().iter().zip(w.data()).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
    }
    worst
}

#[test]
fn keras_weights_files_load_and_predict_as_keras() {
    let r = recorded();
    for name in BUILT_HERE {
        let case = &r["models"][name];
        let mut m = model(name);
        m.load_weights(fixtures().join(format!("{name}.weights.h5"))).unwrap();
        let (xs, want) = case_tensors(case);
        let w = worst(&mut m, &xs, &want);
        assert!(w < 1e-5, "{name}: predictions differ from Keras {} by {w}", r["keras"]);
    }
}

#[test]
fn keras_model_files_load_with_their_architecture_weights_and_compile() {
    register();
    let r = recorded();
    assert_eq!(r["models"].as_object().unwrap().len(), ALL_MODELS.len(), "the fixtures are the models listed here");
    for name in ALL_MODELS {
        let case = &r["models"][name];
        let mut m = Model::load_keras(fixtures().join(format!("{name}.keras"))).unwrap();
        let (xs, want) = case_tensors(case);
        let w = worst(&mut m, &xs, &want);
        assert!(w < 1e-5, "{name}: predictions differ from Keras {} by {w}", r["keras"]);
        assert_eq!(m.optimizer().unwrap().name(), "adam", "{name}: Keras's compile_config came along");
        assert_eq!(m.loss().unwrap().name(), "mean_squared_error", "{name}");
        // Trainable as it stands: one step runs.
        let ys: Vec<Tensor> = want.clone();
        let (xr, yr): (Vec<&Tensor>, Vec<&Tensor>) = (xs.iter().collect(), ys.iter().collect());
        m.train_on_batch(&xr[..], &yr[..]).unwrap();
    }
}

#[test]
fn minibatch_writes_keras_weights_that_read_back_with_the_same_bits() {
    register();
    let dir = match std::env::var_os("MINIBATCH_KEEP_KERAS_FILES") {
        Some(d) => std::path::PathBuf::from(d),
        None => temp_dir("keras_weights_round_trip"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let r = recorded();
    let mut ours = serde_json::Map::new();
    for (i, name) in ALL_MODELS.into_iter().enumerate() {
        let case = &r["models"][name];
        // Weights of minibatch's own drawing (seeded), or Keras's, moved off what Keras wrote.
        let mut m = fresh(name);
        let (xs, _) = case_tensors(case);
        let xr: Vec<&Tensor> = xs.iter().collect();
        let y = m.predict_outputs(&xr[..], 8).unwrap();
        let noisy: Vec<Tensor> = m
            .get_weights()
            .iter()
            .enumerate()
            .map(|(j, w)| {
                Tensor::from_vec(w.shape(), w.data().iter().map(|v| v + 0.01 * (i + j) as f32).collect()).unwrap()
            })
            .collect();
        m.set_weights(&noisy).unwrap();
        let path = dir.join(format!("{name}.weights.h5"));
        m.save_weights(&path).unwrap();
        let mut back = fresh(name);
        back.load_weights(&path).unwrap();
        for (a, b) in m.get_weights().iter().zip(back.get_weights()) {
            assert_eq!(
                a.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
        let out = m.predict_outputs(&xr[..], 8).unwrap();
        assert_ne!(out[0].data(), y[0].data());
        let again = back.predict_outputs(&xr[..], 8).unwrap();
        for (a, b) in again.iter().zip(&out) {
            assert_eq!(a.data(), b.data(), "{name}");
        }
        // The whole model as a .keras file, and back.
        let keras_path = dir.join(format!("{name}.keras"));
        m.save_keras(&keras_path).unwrap();
        let mut whole = Model::load_keras(&keras_path).unwrap();
        for (a, b) in whole.predict_outputs(&xr[..], 8).unwrap().iter().zip(&out) {
            assert_eq!(a.data(), b.data(), "{name} through .keras");
        }
        let rows =
            |t: &Tensor| -> Vec<Vec<f32>> { t.data().chunks(t.len() / t.batch()).map(<[f32]>::to_vec).collect() };
        let outputs: Vec<_> = out.iter().map(rows).collect();
        ours.insert(name.to_string(), serde_json::json!({ "inputs": case["inputs"], "outputs": outputs }));
    }
    std::fs::write(dir.join("outputs.json"), serde_json::to_string(&ours).unwrap()).unwrap();
    if std::env::var_os("MINIBATCH_KEEP_KERAS_FILES").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn keras_weights_files_that_do_not_fit_are_named_errors() {
    let dir = temp_dir("keras_weights_bad");
    // Another architecture: the mlp's file into the convnet.
    let mut conv = model("convnet");
    let e = conv.load_weights(fixtures().join("mlp.weights.h5")).unwrap_err().to_string();
    assert!(e.contains("mlp.weights.h5") && e.contains("does not have"), "{e}");
    // A wider Dense: the shape is named, and nothing changed.
    let mut wide = Sequential::new()
        .input_shape(&[4])
        .add(Dense::new(9).activation("relu"))
        .add(BatchNormalization::new())
        .add(Dense::new(3))
        .into_model();
    wide.build(&[4]).unwrap();
    let before = wide.get_weights();
    let e = wide.load_weights(fixtures().join("mlp.weights.h5")).unwrap_err().to_string();
    assert!(e.contains("layers/dense/vars/0") && e.contains("[4, 8]") && e.contains("[4, 9]"), "{e}");
    assert_eq!(wide.get_weights(), before);
    // Not HDF5, truncated, empty.
    let whole = std::fs::read(fixtures().join("mlp.weights.h5")).unwrap();
    for (what, bytes) in [
        ("text", b"not an hdf5 file".to_vec()),
        ("truncated", whole[..whole.len() / 3].to_vec()),
        ("empty", Vec::new()),
    ] {
        let path = dir.join(format!("{what}.weights.h5"));
        std::fs::write(&path, &bytes).unwrap();
        let mut m = model("mlp");
        let e = m.load_weights(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("{what}.weights.h5")), "{what}: {e}");
    }
    // A nested model keeps its weights under its own layers, as Keras's files do: Keras's file
    // of one loads into the same model built here and predicts as Keras; written back, it
    // reads back with the same bits.
    let mut nested = {
        use minibatch::models::{Call, Input};
        let encoder = Sequential::new()
            .input_shape(&[4])
            .add(Dense::new(5).activation("relu"))
            .add(BatchNormalization::new())
            .named("encoder")
            .into_model();
        let x = Input::new(&[4]);
        let y = Dense::new(2).call(&encoder.call(&x));
        Model::new(&[&x], &[&y]).unwrap()
    };
    nested.build_inputs(&[vec![4]]).unwrap();
    nested.load_weights(fixtures().join("nested.weights.h5")).unwrap();
    let (xs, want) = case_tensors(&recorded()["models"]["nested"]);
    let w = worst(&mut nested, &xs, &want);
    assert!(w < 1e-5, "nested: predictions differ from Keras by {w}");
    nested.save_weights(dir.join("nested.weights.h5")).unwrap();
    let before = nested.get_weights();
    nested.set_weights(&before.iter().map(|t| Tensor::zeros(t.shape())).collect::<Vec<_>>()).unwrap();
    nested.load_weights(dir.join("nested.weights.h5")).unwrap();
    assert_eq!(nested.get_weights(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn keras_2_model_files_load_with_their_weights_by_layer_name() {
    register();
    let r = recorded();
    for name in ALL_MODELS {
        let case = &r["models"][name];
        let mut m = Model::load(fixtures().join(format!("{name}.h5"))).unwrap();
        let (xs, want) = case_tensors(case);
        let w = worst(&mut m, &xs, &want);
        assert!(w < 1e-5, "{name}: predictions differ from Keras {} by {w}", r["keras"]);
        assert_eq!(m.optimizer().unwrap().name(), "adam", "{name}: the training_config came along");
    }
    // A file as Keras 2 wrote them (h5py: fixed-length names, `kernel:0`, the input shape on
    // the first layer, a BatchNormalization axis of `[1]`): the MLP's weights, its outputs.
    let mut m = Model::load(fixtures().join("keras2_mlp.h5")).unwrap();
    let (xs, want) = case_tensors(&r["models"]["mlp"]);
    let w = worst(&mut m, &xs, &want);
    assert!(w < 1e-5, "Keras 2's file: predictions differ by {w}");
    // A weights file is not a model file; a model file of another kind is named.
    let e = Model::load_keras_h5(fixtures().join("mlp.weights.h5")).unwrap_err().to_string();
    assert!(e.contains("mlp.weights.h5") && e.contains("no model_config"), "{e}");
}

#[test]
fn keras_models_with_what_minibatch_lacks_are_refused_by_name() {
    let e = Model::load_keras(fixtures().join("unsupported.keras")).unwrap_err().to_string();
    assert!(e.contains("layer 'volume': Conv3D is not supported"), "{e}");
    let e = Model::load_keras(fixtures().join("grouped.keras")).unwrap_err().to_string();
    assert!(e.contains("layer 'grouped': groups = 2 is not supported"), "{e}");
    // A call argument that would change what the layer computes (dropout forced on).
    let e = Model::load_keras(fixtures().join("call_argument.keras")).unwrap_err().to_string();
    assert!(e.contains("layer 'always': call argument training = true is not supported"), "{e}");
    // A layer of one's own that nobody registered a port of: named, with the way to add one.
    let e = Model::load_keras(fixtures().join("custom_unported.keras")).unwrap_err().to_string();
    assert!(e.contains("layer 'mine': Unported is a layer of one's own") && e.contains("register_layer"), "{e}");
    // An adapted lookup whose vocabulary (an asset of the archive) is missing.
    let e = Model::load_keras(fixtures().join("lookup_no_vocabulary.keras")).unwrap_err().to_string();
    assert!(e.contains("layer 'codes'") && e.contains("assets/layers/integer_lookup/vocabulary.txt"), "{e}");
    // A damaged archive, and one that is not a .keras.
    let dir = temp_dir("keras_model_bad");
    let whole = std::fs::read(fixtures().join("mlp.keras")).unwrap();
    for (what, bytes) in [
        ("cut", whole[..whole.len() / 2].to_vec()),
        ("npz", std::fs::read(fixtures().join("../compressed_f64.npz")).unwrap()),
    ] {
        let path = dir.join(format!("{what}.keras"));
        std::fs::write(&path, bytes).unwrap();
        let e = Model::load_keras(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("{what}.keras")), "{what}: {e}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The command's fine-tuning flow on a Keras model: `train --init model.keras --freeze`, then
/// `convert` to Keras's weights file and back.
#[test]
fn the_command_fine_tunes_a_keras_model_and_converts_files() {
    let dir = temp_dir("keras_cli");
    let keras_file = fixtures().join("two_features.keras");
    let saved = dir.join("tuned.safetensors");
    let (ok, out, err) = crate::common::minibatch(&[
        "train",
        "--data",
        "moons",
        "--init",
        keras_file.to_str().unwrap(),
        "--freeze",
        "base",
        "--learning-rate",
        "0.01",
        "--epochs",
        "3",
        "--verbose",
        "1",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("Test accuracy: "), "{out}");
    let keras = Model::load_keras(&keras_file).unwrap();
    let tuned = Model::load(&saved).unwrap();
    let bits = |m: &Model, p: &str| m.get_weight(p).unwrap().data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&keras, "base/kernel"), bits(&tuned, "base/kernel"), "the frozen base kept Keras's weights");
    assert_ne!(bits(&keras, "head/kernel"), bits(&tuned, "head/kernel"), "the head trained");
    // convert: .keras → .safetensors → .keras → .weights.h5, the same weights throughout.
    let (st, kf, h5) = (dir.join("m.safetensors"), dir.join("m.keras"), dir.join("m.weights.h5"));
    for (from, to) in [(&keras_file, &st), (&st, &kf), (&kf, &h5)] {
        let (ok, _, err) = crate::common::minibatch(&["convert", from.to_str().unwrap(), to.to_str().unwrap()]);
        assert!(ok, "{err}");
    }
    let mut back = model("two_features");
    back.load_weights(&h5).unwrap();
    assert_eq!(bits(&back, "dense/kernel"), bits(&keras, "base/kernel"));
    let (ok, out, err) = crate::common::minibatch(&["convert", st.to_str().unwrap(), st.to_str().unwrap()]);
    assert!(!ok && out.is_empty() && err.contains("overwrite"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The optimizer's state comes along: a model Keras trained one step and saved takes its next
/// step here to the weights Keras's next step reached (Adam's moments and SGD's momentum
/// included).
#[test]
fn a_keras_models_optimizer_state_continues_its_training() {
    let r = recorded();
    for name in ["adam", "sgd"] {
        let case = &r["trained"][name];
        let path = fixtures().join(format!("trained_{name}.keras"));
        let mut m = Model::load_keras(&path).unwrap();
        assert_eq!(m.optimizer().unwrap().iterations(), 1, "{name}: one step taken in Keras");
        m.train_on_batch(&tensor(&case["x"]), &tensor(&case["y"])).unwrap();
        let want: Vec<Tensor> = case["weights"].as_array().unwrap().iter().map(tensor).collect();
        for (got, want) in m.get_weights().iter().zip(&want) {
            let worst = got.data().iter().zip(want.data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-6, "{name}: after the second step the weights differ from Keras's by {worst}");
        }
        // Fresh moments would take another step: the state mattered.
        let mut fresh = Model::load_keras(&path).unwrap();
        let lr = fresh.optimizer().unwrap().learning_rate();
        let class = fresh.optimizer().unwrap().name().to_string();
        fresh
            .compile(
                minibatch::optimizers::from_name(&class)
                    .map(|mut o| {
                        o.set_learning_rate(lr);
                        o
                    })
                    .unwrap(),
                "mse",
                &[],
            )
            .unwrap();
        fresh.train_on_batch(&tensor(&case["x"]), &tensor(&case["y"])).unwrap();
        assert_ne!(fresh.get_weights()[0].data(), m.get_weights()[0].data(), "{name}");
        // Written back with the state: the same step again.
        let dir = temp_dir(&format!("keras_optimizer_{name}"));
        let again = Model::load_keras(&path).unwrap();
        again.save_keras(dir.join("m.keras")).unwrap();
        let mut reread = Model::load_keras(dir.join("m.keras")).unwrap();
        reread.train_on_batch(&tensor(&case["x"]), &tensor(&case["y"])).unwrap();
        assert_eq!(reread.get_weights(), m.get_weights(), "{name}: the state survives minibatch's own .keras");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// An IntegerLookup adapted in Keras keeps its vocabulary in the archive's assets: it loads
/// with it and predicts as Keras; minibatch writes the vocabulary into the layer's config,
/// which reads back with the same bits (and Keras loads: the script's `--check`).
#[test]
fn a_keras_lookup_layer_loads_with_its_vocabulary_from_the_assets() {
    let r = recorded();
    let case = &r["lookup"];
    let mut m = Model::load_keras(fixtures().join("lookup.keras")).unwrap();
    let (xs, want) = case_tensors(case);
    let w = worst(&mut m, &xs, &want);
    assert!(w < 1e-5, "predictions differ from Keras {} by {w}", r["keras"]);
    let config = m.get_layer("codes").unwrap().config().unwrap();
    // Keras's list starts with its OOV token; the layer's vocabulary is the rest.
    let keras: Vec<i64> = serde_json::from_value(case["vocabulary"].clone()).unwrap();
    assert_eq!(config["vocabulary"], serde_json::json!(keras[1..]), "{config}");
    let dir = match std::env::var_os("MINIBATCH_KEEP_KERAS_FILES") {
        Some(d) => std::path::PathBuf::from(d),
        None => temp_dir("keras_lookup"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    m.save_keras(dir.join("lookup.keras")).unwrap();
    let mut back = Model::load_keras(dir.join("lookup.keras")).unwrap();
    let xr: Vec<&Tensor> = xs.iter().collect();
    let (a, b) = (m.predict_outputs(&xr[..], 8).unwrap(), back.predict_outputs(&xr[..], 8).unwrap());
    assert_eq!(a[0].data(), b[0].data());
    if std::env::var_os("MINIBATCH_KEEP_KERAS_FILES").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn resizing_and_bilinear_up_sampling_keep_their_interpolation_in_keras_files() {
    use minibatch::layers::{Resizing, UpSampling2D};
    let dir = temp_dir("keras_resizing");
    let mut m = Sequential::new()
        .input_shape(&[3, 4, 2])
        .add(UpSampling2D::new(2).interpolation("bilinear"))
        .add(Resizing::new(5, 3).interpolation("nearest"))
        .add(Resizing::new(4, 4));
    m.compile("sgd", "mse", &[]).unwrap();
    let x = Tensor::from_vec(&[2, 3, 4, 2], (0..48).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    let path = dir.join("resize.keras");
    m.save_keras(&path).unwrap();
    let mut back = Model::load_keras(&path).unwrap();
    assert_eq!(back.predict(&x, 2).unwrap(), m.predict(&x, 2).unwrap());
    let layers: Vec<String> = back.layers().iter().map(|l| l.config().unwrap().to_string()).collect();
    assert!(layers[0].contains("\"interpolation\":\"bilinear\"") && layers[1].contains("\"nearest\""), "{layers:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
