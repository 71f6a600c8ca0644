//! Training over MPI: `mpirun -np 2 minibatch train ...` against one process.
//!
//! Built only with the `mpi` feature (`cargo test --release --features mpi --test mpi`), and
//! run by CI with Debian's Open MPI. The runs compare the History and the final weights of two
//! ranks with one process's, resume two ranks after one is killed, and check that processes
//! that cannot train together say so on every rank.
#![cfg(feature = "mpi")]

#[path = "support/deadline.rs"]
mod deadline;

use deadline::{output_within, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_minibatch");

/// `mpirun` with what a container needs (root, more ranks than cores). Where there is no
/// MPI the test fails, saying so, unless `MINIBATCH_SKIP_MPI_TESTS=1` asks to skip (never
/// under `CI=true`): then `None`, after saying it skipped.
fn mpirun() -> Option<Command> {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let opted_out = std::env::var("MINIBATCH_SKIP_MPI_TESTS").is_ok_and(|v| v == "1");
        assert!(
            opted_out && !ci,
            "mpirun not found: install libopenmpi-dev openmpi-bin (CI installs them); set \
             MINIBATCH_SKIP_MPI_TESTS=1 to skip the tests that need it{}",
            if ci { " (not under CI=true)" } else { "" }
        );
        eprintln!("skipped: mpirun not found (MINIBATCH_SKIP_MPI_TESTS=1)");
        return None;
    }
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe"]);
    Some(cmd)
}

fn text(out: &Output) -> (bool, String, String) {
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// `np` ranks of `minibatch args`.
fn ranks(np: usize, args: &[String]) -> Option<(bool, String, String)> {
    let mut cmd = mpirun()?;
    Some(text(&output_within(cmd.args(["-np", &np.to_string(), BIN]).args(args), DEADLINE)))
}

/// `np` ranks of `minibatch args` with the gradients sent in buckets of `kb` KiB during
/// backward (`MINIBATCH_BUCKET_KB`, given to every rank).
fn ranks_bucketed(np: usize, kb: usize, args: &[String]) -> Option<(bool, String, String)> {
    let mut cmd = mpirun()?;
    cmd.args(["-x", &format!("MINIBATCH_BUCKET_KB={kb}"), "-np", &np.to_string(), BIN]).args(args);
    Some(text(&output_within(&mut cmd, DEADLINE)))
}

fn one(args: &[String]) -> (bool, String, String) {
    text(&output_within(Command::new(BIN).args(args), DEADLINE))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minibatch-mpi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every number of two JSON values within `tol` of each other (relative to 1 or the value).
fn assert_close(a: &serde_json::Value, b: &serde_json::Value, tol: f64, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{at}: {x} against {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_close(x, y, tol, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{at}: keys");
            for (k, v) in x {
                assert_close(v, &y[k], tol, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

/// The final weights of two saved models within `tol`.
fn assert_weights_close(a: &Path, b: &Path, tol: f32) {
    let (a, b) = (minibatch::Model::load(a).unwrap(), minibatch::Model::load(b).unwrap());
    let (wa, wb) = (a.get_weights(), b.get_weights());
    assert_eq!(wa.len(), wb.len());
    for (i, (x, y)) in wa.iter().zip(&wb).enumerate() {
        assert_eq!(x.shape(), y.shape());
        for (j, (p, q)) in x.data().iter().zip(y.data()).enumerate() {
            assert!((p - q).abs() <= tol * p.abs().max(1.0), "weight {i}[{j}]: {p} against {q}");
        }
    }
}

/// moons with dropout, shuffling and validation; 795 training rows in batches of 64: a last
/// batch of 27 split 14 / 13.
fn moons(dir: &Path, tag: &str) -> Vec<String> {
    let p = |name: &str| dir.join(format!("{tag}-{name}")).to_string_lossy().into_owned();
    let mut args = strings(&[
        "train",
        "--data",
        "moons",
        "--hidden",
        "32,32",
        "--dropout",
        "0.2",
        "--epochs",
        "4",
        "--batch-size",
        "64",
        "--validation-split",
        "0.205",
        "--verbose",
        "0",
    ]);
    args.extend(["--history".into(), p("history.json"), "--save".into(), p("model.safetensors")]);
    args
}

#[test]
fn two_ranks_train_as_one_process_does() {
    let dir = temp_dir("same");
    let Some((ok, out, err)) = ranks(2, &moons(&dir, "two")) else { return };
    assert!(ok, "{out}{err}");
    let (ok, out, err) = one(&moons(&dir, "one"));
    assert!(ok, "{out}{err}");
    let (a, b) = (json(&dir.join("one-history.json")), json(&dir.join("two-history.json")));
    assert_eq!(a["train_samples"], 795, "a partial last batch of 27, split unevenly");
    assert_eq!(a["weight_updates"], b["weight_updates"]);
    assert!(a["history"]["val_loss"].as_array().is_some_and(|v| v.len() == 4), "{a}");
    assert_close(&a, &b, 1e-5, "history");
    assert_weights_close(&dir.join("one-model.safetensors"), &dir.join("two-model.safetensors"), 1e-5);
    // The same with each layer's gradients sent during backward (buckets of 1 KiB).
    let (ok, out, err) = ranks_bucketed(2, 1, &moons(&dir, "bucketed")).unwrap();
    assert!(ok, "{out}{err}");
    assert_close(&a, &json(&dir.join("bucketed-history.json")), 1e-5, "bucketed history");
    assert_weights_close(&dir.join("one-model.safetensors"), &dir.join("bucketed-model.safetensors"), 1e-5);
    // Only rank 0 wrote: one summary, one test line.
    let (_, out, _) = ranks(2, &strings(&["train", "--data", "moons", "--epochs", "1", "--verbose", "1"])).unwrap();
    assert_eq!(out.matches("Test accuracy").count(), 1, "{out}");
    assert!(out.contains("(2 processes): all-reduce of") && out.contains("in 1 bucket(s)"), "{out}");
    let args = strings(&["train", "--data", "moons", "--epochs", "1", "--hidden", "256,256"]);
    let (_, out, _) = ranks_bucketed(2, 1, &args).unwrap();
    assert!(out.contains("in 3 bucket(s)"), "{out}"); // one per Dense layer
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_ranks_stream_a_memory_mapped_dataset_as_one_process_does() {
    // train --labels: x.npy memory-mapped, read a batch at a time by each rank, its shard kept.
    let dir = temp_dir("npy");
    let d = minibatch::datasets::load("blobs", 3).unwrap();
    std::fs::write(dir.join("x.npy"), minibatch::io::write_npy(d.x_train.shape(), d.x_train.data())).unwrap();
    std::fs::write(dir.join("y.npy"), minibatch::io::write_npy(d.y_train.shape(), d.y_train.data())).unwrap();
    let args = |tag: &str| {
        let p = |name: &str| dir.join(format!("{tag}-{name}")).to_string_lossy().into_owned();
        let mut a = strings(&["train", "--epochs", "3", "--batch-size", "30", "--validation-split", "0.2"]);
        a.extend(["--data".into(), dir.join("x.npy").to_string_lossy().into_owned()]);
        a.extend(["--labels".into(), dir.join("y.npy").to_string_lossy().into_owned()]);
        a.extend(["--verbose".into(), "0".into(), "--history".into(), p("history.json")]);
        a.extend(["--save".into(), p("model.safetensors")]);
        a
    };
    let Some((ok, out, err)) = ranks(2, &args("two")) else { return };
    assert!(ok, "{out}{err}");
    let (ok, out, err) = one(&args("one"));
    assert!(ok, "{out}{err}");
    assert_close(&json(&dir.join("one-history.json")), &json(&dir.join("two-history.json")), 1e-5, "history");
    assert_weights_close(&dir.join("one-model.safetensors"), &dir.join("two-model.safetensors"), 1e-5);
    std::fs::remove_dir_all(dir).unwrap();
}

fn spawn_ranks(np: usize, args: &[String]) -> Option<Child> {
    let mut cmd = mpirun()?;
    let child = cmd.args(["-np", &np.to_string(), BIN]).args(args).stdout(Stdio::null()).stderr(Stdio::null());
    Some(child.spawn().unwrap())
}

/// The processes mpirun started (its children running the binary).
fn rank_pids(mpirun: u32) -> Vec<u32> {
    let children = std::fs::read_to_string(format!("/proc/{mpirun}/task/{mpirun}/children")).unwrap_or_default();
    children.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

#[test]
fn two_ranks_killed_mid_run_resume_from_rank_0s_backup() {
    let dir = temp_dir("resume");
    let args = |tag: &str| {
        let p = |name: &str| dir.join(format!("{tag}-{name}")).to_string_lossy().into_owned();
        let mut a = strings(&[
            "train",
            "--data",
            "spirals",
            "--hidden",
            "256,256",
            "--dropout",
            "0.1",
            "--epochs",
            "6",
            "--batch-size",
            "8",
            "--validation-split",
            "0.1",
            "--threads",
            "1",
            "--verbose",
            "0",
            "--resume",
        ]);
        a.extend(["--checkpoint-dir".into(), p("ckpt"), "--history".into(), p("history.json")]);
        a.extend(["--save".into(), p("model.safetensors")]);
        a
    };
    let Some(mut child) = spawn_ranks(2, &args("killed")) else { return };
    let backup = dir.join("killed-ckpt/backup/backup.safetensors");
    let start = Instant::now();
    while !backup.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first backup");
        assert!(start.elapsed() < Duration::from_secs(120), "no backup appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL one rank (rank order unknown: the last child); mpirun then ends the other.
    let pids = rank_pids(child.id());
    assert_eq!(pids.len(), 2, "mpirun's children: {pids:?}");
    Command::new("kill").args(["-9", &pids[1].to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "a killed rank fails the run");
    assert!(!dir.join("killed-model.safetensors").exists(), "killed before the end");
    // Resumed: both ranks restore rank 0's backup and end where an unbroken run ends.
    let (ok, out, err) = ranks(2, &args("killed")).unwrap();
    assert!(ok, "{out}{err}");
    let (ok, out, err) = ranks(2, &args("straight")).unwrap();
    assert!(ok, "{out}{err}");
    let (a, b) = (json(&dir.join("straight-history.json")), json(&dir.join("killed-history.json")));
    assert_close(&a, &b, 1e-5, "history");
    assert_weights_close(&dir.join("straight-model.safetensors"), &dir.join("killed-model.safetensors"), 1e-5);
    assert!(!dir.join("killed-ckpt/backup").exists(), "the backup goes when training completes");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `mpirun` with one command line per rank (MPMD): `-np 1 BIN a : -np 1 BIN b`.
fn mixed(a: &[String], b: &[String]) -> Option<(bool, String, String)> {
    let mut cmd = mpirun()?;
    cmd.args(["-np", "1", BIN]).args(a).args([":", "-np", "1", BIN]).args(b);
    Some(text(&output_within(&mut cmd, DEADLINE)))
}

#[test]
fn processes_that_cannot_train_together_say_so_on_every_rank() {
    let dir = temp_dir("refuse");
    let base = strings(&["train", "--data", "moons", "--epochs", "1", "--verbose", "0"]);
    // A global batch the ranks do not divide.
    let Some((ok, _, err)) = ranks(2, &[&base[..], &strings(&["--batch-size", "33"])].concat()) else { return };
    assert!(!ok);
    for rank in ["rank 0 of 2", "rank 1 of 2"] {
        assert!(err.contains(&format!("{rank}: batch_size=33 is the global batch")), "{err}");
    }
    // More ranks than samples in a global batch: 3 rows, 4 ranks.
    let csv = dir.join("tiny.csv");
    std::fs::write(&csv, "a,b,label\n0,1,0\n1,0,1\n1,1,0\n").unwrap();
    let tiny = strings(&["train", "--data", csv.to_str().unwrap(), "--batch-size", "4", "--verbose", "0"]);
    let (ok, _, err) = ranks(4, &tiny).unwrap();
    assert!(!ok && err.contains("a global batch of 3 samples cannot give each of the 4 processes one"), "{err}");
    // Ranks started with different arguments.
    let (ok, _, err) = mixed(&base, &[&base[..], &strings(&["--learning-rate", "0.1"])].concat()).unwrap();
    assert!(!ok, "{err}");
    for rank in ["rank 0 of 2", "rank 1 of 2"] {
        assert!(err.contains(&format!("{rank}: 1 of 2 processes were started with a different model")), "{err}");
    }
    // Different data of the same shape.
    let other = dir.join("other.csv");
    std::fs::write(&other, "a,b,label\n0,1,0\n1,0,1\n1,1,1\n").unwrap();
    let data =
        |path: &Path| strings(&["train", "--data", path.to_str().unwrap(), "--batch-size", "2", "--verbose", "0"]);
    let (ok, _, err) = mixed(&data(&csv), &data(&other)).unwrap();
    assert!(!ok && err.matches("started with different data").count() == 2, "{err}");
    // One rank fails alone (its file is missing) while the other goes on to train: the run
    // ends at once with that rank's message, never a hang.
    let missing = dir.join("missing.csv");
    let mut cmd = mpirun().unwrap();
    cmd.args(["-np", "1", BIN]).args(data(&csv)).args([":", "-np", "1", BIN]).args(data(&missing));
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "a rank's error left the run hanging");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("error: rank 1 of 2: ") && err.contains("missing.csv"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Images `[n, 8, 8, 1]` and 3 classes as NPY files in `dir`, for the resnet.
fn images(dir: &Path, n: usize) -> (String, String) {
    let mut rng = minibatch::rng::Rng::new(7);
    let x: Vec<f32> = (0..n * 64).map(|_| rng.next_f32()).collect();
    let y: Vec<f32> = x.chunks(64).map(|s| ((s.iter().sum::<f32>() / 8.0) as usize % 3) as f32).collect();
    let (xp, yp) = (dir.join("images.npy"), dir.join("labels.npy"));
    std::fs::write(&xp, minibatch::io::write_npy(&[n, 8, 8, 1], &x)).unwrap();
    std::fs::write(&yp, minibatch::io::write_npy(&[n], &y)).unwrap();
    (xp.to_string_lossy().into_owned(), yp.to_string_lossy().into_owned())
}

#[test]
fn synchronized_batch_normalization_trains_as_one_process_and_per_rank_statistics_do_not() {
    let dir = temp_dir("bn");
    let (x, y) = images(&dir, 200);
    let args = |tag: &str, sync: bool| {
        let mut a = strings(&["train", "--model", "resnet", "--epochs", "2", "--batch-size", "32"]);
        a.extend(["--validation-split".into(), "0.2".into(), "--verbose".into(), "0".into()]);
        a.extend(["--data".into(), x.clone(), "--labels".into(), y.clone()]);
        a.extend(["--history".into(), dir.join(format!("{tag}.json")).to_string_lossy().into_owned()]);
        if sync {
            a.push("--sync-batch-norm".into());
        }
        a
    };
    let Some((ok, out, err)) = ranks(2, &args("two-sync", true)) else { return };
    assert!(ok, "{out}{err}");
    let (ok, out, err) = one(&args("one", false));
    assert!(ok, "{out}{err}");
    let (ok, out, err) = ranks(2, &args("two-local", false)).unwrap();
    assert!(ok, "{out}{err}");
    let (one, sync, local) =
        (json(&dir.join("one.json")), json(&dir.join("two-sync.json")), json(&dir.join("two-local.json")));
    // 160 training rows in batches of 32: every rank has 16 samples of every batch.
    assert_eq!(one["train_samples"], 160);
    assert_close(&one, &sync, 1e-4, "synchronized");
    // Keras's default: each rank's shard is normalized by its own statistics, another run.
    let (a, b) = (one["history"]["loss"][1].as_f64().unwrap(), local["history"]["loss"][1].as_f64().unwrap());
    assert!((a - b).abs() > 1e-4, "per-rank statistics gave the one-process loss {a}");
    // A last batch that would leave a rank without samples is refused, naming the layer:
    // 161 rows in batches of 32 leave one sample for the last step.
    let (x, y) = images(&dir, 161);
    let mut few = strings(&["train", "--model", "resnet", "--epochs", "1", "--batch-size", "32", "--verbose", "0"]);
    few.extend(["--data".into(), x, "--labels".into(), y, "--sync-batch-norm".into()]);
    let (ok, _, err) = ranks(2, &few).unwrap();
    assert!(!ok, "{err}");
    assert!(err.contains("rank 1 of 2: the last batch of each epoch holds 1 samples, fewer than the 2 processes, and layer batch_normalization"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
