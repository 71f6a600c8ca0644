//! ModelCheckpoint and BackupAndRestore, with Keras's arguments and semantics.

use crate::common::temp_dir;
use minibatch::callbacks::{BackupAndRestore, Callback, Context, Control, Logs, Mode, ModelCheckpoint, SaveFreq};
use minibatch::layers::{Dense, Dropout};
use minibatch::{datasets, Error, FitOptions, Result, Sequential, Tensor};

fn model(seed: u64) -> Sequential {
    let mut m = Sequential::new()
        .seed(seed)
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.3))
        .add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter().map(|t| t.data().iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn filepath_templates_fill_the_epoch_and_log_values() {
    let d = datasets::load("moons", 0).unwrap();
    let dir = temp_dir("ckpt-template");
    let template = format!("{}/m-{{epoch:02d}}-{{val_loss:.3f}}.safetensors", dir.display());
    let mut ckpt = ModelCheckpoint::new(template);
    let mut m = model(0);
    let h =
        m.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(3).validation_split(0.2).verbose(0).callback(&mut ckpt));
    let h = h.unwrap();
    let expected: Vec<String> = h
        .get("val_loss")
        .unwrap()
        .iter()
        .enumerate()
        .map(|(e, v)| format!("m-{:02}-{v:.3}.safetensors", e + 1))
        .collect();
    assert_eq!(files(&dir), expected);
    assert_eq!(ckpt.saves(), 3);
    // The last file is the model at the end of epoch 3.
    let last = Sequential::load(dir.join(&expected[2])).unwrap();
    assert_eq!(bits(&last.get_weights()), bits(&m.get_weights()));
    // A key the logs do not have is an error naming it, as Keras's KeyError.
    let mut wrong = ModelCheckpoint::new(format!("{}/{{val_acc}}.safetensors", dir.display()));
    let err = model(0).fit(&d.x_train, &d.y_train, FitOptions::new().verbose(0).callback(&mut wrong)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { name: "filepath", .. }) && err.to_string().contains("val_acc"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Feeds a chosen value of a log key (`score` unless named) per epoch, so the saving rule can
/// be checked exactly.
struct Scripted(Vec<f64>, &'static str);
impl Callback for Scripted {
    fn on_epoch_end(&mut self, _ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        logs.set(self.1, self.0[epoch]);
        Ok(Control::Continue)
    }
}

#[test]
fn save_best_only_saves_on_strict_improvements_in_the_chosen_direction() {
    let d = datasets::load("moons", 0).unwrap();
    let dir = temp_dir("ckpt-best");
    let run_keyed = |ckpt: &mut ModelCheckpoint, scores: &[f64], key: &'static str| {
        let mut script = Scripted(scores.to_vec(), key);
        let options = FitOptions::new().epochs(scores.len()).verbose(0).callback(&mut script).callback(ckpt);
        model(0).fit(&d.x_train, &d.y_train, options).unwrap();
    };
    let run = |ckpt: &mut ModelCheckpoint, scores: &[f64]| run_keyed(ckpt, scores, "score");
    let path = format!("{}/best-{{epoch}}.safetensors", dir.display());
    let mut min = ModelCheckpoint::new(&path).monitor("score").mode(Mode::Min).save_best_only(true);
    run(&mut min, &[0.5, 0.6, 0.4, 0.4, 0.3]);
    assert_eq!(files(&dir), ["best-1.safetensors", "best-3.safetensors", "best-5.safetensors"]);
    assert_eq!((min.saves(), min.best()), (3, Some(0.3)));
    std::fs::remove_dir_all(&dir).unwrap();

    let mut max = ModelCheckpoint::new(&path).monitor("score").mode(Mode::Max).save_best_only(true);
    run(&mut max, &[0.5, 0.6, 0.4, 0.7]);
    assert_eq!(files(&dir), ["best-1.safetensors", "best-2.safetensors", "best-4.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();

    // auto mode: accuracy is maximized, a loss minimized.
    for (key, want) in [
        ("accuracy", &["best-1.safetensors", "best-2.safetensors", "best-4.safetensors"][..]),
        ("val_accuracy", &["best-1.safetensors", "best-2.safetensors", "best-4.safetensors"]),
        ("val_loss", &["best-1.safetensors"]),
    ] {
        let mut auto = ModelCheckpoint::new(&path).monitor(key).save_best_only(true);
        run_keyed(&mut auto, &[0.5, 0.7, 0.6, 0.9], key);
        assert_eq!(files(&dir), want, "{key}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // initial_value_threshold: nothing is saved until the threshold is beaten.
    let mut gated = ModelCheckpoint::new(&path).monitor("score").save_best_only(true).initial_value_threshold(0.45);
    gated = gated.mode(Mode::Min);
    run(&mut gated, &[0.5, 0.6, 0.4, 0.44]);
    assert_eq!(files(&dir), ["best-3.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();

    // A monitored key that never appears: nothing saved, training goes on (Keras warns).
    let mut missing = ModelCheckpoint::new(&path).monitor("val_loss").mode(Mode::Min).save_best_only(true);
    run(&mut missing, &[0.1, 0.2]);
    assert_eq!(missing.saves(), 0);
    assert!(!dir.exists() || files(&dir).is_empty());
}

#[test]
fn save_freq_in_batches_counts_across_epochs_and_weights_only_writes_weights() {
    let d = datasets::load("moons", 0).unwrap(); // 800 training samples: 25 batches of 32
    let dir = temp_dir("ckpt-freq");
    let mut ckpt = ModelCheckpoint::new(format!("{}/e{{epoch}}-b{{batch:02d}}.safetensors", dir.display()))
        .save_freq(SaveFreq::Batches(10))
        .save_weights_only(true);
    let mut m = model(0);
    let steps = d.x_train.batch().div_ceil(32);
    m.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(2).verbose(0).callback(&mut ckpt)).unwrap();
    let expected: Vec<String> = (1..=2 * steps)
        .filter(|n| n % 10 == 0)
        .map(|n| format!("e{}-b{:02}.safetensors", (n - 1) / steps + 1, (n - 1) % steps + 1))
        .collect();
    assert_eq!(files(&dir), expected);
    let first = dir.join(&expected[0]);
    let err = Sequential::load(&first).unwrap_err().to_string();
    assert!(err.contains("weights only"), "{err}");
    let mut other = model(9);
    other.build(&[2]).unwrap();
    other.load_weights(&first).unwrap();
    let mut bad = ModelCheckpoint::new("x.safetensors").save_freq(SaveFreq::Batches(0));
    let err = model(0).fit(&d.x_train, &d.y_train, FitOptions::new().verbose(0).callback(&mut bad)).unwrap_err();
    assert!(err.to_string().contains("save_freq"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn continuing_a_history_equals_one_uninterrupted_fit() {
    let d = datasets::load("moons", 0).unwrap();
    let opts = || FitOptions::new().batch_size(16).validation_split(0.25).verbose(0);
    let mut one = model(4);
    let whole = one.fit(&d.x_train, &d.y_train, opts().epochs(5)).unwrap();
    let mut two = model(4);
    let first = two.fit(&d.x_train, &d.y_train, opts().epochs(2)).unwrap();
    let mut seen = SeenHistory::default();
    let rest = two.fit(&d.x_train, &d.y_train, opts().epochs(5).continue_history(first).callback(&mut seen)).unwrap();
    assert_eq!(rest.epoch, [0, 1, 2, 3, 4]);
    assert_eq!(format!("{:?}", rest.history), format!("{:?}", whole.history));
    assert_eq!(rest.weight_updates, whole.weight_updates);
    assert_eq!(bits(&two.get_weights()), bits(&one.get_weights()));
    assert_eq!(seen.0, [2, 3, 4], "callbacks see the continued History grow (Keras's model.history in fit)");
}

/// The epochs in the History a callback sees at each epoch's start.
#[derive(Default)]
struct SeenHistory(Vec<usize>);
impl Callback for SeenHistory {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, _epoch: usize) -> Result<Control> {
        self.0.push(ctx.history().epoch.len());
        Ok(Control::Continue)
    }
}

/// Fails at the start of an epoch, as a crash would end the run there.
struct CrashAt(usize);
impl Callback for CrashAt {
    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        if epoch == self.0 {
            return Err(Error::State("simulated crash".into()));
        }
        Ok(Control::Continue)
    }
}

/// Changes the learning rate once, as ReduceLROnPlateau would: the backup must carry it.
struct SetRateAt(usize, f32);
impl Callback for SetRateAt {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        if epoch == self.0 {
            ctx.model.optimizer_mut().unwrap().set_learning_rate(self.1);
        }
        Ok(Control::Continue)
    }
}

#[test]
fn backup_and_restore_resumes_a_crashed_fit_to_the_same_weights() {
    let d = datasets::load("moons", 0).unwrap();
    let dir = temp_dir("backup");
    fn opts<'a>() -> FitOptions<'a> {
        FitOptions::new().epochs(6).batch_size(16).validation_split(0.2).verbose(0)
    }

    // A checkpoint of the best `score`, scripted best at epoch 2, before the crash: the
    // resumed run must not overwrite it with a later, worse epoch.
    let scores = [0.5, 0.3, 0.6, 0.7, 0.8, 0.9];
    let best_of = |sub: &str| {
        let path = dir.join(sub).join("best.safetensors");
        ModelCheckpoint::new(path.to_str().unwrap()).monitor("score").mode(Mode::Min).save_best_only(true)
    };
    let mut straight = model(8);
    let mut rate = SetRateAt(1, 0.003);
    let (mut script, mut ckpt) = (Scripted(scores.to_vec(), "score"), best_of("straight"));
    let options = opts().callback(&mut rate).callback(&mut script).callback(&mut ckpt);
    let whole = straight.fit(&d.x_train, &d.y_train, options).unwrap();

    // First attempt: an error in epoch 4 (index 3) aborts training, as a crash would.
    let mut backup = BackupAndRestore::new(dir.join("b"));
    let mut crash = CrashAt(3);
    let mut rate = SetRateAt(1, 0.003);
    let (mut script, mut ckpt) = (Scripted(scores.to_vec(), "score"), best_of("resumed"));
    let options =
        opts().callback(&mut crash).callback(&mut rate).callback(&mut script).callback(&mut ckpt).callback(&mut backup);
    let err = model(8).fit(&d.x_train, &d.y_train, options).unwrap_err();
    assert_eq!(err, Error::State("simulated crash".into()));
    assert!(BackupAndRestore::exists(&dir.join("b")), "the backup of epoch 3 is there");

    // Second attempt, a fresh model and the same call: resumes at epoch 4.
    let mut backup = BackupAndRestore::new(dir.join("b"));
    let mut resumed_model = model(8);
    let mut rate = SetRateAt(1, 0.003);
    let (mut script, mut ckpt) = (Scripted(scores.to_vec(), "score"), best_of("resumed"));
    let options = opts().callback(&mut rate).callback(&mut script).callback(&mut ckpt).callback(&mut backup);
    let resumed = resumed_model.fit(&d.x_train, &d.y_train, options).unwrap();
    assert_eq!(ckpt.saves(), 0, "epochs 4-6 are worse than the best before the crash");
    let best = |sub: &str| bits(&Sequential::load(dir.join(sub).join("best.safetensors")).unwrap().get_weights());
    assert_eq!(best("resumed"), best("straight"), "the best checkpoint is epoch 2's, bit for bit");
    assert_eq!(resumed_model.optimizer().unwrap().learning_rate(), 0.003, "the rate in force comes back");
    assert_eq!(backup.resumed_at(), Some(3));
    assert_eq!(resumed.epoch, whole.epoch, "the History is whole");
    assert_eq!(format!("{:?}", resumed.history), format!("{:?}", whole.history));
    assert_eq!(bits(&resumed_model.get_weights()), bits(&straight.get_weights()), "bit for bit");
    assert!(!dir.join("b").exists(), "deleted when training completes (delete_checkpoint)");

    // A backup made by another model is refused, not half-loaded.
    let mut keep = BackupAndRestore::new(dir.join("c")).delete_checkpoint(false);
    model(8).fit(&d.x_train, &d.y_train, opts().epochs(1).callback(&mut keep)).unwrap();
    let mut other = Sequential::new().seed(8).add(Dense::new(4)).add(Dense::new(2).activation("softmax"));
    other.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let mut restore = BackupAndRestore::new(dir.join("c"));
    let err = other.fit(&d.x_train, &d.y_train, opts().callback(&mut restore)).unwrap_err().to_string();
    assert!(err.contains("different model") && err.contains("backup.safetensors"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_resumed_run_with_early_stopping_and_reduce_lr_ends_as_an_uninterrupted_one() {
    // Scripted scores (best 0.3 at epoch 2) make each callback's state decide: resumed at epoch
    // 4 without it, EarlyStopping would take 0.45 as its best and not stop after epoch 5, and
    // ReduceLROnPlateau would not reduce after epoch 4.
    use minibatch::callbacks::{EarlyStopping, ReduceLROnPlateau};
    let d = datasets::load("moons", 0).unwrap();
    let dir = temp_dir("resume-callbacks");
    let scores = [0.5, 0.3, 0.4, 0.45, 0.35, 0.6, 0.7, 0.8];
    let attempt = |crash: Option<usize>, sub: &str| {
        let mut m = model(5);
        let mut script = Scripted(scores.to_vec(), "score");
        let mut stop = EarlyStopping::new().monitor("score").mode(Mode::Min).patience(3).restore_best_weights(true);
        let mut reduce = ReduceLROnPlateau::new().monitor("score").mode(Mode::Min).patience(1).factor(0.5);
        let path = dir.join(sub).join("best.safetensors");
        let mut ckpt =
            ModelCheckpoint::new(path.to_str().unwrap()).monitor("score").mode(Mode::Min).save_best_only(true);
        let mut crash_at = CrashAt(crash.unwrap_or(usize::MAX));
        let mut backup = BackupAndRestore::new(dir.join(sub).join("backup"));
        let options = FitOptions::new()
            .epochs(scores.len())
            .batch_size(16)
            .verbose(0)
            .callback(&mut crash_at)
            .callback(&mut script)
            .callback(&mut stop)
            .callback(&mut reduce)
            .callback(&mut ckpt)
            .callback(&mut backup);
        let result = m.fit(&d.x_train, &d.y_train, options);
        (result, m, stop.stopped_epoch(), backup.resumed_at())
    };
    let (whole, straight, stopped, _) = attempt(None, "straight");
    let whole = whole.unwrap();
    assert_eq!(stopped, Some(4), "patience 3 after the best epoch (index 1)");
    assert!(attempt(Some(3), "resumed").0.is_err(), "the first attempt crashes at epoch 4");
    let (resumed, resumed_model, stopped, resumed_at) = attempt(None, "resumed");
    let resumed = resumed.unwrap();
    assert_eq!(resumed_at, Some(3));
    assert_eq!(stopped, Some(4), "EarlyStopping's wait and best came back");
    assert_eq!(format!("{:?}", resumed.history), format!("{:?}", whole.history), "learning rates included");
    assert_eq!(bits(&resumed_model.get_weights()), bits(&straight.get_weights()), "best weights restored, bit for bit");
    let best = |sub: &str| bits(&Sequential::load(dir.join(sub).join("best.safetensors")).unwrap().get_weights());
    assert_eq!(best("resumed"), best("straight"));

    // A backup made with another optimizer is refused.
    let mut keep = BackupAndRestore::new(dir.join("other")).delete_checkpoint(false);
    model(5).fit(&d.x_train, &d.y_train, FitOptions::new().epochs(1).verbose(0).callback(&mut keep)).unwrap();
    let mut sgd = model(5);
    sgd.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let mut restore = BackupAndRestore::new(dir.join("other"));
    let err = sgd.fit(&d.x_train, &d.y_train, FitOptions::new().verbose(0).callback(&mut restore)).unwrap_err();
    assert!(err.to_string().contains("different optimizer"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
