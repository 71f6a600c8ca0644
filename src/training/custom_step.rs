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
//!
//! Over several processes (see [`crate::distributed`]) each runs the step on its shard of the
//! batch; [`Model::apply_gradients`] averages each model's gradients over the processes,
//! weighted by their samples, and the reported values are averaged over every sample.

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
    /// This process's sums of each value over its samples, then its samples.
    sums: Vec<f64>,
    /// The sums over every process (over several; see [`crate::distributed`]).
    totals: Vec<f64>,
}

impl<'s> StepRun<'s> {
    pub fn new(step: &'s mut dyn TrainStep) -> Self {
        let n = step.log_names().len();
        StepRun { step, values: vec![0.0; n], sums: vec![0.0; n + 1], totals: vec![0.0; n + 1] }
    }

    /// A new epoch: the sums start again.
    pub fn begin_epoch(&mut self) {
        self.sums.fill(0.0);
    }

    /// One batch of `n` samples (this process's shard of it, over several): the step, its loss
    /// as a sum over the samples, its other values' means over the epoch so far, over every
    /// process's samples, into `logs`.
    pub fn run(&mut self, model: &mut Model, n: usize, logs: &mut crate::callbacks::Logs) -> Result<f64> {
        self.values.fill(f64::NAN);
        let loss = self.step.train_step(model, &mut self.values)?;
        let k = self.values.len();
        for (sum, v) in self.sums.iter_mut().zip(&self.values) {
            *sum += v * n as f64;
        }
        self.sums[k] += n as f64;
        let world = crate::distributed::world();
        if world.size() > 1 {
            world.all_reduce_f64(&self.sums, &mut self.totals);
        } else {
            self.totals.copy_from_slice(&self.sums);
        }
        for (name, total) in self.step.log_names().iter().zip(&self.totals) {
            logs.set(name, total / self.totals[k].max(1.0));
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
    /// `optimizer.apply(grads, trainable_weights)`); over several processes, from the
    /// gradients averaged over them first (every process calls it in the same order).
    ///
    /// # Errors
    /// [`Error::State`] for a model not compiled.
    pub fn apply_gradients(&mut self) -> Result<()> {
        if self.compiled.is_none() {
            return Err(Error::State("apply_gradients on a model not compiled: compile it with its optimizer".into()));
        }
        let world = crate::distributed::world();
        if world.size() > 1 {
            self.average_gradients(world.as_ref());
        }
        self.apply_update();
        Ok(())
    }

    /// Over several processes (see [`crate::distributed`]): every parameter's gradient becomes
    /// `Σᵣ nᵣ gᵣ / Σᵣ nᵣ` over the processes `r`, `nᵣ` the samples of each one's last batch
    /// through this model, so each applies the update one process would make from the whole
    /// batch, and they stay the same model.
    fn average_gradients(&mut self, comm: &dyn crate::distributed::Communicator) {
        let n = self.bufs.batch() as f32;
        let values: usize = self.layers.iter().flat_map(|l| l.params()).map(|p| p.grad.len()).sum();
        let reduce = &mut self.bufs.reduce;
        if reduce.len() < 2 * (values + 1) {
            reduce.resize(2 * (values + 1), 0.0);
        }
        let (send, recv) = reduce[..2 * (values + 1)].split_at_mut(values + 1);
        let mut at = 0;
        for p in self.layers.iter().flat_map(|l| l.params()) {
            send[at..at + p.grad.len()].iter_mut().zip(p.grad.data()).for_each(|(s, &g)| *s = n * g);
            at += p.grad.len();
        }
        send[values] = n;
        comm.all_reduce_f32(send, recv);
        let total = recv[values].max(1.0);
        let mut at = 0;
        for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
            let len = p.grad.len();
            p.grad.data_mut().iter_mut().zip(&recv[at..at + len]).for_each(|(g, &r)| *g = r / total);
            at += len;
        }
    }
}
