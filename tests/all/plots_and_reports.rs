//! Learning-curve plots, the lab's overfitting scenario, and the HTML report opened in a real
//! headless browser.

use crate::common::minibatch;
use crate::common::{skip_or_fail, temp_dir};
use minibatch::callbacks::EarlyStopping;
use minibatch::layers::Dense;
use minibatch::plot::{self, Figure};
use minibatch::{datasets, lab, Error, FitOptions, Result, Sequential};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pixels of exactly this colour in a PNG.
fn count_color(png: &Path, rgb: [u8; 3]) -> (u32, u32, usize) {
    let img = image::open(png).unwrap().to_rgb8();
    let n = img.pixels().filter(|p| p.0 == rgb).count();
    (img.width(), img.height(), n)
}

const BLUE: [u8; 3] = [31, 119, 180]; // training lines
const ORANGE: [u8; 3] = [255, 127, 14]; // validation lines

fn stopped_run() -> (minibatch::callbacks::History, Option<usize>) {
    let d = datasets::load("moons", 0).unwrap();
    let mut m = Sequential::new().add(Dense::new(32).activation("relu")).add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let mut stop = EarlyStopping::new().patience(1).min_delta(0.05);
    let h = m.fit(
        &d.x_train,
        &d.y_train,
        FitOptions::new().epochs(30).validation_split(0.2).verbose(0).callback(&mut stop),
    );
    (h.unwrap(), stop.stopped_epoch())
}

#[test]
fn history_plots_draw_every_curve_and_mark() {
    let (h, stopped) = stopped_run();
    let stopped_at = stopped.expect("min_delta 0.05 stops this run early");
    let figure = plot::history_figure(&h, stopped);
    let titles: Vec<&str> = figure.charts.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["loss", "accuracy"]);
    let best = h.best_epoch().unwrap();
    let marks: Vec<String> = figure.charts[0].marks.iter().map(|m| m.label.clone()).collect();
    assert_eq!(
        marks,
        [format!("best epoch {} (lowest val_loss)", best + 1), format!("stopped at epoch {}", stopped_at + 1)]
    );
    assert_eq!(figure.charts[0].series[1].points.len(), h.epochs_run());

    let svg = figure.to_svg().unwrap();
    for text in ["loss", "val_loss", "accuracy", "val_accuracy", "best epoch", "stopped at epoch", "epoch"] {
        assert!(svg.contains(&format!(">\n{text}")), "the SVG shows {text:?}");
    }
    let dir = temp_dir("plots");
    plot::plot_history(&h, stopped, dir.join("curves.png")).unwrap();
    let (w, height, blue) = count_color(&dir.join("curves.png"), BLUE);
    assert_eq!((w, height), figure.size());
    assert!(blue > 200, "training curves drawn: {blue} blue pixels");
    assert!(count_color(&dir.join("curves.png"), ORANGE).2 > 100, "validation curves drawn");
    // Bad requests are errors, not panics.
    let err = plot::plot_history(&h, None, dir.join("curves.jpg")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "plot path", .. }), "{err}");
    assert!(Figure { charts: Vec::new(), columns: 1 }.to_png().is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_command_draws_png_and_svg_plots() {
    let dir = temp_dir("plot-cli");
    for name in ["t.png", "t.svg"] {
        let path = dir.join(name);
        let (ok, out, err) = minibatch(&[
            "train",
            "--data",
            "moons",
            "--epochs",
            "4",
            "--validation-split",
            "0.2",
            "--plot",
            path.to_str().unwrap(),
        ]);
        assert!(ok && out.contains("Drew the learning curves"), "{out}{err}");
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let lab_png = dir.join("lab.png");
    let (ok, out, err) = minibatch(&["lab", "--epochs", "5", "--plot", lab_png.to_str().unwrap()]);
    assert!(ok && out.contains("Drew the charts"), "{out}{err}");
    let (w, h, blue) = count_color(&lab_png, BLUE);
    assert_eq!((w, h), (1280, 1140), "3 × 2 panels: wrong answers, loss per batch size, memory per batch size");
    assert!(blue > 200);
    let (ok, _, err) = minibatch(&["train", "--epochs", "1", "--plot", dir.join("x.gif").to_str().unwrap()]);
    assert!(!ok && err.contains(".png or .svg"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The overfitting scenario of `minibatch lab --overfit`: 16 moons samples, a wide network.
fn overfit_model() -> Result<Sequential> {
    let mut m = Sequential::new()
        .seed(0)
        .add(Dense::new(128).activation("relu"))
        .add(Dense::new(128).activation("relu"))
        .add(Dense::new(2).activation("softmax"));
    m.compile(minibatch::optimizers::Adam::new(0.01), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(m)
}

#[test]
fn early_stopping_catches_the_overfitting_the_lab_names() {
    let d = datasets::load("moons", 0).unwrap();
    let (x, y) = (d.x_train.slice_rows(0, 16), d.y_train.slice_rows(0, 16));
    let (vx, vy) = (&d.x_test, &d.y_test);
    let mut runs = lab::run(&x, &y, vx, vy, &[16, 1], 40, overfit_model).unwrap();
    for run in &mut runs {
        let onset = run.overfitting_from.expect("held-out loss turns up while training loss falls");
        assert_eq!(onset, run.best_val_epoch + 1, "overfitting begins after the lowest held-out loss");
        let best = &run.epochs[run.best_val_epoch - 1];
        let last = run.epochs.last().unwrap();
        assert!(last.val_loss > 2.0 * best.val_loss && last.train_loss < best.train_loss, "{run:?}");

        let es = lab::catch_overfitting([&x, &y, vx, vy], run, 5, overfit_model).unwrap();
        assert_eq!(es.restored_epoch, Some(run.best_val_epoch), "restores the epoch the lab names");
        assert_eq!(es.stopped_epoch, Some(run.best_val_epoch + 5), "stops patience epochs later");
        assert_eq!(es.val_loss, best.val_loss, "the restored model is that epoch's, bit for bit");
        run.early_stopping = Some(es);
    }
    let figure = lab::figure(&runs);
    let marks: Vec<&str> = figure.charts[1].marks.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(marks.len(), 3, "lowest held-out loss, overfitting, early stopping: {marks:?}");
}

#[test]
fn lab_overfit_runs_the_scenario_from_the_command() {
    let dir = temp_dir("lab-overfit");
    let json = dir.join("o.json");
    let (ok, out, err) = minibatch(&["lab", "--overfit", "--json", json.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("16 training / 1000 held-out samples, 60 epochs"), "{out}");
    let runs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for run in runs["runs"].as_array().unwrap() {
        let (best, es) = (&run["best_val_epoch"], &run["early_stopping"]);
        assert!(run["overfitting_from"].is_u64(), "{run}");
        assert_eq!(&es["restored_epoch"], best);
        assert!(out.contains(&format!("and restored epoch {best}")), "{out}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A headless Chromium: `$MINIBATCH_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
/// Missing: the test fails unless `MINIBATCH_SKIP_BROWSER_TESTS=1` (see [`skip_or_fail`]).
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("MINIBATCH_CHROMIUM").map(PathBuf::from).into_iter().chain(
        ["chromium", "chromium-browser", "google-chrome"].iter().filter_map(|name| {
            std::env::var_os("PATH")
                .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        }),
    );
    if let Some(found) = candidates.into_iter().next() {
        return Some(found);
    }
    skip_or_fail(
        "MINIBATCH_SKIP_BROWSER_TESTS",
        "no headless Chromium found (install Debian's chromium, or set MINIBATCH_CHROMIUM)",
    );
    None
}

fn headless(browser: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut cmd = Command::new(browser);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]);
    cmd.args(args).arg(url).output().unwrap()
}

#[test]
fn html_reports_render_their_charts_and_tables_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let dir = temp_dir("reports");
    let (train_dir, lab_dir) = (dir.join("train"), dir.join("lab"));
    let args = ["train", "--data", "moons", "--epochs", "6", "--validation-split", "0.2", "--report"];
    let (ok, out, err) = minibatch(&[&args[..], &[train_dir.to_str().unwrap()]].concat());
    assert!(ok && out.contains("Wrote the report"), "{out}{err}");
    let (ok, _, err) = minibatch(&["lab", "--epochs", "4", "--report", lab_dir.to_str().unwrap()]);
    assert!(ok, "{err}");

    // The training report: configuration (with the command line and the start), data (with the
    // data audit), class balance, the model's table, outcome (with wall time), the diagnosis,
    // confusion matrix, curves, epochs.
    // The lab's: configuration, summary, the charts, memory per batch size (table and chart),
    // every epoch of every run.
    let sections = [
        &[
            "Data",
            "data audit",
            "Class balance",
            "Model",
            "Diagnosis",
            "Confusion matrix (test data)",
            "wall time",
            "minibatch train",
        ][..],
        &[
            "Memory per batch size",
            "planned, MiB",
            "measured RSS growth, MiB",
            "Which batch size",
            "predicted ms / epoch",
        ][..],
    ];
    for ((page, svgs, tables, epoch_rows), needles) in
        [(train_dir.join("index.html"), 1, 7, 6), (lab_dir.join("index.html"), 2, 7, 3 * 4)].into_iter().zip(sections)
    {
        let dom = headless(&browser, &["--dump-dom"], &page);
        assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert_eq!(dom.matches("<svg").count(), svgs, "charts inline in {}", page.display());
        assert_eq!(dom.matches("<table").count(), tables, "tables in {}", page.display());
        assert!(dom.contains("<h1>minibatch"), "{dom}");
        for needle in needles {
            assert!(dom.contains(needle), "{needle:?} in {}", page.display());
        }
        // Per-epoch rows: a first cell that is an epoch number in the tables' bodies.
        let body_rows = dom.matches("<tr><td>").count();
        assert!(body_rows >= epoch_rows, "{body_rows} rows in {}", page.display());

        let shot = page.with_file_name("shot.png");
        let out = headless(&browser, &["--window-size=1360,2400", &format!("--screenshot={}", shot.display())], &page);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, _, blue) = count_color(&shot, BLUE);
        assert!(blue > 100, "the browser drew the chart's lines: {blue} pixels of the training colour");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
