//! The `minibatch` command, run as a user runs it.

use crate::common::minibatch;

#[test]
fn default_train_ends_with_a_test_accuracy_line() {
    let (ok, out, err) = minibatch(&["train", "--verbose", "2"]);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("Test accuracy: "), "{last}");
    let acc: f64 = last["Test accuracy: ".len()..][..6].parse().unwrap();
    assert!(acc >= 0.97, "{last}");
    assert!(out.contains("Total params"), "prints the summary");
    assert!(out.contains("Epoch 60/60") && !out.contains('\r'), "one line per epoch, no redraws");
    assert!(out.starts_with("spirals: 1500 training samples, 3 classes"), "the data and task first: {out}");
    assert!(out.contains("adam (learning rate 0.001)"), "Keras's default rate on every data set: {out}");
    // No validation data: the lowest running training loss is not called the best epoch.
    assert!(out.contains("Training summary") && out.contains("lowest training loss: epoch "), "{out}");
    assert!(!out.contains("best epoch:") && out.contains("updates/s"), "{out}");
    let (_, quiet, _) = minibatch(&["train", "--verbose", "0"]);
    assert!(!quiet.contains("Training summary"), "{quiet}");
}

#[test]
fn history_file_has_the_documented_shape() {
    let path = std::env::temp_dir().join(format!("minibatch-history-{}.json", std::process::id()));
    let p = path.to_str().unwrap();
    let args = [
        "train",
        "--data",
        "exam",
        "--batch-size",
        "10",
        "--epochs",
        "8",
        "--validation-split",
        "0.2",
        "--early-stopping",
        "--patience",
        "2",
        "--restore-best-weights",
        "--verbose",
        "0",
        "--history",
        p,
    ];
    let (ok, _, err) = minibatch(&args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).ok();
    let run = v["epochs_run"].as_u64().unwrap();
    assert_eq!(v["train_samples"], 80);
    assert_eq!(v["batch_size"], 10);
    assert_eq!(v["steps_per_epoch"], 8);
    assert_eq!(v["weight_updates"].as_u64().unwrap(), 8 * run);
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(v["history"][key].as_array().unwrap().len() as u64, run, "{key}");
    }
    // best_epoch: the first epoch (from 1) with the lowest val_loss; a stop comes `patience`
    // epochs after it.
    let lowest = |v: &serde_json::Value| {
        let val: Vec<f64> = v["history"]["val_loss"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let min = val.iter().cloned().fold(f64::INFINITY, f64::min);
        val.iter().position(|&x| x == min).unwrap() as u64 + 1
    };
    let best = v["best_epoch"].as_u64().unwrap();
    assert_eq!(best, lowest(&v), "{}", v["history"]["val_loss"]);
    if !v["stopped_epoch"].is_null() {
        assert_eq!(v["stopped_epoch"].as_u64().unwrap(), run);
        assert_eq!(run, best + 2, "patience 2");
    }
    assert!(v["test"]["accuracy"].as_f64().unwrap() > 0.5 && v["test"]["loss"].is_number());

    // Without early stopping: the lowest val_loss all the same, and no stop.
    let es = args.iter().position(|a| *a == "--early-stopping").unwrap();
    let plain = [&args[..es], &args[es + 4..]].concat(); // less --early-stopping --patience 2 --restore-…
    assert!(!plain.iter().any(|a| a.starts_with("--patience") || a.starts_with("--restore")), "{plain:?}");
    let (ok, _, err) = minibatch(&plain);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(v["epochs_run"], 8);
    assert_eq!(v["best_epoch"].as_u64().unwrap(), lowest(&v), "{}", v["history"]["val_loss"]);
    assert!(v["stopped_epoch"].is_null());
}

#[test]
fn bad_input_prints_one_clear_line_and_fails() {
    for (args, needle) in [
        (vec!["train", "--data", "nope"], "unknown data source \"nope\": expected one of exam, spirals"),
        (vec!["train", "--data", "missing.csv"], "missing.csv: No such file"),
        (vec!["train", "--data", "spirals", "--test-split", "1.5"], "--test-split"),
        (vec!["train", "--validation-split", "0.2", "--split-mode", "random"], "unknown split mode \"random\""),
        (vec!["lab", "--epochs", "0"], "invalid --epochs"),
        (vec!["lab", "--memory-budget", "lots"], "--memory-budget"),
        (vec!["lab", "--memory-budget", "1KiB"], "memory budget"),
        (vec!["lab", "--lr-find", "--lr-find-steps", "1"], "--lr-find-steps"),
        (vec!["lab", "--batch-sizes", "10,0"], "--batch-sizes"),
        (vec!["train", "--batch-size", "0"], "--batch-size"),
        (vec!["train", "--validation-split", "1.5"], "--validation-split"),
        (vec!["train", "--optimizer", "adma"], "unknown optimizer"),
        (vec!["train", "--activation", "relux"], "unknown activation"),
        (vec!["train", "--early-stopping", "--monitor", "val_los", "--validation-split", "0.2"], "val_los"),
    ] {
        let (ok, _, err) = minibatch(&args);
        assert!(!ok, "{args:?} should fail");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn trains_on_files_with_test_data_or_a_test_split() {
    let Some(data) = crate::common::shared_data() else { return };
    let iris = data.join("tabular/iris.csv");
    let iris = iris.to_str().unwrap();
    let (ok, out, err) =
        minibatch(&["train", "--data", iris, "--test-split", "0.2", "--epochs", "40", "--verbose", "0"]);
    assert!(ok, "{err}");
    assert!(out.contains("Test accuracy: ") && out.contains("(30 test samples)"), "{out}");
    let (ok, out, _) = minibatch(&["train", "--data", iris, "--test-data", iris, "--epochs", "1", "--verbose", "0"]);
    assert!(ok && out.contains("(150 test samples)"), "{out}");
    let (ok, out, _) = minibatch(&["train", "--data", iris, "--epochs", "1", "--verbose", "0"]);
    assert!(ok && out.contains("No test data"), "{out}");
    let npz = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images_u8.npz");
    let (ok, out, err) = minibatch(&["train", "--data", npz, "--test-data", npz, "--epochs", "2", "--verbose", "0"]);
    assert!(ok, "{err}");
    assert!(out.contains("(4 test samples)"), "{out}");
}

#[test]
fn bench_prints_json_figures() {
    let (ok, out, err) =
        minibatch(&["bench", "--batch-sizes", "16,64", "--seconds", "0", "--samples", "256", "--json", "-"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (r, b) in results.iter().zip([16, 64]) {
        assert_eq!(r["batch_size"], b);
        assert_eq!(r["steps"].as_u64().unwrap(), 256 / b);
        assert!(r["samples_per_s"].as_f64().unwrap() > 0.0 && r["ms_per_step"].as_f64().unwrap() > 0.0);
        assert!(r["model_bytes"].as_u64().unwrap() > 669_706 * 12, "weights, gradients, optimizer state");
    }
}

#[test]
fn the_readme_digits_command_reaches_95_percent() {
    let Some(data) = crate::common::shared_data() else { return };
    let digits = data.join("tabular/digits.csv");
    let args = ["train", "--data", digits.to_str().unwrap(), "--test-split", "0.2", "--epochs", "30", "--verbose", "0"];
    let (ok, out, err) = minibatch(&args);
    assert!(ok, "{err}");
    let acc: f64 = out.split("Test accuracy: ").nth(1).unwrap()[..6].parse().unwrap();
    assert!(acc >= 0.95, "digits test accuracy {acc}");
}

#[test]
fn lab_runs_the_tutorials_experiment() {
    let path = std::env::temp_dir().join(format!("minibatch-lab-{}.json", std::process::id()));
    let (ok, out, err) = minibatch(&["lab", "--epochs", "5", "--json", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("wrong answers"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).ok();
    let runs = v["runs"].as_array().unwrap();
    let col = |k: &str| runs.iter().map(|r| r[k].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(col("batch_size"), [100, 10, 1]);
    assert_eq!(col("updates_per_epoch"), [1, 10, 100], "ceil(100 / b)");
    assert_eq!(col("total_updates"), [5, 50, 500]);
    let planned = col("planned_bytes");
    assert!(planned[0] > planned[1] && planned[1] > planned[2], "larger batches plan more memory: {planned:?}");
    let wrong_after_2 = |r: &serde_json::Value| r["epochs"][1]["train_wrong"].as_u64().unwrap();
    assert!(
        wrong_after_2(&runs[2]) < wrong_after_2(&runs[0]),
        "batch 1 corrects more answers per epoch than batch 100"
    );
    for r in runs {
        assert_eq!(r["epochs"].as_array().unwrap().len(), 5);
        assert_eq!(r["train_samples"], 100);
        assert_eq!(r["val_samples"], 100);
    }
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    // `minibatch train --verbose 2 | head -1`: the reader goes away after one line.
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_minibatch"))
        .args(["train", "--verbose", "2", "--epochs", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("spirals: "), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "no panic on a closed pipe: {err}");
}

/// The end-of-training summary names what the curves show, on runs made to show it: a loss
/// that became NaN, one that barely moved, validation loss turning up; a healthy run gets no
/// diagnosis; the HTML report carries the same findings.
#[test]
fn the_summary_diagnoses_what_the_curves_show() {
    let run = |extra: &[&str]| {
        let (ok, out, err) = minibatch(&[&["train", "--verbose", "2"][..], extra].concat());
        assert!(ok, "{extra:?}: {err}");
        out.lines().filter(|l| l.contains("diagnosis: ")).map(str::to_string).collect::<Vec<_>>()
    };
    let nan = run(&["--data", "spirals", "--optimizer", "sgd", "--learning-rate", "100000", "--epochs", "3"]);
    assert!(nan.len() == 1 && nan[0].contains("divergence: the training loss became NaN at epoch"), "{nan:?}");
    let slow = run(&["--data", "spirals", "--optimizer", "sgd", "--learning-rate", "1e-6", "--epochs", "5"]);
    assert!(slow.len() == 1 && slow[0].contains("a rate too low") && slow[0].contains("--lr-find"), "{slow:?}");
    let dir = crate::common::temp_dir("diagnosis-report");
    let report = dir.join("report");
    let over = run(&[
        "--data",
        "moons",
        "--train-samples",
        "40",
        "--validation-split",
        "0.5",
        "--hidden",
        "128,128",
        "--learning-rate",
        "0.01",
        "--epochs",
        "300",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        over.iter().any(|l| l.contains("overfitting from epoch") && l.contains("EarlyStopping(patience=3")),
        "{over:?}"
    );
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("Diagnosis") && html.contains("overfitting from epoch"), "the report's diagnosis");
    let healthy = run(&["--data", "spirals", "--validation-split", "0.2"]);
    assert!(healthy.is_empty(), "{healthy:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
