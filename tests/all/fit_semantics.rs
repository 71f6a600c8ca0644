//! Every semantic of `fit` that Keras documents, one test each.

use crate::common::{indexed, random, Probe, Recorder};
use minibatch::layers::{Dense, Dropout};
use minibatch::optimizers::SGD;
use minibatch::{FitOptions, Sequential, Tensor};

/// Probe → Dense(2, softmax): the probe records the samples of every forward pass.
fn probed(seed: u64) -> (Sequential, std::sync::Arc<std::sync::Mutex<crate::common::Seen>>) {
    let (probe, seen) = Probe::new();
    let mut model = Sequential::new().seed(seed).add(probe).add(Dense::new(2).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    (model, seen)
}

#[test]
fn updates_per_epoch_are_ceil_n_over_batch_size() {
    // The tutorial's 100 questions: batch 100, 10, 1 → 1, 10, 100 updates per epoch.
    for (batch, per_epoch) in [(100, 1), (10, 10), (1, 100), (32, 4), (7, 15), (1000, 1)] {
        let (x, y) = indexed(100);
        let (mut model, seen) = probed(0);
        let h = model.fit(&x, &y, FitOptions::new().batch_size(batch).epochs(3).verbose(0)).unwrap();
        assert_eq!(h.steps_per_epoch, per_epoch, "batch {batch}");
        assert_eq!(h.weight_updates, 3 * per_epoch as u64);
        assert_eq!(model.optimizer_mut().unwrap().iterations(), 3 * per_epoch as u64, "one optimizer step per batch");
        assert_eq!(seen.lock().unwrap().training_batches().len(), 3 * per_epoch);
    }
}

#[test]
fn last_batch_is_partial_never_dropped_or_padded() {
    let (x, y) = indexed(10);
    let (mut model, seen) = probed(0);
    model.fit(&x, &y, FitOptions::new().batch_size(4).epochs(2).verbose(0)).unwrap();
    let batches = seen.lock().unwrap().training_batches();
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    assert_eq!(sizes, vec![4, 4, 2, 4, 4, 2]);
    for epoch in batches.chunks(3) {
        let mut all: Vec<usize> = epoch.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>(), "every sample exactly once per epoch");
    }
}

#[test]
fn defaults_are_keras_batch_32_one_epoch_shuffled() {
    let (x, y) = indexed(100);
    let (mut model, seen) = probed(0);
    let h = model.fit(&x, &y, FitOptions::new().verbose(0)).unwrap();
    assert_eq!((h.batch_size, h.steps_per_epoch, h.epochs_run()), (32, 4, 1));
    let order: Vec<usize> = seen.lock().unwrap().training_batches().concat();
    assert_ne!(order, (0..100).collect::<Vec<_>>(), "shuffle defaults to on");
}

#[test]
fn shuffle_reorders_every_epoch_from_seed_and_epoch() {
    let run = |seed: u64, shuffle: bool, initial_epoch: usize| {
        let (x, y) = indexed(20);
        let (mut model, seen) = probed(seed);
        let opts = FitOptions::new().batch_size(5).epochs(3).shuffle(shuffle).initial_epoch(initial_epoch).verbose(0);
        model.fit(&x, &y, opts).unwrap();
        let batches = seen.lock().unwrap().training_batches();
        batches.chunks(4).map(|c| c.concat()).collect::<Vec<_>>()
    };
    let a = run(1, true, 0);
    assert_ne!(a[0], a[1], "a new order every epoch");
    assert_ne!(a[1], a[2]);
    assert_eq!(a, run(1, true, 0), "same seed, same orders");
    assert_ne!(a, run(2, true, 0), "another seed, other orders");
    // The order of epoch e depends only on (seed, e): resuming at epoch 1 replays epochs 1, 2.
    assert_eq!(run(1, true, 1), a[1..].to_vec());
    let identity: Vec<usize> = (0..20).collect();
    assert!(run(1, false, 0).iter().all(|o| *o == identity), "shuffle=false keeps the order");
}

#[test]
fn validation_split_takes_the_last_fraction_before_shuffling() {
    let (x, y) = indexed(10);
    let (mut model, seen) = probed(0);
    let h = model.fit(&x, &y, FitOptions::new().batch_size(3).epochs(2).validation_split(0.25).verbose(0)).unwrap();
    // floor(10 × 0.75) = 7 training samples: 0..7; validation: 7, 8, 9.
    assert_eq!(h.train_samples, 7);
    assert_eq!(h.steps_per_epoch, 3);
    let seen = seen.lock().unwrap();
    let mut trained: Vec<usize> = seen.training_batches().concat();
    trained.sort();
    let mut want: Vec<usize> = (0..7).chain(0..7).collect();
    want.sort();
    assert_eq!(trained, want, "each epoch trains on exactly samples 0..7");
    assert_eq!(seen.inference_samples(), vec![7, 8, 9, 7, 8, 9], "validation in order, unshuffled, each epoch");
    assert!(h.get("val_loss").is_some() && h.get("val_accuracy").is_some());
}

#[test]
fn validation_data_takes_precedence_over_validation_split() {
    let (x, y) = indexed(10);
    let vx = Tensor::from_vec(&[2, 2], vec![50., 50., 51., 51.]).unwrap();
    let vy = Tensor::from_slice(&[0., 1.]);
    let (mut model, seen) = probed(0);
    let h = model
        .fit(&x, &y, FitOptions::new().batch_size(5).validation_split(0.5).validation_data(&vx, &vy).verbose(0))
        .unwrap();
    assert_eq!(h.train_samples, 10, "no split taken");
    assert_eq!(seen.lock().unwrap().inference_samples(), vec![50, 51]);
}

#[test]
fn epoch_loss_is_the_sample_weighted_mean_over_batches() {
    // With learning rate 0 the weights never move, so the epoch's training loss must equal
    // evaluate()'s mean over all samples — which holds only if the partial last batch (1 of
    // 10 samples here) is weighted by its size.
    let x = random(&[10, 3], 1);
    let y = Tensor::from_slice(&[0., 1., 2., 0., 1., 2., 0., 1., 2., 2.]);
    let mut model = Sequential::new().add(Dense::new(3).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = model.fit(&x, &y, FitOptions::new().batch_size(3).verbose(0)).unwrap();
    let eval = model.evaluate(&x, &y, 10).unwrap();
    assert!((h.get("loss").unwrap()[0] - eval.get("loss").unwrap()).abs() < 1e-6);
    assert!((h.get("accuracy").unwrap()[0] - eval.get("accuracy").unwrap()).abs() < 1e-12);
}

#[test]
fn a_loss_over_the_whole_batch_is_one_value_per_batch_weighted_by_its_size() {
    // Keras's Dice with axis=None is one value per batch: the epoch's loss is those values
    // weighted by batch size (4, 4, 2), not the Dice of all 10 samples at once.
    use minibatch::losses::{mean_loss, BuiltinLoss, LossAxis};
    let x = random(&[10, 3], 5);
    let y = Tensor::from_vec(&[10, 2], (0..20).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect()).unwrap();
    let dice = BuiltinLoss::Dice { axis: LossAxis::Batch };
    let mut model = Sequential::new().add(Dense::new(2).activation("sigmoid"));
    model.compile(SGD::new(0.0), dice, &[]).unwrap();
    let h = model.fit(&x, &y, FitOptions::new().batch_size(4).shuffle(false).verbose(0)).unwrap();
    let pred = model.predict(&x, 10).unwrap();
    let batch = |lo: usize, hi: usize| {
        let rows: Vec<usize> = (lo..hi).collect();
        mean_loss(&dice, &pred.select_rows(&rows), &y.select_rows(&rows), None, None).unwrap()
    };
    let want = (4.0 * batch(0, 4) + 4.0 * batch(4, 8) + 2.0 * batch(8, 10)) / 10.0;
    let got = h.get("loss").unwrap()[0];
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    assert!((got - batch(0, 10)).abs() > 1e-4, "the whole set's Dice {} is another number", batch(0, 10));
    // And it trains: the Dice of a learnable target (the signs of the first two features) falls.
    let x = random(&[64, 3], 6);
    let y = Tensor::from_vec(&[64, 2], (0..128).map(|i| (x.data()[i / 2 * 3 + i % 2] > 0.0) as u8 as f32).collect())
        .unwrap();
    let mut model = Sequential::new().add(Dense::new(8).activation("relu")).add(Dense::new(2).activation("sigmoid"));
    model.compile(minibatch::optimizers::Adam::new(0.01), "dice", &[]).unwrap();
    let h = model.fit(&x, &y, FitOptions::new().batch_size(16).epochs(40).verbose(0)).unwrap();
    let loss = h.get("loss").unwrap();
    assert!(loss[39] < 0.5 * loss[0], "{loss:?}");
}

#[test]
fn metrics_with_arguments_report_under_keras_names_and_equal_their_standalone_values() {
    use minibatch::metrics::{Iou, Metric, OperatingPoint};
    let x = random(&[40, 4], 8);
    let y = Tensor::from_vec(&[40], (0..40).map(|i| (i % 3) as f32).collect()).unwrap();
    let mut model = Sequential::new().add(Dense::new(3).activation("softmax"));
    let options = minibatch::CompileOptions::new()
        .metric(Iou::mean(3).unwrap().sparse_y_pred(false))
        .metric(OperatingPoint::precision_at_recall(0.5).unwrap().class_id(0).name("p_at_r"));
    model.compile_with(SGD::new(0.0), "sparse_categorical_crossentropy", options).unwrap();
    let h = model.fit(&x, &y, FitOptions::new().batch_size(8).validation_split(0.25).verbose(0)).unwrap();
    for key in ["mean_io_u", "val_mean_io_u", "p_at_r", "val_p_at_r"] {
        assert!(h.get(key).is_some(), "{key} in {:?}", h.keys().collect::<Vec<_>>());
    }
    // The weights never move: the validation value is the metric of the last 10 samples.
    let (vx, vy) = (x.select_rows(&(30..40).collect::<Vec<_>>()), y.select_rows(&(30..40).collect::<Vec<_>>()));
    let mut iou = Iou::mean(3).unwrap().sparse_y_pred(false);
    iou.update(&model.predict(&vx, 10).unwrap(), &vy, None);
    assert!((h.get("val_mean_io_u").unwrap()[0] - iou.result()).abs() < 1e-12);
}

#[test]
fn the_loss_of_a_batch_is_its_mean() {
    let x = random(&[4, 2], 3);
    let y = random(&[4, 1], 4);
    let mut model = Sequential::new().add(Dense::new(1));
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let pred = model.predict(&x, 4).unwrap();
    let want: f64 = pred.data().iter().zip(y.data()).map(|(p, t)| ((p - t) as f64).powi(2)).sum::<f64>() / 4.0;
    let got = model.train_on_batch(&x, &y).unwrap();
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn validation_runs_in_inference_mode_without_dropout() {
    // Learning rate 0 and a heavy dropout: validation must equal a plain evaluate().
    let x = random(&[20, 4], 5);
    let y = Tensor::from_slice(&[0., 1.].repeat(10));
    let mut model = Sequential::new()
        .add(Dense::new(8).activation("relu"))
        .add(Dropout::new(0.5))
        .add(Dense::new(2).activation("softmax"));
    model.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = model.fit(&x, &y, FitOptions::new().batch_size(4).epochs(2).validation_data(&x, &y).verbose(0)).unwrap();
    let eval = model.evaluate(&x, &y, 32).unwrap();
    for e in 0..2 {
        assert_eq!(h.get("val_loss").unwrap()[e], eval.get("loss").unwrap());
    }
    assert_ne!(h.get("loss").unwrap()[0], eval.get("loss").unwrap(), "training saw dropout");
}

#[test]
fn history_has_keras_keys_one_value_per_epoch() {
    let (x, y) = indexed(30);
    let (mut model, _) = probed(0);
    let h = model.fit(&x, &y, FitOptions::new().batch_size(8).epochs(4).validation_split(0.2).verbose(0)).unwrap();
    let keys: Vec<&str> = h.keys().collect();
    assert_eq!(keys, ["accuracy", "loss", "val_accuracy", "val_loss"], "Keras 3's order");
    for k in keys {
        assert_eq!(h.get(k).unwrap().len(), 4, "{k}");
    }
    assert_eq!(h.epoch, vec![0, 1, 2, 3]);
    assert_eq!((h.epochs_run(), h.weight_updates), (4, 4 * 3));
}

#[test]
fn initial_epoch_runs_the_remaining_epochs() {
    let (x, y) = indexed(12);
    let (mut model, _) = probed(0);
    let mut rec = Recorder::default();
    let h = model
        .fit(&x, &y, FitOptions::new().batch_size(4).epochs(5).initial_epoch(2).verbose(0).callback(&mut rec))
        .unwrap();
    assert_eq!(h.epoch, vec![2, 3, 4]);
    assert_eq!(h.weight_updates, 9);
    assert!(rec.events.contains(&"epoch_begin 2".to_string()) && !rec.events.contains(&"epoch_begin 1".to_string()));
}

#[test]
fn validation_freq_validates_every_nth_epoch() {
    let (x, y) = indexed(12);
    let (mut model, seen) = probed(0);
    let h = model
        .fit(&x, &y, FitOptions::new().batch_size(4).epochs(5).validation_split(0.25).validation_freq(2).verbose(0))
        .unwrap();
    let val = h.get("val_loss").unwrap();
    // Epochs 2 and 4 (1-based) validate; the others are recorded as NaN to keep alignment.
    let validated: Vec<bool> = val.iter().map(|v| v.is_finite()).collect();
    assert_eq!(validated, [false, true, false, true, false]);
    assert_eq!(seen.lock().unwrap().inference_samples().len(), 2 * 3);
}

#[test]
fn a_batch_size_larger_than_the_data_is_one_batch() {
    let (x, y) = indexed(5);
    let (mut model, seen) = probed(0);
    let h = model.fit(&x, &y, FitOptions::new().batch_size(64).verbose(0)).unwrap();
    assert_eq!((h.steps_per_epoch, h.batch_size), (1, 5));
    assert_eq!(seen.lock().unwrap().training_batches()[0].len(), 5);
}

#[test]
fn fitting_twice_continues_from_the_trained_weights() {
    let (x, y) = indexed(16);
    let mut model = Sequential::new().add(Dense::new(2).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let h1 = model.fit(&x, &y, FitOptions::new().epochs(2).verbose(0)).unwrap();
    let w = model.get_weights();
    let h2 = model.fit(&x, &y, FitOptions::new().epochs(1).verbose(0)).unwrap();
    assert_ne!(w, model.get_weights());
    assert_eq!(model.optimizer_mut().unwrap().iterations(), h1.weight_updates + h2.weight_updates);
}

#[test]
fn shuffled_and_stratified_validation_splits() {
    use minibatch::training::SplitMode;
    // 40 samples, class 0 for the first 30 and class 1 for the last 10: Keras's tail split
    // would validate on class 1 alone.
    let n = 40;
    let x = Tensor::from_vec(&[n, 2], (0..n).flat_map(|i| [i as f32, i as f32]).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i >= 30) as u8 as f32).collect()).unwrap();
    let held = |seed: u64, mode: SplitMode| {
        let (mut model, seen) = probed(seed);
        let h = model
            .fit(
                &x,
                &y,
                FitOptions::new().batch_size(8).epochs(2).validation_split(0.2).validation_split_mode(mode).verbose(0),
            )
            .unwrap();
        let seen = seen.lock().unwrap();
        let val = seen.inference_samples();
        let (first, second) = val.split_at(val.len() / 2);
        assert_eq!(first, second, "the same validation samples every epoch");
        let mut trained: Vec<usize> = seen.training_batches().concat();
        trained.sort();
        trained.dedup();
        let mut all: Vec<usize> = trained.iter().chain(first).copied().collect();
        all.sort();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "training and validation partition the samples");
        assert_eq!(h.train_samples, trained.len());
        first.to_vec()
    };
    assert_eq!(held(0, SplitMode::Tail), (32..40).collect::<Vec<_>>());
    let shuffled = held(0, SplitMode::Shuffled);
    assert_eq!(shuffled.len(), 8);
    assert_ne!(shuffled, (32..40).collect::<Vec<_>>());
    assert_eq!(shuffled, held(0, SplitMode::Shuffled), "seeded");
    assert_ne!(shuffled, held(1, SplitMode::Shuffled));
    let stratified = held(3, SplitMode::Stratified);
    let minority = stratified.iter().filter(|&&i| i >= 30).count();
    assert_eq!((stratified.len() - minority, minority), (6, 2), "each class keeps its 20%");
}

/// A model whose single output layer computes `logits` for the one input value 1.
fn with_logits(output: Vec<f32>, activation: &str, through_activation_layer: bool) -> Sequential {
    let k = output.len();
    let mut m = Sequential::new().input_shape(&[1]);
    m = if through_activation_layer {
        m.add(Dense::new(k)).add(minibatch::layers::ActivationLayer::new(activation))
    } else {
        m.add(Dense::new(k).activation(activation))
    };
    let loss = if activation == "sigmoid" { "binary_crossentropy" } else { "sparse_categorical_crossentropy" };
    m.compile(SGD::new(0.0), loss, &[]).unwrap();
    m.set_weights(&[Tensor::from_vec(&[1, k], output).unwrap(), Tensor::zeros(&[k])]).unwrap();
    m
}

#[test]
fn a_fused_loss_takes_its_value_from_the_logits_unclipped() {
    // Keras 3 on TensorFlow: a softmax or sigmoid output keeps its logits, and the cross-entropy
    // is computed from them. Logits [10, 0, -22] with label 2: p = 5.8e-15, far below the
    // 1e-7 clip, and the loss is logsumexp(z) − z₂ ≈ 32.0000454, not −ln 1e-7 ≈ 16.118.
    let x = Tensor::from_vec(&[1, 1], vec![1.0]).unwrap();
    let want = 10.0 + (1.0 + (-10.0f64).exp() + (-32.0f64).exp()).ln() + 22.0;
    for through_layer in [false, true] {
        let mut m = with_logits(vec![10.0, 0.0, -22.0], "softmax", through_layer);
        let label = Tensor::from_slice(&[2.0]);
        let p = m.predict(&x, 1).unwrap();
        assert!(p.data()[2] < 1e-7, "{:?}", p.data());
        let loss = m.train_on_batch(&x, &label).unwrap();
        assert!((loss - want).abs() < 1e-4, "training loss {loss} vs {want}");
        let evaluated = m.evaluate(&x, &label, 1).unwrap().get("loss").unwrap();
        assert!((evaluated - want).abs() < 1e-4, "evaluated loss {evaluated} vs {want}");
        // The gradient is p − onehot: about −1 for the label's logit, not the 0 of a clip.
        let dense = &m.layers()[0];
        let g = dense.params()[0].grad.data()[2];
        assert!((g + 1.0).abs() < 1e-6, "∂loss/∂kernel for the label: {g}");
    }
    // Sigmoid and binary cross-entropy: logit −40 with target 1 gives 40 (clipped: 16.118).
    let mut m = with_logits(vec![-40.0], "sigmoid", false);
    let loss = m.train_on_batch(&x, &Tensor::from_vec(&[1, 1], vec![1.0]).unwrap()).unwrap();
    assert!((loss - 40.0).abs() < 1e-4, "{loss}");
    assert!(m.layers()[0].params()[0].grad.data()[0] < -0.99);
    // A loss that does not meet its activation keeps Keras's clipping.
    let mut unfused_cce = Sequential::new().input_shape(&[1]).add(Dense::new(3).activation("sigmoid"));
    unfused_cce.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
    unfused_cce
        .set_weights(&[Tensor::from_vec(&[1, 3], vec![40.0, 40.0, -40.0]).unwrap(), Tensor::zeros(&[3])])
        .unwrap();
    let clipped = unfused_cce.train_on_batch(&x, &Tensor::from_slice(&[2.0])).unwrap();
    assert!((clipped - 16.118_095).abs() < 1e-3, "sigmoid outputs with sparse CE: clipped at 1e-7, {clipped}");
}

#[test]
fn test_on_batch_and_predict_on_batch_are_one_step_of_evaluate_and_predict() {
    let x = Tensor::from_vec(&[6, 3], (0..18).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    let y = Tensor::from_vec(&[6], vec![0.0, 1.0, 2.0, 1.0, 0.0, 2.0]).unwrap();
    let mut model = Sequential::new().seed(4).input_shape(&[3]).add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let weights = model.get_weights();
    // Keras resets the metrics first: another batch before leaves no trace.
    model.test_on_batch(&x.slice_rows(0, 2), &y.slice_rows(0, 2)).unwrap();
    let logs = model.test_on_batch(&x, &y).unwrap();
    let whole = model.evaluate(&x, &y, 6).unwrap();
    assert_eq!(logs.get("loss"), whole.get("loss"));
    assert_eq!(logs.get("accuracy"), whole.get("accuracy"));
    assert_eq!(model.get_weights()[0].data(), weights[0].data(), "no weight changes");
    assert_eq!(model.predict_on_batch(&x).unwrap().data(), model.predict(&x, 6).unwrap().data());
    let empty = Tensor::zeros(&[0, 3]);
    assert!(model.predict_on_batch(&empty).is_err());
    assert!(model.test_on_batch(&empty, &Tensor::zeros(&[0])).is_err());
}
