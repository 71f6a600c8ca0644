//! How long an epoch will take, before running it: the step's matrix products
//! ([`Model::products`]) timed on this machine at their own shapes, as each layer calls them,
//! plus the element-wise work of the layers that time their own (a recurrent cell's gates,
//! [`crate::layers::Layer::time_elementwise`]), plus the rest of its element-wise work over
//! the activations and workspaces the memory plan counts ([`Model::memory_plan`]), timed as a
//! vectorized activation over that many values, plus the optimizer's pass over the weights
//! at the bandwidth of a working set that size, plus, over several processes, the all-reduce's
//! α-β cost. See [`plan_time`].
//!
//! The model, per step at batch `B` on `K` processes (each computing `B/K` samples):
//!
//! ```text
//! t_step = Σ_products t(m,k,n,ta,tb) · count                          timed as run, cached per shape
//!        + Σ_layers t_own(B)                                           a layer's own element-wise work
//!        + 2 · t_tanh(the other activation and workspace values)       forward, backward
//!        + (2·weights + gradients + 2·optimizer slots) / bandwidth      the update: reads all, writes
//!                                                                         the weights and slots
//!        + 2(K−1)·α + 2(K−1)/K · gradient_bytes · β                       ring all-reduce, K > 1
//! t_epoch = ceil(N / B) · t_step
//! ```
//!
//! A product's time is measured rather than derived from a peak rate, because small and
//! skinny products (batch 32, a convolution's 9-deep kernel) run far from the peak; the
//! element-wise term is measured at the step's size, so that it carries both the arithmetic
//! of the activations and whether their values fit in cache. BENCHMARKS.md compares the
//! prediction with measured steps.

use crate::error::{Error, Result};
use crate::layers::cost::best_time;
use crate::layers::Product;
use crate::models::Model;
use crate::tensor::kernels::matmul;
use crate::tensor::{for_each_range, sgemm_packed, PackedB, SendPtr};
use serde::Serialize;
use std::time::Instant;

/// The α-β model of a ring all-reduce between processes: latency per message and seconds
/// per byte. [`AllReduceCost::one_machine`] holds the constants fitted in BENCHMARKS.md.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AllReduceCost {
    /// Seconds of latency per message (α).
    pub latency: f64,
    /// Seconds per byte (β).
    pub seconds_per_byte: f64,
}

impl AllReduceCost {
    /// Two ranks on one machine through Debian's Open MPI, as measured in BENCHMARKS.md
    /// (α ≈ 2 µs, 1/β ≈ 1.4 GB/s).
    pub fn one_machine() -> AllReduceCost {
        AllReduceCost { latency: 2e-6, seconds_per_byte: 1.0 / 1.4e9 }
    }

    /// Seconds to all-reduce `bytes` over `ranks` processes (ring: `2(K−1)` messages,
    /// `2(K−1)/K` of the bytes through each link).
    pub fn seconds(&self, bytes: usize, ranks: usize) -> f64 {
        if ranks <= 1 {
            return 0.0;
        }
        let k = ranks as f64;
        2.0 * (k - 1.0) * self.latency + 2.0 * (k - 1.0) / k * bytes as f64 * self.seconds_per_byte
    }
}

/// A product's shape as `matmul` takes it, `(m, k, n, a transposed, b transposed)`, and for a
/// stepwise one its steps (0 otherwise).
type Shape = ((usize, usize, usize, bool, bool), usize);

/// This machine's rates, measured once and reused for every batch size: each product shape's
/// time, and the memory bandwidth.
#[derive(Debug, Clone)]
pub struct Rates {
    /// Seconds per call, by shape.
    products: Vec<(Shape, f64)>,
    /// Seconds of a copy, by the bytes its source and destination span.
    bandwidths: Vec<(usize, f64)>,
    /// Seconds of an element-wise pass, by element count.
    elementwise: Vec<(usize, f64)>,
    /// The all-reduce's model (for more than one process).
    pub all_reduce: AllReduceCost,
}

impl Rates {
    /// Rates to be measured as [`plan_time`] meets each product shape and working-set size,
    /// after warming the machine up: products run for about 50 ms first, because a process's
    /// first products are slower (the kernels' threads start, the cores leave their idle
    /// clock: a small product measured cold took 50 times its warm time).
    pub fn measure() -> Rates {
        let (m, k, n) = (256, 256, 256);
        let (a, b, mut c) = (vec![0.5f32; m * k], vec![0.25f32; k * n], vec![0.0f32; m * n]);
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < 0.05 {
            matmul(&mut c, &a, &b, m, k, n, false, false, 0.0);
        }
        Rates {
            products: Vec::new(),
            bandwidths: Vec::new(),
            elementwise: Vec::new(),
            all_reduce: AllReduceCost::one_machine(),
        }
    }

    /// Bytes per second of a copy whose source and destination together span `bytes`
    /// (rounded up to a power of two, 64 KiB to 256 MiB): in cache for a small step's working
    /// set, from memory for a large one. Timed on first use, best of calls adding up to about
    /// 10 ms (at least 3).
    fn bandwidth(&mut self, bytes: usize) -> Result<f64> {
        let size = bytes.clamp(64 << 10, 256 << 20).next_power_of_two();
        let seconds = cached(&mut self.bandwidths, size, &format!("copy of {size} bytes"), || {
            let n = size / 8;
            let src = vec![1.0f32; n];
            let mut dst = vec![0.0f32; n];
            dst.copy_from_slice(&src);
            best_time(|| {
                dst.copy_from_slice(std::hint::black_box(&src));
                std::hint::black_box(&mut dst);
            })
        })?;
        Ok(size as f64 / seconds)
    }

    /// Seconds of element-wise work over `elements` values: an activation (the recurrent
    /// cells' tanh, as vectorized as the engine's) over a buffer of that many, up to 16M and
    /// scaled linearly beyond, timed on first use per power-of-two size.
    fn elementwise(&mut self, elements: usize) -> Result<f64> {
        let size = elements.clamp(1 << 12, 1 << 24).next_power_of_two();
        let what = format!("element-wise pass over {size} values");
        let seconds = cached(&mut self.elementwise, size, &what, || {
            let mut v: Vec<f32> = (0..size).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
            crate::activations::fast::tanh_in_place(&mut v);
            best_time(|| crate::activations::fast::tanh_in_place(std::hint::black_box(&mut v)))
        })?;
        Ok(seconds * elements as f64 / size as f64)
    }

    /// Seconds a step spends in `p`, timed on first use per shape as the layer runs it: a
    /// warm-up call, then the best of calls adding up to about 10 ms (at least 3). A product
    /// run `count` times is one call's time `count` times over; a stepwise one (a recurrent
    /// layer's steps) is timed whole, B packed once and every thread running every step on
    /// its share of the rows, since that is how fast it runs.
    fn product(&mut self, p: &Product) -> Result<f64> {
        let (m, k, n, ta, tb) = (p.m, p.k, p.n, p.ta, p.tb);
        let steps = if p.stepwise { p.count } else { 0 };
        let what = format!("GEMM rate of [{m}, {k}] × [{k}, {n}]");
        let seconds = cached(&mut self.products, ((m, k, n, ta, tb), steps), &what, || {
            let a = vec![0.5f32; m * k];
            let b = vec![0.25f32; k * n];
            let mut c = vec![0.0f32; m * n];
            if p.stepwise {
                let mut packed = PackedB::default();
                let out = SendPtr(c.as_mut_ptr());
                let mut pass = || {
                    packed.pack(&b, k, n, tb);
                    let packed = &packed;
                    // Shared out as the recurrent driver shares its rows (a `[rows, k] × [k, n]`
                    // step costs what its `[rows, u] × [u, G·u]` one does).
                    for_each_range(m, crate::layers::rows_per_part(k, n), |lo, hi| {
                        for _ in 0..steps {
                            // SAFETY: rows lo..hi of `c`, disjoint between the threads.
                            let c = unsafe { out.slice(lo * n, hi * n) };
                            sgemm_packed(hi - lo, &a[lo * k..hi * k], packed, c, 0.0);
                        }
                    });
                };
                pass();
                best_time(pass)
            } else {
                matmul(&mut c, &a, &b, m, k, n, ta, tb, 0.0);
                best_time(|| matmul(&mut c, &a, &b, m, k, n, ta, tb, 0.0))
            }
        })?;
        Ok(if p.stepwise { seconds } else { seconds * p.count as f64 })
    }
}

/// Seconds of `what` under `key`: from `cache`, else timed by `time` (which must measure a
/// positive time, or nothing can be predicted) and kept.
fn cached<K: PartialEq + Copy>(
    cache: &mut Vec<(K, f64)>,
    key: K,
    what: &str,
    time: impl FnOnce() -> f64,
) -> Result<f64> {
    if let Some(&(_, seconds)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(seconds);
    }
    let seconds = time();
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(not_measurable(what, seconds));
    }
    cache.push((key, seconds));
    Ok(seconds)
}

/// Element-wise passes over the step's activation and workspace values (forward's
/// activation, backward's derivative), each costing what a vectorized tanh pass costs.
const ELEMENTWISE_PASSES: f64 = 2.0;

/// No rate: `what` (say the product's shape) took `value` seconds by the clock.
fn not_measurable(what: &str, value: f64) -> Error {
    Error::invalid(
        "measured rate",
        format!("{what}: {value}"),
        "a positive time measured by the clock: not measurable on this machine, so no prediction",
    )
}

/// The predicted time of one batch size (see [`plan_time`]).
#[derive(Debug, Clone, Serialize)]
pub struct TimePlan {
    /// Samples per update, over all processes.
    pub batch_size: usize,
    /// Processes sharing each batch.
    pub ranks: usize,
    /// Updates per epoch, `ceil(samples / batch_size)`.
    pub steps_per_epoch: usize,
    /// Floating-point operations of one step's products on one process.
    pub flops_per_step: f64,
    /// Seconds of products per step.
    pub product_seconds: f64,
    /// Seconds of memory traffic per step.
    pub memory_seconds: f64,
    /// Seconds of all-reduce per step (0 on one process).
    pub all_reduce_seconds: f64,
    /// The predicted seconds per step.
    pub seconds_per_step: f64,
    /// The predicted seconds per epoch.
    pub seconds_per_epoch: f64,
}

/// Predicts the seconds per epoch of training `model` on `samples` samples at `batch_size`,
/// over `ranks` processes, from `rates`. The model must be built and compiled (the optimizer's
/// slots count as memory). Per step at batch `B` on `K` processes (each computing `B/K`
/// samples):
///
/// ```text
/// t_step = Σ_products t(m,k,n,ta,tb) · count                          timed as run, cached per shape
///        + Σ_layers t_own(B)                                           a layer's own element-wise work
///        + 2 · t_tanh(the other activation and workspace values)       forward, backward
///        + (2·weights + gradients + 2·optimizer slots) / bandwidth      the update: reads all, writes
///                                                                         the weights and slots
///        + 2(K−1)·α + 2(K−1)/K · gradient_bytes · β                       ring all-reduce, K > 1
/// t_epoch = ceil(N / B) · t_step
/// ```
///
/// The products are [`Model::products`], each timed on this machine at its own shape and as
/// the layer runs it (small and skinny products run far from the peak, and a recurrent
/// layer's steps run as one parallel region, so no single rate would do); a layer whose own
/// element-wise work is heavy times it on workspaces of the step's size
/// ([`crate::layers::Layer::time_elementwise`]: the LSTM's gates); the rest of the
/// element-wise term is a vectorized activation timed over as many values as the memory
/// plan's other activations and workspaces hold, so that it carries both their arithmetic
/// and whether they fit in cache; the all-reduce is [`AllReduceCost`]. BENCHMARKS.md
/// compares the prediction with measured steps for the MNIST MLP, convnet and LSTM at batch
/// 32–1024.
///
/// ```
/// use minibatch::{lab, layers::Dense, Sequential};
/// let mut model = Sequential::new().input_shape(&[64]).add(Dense::new(32).activation("relu")).add(Dense::new(4));
/// model.compile("adam", "mse", &[]).unwrap();
/// let mut rates = lab::Rates::measure();
/// let plan = lab::plan_time(&model, 32, 1000, 1, &mut rates).unwrap();
/// assert_eq!(plan.steps_per_epoch, 32);
/// assert!(plan.seconds_per_epoch > 0.0 && plan.seconds_per_epoch.is_finite());
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a batch size, sample count or process count of 0, or a
/// batch smaller than the processes; a product whose time the clock cannot measure; as
/// [`Model::products`].
pub fn plan_time(
    model: &Model,
    batch_size: usize,
    samples: usize,
    ranks: usize,
    rates: &mut Rates,
) -> Result<TimePlan> {
    if batch_size == 0 {
        return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
    }
    if samples == 0 {
        return Err(Error::invalid("samples", 0, "at least one sample per epoch"));
    }
    if ranks == 0 || batch_size < ranks {
        return Err(Error::invalid(
            "ranks",
            ranks,
            format!("between 1 and the batch size ({batch_size}): each process computes a share of the batch"),
        ));
    }
    let local = batch_size.div_ceil(ranks);
    let (mut flops, mut seconds) = (0.0, 0.0);
    for p in &model.products(local)? {
        seconds += rates.product(p)?;
        flops += p.flops();
    }
    let plan = model.memory_plan(local)?;
    // The layers that time their own element-wise work (a recurrent cell's gates), and the
    // workspace values that leaves to the activation-pass rate.
    let (own_seconds, own_bytes) = model.time_elementwise(local)?;
    // Every other activation and workspace value: computed in forward, its gradient in
    // backward.
    let per_batch = (plan.activations + plan.workspaces).saturating_sub(own_bytes) / 4;
    // The update reads the weights, their gradients and the optimizer's slots, and writes
    // the weights and the slots back.
    let fixed = 2 * plan.weights + plan.gradients + 2 * plan.optimizer;
    let bandwidth = rates.bandwidth(plan.weights + plan.gradients + plan.optimizer)?;
    let memory_seconds = own_seconds + ELEMENTWISE_PASSES * rates.elementwise(per_batch)? + fixed as f64 / bandwidth;
    let all_reduce_seconds = rates.all_reduce.seconds(plan.gradients, ranks);
    let seconds_per_step = seconds + memory_seconds + all_reduce_seconds;
    let steps_per_epoch = samples.div_ceil(batch_size);
    Ok(TimePlan {
        batch_size,
        ranks,
        steps_per_epoch,
        flops_per_step: flops,
        product_seconds: seconds,
        memory_seconds,
        all_reduce_seconds,
        seconds_per_step,
        seconds_per_epoch: seconds_per_step * steps_per_epoch as f64,
    })
}
