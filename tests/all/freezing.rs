//! Freezing layers and fine-tuning, with Keras's semantics: a frozen layer's weights are not
//! updated and have no optimizer slots, its weight penalties leave the loss, a frozen
//! BatchNormalization runs in inference mode, a change takes effect at the next compile, and
//! weights are found by path.

use crate::common::temp_dir;
use minibatch::layers::{BatchNormalization, Dense};
use minibatch::models::Call;
use minibatch::regularizers::Regularizer;
use minibatch::{datasets, FitOptions, Model, Sequential, Tensor};

fn mlp() -> Model {
    Sequential::new()
        .seed(3)
        .input_shape(&[2])
        .add(Dense::new(8).activation("relu").name("base"))
        .add(BatchNormalization::new().name("norm"))
        .add(Dense::new(3).activation("softmax").name("head"))
        .into_model()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

fn quiet<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(0).batch_size(16).epochs(2)
}

#[test]
fn a_frozen_layer_keeps_its_weights_and_has_no_optimizer_slots() {
    let d = datasets::load("blobs", 0).unwrap();
    let mut m = mlp();
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let all_slots = m.memory_plan(16).unwrap().optimizer;
    m.get_layer_mut("base").unwrap().set_trainable(false);
    m.get_layer_mut("norm").unwrap().set_trainable(false);
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let before: Vec<Vec<u32>> =
        ["base/kernel", "base/bias", "head/kernel"].map(|p| bits(m.get_weight(p).unwrap())).to_vec();
    let moving: Vec<_> = m.get_layer("norm").unwrap().state().into_iter().map(|(n, s)| format!("{n}{s:?}")).collect();
    m.fit(&d.x_train, &d.y_train, quiet()).unwrap();
    assert_eq!(bits(m.get_weight("base/kernel").unwrap()), before[0], "frozen kernel unchanged");
    assert_eq!(bits(m.get_weight("base/bias").unwrap()), before[1], "frozen bias unchanged");
    assert_ne!(bits(m.get_weight("head/kernel").unwrap()), before[2], "the head trains");
    let after: Vec<_> = m.get_layer("norm").unwrap().state().into_iter().map(|(n, s)| format!("{n}{s:?}")).collect();
    assert_eq!(after, moving, "a frozen BatchNormalization keeps its moving statistics (inference mode)");
    // Adam keeps two slots a weight: only the head's (8·3 + 3) have them now.
    let plan = m.memory_plan(16).unwrap();
    assert_eq!(plan.optimizer, 4 * 2 * (8 * 3 + 3));
    assert!(plan.optimizer < all_slots);
    let summary = m.summary().unwrap();
    assert!(summary.contains("Trainable params: 27 "), "{summary}");
    // Non-trainable: the base (2·8 + 8), the norm's gamma and beta (16) and its moving statistics (16).
    assert!(summary.contains("Non-trainable params: 56 "), "{summary}");
}

#[test]
fn unfreezing_takes_effect_at_the_next_compile_and_trains_the_layer() {
    let d = datasets::load("blobs", 0).unwrap();
    let mut m = mlp();
    m.get_layer_mut("base").unwrap().set_trainable(false);
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    m.fit(&d.x_train, &d.y_train, quiet()).unwrap();
    let frozen = bits(m.get_weight("base/kernel").unwrap());
    m.get_layer_mut("base").unwrap().set_trainable(true);
    let e = m.fit(&d.x_train, &d.y_train, quiet()).unwrap_err().to_string();
    assert!(e.contains("layer base was unfrozen after compile") && e.contains("compile the model again"), "{e}");
    assert_eq!(bits(m.get_weight("base/kernel").unwrap()), frozen, "the refused fit changed nothing");
    m.compile(minibatch::optimizers::Adam::new(1e-5), "sparse_categorical_crossentropy", &[]).unwrap();
    m.fit(&d.x_train, &d.y_train, quiet()).unwrap();
    assert_ne!(bits(m.get_weight("base/kernel").unwrap()), frozen, "fine-tuning moves the unfrozen base");
}

#[test]
fn a_frozen_layers_weight_penalty_leaves_the_loss() {
    let x = Tensor::from_vec(&[4, 2], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]).unwrap();
    let y = Tensor::from_vec(&[4], vec![0.0, 1.0, 2.0, 1.0]).unwrap();
    let loss = |freeze: bool, penalty: bool| {
        let base = Dense::new(8).name("base");
        let base = if penalty { base.kernel_regularizer(Regularizer::l2(10.0)) } else { base };
        let mut m = Sequential::new().seed(3).input_shape(&[2]).add(base).add(Dense::new(3).activation("softmax"));
        m.get_layer_mut("base").unwrap().set_trainable(!freeze);
        m.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
        m.evaluate(&x, &y, 4).unwrap().get("loss").unwrap()
    };
    assert!(loss(false, true) > loss(false, false) + 1.0, "a trainable layer's penalty counts");
    assert_eq!(loss(true, true).to_bits(), loss(true, false).to_bits(), "a frozen layer's does not (Keras)");
}

#[test]
fn freezing_is_saved_with_the_model_and_the_optimizer_state_follows_the_trainable_weights() {
    let d = datasets::load("blobs", 0).unwrap();
    let dir = temp_dir("freezing_saved");
    let path = dir.join("m.safetensors");
    let mut m = mlp();
    m.get_layer_mut("base").unwrap().set_trainable(false);
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    m.fit(&d.x_train, &d.y_train, quiet()).unwrap();
    m.save(&path).unwrap();
    let mut back = Model::load(&path).unwrap();
    assert!(!back.get_layer("base").unwrap().trainable());
    assert!(back.get_layer("head").unwrap().trainable());
    // One more epoch each: the same bits, so the slots came back for the right weights.
    m.fit(&d.x_train, &d.y_train, quiet().epochs(1)).unwrap();
    back.fit(&d.x_train, &d.y_train, quiet().epochs(1)).unwrap();
    assert_eq!(m.weight_paths(), back.weight_paths());
    for p in m.weight_paths() {
        assert_eq!(bits(m.get_weight(&p).unwrap()), bits(back.get_weight(&p).unwrap()), "{p}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn weights_by_path() {
    let mut m = mlp();
    m.build(&[2]).unwrap();
    assert_eq!(m.weight_paths(), ["base/kernel", "base/bias", "norm/gamma", "norm/beta", "head/kernel", "head/bias"]);
    assert_eq!(m.get_weight("head/kernel").unwrap().shape(), &[8, 3]);
    assert!(m.get_weight("head/gamma").is_none() && m.get_weight("nothing").is_none());
    m.set_weight("head/bias", &Tensor::from_vec(&[3], vec![1.0, 2.0, 3.0]).unwrap()).unwrap();
    assert_eq!(m.get_weight("head/bias").unwrap().data(), &[1.0, 2.0, 3.0]);
    let e = m.set_weight("head/bias", &Tensor::zeros(&[4])).unwrap_err().to_string();
    assert!(e.contains("head/bias") && e.contains("[3]"), "{e}");
    let e = m.set_weight("head/beta", &Tensor::zeros(&[3])).unwrap_err().to_string();
    assert!(e.contains("head/beta") && e.contains("head/kernel"), "{e}");
}

#[test]
fn a_nested_model_freezes_as_a_whole() {
    let inner = Sequential::new().input_shape(&[2]).add(Dense::new(4).name("inner_dense")).named("encoder");
    let mut inner = inner.into_model();
    inner.get_layer_mut("inner_dense").unwrap().set_trainable(false);
    let x = minibatch::models::Input::new(&[2]);
    let h = inner.call(&x);
    let y = Dense::new(1).call(&h);
    let mut outer = Model::new(&[&x], &[&y]).unwrap();
    let e = outer.compile("sgd", "mse", &[]).unwrap_err().to_string();
    assert!(e.contains("inner_dense") && e.contains("frozen as a whole"), "{e}");
    outer.get_layer_mut("encoder").unwrap().set_trainable(false);
    outer.compile("sgd", "mse", &[]).unwrap();
    assert_eq!(outer.count_trainable_params(), 4 + 1);
}

/// `train --freeze` and `--freeze-until`: the frozen layers keep their initial weights
/// (one epoch or three, the same bits), are saved frozen, and names are checked.
#[test]
fn the_command_freezes_layers_by_name() {
    let dir = temp_dir("freezing_cli");
    let run = |epochs: &str, flags: &[&str]| {
        let path = dir.join(format!("m{epochs}{}.safetensors", flags.join("").replace('-', "")));
        let p = path.to_str().unwrap();
        let mut args = vec!["train", "--data", "moons", "--epochs", epochs, "--verbose", "0", "--save", p];
        args.extend_from_slice(flags);
        let (ok, _, err) = crate::common::minibatch(&args);
        assert!(ok, "{err}");
        Model::load(&path).unwrap()
    };
    let (one, three) = (run("1", &["--freeze", "dense,dense_1"]), run("3", &["--freeze", "dense,dense_1"]));
    for path in ["dense/kernel", "dense/bias", "dense_1/kernel"] {
        assert_eq!(bits(one.get_weight(path).unwrap()), bits(three.get_weight(path).unwrap()), "{path}");
    }
    assert_ne!(bits(one.get_weight("dense_2/kernel").unwrap()), bits(three.get_weight("dense_2/kernel").unwrap()));
    assert!(!three.get_layer("dense_1").unwrap().trainable() && three.get_layer("dense_2").unwrap().trainable());
    let until = run("1", &["--freeze-until", "dense_2"]);
    let frozen: Vec<bool> = until.layers().iter().map(|l| l.trainable()).collect();
    assert_eq!(frozen, [false, false, true]);
    for flags in [["--freeze", "dense,nope"], ["--freeze-until", "nope"], ["--freeze", "dense,"]] {
        let mut args = vec!["train", "--data", "moons", "--epochs", "1"];
        args.extend_from_slice(&flags);
        let (ok, out, err) = crate::common::minibatch(&args);
        assert!(!ok && out.is_empty(), "refused before any output: {out}");
        assert!(err.contains(flags[0]), "{err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
