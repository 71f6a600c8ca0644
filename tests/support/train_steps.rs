//! Training steps of one's own (Keras's `train_step` overrides), shared by the tests
//! (`tests/all/custom_steps.rs`, `tests/zero_alloc.rs`) and the examples (`examples/gan.rs`,
//! `examples/distillation.rs`), which include this file by `#[path]`. Every buffer is made on
//! the first step and reused: later steps allocate nothing.
#![allow(dead_code)]

use minibatch::losses::{mean_loss, BuiltinLoss, CustomLoss, Loss, OpsLoss};
use minibatch::ops::{Graph, Var};
use minibatch::rng::Rng;
use minibatch::training::TrainStep;
use minibatch::{Model, Tensor};

/// A kept buffer of `n` samples of `sample`'s shape: made once, then resized within its room.
fn buffer<'b>(kept: &'b mut Option<Tensor>, n: usize, sample: &[usize]) -> &'b mut Tensor {
    let room = kept.as_ref().map_or(0, |t| t.capacity());
    if room < n * sample.iter().product::<usize>() {
        *kept = Some(Tensor::zeros_batch(n, sample));
    }
    let t = kept.as_mut().expect("made");
    t.set_batch(n);
    t
}

/// `loss`'s value (a mean over the batch) and its gradient with respect to `pred` into `grad`.
fn loss_and_grad(loss: &dyn Loss, pred: &Tensor, target: &Tensor, grad: &mut Option<Tensor>) -> minibatch::Result<f64> {
    let g = buffer(grad, pred.batch(), &pred.shape()[1..]);
    mean_loss(loss, pred, target, None, Some(g.data_mut()))
}

/// The built-in step written by hand: forward, the loss's value and gradient, backward,
/// update, metrics. `fit` with it gives the built-in step's History bit for bit.
pub struct Plain {
    loss: BuiltinLoss,
    grad: Option<Tensor>,
}

impl Plain {
    pub fn new(loss: &str) -> Self {
        Plain { loss: BuiltinLoss::from_name(loss).unwrap(), grad: None }
    }
}

impl TrainStep for Plain {
    fn train_step(&mut self, model: &mut Model, _logs: &mut [f64]) -> minibatch::Result<f64> {
        model.call_batch();
        let value = loss_and_grad(&self.loss, model.output(0), &model.batch_targets()[0], &mut self.grad)?;
        model.backward(&[self.grad.as_ref().expect("made")])?;
        model.apply_gradients()?;
        model.update_metrics();
        Ok(value)
    }
}

/// A GAN's step, as Keras's GAN example writes it: `fit` runs on the discriminator (its batch
/// is real samples); the step owns the generator. The discriminator learns real (1) from
/// generated (0), then the generator learns to make the discriminator say 1, through the
/// discriminator's input gradient.
pub struct Gan {
    pub generator: Model,
    latent: usize,
    rng: Rng,
    bce: BuiltinLoss,
    noise: Option<Tensor>,
    both: Option<Tensor>,
    labels: Option<Tensor>,
    ones: Option<Tensor>,
    grad: Option<Tensor>,
    fake_grad: Option<Tensor>,
}

impl Gan {
    /// `generator` maps `latent` noise values to a sample; the discriminator (the fitted
    /// model) must keep its input gradients (`keep_input_gradients(true)`).
    pub fn new(generator: Model, latent: usize, seed: u64) -> Self {
        Gan {
            generator,
            latent,
            rng: Rng::new(seed),
            bce: BuiltinLoss::from_name("binary_crossentropy").unwrap(),
            noise: None,
            both: None,
            labels: None,
            ones: None,
            grad: None,
            fake_grad: None,
        }
    }
}

impl TrainStep for Gan {
    fn log_names(&self) -> &[&'static str] {
        &["d_loss", "g_loss"]
    }

    fn train_step(&mut self, d: &mut Model, logs: &mut [f64]) -> minibatch::Result<f64> {
        let real = d.batch_input(0);
        // One sample's shape, held without allocating.
        let (mut dims, rank) = ([0usize; 8], real.shape().len() - 1);
        dims[..rank].copy_from_slice(&real.shape()[1..]);
        let (n, per, sample) = (real.batch(), real.row_len(), &dims[..rank]);
        // 1. Real and generated samples, one batch, labelled 1 and 0.
        let noise = buffer(&mut self.noise, n, &[self.latent]);
        noise.data_mut().iter_mut().for_each(|v| *v = self.rng.normal() as f32);
        let both = buffer(&mut self.both, 2 * n, sample);
        both.data_mut()[..n * per].copy_from_slice(real.data());
        self.generator.call_train(&[&*noise])?;
        both.data_mut()[n * per..].copy_from_slice(self.generator.output(0).data());
        let labels = buffer(&mut self.labels, 2 * n, &[1]);
        labels.data_mut().iter_mut().enumerate().for_each(|(i, v)| *v = f32::from(u8::from(i < n)));
        // 2. The discriminator's step.
        d.call_train(&[&*both])?;
        let d_loss = loss_and_grad(&self.bce, d.output(0), &*labels, &mut self.grad)?;
        d.backward(&[self.grad.as_ref().expect("made")])?;
        d.apply_gradients()?;
        // 3. The generator's step: generated samples the discriminator should call real.
        d.call_train(&[self.generator.output(0)])?;
        let ones = buffer(&mut self.ones, n, &[1]);
        ones.data_mut().fill(1.0);
        let g_loss = loss_and_grad(&self.bce, d.output(0), &*ones, &mut self.fake_grad)?;
        d.backward(&[self.fake_grad.as_ref().expect("made")])?; // the discriminator's weights are not updated
        self.generator.backward(&[d.input_gradient(0)?])?;
        self.generator.apply_gradients()?;
        logs[0] = d_loss;
        logs[1] = g_loss;
        Ok(d_loss + g_loss)
    }
}

/// Knowledge distillation, as Keras's example writes it: `fit` runs on the student; the
/// step owns the teacher (trained, in inference mode). Both end in logits. The student's loss
/// is `α · crossentropy(labels, student) + (1 − α) · T² · KL(softmax(teacher / T) ‖
/// softmax(student / T))` at temperature `T`, the second term written with the ops
/// ([`SoftenedKl`]): no gradient written by hand.
pub struct Distill {
    pub teacher: Model,
    alpha: f32,
    temperature: f32,
    hard: BuiltinLoss,
    soft: OpsLoss,
    soft_targets: Option<Tensor>,
    grad: Option<Tensor>,
    soft_grad: Option<Tensor>,
}

impl Distill {
    pub fn new(teacher: Model, alpha: f32, temperature: f32) -> Self {
        Distill {
            teacher,
            alpha,
            temperature,
            hard: BuiltinLoss::from_name("sparse_categorical_crossentropy").unwrap().from_logits(),
            soft: OpsLoss::new(SoftenedKl { temperature }),
            soft_targets: None,
            grad: None,
            soft_grad: None,
        }
    }
}

/// Keras's distillation loss on the student's logits `s`, given the teacher's softened
/// probabilities `p` as the targets: `T² · Σ p · (log p − log softmax(s / T))` (Keras's
/// `KLDivergence`, which clips `p` to `[1e-7, 1]`), written with the ops.
pub struct SoftenedKl {
    temperature: f32,
}

impl CustomLoss for SoftenedKl {
    fn name(&self) -> &'static str {
        "distillation_loss"
    }
    fn call(&self, ops: &mut Graph, p: Var, s: Var) -> minibatch::Result<Var> {
        let t = self.temperature;
        let inverse = ops.scalar(1.0 / t);
        let softened = ops.multiply(s, inverse)?;
        let log_q = ops.log_softmax(softened);
        let p = ops.clip(p, 1e-7, 1.0);
        let log_p = ops.log(p);
        let gap = ops.subtract(log_p, log_q)?;
        let terms = ops.multiply(p, gap)?;
        let kl = ops.sum(terms, -1, false)?;
        let t2 = ops.scalar(t * t);
        ops.multiply(kl, t2)
    }
}

/// `out = softmax(logits / t)` for one row.
fn softmax_at(logits: &[f32], t: f32, out: &mut [f32]) {
    let top = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    out.iter_mut().zip(logits).for_each(|(o, &v)| *o = ((v - top) / t).exp());
    let sum: f32 = out.iter().sum();
    out.iter_mut().for_each(|o| *o /= sum);
}

impl TrainStep for Distill {
    fn log_names(&self) -> &[&'static str] {
        &["student_loss", "distillation_loss"]
    }

    fn train_step(&mut self, student: &mut Model, logs: &mut [f64]) -> minibatch::Result<f64> {
        let a = self.alpha;
        self.teacher.call_inference(&[student.batch_input(0)])?;
        let teacher = self.teacher.output(0);
        let k = teacher.row_len();
        let soft = buffer(&mut self.soft_targets, teacher.batch(), &teacher.shape()[1..]);
        for (logits, p) in teacher.data().chunks(k).zip(soft.data_mut().chunks_mut(k)) {
            softmax_at(logits, self.temperature, p);
        }
        student.call_batch();
        let pred = student.output(0);
        let hard = loss_and_grad(&self.hard, pred, &student.batch_targets()[0], &mut self.grad)?;
        let kl = loss_and_grad(&self.soft, pred, soft, &mut self.soft_grad)?;
        // The two gradients mixed as the two losses are.
        let (grad, soft_grad) = (self.grad.as_mut().expect("made"), self.soft_grad.as_ref().expect("made"));
        grad.data_mut().iter_mut().zip(soft_grad.data()).for_each(|(g, s)| *g = a * *g + (1.0 - a) * s);
        student.backward(&[&*grad])?;
        student.apply_gradients()?;
        student.update_metrics();
        logs[0] = hard;
        logs[1] = kl;
        Ok(f64::from(a) * hard + f64::from(1.0 - a) * kl)
    }
}
