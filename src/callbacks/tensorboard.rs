//! `TensorBoard`: a run as TensorBoard shows it (see the type).

use super::{Callback, Context, Control, Logs};
use crate::error::{Error, Result};
use crate::io::tfevents::{EventWriter, GraphNode};
use std::path::PathBuf;
use std::time::Instant;

/// How often batch-level scalars are written (Keras's `update_freq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFreq {
    /// Only at the end of each epoch (Keras's default, `"epoch"`).
    Epoch,
    /// After every batch (`"batch"`).
    Batch,
    /// After every `n`-th batch (an integer).
    Every(usize),
}

/// Keras's `TensorBoard` callback: writes the run to `log_dir` for `tensorboard --logdir`, with
/// Keras's layout and tag names, so a dashboard built on Keras runs shows minibatch's the
/// same way:
///
/// | where | tag | step | when |
/// |---|---|---|---|
/// | `log_dir/train` | `epoch_loss`, `epoch_accuracy`, … (every training log), `epoch_learning_rate` | epoch (0-based) | each epoch |
/// | `log_dir/validation` | `epoch_loss`, `epoch_accuracy`, … (the `val_` logs, prefix dropped) | epoch | each epoch with validation |
/// | `log_dir/validation` | `evaluation_loss_vs_iterations`, … | optimizer steps | each validation |
/// | `log_dir/train` | `batch_loss`, … | optimizer steps | every batch or `n`-th (`update_freq`) |
/// | `log_dir/train` | `epoch_steps_per_second`, `batch_steps_per_second` | as above | with `write_steps_per_second` |
/// | `log_dir/train` | `{layer}/{weight}/histogram`, `{layer}/{weight}/gradient/histogram` | epoch | every `histogram_freq` epochs |
/// | `log_dir/train` | the graph (layers and their connections), the model's summary (text) | 0 | with `write_graph` |
///
/// Scalars are `f32`, as Keras writes them: `epoch_loss` is the History's `loss` rounded to
/// the nearest `f32`, bit for bit. Events are
/// recorded into a buffer (nothing is allocated per step once it has grown) and appended to
/// the file at the end of each epoch; a run killed mid-epoch keeps every earlier epoch's
/// events. Under several processes only rank 0 writes. Keras's `write_images`,
/// `embeddings_freq` and `profile_batch` have no counterpart. Beyond Keras: gradient
/// histograms beside the weights', and [`TensorBoard::text`] for notes of one's own (the
/// command writes its configuration).
///
/// ```no_run
/// use minibatch::callbacks::{TensorBoard, UpdateFreq};
/// use minibatch::FitOptions;
/// let mut tb = TensorBoard::new("logs/run1").histogram_freq(1).update_freq(UpdateFreq::Every(10));
/// let options = FitOptions::new().epochs(5).callback(&mut tb);
/// ```
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    write_graph: bool,
    write_steps_per_second: bool,
    texts: Vec<(String, String)>,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
    /// A tag being composed (`batch_` and a log's name), its buffer kept.
    tag: String,
    epoch_start: Option<Instant>,
    batch_start: Option<Instant>,
    steps_at_epoch_start: u64,
}

impl TensorBoard {
    /// Writes to `log_dir` (Keras's defaults: `update_freq="epoch"`, `histogram_freq=0`,
    /// `write_graph=True`, `write_steps_per_second=False`).
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        TensorBoard {
            log_dir: log_dir.into(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 0,
            write_graph: true,
            write_steps_per_second: false,
            texts: Vec::new(),
            train: None,
            validation: None,
            tag: String::new(),
            epoch_start: None,
            batch_start: None,
            steps_at_epoch_start: 0,
        }
    }

    /// How often batch-level scalars are written.
    pub fn update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Histograms of every weight and its gradient every `epochs` epochs (0: none).
    pub fn histogram_freq(mut self, epochs: usize) -> Self {
        self.histogram_freq = epochs;
        self
    }

    /// Write the model's graph and summary.
    pub fn write_graph(mut self, on: bool) -> Self {
        self.write_graph = on;
        self
    }

    /// Write the training steps per second, each epoch (and each written batch).
    pub fn write_steps_per_second(mut self, on: bool) -> Self {
        self.write_steps_per_second = on;
        self
    }

    /// A text (Markdown) shown in TensorBoard's Text tab under `tag`, written when training
    /// begins: a run's configuration, say.
    pub fn text(mut self, tag: &str, markdown: &str) -> Self {
        self.texts.push((tag.to_string(), markdown.to_string()));
        self
    }

    /// The folder the run is written to.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    fn steps(ctx: &Context<'_>) -> u64 {
        ctx.model.optimizer().map_or(0, |o| o.iterations())
    }

    /// Whether batch `step` (1-based over the run) writes batch-level scalars.
    fn writes_batch(&self, step: u64) -> bool {
        match self.update_freq {
            UpdateFreq::Epoch => false,
            UpdateFreq::Batch => true,
            UpdateFreq::Every(n) => n > 0 && step.is_multiple_of(n as u64),
        }
    }

    /// Every weight's histogram, and its gradient's, at `epoch`.
    fn histograms(&mut self, ctx: &Context<'_>, epoch: i64) {
        let Some(w) = self.train.as_mut() else { return };
        for layer in ctx.model.layers() {
            for p in layer.params() {
                w.histogram(tag(&mut self.tag, &[layer.name(), "/", p.name, "/histogram"]), epoch, p.value.data());
                if p.grad.len() == p.value.len() {
                    let at = tag(&mut self.tag, &[layer.name(), "/", p.name, "/gradient/histogram"]);
                    w.histogram(at, epoch, p.grad.data());
                }
            }
        }
    }
}

/// `parts` joined into `buf` (its capacity kept: composing a tag allocates nothing once it
/// has grown), as a tag.
fn tag<'a>(buf: &'a mut String, parts: &[&str]) -> &'a str {
    buf.clear();
    parts.iter().for_each(|p| buf.push_str(p));
    buf
}

/// The model's graph as TensorBoard's nodes: each input, then each layer reading the nodes
/// that feed it (the layer before it, in a Sequential model).
fn graph_nodes(ctx: &Context<'_>) -> Vec<GraphNode> {
    ctx.model
        .connections()
        .into_iter()
        .map(|c| GraphNode {
            name: c.name,
            op: c.kind,
            inputs: c.inputs,
            attrs: c.output_shape.map(|s| ("output_shape".to_string(), s)).into_iter().collect(),
        })
        .collect()
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        (self.train, self.validation, self.epoch_start, self.batch_start) = (None, None, None, None);
        if !crate::distributed::is_root() {
            return Ok(Control::Continue);
        }
        if self.log_dir.is_file() {
            return Err(Error::invalid(
                "log_dir",
                self.log_dir.display(),
                "a folder (or a path where one can be made), not a file",
            ));
        }
        let mut train = EventWriter::create(&self.log_dir.join("train"))?;
        if self.write_graph {
            train.graph(&graph_nodes(ctx));
            if let Ok(summary) = ctx.model.summary() {
                // Four spaces: Markdown's code block, so the table keeps its columns.
                let block: String = summary.lines().map(|l| format!("    {l}\n")).collect();
                train.text("model/summary", 0, &block);
            }
        }
        for (tag, text) in &self.texts {
            train.text(tag, 0, text);
        }
        train.flush()?;
        self.train = Some(train);
        Ok(Control::Continue)
    }

    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>, _epoch: usize) -> Result<Control> {
        if self.write_steps_per_second {
            self.epoch_start = Some(Instant::now());
            self.steps_at_epoch_start = Self::steps(ctx);
        }
        Ok(Control::Continue)
    }

    fn on_train_batch_begin(&mut self, _ctx: &mut Context<'_>, _batch: usize) -> Result<Control> {
        if self.write_steps_per_second {
            self.batch_start = Some(Instant::now());
        }
        Ok(Control::Continue)
    }

    fn on_train_batch_end(&mut self, ctx: &mut Context<'_>, _batch: usize, logs: &Logs) -> Result<Control> {
        let step = Self::steps(ctx);
        if self.train.is_none() || !self.writes_batch(step) {
            return Ok(Control::Continue);
        }
        let w = self.train.as_mut().expect("checked");
        for (name, value) in logs.iter() {
            w.scalar(tag(&mut self.tag, &["batch_", name]), step as i64, value);
        }
        if let Some(start) = self.batch_start {
            let seconds = start.elapsed().as_secs_f64();
            if seconds > 0.0 {
                w.scalar("batch_steps_per_second", step as i64, 1.0 / seconds);
            }
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, epoch: usize, logs: &mut Logs) -> Result<Control> {
        if self.train.is_none() {
            return Ok(Control::Continue);
        }
        let step = epoch as i64;
        let iterations = Self::steps(ctx);
        let w = self.train.as_mut().expect("checked");
        for (name, value) in logs.iter().filter(|(k, _)| !k.starts_with("val_")) {
            w.scalar(tag(&mut self.tag, &["epoch_", name]), step, value);
        }
        // Keras's TensorBoard adds the rate to the training logs it writes.
        if logs.get("learning_rate").is_none() {
            if let Some(o) = ctx.model.optimizer() {
                w.scalar("epoch_learning_rate", step, f64::from(o.learning_rate()));
            }
        }
        if let Some(start) = self.epoch_start {
            let seconds = start.elapsed().as_secs_f64();
            let steps = iterations.saturating_sub(self.steps_at_epoch_start);
            if seconds > 0.0 {
                w.scalar("epoch_steps_per_second", step, steps as f64 / seconds);
            }
        }
        if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
            self.histograms(ctx, step);
        }
        self.train.as_mut().expect("checked").flush()?;
        if logs.keys().any(|k| k.starts_with("val_")) {
            if self.validation.is_none() {
                self.validation = Some(EventWriter::create(&self.log_dir.join("validation"))?);
            }
            let v = self.validation.as_mut().expect("created above");
            for (name, value) in logs.iter().filter_map(|(k, v)| Some((k.strip_prefix("val_")?, v))) {
                v.scalar(tag(&mut self.tag, &["epoch_", name]), step, value);
                v.scalar(tag(&mut self.tag, &["evaluation_", name, "_vs_iterations"]), iterations as i64, value);
            }
            v.flush()?;
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _ctx: &mut Context<'_>, _logs: &Logs) -> Result<()> {
        for w in [self.train.as_mut(), self.validation.as_mut()].into_iter().flatten() {
            w.flush()?;
        }
        Ok(())
    }
}
