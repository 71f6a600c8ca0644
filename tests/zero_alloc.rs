//! A steady-state training step allocates nothing: counted by a global allocator.
//!
//! Its own test binary without libtest's harness (`harness = false` in Cargo.toml): the
//! counting allocator is process-wide, and libtest's own thread allocates at moments it
//! chooses (starting a test's thread, reporting one), which landed inside a counted window
//! now and then. Here `main` runs the checks on the only thread there is, with the kernels'
//! pool.

use minibatch::callbacks::{Callback, Context, Control, Logs};
use minibatch::layers::{BatchNormalization, Dense, Dropout};
use minibatch::losses::BuiltinLoss;
use minibatch::optimizers::schedules::{ExponentialDecay, Scheduled};
use minibatch::optimizers::{Adadelta, Adagrad, Adam, AdamW, Adamax, Lion, Nadam, Optimizer, RMSprop, SGD};
use minibatch::{FitOptions, Model, Result, Sequential, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[path = "zoo.rs"]
mod zoo;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let checks: [(&str, fn()); 16] = [
        ("MLP steps", mlp_steps_allocate_nothing),
        ("steps with frozen layers (a frozen BatchNormalization too)", frozen_steps_allocate_nothing),
        ("functional steps: LSTM, attention, residual Add, shared layer", functional_steps_allocate_nothing),
        ("functional steps with two inputs and two outputs", two_input_two_output_steps_allocate_nothing),
        ("convnet steps", convnet_steps_allocate_nothing),
        ("a custom layer, loss and metric written with the ops", ops_steps_allocate_nothing),
        ("fit with custom training steps (a GAN's, a distillation's)", custom_steps_allocate_nothing),
        ("every optimizer and loss", every_optimizer_and_loss_steps_allocate_nothing),
        ("every layer type", every_layer_type_steps_allocate_nothing),
        ("fit from epoch 2 into epoch 3", fit_allocates_nothing_from_one_epoch_into_the_next),
        ("fit measuring the gradient noise scale", noise_scale_allocates_nothing),
        (
            "fit with weights, penalties, clipping, accumulation, EMA and every metric",
            fit_with_every_option_allocates_nothing,
        ),
        ("fit on a dataset prefetched by 2 workers, from epoch 2 into epoch 3", fit_dataset_allocates_nothing),
        ("fit on a dataset filled by the training thread", fit_dataset_without_workers_allocates_nothing),
        ("fit writing TensorBoard events every batch, histograms every epoch", tensorboard_allocates_nothing),
        ("mixed_bfloat16 steps: an MLP and a convnet on this CPU's bf16 kernel", mixed_bfloat16_allocates_nothing),
    ];
    for (name, check) in checks {
        check(); // a failure panics, naming the case, and the process exits non-zero
        println!("zero allocations: {name} ... ok");
    }
    println!("{} passed, 0 failed", checks.len());
}

/// Runs `train_on_batch` once (planning buffers, sizing optimizer state), then counts the
/// allocations of five more steps.
fn assert_steady(model: &mut Model, x: &Tensor, y: &Tensor, what: &str) {
    model.train_on_batch(x, y).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..5 {
        model.train_on_batch(x, y).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "{what}: {} allocations in 5 steady-state steps", after - before);
}

fn mlp_steps_allocate_nothing() {
    // The MLP shape (smaller hidden layers keep the test fast), with dropout and a
    // fused softmax/cross-entropy, at batch sizes 1 and 32.
    let mut model = Sequential::new()
        .input_shape(&[784])
        .add(Dense::new(64).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(64).activation("gelu"))
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [32usize, 1] {
        let x = Tensor::from_vec(&[batch, 784], (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap();
        assert_steady(&mut model, &x, &y, &format!("MLP at batch {batch}"));
    }
}

fn mixed_bfloat16_allocates_nothing() {
    use minibatch::layers::{Conv2D, DTypePolicy, Flatten};
    let mut mlp = Sequential::new()
        .input_shape(&[784])
        .add(Dense::new(256).activation("relu"))
        .add(Dense::new(10).activation("softmax"));
    mlp.dtype_policy(DTypePolicy::MixedBfloat16);
    mlp.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [128usize, 1] {
        let x = Tensor::from_vec(&[batch, 784], (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap();
        assert_steady(&mut mlp, &x, &y, &format!("mixed_bfloat16 MLP at batch {batch}"));
    }
    let mut convnet = Sequential::new()
        .input_shape(&[12, 12, 1])
        .add(Conv2D::new(16, 3).activation("relu"))
        .add(Flatten::new())
        .add(Dense::new(10).activation("softmax"));
    convnet.dtype_policy(DTypePolicy::MixedBfloat16);
    convnet.compile(Adam::default(), "sparse_categorical_crossentropy", &[]).unwrap();
    let x = Tensor::from_vec(&[32, 12, 12, 1], (0..32 * 144).map(|i| (i % 13) as f32 / 13.0).collect()).unwrap();
    let y = Tensor::from_vec(&[32], (0..32).map(|i| (i % 10) as f32).collect()).unwrap();
    assert_steady(&mut convnet, &x, &y, "mixed_bfloat16 convnet");
}

fn frozen_steps_allocate_nothing() {
    let mut model = Sequential::new()
        .input_shape(&[16])
        .add(Dense::new(32).activation("relu").name("base"))
        .add(BatchNormalization::new().name("norm"))
        .add(Dense::new(10).activation("softmax"))
        .into_model();
    for name in ["base", "norm"] {
        model.get_layer_mut(name).unwrap().set_trainable(false);
    }
    model.compile(Adam::default().ema(0.9), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let x = Tensor::from_vec(&[8, 16], (0..128).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let y = Tensor::from_vec(&[8], (0..8).map(|i| (i % 10) as f32).collect()).unwrap();
    assert_steady(&mut model, &x, &y, "frozen base and BatchNormalization");
}

fn functional_steps_allocate_nothing() {
    // A graph: attention over a projection with a residual Add and LayerNormalization, an LSTM
    // over that returning its states, a shared Dense called twice, a tensor read by three layers, and a fused
    // softmax output.
    use minibatch::layers::{Add, Concatenate, GlobalAveragePooling1D, LayerNormalization, MultiHeadAttention, LSTM};
    use minibatch::models::{Call, Input, Shared};
    let x = Input::new(&[6, 4]);
    let h = Dense::new(8).call(&x);
    let attended = MultiHeadAttention::new(2, 4).use_causal_mask(true).dropout(0.1).call(&h);
    let res = LayerNormalization::new().call(&Add::new().call([&h, &attended]));
    // LSTM with return_state: its packed tensor read by three RecurrentOutput nodes.
    let states = LSTM::new(8).return_sequences(true).call_with_states(&res);
    let seq = Add::new().call([&states[0], &states[0]]);
    let state = Concatenate::new().call([&states[1], &states[2]]);
    let shared = Shared::new(Dense::new(8).activation("relu"));
    let joined = Concatenate::new().call([&shared.call(&seq), &shared.call(&res), &h]);
    let pooled = Concatenate::new().call([&GlobalAveragePooling1D::new().call(&joined), &state]);
    let out = Dense::new(5).activation("softmax").call(&pooled);
    let mut model = Model::new(&[&x], &[&out]).unwrap();
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [8usize, 3] {
        let x = Tensor::from_vec(&[batch, 6, 4], (0..batch * 24).map(|i| (i % 9) as f32 / 9.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 5) as f32).collect()).unwrap();
        assert_steady(&mut model, &x, &y, &format!("functional model at batch {batch}"));
    }
}

fn two_input_two_output_steps_allocate_nothing() {
    use minibatch::layers::Concatenate;
    use minibatch::models::{Call, Input, Losses};
    let (a, b) = (Input::new(&[5]), Input::new(&[3]));
    let joined = Concatenate::new().call([&Dense::new(4).call(&a), &b]);
    let digit = Dense::new(3).activation("softmax").call(&joined);
    let value = Dense::new(1).call(&joined);
    let mut model = Model::new(&[&a, &b], &[&digit, &value]).unwrap();
    let losses = Losses::each(&["sparse_categorical_crossentropy", "mse"]);
    let options = minibatch::CompileOptions::new()
        .output_metrics("dense_1", &["accuracy"])
        .output_metrics("dense_2", &["mae"])
        .loss_weights(&[1.0, 0.5]);
    model.compile_with(Adam::default(), losses, options).unwrap();
    // fit itself, from epoch 2 into epoch 3: both inputs gathered, both losses, per-output
    // metrics and their History keys, validation.
    let n = 60;
    let xa = Tensor::from_vec(&[n, 5], (0..n * 5).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let xb = Tensor::from_vec(&[n, 3], (0..n * 3).map(|i| (i % 5) as f32 / 5.0).collect()).unwrap();
    let classes = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let values = Tensor::from_vec(&[n, 1], (0..n).map(|i| i as f32 / 60.0).collect()).unwrap();
    let mut counter = Counter::default();
    let options = FitOptions::new().batch_size(8).epochs(4).validation_split(0.2).verbose(0).callback(&mut counter);
    model.fit([&xa, &xb], [&classes, &values], options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "two-output fit: {} allocations from epoch 2 into epoch 3", b - a);
}

fn convnet_steps_allocate_nothing() {
    // Convolutions (patch buffers), "same" padding, pooling (argmax), batch normalization and
    // global pooling: every workspace comes from the plan.
    use minibatch::layers::{
        AveragePooling2D, BatchNormalization, Conv2D, Flatten, GlobalAveragePooling2D, MaxPooling2D,
    };
    let mut model = Sequential::new()
        .input_shape(&[12, 12, 1])
        .add(Conv2D::new(8, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(BatchNormalization::new())
        .add(Conv2D::new(8, 3).padding("same").activation("gelu"))
        .add(AveragePooling2D::new(2))
        .add(Conv2D::new(6, 1))
        .add(GlobalAveragePooling2D::new())
        .add(Flatten::new())
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [16usize, 3] {
        let x =
            Tensor::from_vec(&[batch, 12, 12, 1], (0..batch * 144).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap();
        assert_steady(&mut model, &x, &y, &format!("convnet at batch {batch}"));
    }
}

fn optimizers() -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        ("sgd", Box::new(SGD::new(0.01))),
        ("sgd momentum", Box::new(SGD::new(0.01).momentum(0.9))),
        ("sgd nesterov", Box::new(SGD::new(0.01).momentum(0.9).nesterov(true))),
        ("adam", Box::new(Adam::default())),
        ("adamw", Box::new(AdamW::default())),
        ("rmsprop", Box::new(RMSprop::default())),
        ("rmsprop centered", Box::new(RMSprop::default().centered(true))),
        ("rmsprop momentum", Box::new(RMSprop::default().momentum(0.5))),
        ("scheduled adam", Box::new(Scheduled::new(Adam::default(), ExponentialDecay::new(0.01, 10, 0.9)))),
        ("adam amsgrad", Box::new(Adam::default().amsgrad(true))),
        ("nadam", Box::new(Nadam::default())),
        ("adamax", Box::new(Adamax::default())),
        ("adagrad", Box::new(Adagrad::default())),
        ("adadelta", Box::new(Adadelta::default())),
        ("lion", Box::new(Lion::default())),
        // Keras's BaseOptimizer options: every clip, decay, accumulation and EMA.
        ("sgd clipnorm decay", Box::new(SGD::new(0.01).clipnorm(1.0).weight_decay(1e-3))),
        ("adam clipvalue accumulation", Box::new(Adam::default().clipvalue(0.5).gradient_accumulation_steps(3))),
        (
            "rmsprop global_clipnorm ema",
            Box::new(RMSprop::default().global_clipnorm(1.0).ema(0.9).ema_overwrite_frequency(2)),
        ),
    ]
}

fn every_optimizer_and_loss_steps_allocate_nothing() {
    // Each loss on the output it is used with: fused with its activation, from logits, and on
    // probabilities of an activation it does not fuse with.
    let cases: [(&str, BuiltinLoss, &str); 20] = [
        ("softmax", BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false }, "sparse"),
        ("linear", BuiltinLoss::SparseCategoricalCrossentropy { from_logits: true }, "sparse"),
        ("sigmoid", BuiltinLoss::SparseCategoricalCrossentropy { from_logits: false }, "sparse"),
        ("softmax", BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.0 }, "onehot"),
        ("linear", BuiltinLoss::CategoricalCrossentropy { from_logits: true, label_smoothing: 0.0 }, "onehot"),
        ("sigmoid", BuiltinLoss::BinaryCrossentropy { from_logits: false, label_smoothing: 0.0 }, "onehot"),
        ("linear", BuiltinLoss::BinaryCrossentropy { from_logits: true, label_smoothing: 0.0 }, "onehot"),
        ("softmax", BuiltinLoss::BinaryCrossentropy { from_logits: false, label_smoothing: 0.0 }, "onehot"),
        ("linear", BuiltinLoss::MeanSquaredError, "onehot"),
        ("tanh", BuiltinLoss::MeanAbsoluteError, "onehot"),
        ("softmax", BuiltinLoss::CategoricalCrossentropy { from_logits: false, label_smoothing: 0.1 }, "onehot"),
        ("linear", BuiltinLoss::MeanAbsolutePercentageError, "onehot"),
        ("sigmoid", BuiltinLoss::MeanSquaredLogarithmicError, "onehot"),
        ("linear", BuiltinLoss::Huber { delta: 0.5 }, "onehot"),
        ("linear", BuiltinLoss::LogCosh, "onehot"),
        ("softmax", BuiltinLoss::KlDivergence, "onehot"),
        ("sigmoid", BuiltinLoss::Poisson, "onehot"),
        ("tanh", BuiltinLoss::Hinge, "onehot"),
        ("linear", BuiltinLoss::CategoricalHinge, "onehot"),
        ("linear", BuiltinLoss::CosineSimilarity, "onehot"),
    ];
    let batch = 8;
    let x =
        Tensor::from_vec(&[batch, 6], (0..batch * 6).map(|i| ((i * 37) % 11) as f32 / 11.0 - 0.5).collect()).unwrap();
    let sparse = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 3) as f32).collect()).unwrap();
    let onehot =
        Tensor::from_vec(&[batch, 3], (0..batch * 3).map(|i| (i % 3 == (i / 3) % 3) as u8 as f32).collect()).unwrap();
    for (output, loss, target) in cases {
        for (name, optimizer) in optimizers() {
            let mut model = Sequential::new()
                .input_shape(&[6])
                .add(Dense::new(16).activation("relu"))
                .add(Dense::new(3).activation(output));
            model.compile(optimizer, loss, &["accuracy"]).unwrap();
            let y = if target == "sparse" { &sparse } else { &onehot };
            assert_steady(&mut model, &x, y, &format!("{name}, {loss:?} on {output}"));
        }
    }
}

fn every_layer_type_steps_allocate_nothing() {
    for (name, mut model, sample) in zoo::layer_zoo() {
        model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        for batch in [8usize, 3] {
            let len: usize = sample.iter().product();
            let shape = [&[batch][..], &sample].concat();
            let scale = if name.starts_with("tokens") { 1.0 } else { 17.0 };
            let x =
                Tensor::from_vec(&shape, (0..batch * len).map(|i| ((i * 31) % 17) as f32 / scale).collect()).unwrap();
            let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 3) as f32).collect()).unwrap();
            assert_steady(&mut model, &x, &y, &format!("{name} at batch {batch}"));
        }
    }
}

/// Snapshots the allocation count after batch 0 of epoch 2 and before batch 1 of epoch 3.
#[derive(Default)]
struct Counter {
    epoch: usize,
    at_epoch_2: Option<usize>,
    at_epoch_3: Option<usize>,
}

impl Callback for Counter {
    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        self.epoch = epoch;
        Ok(Control::Continue)
    }
    fn on_train_batch_end(&mut self, _ctx: &mut Context<'_>, batch: usize, _logs: &Logs) -> Result<Control> {
        if (self.epoch, batch) == (1, 0) {
            self.at_epoch_2 = Some(ALLOCATIONS.load(Ordering::SeqCst));
        }
        Ok(Control::Continue)
    }
    fn on_train_batch_begin(&mut self, _ctx: &mut Context<'_>, batch: usize) -> Result<Control> {
        if (self.epoch, batch) == (2, 1) {
            self.at_epoch_3 = Some(ALLOCATIONS.load(Ordering::SeqCst));
        }
        Ok(Control::Continue)
    }
}

fn fit_with_every_option_allocates_nothing() {
    // Sample weights (and so weighted metrics), weighted validation data, regularizers and
    // constraints, clipping, accumulation and EMA, and every built-in metric.
    use minibatch::callbacks::SwapEMAWeights;
    use minibatch::constraints::Constraint;
    use minibatch::metrics::{Auc, Confusion, Curve, FBetaScore, R2Score};
    use minibatch::regularizers::Regularizer;
    use minibatch::CompileOptions;
    let n = 100;
    let x = Tensor::from_vec(&[n, 8], (0..n * 8).map(|i| ((i * 13) % 19) as f32 / 19.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n, 3], (0..n * 3).map(|i| (i % 3 == (i / 3) % 3) as u8 as f32).collect()).unwrap();
    let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 4) as f32).collect();
    let mut model = Sequential::new()
        .add(
            Dense::new(16)
                .activation("relu")
                .kernel_regularizer(Regularizer::l1_l2(1e-3, 1e-3))
                .activity_regularizer(Regularizer::l2(1e-3))
                .kernel_constraint(Constraint::max_norm(2.0))
                .bias_constraint(Constraint::NonNeg),
        )
        .add(Dense::new(3).activation("softmax").bias_regularizer(Regularizer::l1(1e-3)));
    let mut options = CompileOptions::new().metrics(minibatch::metrics::NAMES);
    for m in minibatch::metrics::NAMES {
        options = options.weighted_metric(*m);
    }
    let options = options
        .metric(Auc::with("pr", Curve::Pr, 50))
        .metric(Confusion::recall().class_id(1))
        .metric(FBetaScore::f1())
        .weighted_metric(R2Score::new());
    let opt = Adam::default().clipnorm(1.0).gradient_accumulation_steps(2).ema(0.9);
    model.compile_with(opt, "categorical_crossentropy", options).unwrap();
    let mut counter = Counter::default();
    let mut swap = SwapEMAWeights::new();
    let options = FitOptions::new()
        .batch_size(16)
        .epochs(4)
        .sample_weight(&w)
        .validation_data_weighted(&x, &y, &w)
        .verbose(0)
        .callback(&mut swap)
        .callback(&mut counter);
    model.fit(&x, &y, options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "fit with every option: {} allocations from epoch 2 into epoch 3", b - a);
}

fn fit_allocates_nothing_from_one_epoch_into_the_next() {
    // fit itself, not only its step: the rest of epoch 2 (shuffled batches, dropout, metrics),
    // its end (validation, the History, the logs) and the first batch of epoch 3.
    let n = 100;
    let x = Tensor::from_vec(&[n, 8], (0..n * 8).map(|i| ((i * 13) % 19) as f32 / 19.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let mut model = small_classifier();
    let mut counter = Counter::default();
    let options = FitOptions::new().batch_size(16).epochs(4).validation_split(0.2).verbose(0).callback(&mut counter);
    model.fit(&x, &y, options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "fit: {} allocations from epoch 2 into epoch 3", b - a);
}

fn noise_scale_allocates_nothing() {
    // The measurement reads every step's gradients into its window's sums (a kernel of 2048
    // weights, read a block in every STRIDE) and closes an epoch's estimate into the logs.
    let n = 512;
    let x = Tensor::from_vec(&[n, 256], (0..n * 256).map(|i| ((i * 13) % 19) as f32 / 19.0 - 0.5).collect()).unwrap();
    let y = Tensor::from_vec(&[n, 8], (0..n * 8).map(|i| ((i * 7) % 5) as f32).collect()).unwrap();
    let mut model = Sequential::new().seed(0).add(Dense::new(8));
    model.compile(minibatch::optimizers::SGD::new(0.01), "mse", &[]).unwrap();
    let mut counter = Counter::default();
    let options =
        FitOptions::new().batch_size(16).epochs(4).measure_noise_scale(true).verbose(0).callback(&mut counter);
    let h = model.fit(&x, &y, options).unwrap();
    let estimates = h.get("noise_scale").unwrap();
    assert!(estimates.iter().all(|b| b.is_finite()), "an estimate every epoch: {estimates:?}");
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "fit measuring the noise scale: {} allocations from epoch 2 into epoch 3", b - a);
}

fn tensorboard_allocates_nothing() {
    // Batch-level scalars and steps per second every batch, the epoch's scalars, every weight's
    // and gradient's histogram, validation's scalars, each epoch's events appended to the files.
    use minibatch::callbacks::{TensorBoard, UpdateFreq};
    let n = 100;
    let x = Tensor::from_vec(&[n, 8], (0..n * 8).map(|i| ((i * 13) % 19) as f32 / 19.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let dir = std::env::temp_dir().join(format!("minibatch-zero-alloc-tb-{}", std::process::id()));
    let mut tb = TensorBoard::new(&dir).update_freq(UpdateFreq::Batch).histogram_freq(1).write_steps_per_second(true);
    let mut model = small_classifier();
    let mut counter = Counter::default();
    let options = FitOptions::new()
        .batch_size(16)
        .epochs(4)
        .validation_split(0.2)
        .verbose(0)
        .callback(&mut tb)
        .callback(&mut counter);
    model.fit(&x, &y, options).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "fit with TensorBoard: {} allocations from epoch 2 into epoch 3", b - a);
}

fn fit_dataset_with(workers: usize) {
    // Batches filled by background workers into the ring (shuffled samples, class weights,
    // a validation dataset), from epoch 2 into epoch 3: passes, hand-overs and the
    // dataset's on_epoch_end allocate nothing.
    use minibatch::data::TensorDataset;
    let n = 100;
    let x = Tensor::from_vec(&[n, 8], (0..n * 8).map(|i| ((i * 13) % 19) as f32 / 19.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let mut train = TensorDataset::new(vec![x.clone()], vec![y.clone()], 16).unwrap().shuffle(3);
    let mut val = TensorDataset::new(vec![x], vec![y], 32).unwrap();
    let mut model = small_classifier();
    let mut counter = Counter::default();
    let options = FitOptions::new()
        .epochs(4)
        .verbose(0)
        .workers(workers)
        .max_queue_size(3)
        .class_weight([(0, 2.0)])
        .validation_dataset(&mut val)
        .callback(&mut counter);
    model.fit_dataset(&mut train, options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "fit_dataset with {workers} workers: {} allocations from epoch 2 into epoch 3", b - a);
}

fn fit_dataset_allocates_nothing() {
    fit_dataset_with(2);
}

fn fit_dataset_without_workers_allocates_nothing() {
    fit_dataset_with(0);
}

/// Dense(16, relu), Dropout(0.2), Dense(3, softmax), Adam, sparse categorical cross-entropy.
fn small_classifier() -> Model {
    let mut model = Sequential::new()
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(3).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model.into()
}

/// A user's layer using every family of ops (broadcasting both ways, reductions, both
/// products, transpose, softmax, concatenate, reshape), and a user's loss.
#[derive(Clone, Default)]
struct EveryOp {
    w: Option<minibatch::layers::Weight>,
    col: Option<minibatch::layers::Weight>,
}

impl minibatch::layers::CustomLayer for EveryOp {
    fn class_name(&self) -> &'static str {
        "EveryOp"
    }
    fn build(&mut self, w: &mut minibatch::layers::Weights, shape: &[usize]) -> minibatch::Result<()> {
        self.w = Some(w.add_weight("kernel", &[shape[1], 4], "glorot_uniform")?);
        self.col = Some(w.add_weight("column", &[shape[0], 1], "ones")?);
        Ok(())
    }
    fn call(
        &self,
        g: &mut minibatch::ops::Graph,
        x: minibatch::ops::Var,
        w: &minibatch::layers::WeightVars,
    ) -> minibatch::Result<minibatch::ops::Var> {
        let h = g.matmul(x, w[self.w.unwrap()])?;
        let h = g.multiply(h, w[self.col.unwrap()])?;
        let ht = g.transpose(h, &[0, 2, 1])?;
        let s = g.matmul(h, ht)?;
        let p = g.softmax(s);
        let c = g.matmul(p, h)?;
        let m = g.mean(c, -1, true)?;
        let mx = g.max(c, 1, true)?;
        let c = g.subtract(c, m)?;
        let c = g.add(c, mx)?;
        let e = g.einsum("bsf,btf->bst", c, h)?;
        let e = g.einsum("bst,btf->bsf", e, h)?;
        let c = g.add(c, e)?;
        let j = g.concatenate(&[c, h], -1)?;
        let j = g.gelu(j);
        let j = if g.training() { g.dropout(j, 0.1)? } else { j };
        g.reshape(j, &[-1])
    }
}

struct OpsMse;

impl minibatch::losses::CustomLoss for OpsMse {
    fn name(&self) -> &'static str {
        "ops_mse"
    }
    fn call(
        &self,
        g: &mut minibatch::ops::Graph,
        t: minibatch::ops::Var,
        p: minibatch::ops::Var,
    ) -> minibatch::Result<minibatch::ops::Var> {
        let e = g.subtract(p, t)?;
        let sq = g.square(e);
        g.mean(sq, -1, false)
    }
}

/// Mean absolute error written with the ops, as a metric.
struct OpsMae;

impl minibatch::metrics::CustomMetric for OpsMae {
    fn name(&self) -> &'static str {
        "ops_mae"
    }
    fn call(
        &self,
        g: &mut minibatch::ops::Graph,
        t: minibatch::ops::Var,
        p: minibatch::ops::Var,
    ) -> minibatch::Result<minibatch::ops::Var> {
        let e = g.subtract(p, t)?;
        let a = g.abs(e);
        g.mean(a, -1, false)
    }
}

fn ops_steps_allocate_nothing() {
    let mut model = Sequential::new()
        .input_shape(&[5, 3])
        .add(minibatch::layers::Custom::new(EveryOp::default()))
        .add(Dense::new(2))
        .into_model();
    let metric = minibatch::CompileOptions::new().metric(minibatch::metrics::OpsMetric::new(OpsMae));
    model.compile_with(Adam::default(), minibatch::losses::OpsLoss::new(OpsMse), metric).unwrap();
    for batch in [32usize, 1] {
        let x = Tensor::from_vec(&[batch, 5, 3], (0..batch * 15).map(|i| (i % 11) as f32 / 11.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch, 2], (0..batch * 2).map(|i| (i % 3) as f32).collect()).unwrap();
        assert_steady(&mut model, &x, &y, &format!("ops-built layer and loss at batch {batch}"));
    }
    // A mask into a custom layer (a masked mean after an Embedding with mask_zero), and a
    // custom layer with a penalty, a constraint and a fixed weight.
    let mut model = Sequential::new()
        .input_shape(&[6])
        .add(minibatch::layers::Embedding::new(10, 4).mask_zero(true))
        .add(minibatch::layers::Custom::new(ops_layers::MaskedMean))
        .add(minibatch::layers::Custom::new(ops_layers::ScaledDense::new(2)))
        .into_model();
    model.compile(Adam::default(), "mse", &[]).unwrap();
    let x = Tensor::from_vec(
        &[16, 6],
        (0..96).map(|i| if i % 6 < 3 + i / 6 % 3 { (i % 9 + 1) as f32 } else { 0.0 }).collect(),
    )
    .unwrap();
    let y = Tensor::from_vec(&[16, 2], (0..32).map(|i| (i % 3) as f32).collect()).unwrap();
    assert_steady(&mut model, &x, &y, "a masked custom layer and a custom layer with a fixed weight");
}

#[path = "support/ops_layers.rs"]
mod ops_layers;

#[path = "support/train_steps.rs"]
mod train_steps;

fn custom_steps_allocate_nothing() {
    let n = 100;
    let x = Tensor::from_vec(&[n, 2], (0..n * 2).map(|i| ((i * 13) % 19) as f32 / 19.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 2) as f32).collect()).unwrap();
    let mlp = |outputs: usize, activation: &str, inputs: usize| {
        Sequential::new()
            .input_shape(&[inputs])
            .add(Dense::new(8).activation("relu"))
            .add(Dense::new(outputs).activation(activation))
            .into_model()
    };
    // A GAN: fit over the discriminator, the generator in the step.
    let mut generator = mlp(2, "linear", 3);
    generator.compile(Adam::default(), "mse", &[]).unwrap();
    let mut discriminator = mlp(1, "sigmoid", 2);
    discriminator.compile(Adam::default(), "binary_crossentropy", &[]).unwrap();
    discriminator.keep_input_gradients(true);
    let mut gan = train_steps::Gan::new(generator, 3, 1);
    let mut counter = Counter::default();
    let options = FitOptions::new().batch_size(16).epochs(4).verbose(0).callback(&mut counter).train_step(&mut gan);
    discriminator.fit(&x, &Tensor::zeros(&[n, 1]), options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "a GAN's fit: {} allocations from epoch 2 into epoch 3", b - a);
    // A distillation: fit over the student, the teacher in the step.
    let logits = || minibatch::losses::BuiltinLoss::from_name("sparse_categorical_crossentropy").unwrap().from_logits();
    let mut teacher = mlp(2, "linear", 2);
    teacher.compile(Adam::default(), logits(), &[]).unwrap();
    let mut student = mlp(2, "linear", 2);
    student.compile(Adam::default(), logits(), &["accuracy"]).unwrap();
    let mut distill = train_steps::Distill::new(teacher, 0.3, 4.0);
    let mut counter = Counter::default();
    let options = FitOptions::new()
        .batch_size(16)
        .epochs(4)
        .validation_split(0.2)
        .verbose(0)
        .callback(&mut counter)
        .train_step(&mut distill);
    student.fit(&x, &y, options).unwrap();
    let (a, b) = (counter.at_epoch_2.unwrap(), counter.at_epoch_3.unwrap());
    assert_eq!(b - a, 0, "a distillation's fit: {} allocations from epoch 2 into epoch 3", b - a);
}
