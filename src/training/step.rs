//! One pass over the planned buffers: forward, loss, backward, update. Allocation-free.
//!
//! The nodes of the graph (see [`crate::models`]) run forward in topological order, each
//! reading its inputs' buffers and writing its own; backward runs them in reverse, adding the
//! gradients of a tensor that fans out as the graph planned.

use crate::layers::{GradSlot, InputGrads, Inputs, Layer};
use crate::losses;
use crate::models::{Compiled, Graph, Model};
use crate::optimizers::base::apply_gradients;
use crate::training::Buffers;

impl Model {
    /// Tells every layer (a shared layer's later calls too) the global position of the
    /// batch's first sample (see [`Layer::set_sample_offset`]).
    pub(crate) fn set_layers_sample_offset(&mut self, offset: usize) {
        self.sample_offset = offset;
        let replicas = self.replicas.iter_mut().map(|(_, r)| r);
        for layer in self.layers.iter_mut().chain(replicas) {
            layer.set_sample_offset(offset);
        }
    }

    /// Runs every node forward over `acts`.
    pub(crate) fn forward_pass(&mut self, training: bool) {
        self.sync_replicas(training);
        let bufs = &mut self.bufs;
        let (acts, masks) = (&mut bufs.acts, &mut bufs.masks);
        let batch = acts[0].batch();
        for (i, node) in self.graph.nodes.iter().enumerate() {
            if let Some((k, of)) = &node.mask_or {
                or_masks(masks, *k, of);
            }
            let t = self.graph.inputs + i;
            // The output's buffer, lent out while the layer reads the others (moving a Tensor
            // allocates nothing); in inference it may have held another tensor before.
            let slot = bufs.slot_of[t];
            let mut y = std::mem::take(&mut acts[slot]);
            y.set_shape_within(batch, &self.shapes[t]);
            let layer = match node.replica {
                None => &mut self.layers[node.layer],
                Some(r) => &mut self.replicas[r].1,
            };
            let ins = &bufs.node_inputs[i];
            let xs = Inputs::new(acts, ins).with_mask(node.mask_in.map(|m| &masks[m]));
            layer.forward_many(xs, &mut y, training);
            if let Some(k) = node.mask_out {
                layer.compute_mask(&acts[ins[0]], &mut masks[k]);
            }
            acts[slot] = y;
        }
    }

    /// Gives every replica (a shared layer's later call) its layer's current weights, and in
    /// inference its state too (BatchNormalization's moving statistics: those of the first
    /// call, which a saved model keeps; a stateless layer's empty list allocates nothing).
    fn sync_replicas(&mut self, training: bool) {
        for (li, replica) in &mut self.replicas {
            let layer = &self.layers[*li];
            for (dst, src) in replica.params_mut().iter_mut().zip(layer.params()) {
                dst.value.data_mut().copy_from_slice(src.value.data());
            }
            if !training {
                for (name, value) in layer.state() {
                    // The replica is the same class built for the same shapes: it has the variable.
                    let _ = replica.set_state(name, &value);
                }
            }
        }
    }

    /// One training step on the batch in the input buffers, the targets (and weights):
    /// forward, loss, backward, then the optimizer (see [`crate::optimizers::base`]). Updates
    /// the compiled metrics and returns the batch's loss as a *sum* over samples,
    /// regularization included (each sample carrying the batch's penalty), so that epoch
    /// means are Keras's.
    pub(crate) fn train_step(&mut self) -> f64 {
        let loss = self.compute_gradients();
        self.apply_update();
        loss
    }

    /// One step of a global batch of `global` samples split over processes (see
    /// [`crate::distributed`]), this rank's shard of `local` samples in the buffers: its
    /// gradients, then their all-reduce weighted by `local / global`, then the same update as
    /// every rank's. Returns the shard's loss as a sum over its samples.
    pub(crate) fn parallel_train_step(&mut self, local: usize, global: usize) -> f64 {
        // The buckets' all-reduces start during backward (see training::parallel).
        self.parallel.as_deref_mut().expect("planned").begin_step(local as f32 / global as f32);
        let loss = if local > 0 {
            self.compute_gradients()
        } else {
            // A rank with nothing of a small last batch adds nothing, but takes part.
            for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
                p.grad.data_mut().fill(0.0);
            }
            0.0
        };
        let parallel = self.parallel.as_deref_mut().expect("a parallel step plans its buffers first");
        parallel.finish(&mut self.layers);
        self.apply_update();
        loss
    }

    /// The optimizer's update from the gradients in the parameters.
    fn apply_update(&mut self) {
        let c = self.compiled.as_mut().expect("compiled");
        apply_gradients(c.optimizer.as_mut(), self.layers.as_mut_slice());
    }

    /// Forward, loss, metrics and backward over the batch in the buffers, weight penalties'
    /// gradients added: every parameter's gradient, no update. Returns the loss as
    /// [`Model::train_step`] does.
    fn compute_gradients(&mut self) -> f64 {
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
        let mut penalty = self.backward_pass();
        // 4. weight penalties (the update follows); over several processes their gradients
        // join each bucket as it starts (see training::parallel)
        let add = self.parallel.is_none();
        for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
            if let Some(r) = p.regularizer {
                penalty += r.penalty(p.value.data()) as f64;
                if add {
                    r.add_gradient(p.value.data(), p.grad.data_mut(), 1.0);
                }
            }
        }
        loss + penalty * n as f64
    }

    /// Backward from the output gradients in `grads`, last node first, with activity penalties
    /// added to each output's gradient; then the shared layers' replicas' parameter gradients
    /// summed into their layers'. Returns the activity penalties' value (per sample).
    pub(crate) fn backward_pass(&mut self) -> f64 {
        let bufs = &mut self.bufs;
        let g = &self.graph;
        let n = bufs.batch();
        let mut penalty = 0.0f64;
        for (i, node) in g.nodes.iter().enumerate().rev() {
            let t = g.inputs + i;
            let (before, after) = bufs.grads.split_at_mut(t);
            let (acts, y) = (&bufs.acts[..t], &bufs.acts[t]);
            let layer = match node.replica {
                None => &mut self.layers[node.layer],
                Some(r) => &mut self.replicas[r].1,
            };
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(y.data()) / n as f32) as f64;
                r.add_gradient(y.data(), after[0].data_mut(), 1.0 / n as f32);
            }
            let dxs = InputGrads::new(before, &mut bufs.scratch, &node.grads);
            let xs = Inputs::new(acts, &node.inputs).with_mask(node.mask_in.map(|m| &bufs.masks[m]));
            layer.backward_many(xs, y, &mut after[0], dxs);
            penalty += layer.activity_penalty();
            for slot in &node.grads {
                if let GradSlot::Add { scratch, into } = *slot {
                    add_into(bufs.grads[into].data_mut(), bufs.scratch[scratch].data());
                }
            }
            // Over several processes: this layer's gradients may complete a bucket to send.
            if let (Some(parallel), None) = (self.parallel.as_deref_mut(), node.replica) {
                parallel.layer_done(node.layer, &mut self.layers);
            }
        }
        // Shared layers: their replicas' gradients summed into theirs.
        for (li, replica) in &self.replicas {
            for (dst, src) in self.layers[*li].params_mut().iter_mut().zip(replica.params()) {
                add_into(dst.grad.data_mut(), src.grad.data());
            }
        }
        penalty
    }

    /// Forward in inference mode, then loss and metrics. Returns the batch's loss as a sum
    /// over samples, regularization included (Keras adds the layers' losses in evaluation too).
    pub(crate) fn test_step(&mut self) -> f64 {
        self.forward_pass(false);
        let c = self.compiled.as_mut().expect("compiled");
        let g = &self.graph;
        update_metrics(c, g, &self.bufs);
        let n = self.bufs.batch();
        let mut penalty = 0.0f64;
        for (i, node) in g.nodes.iter().enumerate() {
            let layer = match node.replica {
                None => &self.layers[node.layer],
                Some(r) => &self.replicas[r].1,
            };
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(self.bufs.act(g.inputs + i).data()) / n as f32) as f64;
            }
            penalty += layer.activity_penalty();
        }
        for p in self.layers.iter().flat_map(|l| l.params()) {
            if let Some(r) = p.regularizer {
                penalty += r.penalty(p.value.data()) as f64;
            }
        }
        output_losses(c, g, &self.layers, &mut self.bufs, false) + penalty * n as f64
    }
}

/// `masks[k] = max masks[of]`: a step is used where any input uses it (Keras's merges).
fn or_masks(masks: &mut [crate::tensor::Tensor], k: usize, of: &[usize]) {
    let (head, tail) = masks.split_at_mut(k);
    let out = tail[0].data_mut();
    out.fill(0.0);
    for &m in of {
        out.iter_mut().zip(head[m].data()).for_each(|(o, &v)| *o = o.max(v));
    }
}

fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Feeds the batch to the metrics: each its output's, `metrics` unweighted, `weighted_metrics`
/// with the weights.
fn update_metrics(c: &mut Compiled, g: &Graph, bufs: &Buffers) {
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
