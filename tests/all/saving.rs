//! Model files and weights files: round trips, resuming from a saved optimizer, and every
//! kind of bad file giving an error that names it.

use crate::common::{random, temp_dir};
use crate::zoo;
use minibatch::layers::{Dense, Dropout};
use minibatch::optimizers::schedules::{ExponentialDecay, Scheduled};
use minibatch::optimizers::{Adam, RMSprop, SGD};
use minibatch::{datasets, Error, FitOptions, Sequential, Tensor};

fn mlp(seed: u64) -> Sequential {
    Sequential::new()
        .seed(seed)
        .input_shape(&[2])
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(3).activation("softmax"))
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter().map(|t| t.data().iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn save_then_load_gives_the_same_model_predictions_and_metrics() {
    let d = datasets::load("spirals", 0).unwrap();
    let mut model = mlp(1);
    model.compile(RMSprop::new(0.01).momentum(0.5), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(2).verbose(0)).unwrap();
    let dir = temp_dir("save-load");
    let path = dir.join("model.safetensors");
    model.save(&path).unwrap();

    let mut loaded = Sequential::load(&path).unwrap();
    assert_eq!(bits(&loaded.get_weights()), bits(&model.get_weights()));
    assert_eq!(loaded.summary().unwrap(), model.summary().unwrap());
    assert_eq!(loaded.optimizer().unwrap().iterations(), model.optimizer().unwrap().iterations());
    assert_eq!(loaded.optimizer().unwrap().learning_rate(), 0.01);
    let (p, q) = (model.predict(&d.x_test, 64).unwrap(), loaded.predict(&d.x_test, 64).unwrap());
    assert_eq!(bits(&[p]), bits(&[q]));
    assert_eq!(model.evaluate(&d.x_test, &d.y_test, 64).unwrap(), loaded.evaluate(&d.x_test, &d.y_test, 64).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_saved_run_continues_exactly_as_an_uninterrupted_one() {
    // Optimizer moments, step count, the schedule and dropout's generator all come back.
    let d = datasets::load("moons", 0).unwrap();
    let compile = |m: &mut Sequential| {
        let opt = Scheduled::new(Adam::new(0.01), ExponentialDecay::new(0.01, 10, 0.5));
        m.compile(opt, "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    };
    let options = || FitOptions::new().batch_size(16).verbose(0);

    let mut straight = mlp(3);
    compile(&mut straight);
    let whole = straight.fit(&d.x_train, &d.y_train, options().epochs(4)).unwrap();

    let dir = temp_dir("continue");
    let mut first = mlp(3);
    compile(&mut first);
    let h = first.fit(&d.x_train, &d.y_train, options().epochs(2)).unwrap();
    first.save(dir.join("half.safetensors")).unwrap();
    drop(first);
    let mut second = Sequential::load(dir.join("half.safetensors")).unwrap();
    let resumed = second.fit(&d.x_train, &d.y_train, options().epochs(4).continue_history(h)).unwrap();

    assert_eq!(bits(&second.get_weights()), bits(&straight.get_weights()));
    assert_eq!(resumed.epoch, whole.epoch);
    assert_eq!(format!("{:?}", resumed.history), format!("{:?}", whole.history));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn weights_files_load_by_name_and_every_optimizer_round_trips() {
    let dir = temp_dir("weights");
    let mut a = mlp(5);
    a.compile(SGD::new(0.1).momentum(0.9).nesterov(true), "sparse_categorical_crossentropy", &[]).unwrap();
    a.save_weights(dir.join("w.safetensors")).unwrap();
    let mut b = mlp(6);
    assert_ne!(bits(&a.get_weights()), bits(&b.get_weights()));
    b.load_weights(dir.join("w.safetensors")).unwrap();
    assert_eq!(bits(&a.get_weights()), bits(&b.get_weights()));
    // A weights file is not a model file, and says so.
    let err = Sequential::load(dir.join("w.safetensors")).unwrap_err().to_string();
    assert!(err.contains("weights only") && err.contains("w.safetensors"), "{err}");
    // A model file's weights load into a model built in code.
    a.save(dir.join("m.safetensors")).unwrap();
    let mut c = mlp(7);
    c.load_weights(dir.join("m.safetensors")).unwrap();
    assert_eq!(bits(&a.get_weights()), bits(&c.get_weights()));
    // Without the optimizer's state: smaller, and the optimizer starts afresh.
    a.save_with(dir.join("lean.safetensors"), false).unwrap();
    let lean = Sequential::load(dir.join("lean.safetensors")).unwrap();
    assert_eq!(bits(&lean.get_weights()), bits(&a.get_weights()));
    assert_eq!(lean.optimizer().unwrap().iterations(), 0);
    let size = |n: &str| std::fs::metadata(dir.join(n)).unwrap().len();
    assert!(size("lean.safetensors") < size("m.safetensors"));
    let loaded = Sequential::load(dir.join("m.safetensors")).unwrap();
    let config = loaded.optimizer().unwrap().config().unwrap();
    assert_eq!(config["class_name"], "SGD");
    assert_eq!(config["config"]["nesterov"], true);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_of_another_architecture_are_refused_and_leave_the_model_unchanged() {
    let dir = temp_dir("mismatch");
    let path = dir.join("w.safetensors");
    let mut source = mlp(1);
    source.build(&[2]).unwrap();
    source.save_weights(&path).unwrap();

    let wider = Sequential::new().input_shape(&[2]).add(Dense::new(17).activation("relu")).add(Dense::new(3));
    let mut wider = wider;
    wider.build(&[2]).unwrap();
    let before = bits(&wider.get_weights());
    let err = wider.load_weights(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("w.safetensors") && msg.contains("dense/kernel") && msg.contains("[2, 16]"), "{msg}");
    assert_eq!(bits(&wider.get_weights()), before, "nothing changed");

    let mut deeper = Sequential::new().input_shape(&[2]).add(Dense::new(16)).add(Dense::new(3)).add(Dense::new(3));
    deeper.build(&[2]).unwrap();
    let msg = deeper.load_weights(&path).unwrap_err().to_string();
    assert!(msg.contains("missing weight tensors: dense_2/kernel, dense_2/bias"), "{msg}");

    let mut shallower = Sequential::new().input_shape(&[2]).add(Dense::new(16)).add(Dense::new(3));
    shallower.build(&[2]).unwrap();
    // mlp's dropout state has no place in a model without dropout
    let msg = shallower.load_weights(&path).unwrap_err().to_string();
    assert!(msg.contains("no place for: dropout/seed_generator_state"), "{msg}");

    let mut unbuilt = Sequential::new().add(Dense::new(3));
    assert!(matches!(unbuilt.load_weights(&path), Err(Error::State(_))));
    assert!(matches!(Sequential::load(dir.join("absent.safetensors")), Err(Error::Io { .. })));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_and_bit_flipped_files_are_reported_never_loaded() {
    let dir = temp_dir("corrupt");
    let mut model =
        Sequential::new().seed(2).input_shape(&[3]).add(Dense::new(4).activation("tanh")).add(Dropout::new(0.1));
    model.compile("adam", "mse", &["mae"]).unwrap();
    let good = dir.join("good.safetensors");
    model.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.join("bad.safetensors");

    for len in [0, 4, 8, 9, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&bad, &bytes[..len]).unwrap();
        let err = Sequential::load(&bad).expect_err("a truncated file must not load");
        assert!(matches!(err, Error::Format { .. }) && err.to_string().contains("bad.safetensors"), "{len}: {err}");
        let mut m = model_like();
        assert!(m.load_weights(&bad).is_err());
    }
    // Every single flipped bit, anywhere in the file: header, JSON document, tensor bytes.
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 1 << (i % 8);
        std::fs::write(&bad, &flipped).unwrap();
        match Sequential::load(&bad) {
            Err(Error::Format { path, .. }) => assert!(path.ends_with("bad.safetensors")),
            Err(other) => panic!("byte {i}: expected a format error, received {other:?}"),
            Ok(_) => panic!("byte {i}: a file with a flipped bit loaded"),
        }
    }
    let mut m = model_like();
    let msg = m.load_weights(&bad).unwrap_err().to_string();
    assert!(msg.contains("bad.safetensors"), "{msg}");
    std::fs::remove_dir_all(dir).unwrap();

    fn model_like() -> Sequential {
        let mut m = Sequential::new().input_shape(&[3]).add(Dense::new(4).activation("tanh")).add(Dropout::new(0.1));
        m.build(&[3]).unwrap();
        m
    }
}

#[test]
fn unsaveable_models_say_why_and_still_save_weights() {
    let dir = temp_dir("unsaveable");
    let m = Sequential::new().add(Dense::new(2));
    let err = m.save(dir.join("m.safetensors")).unwrap_err();
    assert!(err.to_string().contains("not built"), "{err}");
    // A user's own layer gives no config: the model file cannot name it, the weights file can.
    let (probe, _) = crate::common::Probe::new();
    let mut m = Sequential::new().input_shape(&[3]).add(Dense::new(2)).add(probe);
    m.build(&[3]).unwrap();
    let err = m.save(dir.join("m.safetensors")).unwrap_err().to_string();
    assert!(err.contains("probe (Probe) cannot be saved") && err.contains("save_weights"), "{err}");
    assert!(!dir.join("m.safetensors").exists());
    m.save_weights(dir.join("w.safetensors")).unwrap();
    let before = bits(&m.get_weights());
    m.set_weights(&[random(&[3, 2], 1), random(&[2], 2)]).unwrap();
    m.load_weights(dir.join("w.safetensors")).unwrap();
    assert_eq!(bits(&m.get_weights()), before);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Weights exported by PyTorch's `safetensors.torch.save_file` from a 4-8-3 MLP (see
/// `tests/fixtures/make_torch_mlp.py`) give PyTorch's predictions.
#[test]
fn pytorch_exported_weights_give_pytorch_predictions() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut model = Sequential::new()
        .input_shape(&[4])
        .add(Dense::new(8).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    model.build(&[4]).unwrap();
    model.load_weights(fixtures.join("torch_mlp.safetensors")).unwrap();
    let io = minibatch::saving::load_tensors(fixtures.join("torch_mlp_io.safetensors")).unwrap();
    let get = |name: &str| io.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let (x, expected) = (get("x"), get("probabilities"));
    let p = model.predict(&x, 32).unwrap();
    assert_eq!(p.shape(), expected.shape());
    for (a, b) in p.data().iter().zip(expected.data()) {
        assert!((a - b).abs() <= 1e-5, "{a} vs PyTorch's {b}");
    }
}

#[test]
fn the_same_run_writes_the_same_bytes() {
    // Model files and backups of two identical runs, byte for byte, ten times over: the
    // header's metadata came from a hash map whose order changed from one write to the next.
    use minibatch::callbacks::BackupAndRestore;
    let d = datasets::load("moons", 0).unwrap();
    let dir = temp_dir("same-bytes");
    let run = |i: usize| {
        let mut m = mlp(3);
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let mut backup = BackupAndRestore::new(dir.join(format!("b{i}"))).delete_checkpoint(false);
        let options = FitOptions::new().epochs(2).batch_size(32).verbose(0).callback(&mut backup);
        m.fit(&d.x_train, &d.y_train, options).unwrap();
        m.save(dir.join(format!("m{i}.safetensors"))).unwrap();
        m.save_weights(dir.join(format!("w{i}.safetensors"))).unwrap();
        let read = |name: String| std::fs::read(dir.join(name)).unwrap();
        (read(format!("m{i}.safetensors")), read(format!("w{i}.safetensors")), read(format!("b{i}/backup.safetensors")))
    };
    let first = run(0);
    for i in 1..10 {
        let other = run(i);
        assert!(other.0 == first.0, "model file {i} differs");
        assert!(other.1 == first.1, "weights file {i} differs");
        assert!(other.2 == first.2, "backup {i} differs");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sequence_models_save_and_load_exactly() {
    use minibatch::layers::{Bidirectional, Embedding, LayerNormalization, MergeMode, SimpleRNN, GRU, LSTM};
    let x = Tensor::from_vec(&[6, 5], (0..30).map(|i| ((i * 7) % 11) as f32).collect()).unwrap();
    let y = Tensor::from_slice(&[0., 1., 2., 1., 0., 2.]);
    let mut model = Sequential::new()
        .seed(3)
        .input_shape(&[5])
        .add(Embedding::new(11, 4))
        .add(LSTM::new(6).return_sequences(true).go_backwards(true))
        .add(LayerNormalization::new().epsilon(1e-5))
        .add(minibatch::layers::MultiHeadAttention::new(2, 3).output_shape(6).use_causal_mask(true))
        .add(
            Bidirectional::new(GRU::new(5).return_sequences(true).recurrent_activation("hard_sigmoid"))
                .merge_mode(MergeMode::Mul),
        )
        .add(minibatch::layers::TimeDistributed::new(Dense::new(4).activation("relu")))
        .add(SimpleRNN(4).activation("softsign"))
        .add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model.fit(&x, &y, FitOptions::new().epochs(2).verbose(0)).unwrap();
    let dir = temp_dir("sequence-model");
    model.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Sequential::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(bits(&loaded.get_weights()), bits(&model.get_weights()));
    assert_eq!(loaded.predict(&x, 4).unwrap().data(), model.predict(&x, 4).unwrap().data());
    let names: Vec<String> = loaded.layers().iter().map(|l| format!("{} {}", l.name(), l.kind())).collect();
    assert_eq!(
        names[..5],
        [
            "embedding Embedding",
            "lstm LSTM",
            "layer_normalization LayerNormalization",
            "multi_head_attention MultiHeadAttention",
            "bidirectional Bidirectional"
        ]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn activation_layers_save_under_keras_class_names() {
    use minibatch::layers::{LeakyReLU, PReLU, ReLU, Softmax, ELU};
    let x = Tensor::from_vec(&[4, 3], (0..12).map(|i| i as f32 / 3.0 - 2.0).collect()).unwrap();
    let mut model = Sequential::new()
        .input_shape(&[3])
        .add(Dense::new(5))
        .add(ReLU::new().max_value(1.5).negative_slope(0.05).threshold(-0.1))
        .add(Dense::new(5))
        .add(PReLU::new().alpha_initializer("ones"))
        .add(LeakyReLU::with_slope(0.2))
        .add(ELU::with_alpha(0.7))
        .add(Dense::new(3))
        .add(Softmax::new());
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    model.fit(&x, &Tensor::from_slice(&[0., 1., 2., 1.]), FitOptions::new().epochs(2).verbose(0)).unwrap();
    let dir = temp_dir("activation-layers");
    model.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Sequential::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(loaded.predict(&x, 4).unwrap().data(), model.predict(&x, 4).unwrap().data());
    let names: Vec<String> = loaded.layers().iter().map(|l| format!("{} {}", l.name(), l.kind())).collect();
    assert_eq!(names[1..6], ["re_lu ReLU", "dense_1 Dense", "p_re_lu PReLU", "leaky_re_lu LeakyReLU", "elu ELU"]);
    assert_eq!(names[7], "softmax Softmax");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn image_resizing_and_spatial_dropout_layers_round_trip() {
    use minibatch::layers::{Conv2D, Flatten, SpatialDropout2D, UpSampling2D, ZeroPadding2D};
    let x = Tensor::from_vec(&[3, 4, 4, 1], (0..48).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let mut model = Sequential::new()
        .input_shape(&[4, 4, 1])
        .add(ZeroPadding2D::with_padding([[1, 0], [0, 2]]))
        .add(Conv2D::new(2, 3))
        .add(SpatialDropout2D::new(0.5).seed(1))
        .add(UpSampling2D::with_size(2, 1))
        .add(Flatten::new())
        .add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    model.fit(&x, &Tensor::from_slice(&[0., 1., 2.]), FitOptions::new().epochs(2).verbose(0)).unwrap();
    let dir = temp_dir("resize-layers");
    model.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Sequential::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(loaded.predict(&x, 3).unwrap().data(), model.predict(&x, 3).unwrap().data());
    let kinds: Vec<&str> = loaded.layers().iter().map(|l| l.kind()).collect();
    assert_eq!(kinds[..4], ["ZeroPadding2D", "Conv2D", "SpatialDropout2D", "UpSampling2D"]);
    assert_eq!(loaded.output_shape(), model.output_shape());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every zoo model (between them, every registered layer class) after a step of training:
/// saved, loaded in a fresh model, and the same weights and predictions, bit for bit.
#[test]
fn every_zoo_model_round_trips_through_its_file() {
    let dir = temp_dir("zoo-roundtrip");
    for (name, mut model, sample) in zoo::layer_zoo() {
        model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let batch = 5;
        let len: usize = sample.iter().product();
        let scale = if name.starts_with("tokens") { 1.0 } else { 17.0 };
        let shape = [&[batch][..], &sample].concat();
        let x = Tensor::from_vec(&shape, (0..batch * len).map(|i| ((i * 31) % 17) as f32 / scale).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 3) as f32).collect()).unwrap();
        model.train_on_batch(&x, &y).unwrap();
        let path = dir.join("m.safetensors");
        model.save(&path).unwrap();
        let mut loaded = minibatch::Model::load(&path).unwrap();
        let bits = |ts: Vec<Tensor>| ts.iter().flat_map(|t| t.data().to_vec()).map(f32::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(loaded.get_weights()), bits(model.get_weights()), "{name}: weights");
        assert_eq!(
            bits(vec![loaded.predict(&x, batch).unwrap()]),
            bits(vec![model.predict(&x, batch).unwrap()]),
            "{name}: predictions"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
