//! The second half of Keras's `compile`/`fit` surface, by its semantics: sample and class
//! weights, weighted metrics and their keys, validation and evaluation steps, the moving
//! average of the weights, and saving all of it with the model. (The numbers themselves are
//! checked against Keras in `keras_reference.rs`.)

use crate::common::temp_dir;
use minibatch::callbacks::SwapEMAWeights;
use minibatch::constraints::Constraint;
use minibatch::layers::Dense;
use minibatch::losses::BuiltinLoss;
use minibatch::metrics::{Auc, Confusion, Curve, FBetaScore};
use minibatch::optimizers::{Nadam, SGD};
use minibatch::regularizers::Regularizer;
use minibatch::{datasets, CompileOptions, EvaluateOptions, FitOptions, Sequential, Tensor};

fn mlp(seed: u64) -> Sequential {
    Sequential::new()
        .seed(seed)
        .input_shape(&[2])
        .add(Dense::new(8).activation("relu"))
        .add(Dense::new(3).activation("softmax"))
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter().map(|t| t.data().iter().map(|v| v.to_bits()).collect()).collect()
}

fn quiet<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(0).batch_size(16)
}

/// `class_weight_balanced()` is scikit-learn's rule over the rows training learns from: the
/// same run as those weights given by hand, computed after `validation_split` holds out its
/// (here lopsided) tail; refused with sample weights and with a dataset.
#[test]
fn balanced_class_weight_is_sklearns_rule_over_the_training_rows() {
    let d = datasets::load("blobs", 0).unwrap();
    // Drop most of class 0 so the classes differ in size.
    let keep: Vec<usize> = (0..d.y_train.batch()).filter(|&i| d.y_train.data()[i] != 0.0 || i % 4 == 0).collect();
    let (x, y) = (d.x_train.select_rows(&keep), d.y_train.select_rows(&keep));
    let train_rows: Vec<usize> = (0..(y.batch() as f32 * 0.75) as usize).collect();
    let weights = minibatch::training::balanced_class_weights(&y, &train_rows);
    let count = |c: f32| train_rows.iter().filter(|&&r| y.data()[r] == c).count() as f32;
    let n = train_rows.len() as f32;
    assert_eq!(weights, vec![(0, n / (3.0 * count(0.0))), (1, n / (3.0 * count(1.0))), (2, n / (3.0 * count(2.0)))]);
    assert!(weights[0].1 > 2.0 * weights[1].1, "class 0 is the rare one: {weights:?}");
    let run = |options: FitOptions| {
        let mut m = mlp(3);
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let h = m.fit(&x, &y, options.epochs(2).validation_split(0.25)).unwrap();
        (format!("{:?}", h.history), bits(&m.get_weights()))
    };
    assert_eq!(run(quiet().class_weight_balanced()), run(quiet().class_weight(weights.iter().copied())));
    let mut m = mlp(3);
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let err = m.fit(&x, &y, quiet().class_weight_balanced().sample_weight(&vec![1.0; y.batch()])).unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    let mut ds = minibatch::data::TensorDataset::new(vec![x.clone()], vec![y.clone()], 16).unwrap();
    let err = m.fit_dataset(&mut ds, FitOptions::new().verbose(0).class_weight_balanced()).unwrap_err();
    assert!(err.to_string().contains("balanced_class_weights"), "{err}");
    // A label of 1e9 is one entry, not a table of a billion classes.
    let huge = minibatch::training::balanced_class_weights(&Tensor::from_slice(&[1e9, 0.0]), &[0, 1]);
    assert_eq!(huge, vec![(0, 1.0), (1_000_000_000, 1.0)]);
}

/// Keras's `name=` on every metric and layer: a metric's name is its History key (and
/// `val_` + it), survives saving, and a layer's name (`Flatten`, `Activation` included) is
/// its summary row and its weights' path.
#[test]
fn names_everywhere_become_history_keys_and_weight_paths() {
    use minibatch::layers::{ActivationLayer, Flatten};
    use minibatch::metrics::{Accuracy, MeanError, Metric, R2Score};
    let d = datasets::load("blobs", 0).unwrap();
    let mut m = Sequential::new()
        .input_shape(&[2])
        .add(Flatten::new().name("flat"))
        .add(Dense::new(8).name("hidden"))
        .add(ActivationLayer::new("relu").name("act"))
        .add(Dense::new(3).activation("softmax").name("head"));
    let named: Vec<Box<dyn Metric>> = vec![
        Box::new(Accuracy::new().name("acc_named")),
        Box::new(Confusion::precision().name("prec_named")),
        Box::new(Auc::new().name("auc_named")),
        Box::new(FBetaScore::f1().name("f1_named")),
        Box::new(MeanError::new("mae", minibatch::metrics::ErrorKind::Absolute).name("mae_named")),
        Box::new(R2Score::new().name("r2_named")),
    ];
    let keys: Vec<String> = named.iter().map(|m| m.name().to_string()).collect();
    let mut options = CompileOptions::new();
    for metric in named {
        options = options.metric(metric);
    }
    m.compile_with("adam", "sparse_categorical_crossentropy", options).unwrap();
    let h = m.fit(&d.x_train, &d.y_train, quiet().validation_split(0.2)).unwrap();
    for key in &keys {
        assert!(h.get(key).is_some() && h.get(&format!("val_{key}")).is_some(), "{key}");
    }
    let paths: Vec<String> = m.weight_paths();
    assert!(
        paths.iter().any(|p| p.starts_with("hidden/")) && paths.iter().any(|p| p.starts_with("head/")),
        "{paths:?}"
    );
    let summary = m.summary().unwrap();
    for name in ["flat (Flatten)", "act (Activation)"] {
        assert!(summary.contains(name), "{name} in {summary}");
    }
    let dir = temp_dir("names-everywhere");
    let path = dir.join("m.safetensors");
    m.save(&path).unwrap();
    let back = minibatch::Model::load(&path).unwrap();
    let logs = back.metrics_names();
    for key in &keys {
        assert!(logs.iter().any(|k| k == key), "{key} after loading: {logs:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn class_weight_is_the_sample_weight_of_each_samples_class() {
    let d = datasets::load("blobs", 0).unwrap();
    let table = [2.0f32, 0.5, 1.0];
    let per_sample: Vec<f32> = d.y_train.data().iter().map(|&c| table[c as usize]).collect();
    let run = |options: FitOptions| {
        let mut m = mlp(3);
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let h = m.fit(&d.x_train, &d.y_train, options.epochs(2)).unwrap();
        (format!("{:?}", h.history), bits(&m.get_weights()))
    };
    // Class 2 is left out: it weighs 1, as Keras.
    let by_class = run(quiet().class_weight([(0, 2.0), (1, 0.5)]));
    assert_eq!(by_class, run(quiet().sample_weight(&per_sample)));
    assert_ne!(by_class, run(quiet()));
    // One-hot targets: the class is the arg max.
    let k = 3;
    let onehot = Tensor::from_vec(
        &[d.y_train.batch(), k],
        (0..d.y_train.batch() * k).map(|i| (d.y_train.data()[i / k] as usize == i % k) as u8 as f32).collect(),
    )
    .unwrap();
    let mut a = mlp(3);
    a.compile("adam", "categorical_crossentropy", &[]).unwrap();
    let ha = a.fit(&d.x_train, &onehot, quiet().class_weight([(0, 2.0), (1, 0.5)])).unwrap();
    let mut b = mlp(3);
    b.compile("adam", "categorical_crossentropy", &[]).unwrap();
    let hb = b.fit(&d.x_train, &onehot, quiet().sample_weight(&per_sample)).unwrap();
    assert_eq!(format!("{:?}", ha.history), format!("{:?}", hb.history));
}

#[test]
fn weights_scale_the_loss_over_the_batch_size_and_weigh_only_weighted_metrics() {
    let d = datasets::load("blobs", 0).unwrap();
    let mut m = mlp(4);
    let options = CompileOptions::new().metrics(&["accuracy"]).weighted_metrics(&["accuracy"]);
    m.compile_with(SGD::new(0.0), "sparse_categorical_crossentropy", options).unwrap();
    let n = d.x_test.batch();
    let w: Vec<f32> = (0..n).map(|i| (i % 4) as f32 * 0.5).collect();
    let plain = m.evaluate(&d.x_test, &d.y_test, 7).unwrap();
    let weighted =
        m.evaluate_with(&d.x_test, &d.y_test, EvaluateOptions::new().batch_size(7).sample_weight(&w)).unwrap();
    // Keras's keys: a weighted metric whose name is taken becomes weighted_<name>.
    assert_eq!(m.metrics_names(), ["accuracy", "weighted_accuracy", "loss"]);
    // Per-sample losses and correctness, by hand.
    let p = m.predict(&d.x_test, 64).unwrap();
    let (mut loss, mut right, mut wsum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &wi) in w.iter().enumerate() {
        let c = d.y_test.data()[i] as usize;
        let l = -(p.row(i)[c].clamp(1e-7, 1.0 - 1e-7) as f64).ln();
        let hit = minibatch::tensor::kernels::argmax(p.row(i)) == c;
        (loss, right, wsum) = (loss + wi as f64 * l, right + wi as f64 * hit as u8 as f64, wsum + wi as f64);
    }
    assert!((weighted.get("loss").unwrap() - loss / n as f64).abs() < 1e-4, "Σ w·l / n, not / Σ w");
    assert!((weighted.get("weighted_accuracy").unwrap() - right / wsum).abs() < 1e-9, "Σ w·hit / Σ w");
    assert_eq!(weighted.get("accuracy"), plain.get("accuracy"), "metrics ignore the weights");
    assert_eq!(plain.get("weighted_accuracy"), plain.get("accuracy"), "no weights: the same");
    // Repeated names get _1, as Keras.
    let mut m = mlp(4);
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy", "accuracy"]).unwrap();
    assert_eq!(m.metrics_names(), ["accuracy", "accuracy_1", "loss"]);
}

#[test]
fn validation_and_evaluation_steps_take_the_first_batches() {
    let d = datasets::load("blobs", 0).unwrap();
    let mut m = mlp(5);
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m
        .fit(
            &d.x_train,
            &d.y_train,
            quiet().epochs(1).validation_data(&d.x_test, &d.y_test).validation_batch_size(5).validation_steps(3),
        )
        .unwrap();
    let first15: Vec<usize> = (0..15).collect();
    let logs = m.evaluate(&d.x_test.select_rows(&first15), &d.y_test.select_rows(&first15), 5).unwrap();
    assert_eq!(h.get("val_loss").unwrap()[0], logs.get("loss").unwrap());
    let stepped = m.evaluate_with(&d.x_test, &d.y_test, EvaluateOptions::new().batch_size(5).steps(3)).unwrap();
    assert_eq!(stepped.get("loss"), logs.get("loss"));
    let p = m.predict_with(&d.x_test, EvaluateOptions::new().batch_size(4).steps(2)).unwrap();
    assert_eq!(p.shape(), [8, 3]);
    assert_eq!(p.data(), m.predict(&d.x_test.select_rows(&(0..8).collect::<Vec<_>>()), 8).unwrap().data());
}

#[test]
fn steps_per_epoch_walks_through_the_data_in_turns() {
    // 10 samples in batches of 4: 3 batches per pass. With 2 steps per epoch the epochs take
    // 2, 1 (the pass runs out), 2, 1, ... updates, as Keras 3's epoch iterator.
    let x = Tensor::from_vec(&[10, 2], (0..20).map(|i| i as f32 / 20.0).collect()).unwrap();
    let y = Tensor::from_slice(&[0., 1., 2., 0., 1., 2., 0., 1., 2., 0.]);
    let mut m = mlp(6);
    m.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let mut counts = Vec::new();
    for epoch in 0..4 {
        let h = m
            .fit(
                &x,
                &y,
                FitOptions::new().verbose(0).batch_size(4).steps_per_epoch(2).epochs(epoch + 1).initial_epoch(epoch),
            )
            .unwrap();
        counts.push(h.weight_updates);
    }
    // Each fit call starts its own pass (Keras's iterator lives for one fit call).
    assert_eq!(counts, [2, 2, 2, 2]);
    let h = m.fit(&x, &y, FitOptions::new().verbose(0).batch_size(4).steps_per_epoch(2).epochs(4)).unwrap();
    assert_eq!(h.weight_updates, 2 + 1 + 2 + 1);
    let h = m.fit(&x, &y, FitOptions::new().verbose(0).batch_size(4).steps_per_epoch(5).epochs(2)).unwrap();
    assert_eq!(h.weight_updates, 3 + 3, "more steps than a pass: each epoch is one pass");
}

#[test]
fn ema_weights_replace_the_weights_after_fit_and_swap_in_for_validation() {
    let d = datasets::load("blobs", 0).unwrap();
    let compile = |m: &mut Sequential| {
        m.compile(SGD::new(0.1).momentum(0.5).ema(0.9), "sparse_categorical_crossentropy", &[]).unwrap();
    };
    let options = || quiet().epochs(2).validation_data(&d.x_test, &d.y_test);
    // Without the callback: validation sees the raw weights, fit ends on the averages.
    let mut raw = mlp(7);
    compile(&mut raw);
    let h_raw = raw.fit(&d.x_train, &d.y_train, options()).unwrap();
    let averages: Vec<Vec<f32>> = raw.optimizer().unwrap().base().averages().to_vec();
    assert_eq!(raw.get_weights().iter().map(|t| t.data().to_vec()).collect::<Vec<_>>(), averages);
    let end = raw.evaluate(&d.x_test, &d.y_test, 16).unwrap().get("loss").unwrap();
    assert_ne!(h_raw.get("val_loss").unwrap()[1], end);
    // With SwapEMAWeights the last validation measured the averages, which fit then keeps.
    let mut swapped = mlp(7);
    compile(&mut swapped);
    let mut swap = SwapEMAWeights::new();
    let h = swapped.fit(&d.x_train, &d.y_train, options().callback(&mut swap)).unwrap();
    assert_eq!(h.get("val_loss").unwrap()[1], swapped.evaluate(&d.x_test, &d.y_test, 16).unwrap().get("loss").unwrap());
    assert_eq!(h.get("loss"), h_raw.get("loss"), "swapping back leaves training untouched");
    assert_eq!(bits(&swapped.get_weights()), bits(&raw.get_weights()));
}

#[test]
fn everything_new_is_saved_and_a_loaded_run_continues_exactly() {
    let d = datasets::load("moons", 0).unwrap();
    let build = || {
        let mut m = Sequential::new()
            .seed(8)
            .input_shape(&[2])
            .add(
                Dense::new(8)
                    .activation("tanh")
                    .kernel_regularizer(Regularizer::l1_l2(1e-3, 1e-2))
                    .activity_regularizer(Regularizer::l2(1e-3))
                    .kernel_constraint(Constraint::max_norm(1.5))
                    .bias_constraint(Constraint::NonNeg),
            )
            .add(Dense::new(2).activation("softmax"));
        let options = CompileOptions::new()
            .metric("accuracy")
            .metric(Auc::with("pr_auc", Curve::Pr, 50))
            .metric(Confusion::precision().threshold(0.4).class_id(1))
            .weighted_metric(FBetaScore::f1())
            .weighted_metric("sparse_top_k_categorical_accuracy");
        // (Not EMA: the end of fit replaces the weights with their averages, so a run split in
        // two fit calls differs from one call, in Keras too; EMA's state is checked below.)
        let opt = Nadam::new(0.01).clipnorm(1.0).gradient_accumulation_steps(2);
        let loss = BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false };
        m.compile_with(opt, loss, options).unwrap();
        m
    };
    let w: Vec<f32> = (0..d.x_train.batch()).map(|i| 0.5 + (i % 3) as f32).collect();
    let options = |epochs| FitOptions::new().verbose(0).batch_size(16).epochs(epochs).sample_weight(&w);
    let mut straight = build();
    let whole = straight.fit(&d.x_train, &d.y_train, options(4)).unwrap();

    let dir = temp_dir("keras-options");
    let mut first = build();
    let h = first.fit(&d.x_train, &d.y_train, options(2)).unwrap();
    first.save(dir.join("half.safetensors")).unwrap();
    let mut second = Sequential::load(dir.join("half.safetensors")).unwrap();
    assert_eq!(second.metrics_names(), first.metrics_names());
    assert_eq!(second.compile_config().unwrap(), first.compile_config().unwrap());
    let resumed = second.fit(&d.x_train, &d.y_train, options(4).continue_history(h)).unwrap();
    assert_eq!(format!("{:?}", resumed.history), format!("{:?}", whole.history));
    assert_eq!(bits(&second.get_weights()), bits(&straight.get_weights()));
    let opt = second.optimizer().unwrap();
    assert_eq!(opt.iterations(), straight.optimizer().unwrap().iterations());

    // The moving averages and the options come back too.
    let mut ema = mlp(9);
    ema.compile(SGD::new(0.1).ema(0.9).ema_overwrite_frequency(3), "sparse_categorical_crossentropy", &[]).unwrap();
    ema.fit(&d.x_train, &d.y_train, FitOptions::new().verbose(0).epochs(1)).unwrap();
    ema.save(dir.join("ema.safetensors")).unwrap();
    let loaded = Sequential::load(dir.join("ema.safetensors")).unwrap();
    let (a, b) = (ema.optimizer().unwrap().base(), loaded.optimizer().unwrap().base());
    assert_eq!((a.options, a.steps(), a.averages()), (b.options, b.steps(), b.averages()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn validation_split_holds_out_the_sample_weights_too() {
    // Keras splits `sample_weight` with `x` and `y`: the held-out samples keep their weights
    // (class_weight, by contrast, is never applied to validation data).
    use minibatch::training::{split_rows, SplitMode};
    let d = datasets::load("blobs", 0).unwrap();
    let w: Vec<f32> = (0..d.x_train.batch()).map(|i| 0.25 + (i % 5) as f32).collect();
    let mut m = mlp(10);
    let weighted = CompileOptions::new().weighted_metrics(&["accuracy"]);
    m.compile_with(SGD::new(0.0), "sparse_categorical_crossentropy", weighted).unwrap();
    let h = m.fit(&d.x_train, &d.y_train, quiet().epochs(1).sample_weight(&w).validation_split(0.25)).unwrap();
    let (_, held) = split_rows(&d.y_train, 0.25, SplitMode::Tail, 10).unwrap();
    let (x, y) = (d.x_train.select_rows(&held), d.y_train.select_rows(&held));
    let held_w: Vec<f32> = held.iter().map(|&i| w[i]).collect();
    let with = m.evaluate_with(&x, &y, EvaluateOptions::new().batch_size(16).sample_weight(&held_w)).unwrap();
    let without = m.evaluate(&x, &y, 16).unwrap();
    assert_eq!(h.get("val_loss").unwrap()[0], with.get("loss").unwrap());
    assert_eq!(h.get("val_accuracy").unwrap()[0], with.get("accuracy").unwrap());
    assert_ne!(with.get("loss"), without.get("loss"), "the weights change the validation loss");
}

/// Keras applies `class_weight` to the training batches only: the validation loss of an
/// epoch is the unweighted loss of the validation data, from every validation source.
#[test]
fn class_weight_never_weighs_validation_data() {
    use minibatch::data::TensorDataset;
    let d = datasets::load("blobs", 0).unwrap();
    // The tail that validation_split(0.2) holds out, as Keras cuts it.
    let n = d.x_train.batch();
    let held = n - (n as f64 * 0.8).floor() as usize;
    let (vx, vy) = (d.x_train.slice_rows(n - held, n), d.y_train.slice_rows(n - held, n));
    let (tx, ty) = (d.x_train.slice_rows(0, n - held), d.y_train.slice_rows(0, n - held));
    let weights = [(0, 5.0f32), (1, 0.1), (2, 1.0)];
    let check = |source: &str, mut m: Sequential, h: minibatch::callbacks::History| {
        let val_loss = *h.get("val_loss").unwrap().last().unwrap();
        let unweighted = m.evaluate(&vx, &vy, 16).unwrap().get("loss").unwrap();
        let per_sample: Vec<f32> = vy.data().iter().map(|&c| weights[c as usize].1).collect();
        let weighted = m
            .evaluate_with(&vx, &vy, EvaluateOptions::new().batch_size(16).sample_weight(&per_sample))
            .unwrap()
            .get("loss")
            .unwrap();
        assert!((val_loss - unweighted).abs() <= 1e-9 * unweighted.abs(), "{source}: {val_loss} vs {unweighted}");
        assert!((weighted - unweighted).abs() > 1e-3 * unweighted.abs(), "{source}: the weights would show");
    };
    let compiled = || {
        let mut m = mlp(4);
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        m
    };
    let mut m = compiled();
    let h = m.fit(&d.x_train, &d.y_train, quiet().epochs(2).validation_split(0.2).class_weight(weights)).unwrap();
    check("validation_split", m, h);
    let mut m = compiled();
    let h = m.fit(&tx, &ty, quiet().epochs(2).validation_data(&vx, &vy).class_weight(weights)).unwrap();
    check("validation_data", m, h);
    let mut m = compiled();
    let mut train = TensorDataset::new(vec![tx.clone()], vec![ty.clone()], 16).unwrap();
    let mut val = TensorDataset::new(vec![vx.clone()], vec![vy.clone()], 16).unwrap();
    let h = m
        .fit_dataset(
            &mut train,
            FitOptions::new().verbose(0).epochs(2).validation_dataset(&mut val).class_weight(weights),
        )
        .unwrap();
    check("validation_dataset", m, h);
}
