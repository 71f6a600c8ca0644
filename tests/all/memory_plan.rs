//! The memory plan: computed for any batch size, it equals what training at that batch size
//! reserves, for every layer type.

use crate::zoo;

use minibatch::layers::{Add, Dense, Dropout, LayerNormalization, MultiHeadAttention, LSTM};
use minibatch::models::{Call, Input, Shared};
use minibatch::optimizers::Optimizer;
use minibatch::{FitOptions, Model, Sequential, Tensor};

/// Data of `n` samples of `sample` shape (token ids 0..17 when `tokens`) and 3 classes.
fn data(n: usize, sample: &[usize], tokens: bool) -> (Tensor, Tensor) {
    let len: usize = sample.iter().product();
    let scale = if tokens { 1.0 } else { 17.0 };
    let x =
        Tensor::from_vec(&[&[n][..], sample].concat(), (0..n * len).map(|i| ((i * 31) % 17) as f32 / scale).collect());
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    (x.unwrap(), y)
}

/// Trains `model` one epoch at `batch` and checks the plan against what it reserved.
fn check(model: &mut Model, x: &Tensor, y: &Tensor, batch: usize, name: &str) {
    let before = model.memory_plan(batch).unwrap();
    model.fit(x, y, FitOptions::new().batch_size(batch).epochs(1).verbose(0)).unwrap();
    let plan = model.memory_plan(batch).unwrap();
    assert_eq!(before, plan, "{name}: the plan does not depend on having trained");
    assert_eq!(plan.per_batch(), model.buffer_bytes(), "{name} at batch {batch}: activations and workspaces");
    let trainable = model.count_params();
    assert_eq!(plan.gradients, 4 * trainable, "{name}");
    let opt = model.optimizer().unwrap();
    let slots: usize =
        opt.slots().iter().chain(&opt.base().slots()).map(|(_, v)| v.iter().map(Vec::len).sum::<usize>()).sum();
    assert_eq!(plan.optimizer, 4 * slots, "{name}: the optimizer's slots");
}

#[test]
fn the_plan_equals_what_training_reserves_for_every_layer_type() {
    // Batch 5 does not divide 16: the last batch is partial, and the plan is the full one's.
    for batch in [5usize, 8] {
        for (name, model, sample) in zoo::layer_zoo() {
            let mut model = model;
            model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
            let (x, y) = data(16, &sample, name.starts_with("tokens"));
            check(&mut model, &x, &y, batch, name);
        }
    }
}

#[test]
fn the_plan_covers_graphs_shared_layers_nested_models_and_optimizer_settings() {
    // Attention with dropout, a residual Add read twice, a shared Dense (a replica with its
    // own workspaces), a nested model (its buffers are its workspaces), two outputs.
    let graph = || {
        let inner = Sequential::new().input_shape(&[8]).add(Dense::new(8).activation("tanh")).add(Dropout::new(0.1));
        let x = Input::new(&[6, 4]);
        let h = Dense::new(8).call(&x);
        let attended = MultiHeadAttention::new(2, 4).dropout(0.1).call(&h);
        let res = LayerNormalization::new().call(&Add::new().call([&h, &attended]));
        let seq = LSTM::new(8).call(&res);
        let shared = Shared::new(Dense::new(8).activation("relu"));
        let a = shared.call(&seq);
        let b = shared.call(&inner.into_model().call(&a));
        let digit = Dense::new(3).activation("softmax").call(&b);
        let value = Dense::new(1).call(&a);
        Model::new(&[&x], &[&digit, &value]).unwrap()
    };
    let (xs, _) = data(20, &[6, 4], false);
    let y = Tensor::from_vec(&[20], (0..20).map(|i| (i % 3) as f32).collect()).unwrap();
    let v = Tensor::from_vec(&[20, 1], (0..20).map(|i| i as f32 / 20.0).collect()).unwrap();
    for (optimizer, slots) in [
        (Box::new(minibatch::optimizers::SGD::new(0.01)) as Box<dyn Optimizer>, 0),
        (Box::new(minibatch::optimizers::SGD::new(0.01).momentum(0.9)), 1),
        (Box::new(minibatch::optimizers::Adam::default().amsgrad(true)), 3),
        (Box::new(minibatch::optimizers::RMSprop::default().centered(true)), 2),
    ] {
        let mut model = graph();
        let losses = minibatch::models::Losses::each(&["sparse_categorical_crossentropy", "mse"]);
        model.compile(optimizer, losses, &[]).unwrap();
        let plan = model.memory_plan(7).unwrap();
        assert_eq!(plan.optimizer, slots * plan.gradients, "{slots} slots per weight");
        model.fit([&xs], [&y, &v], FitOptions::new().batch_size(7).epochs(1).verbose(0)).unwrap();
        assert_eq!(plan.per_batch(), model.buffer_bytes());
        assert_eq!(plan, model.memory_plan(7).unwrap());
    }
}

#[test]
fn max_batch_size_is_the_largest_plan_within_the_budget() {
    let mut model = Sequential::new()
        .input_shape(&[784])
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(10).activation("softmax"));
    model.compile("rmsprop", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for budget in [12usize << 20, 64 << 20, 512 << 20] {
        let b = model.max_batch_size(budget).unwrap();
        assert!(model.memory_plan(b).unwrap().total() <= budget && model.memory_plan(b + 1).unwrap().total() > budget);
    }
    // Affine in the batch size: twice the batch, twice what grows with it.
    let (p64, p128) = (model.memory_plan(64).unwrap(), model.memory_plan(128).unwrap());
    assert_eq!(2 * p64.per_batch(), p128.per_batch());
    assert_eq!((p64.weights, p64.gradients, p64.optimizer), (p128.weights, p128.gradients, p128.optimizer));
    // Weights, gradients and RMSprop's one slot: 669,706 values each.
    assert_eq!((p64.weights, p64.gradients, p64.optimizer), (4 * 669_706, 4 * 669_706, 4 * 669_706));
    let err = model.max_batch_size(1 << 20).unwrap_err().to_string();
    assert!(err.contains("memory budget") && err.contains("1048576 bytes"), "{err}");
}

/// Every `class_name` in a configuration, nested models' and wrapped layers' included.
fn class_names(config: &serde_json::Value, into: &mut std::collections::BTreeSet<String>) {
    match config {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if let (true, Some(name)) = (key == "class_name", value.as_str()) {
                    into.insert(name.to_string());
                }
                class_names(value, into);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| class_names(v, into)),
        _ => {}
    }
}

/// Every class the layer registry knows (`layers::CLASS_NAMES`) is in the zoo, so the
/// zero-allocation test and the memory plan's (both iterate the zoo) cover it: a new layer
/// that is not added to the zoo fails here, naming it.
#[test]
fn the_zoo_holds_every_registered_layer_class() {
    let mut found = std::collections::BTreeSet::new();
    for (_, model, sample) in zoo::layer_zoo() {
        let mut m = model;
        m.build(&sample).unwrap();
        class_names(&m.to_config().unwrap(), &mut found);
    }
    let missing: Vec<&&str> = minibatch::layers::CLASS_NAMES.iter().filter(|c| !found.contains(**c)).collect();
    assert!(missing.is_empty(), "layer classes no zoo model holds: {missing:?}");
}

/// Keras's `Input(shape=())` gives layers one value per sample (a sample shape of no axes):
/// every layer class builds on it or refuses it naming the layer, alone and (for the merges)
/// given two such inputs, and never panics.
#[test]
fn every_layer_builds_on_one_value_per_sample_or_refuses_it_by_name() {
    let mut built = Vec::new();
    for (_, model, _) in zoo::layer_zoo() {
        for layer in model.layers() {
            let Ok(fresh) = layer.replicate() else { continue };
            let (kind, name) = (fresh.kind(), fresh.name().to_string());
            for inputs in [vec![vec![]], vec![vec![], vec![]]] {
                let mut l = fresh.replicate().unwrap();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    l.build_many(&inputs, &mut minibatch::rng::Rng::new(0)).map_err(|e| e.to_string())
                }));
                match result {
                    Err(_) => panic!("{kind} panicked on samples of shape [] ({} inputs)", inputs.len()),
                    Ok(Ok(shape)) => built.push(format!("{kind} {shape:?}")),
                    Ok(Err(e)) => assert!(e.contains(&name) || e.contains(kind), "{kind}: {e}"),
                }
            }
        }
    }
    for expected in ["Embedding [4]", "Flatten [1]", "Add []", "Rescaling []", "Dropout []"] {
        assert!(built.iter().any(|b| b == expected), "{expected} among {built:?}");
    }
}
