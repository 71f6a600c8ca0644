//! The callback contract and EarlyStopping's documented behaviours.
//!
//! EarlyStopping tests monitor a scripted `score` that a Recorder (which runs first) writes into
//! the epoch logs, so each behaviour is pinned against a known sequence of values.

use crate::common::{indexed, Recorder};
use minibatch::callbacks::{EarlyStopping, Mode};
use minibatch::layers::Dense;
use minibatch::{FitOptions, Sequential, Tensor};

fn model() -> (Sequential, Tensor, Tensor) {
    let (x, y) = indexed(8);
    let mut m = Sequential::new().add(Dense::new(2).activation("softmax"));
    m.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    (m, x, y)
}

/// Runs `epochs` epochs with `score` scripted; returns (epochs run, recorder, the callback).
fn run(stop: EarlyStopping, script: &[f64], epochs: usize) -> (usize, Recorder, EarlyStopping, Sequential) {
    let (mut m, x, y) = model();
    let mut rec = Recorder { script: script.to_vec(), ..Recorder::default() };
    let mut stop = stop;
    let h = m
        .fit(&x, &y, FitOptions::new().batch_size(4).epochs(epochs).verbose(0).callback(&mut rec).callback(&mut stop))
        .unwrap();
    (h.epochs_run(), rec, stop, m)
}

fn es() -> EarlyStopping {
    EarlyStopping::new().monitor("score").mode(Mode::Min)
}

#[test]
fn hooks_run_in_keras_order() {
    let (mut m, x, y) = model();
    let mut rec = Recorder::default();
    m.fit(&x, &y, FitOptions::new().batch_size(5).epochs(2).verbose(0).callback(&mut rec)).unwrap();
    let want = [
        "train_begin steps=2",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        "epoch_end 0",
        "epoch_begin 1",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        "epoch_end 1",
        "train_end",
    ];
    assert_eq!(rec.events, want);
}

#[test]
fn stop_from_a_batch_hook_ends_the_epoch_then_training() {
    let (mut m, x, y) = model();
    let mut rec = Recorder { stop_at_batch: Some((1, 0)), ..Recorder::default() };
    let h = m.fit(&x, &y, FitOptions::new().batch_size(2).epochs(5).verbose(0).callback(&mut rec)).unwrap();
    assert_eq!(h.epochs_run(), 2, "the stopped epoch still ends and is recorded");
    assert_eq!(h.weight_updates, 4 + 1);
    assert_eq!(rec.events.last().unwrap(), "train_end");
}

#[test]
fn patience_counts_epochs_without_improvement() {
    // Best at epoch 1 (0-based); patience 2 stops after epochs 2 and 3 fail to improve.
    let (run_epochs, _, stop, _) = run(es().patience(2), &[5.0, 3.0, 4.0, 3.5, 1.0, 1.0], 6);
    assert_eq!(run_epochs, 4);
    assert_eq!(stop.stopped_epoch(), Some(3));
    assert_eq!(stop.best_epoch(), Some(1));
    assert_eq!(stop.best(), Some(3.0));
    // patience 0 stops at the first epoch that does not improve
    let (run_epochs, _, _, _) = run(es(), &[5.0, 4.0, 4.5, 1.0], 4);
    assert_eq!(run_epochs, 3);
}

#[test]
fn min_delta_requires_a_large_enough_improvement() {
    // Improvements of 0.05 do not count with min_delta 0.1: epoch 1 already fails.
    let (run_epochs, _, stop, _) = run(es().min_delta(0.1).patience(1), &[1.0, 0.95, 0.9, 0.85], 4);
    assert_eq!(run_epochs, 2);
    assert_eq!(stop.best_epoch(), Some(0));
    let (run_epochs, _, _, _) = run(es().patience(1), &[1.0, 0.95, 0.9, 0.85], 4);
    assert_eq!(run_epochs, 4, "without min_delta every step improves");
}

#[test]
fn max_mode_and_auto_mode_follow_the_metric() {
    let (run_epochs, _, stop, _) = run(es().mode(Mode::Max), &[0.5, 0.7, 0.6, 0.9], 4);
    assert_eq!((run_epochs, stop.best_epoch()), (3, Some(1)));
    // auto: accuracy is maximized, loss minimized, an unknown key is an error
    let (mut m, x, y) = model();
    let mut acc = EarlyStopping::new().monitor("accuracy");
    m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0).callback(&mut acc)).unwrap();
    let mut unknown = EarlyStopping::new().monitor("score");
    let err = m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0).callback(&mut unknown)).unwrap_err();
    assert!(err.to_string().contains("score"), "{err}");
}

#[test]
fn auto_mode_maximizes_accuracies_and_minimizes_losses() {
    // Scripted values under Keras's auto mode: accuracy improves upwards, so the best is 0.7 at
    // epoch 1 and patience 2 stops after epoch 3; the same values as a loss are best at epoch 0
    // and stop after epoch 2.
    let script = [0.5, 0.7, 0.6, 0.65, 0.9];
    let run_auto = |key: &'static str| {
        let (mut m, x, y) = model();
        let mut rec = Recorder { script: script.to_vec(), script_key: Some(key), ..Recorder::default() };
        let mut stop = EarlyStopping::new().monitor(key).patience(2);
        let options = FitOptions::new().batch_size(4).epochs(5).verbose(0).callback(&mut rec).callback(&mut stop);
        let h = m.fit(&x, &y, options).unwrap();
        (h.epochs_run(), stop.best_epoch(), stop.best(), stop.stopped_epoch())
    };
    assert_eq!(run_auto("accuracy"), (4, Some(1), Some(0.7), Some(3)));
    assert_eq!(run_auto("val_accuracy"), (4, Some(1), Some(0.7), Some(3)));
    assert_eq!(run_auto("loss"), (3, Some(0), Some(0.5), Some(2)));
    assert_eq!(run_auto("val_loss"), (3, Some(0), Some(0.5), Some(2)));
}

#[test]
fn baseline_must_be_beaten_to_reset_patience() {
    // Epoch 0 improves on nothing but does not beat the baseline 1.0, so `wait` is not reset:
    // patience 2 runs out one epoch sooner than without a baseline.
    let script = [3.0, 3.5, 3.2, 0.5];
    let (run_epochs, _, stop, _) = run(es().baseline(1.0).patience(2), &script, 4);
    assert_eq!((run_epochs, stop.stopped_epoch()), (2, Some(1)));
    let (run_epochs, _, stop, _) = run(es().patience(2), &script, 4);
    assert_eq!((run_epochs, stop.stopped_epoch()), (3, Some(2)));
    // Beating the baseline resets it as usual.
    let (run_epochs, _, _, _) = run(es().baseline(1.0).patience(2), &[0.9, 0.95, 0.97, 0.5], 4);
    assert_eq!(run_epochs, 3);
}

#[test]
fn restore_best_weights_at_the_end_even_without_stopping() {
    let script = [3.0, 1.0, 2.0, 2.5];
    let (run_epochs, rec, stop, m) = run(es().patience(10).restore_best_weights(true), &script, 4);
    assert_eq!(run_epochs, 4);
    assert_eq!(stop.stopped_epoch(), None);
    assert!(stop.restored());
    assert_eq!(m.get_weights(), rec.weights_at_epoch_end[1], "weights of the best epoch (index 1)");
    // and when it does stop early
    let (_, rec, stop, m) = run(es().patience(1).restore_best_weights(true), &[3.0, 1.0, 2.0, 2.5, 0.1], 5);
    assert_eq!(stop.stopped_epoch(), Some(2));
    assert_eq!(m.get_weights(), rec.weights_at_epoch_end[1]);
    // without the flag, the last weights stay
    let (_, rec, _, m) = run(es().patience(1), &[3.0, 1.0, 2.0, 2.5], 4);
    assert_eq!(m.get_weights(), rec.weights_at_epoch_end[2]);
}

#[test]
fn start_from_epoch_ignores_the_warm_up() {
    // Epochs 0 and 1 are ignored: the spike at epoch 2 becomes the first reference.
    let (run_epochs, _, stop, _) = run(es().start_from_epoch(2), &[1.0, 0.5, 9.0, 8.0, 8.5], 5);
    assert_eq!(run_epochs, 5);
    assert_eq!(stop.stopped_epoch(), Some(4));
    assert_eq!(stop.best_epoch(), Some(3));
}

#[test]
fn a_missing_monitor_value_never_stops_training() {
    let (mut m, x, y) = model();
    let mut stop = EarlyStopping::new(); // monitors val_loss, but there is no validation
    let h = m.fit(&x, &y, FitOptions::new().epochs(3).verbose(0).callback(&mut stop)).unwrap();
    assert_eq!(h.epochs_run(), 3);
    assert_eq!(stop.best_epoch(), None);
}

#[test]
fn early_stopping_on_real_validation_loss_stops_and_restores() {
    // Few samples, a big model, many epochs: validation loss turns up, training goes on falling.
    let data = minibatch::datasets::load("moons", 1).unwrap();
    let x = data.x_train.slice_rows(0, 40);
    let y = data.y_train.slice_rows(0, 40);
    let mut m = Sequential::new()
        .add(Dense::new(128).activation("relu"))
        .add(Dense::new(128).activation("relu"))
        .add(Dense::new(2).activation("softmax"));
    m.compile(minibatch::optimizers::Adam::new(0.01), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let mut stop = EarlyStopping::new().patience(5).restore_best_weights(true);
    let h = m
        .fit(
            &x,
            &y,
            FitOptions::new()
                .batch_size(8)
                .epochs(300)
                .validation_data(&data.x_test, &data.y_test)
                .verbose(0)
                .callback(&mut stop),
        )
        .unwrap();
    let best = stop.best_epoch().unwrap();
    assert!(h.epochs_run() < 300, "overfitting was caught");
    assert_eq!(stop.stopped_epoch(), Some(best + 5));
    let val = h.get("val_loss").unwrap();
    let min = val.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(val[best], min);
    let now = m.evaluate(&data.x_test, &data.y_test, 256).unwrap().get("loss").unwrap();
    assert!((now - min).abs() < 1e-6, "restored weights reproduce the best val_loss: {now} vs {min}");
}

#[test]
fn end_of_training_summary_names_the_best_epoch_and_the_stop() {
    use minibatch::callbacks::Callback;
    let (_, rec, stop, _) = run(es().patience(1).restore_best_weights(true), &[3.0, 1.0, 2.0, 2.5, 0.1], 5);
    assert_eq!(rec.epoch_logs.len(), 3);
    let line = stop.summary().unwrap();
    assert_eq!(line, "Early stopping: stopped after epoch 3, best score at epoch 2; best weights restored");
    // Without validation there is no best epoch: the lowest running training loss is named
    // as what it is.
    let (mut m, x, y) = model();
    let h = m.fit(&x, &y, FitOptions::new().batch_size(4).epochs(3).verbose(0)).unwrap();
    assert_eq!(h.best_epoch(), None);
    let epoch = h.lowest_loss_epoch().unwrap();
    let loss = h.get("loss").unwrap();
    assert_eq!(loss[epoch], loss.iter().cloned().fold(f64::INFINITY, f64::min));
    let text = h.summary(0.5);
    assert!(
        text.contains("epochs run: 3")
            && !text.contains("best epoch:")
            && text.contains(&format!("lowest training loss: epoch {}", epoch + 1))
            && text.contains("updates/s"),
        "{text}"
    );
}
