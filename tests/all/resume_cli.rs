//! Saving, reloading and resuming through the `minibatch` command, in separate processes:
//! a run killed with SIGKILL and restarted ends with the weights of an uninterrupted run, and
//! no file in the checkpoint directory is ever half-written.

use crate::common::{minibatch, read_json, temp_dir};
use minibatch::saving::is_temp_file;
use minibatch::{Sequential, Tensor};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Child {
    spawn_with(args, &[])
}

fn spawn_with<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_minibatch"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter().map(|t| t.data().iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn saved_models_evaluate_and_predict_identically_in_a_new_process() {
    let dir = temp_dir("cli-roundtrip");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let train = ["train", "--data", "moons", "--epochs", "3", "--dropout", "0.1", "--verbose", "0"];
    let (ok, _, err) = minibatch(&[&train[..], &["--save", &p("m.safetensors"), "--history", &p("h.json")]].concat());
    assert!(ok, "{err}");
    // The training process's own test figures, and a new process's, agree to the last bit.
    let (ok, out, err) =
        minibatch(&["evaluate", "--model", &p("m.safetensors"), "--data", "moons", "--json", &p("e.json")]);
    assert!(ok && out.contains("accuracy: ") && out.contains("test split of moons"), "{out}{err}");
    let (trained, evaluated) = (read_json(&dir.join("h.json")), read_json(&dir.join("e.json")));
    assert_eq!(trained["test"]["loss"], evaluated["logs"]["loss"]);
    assert_eq!(trained["test"]["accuracy"], evaluated["logs"]["accuracy"]);
    // Predictions from the command equal the library's, bit for bit.
    let (ok, _, err) =
        minibatch(&["predict", "--model", &p("m.safetensors"), "--data", "moons", "--output", &p("p.npy")]);
    assert!(ok, "{err}");
    let npy = std::fs::read(dir.join("p.npy")).unwrap();
    let written = minibatch::io::parse_npy(&dir.join("p.npy"), &npy).unwrap();
    let mut model = Sequential::load(dir.join("m.safetensors")).unwrap();
    let x = minibatch::datasets::load("moons", 0).unwrap().x_test;
    let expected = model.predict(&x, 256).unwrap();
    assert_eq!(written.shape, expected.shape());
    assert_eq!(bits(&[Tensor::from_vec(&written.shape, written.data).unwrap()]), bits(&[expected]));
    let (ok, csv, _) = minibatch(&["predict", "--model", &p("m.safetensors"), "--data", "moons"]);
    assert!(ok && csv.starts_with("row,class,p_0,p_1\n") && csv.lines().count() == x.batch() + 1, "{csv}");
    // Beside the NPY, each prediction's row in the source: the CSV's row column, as int64.
    let rows_npy = std::fs::read(dir.join("p.rows.npy")).unwrap();
    let rows = minibatch::io::parse_npy(&dir.join("p.rows.npy"), &rows_npy).unwrap();
    assert_eq!(rows.descr, "<i8");
    let csv_rows: Vec<f32> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(rows.data, csv_rows);
    // The rows' file is an output too: it may not be an input.
    std::fs::copy(dir.join("m.safetensors"), dir.join("model.rows.npy")).unwrap();
    let (ok, _, err) =
        minibatch(&["predict", "--model", &p("model.rows.npy"), "--data", "moons", "--output", &p("model.npy")]);
    assert!(!ok && err.contains("--output"), "{err}");
    let (ok, summary, _) = minibatch(&["summary", "--model", &p("m.safetensors")]);
    assert!(ok && summary.contains("Total params") && summary.contains("optimizer adam"), "{summary}");
    // Bad files: a clear one-line error, exit status 1.
    std::fs::write(dir.join("bad.safetensors"), b"not a model").unwrap();
    let (ok, _, err) = minibatch(&["evaluate", "--model", &p("bad.safetensors"), "--data", "moons"]);
    assert!(!ok && err.starts_with("error: ") && err.contains("bad.safetensors"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The run the kill tests use: spirals with dropout, a backup every epoch.
fn run_args(dir: &Path, epochs: &str, batch: &str) -> Vec<String> {
    let d = dir.to_string_lossy();
    [
        "train",
        "--data",
        "spirals",
        "--hidden",
        "256,256",
        "--dropout",
        "0.1",
        "--epochs",
        epochs,
        "--batch-size",
        batch,
        "--validation-split",
        "0.1",
        "--threads",
        "1",
        "--verbose",
        "0",
        "--resume",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--checkpoint-dir".into(), format!("{d}/ckpt"), "--save".into(), format!("{d}/final.safetensors")])
    .chain(["--history".into(), format!("{d}/history.json")])
    .collect()
}

/// The `next_epoch` a backup file records (read from its safetensors header).
fn backup_next_epoch(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let doc: serde_json::Value = serde_json::from_str(header["__metadata__"]["minibatch"].as_str().unwrap()).unwrap();
    doc["training"]["next_epoch"].as_u64().unwrap()
}

fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before {} appeared", path.display());
        assert!(start.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `args(straight)` whole; runs `args(killed)`, kills it (SIGKILL) once the first of its
/// `epochs` epochs is backed up, part-way into the next, and runs it again to its end. The two
/// end with the same weights, bit for bit, and the same History; their History files are
/// returned for further checks.
fn killed_and_resumed(
    args: &dyn Fn(&Path) -> Vec<String>,
    straight: &Path,
    killed: &Path,
    epochs: u64,
) -> (serde_json::Value, serde_json::Value) {
    let (ok, _, err) = minibatch(&args(straight));
    assert!(ok, "{err}");
    let mut child = spawn(&args(killed));
    wait_for(&killed.join("ckpt/backup/backup.safetensors"), &mut child);
    std::thread::sleep(Duration::from_millis(40));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("final.safetensors").exists(), "killed before the end");
    let next = backup_next_epoch(&killed.join("ckpt/backup/backup.safetensors"));
    assert!((1..epochs).contains(&next), "killed after {next} of {epochs} epochs");
    let (ok, _, err) = minibatch(&args(killed));
    assert!(ok, "{err}");
    let a = Sequential::load(straight.join("final.safetensors")).unwrap();
    let b = Sequential::load(killed.join("final.safetensors")).unwrap();
    assert_eq!(bits(&a.get_weights()), bits(&b.get_weights()), "bit for bit");
    let (ha, hb) = (read_json(&straight.join("history.json")), read_json(&killed.join("history.json")));
    assert_eq!(ha["history"], hb["history"], "the resumed run's History is whole");
    (ha, hb)
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights() {
    let (straight, killed) = (temp_dir("kill-straight"), temp_dir("kill-resumed"));
    // Batch size 1: about 1,350 steps and 50-100 ms per epoch here.
    let args = |dir: &Path| run_args(dir, "5", "1");

    // Kill once the first epoch is backed up, part-way into the next.
    let (_, hb) = killed_and_resumed(&args, &straight, &killed, 5);
    assert_eq!(hb["epochs_run"], 5);
    assert!(!killed.join("ckpt/backup").exists(), "the backup goes when training completes");
    // ModelCheckpoint(save_best_only) in the resumed run knew the earlier epochs' best: its file
    // holds the same epoch's weights as the uninterrupted run's.
    let best = |dir: &Path| bits(&Sequential::load(dir.join("ckpt/best.safetensors")).unwrap().get_weights());
    assert_eq!(best(&straight), best(&killed), "the best checkpoint, bit for bit");

    // Without --resume, a leftover backup is refused rather than silently overwritten.
    let mut child = spawn(&args(&killed));
    wait_for(&killed.join("ckpt/backup/backup.safetensors"), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let no_resume: Vec<String> = args(&killed).into_iter().filter(|a| a != "--resume").collect();
    let (ok, _, err) = minibatch(&no_resume);
    assert!(!ok && err.contains("pass --resume"), "{err}");
    std::fs::remove_dir_all(straight).unwrap();
    std::fs::remove_dir_all(killed).unwrap();
}

#[test]
fn a_run_with_early_stopping_and_reduce_lr_killed_and_resumed_ends_bit_identical() {
    // EarlyStopping (min_delta 0.5: after the first epoch nothing counts as improving, so its
    // wait grows every epoch and it stops after the fourth), its best weights,
    // ReduceLROnPlateau (which halves the rate every epoch) and the best checkpoint all carry
    // state across the kills; a resume that forgot any of it would end elsewhere.
    let (straight, killed) = (temp_dir("kill-cb-straight"), temp_dir("kill-cb-resumed"));
    let callbacks = [
        "--early-stopping",
        "--patience",
        "3",
        "--min-delta",
        "0.5",
        "--restore-best-weights",
        "--reduce-lr-patience",
        "1",
        "--reduce-lr-factor",
        "0.5",
    ];
    let args = |dir: &Path| {
        let mut a = run_args(dir, "12", "1");
        a.extend(callbacks.iter().map(|s| s.to_string()));
        a
    };
    let (ok, _, err) = minibatch(&args(&straight));
    assert!(ok, "{err}");
    assert_eq!(read_json(&straight.join("history.json"))["stopped_epoch"], 4);
    // Killed once after its first backup, then (resumed) once more, unless it ends first.
    for kill in 0..2 {
        let mut child = spawn(&args(&killed));
        let backup = killed.join("ckpt/backup/backup.safetensors");
        wait_for(&backup, &mut child);
        std::thread::sleep(Duration::from_millis(40 + 40 * kill));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(kill > 0 || !killed.join("final.safetensors").exists(), "the first kill landed before the end");
    }
    let (ok, _, err) = minibatch(&args(&killed));
    assert!(ok, "{err}");
    let load = |dir: &Path, name: &str| bits(&Sequential::load(dir.join(name)).unwrap().get_weights());
    assert_eq!(load(&straight, "final.safetensors"), load(&killed, "final.safetensors"), "bit for bit");
    assert_eq!(load(&straight, "ckpt/best.safetensors"), load(&killed, "ckpt/best.safetensors"));
    let (ha, hb) = (read_json(&straight.join("history.json")), read_json(&killed.join("history.json")));
    assert_eq!(ha, hb, "History, best and stopped epochs");
    std::fs::remove_dir_all(straight).unwrap();
    std::fs::remove_dir_all(killed).unwrap();
}

/// Waits until a temporary file appears in `dir` or `dir/backup` (a write under way), for at
/// most a second (then the kill lands wherever it lands).
fn wait_for_a_write(dir: &Path, child: &mut Child) {
    let start = Instant::now();
    let writing = || {
        [dir.to_path_buf(), dir.join("backup")].iter().any(|d| {
            std::fs::read_dir(d).into_iter().flatten().flatten().any(|e| is_temp_file(&e.file_name().to_string_lossy()))
        })
    };
    while !writing() && start.elapsed() < Duration::from_secs(1) && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[test]
fn kills_during_writes_never_leave_a_half_written_file() {
    // Large batches: every epoch is a few steps and a backup write. Each write also waits
    // 20 ms between its complete temporary file and the rename (MINIBATCH_TEST_WRITE_PAUSE_MS),
    // and each kill waits for a write to begin (a temporary file to appear), then 0 to 24 ms:
    // most kills land mid-write by design, whatever the start-up time or the disk's sync; the
    // test requires that some did (a temporary file left behind): kills that all fell between
    // writes would prove nothing.
    let dir = temp_dir("kill-writes");
    let args: Vec<String> = run_args(&dir, "100000", "512");
    let ckpt = dir.join("ckpt");
    let mut mid_write = 0;
    let mut rounds = 0u64;
    while rounds < 12 || (mid_write == 0 && rounds < 40) {
        let round = rounds;
        rounds += 1;
        let mut child = spawn_with(&args, &[("MINIBATCH_TEST_WRITE_PAUSE_MS", "20")]);
        wait_for(&ckpt.join("backup/backup.safetensors"), &mut child);
        wait_for_a_write(&ckpt, &mut child);
        std::thread::sleep(Duration::from_millis(6 * (round % 5)));
        child.kill().unwrap();
        child.wait().unwrap();
        for file in [ckpt.join("best.safetensors"), ckpt.join("backup/backup.safetensors")] {
            if file.exists() {
                Sequential::load(&file).unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
        }
        let mut temp_left = false;
        for sub in [&ckpt, &ckpt.join("backup")] {
            for entry in std::fs::read_dir(sub).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                let known = ["best.safetensors", "backup.safetensors", "backup"].contains(&name.as_str());
                temp_left |= is_temp_file(&name);
                assert!(known || is_temp_file(&name), "round {round}: unexpected file {name}");
                if is_temp_file(&name) {
                    // Cleared here (the next run would), so the next round waits for a new write.
                    std::fs::remove_file(sub.join(&name)).unwrap();
                }
            }
        }
        mid_write += temp_left as usize;
    }
    assert!(mid_write > 0, "no kill in {rounds} rounds landed during a write");
    eprintln!("{mid_write} of {rounds} kills landed during a write");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_saved_convnet_evaluates_on_images_without_a_channel_axis() {
    // 12×12 one-channel images in an NPZ, as MNIST's are 28×28: `--model convnet` adds the
    // channel axis, and so do evaluate and predict for the saved model.
    let dir = temp_dir("cli-convnet");
    let n = 40;
    let x = Tensor::from_vec(&[n, 12, 12], (0..n * 144).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let data = dir.join("images.npz");
    minibatch::io::write_npz(&data, &[("x", &x), ("y", &y)]).unwrap();
    let (d, m) = (data.to_str().unwrap(), dir.join("c.safetensors"));
    let (ok, out, err) =
        minibatch(&["train", "--data", d, "--model", "convnet", "--epochs", "1", "--save", m.to_str().unwrap()]);
    assert!(ok && out.contains("conv2d (Conv2D)"), "{out}{err}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", m.to_str().unwrap(), "--data", d]);
    assert!(ok && out.contains("(40 samples: all rows of"), "{out}{err}");
    let (ok, csv, err) = minibatch(&["predict", "--model", m.to_str().unwrap(), "--data", d]);
    assert!(ok && csv.lines().count() == n + 1 && csv.starts_with("row,class,p_0,p_1,p_2\n"), "{err}");
    let (ok, _, err) = minibatch(&["train", "--data", "moons", "--model", "convnet"]);
    assert!(!ok && err.contains("data for --model convnet"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `train --data x.npy --labels y.npy` with a test and a validation split (the training rows a
/// shuffled subset, read a batch at a time by two workers), killed once the first epoch is
/// backed up and resumed: the weights and History of an unbroken run, bit for bit.
#[test]
fn an_npy_run_with_both_splits_killed_and_resumed_ends_bit_identical() {
    let data = temp_dir("kill-npy-data");
    let (n, d) = (3000, 16);
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5).collect();
    let y: Vec<f32> = (0..n).map(|i| ((i * 31) % 3) as f32).collect();
    std::fs::write(data.join("x.npy"), minibatch::io::write_npy(&[n, d], &x)).unwrap();
    std::fs::write(data.join("y.npy"), minibatch::io::write_npy(&[n], &y)).unwrap();
    let args = |dir: &Path| -> Vec<String> {
        let d = dir.to_string_lossy();
        let mut a: Vec<String> = [
            "train",
            "--hidden",
            "256,256",
            "--epochs",
            "4",
            "--batch-size",
            "2",
            "--validation-split",
            "0.2",
            "--test-split",
            "0.2",
            "--threads",
            "1",
            "--workers",
            "2",
            "--verbose",
            "0",
            "--resume",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--data".into(), data.join("x.npy").to_string_lossy().into_owned()]);
        a.extend(["--labels".into(), data.join("y.npy").to_string_lossy().into_owned()]);
        a.extend(["--checkpoint-dir".into(), format!("{d}/ckpt"), "--save".into(), format!("{d}/final.safetensors")]);
        a.extend(["--history".into(), format!("{d}/history.json")]);
        a
    };
    let (straight, killed) = (temp_dir("kill-npy-straight"), temp_dir("kill-npy-resumed"));
    let (ha, hb) = killed_and_resumed(&args, &straight, &killed, 4);
    assert_eq!(ha["test"], hb["test"], "the same held-out rows, the same figures");
    for dir in [data, straight, killed] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Ctrl-C (SIGINT) during `train --checkpoint-dir`: the last line on standard error says where
/// the backup is and gives the command that resumes (this one with `--resume`), exit status
/// 130; running that command finishes the run.
#[test]
fn ctrl_c_says_where_the_backup_is_and_how_to_resume() {
    use std::io::Read;
    let dir = temp_dir("ctrl-c");
    let d = dir.to_string_lossy();
    let args: Vec<String> = ["train", "--data", "spirals", "--hidden", "256,256", "--epochs", "4", "--batch-size", "1"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--verbose".into(), "0".into(), "--threads".into(), "1".into()])
        .chain(["--checkpoint-dir".into(), format!("{d}/ckpt")])
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minibatch"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&dir.join("ckpt/backup/backup.safetensors"), &mut child);
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains(&format!("is in {d}/ckpt/backup")), "{err}");
    let (_, command) = last.split_once("run: minibatch ").expect(last);
    assert!(command.ends_with("--resume"), "{last}");
    // The command it gives finishes the run (and removes the backup).
    let (ok, _, err) = minibatch(&command.split(' ').collect::<Vec<_>>());
    assert!(ok, "{err}");
    assert!(!dir.join("ckpt/backup").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
