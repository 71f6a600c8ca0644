//! ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, CSVLogger and LambdaCallback:
//! each against Keras's documented behaviour.

use crate::common::{indexed, random, temp_dir, Recorder};
use minibatch::callbacks::{CSVLogger, LambdaCallback, LearningRateScheduler, Mode, ReduceLROnPlateau, TerminateOnNaN};
use minibatch::layers::Dense;
use minibatch::optimizers::SGD;
use minibatch::{FitOptions, Sequential};
use std::cell::RefCell;
use std::rc::Rc;

fn model(lr: f32) -> Sequential {
    let mut m = Sequential::new().add(Dense::new(2).activation("softmax"));
    m.compile(SGD::new(lr), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

fn rates(h: &minibatch::callbacks::History) -> Vec<f32> {
    h.get("learning_rate").unwrap().iter().map(|&v| v as f32).collect()
}

#[test]
fn reduce_lr_on_plateau_with_patience_cooldown_and_min_lr() {
    // A flat score: after the first epoch nothing improves. patience 2 reduces at epochs 2, 4,
    // 6, 8 (cooldown 1 resets `wait` for one epoch after each), never below min_lr 0.01.
    let (x, y) = indexed(8);
    let mut m = model(0.1);
    let mut rec = Recorder { script: vec![1.0; 10], ..Recorder::default() };
    let mut reduce = ReduceLROnPlateau::new()
        .monitor("score")
        .mode(Mode::Min)
        .factor(0.5)
        .patience(2)
        .cooldown(1)
        .min_lr(0.01)
        .min_delta(0.0);
    let h = m
        .fit(&x, &y, FitOptions::new().batch_size(4).epochs(10).verbose(0).callback(&mut rec).callback(&mut reduce))
        .unwrap();
    assert_eq!(
        rates(&h),
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.01],
        "the rate used in each epoch"
    );
    assert_eq!(m.optimizer_mut().unwrap().learning_rate(), 0.01);
    // an improvement resets the count
    let mut m = model(0.1);
    let mut rec = Recorder { script: vec![3.0, 3.0, 2.0, 2.0, 2.0], ..Recorder::default() };
    let mut reduce = ReduceLROnPlateau::new().monitor("score").mode(Mode::Min).factor(0.5).patience(2);
    let h = m
        .fit(&x, &y, FitOptions::new().batch_size(4).epochs(5).verbose(0).callback(&mut rec).callback(&mut reduce))
        .unwrap();
    assert_eq!(rates(&h), [0.1, 0.1, 0.1, 0.1, 0.1]);
    assert_eq!(m.optimizer_mut().unwrap().learning_rate(), 0.05, "reduced after the last epoch");
    // auto mode on accuracy: larger is better. Best 0.7 at epoch 1, two epochs without
    // improvement, reduced after epoch 3; as a loss the same values would reduce after epochs 2
    // and 4 ([0.1, 0.1, 0.1, 0.05, 0.05, 0.025]).
    for (key, want) in [
        ("accuracy", [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]),
        ("val_accuracy", [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]),
        ("loss", [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]),
    ] {
        let mut m = model(0.1);
        let script = vec![0.5, 0.7, 0.6, 0.65, 0.9, 0.9];
        let mut rec = Recorder { script, script_key: Some(key), ..Recorder::default() };
        let mut reduce = ReduceLROnPlateau::new().monitor(key).factor(0.5).patience(2);
        let options = FitOptions::new().batch_size(4).epochs(6).verbose(0).callback(&mut rec).callback(&mut reduce);
        assert_eq!(rates(&m.fit(&x, &y, options).unwrap()), want, "{key}");
    }
    // a factor of 1 or more is refused
    let mut bad = ReduceLROnPlateau::new().factor(1.0);
    assert!(model(0.1).fit(&x, &y, FitOptions::new().verbose(0).callback(&mut bad)).is_err());
}

#[test]
fn learning_rate_scheduler_sets_each_epochs_rate() {
    let (x, y) = indexed(8);
    let mut m = model(0.1);
    let mut s = LearningRateScheduler::new(|epoch, lr| if epoch < 2 { lr } else { lr * 0.5 });
    let h = m.fit(&x, &y, FitOptions::new().batch_size(4).epochs(4).verbose(0).callback(&mut s)).unwrap();
    assert_eq!(rates(&h), [0.1, 0.1, 0.05, 0.025]);
    let mut nan = LearningRateScheduler::new(|_, _| f32::NAN);
    let e = model(0.1).fit(&x, &y, FitOptions::new().verbose(0).callback(&mut nan)).unwrap_err();
    assert!(e.to_string().contains("learning_rate"), "{e}");
}

#[test]
fn terminate_on_nan_stops_after_the_first_bad_batch() {
    // A learning rate of 1e30 makes the loss overflow within a few updates.
    let x = random(&[40, 3], 1);
    let y = random(&[40, 1], 2);
    let mut m = Sequential::new().add(Dense::new(1));
    m.compile(SGD::new(1e30), "mse", &[]).unwrap();
    let mut stop = TerminateOnNaN::new();
    let h = m.fit(&x, &y, FitOptions::new().batch_size(2).epochs(5).verbose(0).callback(&mut stop)).unwrap();
    let batch = stop.terminated_at().expect("training was stopped");
    assert_eq!(h.epochs_run(), 1);
    assert_eq!(h.weight_updates, batch as u64 + 1, "stopped right after the bad batch");
    assert!(batch < 19 && !h.get("loss").unwrap()[0].is_finite());
}

#[test]
fn csv_logger_writes_a_row_per_epoch_and_appends() {
    let dir = temp_dir("csvlog");
    let path = dir.join("log.csv");
    let (x, y) = indexed(20);
    let mut m = model(0.1);
    let mut log = CSVLogger::new(&path);
    m.fit(&x, &y, FitOptions::new().batch_size(5).epochs(3).validation_split(0.2).verbose(0).callback(&mut log))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,accuracy,loss,val_accuracy,val_loss");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("0,") && lines[3].starts_with("2,"), "0-based epochs as Keras writes them");
    assert_eq!(lines[3].split(',').count(), 5);
    // append: no second header; a new file with another separator
    let mut log = CSVLogger::new(&path).append(true);
    m.fit(&x, &y, FitOptions::new().batch_size(5).epochs(2).validation_split(0.2).verbose(0).callback(&mut log))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert_eq!(text.lines().filter(|l| l.starts_with("epoch")).count(), 1);
    let semi = dir.join("semi.csv");
    let mut log = CSVLogger::new(&semi).separator(';');
    m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0).callback(&mut log)).unwrap();
    assert_eq!(std::fs::read_to_string(&semi).unwrap().lines().next().unwrap(), "epoch;accuracy;loss");
    // an unwritable path is an error, not a panic
    let mut bad = CSVLogger::new(dir.join("no/such/dir/log.csv"));
    assert!(matches!(m.fit(&x, &y, FitOptions::new().verbose(0).callback(&mut bad)), Err(minibatch::Error::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lambda_callback_runs_its_closures_at_each_hook() {
    let calls = Rc::new(RefCell::new(Vec::<String>::new()));
    let (c1, c2, c3, c4) = (calls.clone(), calls.clone(), calls.clone(), calls.clone());
    let mut cb = LambdaCallback::new()
        .on_train_begin(move || c1.borrow_mut().push("train_begin".into()))
        .on_epoch_end(move |e, logs| c2.borrow_mut().push(format!("epoch_end {e} {}", logs.get("loss").is_some())))
        .on_train_batch_end(move |b, _| c3.borrow_mut().push(format!("batch_end {b}")))
        .on_train_end(move |_| c4.borrow_mut().push("train_end".into()));
    let (x, y) = indexed(6);
    model(0.1).fit(&x, &y, FitOptions::new().batch_size(3).epochs(2).verbose(0).callback(&mut cb)).unwrap();
    let want = [
        "train_begin",
        "batch_end 0",
        "batch_end 1",
        "epoch_end 0 true",
        "batch_end 0",
        "batch_end 1",
        "epoch_end 1 true",
        "train_end",
    ];
    assert_eq!(*calls.borrow(), want);
}

#[test]
fn a_scheduled_optimizer_decays_per_step_through_fit() {
    use minibatch::optimizers::schedules::{ExponentialDecay, LearningRateSchedule, Scheduled};
    let (x, y) = indexed(12);
    let schedule = ExponentialDecay::new(0.1, 4, 0.5);
    let mut m = Sequential::new().add(Dense::new(2).activation("softmax"));
    m.compile(Scheduled::new(SGD::default(), schedule.clone()), "sparse_categorical_crossentropy", &[]).unwrap();
    let h = m.fit(&x, &y, FitOptions::new().batch_size(4).epochs(3).verbose(0)).unwrap();
    assert_eq!(h.weight_updates, 9);
    // The last update (after 8) used rate(8) = 0.1 · 0.5² .
    assert_eq!(m.optimizer_mut().unwrap().learning_rate(), schedule.rate(8));
    assert!((schedule.rate(8) - 0.025).abs() < 1e-9);
}
