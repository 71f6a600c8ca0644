//! Keras 3's weights files (`.weights.h5`), both ways, against files Keras itself wrote
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

#[test]
fn keras_weights_files_load_and_predict_as_keras() {
    let r = recorded();
    for (name, case) in r["models"].as_object().unwrap() {
        let mut m = model(name);
        m.load_weights(fixtures().join(format!("{name}.weights.h5"))).unwrap();
        let x = tensor(&case["input"]);
        let want = tensor(&case["output"]);
        let got = m.predict(&x, 8).unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}");
        let worst = got.data().iter().zip(want.data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{name}: predictions differ from Keras {} by {worst}", r["keras"]);
    }
}

#[test]
fn minibatch_writes_keras_weights_that_read_back_with_the_same_bits() {
    let dir = match std::env::var_os("MINIBATCH_KEEP_KERAS_FILES") {
        Some(d) => std::path::PathBuf::from(d),
        None => temp_dir("keras_weights_round_trip"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let r = recorded();
    let mut ours = serde_json::Map::new();
    for (i, (name, case)) in r["models"].as_object().unwrap().iter().enumerate() {
        // Weights of minibatch's own drawing (seeded), not Keras's.
        let mut m = model(name);
        let x = tensor(&case["input"]);
        let y = m.predict(&x, 8).unwrap();
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
        let mut back = model(name);
        back.load_weights(&path).unwrap();
        for (a, b) in m.get_weights().iter().zip(back.get_weights()) {
            assert_eq!(
                a.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
        let out = m.predict(&x, 8).unwrap();
        assert_ne!(out.data(), y.data());
        assert_eq!(back.predict(&x, 8).unwrap().data(), out.data(), "{name}");
        let rows: Vec<Vec<f32>> = out.data().chunks(out.len() / out.batch()).map(<[f32]>::to_vec).collect();
        ours.insert(name.clone(), serde_json::json!({ "input": case["input"], "output": rows }));
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
    // A layer kept in sub-layers by Keras is refused by name, before anything is read.
    let mut mha = {
        use minibatch::models::{Call, Input};
        let x = Input::new(&[3, 4]);
        let y = minibatch::layers::MultiHeadAttention::new(2, 2).name("attend").call([&x, &x]);
        Model::new(&[&x], &[&y]).unwrap()
    };
    mha.build_inputs(&[vec![3, 4]]).unwrap();
    let e = mha.save_weights(dir.join("mha.weights.h5")).unwrap_err().to_string();
    assert!(e.contains("layer 'attend': MultiHeadAttention"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
