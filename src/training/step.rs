//! One step over the planned buffers: forward, loss, backward, update. Allocation-free.
//!
//! The model runs its graph (forward and backward, see `models/executor.rs`); the step puts
//! the loss between the two and the optimizer after, and over several processes sums the
//! gradients across them (see [`super::parallel`]).

use super::noise_scale::NoiseScale;
use super::Parallel;
use crate::layers::Layer;
use crate::losses;
use crate::models::{Buffers, Compiled, Graph, Model};
use crate::optimizers::base::apply_gradients;

impl Model {
    /// One training step on the batch in the input buffers, the targets (and weights):
    /// forward, loss, backward, then the optimizer (see [`crate::optimizers::base`]). Updates
    /// the compiled metrics and returns the batch's loss as a *sum* over samples,
    /// regularization included (each sample carrying the batch's penalty), so that epoch
    /// means are Keras's.
    /// With `noise`, the gradient noise scale probes the step (see `training/noise_scale.rs`).
    pub(crate) fn train_step(&mut self, mut noise: Option<&mut NoiseScale>) -> f64 {
        if let Some(noise) = noise.as_deref_mut() {
            noise.begin_step(&mut self.layers);
        }
        let loss = self.compute_gradients(None);
        if let Some(noise) = noise {
            noise.end_step(&mut self.layers);
        }
        self.apply_update();
        loss
    }

    /// One step of a global batch of `global` samples split over processes (see
    /// [`crate::distributed`]), this rank's shard of `local` samples in the buffers: its
    /// gradients, then their all-reduce weighted by `local / global`, then the same update as
    /// every rank's. Returns the shard's loss as a sum over its samples.
    /// With `noise`, the gradient noise scale probes this rank's shard.
    pub(crate) fn parallel_train_step(
        &mut self,
        parallel: &mut Parallel,
        (local, global): (usize, usize),
        mut noise: Option<&mut NoiseScale>,
    ) -> f64 {
        // The buckets' all-reduces start during backward (see training::parallel).
        parallel.begin_step(local as f32 / global as f32);
        let loss = if local > 0 {
            if let Some(noise) = noise.as_deref_mut() {
                noise.begin_step(&mut self.layers);
            }
            let loss = self.compute_gradients(Some(&mut *parallel));
            // The per-sample norms were taken in backward, before the buckets' all-reduce.
            if let Some(noise) = noise {
                noise.end_step(&mut self.layers);
            }
            loss
        } else {
            // A rank with nothing of a small last batch adds nothing, but takes part.
            for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
                p.grad.data_mut().fill(0.0);
            }
            0.0
        };
        parallel.finish(&mut self.layers);
        self.apply_update();
        loss
    }

    /// The optimizer's update from the gradients in the parameters.
    pub(crate) fn apply_update(&mut self) {
        let c = self.compiled.as_mut().expect("compiled");
        apply_gradients(c.optimizer.as_mut(), self.layers.as_mut_slice());
    }

    /// Forward, loss, metrics and backward over the batch in the buffers, weight penalties'
    /// gradients added: every parameter's gradient, no update. Returns the loss as
    /// [`Model::train_step`] does. Over several processes, `parallel` sends each layer's
    /// gradients as backward finishes them.
    fn compute_gradients(&mut self, mut parallel: Option<&mut Parallel>) -> f64 {
        // 1. forward, in training mode
        self.forward_pass(true);
        let c = self.compiled.as_mut().expect("compiled");
        let bufs = &mut self.bufs;
        let g = &self.graph;
        let n = bufs.batch();
        // 2. each output's loss and ∂loss/∂output
        let loss = output_losses(c, g, &self.layers, bufs, true);
        update_metrics(c, g, bufs);
        // 3. backward
        let add = parallel.is_none();
        let mut penalty = self.backward_pass(|layer, layers| {
            if let Some(p) = parallel.as_deref_mut() {
                p.layer_done(layer, layers);
            }
        });
        // 4. weight penalties (the update follows); over several processes their gradients
        // join each bucket as it starts (see training::parallel)
        // (a frozen layer's penalties leave the loss, as Keras counts the trainable weights')
        for p in self.layers.iter_mut().filter(|l| l.trainable()).flat_map(|l| l.params_mut().iter_mut()) {
            if let Some(r) = p.regularizer {
                penalty += r.penalty(p.value.data()) as f64;
                if add {
                    r.add_gradient(p.value.data(), p.grad.data_mut(), 1.0);
                }
            }
        }
        loss + penalty * n as f64
    }

    /// Forward in inference mode, then loss and metrics. Returns the batch's loss as a sum
    /// over samples, regularization included (Keras adds the layers' losses in evaluation too).
    pub(crate) fn test_step(&mut self) -> f64 {
        self.forward_pass(false);
        update_metrics(self.compiled.as_mut().expect("compiled"), &self.graph, &self.bufs);
        let n = self.bufs.batch();
        let mut penalty = 0.0f64;
        for i in 0..self.graph.nodes.len() {
            let layer = self.node_layer(i);
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(self.bufs.act(self.graph.inputs + i).data()) / n as f32) as f64;
            }
            penalty += layer.activity_penalty();
        }
        for p in self.layers.iter().filter(|l| l.trainable()).flat_map(|l| l.params()) {
            if let Some(r) = p.regularizer {
                penalty += r.penalty(p.value.data()) as f64;
            }
        }
        let c = self.compiled.as_mut().expect("compiled");
        output_losses(c, &self.graph, &self.layers, &mut self.bufs, false) + penalty * n as f64
    }
}

/// Feeds the batch to the metrics: each its output's, `metrics` unweighted, `weighted_metrics`
/// with the weights.
pub(crate) fn update_metrics(c: &mut Compiled, g: &Graph, bufs: &Buffers) {
    let weights = bufs.batch_weights();
    for (i, m) in c.metrics.iter_mut().enumerate() {
        let k = c.metric_output[i];
        m.update(bufs.act(g.outputs[k]), &bufs.targets[k], if c.weighted[i] { weights } else { None });
    }
}

/// The batch's total loss as a sum over samples (see [`losses`]): each output's loss times its
/// weight; with `gradients`, each output's gradient written into its gradient buffer. Each
/// output's own sum is added to the running `output_sums`. With a fused loss the value comes
/// from the logits behind the output activation, as Keras on TensorFlow takes it: kept by the
/// layer, or its input (an `Activation` layer).
fn output_losses(c: &mut Compiled, g: &Graph, layers: &[Box<dyn Layer>], bufs: &mut Buffers, gradients: bool) -> f64 {
    let n = bufs.batch();
    let weights = bufs.weighted.then(|| &bufs.weights[..n]);
    let mut total = 0.0;
    for (k, &t) in g.outputs.iter().enumerate() {
        let node = g.producer(t).expect("outputs are made by layers");
        let logits = c.fused[k].then(|| {
            let input = g.nodes[node].inputs[0];
            layers[g.nodes[node].layer].fused_logits().unwrap_or(bufs.acts[bufs.slot_of[input]].data())
        });
        let grad = gradients.then(|| bufs.grads[t].data_mut());
        let scale = c.loss_weights[k];
        let grad = match grad {
            Some(grad) if scale == 0.0 => {
                grad.fill(0.0);
                None
            }
            other => other,
        };
        let pred = &bufs.acts[bufs.slot_of[t]];
        let loss = losses::reduce(c.losses[k].as_ref(), pred, logits, &bufs.targets[k], weights, grad);
        if gradients && scale != 1.0 && scale != 0.0 {
            bufs.grads[t].data_mut().iter_mut().for_each(|v| *v *= scale);
        }
        c.output_sums[k] += loss;
        total += scale as f64 * loss;
    }
    c.seen += n;
    total
}
