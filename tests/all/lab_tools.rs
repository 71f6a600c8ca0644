//! The lab's tools: the memory plan beside the measured memory, the memory budget, the
//! learning-rate range test, fair comparisons between batch sizes, and the charts' options.

use crate::common::{minibatch, read_json, skip_or_fail, temp_dir};
use minibatch::lab::{self, ChartOptions, LabOptions, LrFindOptions};
use minibatch::layers::Dense;
use minibatch::optimizers::SGD;
use minibatch::{datasets, Sequential, Tensor};

/// `n` samples of `d` features in [0, 1) and 10 classes, deterministic.
fn noise(n: usize, d: usize) -> (Tensor, Tensor) {
    let mut rng = minibatch::rng::Rng::new(7);
    let x = Tensor::from_vec(&[n, d], (0..n * d).map(|_| rng.uniform(0.0, 1.0) as f32).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 10) as f32).collect()).unwrap();
    (x, y)
}

#[test]
fn the_memory_plan_matches_the_measured_growth_between_batch_sizes() {
    // The Keras MNIST MLP's shape on 4096 samples; batch 64, then 2048, then 64 again (the
    // first run also pays for the thread pool and the kernels' packing buffers).
    let dir = temp_dir("lab-memory");
    let (x, y) = noise(4096, 784);
    minibatch::io::write_npz(dir.join("d.npz"), &[("x", &x), ("y", &y)]).unwrap();
    let (data, json) = (dir.join("d.npz"), dir.join("lab.json"));
    let args = ["lab", "--data", data.to_str().unwrap(), "--batch-sizes", "64,2048,64", "--epochs", "1"];
    let (ok, out, err) = minibatch(&[&args[..], &["--hidden", "512,512", "--json", json.to_str().unwrap()]].concat());
    assert!(ok && out.contains("plan MiB") && out.contains("RSS +MiB"), "{out}{err}");
    let runs = read_json(&json)["runs"].as_array().unwrap().clone();
    let planned = |i: usize| runs[i]["planned_bytes"].as_f64().unwrap();
    assert_eq!(planned(0), planned(2), "the plan is computed, the same each time");
    let Some(grown) = runs[1]["rss_growth_bytes"].as_f64() else {
        // No peak to reset (`/proc/self/clear_refs` not writable) or no /proc: a missing
        // prerequisite, which fails unless skipped on purpose.
        skip_or_fail(
            "MINIBATCH_SKIP_RSS_TESTS",
            "no resident-memory figures on this system (/proc/self/clear_refs must be writable)",
        );
        return;
    };
    let small = runs[2]["rss_growth_bytes"].as_f64().unwrap();
    let (plan_delta, rss_delta) = (planned(1) - planned(2), grown - small);
    assert!(plan_delta > 20.0 * (1 << 20) as f64, "{plan_delta}");
    assert!(
        (rss_delta / plan_delta - 1.0).abs() < 0.10,
        "batch 2048 over batch 64: planned {:.2} MiB more, measured {:.2} MiB more",
        plan_delta / (1 << 20) as f64,
        rss_delta / (1 << 20) as f64
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_memory_budget_names_the_largest_batch_size_before_any_run() {
    let (ok, out, err) = minibatch(&["lab", "--epochs", "1", "--memory-budget", "64KiB"]);
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("Memory budget 64KiB: the largest batch size whose plan fits is "), "{first}");
    let largest: usize = first.rsplit("fits is ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
    // That batch size runs, planned within the budget; one more is refused, nothing printed.
    let dir = temp_dir("lab-budget");
    let json = dir.join("lab.json");
    let args = ["lab", "--epochs", "1", "--memory-budget", "64KiB", "--batch-sizes", &largest.to_string()];
    let (ok, _, err) = minibatch(&[&args[..], &["--json", json.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    let planned = read_json(&json)["runs"][0]["planned_bytes"].as_u64().unwrap();
    assert!(planned <= 64 << 10, "{planned}");
    std::fs::remove_dir_all(dir).unwrap();
    // A batch size over the budget is refused, with nothing printed first.
    let (ok, out, err) =
        minibatch(&["lab", "--memory-budget", "64KiB", "--batch-sizes", &format!("10,{}", largest + 1)]);
    assert!(!ok && out.is_empty() && err.contains(&format!("the largest is {largest}")), "{out}{err}");
}

#[test]
fn lr_find_suggests_a_rate_near_the_known_good_one() {
    // Linear regression on inputs of unit variance, SGD on the mean squared error: the
    // Hessian is 2·I, so rates above 1 diverge and 0.5 is the best single step. The range
    // test's steepest descent lies within a decade below that, far from its 1e-8 start.
    let n = 512;
    let mut rng = minibatch::rng::Rng::new(1);
    let x: Vec<f32> = (0..n * 4).map(|_| rng.normal() as f32).collect();
    let y: Vec<f32> = x.chunks(4).map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] + 3.0 * r[3]).collect();
    let (x, y) = (Tensor::from_vec(&[n, 4], x).unwrap(), Tensor::from_vec(&[n, 1], y).unwrap());
    let mut model = Sequential::new().input_shape(&[4]).add(Dense::new(1));
    model.compile(SGD::new(0.01), "mse", &[]).unwrap();
    let before = model.get_weights();
    let options = LrFindOptions { num_steps: 200, batch_size: 64, ..LrFindOptions::default() };
    let found = lab::lr_find(&mut model, &x, &y, &options).unwrap();
    let suggestion = found.suggestion.expect("a suggestion");
    assert!((0.02..=1.0).contains(&suggestion), "suggested {suggestion}");
    assert!(found.rates.windows(2).all(|w| w[1] > w[0]), "an exponential sweep");
    assert_eq!(model.get_weights(), before, "the model is returned as it was");
    assert_eq!(model.optimizer().unwrap().learning_rate(), 0.01, "and so is its rate");
    assert_eq!(model.optimizer().unwrap().iterations(), 0);
    // Training at the suggestion works; the sweep's top rate diverges.
    let loss_at = |rate: f32| {
        let mut m = Sequential::new().input_shape(&[4]).add(Dense::new(1));
        m.compile(SGD::new(rate), "mse", &[]).unwrap();
        let h = m.fit(&x, &y, minibatch::FitOptions::new().batch_size(64).epochs(10).verbose(0)).unwrap();
        *h.get("loss").unwrap().last().unwrap()
    };
    let (good, slow) = (loss_at(suggestion as f32), loss_at(suggestion as f32 / 100.0));
    assert!(good < 0.01 * slow, "at {suggestion}: {good}; a hundredth of it: {slow}");
    let diverged = loss_at(4.0);
    assert!(diverged.is_nan() || diverged > 1.0, "a rate of 4 diverges: {diverged}");
    // fast.ai's suggestions: below where the loss diverges, above the sweep's flat start.
    let (valley, minimum) = (found.valley.expect("a valley"), found.minimum.expect("a minimum"));
    assert!((1e-3..=2.0).contains(&valley) && (1e-3..=0.2).contains(&minimum), "valley {valley}, minimum/10 {minimum}");
    // The rate to train at is the valley; the figure: a log rate axis, the suggested valley and
    // the steepest descent marked.
    assert_eq!(found.recommended(), Some(valley));
    let figure = lab::lr_find_figure(&found);
    assert!(figure.charts[0].log_x && figure.charts[0].marks[0].label.contains("suggested"));
    assert!(figure.charts[0].marks[0].label.contains("fast.ai's valley"));
    assert!(figure.charts[0].marks[1].label.starts_with("steepest descent"));
    // The axis stops at half again the first smoothed loss: the explosion does not flatten the fall.
    assert_eq!(figure.charts[0].y_max, Some(1.5 * found.losses[0]));
    // A suggestion within a decade of where the loss diverged is warned of, naming the valley.
    let near = lab::LrFind {
        rates: vec![1e-3, 1e-2, 5e-2],
        losses: vec![1.0, 0.5, 9.0],
        raw_losses: vec![1.0, 0.5, 9.0],
        suggestion: Some(1e-2),
        valley: Some(1e-3),
        minimum: Some(1e-3),
        stopped_early: true,
    };
    let warning = near.warning().expect("a warning");
    assert!(
        warning.contains("within a decade") && warning.contains("5.000e-2") && warning.contains("1.000e-3"),
        "{warning}"
    );
    assert!(lab::LrFind { suggestion: Some(1e-3), ..near.clone() }.warning().is_none());
    assert!(lab::LrFind { stopped_early: false, ..near.clone() }.warning().is_none(), "no divergence, no warning");
    // Without a valley, minimum/10; without either, the steepest descent.
    assert_eq!(lab::LrFind { valley: None, minimum: Some(2e-3), ..near.clone() }.recommended(), Some(2e-3));
    assert_eq!(lab::LrFind { valley: None, minimum: None, ..near }.recommended(), Some(1e-2));
}

/// `train --lr-find` runs the range test on the training rows, prints its suggestions and
/// trains at the valley: the same run, bit for bit, as `--learning-rate` at that rate (the
/// model returned to its initial state after the sweep). `--lr-find-only` stops after the
/// sweep; flags that contradict it are refused by name, before any work.
#[test]
fn train_lr_find_trains_at_the_suggestion() {
    let dir = temp_dir("train-lr-find");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let base = ["train", "--data", "moons", "--epochs", "3", "--validation-split", "0.2", "--verbose", "0"];
    let (ok, out, err) =
        minibatch(&[&base[..], &["--lr-find", "--plot", &p("c.svg"), "--history", &p("found.json")]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("Learning-rate range test: 100 steps of batch 32") && out.contains("All suggestions: valley"));
    let line = out.lines().find(|l| l.starts_with("Training at learning rate ")).expect(&out);
    let rate = line["Training at learning rate ".len()..].split(' ').next().unwrap();
    assert!(out.contains(&format!("Drew the range test to {}", p("c-lr-find.svg"))), "{out}");
    assert!(dir.join("c.svg").exists() && dir.join("c-lr-find.svg").exists());
    let (ok, _, err) = minibatch(&[&base[..], &["--learning-rate", rate, "--history", &p("given.json")]].concat());
    assert!(ok, "{err}");
    let (found, given) = (read_json(&dir.join("found.json")), read_json(&dir.join("given.json")));
    assert_eq!(found["history"], given["history"], "trained at {rate}");
    // --lr-find-only: the sweep alone, drawn to --plot itself.
    let (ok, out, err) = minibatch(&[&base[..], &["--lr-find-only", "--plot", &p("only.svg")]].concat());
    assert!(ok && out.contains("Suggested learning rate: ") && !out.contains("Test "), "{out}{err}");
    assert!(std::fs::read_to_string(dir.join("only.svg")).unwrap().contains("learning rate"));
    for (flags, named) in [
        (&["--lr-find-only", "--save", "m.safetensors"][..], "--save"),
        (&["--lr-find", "--learning-rate", "0.1"], "--learning-rate"),
        (&["--lr-find", "--lr-find-only"], "--lr-find"),
        (&["--lr-find", "--lr-find-steps", "1"], "--lr-find-steps"),
    ] {
        let (ok, out, err) = minibatch(&[&base[..], flags].concat());
        assert!(!ok && out.is_empty() && err.contains(named), "{flags:?}: {out}{err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `train --memory-budget`: without `--batch-size` the batch is 32, or the largest batch whose
/// memory plan fits when that is smaller (said in the opening lines); a `--batch-size` over
/// it is refused naming the largest, before any output. `train --train-samples` as the lab's.
#[test]
fn train_memory_budget_picks_a_batch_that_fits() {
    let dir = temp_dir("train-budget");
    let base = ["train", "--data", "spirals", "--epochs", "1", "--verbose", "1"];
    let history = dir.join("h.json");
    let (ok, out, err) =
        minibatch(&[&base[..], &["--memory-budget", "80KiB", "--history", history.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.contains("memory budget 80KiB")).expect(&out);
    let largest: usize = line.split("fits is ").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(largest < 32 && line.contains(&format!("training at {largest} (the largest that fits")), "{line}");
    assert_eq!(read_json(&history)["batch_size"], largest);
    let (ok, out, _) = minibatch(&[&base[..], &["--memory-budget", "1GiB"]].concat());
    assert!(ok && out.contains("training at 32 (Keras's default"), "{out}");
    let over = (largest + 1).to_string();
    let (ok, out, err) = minibatch(&[&base[..], &["--memory-budget", "80KiB", "--batch-size", &over]].concat());
    assert!(!ok && out.is_empty() && err.contains(&format!("at most {largest}")), "{out}{err}");
    let (ok, out, err) = minibatch(&[&base[..], &["--memory-budget", "lots"]].concat());
    assert!(!ok && out.is_empty() && err.contains("--memory-budget"), "{out}{err}");
    // --train-samples, as the lab's: the first N training rows.
    let (ok, out, err) =
        minibatch(&[&base[..], &["--train-samples", "50", "--history", history.to_str().unwrap()]].concat());
    assert!(ok && out.starts_with("spirals: 50 training samples"), "{out}{err}");
    assert_eq!(read_json(&history)["train_samples"], 50);
    let (ok, out, err) = minibatch(&[&base[..], &["--train-samples", "0"]].concat());
    assert!(!ok && out.is_empty() && err.contains("--train-samples"), "{out}{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn exam_model(lr: f32) -> minibatch::Result<Sequential> {
    let mut m =
        Sequential::new().seed(0).add(Dense::new(16).activation("relu")).add(Dense::new(4).activation("softmax"));
    m.compile(SGD::new(lr), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(m)
}

#[test]
fn fair_comparisons_give_equal_updates_and_scaled_rates() {
    let exam = datasets::load("exam", 0).unwrap();
    let data = [&exam.x_train, &exam.y_train, &exam.x_test, &exam.y_test];
    let n = exam.x_train.batch();
    let options = LabOptions {
        batch_sizes: vec![50, 10, 1],
        epochs: 3,
        equal_updates: true,
        scale_learning_rate: true,
        tensorboard: None,
    };
    let runs = lab::run_with(data, &options, || exam_model(0.5)).unwrap();
    let round = n.div_ceil(50);
    for r in &runs {
        assert_eq!(r.updates_per_epoch, round, "batch {}: rounds of the largest batch's updates", r.batch_size);
        assert_eq!(r.total_updates, 3 * round as u64, "batch {}: the same updates", r.batch_size);
        assert_eq!(r.learning_rate, 0.5 * r.batch_size as f32 / 50.0, "rate ∝ batch size");
    }
    // As given, batch 1 makes 50 times the updates of batch 50, at the same rate.
    let plain =
        lab::run_with(data, &LabOptions { batch_sizes: vec![50, 1], epochs: 1, ..LabOptions::default() }, || {
            exam_model(0.5)
        })
        .unwrap();
    assert_eq!((plain[0].total_updates, plain[1].total_updates), (round as u64, n as u64));
    assert_eq!((plain[0].learning_rate, plain[1].learning_rate), (0.5, 0.5));

    // The charts: rounds on the x axis; wrong answers as a percentage when the sets differ in
    // size; a log loss axis when asked; "1 update/epoch" in the singular.
    let figure = lab::figure_with(&runs, ChartOptions { log_loss: true });
    let wrong = &figure.charts[0];
    assert!(wrong.x_label.starts_with(&format!("round of {round} updates")), "{}", wrong.x_label);
    let percent = exam.x_train.batch() != exam.x_test.batch();
    assert_eq!(wrong.y_label, if percent { "% wrong" } else { "wrong answers" });
    assert!(figure.charts[1].log_y && figure.charts[1].y_label.contains("log"));
    let one = lab::run(&exam.x_train, &exam.y_train, &exam.x_test, &exam.y_test, &[n], 1, || exam_model(0.5)).unwrap();
    assert_eq!(lab::figure(&one).charts[0].series[0].name, format!("batch {n} (1 update/epoch)"));
    let sized = |train: usize, val: usize| {
        let mut r = one[0].clone();
        (r.train_samples, r.val_samples) = (train, val);
        lab::figure(&[r]).charts[0].y_label.clone()
    };
    assert_eq!((sized(100, 50), sized(100, 100)), ("% wrong".to_string(), "wrong answers".to_string()));
    // Drawn, the log axis labels its ticks as losses, not logarithms.
    let svg = figure.to_svg().unwrap();
    assert!(svg.contains("loss (log scale)"));
}

#[test]
fn lab_lr_find_from_the_command() {
    let dir = temp_dir("lab-lr-find");
    let (plot, report) = (dir.join("lr.svg"), dir.join("report"));
    let (ok, out, err) = minibatch(&[
        "lab",
        "--lr-find",
        "--batch-sizes",
        "16",
        "--plot",
        plot.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Learning-rate range test: 100 steps of batch 16")
            && out.contains("Suggested learning rate: ")
            && out.contains("All suggestions: valley ")
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("learning rate") && svg.contains("suggested"));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    let valley = html.contains("fast.ai&#39;s valley") || html.contains("fast.ai's valley");
    assert!(html.contains("suggested learning rate") && valley && html.contains("<svg"), "{html}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `lab --seeds N` repeats every batch size over N seeds and says which differences are real:
/// on the exam set, batch 100 against 10 is (Welch's test), 10 against 1 is within the seeds'
/// noise; fewer than 2 seeds is refused by name.
#[test]
fn lab_seeds_tell_a_real_difference_from_noise() {
    let (ok, out, err) = minibatch(&["lab", "--seeds", "5"]);
    assert!(ok, "{err}");
    assert!(out.contains("Across 5 seeds (0 to 4): held-out figures at the last epoch, mean ± 95% interval"), "{out}");
    assert!(out.contains("batch 100 vs 10: held-out loss a real difference (p < 0.05)"), "{out}");
    assert!(out.contains("batch 10 vs 1: held-out loss within the seeds' noise"), "{out}");
    for n in ["0", "1"] {
        let (ok, out, err) = minibatch(&["lab", "--seeds", n]);
        assert!(!ok && out.is_empty() && err.contains("--seeds"), "{out}{err}");
    }
}
