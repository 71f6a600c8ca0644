//! Hostile input under a 4 GiB address-space cap: a table of bad inputs through the library
//! and the command, each refused with a message that names the problem, and a fuzzer that
//! mutates valid files through every loader. An allocation sized by what a file or a flag
//! declares would abort the capped process, and fail the test, rather than pass by luck on a
//! machine with memory to spare.
//!
//! One test, `under_an_address_space_cap`, runs this same binary again under `ulimit -v`,
//! with the `#[ignore]`d tests below as its work. Run the fuzzer longer with
//! `MINIBATCH_FUZZ_SECONDS=600 cargo test --release --test hostile_input -- --nocapture`
//! (`MINIBATCH_FUZZ_SEED` picks another sequence of mutations).

#[path = "support/deadline.rs"]
mod deadline;

use minibatch::callbacks::BackupAndRestore;
use minibatch::layers::{Dense, Dropout};
use minibatch::rng::Rng;
use minibatch::{io, FitOptions, Sequential, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The cap: 4 GiB of address space, in KiB for `ulimit -v`.
const CAP_KIB: u64 = 4 << 20;

#[test]
fn under_an_address_space_cap() {
    let exe = std::env::current_exe().unwrap();
    let out = deadline::output_within(
        Command::new("sh").arg("-c").arg(format!("ulimit -v {CAP_KIB} && exec \"$0\" \"$@\"")).arg(&exe).args([
            "--ignored",
            "--test-threads",
            "1",
            "--nocapture",
        ]),
        // The fuzzer's own time on top.
        deadline::DEADLINE + Duration::from_secs_f64(fuzz_seconds()),
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "under a {} GiB cap: {:?}\n{text}", CAP_KIB >> 20, out.status);
    assert!(text.contains("3 passed"), "the capped run ran its three tests:\n{text}");
    for line in text.lines().filter_map(|l| l.find("fuzz:").map(|at| &l[at..])) {
        eprintln!("{line}");
    }
}

/// How long the fuzzer runs: `MINIBATCH_FUZZ_SECONDS`, else 30 s.
fn fuzz_seconds() -> f64 {
    std::env::var("MINIBATCH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .unwrap_or(30.0)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minibatch-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An NPY file's bytes with a header written by hand (any descr, order and shape).
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let f = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A ZIP archive of stored entries, as `np.savez` writes one.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (crc, size, offset) = (crc32fast::hash(data), data.len() as u32, out.len() as u32);
        let head = |v: &mut Vec<u8>| {
            for x in [20u16, 0, 0, 0, 0x21] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            for x in [crc, size, size] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        head(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        head(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A small model, compiled.
fn small_model() -> Sequential {
    let mut m = Sequential::new()
        .seed(1)
        .input_shape(&[4])
        .add(Dense::new(5).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(3).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

/// Rewrites a minibatch model file's document with `edit` and signs it again with the
/// file's checksum (the CRC-32 of the document and of every tensor's name, type, shape and
/// bytes in name order), as a file crafted to pass the checksum would be.
fn forged(original: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&original[8..8 + n]).unwrap();
    let doc = edit(header["__metadata__"]["minibatch"].as_str().unwrap());
    let data = &original[8 + n..];
    let mut h = crc32fast::Hasher::new();
    h.update(doc.as_bytes());
    let mut names: Vec<String> = header.as_object().unwrap().keys().filter(|k| *k != "__metadata__").cloned().collect();
    names.sort();
    for name in names {
        let t = &header[&name];
        let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
        let (a, b) = (t["data_offsets"][0].as_u64().unwrap() as usize, t["data_offsets"][1].as_u64().unwrap() as usize);
        h.update(name.as_bytes());
        h.update(format!("{}{shape:?}", t["dtype"].as_str().unwrap()).as_bytes());
        h.update(&data[a..b]);
    }
    header["__metadata__"]["minibatch"] = doc.into();
    header["__metadata__"]["minibatch_crc32"] = h.finalize().to_string().into();
    let mut text = header.to_string();
    while !(8 + text.len()).is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Asserts `result` is an error whose message contains every needle.
fn refused<T: std::fmt::Debug>(what: &str, result: minibatch::Result<T>, needles: &[&str]) {
    let err = match result {
        Ok(v) => panic!("{what}: accepted ({v:?})"),
        Err(e) => e.to_string(),
    };
    for needle in needles {
        assert!(err.contains(needle), "{what}: {err:?} does not name {needle:?}");
    }
}

#[test]
#[ignore = "run under the cap by under_an_address_space_cap"]
fn library_refuses_every_class_of_bad_input() {
    let dir = temp_dir("library");
    let p = |name: &str| dir.join(name);
    let huge = (1u64 << 63) + 1;

    // 1. Shape arithmetic that would wrap.
    let wraps = npy("<f4", false, &format!("(2, {huge})"), &[0; 8]);
    refused("NPY shape that wraps", io::parse_npy(&p("w.npy"), &wraps), &["truncated", "can address"]);
    let fortran = npy("<f4", true, &format!("(2, {huge})"), &[0; 8]);
    refused("fortran NPY that wraps", io::parse_npy(&p("f.npy"), &fortran), &["truncated"]);
    refused("Tensor::from_vec", Tensor::from_vec(&[2, usize::MAX / 2 + 1], vec![]), &["can address"]);
    refused("reshape", Tensor::from_vec(&[2], vec![0.0; 2]).unwrap().reshape(&[2, usize::MAX]), &["reshape"]);

    // 2. Sizes declared but not backed by bytes.
    let mut idx = vec![0, 0, 8, 2];
    idx.extend_from_slice(&65535u32.to_be_bytes());
    idx.extend_from_slice(&65535u32.to_be_bytes());
    std::fs::write(p("big-idx1-ubyte"), &idx).unwrap();
    refused("IDX 65535×65535", io::read_idx(p("big-idx1-ubyte")), &["truncated", "[65535, 65535]"]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &idx).unwrap();
    std::fs::write(p("big-idx1-ubyte.gz"), gz.finish().unwrap()).unwrap();
    // Gzipped, its length says nothing: the declared size is checked against the decode budget.
    refused("gzipped IDX 65535×65535", io::read_idx(p("big-idx1-ubyte.gz")), &["would need", "[65535, 65535]"]);
    let entry = npy("<f4", false, "(1073741824, 1073741824)", &[0; 16]);
    std::fs::write(p("huge.npz"), zip(&[("x.npy", &entry), ("y.npy", &npy("<f4", false, "(1,)", &[0; 4]))])).unwrap();
    refused("NPZ entry declaring 2^62 values", io::load_npz(p("huge.npz")), &["x.npy", "truncated"]);
    let mut deflated =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/compressed_f64.npz")).unwrap();
    let central = deflated.windows(4).position(|w| w == 0x0201_4b50u32.to_le_bytes()).unwrap();
    deflated[central + 24..central + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // declared size
    std::fs::write(p("deflated.npz"), &deflated).unwrap();
    // Its inflated size cannot be known without inflating: the declared size is checked
    // against the decode budget first.
    refused("deflated NPZ entry declaring 4 GiB", io::read_npz(p("deflated.npz")), &["x.npy", "would need"]);
    let mut small = deflated.clone();
    small[central + 24..central + 28].copy_from_slice(&(1u32 << 20).to_le_bytes()); // 1 MiB, a lie
    std::fs::write(p("deflated.npz"), &small).unwrap();
    refused("deflated NPZ entry declaring 1 MiB", io::read_npz(p("deflated.npz")), &["size or CRC-32"]);
    refused(
        "10^12 units",
        Sequential::new().input_shape(&[4]).add(Dense::new(1_000_000_000_000)).build(&[4]),
        &["dense's kernel", "would need"],
    );
    refused("Dense::new(usize::MAX)", Sequential::new().add(Dense::new(usize::MAX)).build(&[4]), &["dense's kernel"]);

    // 3. A model file whose configuration declares more than its tensors hold, signed as
    // minibatch signs its files: refused before any layer is built.
    small_model().save(p("m.safetensors")).unwrap();
    let bytes = std::fs::read(p("m.safetensors")).unwrap();
    let big = forged(&bytes, |doc| doc.replace("\"units\":5,", "\"units\":1000000000000,"));
    assert_ne!(big, bytes, "the forgery changed the configuration");
    std::fs::write(p("big.safetensors"), &big).unwrap();
    refused(
        "model file with 10^12 units",
        Sequential::load(p("big.safetensors")),
        &["big.safetensors", "dense's kernel", "tensors the model file holds"],
    );
    let same = forged(&bytes, |doc| doc.to_string());
    std::fs::write(p("same.safetensors"), &same).unwrap();
    Sequential::load(p("same.safetensors")).expect("the forger signs as minibatch does");

    // 5. Messages that name the problem.
    std::fs::write(p("dup.csv"), "label,a,label\n1,2,3\n").unwrap();
    refused("duplicate CSV column", io::load_csv(p("dup.csv"), "label"), &["\"label\" twice"]);
    refused(
        "NPY dtype '<f!'",
        io::parse_npy(&p("d.npy"), &npy("<f!", false, "(1,)", &[0; 4])),
        &["unsupported dtype", "<f!"],
    );
    refused(
        "label 1e30",
        io::num_classes(&Tensor::from_slice(&[0.0, 1e30])),
        &["1000000000000000000000000000000", "sample 1"],
    );

    // 8. Functions that return Result do not panic.
    let (x, y) = (Tensor::zeros(&[4, 2]), Tensor::zeros(&[3]));
    refused("train_test_split", minibatch::datasets::train_test_split(&x, &y, 0.5, 0), &["x with 4", "y with 3"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs the command; returns (success, stdout, stderr).
fn minibatch(args: &[&str]) -> (bool, String, String) {
    let out = deadline::output_within(Command::new(env!("CARGO_BIN_EXE_minibatch")).args(args), deadline::DEADLINE);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
#[ignore = "run under the cap by under_an_address_space_cap"]
fn the_command_refuses_every_class_of_bad_input() {
    let dir = temp_dir("command");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let huge = (1u64 << 63) + 1;
    let ones = npy("<f4", false, "(4, 1)", &[0; 16]);
    let labels = npy("<f4", false, "(4,)", &[0; 16]);
    let wraps = npy("<f4", false, &format!("(2, {huge})"), &[0; 8]);
    std::fs::write(p("wraps.npz"), zip(&[("x.npy", &wraps), ("y.npy", &labels)])).unwrap();
    std::fs::write(p("ok.npz"), zip(&[("x.npy", &ones), ("y.npy", &labels)])).unwrap();
    std::fs::create_dir_all(p("mnist")).unwrap();
    let mut idx = vec![0, 0, 8, 3];
    for d in [65535u32, 65535, 1] {
        idx.extend_from_slice(&d.to_be_bytes());
    }
    std::fs::write(p("mnist/train-images-idx3-ubyte"), &idx).unwrap();
    std::fs::write(p("mnist/train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 1, 7]).unwrap();
    std::fs::write(p("big-label.csv"), "a,label\n0.5,0\n0.25,1000000000\n").unwrap();
    std::fs::write(p("huge-label.csv"), "a,label\n0.5,0\n0.25,1e30\n").unwrap();
    std::fs::write(p("dup.csv"), "label,a,label\n1,2,3\n").unwrap();
    let train_csv = "a,label\n0.1,0\n0.9,1\n0.2,0\n0.8,1\n";
    std::fs::write(p("train.csv"), train_csv).unwrap();
    small_model().save(p("m.safetensors")).unwrap();
    let original = std::fs::read(p("m.safetensors")).unwrap();
    let big = forged(&original, |doc| doc.replace("\"units\":5,", "\"units\":1000000000000,"));
    std::fs::write(p("big.safetensors"), big).unwrap();
    let (mnist, same) = (format!("mnist:{}", p("mnist")), p("same.json"));
    let (wraps_npz, ok_npz, model_file, big_model) =
        (p("wraps.npz"), p("ok.npz"), p("m.safetensors"), p("big.safetensors"));
    let (big_label, huge_label, dup, train) = (p("big-label.csv"), p("huge-label.csv"), p("dup.csv"), p("train.csv"));

    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["train", "--data", &wraps_npz], &["wraps.npz", "x.npy", "truncated"]),
        (vec!["train", "--data", &mnist], &["train-images-idx3-ubyte", "truncated", "[65535, 65535, 1]"]),
        // Labels far past any class count: read as quantities unless classes are asked for.
        (vec!["train", "--data", &big_label, "--task", "classification"], &["label", "1000000000", "sample 1"]),
        (vec!["train", "--data", &huge_label, "--task", "classification"], &["label", "sample 1", "class indices"]),
        (vec!["train", "--data", &dup], &["\"label\" twice"]),
        (vec!["train", "--hidden", "1000000000"], &["--hidden", "1 to 1048576"]),
        (vec!["train", "--hidden", "1048576,1048576"], &["dense_1's kernel", "would need"]),
        (vec!["evaluate", "--model", &big_model, "--data", "spirals"], &["big.safetensors", "dense's kernel"]),
        (vec!["train", "--learning-rate", "nan"], &["--learning-rate", "NaN"]),
        (vec!["train", "--learning-rate", "-0.1"], &["--learning-rate", "-0.1"]),
        (vec!["train", "--learning-rate", "inf"], &["--learning-rate", "inf"]),
        (vec!["train", "--dropout", "1"], &["--dropout", "[0, 1)"]),
        (vec!["train", "--dropout", "nan"], &["--dropout", "NaN"]),
        (
            vec!["train", "--data", "exam", "--validation-split", "0.00001", "--split-mode", "stratified"],
            &["validation_split", "0 for validation"],
        ),
        (vec!["train", "--min-delta", "nan"], &["--min-delta"]),
        (vec!["train", "--threads", "0"], &["--threads", "1 to 64"]),
        (vec!["train", "--threads", "10000"], &["--threads", "10000"]),
        (vec!["train", "--plot", "p.jpg"], &["--plot", ".png or .svg"]),
        (vec!["train", "--save", &same, "--history", &same], &["--history", "--save"]),
        (vec!["train", "--data", &train, "--history", &train], &["--history", "input"]),
        (
            vec!["predict", "--model", &model_file, "--data", "spirals", "--output", &model_file],
            &["--output", "--model"],
        ),
        (vec!["bench", "--samples", "0"], &["--samples"]),
        (vec!["bench", "--seconds", "nan"], &["--seconds"]),
        (vec!["lab", "--learning-rate", "-1"], &["--learning-rate"]),
        (vec!["train", "--data", &ok_npz, "--batch-size", "0"], &["--batch-size"]),
    ];
    for (args, needles) in &cases {
        let (ok, out, err) = minibatch(args);
        assert!(!ok, "{args:?} was accepted:\n{out}");
        assert!(out.is_empty(), "{args:?} printed before its error:\n{out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, not\n{err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        for needle in *needles {
            assert!(err.contains(needle), "{args:?}: {err:?} does not name {needle:?}");
        }
    }
    // Nothing was overwritten or written.
    assert_eq!(std::fs::read_to_string(p("train.csv")).unwrap(), train_csv, "the data file is intact");
    assert_eq!(std::fs::read(p("m.safetensors")).unwrap(), original, "the model file is intact");
    assert!(!Path::new(&same).exists() && !Path::new("p.jpg").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A loader the fuzzer drives: a file name (its extension picks the format) and a call.
struct Target {
    name: &'static str,
    file: &'static str,
    seed: Vec<u8>,
    load: fn(&Path) -> minibatch::Result<()>,
}

fn targets(dir: &Path) -> Vec<Target> {
    let fixture =
        |name: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap();
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    idx.extend((0..48).map(|i| (i * 5) as u8));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &idx).unwrap();
    let npy_seed = io::write_npy(&[3, 4], &(0..12).map(|v| v as f32).collect::<Vec<_>>());
    let csv = b"a,b,label\n0.5,1.5,0\n-1,2e-3,1\n3,4,2\n".to_vec();
    // Image folders: class `b` holds one fixed image, class `a` the mutated one. BMP has no
    // checksum, so mutated header sizes reach the decoded-size checks.
    let encoded = |format: image::ImageFormat| {
        let img = image::RgbImage::from_fn(5, 4, |x, y| image::Rgb([(x * 50) as u8, (y * 60) as u8, 7]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    };
    for folder in ["png", "bmp"] {
        std::fs::create_dir_all(dir.join(folder).join("a")).unwrap();
        std::fs::create_dir_all(dir.join(folder).join("b")).unwrap();
        std::fs::write(dir.join(folder).join("b/fixed.png"), encoded(image::ImageFormat::Png)).unwrap();
    }
    // A category column of 999 distinct strings: mutations push it over the cap.
    let mut categories = String::from("city,x,label\n");
    for i in 0..999 {
        categories += &format!("c{i},{},{}\n", i % 5, i % 2);
    }
    // A model file and a backup from a one-epoch run.
    let mut m = small_model();
    let x = Tensor::from_vec(&[8, 4], (0..32).map(|v| v as f32 / 32.0).collect()).unwrap();
    let y = Tensor::from_vec(&[8], (0..8).map(|v| (v % 3) as f32).collect()).unwrap();
    let mut backup = BackupAndRestore::new(dir.join("seed-backup")).delete_checkpoint(false);
    m.fit(&x, &y, FitOptions::new().epochs(1).batch_size(4).verbose(0).callback(&mut backup)).unwrap();
    m.save(dir.join("seed.safetensors")).unwrap();
    let model = std::fs::read(dir.join("seed.safetensors")).unwrap();
    let backup = std::fs::read(dir.join("seed-backup/backup.safetensors")).unwrap();
    vec![
        Target { name: "IDX", file: "t-idx3-ubyte", seed: idx, load: |p| io::read_idx(p).map(drop) },
        Target {
            name: "IDX.gz",
            file: "t-idx3-ubyte.gz",
            seed: gz.finish().unwrap(),
            load: |p| io::read_idx(p).map(drop),
        },
        Target {
            name: "NPY",
            file: "t.npy",
            seed: npy_seed,
            load: |p| io::parse_npy(p, &std::fs::read(p).unwrap()).map(drop),
        },
        Target { name: "NPZ", file: "t.npz", seed: fixture("compressed_f64.npz"), load: |p| io::read_npz(p).map(drop) },
        Target { name: "NPZ u8", file: "t.npz", seed: fixture("images_u8.npz"), load: |p| io::load_npz(p).map(drop) },
        Target {
            name: "NPZ fortran",
            file: "t.npz",
            seed: fixture("fortran_f32.npz"),
            load: |p| io::load_npz(p).map(drop),
        },
        Target { name: "CSV", file: "t.csv", seed: csv.clone(), load: |p| io::load_csv(p, "label").map(drop) },
        Target {
            name: "CSV with string columns",
            file: "t.csv",
            seed: b"color,size,label\nred,1.5,a\nblue,2,b\n\"gr,een\",3,a\n".to_vec(),
            load: |p| io::load_csv_table(p, "label", None, None).map(drop),
        },
        Target {
            name: "CSV streamed",
            file: "t.csv",
            seed: csv,
            load: |p| fill_every_batch(&minibatch::data::CsvDataset::open(p, "label", 2)?),
        },
        Target {
            name: "NPY memory-mapped",
            file: "t.npy",
            seed: io::write_npy(&[5, 4], &(0..20).map(|v| v as f32).collect::<Vec<_>>()),
            load: |p| fill_every_batch(&minibatch::data::NpyDataset::open(p, None, 2)?),
        },
        Target {
            name: "image folder (PNG)",
            file: "png/a/x.png",
            seed: encoded(image::ImageFormat::Png),
            load: |p| load_image_folder_both_ways(p.parent().unwrap().parent().unwrap()),
        },
        Target {
            name: "image folder (BMP)",
            file: "bmp/a/x.bmp",
            seed: encoded(image::ImageFormat::Bmp),
            load: |p| load_image_folder_both_ways(p.parent().unwrap().parent().unwrap()),
        },
        Target {
            name: "CSV category column",
            file: "t.csv",
            seed: categories.into_bytes(),
            load: |p| io::load_csv_table(p, "label", None, None).map(drop),
        },
        Target { name: "model file", file: "t.safetensors", seed: model, load: |p| Sequential::load(p).map(drop) },
        Target {
            name: "Keras model file",
            file: "t.keras",
            seed: fixture("keras_files/mlp.keras"),
            load: |p| minibatch::Model::load_keras(p).map(drop),
        },
        Target {
            name: "Keras 2 model file",
            file: "t.h5",
            seed: fixture("keras_files/keras2_mlp.h5"),
            load: |p| minibatch::Model::load_keras_h5(p).map(drop),
        },
        Target {
            name: "Keras weights file",
            file: "t.weights.h5",
            seed: fixture("keras_files/sequence.weights.h5"),
            load: |p| {
                let mut m = Sequential::new()
                    .input_shape(&[5])
                    .add(minibatch::layers::Embedding::new(10, 4))
                    .add(minibatch::layers::LSTM::new(4))
                    .add(minibatch::layers::Dense::new(2));
                m.load_weights(p)
            },
        },
        Target {
            name: "backup file",
            file: "backup.safetensors",
            seed: backup,
            load: |p| {
                // Restored by BackupAndRestore into the model it was made for; the run has no
                // epoch left, so only the restore runs.
                let mut m = small_model();
                let mut restore = BackupAndRestore::new(p.parent().unwrap()).delete_checkpoint(false);
                let (x, y) = (Tensor::zeros(&[2, 4]), Tensor::zeros(&[2]));
                m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0).callback(&mut restore)).map(drop)
            },
        },
    ]
}

/// An image folder read whole at its own size and at 8×8, then as a dataset at 8×8.
fn load_image_folder_both_ways(dir: &Path) -> minibatch::Result<()> {
    io::load_image_folder(dir, io::ColorMode::Rgb, None, None)?;
    io::load_image_folder(dir, io::ColorMode::Grayscale, Some((8, 8)), None)?;
    fill_every_batch(&minibatch::data::ImageFolderDataset::open(dir, 2)?.image_size(8, 8))
}

/// Fills every batch of `data`, as training would.
fn fill_every_batch(data: &dyn minibatch::data::Dataset) -> minibatch::Result<()> {
    let mut batch = minibatch::data::Batch::new(&data.spec());
    for i in 0..data.num_batches().unwrap_or(0) {
        data.fill(i, &mut batch)?;
    }
    Ok(())
}

/// One mutation of `seed`: bit flips, a truncation, a length field set to a large value, a
/// run of bytes overwritten, or a splice of the file's own bytes.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v.truncate(at),
            2 => {
                let big: [u64; 6] = [u32::MAX as u64, 1 << 31, 1 << 62, u64::MAX, 65535, 1 << 40];
                let value = big[rng.below(big.len())];
                let width = [2usize, 4, 8][rng.below(3)];
                let bytes = if rng.below(2) == 0 { value.to_le_bytes() } else { value.to_be_bytes() };
                let end = (at + width).min(v.len());
                let n = end - at;
                let src = if bytes[0] == 0 { &bytes[8 - n..] } else { &bytes[..n] };
                v[at..end].copy_from_slice(src);
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let byte = [0u8, 0xFF, b'9', b'('][rng.below(4)];
                v[at..end].fill(byte);
            }
            4 => {
                let from = rng.below(v.len());
                let len = rng.below(32).min(v.len() - from);
                let chunk = v[from..from + len].to_vec();
                v.splice(at..at, chunk);
            }
            _ => v[at] = rng.below(256) as u8,
        }
    }
    v
}

#[test]
#[ignore = "run under the cap by under_an_address_space_cap"]
fn fuzz_every_loader() {
    let seconds = fuzz_seconds();
    let seed: u64 = std::env::var("MINIBATCH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = temp_dir("fuzz");
    let targets = targets(&dir);
    for t in &targets {
        let path = dir.join(t.file);
        std::fs::write(&path, &t.seed).unwrap();
        (t.load)(&path).unwrap_or_else(|e| panic!("the {} seed must load: {e}", t.name));
    }
    std::panic::set_hook(Box::new(|_| {})); // panics are collected below, with their input
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut rng = Rng::new(seed);
    let (mut runs, mut refused) = (0u64, 0u64);
    let mut crashes: Vec<String> = Vec::new();
    let mut unnamed: Vec<String> = Vec::new();
    while Instant::now() < deadline && crashes.len() < 5 {
        for t in &targets {
            let input = mutate(&t.seed, &mut rng);
            let path = dir.join(t.file);
            std::fs::write(&path, &input).unwrap();
            match catch_unwind(AssertUnwindSafe(|| (t.load)(&path))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    refused += 1;
                    // A named error: it says which file (the backup's model check says which
                    // model instead, and a CSV row error its row).
                    let message = e.to_string();
                    let named = message.contains(t.file) || message.contains("backup") || message.contains("row ");
                    if !named && unnamed.len() < 5 {
                        unnamed.push(format!("{}: {message}", t.name));
                    }
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let kept = std::env::temp_dir().join(format!("minibatch-fuzz-crash-{}-{runs}", t.file));
                    std::fs::write(&kept, &input).unwrap();
                    crashes.push(format!("{} panicked: {message} (input kept at {})", t.name, kept.display()));
                }
            }
            runs += 1;
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "fuzz: {runs} inputs through {} loaders in {seconds} s (seed {seed}), {refused} refused, {} panics",
        targets.len(),
        crashes.len()
    );
    assert!(crashes.is_empty(), "{}", crashes.join("\n"));
    assert!(unnamed.is_empty(), "errors that do not name the file:\n{}", unnamed.join("\n"));
    assert!(runs > 100 * targets.len() as u64, "only {runs} inputs in {seconds} s");
    std::fs::remove_dir_all(dir).unwrap();
}
