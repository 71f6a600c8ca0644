//! Data parallelism inside `fit` (see [`crate::distributed`]): this rank's shard of each global
//! batch, the gradients summed across ranks over one flat buffer, and the logs' sums and counts
//! reduced before they are written.
//!
//! The flat buffer holds every parameter's gradient in the layers' order. By default it is
//! summed by one all-reduce after backward. With `MINIBATCH_BUCKET_KB=N` it is cut into
//! *buckets* of whole layers of about N KiB, last layers first, as PyTorch's DDP cuts it:
//! backward finishes the last layers first, so each bucket's all-reduce starts (non-blocking)
//! as soon as backward has finished its layers, and travels while backward goes on through the
//! earlier ones. Buckets start in one order on every rank (a bucket waits for those before
//! it). Overlap is off by default because it did not pay where it was measured (two ranks on
//! one 2-core machine, where the sum is a memory copy that competes with backward for the same
//! cores; BENCHMARKS.md): the knob is there for networks where transfer time can hide.

use super::FitOptions;
use crate::data::Spec;
use crate::distributed::{self, Communicator};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::models::{Compiled, Model};
use crate::tensor::Tensor;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default bucket size, in KiB: 0, one all-reduce after backward (see the module docs
/// and BENCHMARKS.md).
const BUCKET_KB: usize = 0;

/// A rank's side of training with others: planned when `fit` begins, used by every step.
pub(crate) struct Parallel {
    pub comm: Arc<dyn Communicator>,
    /// This rank's scaled gradients and their sum over ranks, one value per parameter value in
    /// the layers' order: planned once, so a step allocates nothing.
    send: Vec<f32>,
    recv: Vec<f32>,
    /// Each layer's values in the flat buffers.
    layer_values: Vec<Range<usize>>,
    /// Buckets of whole layers (`layers`, their `values`), the last layers' first.
    buckets: Vec<(Range<usize>, Range<usize>)>,
    /// This step: the layers whose gradients are final, the first bucket not started, and the
    /// weight of this rank's gradients (its share of the global batch).
    done: Vec<bool>,
    next_bucket: usize,
    share: f32,
    /// Layers called more than once (their gradients are final only after backward).
    shared: Vec<bool>,
    /// The logs' state, this rank's and the sum: the loss sum and samples so far, each
    /// output's loss sum and samples, then every metric's state.
    stats: Vec<f64>,
    total: Vec<f64>,
    /// Time from the first bucket's start to the end of the wait, and the wait alone; steps.
    reducing: Duration,
    waiting: Duration,
    reductions: usize,
    started: Option<Instant>,
    /// The position in the global batch of this rank's shard's first sample, as the layers
    /// were last told (random layers key each sample's draws by it; 0 between runs).
    pub offset: usize,
}

impl Parallel {
    /// The plan for `model` over `comm`, or `None` for one process (whose steps stay as they
    /// are, bit for bit).
    ///
    /// # Errors
    /// [`Error::Distributed`] for a metric whose state does not add across ranks.
    pub fn new(comm: Arc<dyn Communicator>, model: &Model) -> Result<Option<Parallel>> {
        if comm.size() == 1 {
            return Ok(None);
        }
        let c = model.compiled.as_ref().expect("compiled");
        if let Some(m) = c.metrics.iter().find(|m| m.state_len().is_none()) {
            return Err(Error::Distributed {
                rank: comm.rank(),
                size: comm.size(),
                message: format!(
                    "metric {} cannot be summed across processes (its Metric::state_len is None): \
                     give it state_len, save_state and load_state, or train in one process",
                    m.name()
                ),
            });
        }
        let mut layer_values = Vec::with_capacity(model.layers.len());
        let mut at = 0;
        for l in &model.layers {
            let n: usize = l.params().iter().map(|p| p.value.len()).sum();
            layer_values.push(at..at + n);
            at += n;
        }
        let kb = std::env::var("MINIBATCH_BUCKET_KB").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(BUCKET_KB);
        let buckets = buckets(&layer_values, kb * 256);
        let mut shared = vec![false; model.layers.len()];
        for (li, _) in &model.replicas {
            shared[*li] = true;
        }
        Ok(Some(Parallel {
            comm,
            send: vec![0.0; at],
            recv: vec![0.0; at],
            done: vec![false; layer_values.len()],
            layer_values,
            buckets,
            next_bucket: 0,
            share: 1.0,
            shared,
            stats: Vec::new(),
            total: Vec::new(),
            reducing: Duration::ZERO,
            waiting: Duration::ZERO,
            reductions: 0,
            started: None,
            offset: 0,
        }))
    }

    /// How many processes train together.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// This rank's rows `[lo, hi)` of a batch of `n`.
    pub fn shard(&self, n: usize) -> (usize, usize) {
        distributed::shard(n, self.comm.rank(), self.comm.size())
    }

    /// Begins a step whose gradients weigh `share` (this rank's samples over the global
    /// batch's).
    pub fn begin_step(&mut self, share: f32) {
        self.done.fill(false);
        self.next_bucket = 0;
        self.share = share;
        self.started = None;
    }

    /// Backward has finished layer `li` (its only call): starts the buckets that are now
    /// complete, in order.
    pub fn layer_done(&mut self, li: usize, layers: &mut [Box<dyn Layer>]) {
        if self.shared[li] {
            return; // final only once its replicas' gradients are summed in
        }
        self.done[li] = true;
        self.start_ready(layers);
        self.comm.progress();
    }

    /// Ends the step's communication: the buckets not yet started start (every layer is now
    /// final), all are waited for, and every parameter's gradient becomes the sum over ranks
    /// of `share ×` each rank's.
    pub fn finish(&mut self, layers: &mut [Box<dyn Layer>]) {
        self.done.fill(true);
        self.start_ready(layers);
        let wait = Instant::now();
        self.comm.wait_all();
        let end = Instant::now();
        self.waiting += end - wait;
        self.reducing += end - self.started.unwrap_or(wait);
        self.reductions += 1;
        for (l, values) in layers.iter_mut().zip(&self.layer_values) {
            let mut at = values.start;
            for p in l.params_mut() {
                let g = p.grad.data_mut();
                g.copy_from_slice(&self.recv[at..at + g.len()]);
                at += g.len();
            }
        }
    }

    /// Starts each bucket, in order, whose layers are all final: their gradients (weight
    /// penalties' added) scaled by this rank's share into the send buffer, then the sum.
    fn start_ready(&mut self, layers: &mut [Box<dyn Layer>]) {
        while let Some((range, values)) = self.buckets.get(self.next_bucket) {
            if !self.done[range.clone()].iter().all(|&d| d) {
                return;
            }
            for li in range.clone() {
                let mut at = self.layer_values[li].start;
                for p in layers[li].params_mut() {
                    if let Some(r) = p.regularizer {
                        r.add_gradient(p.value.data(), p.grad.data_mut(), 1.0);
                    }
                    let g = p.grad.data();
                    for (s, &v) in self.send[at..at + g.len()].iter_mut().zip(g) {
                        *s = v * self.share;
                    }
                    at += g.len();
                }
            }
            self.started.get_or_insert_with(Instant::now);
            let (send, recv) = (self.send[values.clone()].as_ptr(), self.recv[values.clone()].as_mut_ptr());
            // SAFETY: `send` and `recv` are this plan's buffers, never resized after `new`;
            // `finish` waits for every started sum before they are read or written again.
            unsafe { self.comm.start_all_reduce_f32(send, recv, values.len()) };
            self.next_bucket += 1;
        }
    }

    /// Sums the logs' state over ranks: this rank's `loss_sum` over `seen` samples and its
    /// metrics' running state. Leaves the sums in the metrics (see [`Parallel::restore`]) and
    /// returns the global loss sum and samples.
    pub fn reduce_logs(&mut self, c: &mut Compiled, loss_sum: f64, seen: usize) -> (f64, usize) {
        let stats = &mut self.stats;
        stats.clear();
        stats.extend([loss_sum, seen as f64, c.seen as f64]);
        stats.extend_from_slice(&c.output_sums);
        for m in &c.metrics {
            let at = stats.len();
            stats.resize(at + m.state_len().unwrap_or(0), 0.0);
            m.save_state(&mut stats[at..]);
        }
        self.total.resize(stats.len(), 0.0);
        self.comm.all_reduce_f64(stats, &mut self.total);
        self.load(c, true);
        (self.total[0], self.total[1] as usize)
    }

    /// A line for the training summary: the processes, and what the gradients' all-reduce
    /// cost of `seconds` of training (its bytes per step, its time, the part not overlapped).
    pub fn summary(&self, seconds: f64) -> String {
        let steps = self.reductions.max(1) as f64;
        let bytes = crate::tensor::memory::human(4 * self.send.len() as u64);
        let share = 100.0 * self.waiting.as_secs_f64() / seconds.max(1e-9);
        format!(
            "{}: all-reduce of {bytes} of gradients a step in {} bucket(s), {:.3} ms from the first bucket's \
             start to the last's end, {:.3} ms of it waited for after backward ({share:.1}% of the training time)",
            self.comm.describe(),
            self.buckets.len(),
            self.reducing.as_secs_f64() / steps * 1e3,
            self.waiting.as_secs_f64() / steps * 1e3,
        )
    }

    /// Gives the metrics back this rank's own running state after [`Parallel::reduce_logs`],
    /// so the epoch goes on adding this rank's batches.
    pub fn restore(&mut self, c: &mut Compiled) {
        self.load(c, false);
    }

    fn load(&mut self, c: &mut Compiled, summed: bool) {
        let from = if summed { &self.total } else { &self.stats };
        c.seen = from[2] as usize;
        let k = c.output_sums.len();
        c.output_sums.copy_from_slice(&from[3..3 + k]);
        let mut at = 3 + k;
        for m in c.metrics.iter_mut() {
            let n = m.state_len().unwrap_or(0);
            m.load_state(&from[at..at + n]);
            at += n;
        }
    }
}

impl Model {
    /// This process's rows `[lo, hi)` of a batch of `n` samples (all of them in one process, `parallel` `None`),
    /// the layers told the shard's place in the global batch.
    pub(crate) fn shard_of(&mut self, parallel: Option<&mut Parallel>, n: usize) -> (usize, usize) {
        let Some(parallel) = parallel else { return (0, n) };
        let (lo, hi) = parallel.shard(n);
        if lo != parallel.offset {
            parallel.offset = lo;
            self.set_layers_sample_offset(lo);
        }
        (lo, hi)
    }

    /// The mean loss of an evaluation pass from this process's `loss` sum over `seen`
    /// samples; with several processes, summed over all, their metrics' states too (which the
    /// metrics keep, for the logs).
    pub(crate) fn reduce_evaluation(&mut self, parallel: Option<&mut Parallel>, loss: f64, seen: usize) -> f64 {
        let Some(parallel) = parallel else { return loss / seen.max(1) as f64 };
        let (loss, seen) = parallel.reduce_logs(self.compiled.as_mut().expect("compiled"), loss, seen);
        loss / seen.max(1) as f64
    }

    /// What training over several processes (see [`crate::distributed`]) needs before any
    /// work, checked on every process alike: a global `batch_size` they divide evenly, a
    /// sample for each in the first batch (`batches.0` samples) and, with a layer that
    /// synchronizes, in the last (`batches.1`, when partial), and the same model, arguments
    /// and data on every process (a checksum of them, broadcast from rank 0; `data` and
    /// `specs` are the arrays and dataset specs, of which shapes and a sample of values
    /// count). Nothing for one process.
    pub(crate) fn check_processes(
        &self,
        options: &FitOptions<'_>,
        batch_size: usize,
        (first, last): (usize, Option<usize>),
        data: &[&[&Tensor]],
        specs: &[Option<&Spec>],
    ) -> Result<()> {
        let comm = distributed::world();
        let size = comm.size();
        if size == 1 {
            return Ok(());
        }
        distributed::check_global_batch(&*comm, batch_size, first)?;
        let synchronized = self.layers.iter().find(|l| l.synchronizes());
        if let (Some(layer), Some(last)) = (synchronized, last.filter(|&l| l < size)) {
            return Err(Error::Distributed {
                rank: comm.rank(),
                size,
                message: format!(
                    "the last batch of each epoch holds {last} samples, fewer than the {size} processes, and layer {} \
                     (synchronized) needs every process in every step: choose a batch size that leaves none \
                     or at least {size} samples over",
                    layer.name()
                ),
            });
        }
        let model = self.to_config().map(|v| v.to_string()).unwrap_or_default();
        let compiled = self.compile_config().map(|v| v.to_string()).unwrap_or_default();
        let arguments = format!(
            "epochs={} initial_epoch={} batch_size={batch_size} shuffle={} steps_per_epoch={:?} validation_split={} validation_batch_size={:?} validation_steps={:?} validation_freq={} seed={}",
            options.epochs,
            options.initial_epoch,
            options.shuffle,
            options.steps_per_epoch,
            options.validation_split,
            options.validation_batch_size,
            options.validation_steps,
            options.validation_freq,
            self.seed,
        );
        let setup = distributed::fingerprint(0, format!("{model}\n{compiled}\n{arguments}").as_bytes());
        distributed::agree(&*comm, "a different model, compile or fit arguments", setup)?;
        let mut print = 0;
        for t in data.iter().flat_map(|d| d.iter()) {
            print = distributed::fingerprint(print, format!("{:?}", t.shape()).as_bytes());
            let values = t.data();
            let step = (values.len() / 1024).max(1);
            for v in values.iter().step_by(step) {
                print = distributed::fingerprint(print, &v.to_le_bytes());
            }
        }
        for s in specs.iter().flatten() {
            let text = format!("{:?} {:?} {} {}", s.inputs, s.targets, s.batch_size, s.weighted);
            print = distributed::fingerprint(print, text.as_bytes());
        }
        distributed::agree(&*comm, "different data (shapes or values)", print)
    }
}

/// Buckets of whole layers of about `cap` values each (0: one bucket), from the last layer
/// back: `(layers, values)`, each a contiguous range. Layers without parameters join the
/// bucket being filled.
fn buckets(layer_values: &[Range<usize>], cap: usize) -> Vec<(Range<usize>, Range<usize>)> {
    let mut out = Vec::new();
    let mut end = layer_values.len();
    let mut li = end;
    let mut size = 0;
    while li > 0 {
        li -= 1;
        size += layer_values[li].len();
        if cap > 0 && size >= cap {
            out.push((li..end, layer_values[li].start..layer_values[end - 1].end));
            (end, size) = (li, 0);
        }
    }
    match out.last_mut() {
        // Leading layers without parameters join the first layers' bucket.
        Some((layers, _)) if size == 0 => layers.start = 0,
        _ if end > 0 => out.push((0..end, 0..layer_values[end - 1].end)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn buckets_cut_whole_layers_from_the_last() {
        let layers = [0..100, 100..100, 100..130, 130..400, 400..410];
        assert_eq!(super::buckets(&[0..0, 0..0, 0..300, 300..300], 250), vec![(0..4, 0..300)]);
        let b = super::buckets(&layers, 250);
        assert_eq!(b, vec![(3..5, 130..410), (0..3, 0..130)]);
        assert_eq!(super::buckets(&layers, 0), vec![(0..5, 0..410)]);
        assert_eq!(
            super::buckets(&layers, 1),
            vec![(4..5, 400..410), (3..4, 130..400), (2..3, 100..130), (0..2, 0..100)]
        );
    }
}
