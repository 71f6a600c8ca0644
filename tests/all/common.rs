//! Helpers shared by the tests.

use minibatch::callbacks::{Callback, Context, Control, Logs};
use minibatch::layers::{Layer, LayerCore};
use minibatch::rng::Rng;
use minibatch::{Result, Tensor};
use std::sync::{Arc, Mutex};

/// A tensor of uniform values in `[-1, 1)`.
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()).unwrap()
}

/// `x[i] = [i, i]`: each sample carries its own index, so a probe layer can see which samples
/// a batch holds. `y[i] = i % 2`.
pub fn indexed(n: usize) -> (Tensor, Tensor) {
    let x = Tensor::from_vec(&[n, 2], (0..n).flat_map(|i| [i as f32, i as f32]).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 2) as f32).collect()).unwrap();
    (x, y)
}

/// What a [`Probe`] saw: per forward call, training mode and the sample indices.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub calls: Vec<(bool, Vec<usize>)>,
}

impl Seen {
    pub fn training_batches(&self) -> Vec<Vec<usize>> {
        self.calls.iter().filter(|c| c.0).map(|c| c.1.clone()).collect()
    }
    pub fn inference_samples(&self) -> Vec<usize> {
        self.calls.iter().filter(|c| !c.0).flat_map(|c| c.1.clone()).collect()
    }
}

/// An identity layer that records the first feature of every sample it sees.
pub struct Probe {
    pub seen: Arc<Mutex<Seen>>,
    core: LayerCore,
}

impl Probe {
    pub fn new() -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (Probe { seen: seen.clone(), core: LayerCore::default() }, seen)
    }
}

impl Layer for Probe {
    fn kind(&self) -> &'static str {
        "Probe"
    }
    fn core(&self) -> &LayerCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let ids = (0..x.batch()).map(|i| x.row(i)[0] as usize).collect();
        self.seen.lock().unwrap().calls.push((training, ids));
        y.data_mut().copy_from_slice(x.data());
    }
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.data_mut().copy_from_slice(dy.data());
        }
    }
}

/// A callback that records every hook call, and optionally sets scripted log values.
#[derive(Default)]
pub struct Recorder {
    pub events: Vec<String>,
    pub epoch_logs: Vec<Logs>,
    pub weights_at_epoch_end: Vec<Vec<Tensor>>,
    /// Values written as `score` (or `script_key`) into the logs at each epoch's end (by epoch
    /// index).
    pub script: Vec<f64>,
    /// The log key `script` writes, when not `score`.
    pub script_key: Option<&'static str>,
    pub stop_at_batch: Option<(usize, usize)>,
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        self.events.push(format!("train_begin steps={}", ctx.params.steps));
        Ok(Control::Continue)
    }
    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        self.events.push(format!("epoch_begin {epoch}"));
        Ok(Control::Continue)
    }
    fn on_train_batch_begin(&mut self, _ctx: &mut Context<'_>, batch: usize) -> Result<Control> {
        self.events.push(format!("batch_begin {batch}"));
        Ok(Control::Continue)
    }
    fn on_train_batch_end(&mut self, _ctx: &mut Context<'_>, batch: usize, _logs: &Logs) -> Result<Control> {
        self.events.push(format!("batch_end {batch}"));
        let epoch = self.events.iter().filter(|e| e.starts_with("epoch_begin")).count() - 1;
        Ok(if self.stop_at_batch == Some((epoch, batch)) { Control::Stop } else { Control::Continue })
    }
    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        self.events.push(format!("epoch_end {epoch}"));
        if let Some(&v) = self.script.get(epoch) {
            logs.set(self.script_key.unwrap_or("score"), v);
        }
        self.epoch_logs.push(logs.clone());
        self.weights_at_epoch_end.push(ctx.model.get_weights());
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, _ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        self.events.push("train_end".into());
        Ok(())
    }
}

/// The shared data folder: `$MINIBATCH_DATA`, else `../shared/data` beside the repository.
/// When it is missing the test fails, naming the folder, unless `MINIBATCH_SKIP_DATA_TESTS=1`
/// says to skip tests that need it (then it says so and returns `None`): a missing
/// prerequisite never looks like a pass by default.
pub fn shared_data() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MINIBATCH_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("mnist").is_dir() {
        return Some(dir);
    }
    skip_or_fail(
        "MINIBATCH_SKIP_DATA_TESTS",
        &format!("shared data not found at {} (set MINIBATCH_DATA to its folder)", dir.display()),
    );
    None
}

/// For a missing prerequisite: panics with `why`, unless the variable `opt_out` is `1`, when
/// it prints that the test is skipped. CI (`CI=true`) never skips.
pub fn skip_or_fail(opt_out: &str, why: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci || !std::env::var(opt_out).is_ok_and(|v| v == "1") {
        panic!("{why}; set {opt_out}=1 to skip the tests that need it{}", if ci { " (not under CI=true)" } else { "" });
    }
    eprintln!("skipped: {why} ({opt_out}=1)");
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minibatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the `minibatch` command (within [`crate::deadline::DEADLINE`]); returns (success,
/// stdout, stderr).
pub fn minibatch<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String, String) {
    let out = crate::deadline::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_minibatch")).args(args),
        crate::deadline::DEADLINE,
    );
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A JSON file, parsed.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A run over several processes (`run`'s History and weights) against one process's
/// (`alone`), to rounding (the sum over ranks adds in another order), for the message `at`.
pub fn assert_run_matches(
    at: &str,
    run: (&minibatch::callbacks::History, &[f32]),
    alone: (&minibatch::callbacks::History, &[f32]),
) {
    for (a, b) in run.1.iter().zip(alone.1) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{at}: weight {a} vs {b}");
    }
    for (key, values) in &alone.0.history {
        let other = run.0.get(key).unwrap_or_else(|| panic!("{at}: {key}"));
        for (a, b) in other.iter().zip(values) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{at}: {key} {a} vs {b}");
        }
    }
}
