//! TensorBoard's event files, checked by TensorBoard's own reader (`EventAccumulator`, in
//! `tests/fixtures/check_tensorboard.py`): every epoch scalar against the History (rounded to
//! f32, as Keras writes scalars) bit for bit, the validation run, the batch-level scalars'
//! steps, histogram counts, the graph, the texts; from the library and from the command; a
//! file cut short keeps its earlier events.

use crate::common::{minibatch, read_json, skip_or_fail, temp_dir};
use minibatch::callbacks::{TensorBoard, UpdateFreq};
use minibatch::layers::{Add, Dense};
use minibatch::models::{Call, Input};
use minibatch::{FitOptions, Model, Tensor};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A Python with the `tensorboard` package: `$MINIBATCH_PYTHON`, else `python3`. Missing: the
/// test fails unless `MINIBATCH_SKIP_PYTHON_TESTS=1` (never under `CI=true`; `.ci/run` makes
/// a throw-away venv with it).
pub fn python_with(module: &str) -> Option<PathBuf> {
    let python = std::env::var_os("MINIBATCH_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let found = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    skip_or_fail(
        "MINIBATCH_SKIP_PYTHON_TESTS",
        &format!(
            "no Python with the {module} package ({} cannot import it; `python3 -m venv v && v/bin/pip install \
             {module}`, then MINIBATCH_PYTHON=v/bin/python)",
            python.display()
        ),
    );
    None
}

/// Runs the checker on `log_dir` against `expected`; panics with its output unless it says ok.
fn check(python: &Path, log_dir: &Path, expected: &serde_json::Value) {
    let file = log_dir.with_extension("expected.json");
    std::fs::write(&file, expected.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check_tensorboard.py");
    let out = std::process::Command::new(python).arg(script).arg(log_dir).arg(&file).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim() == "ok", "{stdout}{stderr}");
}

/// Two inputs, two Dense layers, their sum and a softmax head: a graph with a merge.
fn merged_model() -> Model {
    let a = Input::named("a", &[4]);
    let b = Input::named("b", &[4]);
    let left = Dense::new(6).activation("relu").name("left").call(&a);
    let right = Dense::new(6).activation("relu").name("right").call(&b);
    let sum = Add::new().name("sum").call([&left, &right]);
    let out = Dense::new(3).activation("softmax").name("head").call(&sum);
    let mut model = Model::new(&[&a, &b], &[&out]).unwrap().with_seed(1).unwrap();
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model
}

#[test]
fn the_library_writes_what_tensorboard_reads_as_the_history() {
    let Some(python) = python_with("tensorboard") else { return };
    let dir = temp_dir("tensorboard-library");
    let n = 120;
    let xa = Tensor::from_vec(&[n, 4], (0..n * 4).map(|i| ((i * 7) % 11) as f32 / 11.0).collect()).unwrap();
    let xb = Tensor::from_vec(&[n, 4], (0..n * 4).map(|i| ((i * 5) % 13) as f32 / 13.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let mut model = merged_model();
    let log_dir = dir.join("logs");
    let mut tb = TensorBoard::new(&log_dir)
        .update_freq(UpdateFreq::Every(4))
        .histogram_freq(1)
        .write_steps_per_second(true)
        .text("notes", "a run *of one's own*");
    let options = FitOptions::new().batch_size(16).epochs(3).validation_split(0.25).verbose(0).callback(&mut tb);
    let history = model.fit([&xa, &xb], &y, options).unwrap();
    let weights: serde_json::Map<String, serde_json::Value> = model
        .weight_paths()
        .into_iter()
        .map(|p| {
            let size = model.get_weight(&p).unwrap().len();
            (p, json!(size))
        })
        .collect();
    let expected = json!({
        "history": history.history.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "steps_per_epoch": history.steps_per_epoch,
        "initial_epoch": 0,
        "batch_every": 4,
        "weights": weights,
        "graph": [
            ["a", "InputLayer", []],
            ["b", "InputLayer", []],
            ["left", "Dense", ["a"]],
            ["right", "Dense", ["b"]],
            ["sum", "Add", ["left", "right"]],
            ["head", "Dense", ["sum"]],
        ],
        "texts": ["notes", "model/summary"],
    });
    check(&python, &log_dir, &expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn train_tensorboard_writes_the_run_and_a_cut_file_keeps_its_earlier_events() {
    let Some(python) = python_with("tensorboard") else { return };
    let dir = temp_dir("tensorboard-command");
    let (logs, history) = (dir.join("logs"), dir.join("h.json"));
    let (ok, out, err) = minibatch(&[
        "train",
        "--data",
        "spirals",
        "--epochs",
        "4",
        "--validation-split",
        "0.2",
        "--tensorboard",
        logs.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("Wrote the run for TensorBoard to"), "{out}{err}");
    let h = read_json(&history);
    let expected = json!({
        "history": h["history"],
        "steps_per_epoch": h["steps_per_epoch"],
        "initial_epoch": 0,
        "weights": {"dense/kernel": 128, "dense/bias": 64, "dense_1/kernel": 4096, "dense_1/bias": 64,
                    "dense_2/kernel": 192, "dense_2/bias": 3},
        "graph": [
            ["input_layer", "InputLayer", []],
            ["dense", "Dense", ["input_layer"]],
            ["dense_1", "Dense", ["dense"]],
            ["dense_2", "Dense", ["dense_1"]],
        ],
        "texts": ["run/command", "run/config", "model/summary"],
    });
    check(&python, &logs, &expected);
    // The training file cut inside its last record (a kill mid-write, a full disk): every
    // earlier event is read whole, the epochs before the last one's included.
    let train = std::fs::read_dir(logs.join("train")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&train).unwrap();
    std::fs::write(&train, &bytes[..bytes.len() - 7]).unwrap();
    let script = format!(
        "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator as A\n\
         a = A({:?}, size_guidance={{'tensors': 0}}); a.Reload()\n\
         print(sorted(e.step for e in a.Tensors('epoch_loss')))",
        logs.join("train").to_str().unwrap()
    );
    let out = std::process::Command::new(&python).args(["-c", &script]).output().unwrap();
    let steps = String::from_utf8_lossy(&out.stdout);
    assert!(
        steps.trim() == "[0, 1, 2, 3]" || steps.trim() == "[0, 1, 2]",
        "{steps}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_log_dir_that_cannot_be_one_is_refused_by_name() {
    let dir = temp_dir("tensorboard-bad");
    let file = dir.join("taken");
    std::fs::write(&file, "not a folder").unwrap();
    // From the command: before any work or output.
    let (ok, out, err) = minibatch(&["train", "--data", "moons", "--tensorboard", file.to_str().unwrap()]);
    assert!(!ok && out.is_empty() && err.contains("--tensorboard"), "{out}{err}");
    // From the library: a named error from fit, nothing trained.
    let mut model = minibatch::Sequential::new().add(Dense::new(2).activation("softmax")).into_model();
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let x = Tensor::from_vec(&[4, 2], vec![0.0; 8]).unwrap();
    let y = Tensor::from_vec(&[4], vec![0.0, 1.0, 0.0, 1.0]).unwrap();
    let mut tb = TensorBoard::new(&file);
    let e = model.fit(&x, &y, FitOptions::new().epochs(1).verbose(0).callback(&mut tb)).unwrap_err();
    assert!(e.to_string().contains("taken"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
