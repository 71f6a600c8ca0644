//! Loaders on the real files, and on truncated and corrupted copies of them.

use crate::common::{shared_data, temp_dir};
use minibatch::io::{load_csv, load_mnist, load_npz, read_idx, read_npz, write_npz};
use minibatch::{Error, Tensor};
use std::io::Read;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn format_error(r: minibatch::Result<impl std::fmt::Debug>, path: &Path, needle: &str) {
    match r {
        Err(Error::Format { path: p, message }) => {
            assert_eq!(p, path.display().to_string().as_str(), "the error names the file");
            assert!(message.contains(needle), "{message:?} should mention {needle:?}");
        }
        other => panic!("expected a format error mentioning {needle:?} for {}, got {other:?}", path.display()),
    }
}

fn counts(y: &Tensor, classes: usize) -> Vec<usize> {
    let mut c = vec![0; classes];
    y.data().iter().for_each(|&v| c[v as usize] += 1);
    c
}

#[test]
fn mnist_loads_with_the_published_label_counts() {
    let Some(data) = shared_data() else { return };
    let m = load_mnist(data.join("mnist")).unwrap();
    assert_eq!((m.x_train.shape(), m.x_test.shape()), (&[60000, 28, 28][..], &[10000, 28, 28][..]));
    assert_eq!(counts(&m.y_train, 10), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(counts(&m.y_test, 10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!(m.y_train.data()[0], 5.0, "the first training digit is a 5");
    let (lo, hi) = m.x_train.data().iter().fold((1f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0), "pixels scaled to [0, 1]");
    assert_eq!(m.num_classes, 10);
}

#[test]
fn corrupt_idx_files_are_named_and_explained() {
    let Some(data) = shared_data() else { return };
    let dir = temp_dir("idx");
    let gz = std::fs::read(data.join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut raw).unwrap();
    assert_eq!(read_idx(data.join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap().data, raw[8..]);

    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // a raw copy cut short, and one with bytes after the declared data
    let p = write("cut-idx1-ubyte", &raw[..raw.len() - 100]);
    format_error(
        read_idx(&p),
        &p,
        "truncated: the header (magic 2049) declares [10000] = 10000 values, the file holds 9900",
    );
    let p = write("long-idx1-ubyte", &[raw.as_slice(), &[1, 2, 3]].concat());
    format_error(read_idx(&p), &p, "inconsistent");
    let p = write("header-idx1-ubyte", &raw[..6]);
    format_error(read_idx(&p), &p, "truncated header");
    // a wrong magic number and an unsupported type
    let mut bad = raw.clone();
    bad[0] = 0x1f;
    let p = write("magic-idx1-ubyte", &bad);
    format_error(read_idx(&p), &p, "not an IDX file");
    let mut bad = raw.clone();
    bad[2] = 0x0D;
    let p = write("float-idx1-ubyte", &bad);
    format_error(read_idx(&p), &p, "type 0x0d");
    // a gzip copy cut short, and one with a flipped bit in the compressed data
    let p = write("cut-idx1-ubyte.gz", &gz[..gz.len() / 2]);
    assert!(matches!(read_idx(&p), Err(Error::Format { .. })), "{:?}", read_idx(&p));
    let mut flipped = gz.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let p = write("flip-idx1-ubyte.gz", &flipped);
    assert!(matches!(read_idx(&p), Err(Error::Format { .. })), "{:?}", read_idx(&p));
    // a directory without the files, and image/label counts that disagree
    assert!(matches!(load_mnist(&dir), Err(Error::Io { .. })));
    std::fs::copy(data.join("mnist/train-labels-idx1-ubyte.gz"), dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::copy(data.join("mnist/t10k-images-idx3-ubyte.gz"), dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::copy(data.join("mnist/train-images-idx3-ubyte.gz"), dir.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::copy(data.join("mnist/train-labels-idx1-ubyte.gz"), dir.join("train-labels-idx1-ubyte.gz")).unwrap();
    let e = load_mnist(&dir).unwrap_err();
    assert!(e.to_string().contains("60000 labels for 10000 images"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tabular_csv_files_load() {
    let Some(data) = shared_data() else { return };
    for (name, n, d, classes) in [("iris", 150, 4, 3), ("digits", 1797, 64, 10), ("breast_cancer", 569, 30, 2)] {
        let (x, y) = load_csv(data.join(format!("tabular/{name}.csv")), "label").unwrap();
        assert_eq!((x.shape(), y.shape()), (&[n, d][..], &[n][..]), "{name}");
        assert_eq!(minibatch::io::num_classes(&y).unwrap(), classes, "{name}");
    }
    let (x, y) = load_csv(data.join("tabular/iris.csv"), "label").unwrap();
    assert_eq!(x.row(0), &[5.1, 3.5, 1.4, 0.2]);
    assert_eq!(counts(&y, 3), [50, 50, 50]);
}

#[test]
fn corrupt_csv_files_are_named_and_explained() {
    let dir = temp_dir("csv");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let p = write("ok.csv", "a,label,b\n1,0,2\n3,1,4\n");
    let (x, y) = load_csv(&p, "label").unwrap();
    assert_eq!((x.data(), y.data()), (&[1., 2., 3., 4.][..], &[0., 1.][..]), "label column anywhere");
    format_error(load_csv(&p, "class"), &p, "no label column \"class\": the header has a, label, b");
    let p = write("text.csv", "a,label\n1,0\nx,1\n");
    format_error(load_csv(&p, "label"), &p, "row 2 (line 3), column \"a\": \"x\" is not a finite number");
    let p = write("nan.csv", "a,label\n1,0\nnan,1\n");
    format_error(load_csv(&p, "label"), &p, "not a finite number");
    let p = write("ragged.csv", "a,b,label\n1,2,0\n3,1\n");
    format_error(load_csv(&p, "label"), &p, "2 fields where the header has 3");
    let p = write("empty.csv", "a,label\n");
    format_error(load_csv(&p, "label"), &p, "no data rows");
    // a real file cut in the middle of a line
    if let Some(data) = shared_data() {
        let text = std::fs::read_to_string(data.join("tabular/iris.csv")).unwrap();
        let p = write("cut.csv", &text[..text.len() / 2]);
        assert!(matches!(load_csv(&p, "label"), Err(Error::Format { .. })));
    }
    assert!(matches!(load_csv(dir.join("missing.csv"), "label"), Err(Error::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn numpy_written_npz_files_load() {
    // np.savez, uint8 images scaled to [0, 1], int64 labels
    let (x, y) = load_npz(fixture("images_u8.npz")).unwrap();
    assert_eq!((x.shape(), y.data()), (&[4, 2, 3][..], &[0., 1., 2., 1.][..]));
    assert_eq!(x.data()[1], 10.0 / 255.0);
    // np.savez_compressed (deflate), float64, labels [n, 1] flattened
    let (x, y) = load_npz(fixture("compressed_f64.npz")).unwrap();
    assert_eq!((x.shape(), y.shape()), (&[5, 3][..], &[5][..]));
    assert_eq!((x.data()[0], x.data()[14]), (-1.0, 1.0));
    // Fortran order and big-endian int16, plus an extra array
    let (x, y) = load_npz(fixture("fortran_f32.npz")).unwrap();
    assert_eq!((x.data(), y.data()), (&[0., 1., 2., 3., 4., 5.][..], &[2., 0., 1.][..]));
    let names: Vec<String> = read_npz(fixture("fortran_f32.npz")).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["x", "y", "note"]);
}

#[test]
fn corrupt_npz_files_are_named_and_explained() {
    let dir = temp_dir("npz");
    let original = std::fs::read(fixture("images_u8.npz")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let p = write("cut.npz", &original[..original.len() - 40]);
    format_error(load_npz(&p), &p, "no end-of-central-directory record");
    let p = write("cut-data.npz", &original[..200]);
    assert!(matches!(load_npz(&p), Err(Error::Format { .. })));
    // a flipped bit inside x's data: the CRC catches it
    let mut flipped = original.clone();
    let at = original.windows(6).position(|w| w == b"\x93NUMPY").unwrap() + 150;
    flipped[at] ^= 0x01;
    let p = write("flip.npz", &flipped);
    format_error(load_npz(&p), &p, "CRC-32");
    let compressed = std::fs::read(fixture("compressed_f64.npz")).unwrap();
    let mut flipped = compressed.clone();
    flipped[60] ^= 0xFF;
    let p = write("flip-deflate.npz", &flipped);
    assert!(matches!(load_npz(&p), Err(Error::Format { .. })));
    let p = write("text.npz", b"x,y\n1,2\n");
    format_error(load_npz(&p), &p, "not an NPZ");
    // our own writer round-trips, and a missing array is named
    let p = dir.join("only-x.npz");
    let x = Tensor::from_vec(&[2, 2], vec![1., 2., 3., 4.]).unwrap();
    write_npz(&p, &[("x", &x)]).unwrap();
    format_error(load_npz(&p), &p, "no array \"y\": the archive holds x");
    let p = dir.join("xy.npz");
    let y = Tensor::from_slice(&[1., 0.]);
    write_npz(&p, &[("x", &x), ("y", &y)]).unwrap();
    assert_eq!(load_npz(&p).unwrap(), (x, y));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keras_style_archives_bring_their_test_split() {
    // keras.datasets' layout: x_train, y_train, x_test, y_test (u8 images scaled to [0, 1]).
    let dir = temp_dir("keras-npz");
    let x = Tensor::from_vec(&[6, 2, 2], (0..24).map(|i| i as f32).collect()).unwrap();
    let y = Tensor::from_slice(&[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    let (tx, ty) = (x.slice_rows(0, 2), y.slice_rows(0, 2));
    let path = dir.join("set.npz");
    minibatch::io::write_npz(&path, &[("x_train", &x), ("y_train", &y), ("x_test", &tx), ("y_test", &ty)]).unwrap();
    let loaded = minibatch::io::load(path.to_str().unwrap(), "label", 0).unwrap();
    assert_eq!((loaded.x.shape(), loaded.y.shape()), (&[6, 2, 2][..], &[6][..]));
    let (test_x, test_y) = loaded.test.expect("the archive's test split");
    assert_eq!((test_x.data(), test_y.data()), (tx.data(), ty.data()));
    // The command trains on it and tests on its test split, as on a built-in set.
    let (ok, out, err) = crate::common::minibatch(&["train", "--data", path.to_str().unwrap(), "--epochs", "1"]);
    assert!(ok && out.trim_end().ends_with("(2 test samples)"), "{out}{err}");
    // Half a test split is named.
    let half = dir.join("half.npz");
    minibatch::io::write_npz(&half, &[("x_train", &x), ("y_train", &y), ("x_test", &tx)]).unwrap();
    let err = minibatch::io::load(half.to_str().unwrap(), "label", 0).unwrap_err().to_string();
    assert!(err.contains("x_test and y_test"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn image_folders_load_as_keras_reads_them() {
    use minibatch::io::{load_image_folder, ColorMode};
    let dir = temp_dir("image-folder");
    // Two classes of 12×12 images: PNGs and a JPEG, written with the image crate.
    for (class, shade) in [("dog", 200u8), ("cat", 40u8)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..4u8 {
            let img = image::RgbImage::from_fn(12, 12, |x, y| image::Rgb([shade, (x * 20) as u8, (y * 20) as u8 + i]));
            let ext = if i == 3 { "jpg" } else { "png" };
            img.save(dir.join(class).join(format!("{i}.{ext}"))).unwrap();
        }
    }
    std::fs::write(dir.join("cat").join("notes.txt"), "not an image").unwrap();
    let f = load_image_folder(&dir, ColorMode::Rgb, None, None).unwrap();
    assert_eq!(f.class_names, ["cat", "dog"], "sorted folder names are the classes");
    assert_eq!(f.x.shape(), &[8, 12, 12, 3]);
    assert_eq!(f.y.data(), &[0., 0., 0., 0., 1., 1., 1., 1.]);
    assert_eq!(f.files[0], dir.join("cat").join("0.png"), "files in sorted order");
    // Pixel (x 1, y 2) of cat/0.png, as written (0..255, Keras's values).
    let px = |s: usize, y: usize, x: usize| &f.x.data()[((s * 12 + y) * 12 + x) * 3..][..3];
    assert_eq!(px(0, 2, 1), &[40.0, 20.0, 40.0]);
    // Grayscale, and resized to 6×6; a saved model's class order is kept.
    let g = load_image_folder(&dir, ColorMode::Grayscale, Some((6, 6)), Some(&["dog".into(), "cat".into()])).unwrap();
    assert_eq!(g.x.shape(), &[8, 6, 6, 1]);
    assert_eq!(g.y.data()[0], 1.0, "cat is class 1 for that model");
    // The command trains a convnet on the folder, with a test split.
    let (ok, out, err) = crate::common::minibatch(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        "convnet",
        "--epochs",
        "1",
        "--test-split",
        "0.25",
    ]);
    assert!(ok && out.contains("2 classes") && out.trim_end().ends_with("(2 test samples)"), "{out}{err}");
    // Bad folders are named: an image of another size, a corrupt file, an empty class.
    image::RgbImage::new(10, 12).save(dir.join("dog").join("9.png")).unwrap();
    let e = load_image_folder(&dir, ColorMode::Rgb, None, None).unwrap_err().to_string();
    assert!(e.contains("9.png") && e.contains("10") && e.contains("image_size"), "{e}");
    assert!(load_image_folder(&dir, ColorMode::Rgb, Some((12, 12)), None).is_ok(), "resized, it loads");
    // From the command: --image-size and --color-mode, recorded in the model for evaluate
    // (saved beside the folder: a file written inside an input folder is refused).
    let out_dir = temp_dir("image-folder-model");
    let m = out_dir.join("m.safetensors");
    let d = dir.to_str().unwrap();
    let (ok, out, err) =
        crate::common::minibatch(&["train", "--data", d, "--epochs", "1", "--save", m.to_str().unwrap()]);
    assert!(!ok && out.is_empty() && err.contains("--image-size"), "{out}{err}");
    let args = ["--image-size", "10x10", "--color-mode", "grayscale", "--save", m.to_str().unwrap()];
    let (ok, out, err) = crate::common::minibatch(&[&["train", "--data", d, "--epochs", "1"][..], &args].concat());
    assert!(ok && out.contains("flatten (Flatten)") && out.contains("(None, 100)"), "10×10×1: {out}{err}");
    let (ok, out, err) = crate::common::minibatch(&["evaluate", "--model", m.to_str().unwrap(), "--data", d]);
    assert!(ok && out.contains("(9 samples: all rows of"), "{out}{err}");
    let (ok, _, err) = crate::common::minibatch(&["train", "--data", d, "--image-size", "10y10"]);
    assert!(!ok && err.contains("HEIGHTxWIDTH"), "{err}");
    std::fs::write(dir.join("dog").join("9.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let e = load_image_folder(&dir, ColorMode::Rgb, Some((12, 12)), None).unwrap_err().to_string();
    assert!(e.contains("9.png") && e.contains("cannot be decoded"), "{e}");
    std::fs::remove_file(dir.join("dog").join("9.png")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let e = load_image_folder(&dir, ColorMode::Rgb, None, None).unwrap_err().to_string();
    assert!(e.contains("\"empty\" holds no images"), "{e}");
    let e = load_image_folder(dir.join("cat"), ColorMode::Rgb, None, None).unwrap_err().to_string();
    assert!(e.contains("no class folders"), "{e}");
    std::fs::remove_dir_all(out_dir).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
