//! Your own training step, as Keras's `train_step` override: `fit` runs it on each batch
//! instead of its own forward, loss, backward and update, with everything else of `fit`
//! around it (callbacks, the progress bar, the History, validation, checkpoints).
//!
//! The step gets the fitted model with the batch loaded and the pieces of a step to use in
//! any order: [`Model::call_batch`] (forward on the batch, training mode) and [`Model::output`],
//! [`Model::batch_targets`], [`Model::backward`] (the weights' gradients from the outputs'
//! gradients, which the step computes from any loss, say with [`crate::losses::mean_loss`]),
//! [`Model::apply_gradients`] (the compiled optimizer's update), and, for other models it
//! owns (a GAN's generator, a distillation's teacher), [`Model::call_train`] and
//! [`Model::call_inference`] on tensors of its own. [`Model::keep_input_gradients`] makes
//! `backward` reach a model's inputs too (a GAN's discriminator hands its input's gradient to
//! the generator). Every buffer is planned on the first step: later steps allocate nothing.

use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::Tensor;

/// A training step of your own (Keras's `train_step`), given to `fit` with
/// [`FitOptions::train_step`](crate::FitOptions::train_step).
pub trait TrainStep {
    /// The names of the values the step reports beside `loss` (the keys of the dict Keras's
    /// `train_step` returns), in the order [`TrainStep::train_step`] writes them. The History
    /// records each as the epoch's mean over its samples, as it records `loss`.
    fn log_names(&self) -> &[&'static str] {
        &[]
    }

    /// One step on the batch `fit` loaded into `model`: returns the batch's loss (a mean over
    /// its samples) and writes the other values into `logs`, one per [`TrainStep::log_names`].
    ///
    /// # Errors
    /// Any: `fit` stops with it.
    fn train_step(&mut self, model: &mut Model, logs: &mut [f64]) -> Result<f64>;
}

/// A step's running sums over the epoch, kept by `fit` (one allocation per run).
pub(crate) struct StepRun<'s> {
    pub step: &'s mut dyn TrainStep,
    values: Vec<f64>,
    sums: Vec<f64>,
}

impl<'s> StepRun<'s> {
    pub fn new(step: &'s mut dyn TrainStep) -> Self {
        let n = step.log_names().len();
        StepRun { step, values: vec![0.0; n], sums: vec![0.0; n] }
    }

    /// A new epoch: the sums start again.
    pub fn begin_epoch(&mut self) {
        self.sums.fill(0.0);
    }

    /// One batch of `n` samples: the step, its loss as a sum over the samples, its other
    /// values' means over the epoch so far (`seen` samples before this batch) into `logs`.
    pub fn run(&mut self, model: &mut Model, n: usize, seen: usize, logs: &mut crate::callbacks::Logs) -> Result<f64> {
        self.values.fill(f64::NAN);
        let loss = self.step.train_step(model, &mut self.values)?;
        for ((name, sum), v) in self.step.log_names().iter().zip(&mut self.sums).zip(&self.values) {
            *sum += v * n as f64;
            logs.set(name, *sum / (seen + n) as f64);
        }
        Ok(loss * n as f64)
    }
}

impl Model {
    /// The forward pass in training mode on the batch `fit` loaded (Keras's
    /// `self(x, training=True)` inside `train_step`); its activations stay for
    /// [`Model::backward`], its outputs are [`Model::output`].
    pub fn call_batch(&mut self) {
        self.forward_pass(true);
    }

    /// Output `k` (in the model's output order) of the last forward pass, `[batch, …]`.
    pub fn output(&self, k: usize) -> &Tensor {
        self.bufs.act(self.graph.outputs[k])
    }

    /// Feeds the compiled metrics the outputs of the last forward pass against the batch's
    /// targets (Keras's `metric.update_state(y, y_pred)` inside `train_step`; a custom step
    /// that does not call it leaves the metrics out of the logs' values).
    pub fn update_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            super::step::update_metrics(c, &self.graph, &self.bufs);
        }
    }

    /// Input `i` of the batch `fit` loaded.
    pub fn batch_input(&self, i: usize) -> &Tensor {
        self.bufs.act(i)
    }

    /// The targets of the batch `fit` loaded, one per output.
    pub fn batch_targets(&self) -> &[Tensor] {
        &self.bufs.targets
    }

    /// The forward pass in training mode on inputs `xs` (one per model input): a model the
    /// step owns besides the fitted one. Its buffers are planned for the largest batch seen.
    ///
    /// # Errors
    /// A model not built, or inputs that do not fit it (named as `predict` names them).
    pub fn call_train(&mut self, xs: &[&Tensor]) -> Result<()> {
        self.load_for_step(xs, true)?;
        self.forward_pass(true);
        Ok(())
    }

    /// The forward pass in inference mode on inputs `xs` (a distillation's teacher).
    ///
    /// # Errors
    /// As [`Model::call_train`].
    pub fn call_inference(&mut self, xs: &[&Tensor]) -> Result<()> {
        self.load_for_step(xs, false)?;
        self.forward_pass(false);
        Ok(())
    }

    fn load_for_step(&mut self, xs: &[&Tensor], training: bool) -> Result<()> {
        self.require_built("call")?;
        let first = xs.first().ok_or_else(|| Error::Empty { what: "the inputs of a step's call".into() })?;
        self.check_inputs(xs, &|i, _| format!("input {i} of a step's call"))?;
        let n = first.batch();
        self.plan(n, training, None);
        let none: [&Tensor; 0] = [];
        self.bufs.copy_rows(xs, &none, None, 0, n);
        Ok(())
    }

    /// The backward pass from the outputs' gradients `grads` (one per output, each the
    /// output's shape, `∂loss/∂output` of the loss the step computed): every weight's
    /// gradient, weight penalties included; the inputs' too after
    /// [`Model::keep_input_gradients`]. After [`Model::call_batch`] or [`Model::call_train`].
    ///
    /// # Errors
    /// [`Error::Shape`] for a gradient that is not its output's shape.
    pub fn backward(&mut self, grads: &[&Tensor]) -> Result<()> {
        if grads.len() != self.graph.outputs.len() {
            return Err(Error::invalid(
                "grads",
                grads.len(),
                format!("one gradient per output ({})", self.graph.outputs.len()),
            ));
        }
        for (k, g) in grads.iter().enumerate() {
            let t = self.graph.outputs[k];
            let out = self.bufs.act(t);
            if g.shape() != out.shape() {
                return Err(Error::shape(
                    format!("the gradient of output {k}"),
                    format!("{:?}", out.shape()),
                    g.shape(),
                ));
            }
            self.bufs.grads[t].data_mut().copy_from_slice(g.data());
        }
        // The step's gradients are of the outputs themselves: a loss the compiled one fused
        // with the output's activation (softmax and cross-entropy) is unfused meanwhile, so the
        // layer takes the activation's own derivative.
        self.set_output_fusion(false);
        self.backward_pass(|_, _| {});
        self.set_output_fusion(true);
        for p in self.layers.iter_mut().filter(|l| l.trainable()).flat_map(|l| l.params_mut().iter_mut()) {
            if let Some(r) = p.regularizer {
                r.add_gradient(p.value.data(), p.grad.data_mut(), 1.0);
            }
        }
        Ok(())
    }

    /// Sets the output layers' fusion with the compiled loss back on (`on`, as compiled) or off.
    fn set_output_fusion(&mut self, on: bool) {
        let Some(c) = self.compiled.as_ref() else { return };
        for (k, &t) in self.graph.outputs.iter().enumerate() {
            if !c.fused[k] {
                continue;
            }
            if let Some(n) = self.graph.producer(t) {
                self.layers[self.graph.nodes[n].layer].fuse_output_activation(on);
            }
        }
    }

    /// Whether [`Model::backward`] also computes the gradients of the model's inputs (read with
    /// [`Model::input_gradient`]): a GAN's discriminator passes its input's gradient to the
    /// generator. Takes effect at the next call.
    pub fn keep_input_gradients(&mut self, keep: bool) {
        if self.graph.input_grads != keep {
            self.graph.input_grads = keep;
            self.graph.plan_gradients();
            self.bufs = Default::default();
        }
    }

    /// The gradient of input `i` from the last [`Model::backward`].
    ///
    /// # Errors
    /// [`Error::State`] when [`Model::keep_input_gradients`] is off.
    pub fn input_gradient(&self, i: usize) -> Result<&Tensor> {
        if !self.graph.input_grads {
            return Err(Error::State("input gradients are not kept: call keep_input_gradients(true) first".into()));
        }
        Ok(&self.bufs.grads[i])
    }

    /// The compiled optimizer's update from the gradients [`Model::backward`] left (Keras's
    /// `optimizer.apply(grads, trainable_weights)`).
    ///
    /// # Errors
    /// [`Error::State`] for a model not compiled.
    pub fn apply_gradients(&mut self) -> Result<()> {
        if self.compiled.is_none() {
            return Err(Error::State("apply_gradients on a model not compiled: compile it with its optimizer".into()));
        }
        self.apply_update();
        Ok(())
    }
}
