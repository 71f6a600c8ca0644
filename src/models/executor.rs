//! The graph executor: every node forward in topological order, each reading its inputs'
//! buffers and writing its own; backward in reverse, adding the gradients of a tensor that
//! fans out as the graph planned (see [`super::graph`]). Allocation-free: it runs over the
//! buffers the model planned (see [`super::buffers`]).
//!
//! Training's step ([`crate::training`]) puts a loss between the two; a model used as a layer
//! of another ([`super::nested`]) runs them as its forward and backward.

use super::Model;
use crate::layers::{GradSlot, InputGrads, Inputs, Layer};
use crate::tensor::bf16;

impl Model {
    /// Tells every layer (a shared layer's later calls too) the global position of the
    /// batch's first sample (see [`Layer::set_sample_offset`]).
    pub(crate) fn set_layers_sample_offset(&mut self, offset: usize) {
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
            let xs = Inputs::new(acts, ins)
                .with_mask(node.mask_in.map(|m| &masks[m]))
                .with_input_masks(masks, &node.input_masks);
            layer.forward_many(xs, &mut y, training);
            // A bf16 layer's output is a bf16 tensor, except the model's outputs (f32).
            if layer.core().policy().computes_in_bf16() && !self.graph.outputs.contains(&t) {
                bf16::round_in_place(y.data_mut());
            }
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

    /// Backward from the output gradients in `grads`, last node first, with activity penalties
    /// added to each output's gradient; then the shared layers' replicas' parameter gradients
    /// summed into their layers'. Returns the activity penalties' value (per sample).
    ///
    /// `layer_done(l, layers)` runs once layer `l`'s first call has its gradients (over
    /// several processes, training's data parallelism starts sending them then; see
    /// `training::parallel`). A layer called more than once gets its replicas' gradients only
    /// after the loop.
    pub(crate) fn backward_pass(&mut self, mut layer_done: impl FnMut(usize, &mut [Box<dyn Layer>])) -> f64 {
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
            // The gradient of a bf16 tensor is bf16 (Keras's, under `mixed_bfloat16`).
            let bf16 = layer.core().policy().computes_in_bf16();
            if bf16 && !g.outputs.contains(&t) {
                bf16::round_in_place(after[0].data_mut());
            }
            let dxs = InputGrads::new(before, &mut bufs.scratch, &node.grads);
            let xs = Inputs::new(acts, &node.inputs).with_mask(node.mask_in.map(|m| &bufs.masks[m]));
            layer.backward_many(xs, y, &mut after[0], dxs);
            if bf16 {
                // Its weights were used as bf16: their gradients are bf16 values (cast to f32
                // for the update, as Keras's are).
                for p in layer.params_mut() {
                    bf16::round_in_place(p.grad.data_mut());
                }
            }
            penalty += layer.activity_penalty();
            for slot in &node.grads {
                if let GradSlot::Add { scratch, into } = *slot {
                    add_into(bufs.grads[into].data_mut(), bufs.scratch[scratch].data());
                }
            }
            if node.replica.is_none() {
                layer_done(node.layer, &mut self.layers);
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
