//! Hardening, part 2: the doors that image folders, CSV category columns, NPY files read a
//! batch at a time and folders as inputs opened. One test (or a few) per class of defect:
//! outputs that would overwrite inputs, late outputs that would cost earlier ones, sizes a
//! file declares, files truncated while read, data changed since training, nonsense accepted
//! silently, counts without bounds and readers without end, formats the README lists, and
//! resume on subsets of rows. (A kernel thread's panic: `tensor::pool`'s unit test; a
//! functional configuration's missing layer: `saving::model_file`'s.)

use crate::common::{minibatch, temp_dir};
use minibatch::callbacks::{BackupAndRestore, Callback, Context, Control, Logs};
use minibatch::data::{CsvDataset, Dataset, ImageFolderDataset, NpyDataset};
use minibatch::layers::Dense;
use minibatch::{io, Error, FitOptions, Model, Result, Sequential};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A folder of class folders `a` and `b`, `per` PNG images of `h × w` each, distinct pixels.
fn image_folder(dir: &Path, per: usize, h: u32, w: u32) -> PathBuf {
    for (c, class) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per {
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 40 + c as u32 * 100) as u8, (y * 30 + i as u32 * 7) as u8, (c * 200) as u8])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    dir.to_path_buf()
}

/// A CSV of `n` rows: features `f0`, `f1`, a category `color`, and a label from them.
fn csv_file(path: &Path, n: usize) {
    let mut text = String::from("f0,f1,color,label\n");
    for i in 0..n {
        let (a, b) = ((i * 37 % 101) as f32 / 50.0 - 1.0, (i * 53 % 97) as f32 / 48.0 - 1.0);
        let color = ["red", "green", "blue"][i % 3];
        text += &format!("{a},{b},{color},{}\n", usize::from(a + b > 0.0));
    }
    std::fs::write(path, text).unwrap();
}

/// `minibatch train --epochs 1 --verbose 0 ARGS`.
fn train_one_epoch(args: &[&str]) -> (bool, String, String) {
    minibatch(&[&["train", "--epochs", "1", "--verbose", "0"][..], args].concat())
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if dir.is_file() {
        return vec![(dir.to_path_buf(), std::fs::read(dir).unwrap())];
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            out.extend(snapshot(&e));
        } else {
            out.push((e.clone(), std::fs::read(&e).unwrap()));
        }
    }
    out
}

// 1. Outputs never overwrite inputs, whatever kind of input and however the path is spelled.

#[test]
fn no_output_flag_writes_into_or_over_any_input() {
    let dir = temp_dir("guard");
    // The inputs, one of each kind.
    let mnist = dir.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    {
        std::fs::write(mnist.join(f), b"idx bytes").unwrap();
    }
    let images = image_folder(&dir.join("images"), 2, 4, 4);
    let csv = dir.join("d.csv");
    csv_file(&csv, 40);
    let test_csv = dir.join("t.csv");
    csv_file(&test_csv, 10);
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    std::fs::write(&x, io::write_npy(&[8, 2], &[0.5; 16])).unwrap();
    std::fs::write(&y, io::write_npy(&[8], &[1.0; 8])).unwrap();
    let link = dir.join("link-to-labels");
    std::os::unix::fs::symlink(mnist.join("train-labels-idx1-ubyte"), &link).unwrap();
    let hard = dir.join("hard-link-to-csv");
    std::fs::hard_link(&csv, &hard).unwrap();

    // (the inputs' flags, the path an output takes: the input itself or a file inside it)
    let label_file = mnist.join("train-labels-idx1-ubyte");
    let cases: Vec<(Vec<String>, PathBuf)> = vec![
        (vec!["--data".into(), format!("mnist:{}", s(&mnist))], label_file.clone()),
        (vec!["--data".into(), format!("mnist:{}", s(&mnist))], mnist.join("new-file")),
        (vec!["--data".into(), format!("mnist:{}", s(&mnist))], mnist.join("../mnist/./train-labels-idx1-ubyte")),
        (vec!["--data".into(), format!("mnist:{}", s(&mnist))], link.clone()),
        (vec!["--data".into(), s(&images)], images.join("a").join("0.png")),
        (vec!["--data".into(), s(&images)], images.join("a").join("new.png")),
        (vec!["--data".into(), s(&images)], images.join("c")),
        (vec!["--data".into(), s(&csv)], csv.clone()),
        (vec!["--data".into(), s(&csv)], hard.clone()),
        (vec!["--data".into(), s(&csv), "--test-data".into(), s(&test_csv)], test_csv.clone()),
        (vec!["--data".into(), s(&x), "--labels".into(), s(&y)], y.clone()),
        (vec!["--data".into(), s(&x), "--labels".into(), s(&y)], dir.join(".").join("x.npy")),
    ];
    let before: Vec<_> = [&mnist, &images, &csv, &test_csv, &x, &y].iter().map(|p| snapshot(p)).collect();
    for (inputs, out) in &cases {
        let o = s(out);
        let plot = format!("{o}.png");
        let outputs: [(&str, &str); 5] =
            [("--save", &o), ("--history", &o), ("--plot", &plot), ("--report", &o), ("--checkpoint-dir", &o)];
        for (flag, path) in outputs {
            // The plot must end in .png: inside a folder input it is refused as inside; over
            // a file input, `out.png` is a new name, so that case is left to the others.
            if flag == "--plot" && !out.starts_with(&mnist) && !out.starts_with(&images) {
                continue;
            }
            let args: Vec<String> = ["train", "--epochs", "1", "--verbose", "0"]
                .iter()
                .map(|a| a.to_string())
                .chain(inputs.iter().cloned())
                .chain([flag.to_string(), path.to_string()])
                .collect();
            let (ok, stdout, err) = minibatch(&args);
            assert!(!ok, "{flag} {path} with {inputs:?} was accepted");
            assert!(stdout.is_empty(), "refused before any output: {stdout}");
            assert!(err.contains(flag) && err.contains("input"), "{flag} {path}: {err}");
        }
    }
    // predict --output, evaluate --json and lab --json likewise (the model is an input too).
    let model = dir.join("m.safetensors");
    let (ok, _, err) =
        minibatch(&["train", "--data", "moons", "--epochs", "1", "--verbose", "0", "--save", &s(&model)]);
    assert!(ok, "{err}");
    for (cmd, flag) in [("predict", "--output"), ("evaluate", "--json")] {
        for out in [model.clone(), csv.clone()] {
            let (ok, _, err) = minibatch(&[cmd, "--model", &s(&model), "--data", &s(&csv), flag, &s(&out)]);
            assert!(!ok && err.contains(flag) && err.contains("input"), "{cmd} {flag} {}: {err}", out.display());
        }
        let (ok, _, err) =
            minibatch(&[cmd, "--model", &s(&model), "--data", &s(&images), flag, &s(&images.join("b/x.csv"))]);
        assert!(!ok && err.contains(flag) && err.contains("input"), "{err}");
    }
    let (ok, _, err) = minibatch(&["lab", "--data", &s(&csv), "--json", &s(&csv)]);
    assert!(!ok && err.contains("--json"), "{err}");
    let after: Vec<_> = [&mnist, &images, &csv, &test_csv, &x, &y].iter().map(|p| snapshot(p)).collect();
    assert!(before == after, "no input changed");
    std::fs::remove_dir_all(dir).unwrap();
}

// 2. An output that cannot be written is refused before training, and the model comes first.

#[test]
fn an_output_that_cannot_be_written_is_refused_before_training() {
    let dir = temp_dir("late-output");
    let afile = dir.join("afile");
    std::fs::write(&afile, b"a file, not a folder").unwrap();
    let model = dir.join("m.safetensors");
    let cases = [
        ("--plot", s(&afile.join("p.png"))),
        ("--history", s(&afile.join("h.json"))),
        ("--report", s(&afile.join("r"))),
        ("--report", s(&afile)),
        ("--checkpoint-dir", s(&afile)),
        ("--history", s(&dir)),
    ];
    for (flag, path) in cases {
        let (ok, out, err) =
            minibatch(&["train", "--data", "moons", "--epochs", "1", "--save", &s(&model), flag, &path]);
        assert!(!ok && out.is_empty(), "{flag} {path}: {out}");
        assert!(err.contains(flag) && err.contains(&path), "{err}");
        assert!(!model.exists(), "nothing trained, nothing written");
    }
    assert_eq!(std::fs::read(&afile).unwrap(), b"a file, not a folder");
    // Every output fine: the model, the history and the plot are all written.
    let (h, p) = (dir.join("h.json"), dir.join("c.png"));
    let (ok, _, err) =
        train_one_epoch(&["--data", "moons", "--save", &s(&model), "--history", &s(&h), "--plot", &s(&p)]);
    assert!(ok && model.exists() && h.exists() && p.exists(), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

// 3. Sizes declared by a file, or asked for by a flag, are checked before anything is expanded.

/// A PNG whose header declares `w × h` at one bit per pixel, grey, with a tiny (wrong-sized)
/// compressed body: a few dozen bytes that would decode to gigabytes.
fn declared_png(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &vec![0u8; 1 << 16]).unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn declared_sizes_are_checked_before_anything_is_decoded() {
    let dir = temp_dir("declared");
    // One PNG in a folder declares 16384 × 16384 (3 GiB as RGB f32).
    let folder = image_folder(&dir.join("huge"), 2, 4, 4);
    std::fs::write(folder.join("b").join("2.png"), declared_png(16384, 16384)).unwrap();
    let e = io::load_image_folder(&folder, io::ColorMode::Rgb, Some((4, 4)), None).unwrap_err();
    assert!(matches!(e, Error::Memory { .. }) && e.to_string().contains("2.png"), "{e}");
    let ds = ImageFolderDataset::open(&folder, 8).unwrap().image_size(4, 4);
    let mut batch = minibatch::data::Batch::new(&ds.spec());
    let e = ds.fill(0, &mut batch).unwrap_err();
    assert!(e.to_string().contains("2.png") && e.to_string().contains("would need"), "{e}");
    // The flag: --image-size at its upper bound upsizes nothing before the whole folder's
    // pixels are checked (with a budget that makes the sum too much on any machine).
    let small = image_folder(&dir.join("small"), 3, 4, 4);
    let out = crate::deadline::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_minibatch"))
            // resnet's weights do not grow with the image (global pooling): only the pixels do.
            .args(["train", "--data", &s(&small), "--image-size", "16384x16384", "--model", "resnet", "--epochs", "1"])
            .env("MINIBATCH_DECODE_BUDGET", "2G"),
        crate::deadline::DEADLINE,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("images of") && err.contains("MINIBATCH_DECODE_BUDGET"), "{err}");
    // An --image-size the decode budget allows, with a model the weight budget does not: the
    // model is refused before any image is decoded (a corrupt image in the folder would
    // otherwise be the error).
    let big = image_folder(&dir.join("big"), 3, 4, 4);
    std::fs::write(big.join("b").join("9.png"), b"\x89PNG\r\n\x1a\nnot an image").unwrap();
    let (ok, out, err) = minibatch(&["train", "--data", &s(&big), "--image-size", "8000x8000", "--epochs", "1"]);
    assert!(!ok && out.is_empty() && err.contains("kernel") && err.contains("would need"), "{err}");
    assert!(!err.contains("9.png"), "refused before decoding: {err}");
    // A category column of a distinct string per row: refused by name, not one-hot encoded
    // into rows × strings floats.
    let mut text = String::from("id,x,label\n");
    for i in 0..5000 {
        text += &format!("user{i},{},{}\n", i % 7, i % 2);
    }
    std::fs::write(dir.join("ids.csv"), text).unwrap();
    let e = io::load_csv_table(dir.join("ids.csv"), "label", None, None).unwrap_err().to_string();
    assert!(e.contains("\"id\"") && e.contains(&io::MAX_CATEGORIES.to_string()), "{e}");
    let (ok, _, err) = minibatch(&["train", "--data", &s(&dir.join("ids.csv")), "--epochs", "1"]);
    assert!(!ok && err.contains("\"id\"") && err.contains("distinct strings"), "{err}");
    // A first line that never ends: refused at the bound, not buffered whole.
    let mut endless = b"a,b,label\n".to_vec();
    endless.extend(std::iter::repeat_n(b'7', io::MAX_LINE_BYTES + 10));
    std::fs::write(dir.join("long.csv"), &endless).unwrap();
    let e = io::load_csv(dir.join("long.csv"), "label").unwrap_err().to_string();
    assert!(e.contains("long.csv") && e.contains("line longer than"), "{e}");
    let e = CsvDataset::open(dir.join("long.csv"), "label", 4).unwrap_err().to_string();
    assert!(e.contains("line longer than"), "{e}");
    // A device (endless) behind a .csv name: only regular files are read.
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.csv")).unwrap();
    let (ok, _, err) = minibatch(&["train", "--data", &s(&dir.join("zero.csv"))]);
    assert!(!ok && err.contains("zero.csv") && err.contains("not a regular file"), "{err}");
    // A gzipped IDX file whose header declares more than the budget: refused before reading.
    let mut idx = vec![0, 0, 8, 3];
    for d in [1u32 << 22, 1 << 6, 1 << 6] {
        idx.extend_from_slice(&d.to_be_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &idx).unwrap();
    std::fs::write(dir.join("big-idx3-ubyte.gz"), gz.finish().unwrap()).unwrap();
    let e = io::read_idx(dir.join("big-idx3-ubyte.gz")).unwrap_err();
    assert!(matches!(e, Error::Memory { .. }) && e.to_string().contains("big-idx3-ubyte.gz"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

// 4. A file truncated while it is read is an error naming it, never a SIGBUS.

#[test]
fn an_npy_file_truncated_during_training_is_an_error_never_a_crash() {
    use std::os::unix::process::ExitStatusExt;
    let dir = temp_dir("truncate");
    let (n, d) = (20_000, 64);
    let x: Vec<f32> = (0..n * d).map(|i| (i % 97) as f32 / 97.0).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    // Library: truncated between two batches.
    std::fs::write(dir.join("x.npy"), io::write_npy(&[n, d], &x)).unwrap();
    let ds = NpyDataset::open(dir.join("x.npy"), None, 256).unwrap();
    let mut batch = minibatch::data::Batch::new(&ds.spec());
    ds.fill(0, &mut batch).unwrap();
    std::fs::OpenOptions::new().write(true).open(dir.join("x.npy")).unwrap().set_len(4096).unwrap();
    let e = ds.fill(10, &mut batch).unwrap_err().to_string();
    assert!(e.contains("x.npy") && e.contains("truncated"), "{e}");
    // The command, truncated at eight moments during training: each run ends with an error
    // naming the file (or finishes, when the cut comes after the last read), never by a signal.
    let mut cut = 0;
    for k in 0..8u64 {
        std::fs::write(dir.join("x.npy"), io::write_npy(&[n, d], &x)).unwrap();
        std::fs::write(dir.join("y.npy"), io::write_npy(&[n], &y)).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_minibatch"))
            .args(["train", "--data", &s(&dir.join("x.npy")), "--labels", &s(&dir.join("y.npy"))])
            .args(["--epochs", "2000", "--batch-size", "64", "--verbose", "0", "--threads", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 60 * k));
        let file = std::fs::OpenOptions::new().write(true).open(dir.join("x.npy")).unwrap();
        file.set_len(128 + (k * 4099) % (n as u64 * d as u64)).unwrap();
        let out = crate::deadline::output_within_child(&mut child, crate::deadline::DEADLINE);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), None, "run {k} was killed by a signal: {err}");
        if !out.status.success() {
            assert!(err.contains("x.npy") && err.contains("truncated"), "run {k}: {err}");
            cut += 1;
        }
    }
    // 2000 epochs take far longer than the waits: the cuts came mid-training.
    assert!(cut >= 6, "only {cut} of 8 runs were cut while training");
    std::fs::remove_dir_all(dir).unwrap();
}

// 5. Data changed since training is refused, however its path is spelled.

#[test]
fn changed_data_is_refused_for_the_recorded_test_rows() {
    let dir = temp_dir("changed");
    let folder = image_folder(&dir.join("imgs"), 6, 4, 4);
    let model = dir.join("m.safetensors");
    let train = ["train", "--data", &s(&folder), "--test-split", "0.25", "--epochs", "1", "--verbose", "0"];
    let (ok, _, err) = minibatch(&[&train[..], &["--save", &s(&model)]].concat());
    assert!(ok, "{err}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", &s(&model), "--data", &s(&folder)]);
    assert!(ok && out.contains("test rows train held out"), "{out}{err}");
    // Two files swap classes: the same names in other folders.
    std::fs::rename(folder.join("a/0.png"), folder.join("a/tmp.png")).unwrap();
    std::fs::rename(folder.join("b/0.png"), folder.join("a/0.png")).unwrap();
    std::fs::rename(folder.join("a/tmp.png"), folder.join("b/0.png")).unwrap();
    let spelled = format!("{}/./../imgs", s(&folder));
    for data in [s(&folder), spelled] {
        let (ok, _, err) = minibatch(&["evaluate", "--model", &s(&model), "--data", &data]);
        assert!(!ok && err.contains("has changed since the model was trained"), "{data}: {err}");
    }
    // A CSV changed after training, named ./d.csv where train named d.csv.
    let csv = dir.join("d.csv");
    csv_file(&csv, 60);
    let (ok, _, err) = train_one_epoch(&["--data", &s(&csv), "--test-split", "0.2", "--save", &s(&model)]);
    assert!(ok, "{err}");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("0.1,0.2,red,1\n");
    std::fs::write(&csv, &text).unwrap();
    let dotted = format!("{}/./d.csv", s(&dir));
    let (ok, _, err) = minibatch(&["evaluate", "--model", &s(&model), "--data", &dotted]);
    assert!(!ok && err.contains("has changed"), "{err}");
    // The columns reordered since training: read by name, for evaluate, predict and
    // --test-data (the same figures as in training's order).
    csv_file(&csv, 60);
    let (ok, _, err) = train_one_epoch(&["--data", &s(&csv), "--save", &s(&model)]);
    assert!(ok, "{err}");
    let reordered: String = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{},{}\n", f[2], f[1], f[0], f[3])
        })
        .collect();
    let moved = dir.join("moved.csv");
    std::fs::write(&moved, reordered).unwrap();
    for cmd in ["evaluate", "predict"] {
        let (ok, theirs, err) = minibatch(&[cmd, "--model", &s(&model), "--data", &s(&csv)]);
        assert!(ok, "{cmd}: {err}");
        let (ok, ours, err) = minibatch(&[cmd, "--model", &s(&model), "--data", &s(&moved)]);
        assert!(ok, "{cmd}: {err}");
        assert_eq!(ours.replace("moved.csv", "d.csv"), theirs, "{cmd}");
    }
    let test_data = ["train", "--data", &s(&csv), "--epochs", "1", "--verbose", "0", "--seed", "1", "--test-data"];
    let (ok, theirs, err) = minibatch(&[&test_data[..], &[&s(&csv)]].concat());
    assert!(ok, "{err}");
    let (ok, ours, err) = minibatch(&[&test_data[..], &[&s(&moved)]].concat());
    assert!(ok && ours == theirs, "{ours} vs {theirs}: {err}");
    // A column missing and one added: every difference named, with the columns trained on.
    std::fs::write(&moved, "f0,f1,label\n0.5,0.5,1\n").unwrap();
    let (ok, _, err) = minibatch(&["predict", "--model", &s(&model), "--data", &s(&moved)]);
    assert!(!ok && err.contains("no column \"color\"") && err.contains("its features: f0, f1, color"), "{err}");
    std::fs::write(&moved, "f0,f1,color,price\n0.5,0.5,red,3\n").unwrap();
    let (ok, _, err) = minibatch(&["predict", "--model", &s(&model), "--data", &s(&moved)]);
    assert!(!ok && err.contains("is \"price\" the label? pass --label-column price"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

// 6. Nonsense is refused or warned about, by name.

#[test]
fn nonsense_is_refused_or_warned_about_by_name() {
    let dir = temp_dir("nonsense");
    let csv = dir.join("nan.csv");
    std::fs::write(&csv, "a,b,label\n1,nan,0\n2,nan,1\n3,nan,0\n").unwrap();
    let e = io::load_csv_table(&csv, "label", None, None).unwrap_err().to_string();
    assert!(e.contains("column \"b\"") && e.contains("\"nan\"") && e.contains("not a finite number"), "{e}");
    std::fs::write(&csv, "a,b,label\n1,inf,0\n2,-inf,1\n").unwrap();
    let (ok, _, err) = minibatch(&["train", "--data", &s(&csv)]);
    assert!(!ok && err.contains("column \"b\"") && err.contains("inf"), "{err}");
    // A validation split of one sample in 1500: warned about, by name.
    let (ok, _, err) = minibatch(&["train", "--validation-split", "0.00001", "--epochs", "1"]);
    assert!(ok && err.contains("warning: --validation-split 0.00001 holds out 1 of 1500 samples"), "{err}");
    // Image flags on data that is not an image folder.
    for (flag, value) in [("--image-size", "28x28"), ("--color-mode", "grayscale")] {
        for data in ["spirals", &s(&csv)] {
            let (ok, out, err) = minibatch(&["train", "--data", data, flag, value]);
            assert!(!ok && out.is_empty() && err.contains(flag) && err.contains("image folder"), "{err}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

// 7. Every count has a bound; readers open only regular files.

#[test]
fn counts_are_bounded_and_readers_open_only_regular_files() {
    let huge = u64::MAX.to_string();
    let cases: [(&[&str], &str); 10] = [
        (&["lab", "--lr-find", "--lr-find-steps", &huge], "--lr-find-steps"),
        (&["lab", "--lr-find", "--lr-find-steps", "1"], "--lr-find-steps"),
        (&["lab", "--epochs", "1000000000"], "--epochs"),
        (&["lab", "--batch-sizes", "8,1000000000"], "--batch-sizes"),
        (&["train", "--epochs", "1000000001"], "--epochs"),
        (&["train", "--batch-size", "100000000"], "--batch-size"),
        (&["train", "--hidden", "64,100000000"], "--hidden"),
        (&["train", "--patience", "10000000"], "--patience"),
        (&["bench", "--samples", "10000000000"], "--samples"),
        (&["evaluate", "--model", "m", "--data", "moons", "--batch-size", "1000000000"], "--batch-size"),
    ];
    for (args, flag) in cases {
        let (ok, out, err) = minibatch(args);
        assert!(!ok && out.is_empty() && err.contains(flag) && err.contains(" to "), "{args:?}: {err}");
    }
    // A FIFO named as an image in a class folder: refused by name, at once (a read would block).
    let dir = temp_dir("fifo");
    let folder = image_folder(&dir.join("imgs"), 2, 4, 4);
    let fifo = folder.join("a").join("9.png");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let e = io::load_image_folder(&folder, io::ColorMode::Rgb, None, None).unwrap_err().to_string();
    assert!(e.contains("9.png") && e.contains("not a regular file"), "{e}");
    let (ok, _, err) = minibatch(&["train", "--data", &s(&folder), "--epochs", "1"]);
    assert!(!ok && err.contains("9.png") && err.contains("not a regular file"), "{err}");
    let fifo_csv = dir.join("f.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo_csv).status().unwrap().success());
    let (ok, _, err) = minibatch(&["train", "--data", &s(&fifo_csv)]);
    assert!(!ok && err.contains("f.csv") && err.contains("not a regular file"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

// 8. The formats the README lists are read.

#[test]
fn gif_and_bmp_image_folders_load_and_train() {
    let dir = temp_dir("gif-bmp");
    for (class, ext) in [("a", "gif"), ("b", "bmp")] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..4u32 {
            let img = image::RgbImage::from_fn(6, 5, |x, y| image::Rgb([(x * 30 + i) as u8, (y * 40) as u8, 90]));
            img.save(dir.join(class).join(format!("{i}.{ext}"))).unwrap();
        }
    }
    let f = io::load_image_folder(&dir, io::ColorMode::Rgb, None, None).unwrap();
    assert_eq!(f.x.shape(), &[8, 5, 6, 3]);
    assert_eq!(f.class_names, ["a", "b"]);
    let (ok, out, err) = minibatch(&["train", "--data", &s(&dir), "--epochs", "2", "--verbose", "0"]);
    assert!(ok, "{out}{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

// 9. A resumed run over a subset of rows, or a dataset that shuffles, reads what an unbroken
// run reads.

/// Fails at the end of epoch `at` (0-based), as a crash would.
struct CrashAt(usize);

impl Callback for CrashAt {
    fn on_epoch_end(&mut self, _ctx: &mut Context<'_>, epoch: usize, _logs: &mut Logs) -> Result<Control> {
        if epoch == self.0 {
            return Err(Error::State("simulated crash".into()));
        }
        Ok(Control::Continue)
    }
}

fn small_model(inputs: &[usize], classes: usize) -> Model {
    let mut m: Model = Sequential::new()
        .seed(5)
        .input_shape(inputs)
        .add(minibatch::layers::Flatten::new())
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(classes).activation("softmax"))
        .into();
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

/// Trains `open()`'s dataset for 5 epochs straight, then again crashing after epoch 2 and
/// resuming from the backup with a fresh dataset and model (as a new process would); the two
/// end with the same weights and History, bit for bit.
fn resumes_bit_identically(name: &str, open: &dyn Fn() -> Box<dyn Dataset>, inputs: &[usize], classes: usize) {
    let dir = temp_dir(&format!("resume-{name}"));
    let bits =
        |m: &Model| -> Vec<u32> { m.get_weights().iter().flat_map(|t| t.data().to_vec()).map(f32::to_bits).collect() };
    let options = || FitOptions::new().epochs(5).verbose(0).workers(2);
    let mut straight = small_model(inputs, classes);
    let whole = straight.fit_dataset(open().as_mut(), options()).unwrap();

    let (mut crash, mut backup) = (CrashAt(2), BackupAndRestore::new(dir.join("b")));
    let e =
        small_model(inputs, classes).fit_dataset(open().as_mut(), options().callback(&mut crash).callback(&mut backup));
    assert!(e.is_err() && BackupAndRestore::exists(&dir.join("b")), "{name}: crashed with a backup");
    let mut resumed = small_model(inputs, classes);
    let mut backup = BackupAndRestore::new(dir.join("b"));
    let h = resumed.fit_dataset(open().as_mut(), options().callback(&mut backup)).unwrap();
    assert!(backup.resumed_at().is_some(), "{name}: resumed");
    assert_eq!(format!("{:?}", h.history), format!("{:?}", whole.history), "{name}: the History");
    assert_eq!(bits(&resumed), bits(&straight), "{name}: the weights, bit for bit");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resumed_runs_over_row_subsets_and_shuffling_datasets_are_bit_identical() {
    let dir = temp_dir("resume-data");
    let (n, d) = (120, 6);
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 31) % 17) as f32 / 17.0).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    let (xp, yp) = (dir.join("x.npy"), dir.join("y.npy"));
    std::fs::write(&xp, io::write_npy(&[n, d], &x)).unwrap();
    std::fs::write(&yp, io::write_npy(&[n], &y)).unwrap();
    let rows: Vec<usize> = (0..n).filter(|i| i % 5 != 0).collect();
    resumes_bit_identically(
        "npy-subset",
        &|| Box::new(NpyDataset::open(&xp, Some(&yp), 16).unwrap().rows(rows.clone()).unwrap().shuffle(3)),
        &[d],
        3,
    );
    let csv = dir.join("d.csv");
    let mut text = String::from("a,b,c,label\n");
    for i in 0..n {
        text += &format!("{},{},{},{}\n", x[i * d], x[i * d + 1], x[i * d + 2], i % 3);
    }
    std::fs::write(&csv, text).unwrap();
    resumes_bit_identically("csv", &|| Box::new(CsvDataset::open(&csv, "label", 16).unwrap().shuffle(4)), &[3], 3);
    let folder = image_folder(&dir.join("imgs"), 12, 4, 4);
    resumes_bit_identically(
        "images",
        &|| Box::new(ImageFolderDataset::open(&folder, 5).unwrap().shuffle(5)),
        &[4, 4, 3],
        2,
    );
    std::fs::remove_dir_all(dir).unwrap();
}
