//! The explicit memory of a model: one activation buffer per tensor of the graph, a gradient
//! buffer beside each, scratch buffers where gradients are added, and the batch's targets, all
//! sized for the largest batch planned.
//!
//! # Shapes (per planned batch size `b`)
//! - `acts[t]`: `[b, shape of tensor t…]` — for a model input, the batch gathered from the
//!   data; else the output of the node that writes it (see [`crate::models`]);
//! - `grads[t]`: like `acts[t]`, ∂loss/∂`acts[t]` (training only; empty for model inputs);
//! - `scratch[s]`: like the tensor it adds into (training only, where a tensor fans out);
//! - `targets[k]`: `[b, target…]` for output `k`;
//! - `masks[m]`: `[b, steps]`, a mask over time steps where the graph carries one;
//! - `weights`: `[b]`, the batch's sample weights, when the data has any;
//! - `reduce`: `[2 × (parameter values + 1)]`, over several processes, a custom training step's
//!   gradients and batch size, sent and summed (see `Model::apply_gradients`).
//!
//! Planning for a batch size no larger than the last plan keeps every buffer: the partial last
//! batch of an epoch, validation and prediction reuse the training buffers.
//!
//! # Reuse in inference
//! Training keeps every activation for backward. A model planned for inference only (a loaded
//! model predicting) shares buffers instead: an activation's buffer goes to a later tensor
//! once its last reader has run ([`crate::models`]' slot plan), so `acts` holds *slots* and
//! `slot_of[t]` says which holds tensor `t` (the identity in training). Model inputs and
//! outputs keep their own.

use super::SlotPlan;
use crate::tensor::Tensor;
use std::borrow::Borrow;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    capacity: usize,
    training: bool,
    /// Activation buffers, by slot (see the module docs).
    pub acts: Vec<Tensor>,
    /// Per tensor: the slot of `acts` that holds it.
    pub slot_of: Vec<usize>,
    /// Per node: the slots of its inputs.
    pub node_inputs: Vec<Vec<usize>>,
    pub grads: Vec<Tensor>,
    pub scratch: Vec<Tensor>,
    pub targets: Vec<Tensor>,
    /// Masks over time steps, `[b, steps]` each (see [`crate::layers::MaskRule`]).
    pub masks: Vec<Tensor>,
    /// The first tensors (model inputs) have no gradient buffer.
    no_grads: usize,
    /// The batch's sample weights (the first `batch` values), when `weighted`.
    pub weights: Vec<f32>,
    pub weighted: bool,
    /// A custom step's gradients sent and summed over processes (see the module docs).
    pub reduce: Vec<f32>,
}

impl Buffers {
    /// Makes room for `batch` samples of every tensor of `shapes`, with gradient buffers (but
    /// for the first `inputs`, the model inputs that need none) and `scratch` buffers when
    /// `training`, and targets of `target_shapes` when given; in inference only, activations
    /// as `reuse` plans them. Returns whether the buffers were made anew (then `node_inputs`
    /// must be set).
    #[allow(clippy::too_many_arguments)]
    pub fn plan(
        &mut self,
        shapes: &[Vec<usize>],
        inputs: usize,
        scratch: &[usize],
        mask_steps: &[usize],
        batch: usize,
        training: bool,
        target_shapes: Option<&[&[usize]]>,
        reuse: &dyn Fn() -> SlotPlan,
    ) -> bool {
        let grow = batch > self.capacity
            || self.slot_of.len() != shapes.len()
            || self.masks.len() != mask_steps.len()
            || (training && !self.training);
        if grow {
            let capacity = batch.max(self.capacity);
            let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
            let layout = if training || self.training { SlotPlan::identity(&sizes) } else { reuse() };
            self.acts = layout
                .fixed
                .iter()
                .zip(&layout.sizes)
                .map(|(fixed, &size)| match fixed {
                    Some(t) => Tensor::zeros_batch(capacity, &shapes[*t]),
                    None => Tensor::zeros_batch(capacity, &[size]),
                })
                .collect();
            self.slot_of = layout.slot_of;
            self.masks = mask_steps.iter().map(|&t| Tensor::zeros_batch(capacity, &[t])).collect();
            if training || self.training {
                self.grads = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| if i < inputs { Tensor::default() } else { Tensor::zeros_batch(capacity, s) })
                    .collect();
                self.scratch = scratch.iter().map(|&t| Tensor::zeros_batch(capacity, &shapes[t])).collect();
                self.no_grads = inputs;
            } else {
                self.grads = Vec::new();
                self.scratch = Vec::new();
            }
            self.training |= training;
            self.capacity = capacity;
            self.weights = vec![0.0; capacity];
        }
        if let Some(ts) = target_shapes {
            let fits =
                self.targets.len() == ts.len()
                    && self.targets.iter().zip(ts).all(|(t, s)| {
                        t.shape()[1..] == **s && t.capacity() >= self.capacity * s.iter().product::<usize>()
                    });
            if !fits {
                self.targets = ts.iter().map(|s| Tensor::zeros_batch(self.capacity, s)).collect();
            }
        }
        grow
    }

    /// The activation of tensor `t`.
    pub fn act(&self, t: usize) -> &Tensor {
        &self.acts[self.slot_of[t]]
    }

    /// The largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets every buffer's batch dimension to `batch` (no allocation within the plan).
    pub fn set_batch(&mut self, batch: usize) {
        debug_assert!(batch <= self.capacity, "batch {batch} exceeds the planned {}", self.capacity);
        let grads = self.grads.iter_mut().skip(self.no_grads);
        let all = self.acts.iter_mut().chain(grads).chain(self.scratch.iter_mut());
        for t in all.chain(self.targets.iter_mut()).chain(self.masks.iter_mut()) {
            t.set_batch(batch);
        }
    }

    /// The number of samples in the current batch.
    pub fn batch(&self) -> usize {
        self.acts[0].batch()
    }

    /// The current batch's sample weights, if the data has any.
    pub fn batch_weights(&self) -> Option<&[f32]> {
        self.weighted.then(|| &self.weights[..self.batch()])
    }

    /// Makes samples `rows` of every input `xs`, target `ys` (and of the weights `w`) the batch.
    pub fn gather(&mut self, xs: &[&Tensor], ys: &[&Tensor], w: Option<&[f32]>, rows: &[usize]) {
        self.set_batch(rows.len());
        for (dst, x) in self.acts.iter_mut().zip(xs) {
            dst.gather_rows(x, rows);
        }
        for (dst, y) in self.targets.iter_mut().zip(ys) {
            dst.gather_rows(y, rows);
        }
        self.weighted = w.is_some();
        if let Some(w) = w {
            for (dst, &r) in self.weights.iter_mut().zip(rows) {
                *dst = w[r];
            }
        }
    }

    /// Makes a dataset's batch's inputs the batch (for prediction).
    pub fn load_inputs(&mut self, batch: &crate::data::Batch) {
        self.set_batch(batch.len());
        for (dst, x) in self.acts.iter_mut().zip(batch.xs()) {
            dst.data_mut().copy_from_slice(x.data());
        }
    }

    /// Makes rows `lo..hi` of every input `xs`, target `ys` (and of the weights `w`) the batch:
    /// of arrays, or of a dataset's batch (a process's shard of it when several train together).
    pub fn copy_rows<X: Borrow<Tensor>, Y: Borrow<Tensor>>(
        &mut self,
        xs: &[X],
        ys: &[Y],
        w: Option<&[f32]>,
        lo: usize,
        hi: usize,
    ) {
        self.set_batch(hi - lo);
        for (dst, x) in self.acts.iter_mut().zip(xs) {
            let x = x.borrow();
            let n = x.row_len();
            dst.data_mut().copy_from_slice(&x.data()[lo * n..hi * n]);
        }
        for (dst, y) in self.targets.iter_mut().zip(ys) {
            let y = y.borrow();
            let m = y.row_len();
            dst.data_mut().copy_from_slice(&y.data()[lo * m..hi * m]);
        }
        self.weighted = w.is_some();
        if let Some(w) = w {
            self.weights[..hi - lo].copy_from_slice(&w[lo..hi]);
        }
    }

    /// Bytes reserved by the planned buffers.
    pub fn bytes(&self) -> usize {
        let all = self.acts.iter().chain(&self.grads).chain(&self.scratch).chain(&self.targets).chain(&self.masks);
        all.map(|t| t.capacity() * 4).sum::<usize>() + self.weights.capacity() * 4
    }
}

impl crate::models::Model {
    /// Plans the model's buffers and every layer's workspaces for batches of `batch`, with
    /// targets of `target_shapes` (one per output) when given.
    pub(crate) fn plan(&mut self, batch: usize, training: bool, target_shapes: Option<&[&[usize]]>) {
        let g = &self.graph;
        let (layers, shapes) = (&self.layers, &self.shapes);
        let reuse = || slot_plan(layers, g, shapes);
        // Model inputs get gradient buffers only when the model is a layer of another.
        let without = if g.input_grads { 0 } else { g.inputs };
        let grew =
            self.bufs.plan(&self.shapes, without, &g.scratch, &g.mask_steps, batch, training, target_shapes, &reuse);
        if grew {
            let slot_of = &self.bufs.slot_of;
            self.bufs.node_inputs = g.nodes.iter().map(|n| n.inputs.iter().map(|&t| slot_of[t]).collect()).collect();
        }
        let capacity = self.bufs.capacity();
        for layer in self.layers.iter_mut().chain(self.replicas.iter_mut().map(|(_, l)| l)) {
            layer.plan(capacity);
        }
    }
}

impl crate::models::Model {
    /// The inference buffer plan (see [`slot_plan`]).
    pub(crate) fn slot_plan(&self) -> SlotPlan {
        slot_plan(&self.layers, &self.graph, &self.shapes)
    }
}

/// The inference buffer plan: activations share buffers once read for the last time, except
/// what is read after the forward pass (the inputs of the output layers, whose logits a fused
/// loss takes) and, with an activity penalty anywhere, everything (the penalties read every
/// output after the pass).
fn slot_plan(
    layers: &[Box<dyn crate::layers::Layer>],
    graph: &crate::models::Graph,
    shapes: &[Vec<usize>],
) -> SlotPlan {
    let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
    let mut pinned = vec![false; sizes.len()];
    if layers.iter().any(|l| l.activity_regularizer().is_some()) {
        pinned.fill(true);
    }
    for &o in &graph.outputs {
        if let Some(n) = graph.producer(o) {
            for &t in &graph.nodes[n].inputs {
                pinned[t] = true;
            }
        }
    }
    graph.plan_slots(&sizes, &pinned)
}
