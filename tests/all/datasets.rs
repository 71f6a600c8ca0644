//! Datasets: `fit`, `evaluate` and `predict` on a `Dataset` equal the same on arrays, for any
//! number of prefetching workers; memory-mapped NPY of every dtype; Keras's rules for
//! datasets; errors mid-stream stop training cleanly.

use crate::common::{random, temp_dir};
use minibatch::callbacks::History;
use minibatch::callbacks::{BackupAndRestore, Callback, Context, Logs};
use minibatch::data::{Batch, Dataset, NpyDataset, Spec, TensorDataset};
use minibatch::io::npy_preamble;
use minibatch::layers::{Dense, Dropout};
use minibatch::{Error, EvaluateOptions, FitOptions, Model, Result, Sequential, Tensor};

fn data(n: usize) -> (Tensor, Tensor) {
    let x = random(&[n, 6], 3);
    let y = Tensor::from_vec(
        &[n],
        (0..n).map(|i| ((x.row(i)[0] + x.row(i)[1] > 0.0) as u8 + (i % 3 == 0) as u8) as f32).collect(),
    )
    .unwrap();
    (x, y)
}

fn model() -> Model {
    let mut m = Sequential::new()
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.3))
        .add(Dense::new(3).activation("softmax"))
        .seed(11);
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m.into()
}

fn same(a: &Model, b: &Model) -> bool {
    a.get_weights().iter().zip(b.get_weights()).all(|(p, q)| p.data() == q.data())
}

#[test]
fn fit_on_a_dataset_equals_fit_on_the_arrays_bit_for_bit() {
    let (x, y) = data(103);
    let (vx, vy) = data(29);
    let mut a = model();
    let options = FitOptions::new().batch_size(16).epochs(3).verbose(0);
    let ha = a.fit(&x, &y, options.validation_data(&vx, &vy)).unwrap();
    // The dataset shuffles its samples by the model's seed and the epoch, as fit does: so
    // fit's own shuffle of the batch order is turned off.
    let mut b = model();
    let mut train = TensorDataset::new(vec![x.clone()], vec![y.clone()], 16).unwrap().shuffle(11);
    let mut val = TensorDataset::new(vec![vx.clone()], vec![vy.clone()], 16).unwrap();
    let options = FitOptions::new().epochs(3).verbose(0).shuffle(false).validation_dataset(&mut val);
    let hb = b.fit_dataset(&mut train, options).unwrap();
    assert_eq!(ha, hb);
    assert!(same(&a, &b), "the weights differ");
    assert_eq!(hb.weight_updates, 3 * 7);
    assert_eq!(hb.train_samples, 103);
}

fn fit_with_workers(workers: usize, queue: usize) -> (History, Model) {
    let (x, y) = data(150);
    let mut m = model();
    let mut train = TensorDataset::new(vec![x], vec![y], 8).unwrap().shuffle(5);
    let (vx, vy) = data(40);
    let mut val = TensorDataset::new(vec![vx], vec![vy], 7).unwrap();
    let options =
        FitOptions::new().epochs(3).verbose(0).workers(workers).max_queue_size(queue).validation_dataset(&mut val);
    let h = m.fit_dataset(&mut train, options).unwrap();
    (h, m)
}

#[test]
fn prefetching_gives_the_same_training_for_0_1_2_and_4_workers() {
    let (h0, m0) = fit_with_workers(0, 10);
    for (workers, queue) in [(1, 1), (1, 10), (2, 2), (4, 3), (4, 10)] {
        let (h, m) = fit_with_workers(workers, queue);
        assert_eq!(h, h0, "History with {workers} workers, queue {queue}");
        assert!(same(&m, &m0), "weights with {workers} workers, queue {queue}");
    }
    // fit's shuffle reorders the batches: a different run than in order.
    let (x, y) = data(150);
    let mut m = model();
    let mut train = TensorDataset::new(vec![x], vec![y], 8).unwrap().shuffle(5);
    m.fit_dataset(&mut train, FitOptions::new().epochs(3).verbose(0).shuffle(false)).unwrap();
    assert!(!same(&m, &m0));
}

#[test]
fn evaluate_and_predict_on_a_dataset_equal_the_arrays() {
    let (x, y) = data(90);
    let mut m = model();
    m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0)).unwrap();
    let logs = m.evaluate(&x, &y, 20).unwrap();
    let mut ds = TensorDataset::new(vec![x.clone()], vec![y.clone()], 20).unwrap();
    for workers in [0, 2] {
        let dl = m.evaluate_dataset(&mut ds, EvaluateOptions::new().workers(workers)).unwrap();
        assert_eq!(logs, dl);
    }
    let p = m.predict(&x, 20).unwrap();
    let mut inputs_only = TensorDataset::new(vec![x.clone()], vec![], 20).unwrap();
    let q = m.predict_dataset(&mut inputs_only, EvaluateOptions::new().workers(3)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(p, q[0]);
    // steps: the first batches only.
    let q = m.predict_dataset(&mut inputs_only, EvaluateOptions::new().steps(2)).unwrap();
    assert_eq!(q[0].shape(), &[40, 3]);
}

#[test]
fn class_weight_applies_per_batch_as_with_arrays() {
    let (x, y) = data(64);
    let mut a = model();
    let cw = [(0, 0.5), (2, 3.0)];
    let ha = a.fit(&x, &y, FitOptions::new().batch_size(16).epochs(2).verbose(0).class_weight(cw)).unwrap();
    let mut b = model();
    let mut ds = TensorDataset::new(vec![x], vec![y], 16).unwrap().shuffle(11);
    let hb = b.fit_dataset(&mut ds, FitOptions::new().epochs(2).verbose(0).shuffle(false).class_weight(cw)).unwrap();
    assert_eq!(ha, hb);
    assert!(same(&a, &b));
}

#[test]
fn keras_rules_for_datasets() {
    let (x, y) = data(32);
    let mut m = model();
    m.fit(&x, &y, FitOptions::new().verbose(0)).unwrap();
    let mut ds = TensorDataset::new(vec![x.clone()], vec![y.clone()], 8).unwrap();
    let e = m.fit_dataset(&mut ds, FitOptions::new().batch_size(8).verbose(0)).unwrap_err();
    assert!(e.to_string().contains("no batch_size with a dataset"), "{e}");
    let e = m.fit_dataset(&mut ds, FitOptions::new().validation_split(0.2).verbose(0)).unwrap_err();
    assert!(e.to_string().contains("validation_split"), "{e}");
    let w = vec![1.0; 32];
    let e = m.fit_dataset(&mut ds, FitOptions::new().sample_weight(&w).verbose(0)).unwrap_err();
    assert!(e.to_string().contains("sample_weight"), "{e}");
    // A dataset whose samples do not fit the model: refused before any work.
    let mut wrong = TensorDataset::new(vec![random(&[32, 5], 1)], vec![y.clone()], 8).unwrap();
    let e = m.fit_dataset(&mut wrong, FitOptions::new().verbose(0)).unwrap_err();
    assert!(e.to_string().contains("samples of shape [6]"), "{e}");
    let mut no_targets = TensorDataset::new(vec![x.clone()], vec![], 8).unwrap();
    let e = m.fit_dataset(&mut no_targets, FitOptions::new().verbose(0)).unwrap_err();
    assert!(e.to_string().contains("targets"), "{e}");
    // An endless dataset needs steps_per_epoch, and then indices run on across epochs.
    let mut endless = Endless::default();
    let e = m.fit_dataset(&mut endless, FitOptions::new().verbose(0)).unwrap_err();
    assert!(e.to_string().contains("steps_per_epoch"), "{e}");
    let h = m.fit_dataset(&mut endless, FitOptions::new().steps_per_epoch(3).epochs(2).verbose(0).workers(2)).unwrap();
    assert_eq!(h.weight_updates, 6);
    assert_eq!(*endless.seen.lock().unwrap(), (0..6).collect::<Vec<_>>(), "each batch index once, in order");
}

/// Endless: batch `i` is 4 samples of the value `i`, labels `i % 3`.
#[derive(Default)]
struct Endless {
    seen: std::sync::Mutex<Vec<usize>>,
}

impl Dataset for Endless {
    fn spec(&self) -> Spec {
        Spec { inputs: vec![vec![6]], targets: vec![vec![]], weighted: false, batch_size: 4 }
    }
    fn num_batches(&self) -> Option<usize> {
        None
    }
    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        self.seen.lock().unwrap().push(index);
        self.seen.lock().unwrap().sort();
        batch.set_len(4)?;
        batch.x_mut(0).fill(index as f32 / 10.0);
        batch.y_mut(0).fill((index % 3) as f32);
        Ok(())
    }
}

/// Fails (or serves a NaN, or a bad label) at one batch.
struct Faulty {
    inner: TensorDataset,
    at: usize,
    fault: &'static str,
}

impl Dataset for Faulty {
    fn spec(&self) -> Spec {
        self.inner.spec()
    }
    fn num_batches(&self) -> Option<usize> {
        self.inner.num_batches()
    }
    fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
        self.inner.fill(index, batch)?;
        if index == self.at {
            match self.fault {
                "nan" => batch.x_mut(0)[5] = f32::NAN,
                "label" => batch.y_mut(0)[1] = 7.0,
                _ => {
                    return Err(Error::Format { path: "shard-3.bin".into(), message: "truncated at byte 4096".into() })
                }
            }
        }
        Ok(())
    }
}

/// Whether `on_train_end` ran, and whether it was told that training failed.
#[derive(Default)]
struct Ended(bool, bool);
impl Callback for Ended {
    fn on_train_end(&mut self, ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        (self.0, self.1) = (true, ctx.training_failed());
        Ok(())
    }
}

#[test]
fn an_error_mid_stream_stops_training_cleanly() {
    let (x, y) = data(64);
    for (fault, names) in [("io", "truncated at byte 4096"), ("nan", "must be finite"), ("label", "label out of range")]
    {
        for workers in [0, 2] {
            let mut ds =
                Faulty { inner: TensorDataset::new(vec![x.clone()], vec![y.clone()], 8).unwrap(), at: 3, fault };
            let (mut ended, mut epochs) = (Ended::default(), Epochs::default());
            let options = FitOptions::new().epochs(3).verbose(0).workers(workers).shuffle(false);
            let mut m = model();
            let e = m.fit_dataset(&mut ds, options.callback(&mut ended).callback(&mut epochs)).unwrap_err();
            assert!(matches!(e, Error::Batch { index: 3, .. }), "{fault}, {workers} workers: {e:?}");
            assert!(e.to_string().contains("batch 3 of the dataset") && e.to_string().contains(names), "{e}");
            assert!(ended.0, "on_train_end ran");
            assert!(ended.1, "on_train_end is told that training failed");
            assert_eq!(epochs.0, 0, "the fault is in the first epoch: no epoch finished");
        }
    }
}

#[derive(Default)]
struct Epochs(usize);
impl Callback for Epochs {
    fn on_epoch_end(
        &mut self,
        _ctx: &mut Context<'_>,
        _e: usize,
        _logs: &mut Logs,
    ) -> Result<minibatch::callbacks::Control> {
        self.0 += 1;
        Ok(minibatch::callbacks::Control::Continue)
    }
}

#[test]
fn a_backup_of_the_last_finished_epoch_is_kept_when_a_later_batch_fails() {
    let (x, y) = data(64);
    let dir = temp_dir("dataset-backup");
    /// Fails in the second epoch.
    struct SecondEpoch {
        inner: TensorDataset,
        epoch: usize,
    }
    impl Dataset for SecondEpoch {
        fn spec(&self) -> Spec {
            self.inner.spec()
        }
        fn num_batches(&self) -> Option<usize> {
            self.inner.num_batches()
        }
        fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
            if self.epoch == 1 && index == 2 {
                return Err(Error::Format { path: "x.bin".into(), message: "unreadable".into() });
            }
            self.inner.fill(index, batch)
        }
        fn on_epoch_end(&mut self) {
            self.epoch += 1;
        }
    }
    let mut ds = SecondEpoch { inner: TensorDataset::new(vec![x], vec![y], 8).unwrap(), epoch: 0 };
    let mut backup = BackupAndRestore::new(dir.join("backup"));
    let mut m = model();
    let e = m.fit_dataset(&mut ds, FitOptions::new().epochs(3).verbose(0).workers(2).callback(&mut backup));
    assert!(matches!(e, Err(Error::Batch { index: 2, .. })), "{e:?}");
    assert!(
        std::fs::read_dir(dir.join("backup")).unwrap().next().is_some(),
        "the backup of epoch 1 is kept to resume from"
    );
}

/// Writes an NPY of `shape` with dtype `descr` and the raw bytes `raw`.
fn write_raw(path: &std::path::Path, shape: &[usize], descr: &str, raw: &[u8]) {
    let mut bytes = npy_preamble(shape, descr);
    bytes.extend_from_slice(raw);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn memory_mapped_npy_of_every_dtype() {
    let dir = temp_dir("npy-dtypes");
    let values: Vec<i64> = (0..12).map(|i| i * 7 % 11).collect();
    type Enc = fn(i64) -> Vec<u8>;
    let cases: [(&str, Enc); 11] = [
        ("|u1", |v| vec![v as u8]),
        ("|i1", |v| vec![(v - 5) as i8 as u8]),
        ("|b1", |v| vec![(v % 2) as u8]),
        ("<u2", |v| (v as u16).to_le_bytes().to_vec()),
        ("<i2", |v| ((v - 5) as i16).to_le_bytes().to_vec()),
        ("<u4", |v| (v as u32).to_le_bytes().to_vec()),
        ("<i4", |v| ((v - 5) as i32).to_le_bytes().to_vec()),
        ("<i8", |v| (v - 5).to_le_bytes().to_vec()),
        ("<f4", |v| (v as f32 / 4.0).to_le_bytes().to_vec()),
        ("<f8", |v| (v as f64 / 4.0).to_le_bytes().to_vec()),
        (">f4", |v| (v as f32 / 4.0).to_be_bytes().to_vec()),
    ];
    let expected = |descr: &str, v: i64| -> f32 {
        match descr {
            "|u1" | "<u2" | "<u4" => v as f32,
            "|b1" => (v % 2) as f32,
            "|i1" | "<i2" | "<i4" | "<i8" => (v - 5) as f32,
            _ => v as f32 / 4.0,
        }
    };
    let y: Vec<u8> = (0..4u8).collect();
    write_raw(&dir.join("y.npy"), &[4], "|u1", &y);
    for (descr, enc) in cases {
        let path = dir.join(format!("x{}.npy", &descr[1..]));
        write_raw(&path, &[4, 3], descr, &values.iter().flat_map(|&v| enc(v)).collect::<Vec<_>>());
        let ds = NpyDataset::open(&path, Some(&dir.join("y.npy")), 3).unwrap();
        assert_eq!(ds.num_batches(), Some(2));
        assert_eq!(ds.spec().inputs, vec![vec![3]]);
        assert_eq!(ds.spec().targets, vec![Vec::<usize>::new()]);
        let mut batch = Batch::new(&ds.spec());
        ds.fill(1, &mut batch).unwrap();
        assert_eq!(batch.len(), 1, "{descr}: the last batch is partial");
        let want: Vec<f32> = values[9..].iter().map(|&v| expected(descr, v)).collect();
        assert_eq!(batch.x(0).data(), &want[..], "{descr}");
        assert_eq!(batch.y(0).data(), &[3.0]);
        ds.fill(0, &mut batch).unwrap();
        let want: Vec<f32> = values[..9].iter().map(|&v| expected(descr, v)).collect();
        assert_eq!(batch.x(0).data(), &want[..], "{descr}");
    }
}

#[test]
fn training_from_memory_mapped_npy_equals_the_arrays() {
    let dir = temp_dir("npy-train");
    let (x, y) = data(70);
    let raw: Vec<u8> = x.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw(&dir.join("x.npy"), &[70, 6], "<f4", &raw);
    let labels: Vec<u8> = y.data().iter().map(|&v| v as u8).collect();
    write_raw(&dir.join("y.npy"), &[70], "|u1", &labels);
    let mut a = model();
    let ha = a.fit(&x, &y, FitOptions::new().batch_size(16).epochs(2).verbose(0)).unwrap();
    let mut b = model();
    let mut ds = NpyDataset::open(dir.join("x.npy"), Some(&dir.join("y.npy")), 16).unwrap().shuffle(11);
    let hb = b.fit_dataset(&mut ds, FitOptions::new().epochs(2).verbose(0).shuffle(false).workers(2)).unwrap();
    assert_eq!(ha, hb);
    assert!(same(&a, &b));
}

#[test]
fn bad_npy_files_are_named() {
    let dir = temp_dir("npy-bad");
    let x = dir.join("x.npy");
    write_raw(&x, &[1000, 6], "<f4", &[0u8; 4 * 6 * 10]);
    let e = NpyDataset::open(&x, None, 8).unwrap_err();
    assert!(e.to_string().contains("truncated") && e.to_string().contains("x.npy"), "{e}");
    // A header declaring an absurd shape is refused, nothing allocated or mapped for it.
    write_raw(&x, &[usize::MAX / 2, 1 << 20], "<f4", &[0u8; 64]);
    let e = NpyDataset::open(&x, None, 8).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    write_raw(&x, &[10, 6], "<c8", &[0u8; 480]);
    assert!(NpyDataset::open(&x, None, 8).unwrap_err().to_string().contains("unsupported dtype"));
    write_raw(&x, &[10, 6], "<f4", &[0u8; 240]);
    write_raw(&dir.join("y.npy"), &[9], "|u1", &[0u8; 9]);
    let e = NpyDataset::open(&x, Some(&dir.join("y.npy")), 8).unwrap_err();
    assert!(matches!(e, Error::SampleCount { x: 10, y: 9 }), "{e:?}");
    // Truncated while training: the batch names the file, no fault.
    write_raw(&x, &[64, 6], "<f4", &vec![0u8; 64 * 6 * 4]);
    let labels = dir.join("labels.npy");
    write_raw(&labels, &[64], "|u1", &[1u8; 64]);
    let mut ds = NpyDataset::open(&x, Some(&labels), 8).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&x).unwrap();
    file.set_len(200).unwrap();
    let mut m = model();
    let e = m.fit_dataset(&mut ds, FitOptions::new().verbose(0)).unwrap_err();
    assert!(e.to_string().contains("truncated while reading") && e.to_string().contains("x.npy"), "{e}");
}

#[test]
fn npy_rows_serve_a_subset_and_the_command_trains_from_memory_mapped_files() {
    let dir = temp_dir("npy-cli");
    let (x, y) = data(300);
    let raw: Vec<u8> = x.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw(&dir.join("x.npy"), &[300, 6], "<f4", &raw);
    let labels: Vec<u8> = y.data().iter().map(|&v| v as u8).collect();
    write_raw(&dir.join("y.npy"), &[300], "|u1", &labels);
    let ds = NpyDataset::open(dir.join("x.npy"), Some(&dir.join("y.npy")), 4).unwrap().rows(vec![7, 2, 299]).unwrap();
    assert_eq!((ds.samples(), ds.num_batches()), (3, Some(1)));
    let mut batch = Batch::new(&ds.spec());
    ds.fill(0, &mut batch).unwrap();
    assert_eq!(batch.x(0).row(1), x.row(2));
    assert_eq!(batch.y(0).data(), &[y.data()[7], y.data()[2], y.data()[299]]);
    let e = NpyDataset::open(dir.join("x.npy"), None, 4).unwrap().rows(vec![300]).unwrap_err();
    assert!(e.to_string().contains("below 300"), "{e}");

    let history = dir.join("history.json");
    let (x_arg, y_arg) = (dir.join("x.npy"), dir.join("y.npy"));
    let (ok, out, err) = crate::common::minibatch(&[
        "train".as_ref(),
        "--data".as_ref(),
        x_arg.as_os_str(),
        "--labels".as_ref(),
        y_arg.as_os_str(),
        "--test-split".as_ref(),
        "0.2".as_ref(),
        "--validation-split".as_ref(),
        "0.1".as_ref(),
        "--epochs".as_ref(),
        "3".as_ref(),
        "--verbose".as_ref(),
        "2".as_ref(),
        "--history".as_ref(),
        history.as_os_str(),
        "--save".as_ref(),
        dir.join("m.safetensors").as_os_str(),
    ]);
    assert!(ok, "{out}\n{err}");
    let test_line = out.lines().find(|l| l.starts_with("Test accuracy")).expect("a test line").to_string();
    assert!(
        out.contains("216 training samples read a batch at a time (<f4 inputs, |u1 labels; 2 workers prefetching)"),
        "{out}"
    );
    assert!(out.contains("features standardized"), "{out}");
    assert!(out.contains("val_loss") && out.contains("(60 test samples)"), "{out}");
    let h = crate::common::read_json(&history);
    assert_eq!(h["weight_updates"], 3 * 216usize.div_ceil(32));
    // evaluate finds the same held-out rows of the mapped file: the same figures.
    let model_file = dir.join("m.safetensors");
    let (ok, out, err) = crate::common::minibatch(&[
        "evaluate".as_ref(),
        "--model".as_ref(),
        model_file.as_os_str(),
        "--data".as_ref(),
        x_arg.as_os_str(),
        "--labels".as_ref(),
        y_arg.as_os_str(),
    ]);
    assert!(ok, "{out}\n{err}");
    let figures = |l: &str| l.split(" (").next().unwrap().to_lowercase().replace("test ", "");
    assert_eq!(figures(out.trim()), figures(&test_line), "{out} vs {test_line}");
    assert!(out.contains("60 samples: the test rows train held out"), "{out}");
    // predict reads the mapped inputs alone: one line per row in the file's order, after the
    // header; with --split test one per held-out row.
    let predict = |extra: &[&str]| {
        let base =
            ["predict".as_ref(), "--model".as_ref(), model_file.as_os_str(), "--data".as_ref(), x_arg.as_os_str()];
        let extra: Vec<&std::ffi::OsStr> = extra.iter().map(|a| a.as_ref()).collect();
        crate::common::minibatch(&[&base[..], &extra].concat())
    };
    let (ok, out, err) = predict(&[]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 301, "{out}");
    assert!(out.starts_with("row,class,p_0,p_1,p_2\n0,"), "{out}");
    let (ok, out, err) = predict(&["--split", "test"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 61, "{out}");
    assert!(out.starts_with("row,class,p_0,p_1,p_2"), "{out}");
    // Not an NPY pair: refused before any work.
    let (ok, _, err) = crate::common::minibatch(&[
        "train".as_ref(),
        "--data".as_ref(),
        x_arg.as_os_str(),
        "--labels".as_ref(),
        dir.join("missing.npy").as_os_str(),
    ]);
    assert!(!ok && err.contains("missing.npy"), "{err}");
}

/// A folder of two classes of 10×12 PNG images, 9 each.
fn image_folder(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    for (class, shade) in [("cat", 40u8), ("dog", 200u8)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..9u32 {
            let img = image::RgbImage::from_fn(12, 10, |x, y| {
                image::Rgb([shade, (x * 20 + i) as u8, (y * 20) as u8 + (i as u8) * 3])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    dir
}

#[test]
fn image_folders_stream_as_the_loaded_arrays_train() {
    use minibatch::data::{ImageFolderDataset, Subset};
    use minibatch::io::{load_image_folder, ColorMode};
    let dir = image_folder("image-dataset");
    let f = load_image_folder(&dir, ColorMode::Grayscale, Some((6, 8)), None).unwrap();
    let conv = || -> Model {
        let mut m = Sequential::new()
            .add(minibatch::layers::Rescaling::new(1.0 / 255.0))
            .add(minibatch::layers::Conv2D::new(3, 3).activation("relu"))
            .add(minibatch::layers::Flatten::new())
            .add(Dense::new(2).activation("softmax"))
            .seed(4);
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        m.into()
    };
    let mut a = conv();
    let ha = a.fit(&f.x, &f.y, FitOptions::new().batch_size(5).epochs(3).verbose(0)).unwrap();
    for workers in [0, 2] {
        let mut ds =
            ImageFolderDataset::open(&dir, 5).unwrap().image_size(6, 8).color_mode(ColorMode::Grayscale).shuffle(4);
        assert_eq!(ds.class_names(), ["cat", "dog"]);
        let mut b = conv();
        let hb =
            b.fit_dataset(&mut ds, FitOptions::new().epochs(3).verbose(0).shuffle(false).workers(workers)).unwrap();
        assert_eq!(ha, hb, "{workers} workers");
        assert!(same(&a, &b));
    }
    // validation_split with subset and seed: disjoint sides that cover the folder.
    let side = |s| ImageFolderDataset::open(&dir, 4).unwrap().validation_split(0.25, s, 9).unwrap();
    let (train, val) = (side(Subset::Training), side(Subset::Validation));
    assert_eq!((train.samples(), val.samples()), (14, 4));
    let mut all: Vec<f32> = train.labels().iter().chain(val.labels()).copied().collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, [vec![0.0; 9], vec![1.0; 9]].concat());
    assert!(ImageFolderDataset::open(&dir, 4).unwrap().validation_split(0.01, Subset::Training, 9).is_err());
}

#[test]
fn a_bad_image_mid_stream_is_named() {
    use minibatch::data::ImageFolderDataset;
    let dir = image_folder("image-dataset-bad");
    std::fs::write(dir.join("dog").join("4.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    image::RgbImage::new(7, 7).save(dir.join("cat").join("8.png")).unwrap();
    let mut model = Sequential::new().add(minibatch::layers::Flatten::new()).add(Dense::new(2).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    // Of another size without image_size: named with its size.
    let mut ds = ImageFolderDataset::open(&dir, 4).unwrap();
    let e = model.fit_dataset(&mut ds, FitOptions::new().verbose(0).shuffle(false)).unwrap_err();
    assert!(e.to_string().contains("8.png") && e.to_string().contains("is 7×7"), "{e}");
    // Resized, the size is fine, and the corrupt file is named.
    let mut ds = ImageFolderDataset::open(&dir, 4).unwrap().image_size(10, 12);
    let e = model.fit_dataset(&mut ds, FitOptions::new().verbose(0).shuffle(false).workers(2)).unwrap_err();
    assert!(matches!(e, Error::Batch { index: 3, .. }) && e.to_string().contains("4.png"), "{e}");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert!(ImageFolderDataset::open(&dir, 4).unwrap_err().to_string().contains("holds no images"));
}

#[test]
fn a_streamed_csv_trains_as_the_loaded_arrays() {
    use minibatch::data::CsvDataset;
    let dir = temp_dir("csv-dataset");
    let (x, y) = data(77);
    let names = ["low", "mid", "high"];
    let mut text = String::from("a,b,c,label,d,e,f\n");
    for i in 0..77 {
        let r = x.row(i);
        text += &format!("{},{},{},{},{},{},{}\n", r[0], r[1], r[2], names[y.data()[i] as usize], r[3], r[4], r[5]);
    }
    let path = dir.join("t.csv");
    std::fs::write(&path, &text).unwrap();
    let (ax, ay, class_names) = minibatch::io::load_csv_classes(&path, "label", None).unwrap();
    let mut a = model();
    let ha = a.fit(&ax, &ay, FitOptions::new().batch_size(16).epochs(2).verbose(0)).unwrap();
    for workers in [0, 2] {
        let mut ds = CsvDataset::open(&path, "label", 16).unwrap().shuffle(11);
        assert_eq!(ds.class_names(), &class_names[..], "names numbered as the loader numbers them");
        let mut b = model();
        let hb =
            b.fit_dataset(&mut ds, FitOptions::new().epochs(2).verbose(0).shuffle(false).workers(workers)).unwrap();
        assert_eq!(ha, hb, "{workers} workers");
        assert!(same(&a, &b));
    }
    // In file order, contiguous rows per batch: the same rows as the loader's.
    let ds = CsvDataset::open(&path, "label", 10).unwrap();
    let mut batch = Batch::new(&ds.spec());
    ds.fill(7, &mut batch).unwrap();
    assert_eq!(batch.len(), 7);
    assert_eq!(batch.x(0).data(), ax.slice_rows(70, 77).data());
    // A bad field is named with its row and column; a file cut short while training, too.
    std::fs::write(&path, text.replacen("\n0.", "\nabc", 1)).unwrap();
    let mut ds = CsvDataset::open(&path, "label", 16).unwrap();
    let e = model().fit_dataset(&mut ds, FitOptions::new().verbose(0).shuffle(false)).unwrap_err().to_string();
    assert!(
        e.contains("batch 0 of the dataset") && e.contains("is not a finite number") && e.contains("column \"a\""),
        "{e}"
    );
    std::fs::write(&path, &text).unwrap();
    let mut ds = CsvDataset::open(&path, "label", 16).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(text.len() as u64 / 2).unwrap();
    let e = model().fit_dataset(&mut ds, FitOptions::new().verbose(0).shuffle(false)).unwrap_err().to_string();
    assert!(e.contains("cannot be read") && e.contains("t.csv"), "{e}");
    std::fs::write(&path, "a,b\n1,2\n").unwrap();
    assert!(CsvDataset::open(&path, "label", 4).unwrap_err().to_string().contains("no label column"));
}

#[test]
fn a_dataset_that_panics_in_a_worker_is_an_error_not_a_hang() {
    struct Panics(TensorDataset);
    impl Dataset for Panics {
        fn spec(&self) -> Spec {
            self.0.spec()
        }
        fn num_batches(&self) -> Option<usize> {
            self.0.num_batches()
        }
        fn fill(&self, index: usize, batch: &mut Batch) -> Result<()> {
            assert!(index != 2, "no batch 2 here");
            self.0.fill(index, batch)
        }
    }
    let (x, y) = data(40);
    let mut ds = Panics(TensorDataset::new(vec![x], vec![y], 8).unwrap());
    let e = model().fit_dataset(&mut ds, FitOptions::new().verbose(0).shuffle(false).workers(2)).unwrap_err();
    assert!(matches!(e, Error::Batch { index: 2, .. }) && e.to_string().contains("no batch 2 here"), "{e}");
}

#[test]
fn the_audit_reads_memory_mapped_files_a_batch_at_a_time() {
    use minibatch::data::audit::{audit, audit_datasets, AuditInput};
    let dir = temp_dir("npy-audit");
    // Rows 150..300 repeat rows 0..150; the third feature is constant; class 0 is 4× class 1.
    let n = 300;
    let values: Vec<f32> = (0..n)
        .flat_map(|i| {
            let r = (i % 150) as f32;
            [r * 0.37 % 5.0, r * 1.3 % 7.0, 2.0, (r * 0.11).sin()]
        })
        .collect();
    let x = Tensor::from_vec(&[n, 4], values).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect()).unwrap();
    let raw: Vec<u8> = x.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw(&dir.join("x.npy"), &[n, 4], "<f4", &raw);
    let labels: Vec<u8> = y.data().iter().map(|&v| v as u8).collect();
    write_raw(&dir.join("y.npy"), &[n], "|u1", &labels);
    let (train_rows, held): (Vec<usize>, Vec<usize>) = ((0..200).collect(), (200..300).collect());
    let in_memory = audit(&AuditInput {
        x: &x,
        y: &y,
        train: &train_rows,
        validation: &held,
        test: None,
        classes: Some(2),
        standardized: true,
        names: None,
    });
    let open = |rows: Vec<usize>| {
        NpyDataset::open(dir.join("x.npy"), Some(&dir.join("y.npy")), 32).unwrap().rows(rows).unwrap()
    };
    let (train, validation) = (open(train_rows.clone()), open(held.clone()));
    let streamed = audit_datasets(&train, Some(&validation), None, Some(2), true).unwrap();
    assert_eq!(streamed, in_memory);
    // One training row: said, rather than every feature reported constant.
    let one = audit(&AuditInput {
        x: &x,
        y: &y,
        train: &[0],
        validation: &[],
        test: None,
        classes: Some(2),
        standardized: true,
        names: None,
    });
    assert_eq!(
        one,
        ["one training row: not enough data to estimate the features' spreads (every feature would look constant)"]
    );
    assert!(streamed[0].starts_with("100 of 100 validation rows also appear"), "{streamed:?}");
    assert!(streamed.iter().any(|f| f.contains("1 of 4 features are constant")), "{streamed:?}");
    assert!(streamed.iter().any(|f| f.contains("imbalanced")), "{streamed:?}");
    // The command audits --labels data the same way before training.
    let (x_arg, y_arg) = (dir.join("x.npy"), dir.join("y.npy"));
    let train_on = |extra: &[&str]| {
        let mut args = vec!["train".to_string(), "--data".into(), x_arg.display().to_string()];
        args.extend(["--labels".to_string(), y_arg.display().to_string(), "--epochs".into(), "1".into()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        crate::common::minibatch(&args)
    };
    let (ok, out, err) = train_on(&["--test-split", "0.3"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("data audit:") && out.contains("test rows also appear among the training rows"), "{out}");
    let (ok, out, _) = train_on(&["--no-audit"]);
    assert!(ok && !out.contains("data audit:"), "{out}");
}
