//! The command as one workflow on a user's own file: train → evaluate → predict on the same
//! held-out rows, string labels, regression and one-hot targets, and argument errors before
//! any output.

use crate::common::{minibatch, read_json, temp_dir};
use minibatch::layers::Dense;
use minibatch::{Sequential, Tensor};
use std::path::Path;

/// A CSV of `n` rows: features `a`, `b`, and a `label` column `label(a, b)`.
fn write_csv(path: &Path, n: usize, label: impl Fn(f64, f64, usize) -> String) {
    let mut text = String::from("a,b,label\n");
    for i in 0..n {
        let (a, b) = (((i * 37) % 101) as f64 / 50.0 - 1.0, ((i * 61) % 103) as f64 / 51.0 - 1.0);
        text += &format!("{a},{b},{}\n", label(a, b, i));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_test_split_is_recorded_and_evaluate_and_predict_reuse_it() {
    let dir = temp_dir("workflow-split");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let classes = ["circle", "square", "triangle"];
    write_csv(&dir.join("shapes.csv"), 200, |a, b, _| classes[usize::from(a > 0.0) + usize::from(b > 0.3)].into());
    let train = [
        "train",
        "--data",
        &p("shapes.csv"),
        "--test-split",
        "0.25",
        "--seed",
        "3",
        "--epochs",
        "20",
        "--verbose",
        "0",
        "--save",
        &p("m.safetensors"),
        "--history",
        &p("h.json"),
    ];
    let (ok, out, err) = minibatch(&train);
    assert!(ok && out.contains("(50 test samples)"), "{out}{err}");
    // evaluate scores the 50 held-out rows by default, with the figures train printed.
    let evaluate = |split: &str, json_name: &str| {
        let args = ["evaluate", "--model", &p("m.safetensors"), "--data", &p("shapes.csv"), "--split", split];
        minibatch(&[&args[..], &["--json", &p(json_name)]].concat())
    };
    let (ok, out, err) = evaluate("auto", "auto.json");
    assert!(
        ok && out.contains("(50 samples: the test rows train held out (seed 3, 0.25 of the 200 rows"),
        "{out}{err}"
    );
    let (trained, evaluated) = (read_json(&dir.join("h.json")), read_json(&dir.join("auto.json")));
    assert_eq!(trained["test"]["loss"], evaluated["logs"]["loss"]);
    assert_eq!(trained["test"]["accuracy"], evaluated["logs"]["accuracy"]);
    for (split, count) in [("test", 50), ("train", 150), ("all", 200)] {
        let (ok, out, err) = evaluate(split, &format!("{split}.json"));
        assert!(ok && out.contains(&format!("({count} samples: ")), "--split {split}: {out}{err}");
    }
    // The same bytes under another name are the same data; a changed file is refused.
    std::fs::copy(dir.join("shapes.csv"), dir.join("copy.csv")).unwrap();
    let (ok, out, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("copy.csv")]);
    assert!(ok && out.contains("(50 samples: the test rows"), "{out}{err}");
    let mut text = std::fs::read_to_string(dir.join("shapes.csv")).unwrap();
    text += "0.5,0.5,square\n";
    std::fs::write(dir.join("shapes.csv"), &text).unwrap();
    let (ok, out, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("shapes.csv")]);
    assert!(!ok && out.is_empty() && err.contains("has changed since the model was trained"), "{out}{err}");
    let (ok, out, _) =
        minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("shapes.csv"), "--split", "all"]);
    assert!(ok && out.contains("(201 samples: all rows of"), "{out}");

    // predict: by default one row per input, in the file's order.
    let (ok, csv, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("copy.csv")]);
    assert!(ok && csv.lines().count() == 201, "{err}");
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids, (0..200).map(|i| i.to_string()).collect::<Vec<_>>());
    // --split test: the same held-out rows as evaluate, by their row number in the file, the
    // class by name, probabilities as %.6g.
    let (ok, csv, err) =
        minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("copy.csv"), "--split", "test"]);
    assert!(ok, "{err}");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("row,class,p_circle,p_square,p_triangle"));
    let (_, test_rows) = minibatch::datasets::train_test_rows(200, 0.25, 3).unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 50);
    for (line, &row) in rows.iter().zip(&test_rows) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], row.to_string(), "row ids are the file's rows");
        let p: Vec<f64> = cells[2..].iter().map(|c| c.parse().unwrap()).collect();
        let best = (0..3).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
        assert_eq!(cells[1], classes[best], "{line}");
        for c in &cells[2..] {
            let mantissa = c.split('e').next().unwrap();
            let significant = mantissa.trim_start_matches(['0', '.']).chars().filter(char::is_ascii_digit).count();
            assert!(significant <= 6 && !mantissa.ends_with('0') || *c == "0", "%.6g: {c}");
        }
    }
    // A model that recorded no split of a file refuses --split test rather than guess.
    let (ok, _, err) = minibatch(&[
        "train",
        "--data",
        &p("copy.csv"),
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--save",
        &p("all.safetensors"),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) =
        minibatch(&["evaluate", "--model", &p("all.safetensors"), "--data", &p("copy.csv"), "--split", "test"]);
    assert!(!ok && out.is_empty() && err.contains("has no test split of its own"), "{out}{err}");
    // Labels not among the model's classes are named.
    write_csv(&dir.join("other.csv"), 10, |_, _, _| "hexagon".into());
    let (ok, _, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("other.csv")]);
    assert!(!ok && err.contains("\"hexagon\" is not one of the model's classes"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn regression_and_one_hot_targets_from_the_command() {
    let dir = temp_dir("workflow-regression");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    write_csv(&dir.join("prices.csv"), 300, |a, b, _| format!("{}", 3.0 * a - 2.0 * b + 0.25));
    let base = ["train", "--data", &p("prices.csv"), "--test-split", "0.2", "--epochs", "60", "--verbose", "1"];
    let (ok, out, err) = minibatch(&[&base[..], &["--save", &p("r.safetensors")]].concat());
    assert!(ok, "{err}");
    assert!(out
        .lines()
        .next()
        .unwrap()
        .contains("regression, 1 target value(s) per sample (mean_squared_error; metric mae)"));
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("Test mae: "), "{last}");
    let mae: f64 = last["Test mae: ".len()..][..6].parse().unwrap();
    assert!(mae < 0.25, "a linear target is learned: {last}");
    let (ok, csv, _) = minibatch(&["predict", "--model", &p("r.safetensors"), "--data", &p("prices.csv")]);
    assert!(ok && csv.starts_with("row,prediction\n") && csv.lines().count() == 301, "{csv}");
    // --loss by Keras's name; the metric beside it is the other error.
    let (ok, out, err) = minibatch(&[&base[..5], &["--epochs", "2", "--verbose", "0", "--loss", "mae"]].concat());
    assert!(ok && out.starts_with("Test mse: "), "{out}{err}");
    let (ok, out, err) = minibatch(&[&base[..], &["--loss", "cross_entropy"]].concat());
    assert!(!ok && out.is_empty() && err.contains("unknown loss \"cross_entropy\""), "{out}{err}");
    // Quantities with an architecture that ends in softmax are refused by name.
    let (ok, out, err) = minibatch(&[&base[..], &["--model", "convnet"]].concat());
    assert!(!ok && out.is_empty() && err.contains("--model"), "{out}{err}");

    // One-hot rows are classes, and categorical cross-entropy is their loss.
    let x = Tensor::from_vec(&[90, 2], (0..180).map(|i| ((i * 7) % 13) as f32 / 13.0).collect()).unwrap();
    let y = Tensor::from_vec(&[90, 3], (0..90).flat_map(|i| [0, 1, 2].map(|c| f32::from(c == i % 3))).collect());
    minibatch::io::write_npz(dir.join("onehot.npz"), &[("x", &x), ("y", &y.unwrap())]).unwrap();
    let (ok, out, err) = minibatch(&["train", "--data", &p("onehot.npz"), "--epochs", "1", "--verbose", "1"]);
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.contains("3 classes (one-hot rows; categorical_crossentropy)"), "{first}");
    assert!(out.contains("(None, 3)"), "three softmax units: {out}");
    // Their focal form keeps the softmax; a focal, Dice or Tversky loss on one 0/1 column
    // makes a sigmoid unit, and evaluate reads the task back from the saved loss.
    let (ok, out, err) = minibatch(&[
        "train",
        "--data",
        &p("onehot.npz"),
        "--epochs",
        "1",
        "--verbose",
        "1",
        "--loss",
        "categorical_focal_crossentropy",
    ]);
    assert!(ok && out.contains("3 classes (one-hot rows; categorical_focal_crossentropy)"), "{out}{err}");
    let binary = Tensor::from_vec(&[90, 1], (0..90).map(|i| f32::from(i % 3 == 0)).collect()).unwrap();
    minibatch::io::write_npz(dir.join("binary.npz"), &[("x", &x), ("y", &binary)]).unwrap();
    for loss in ["binary_focal_crossentropy", "dice", "tversky"] {
        let save = p(&format!("{loss}.safetensors"));
        let args = ["train", "--data", &p("binary.npz"), "--epochs", "1", "--loss", loss, "--save", &save];
        let (ok, out, err) = minibatch(&args);
        assert!(ok && out.contains(&format!("1 binary target(s) ({loss})")), "{out}{err}");
        let (ok, out, err) = minibatch(&["evaluate", "--model", &save, "--data", &p("binary.npz")]);
        assert!(ok && out.contains("accuracy: "), "{loss}: {out}{err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn argument_errors_come_as_one_line_before_any_output() {
    let dir = temp_dir("workflow-errors");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let x = Tensor::from_vec(&[4, 2], vec![0.0, 1.0, f32::NAN, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let y = Tensor::from_slice(&[0.0, 1.0, 0.0, 1.0]);
    minibatch::io::write_npz(dir.join("nan.npz"), &[("x", &x), ("y", &y)]).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--activation", "relu2"], "unknown activation \"relu2\""),
        (&["--early-stopping", "--monitor", "val_accuracy"], "--validation-split"),
        (&["--reduce-lr-patience", "2", "--monitor", "acc"], "--monitor"),
        (&["--data", &p("nan.npz")], "NaN"),
        (&["--loss", "binary_crossentropy", "--data", "blobs"], "from 0 to 1"),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = minibatch(&[&["train"][..], args].concat());
        assert!(!ok && out.is_empty(), "nothing printed before the error for {args:?}: {out}");
        assert!(err.starts_with("error: ") && err.lines().count() == 1 && err.contains(expected), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn layer_arguments_fail_at_compile_not_at_fit() {
    let mut model = Sequential::new().add(Dense::new(4).activation("relu2")).add(Dense::new(2));
    let err = model.compile("adam", "mse", &[]).unwrap_err().to_string();
    assert!(err.contains("relu2"), "{err}");
    let mut model = Sequential::new().add(Dense::new(4).kernel_initializer("glorot")).add(Dense::new(2));
    let err = model.compile("adam", "mse", &[]).unwrap_err().to_string();
    assert!(err.contains("glorot"), "{err}");
}

/// Task inference refuses nonsense: whole-number prices are a regression, with a note (on
/// stderr under `--verbose 0` too) naming why and `--task classification`; ten classes with
/// one absent stay ten classes; negative whole numbers are quantities; `--task` decides, and
/// contradicting `--loss` is refused by name.
#[test]
fn whole_number_targets_are_classes_only_when_they_look_like_classes() {
    let dir = temp_dir("workflow-task");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    // House prices in whole dollars.
    write_csv(&dir.join("house.csv"), 200, |a, b, _| format!("{}", (250_000.0 + 90_000.0 * a - 40_000.0 * b).round()));
    let train = |file: &str, extra: &[&str]| {
        let base = ["train", "--data", &p(file), "--epochs", "1", "--hidden", "8"];
        minibatch(&[&base[..], extra].concat())
    };
    let (ok, out, err) = train("house.csv", &["--verbose", "1"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert!(lines.next().unwrap().contains("regression, 1 target value(s)"), "{out}");
    let note = lines.next().unwrap();
    assert!(
        note.contains("whole numbers from")
            && note.contains("more than 20 for 200 samples")
            && note.contains("--task classification"),
        "{note}"
    );
    assert!(out.contains("(None, 1)"), "one linear unit, not a softmax over the prices: {out}");
    // Silent otherwise, the note still comes (on stderr).
    let (ok, out, err) = train("house.csv", &["--verbose", "0"]);
    assert!(ok && err.contains("note: the targets are whole numbers") && !out.contains("note:"), "{out}{err}");
    // Ten classes, one of them absent from the data: still ten classes.
    write_csv(&dir.join("digits.csv"), 200, |_, _, i| format!("{}", [0, 1, 2, 3, 4, 5, 6, 8, 9][i % 9]));
    let (ok, out, err) = train("digits.csv", &["--verbose", "1"]);
    assert!(ok && out.lines().next().unwrap().contains("10 classes (class indices"), "{out}{err}");
    assert!(!out.contains("note:"), "{out}");
    // Only 0 and 19 of the 20 indices 0..19 occur: not classes.
    write_csv(&dir.join("sparse.csv"), 200, |_, _, i| format!("{}", if i % 2 == 0 { 0 } else { 19 }));
    let (ok, out, err) = train("sparse.csv", &["--verbose", "1"]);
    assert!(ok && out.contains("regression") && out.contains("fewer than half of the 20 class indices"), "{out}{err}");
    // Negative whole numbers are quantities.
    write_csv(&dir.join("temps.csv"), 200, |a, _, _| format!("{}", (10.0 * a).round()));
    let (ok, out, err) = train("temps.csv", &["--verbose", "1"]);
    assert!(ok && out.contains("regression") && out.contains("negative values"), "{out}{err}");
    // --task decides; --task classification on prices asks for what it says.
    let (ok, out, err) = train("digits.csv", &["--verbose", "1", "--task", "regression"]);
    assert!(ok && out.lines().next().unwrap().contains("regression") && !out.contains("note:"), "{out}{err}");
    let (ok, out, err) = train("sparse.csv", &["--verbose", "1", "--task", "classification"]);
    assert!(ok && out.lines().next().unwrap().contains("20 classes"), "{out}{err}");
    let (ok, out, err) = train("digits.csv", &["--task", "regression", "--loss", "sparse_categorical_crossentropy"]);
    assert!(!ok && out.is_empty() && err.contains("--task") && err.contains("regression"), "{out}{err}");
    let (ok, out, err) = train("digits.csv", &["--task", "sideways"]);
    assert!(!ok && out.is_empty() && err.contains("classification"), "{out}{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A regression's targets are standardized for training by default (scikit-learn's
/// TransformedTargetRegressor): the model ends in an inverting Normalization, so the test line,
/// evaluate and predict speak in the targets' units, and house prices in dollars are learned
/// where raw targets (`--no-standardize-targets`) barely move in the same epochs.
#[test]
fn regression_targets_are_standardized_and_predictions_come_back_in_their_units() {
    let dir = temp_dir("workflow-target-scaling");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    write_csv(&dir.join("house.csv"), 400, |a, b, _| format!("{}", (250_000.0 + 90_000.0 * a - 40_000.0 * b).round()));
    let train = |extra: &[&str]| {
        let base = ["train", "--data", &p("house.csv"), "--test-split", "0.2", "--epochs", "30", "--verbose", "1"];
        minibatch(&[&base[..], extra].concat())
    };
    let mae = |out: &str| -> f64 {
        let last = out.lines().last().unwrap();
        last["Test mae: ".len()..].split(' ').next().unwrap().parse().unwrap()
    };
    let (ok, out, err) = train(&["--save", &p("m.safetensors"), "--history", &p("h.json")]);
    assert!(ok, "{err}");
    assert!(out.contains("targets standardized for training (mean "), "{out}");
    assert!(out.contains("unstandardize_targets (Normalization)"), "{out}");
    assert!(out.lines().last().unwrap().contains("test loss (standardized targets): "), "{out}");
    let scaled = mae(&out);
    let (ok, raw_out, err) = train(&["--no-standardize-targets"]);
    assert!(ok && !raw_out.contains("targets standardized"), "{err}");
    let raw = mae(&raw_out);
    assert!(scaled < 10_000.0 && raw > 10.0 * scaled, "standardized: {scaled}, raw: {raw}");
    // evaluate scores the recorded test rows in dollars, as the test line did.
    let (ok, eval, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("house.csv")]);
    assert!(ok && eval.contains(&format!("mae: {scaled:.4}")), "{eval}{err}");
    assert!(eval.contains("loss (standardized targets): "), "{eval}");
    let history = read_json(&dir.join("h.json"));
    assert_eq!(format!("{:.4}", history["test"]["mae"].as_f64().unwrap()), format!("{scaled:.4}"));
    // Predictions are prices, not standard deviations.
    let (ok, csv, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("house.csv")]);
    assert!(ok, "{err}");
    let predicted: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    let mean = predicted.iter().sum::<f64>() / predicted.len() as f64;
    assert!((mean - 250_000.0).abs() < 20_000.0, "mean prediction {mean}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A tail validation split of a file sorted by label (Keras's rule) validates on the last class
/// alone: the command says so (on stderr, at any `--verbose`), naming the classes validation
/// lacks and `--split-mode stratified`, which keeps them all and says nothing.
#[test]
fn a_lopsided_validation_split_is_warned_of() {
    let dir = temp_dir("workflow-lopsided");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    write_csv(&dir.join("sorted.csv"), 150, |_, _, i| format!("{}", i / 50));
    let train = |mode: &str| {
        let args = ["train", "--data", &p("sorted.csv"), "--epochs", "1", "--hidden", "8", "--verbose", "0"];
        minibatch(&[&args[..], &["--validation-split", "0.2", "--split-mode", mode]].concat())
    };
    let (ok, _, err) = train("tail");
    assert!(ok, "{err}");
    assert!(
        err.contains("validates on 1 class(es), none of class(es) 0, 1") && err.contains("--split-mode stratified"),
        "{err}"
    );
    let (ok, _, err) = train("stratified");
    assert!(ok && !err.contains("warning"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The model file remembers the label column `train` read: `evaluate` and `predict` on the
/// same file need no `--label-column`.
#[test]
fn evaluate_and_predict_reuse_the_label_column_train_read() {
    let dir = temp_dir("workflow-label-column");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut text = String::from("price,a,b\n");
    for i in 0..100 {
        let (a, b) = ((i * 37 % 101) as f64 / 50.0 - 1.0, (i * 61 % 103) as f64 / 51.0 - 1.0);
        text += &format!("{},{a},{b}\n", 2.0 * a - b + 0.5);
    }
    std::fs::write(dir.join("house.csv"), text).unwrap();
    let (ok, _, err) = minibatch(&[
        "train",
        "--data",
        &p("house.csv"),
        "--label-column",
        "price",
        "--test-split",
        "0.2",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--save",
        &p("m.safetensors"),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("house.csv")]);
    assert!(ok && out.contains("mae"), "{out}{err}");
    let (ok, out, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("house.csv")]);
    assert!(ok && out.starts_with("row,prediction\n") && out.lines().count() == 101, "{out}{err}");
    // Another column named: the difference is named.
    let (ok, _, err) =
        minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("house.csv"), "--label-column", "a"]);
    assert!(!ok && err.contains("price"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--metrics` adds Keras's metrics beside the task's; `--class-weight` weighs classes as
/// Keras's `class_weight` (`balanced` as scikit-learn's: on balanced classes every weight is
/// 1, the same run bit for bit; on lopsided ones another run); nonsense is named.
#[test]
fn metrics_and_class_weights_from_the_command() {
    let dir = temp_dir("workflow-metrics");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    write_csv(&dir.join("even.csv"), 200, |_, _, i| format!("{}", i % 2));
    write_csv(&dir.join("lopsided.csv"), 200, |_, _, i| format!("{}", usize::from(i % 5 == 0)));
    let run = |file: &str, extra: &[&str]| {
        let history = p(&format!("h{}.json", extra.join("_").replace([':', ','], "-")));
        let base = ["train", "--data", &p(file), "--epochs", "2", "--hidden", "8", "--verbose", "0"];
        let (ok, out, err) = minibatch(&[&base[..], extra, &["--history", &history]].concat());
        assert!(ok, "{extra:?}: {out}{err}");
        read_json(Path::new(&history))["history"].clone()
    };
    let h = run("even.csv", &["--metrics", "auc,precision,recall"]);
    for key in ["loss", "accuracy", "auc", "precision", "recall"] {
        assert!(h.get(key).is_some(), "{key}: {h}");
    }
    // Balanced classes: weights of 1, the unweighted run's History.
    assert_eq!(run("even.csv", &["--class-weight", "balanced"]), run("even.csv", &[]));
    let (plain, balanced) = (run("lopsided.csv", &[]), run("lopsided.csv", &["--class-weight", "balanced"]));
    assert_ne!(plain["loss"], balanced["loss"], "class 1 (a fifth of the rows) weighs 2.5");
    assert_eq!(run("lopsided.csv", &["--class-weight", "0:0.625,1:2.5"]), balanced);
    for (flag, value, needle) in [
        ("--metrics", "accuracy,sharpness", "sharpness"),
        ("--class-weight", "2:1", "classes 0 to 1"),
        ("--class-weight", "0:-1", "at least 0"),
        ("--class-weight", "heavy", "CLASS:WEIGHT"),
    ] {
        let (ok, out, err) = minibatch(&["train", "--data", &p("even.csv"), flag, value, "--verbose", "0"]);
        assert!(!ok && out.is_empty() && err.contains(needle), "{flag} {value}: {err}");
    }
    write_csv(&dir.join("prices.csv"), 50, |a, _, _| format!("{}", a * 3.5));
    let (ok, _, err) = minibatch(&["train", "--data", &p("prices.csv"), "--class-weight", "balanced"]);
    assert!(!ok && err.contains("--class-weight") && err.contains("quantities"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A misspelt flag is answered with the one meant (clap's suggestions).
#[test]
fn a_misspelt_flag_gets_the_one_meant() {
    let (ok, out, err) = minibatch(&["train", "--epoch", "3"]);
    assert!(!ok && out.is_empty() && err.contains("a similar argument exists: '--epochs'"), "{err}");
    let (ok, _, err) = minibatch(&["train", "--class-weights", "balanced"]);
    assert!(!ok && err.contains("'--class-weight'"), "{err}");
}

/// One rule for u8 images whatever the container: the same bytes as an NPZ and as NPY files
/// read a batch at a time (`--labels`) are scaled to [0, 1] alike, said in the first line, and
/// train to the same History (one batch an epoch: only the order of a sum differs).
#[test]
fn u8_images_train_the_same_from_an_npz_and_from_npy_files() {
    let dir = temp_dir("workflow-pixels");
    let fixture = |name: &str| format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let run = |data: &[&str], name: &str| {
        let history = dir.join(name).to_string_lossy().into_owned();
        let flags = ["--batch-size", "48", "--epochs", "3", "--hidden", "8", "--no-standardize", "--verbose", "1"];
        let (ok, out, err) = minibatch(&[&["train"][..], data, &flags, &["--history", &history]].concat());
        assert!(ok, "{data:?}: {out}{err}");
        (out, read_json(Path::new(&history))["history"]["loss"].clone())
    };
    let (_, npz) = run(&["--data", &fixture("pixels_u8.npz")], "npz.json");
    let (out, npy) = run(&["--data", &fixture("pixels_u8_x.npy"), "--labels", &fixture("pixels_u8_y.npy")], "npy.json");
    assert!(out.contains("u8 images scaled from 0..255 to [0, 1]"), "{out}");
    let (a, b) = (npz.as_array().unwrap(), npy.as_array().unwrap());
    for (p, q) in a.iter().zip(b) {
        let (p, q) = (p.as_f64().unwrap(), q.as_f64().unwrap());
        assert!((p - q).abs() <= 1e-5 * p.abs().max(1.0), "NPZ {a:?} vs NPY {b:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `predict --data FOLDER` on a folder of images alone (Keras's `labels=None`): every image,
/// sorted by name, read at the size and colour mode the model recorded, with its file name
/// beside its class; a labelled folder's predictions name their files too, and the same image
/// gets the same prediction either way.
#[test]
fn predict_reads_a_folder_of_new_images_and_names_their_files() {
    let dir = temp_dir("workflow-image-predict");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for (c, class) in ["cats", "dogs"].iter().enumerate() {
        std::fs::create_dir_all(dir.join("train").join(class)).unwrap();
        for i in 0..6u32 {
            let img = image::RgbImage::from_fn(10, 12, |x, y| {
                image::Rgb([(x * 20 + c as u32 * 120) as u8, (y * 15 + i * 9) as u8, (c * 200) as u8])
            });
            img.save(dir.join("train").join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    let (ok, _, err) = minibatch(&[
        "train",
        "--data",
        &p("train"),
        "--image-size",
        "8x8",
        "--color-mode",
        "grayscale",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--save",
        &p("m.safetensors"),
    ]);
    assert!(ok, "{err}");
    // New images, no class folders: one with a comma in its name, quoted in the CSV.
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::copy(dir.join("train/dogs/3.png"), dir.join("new/b, the dog.png")).unwrap();
    std::fs::copy(dir.join("train/cats/1.png"), dir.join("new/a.png")).unwrap();
    let (ok, csv, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("new")]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "row,file,class,p_cats,p_dogs");
    assert!(lines[1].starts_with("0,a.png,") && lines[2].starts_with("1,\"b, the dog.png\","), "{csv}");
    assert_eq!(lines.len(), 3);
    // The labelled folder: its files named by class folder, the same numbers for the same image.
    let (ok, all, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("train")]);
    assert!(ok && all.lines().nth(1).unwrap().starts_with("0,cats/0.png,"), "{all}{err}");
    let tail = |line: &str| line.rsplitn(3, ',').take(2).collect::<Vec<_>>().join(",");
    let cat1 = all.lines().find(|l| l.contains(",cats/1.png,")).unwrap();
    let dog3 = all.lines().find(|l| l.contains(",dogs/3.png,")).unwrap();
    assert_eq!(tail(cat1), tail(lines[1]));
    assert_eq!(tail(dog3), tail(lines[2]));
    // A split of a folder with none recorded is refused by name; an empty folder is named.
    let (ok, _, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("new"), "--split", "test"]);
    assert!(!ok && err.contains("--split"), "{err}");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let (ok, _, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("empty")]);
    assert!(!ok && err.contains("holds no images"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A CSV separated by `;` read with the default comma is named with the fix (`--delimiter
/// ';'`); the delimiter is recorded in the model for evaluate and predict; several label
/// columns (`--label-column price,rent`) are a regression of that many targets, predicted
/// under their names; a label that is not a number among several is named.
#[test]
fn delimiters_and_several_label_columns() {
    let dir = temp_dir("workflow-delimiter");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut text = String::from("a;b;price;rent\n");
    for i in 0..200 {
        let (a, b) = ((i * 37 % 101) as f64 / 50.0 - 1.0, (i * 61 % 103) as f64 / 51.0 - 1.0);
        text += &format!("{a};{b};{};{}\n", 200_000.0 + 50_000.0 * a, 1000.0 - 300.0 * b);
    }
    std::fs::write(dir.join("homes.csv"), &text).unwrap();
    std::fs::write(dir.join("homes.tsv.csv"), text.replace(';', "\t")).unwrap();
    let base = ["train", "--data", &p("homes.csv"), "--label-column", "price,rent", "--epochs", "20", "--verbose", "0"];
    let (ok, out, err) = minibatch(&base);
    assert!(!ok && out.is_empty() && err.contains("--delimiter ';'"), "{out}{err}");
    let (ok, out, err) = minibatch(&["train", "--data", &p("homes.tsv.csv"), "--label-column", "price"]);
    assert!(!ok && out.is_empty() && err.contains("--delimiter 'tab'"), "{out}{err}");
    let save = ["--delimiter", ";", "--test-split", "0.2", "--save", &p("m.safetensors")];
    let (ok, out, err) = minibatch(&[&base[..], &save].concat());
    assert!(ok && out.starts_with("Test mae: "), "{out}{err}");
    let (ok, csv, err) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", &p("homes.csv")]);
    assert!(ok && csv.starts_with("row,prediction_price,prediction_rent\n") && csv.lines().count() == 201, "{err}");
    let first: Vec<f64> = csv.lines().nth(1).unwrap().split(',').skip(1).map(|v| v.parse().unwrap()).collect();
    assert!((first[0] - 150_000.0).abs() < 100_000.0 && (first[1] - 1000.0).abs() < 600.0, "{first:?}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("homes.csv")]);
    assert!(ok && out.contains("(40 samples: the test rows"), "{out}{err}");
    // The same file, tab-separated, with the delimiter said.
    let (ok, out, err) =
        minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", &p("homes.tsv.csv"), "--delimiter", "tab"]);
    assert!(ok && out.contains("(200 samples: all rows"), "{out}{err}");
    // A word among several numeric targets; a missing label column among two; a bad delimiter.
    std::fs::write(dir.join("odd.csv"), "a;price;rent\n1;2;3\n2;3;lots\n").unwrap();
    let (ok, _, err) =
        minibatch(&["train", "--data", &p("odd.csv"), "--label-column", "price,rent", "--delimiter", ";"]);
    assert!(!ok && err.contains("row 2 (line 3), column \"rent\": \"lots\" is not a finite number"), "{err}");
    let (ok, _, err) =
        minibatch(&["train", "--data", &p("odd.csv"), "--label-column", "price,cost", "--delimiter", ";"]);
    assert!(!ok && err.contains("no label column \"cost\""), "{err}");
    let (ok, out, err) = minibatch(&[&base[..], &["--delimiter", "ab"]].concat());
    assert!(!ok && out.is_empty() && err.contains("--delimiter"), "{out}{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A flag typed where it does nothing is refused by name, saying what it needs, before any
/// work or output; the same flag where it applies (or left at its default) is accepted.
#[test]
fn flags_that_do_not_apply_are_refused() {
    let refused: [(&[&str], &str, &str); 12] = [
        (&["--label-column", "price"], "--label-column", "FILE.csv"),
        (&["--delimiter", ";"], "--delimiter", "FILE.csv"),
        (&["--workers", "4"], "--workers", "--labels"),
        (&["--model", "lstm", "--hidden", "8"], "--hidden", "--model mlp"),
        (&["--model", "lstm", "--dropout", "0.2"], "--dropout", "--model mlp"),
        (&["--patience", "3"], "--patience", "--early-stopping"),
        (&["--restore-best-weights"], "--restore-best-weights", "--early-stopping"),
        (&["--monitor", "loss"], "--monitor", "--early-stopping or --reduce-lr-patience"),
        (&["--reduce-lr-factor", "0.5"], "--reduce-lr-factor", "--reduce-lr-patience"),
        (&["--split-mode", "stratified"], "--split-mode", "--validation-split"),
        (&["--lr-find-steps", "50"], "--lr-find-steps", "--lr-find"),
        (&["--no-standardize"], "--no-standardize", "CSV, NPZ or NPY"),
    ];
    for (flags, named, needs) in refused {
        let (ok, out, err) = minibatch(&[&["train", "--data", "moons", "--epochs", "1"][..], flags].concat());
        assert!(!ok && out.is_empty() && err.contains(named) && err.contains(needs), "{flags:?}: {out}{err}");
    }
    let accepted: [&[&str]; 4] = [
        &["--early-stopping", "--patience", "3", "--monitor", "loss", "--restore-best-weights"],
        &["--reduce-lr-patience", "2", "--reduce-lr-factor", "0.5", "--monitor", "loss"],
        &["--validation-split", "0.2", "--split-mode", "stratified"],
        &["--hidden", "8", "--dropout", "0.1"],
    ];
    for flags in accepted {
        let (ok, _, err) =
            minibatch(&[&["train", "--data", "moons", "--epochs", "1", "--verbose", "0"][..], flags].concat());
        assert!(ok, "{flags:?}: {err}");
    }
}

/// The data audit before training: validation and test rows that repeat training rows, a
/// constant feature, feature scales far apart without standardization, imbalanced classes with
/// the weights `--class-weight balanced` would use; `--no-audit` silences it, and a clean file
/// gets no audit line.
#[test]
fn the_data_audit_names_what_is_wrong_with_the_data() {
    let dir = temp_dir("workflow-audit");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut text = String::from("a,b,flat,big,label\n");
    for i in 0..200 {
        // The last 20 rows repeat the first 20; class 1 is one row in ten.
        let j = if i >= 180 { i - 180 } else { i };
        let (a, b) = ((j * 37 % 101) as f64 / 50.0 - 1.0, (j * 61 % 103) as f64 / 51.0 - 1.0);
        text += &format!("{a},{b},7,{},{}\n", 1000.0 * a + 5000.0 * b, usize::from(j % 10 == 0));
    }
    std::fs::write(dir.join("d.csv"), text).unwrap();
    let train = |extra: &[&str]| {
        let base = ["train", "--data", &p("d.csv"), "--epochs", "1", "--validation-split", "0.1", "--verbose", "1"];
        let (ok, out, err) = minibatch(&[&base[..], extra].concat());
        assert!(ok, "{err}");
        out.lines().filter(|l| l.contains("data audit: ")).map(str::to_string).collect::<Vec<_>>()
    };
    let found = train(&[]);
    assert!(
        found.iter().any(|l| l.contains("20 of 20 validation rows also appear among the training rows")),
        "{found:?}"
    );
    assert!(found.iter().any(|l| l.contains("1 of 4 features are constant") && l.contains("(flat)")), "{found:?}");
    assert!(found.iter().any(|l| l.contains("imbalanced") && l.contains("--class-weight balanced")), "{found:?}");
    assert!(!found.iter().any(|l| l.contains("scales")), "standardized by default: {found:?}");
    let raw = train(&["--no-standardize"]);
    assert!(raw.iter().any(|l| l.contains("feature scales differ by") && l.contains("for big")), "{raw:?}");
    assert!(train(&["--no-audit"]).is_empty());
    write_csv(&dir.join("clean.csv"), 100, |a, b, _| format!("{}", usize::from(a + b > 0.0)));
    let (ok, out, _) = minibatch(&["train", "--data", &p("clean.csv"), "--epochs", "1", "--verbose", "1"]);
    assert!(ok && !out.contains("data audit"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A daily cycle with noise, one row an hour: `hour,humidity,temp`.
fn write_series(path: &Path, rows: usize) {
    let mut rng = minibatch::rng::Rng::new(7);
    let mut text = String::from("hour,humidity,temp\n");
    for t in 0..rows {
        let day = (std::f64::consts::TAU * t as f64 / 24.0).sin();
        let temp = 15.0 + 8.0 * day + 0.5 * rng.normal();
        let humidity = 60.0 - 10.0 * day + 2.0 * rng.normal();
        text += &format!("{},{humidity:.2},{temp:.2}\n", t % 24);
    }
    std::fs::write(path, text).unwrap();
}

/// `train --window --horizon --target` forecasts a series from a CSV: the last windows are the
/// test split, evaluate reads every window whose target is in a file, predict forecasts from
/// every window (the last `horizon` past the file's end), and bad flags are named.
#[test]
fn a_forecaster_from_a_csv_series() {
    let dir = temp_dir("workflow-forecast");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    write_series(&dir.join("temps.csv"), 1200);
    let (ok, out, err) = minibatch(&[
        "train",
        "--data",
        &p("temps.csv"),
        "--window",
        "24",
        "--horizon",
        "3",
        "--target",
        "temp",
        "--model",
        "lstm",
        "--test-split",
        "0.2",
        "--epochs",
        "8",
        "--save",
        &p("f.safetensors"),
    ]);
    assert!(ok, "{err}");
    // 1200 − 24 − 3 + 1 = 1174 windows: 235 for test, and the 26 before them, whose targets
    // would reach into the test windows' rows, left out.
    let first = out.lines().next().unwrap();
    assert!(first.contains("913 windows of 24 rows (targets 3 row(s) ahead), regression"), "{first}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("Test mae: ") && last.contains("(235 test samples)"), "{last}");
    let mae: f64 = last["Test mae: ".len()..][..6].parse().unwrap();
    // The noise alone is 0.4 mean absolute error; the daily swing is ±8.
    assert!(mae < 1.0, "{last}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", &p("f.safetensors"), "--data", &p("temps.csv")]);
    assert!(ok && out.contains("(1174 samples: the 1174 windows of 24 rows of"), "{out}{err}");
    let (ok, csv, err) = minibatch(&["predict", "--model", &p("f.safetensors"), "--data", &p("temps.csv")]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 1177, "a forecast from every window");
    assert!(rows[1].starts_with("26,") && rows[1177].starts_with("1202,"), "{} … {}", rows[1], rows[1177]);
    // A file too short for one window and its target; flags that need --window; a series that is not a CSV.
    write_series(&dir.join("short.csv"), 20);
    let (ok, _, err) = minibatch(&["evaluate", "--model", &p("f.safetensors"), "--data", &p("short.csv")]);
    assert!(!ok && err.contains("needs 27 rows, and the file has 20"), "{err}");
    let train =
        |extra: &[&str]| minibatch(&[&["train", "--data", &p("temps.csv"), "--epochs", "1"][..], extra].concat());
    for (extra, expected) in [
        (&["--target", "temp"][..], "--window ROWS with it"),
        (&["--horizon", "2"][..], "--window ROWS with it"),
        (&["--window", "0", "--target", "temp"][..], "--window"),
        (&["--window", "4", "--horizon", "0", "--target", "temp"][..], "--horizon"),
        (&["--window", "2000", "--target", "temp"][..], "needs 2001 rows, and the file has 1200"),
        (&["--window", "4", "--target", "wind"][..], "wind"),
        (&["--window", "4", "--target", "temp", "--label-column", "hour"][..], "one of them"),
    ] {
        let (ok, out, err) = train(extra);
        assert!(!ok && out.is_empty() && err.contains(expected), "{extra:?}: {out}{err}");
    }
    let (ok, _, err) = minibatch(&["train", "--data", "spirals", "--window", "4"]);
    assert!(!ok && err.contains("a CSV file with --window"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
