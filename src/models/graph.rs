//! The model graph: each call of a layer is a node that reads tensors and writes one.
//!
//! Tensors are numbered: `0..inputs` are the model's inputs, and node `i` writes tensor
//! `inputs + i`. Nodes are kept in topological order, so a node reads only tensors with
//! smaller numbers than the one it writes, and the model's buffers are indexed by tensor
//! number: `acts[t]`, `grads[t]`. A [`Sequential`](crate::Sequential) model is the chain
//! where node `i` reads tensor `i`.
//!
//! Backward runs the nodes in reverse. Where a tensor has several readers (or is a model
//! output and also read), its gradient is the sum of their contributions: the first reader to
//! run backward writes the gradient buffer, the later ones write a scratch buffer that is then
//! added in. Which is which is fixed once per graph ([`Graph::plan_gradients`]), so a step
//! makes no decisions and allocates nothing.

use crate::layers::{GradSlot, MaskRule};

/// One call of a layer.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The layer, by index into the model's layers.
    pub layer: usize,
    /// For a layer's second and later calls: the replica that runs this one (see
    /// [`crate::layers`]).
    pub replica: Option<usize>,
    /// The tensors read, in call order.
    pub inputs: Vec<usize>,
    /// Where each input's gradient goes.
    pub grads: Vec<GradSlot>,
    /// The mask buffer the layer sees on its first input, if any (see [`Graph::plan_masks`]).
    pub mask_in: Option<usize>,
    /// A mask buffer to fill when the layer runs: the OR of these masks of its inputs (a
    /// merge's output mask, as Keras's).
    pub mask_or: Option<(usize, Vec<usize>)>,
    /// A mask buffer the layer fills from its input after running ([`MaskRule::Produce`]).
    pub mask_out: Option<usize>,
    /// The mask buffer of each input, in call order (attention reads its query's and its
    /// value's).
    pub input_masks: Vec<Option<usize>>,
}

impl Node {
    /// A call of layer `layer` on tensors `inputs`, not yet planned.
    pub fn new(layer: usize, inputs: Vec<usize>) -> Self {
        Node {
            layer,
            replica: None,
            inputs,
            grads: Vec::new(),
            mask_in: None,
            mask_or: None,
            mask_out: None,
            input_masks: Vec::new(),
        }
    }
}

/// See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// The number of model inputs (tensors `0..inputs`).
    pub inputs: usize,
    /// The calls, in topological order.
    pub nodes: Vec<Node>,
    /// The model's outputs, by tensor.
    pub outputs: Vec<usize>,
    /// One entry per scratch gradient buffer: the tensor whose shape it has.
    pub scratch: Vec<usize>,
    /// One entry per mask buffer: its number of time steps.
    pub mask_steps: Vec<usize>,
    /// Whether backward computes the model inputs' gradients (a model used as a layer).
    pub input_grads: bool,
}

impl Graph {
    /// The chain of a Sequential model with `layers` layers.
    pub fn chain(layers: usize) -> Self {
        let nodes = (0..layers).map(|i| Node::new(i, vec![i])).collect();
        let mut g = Graph { inputs: 1, nodes, outputs: vec![layers], ..Graph::default() };
        g.plan_gradients();
        g
    }

    /// The node that writes tensor `t` (`None` for a model input).
    pub fn producer(&self, t: usize) -> Option<usize> {
        t.checked_sub(self.inputs)
    }

    /// The nodes that read tensor `t`, in order.
    pub fn readers(&self, t: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().enumerate().filter(move |(_, n)| n.inputs.contains(&t)).map(|(i, _)| i)
    }

    /// Decides, for every input of every node, where its gradient goes (see the module docs).
    pub fn plan_gradients(&mut self) {
        let Graph { inputs, nodes, outputs, scratch, input_grads, .. } = self;
        let mut written = vec![false; *inputs + nodes.len()];
        for &o in outputs.iter() {
            written[o] = true;
        }
        scratch.clear();
        for node in nodes.iter_mut().rev() {
            node.grads = node
                .inputs
                .iter()
                .map(|&t| {
                    if t < *inputs && !*input_grads {
                        GradSlot::None
                    } else if !written[t] {
                        written[t] = true;
                        GradSlot::Write(t)
                    } else {
                        scratch.push(t);
                        GradSlot::Add { scratch: scratch.len() - 1, into: t }
                    }
                })
                .collect();
        }
    }
}

/// Where each tensor lives when buffers are reused in inference (see [`Graph::plan_slots`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotPlan {
    /// Per tensor: its buffer.
    pub slot_of: Vec<usize>,
    /// Per buffer: values per sample (the largest tensor it holds).
    pub sizes: Vec<usize>,
    /// Per buffer: the one tensor it holds for good (model inputs and outputs), if any.
    pub fixed: Vec<Option<usize>>,
}

impl SlotPlan {
    /// One buffer per tensor (training keeps every activation for backward).
    pub fn identity(sizes: &[usize]) -> Self {
        SlotPlan {
            slot_of: (0..sizes.len()).collect(),
            sizes: sizes.to_vec(),
            fixed: (0..sizes.len()).map(Some).collect(),
        }
    }

    /// Values per sample over all buffers.
    pub fn total(&self) -> usize {
        self.sizes.iter().sum()
    }
}

impl Graph {
    /// Buffers for inference, where an activation is not needed once its last reader has run:
    /// each tensor gets a free buffer (the smallest that holds it, else the largest, grown),
    /// and gives it back after its last reader. Model inputs and outputs and the tensors in
    /// `pinned` keep theirs. `sizes` are values per sample, by tensor.
    pub fn plan_slots(&self, sizes: &[usize], pinned: &[bool]) -> SlotPlan {
        let n = sizes.len();
        let mut last_read: Vec<Option<usize>> = vec![None; n];
        for (i, node) in self.nodes.iter().enumerate() {
            for &t in &node.inputs {
                last_read[t] = Some(i);
            }
        }
        let keep = |t: usize| t < self.inputs || self.outputs.contains(&t) || pinned[t];
        let mut plan = SlotPlan { slot_of: vec![usize::MAX; n], sizes: Vec::new(), fixed: Vec::new() };
        let mut free: Vec<usize> = Vec::new();
        let place = |t: usize, plan: &mut SlotPlan, free: &mut Vec<usize>| {
            let fits = free.iter().copied().filter(|&s| plan.sizes[s] >= sizes[t]).min_by_key(|&s| plan.sizes[s]);
            let slot = match (keep(t), fits, free.iter().copied().max_by_key(|&s| plan.sizes[s])) {
                (false, Some(s), _) => s,
                (false, None, Some(s)) => {
                    plan.sizes[s] = sizes[t];
                    s
                }
                _ => {
                    plan.sizes.push(sizes[t]);
                    plan.fixed.push(None);
                    plan.sizes.len() - 1
                }
            };
            free.retain(|&s| s != slot);
            if keep(t) {
                plan.fixed[slot] = Some(t);
            }
            plan.slot_of[t] = slot;
        };
        for t in 0..self.inputs {
            place(t, &mut plan, &mut free);
        }
        for (i, node) in self.nodes.iter().enumerate() {
            place(self.inputs + i, &mut plan, &mut free);
            for &t in &node.inputs {
                let slot = plan.slot_of[t];
                if last_read[t] == Some(i) && !keep(t) && !free.contains(&slot) {
                    free.push(slot);
                }
            }
        }
        plan
    }

    /// Decides where masks are made, combined and seen, from each node's layer's rule and the
    /// tensors' per-sample shapes (a mask follows a tensor while its first axis, time, stays).
    ///
    /// # Errors
    /// A mask reaching a layer that would need it and does not apply it yet, or a model
    /// output carrying one (its loss would have to weigh the steps), naming the layer.
    pub fn plan_masks(
        &mut self,
        rules: &[MaskRule],
        shapes: &[Vec<usize>],
        name: &dyn Fn(usize) -> String,
    ) -> crate::Result<()> {
        let inputs = self.inputs;
        let mut mask_of: Vec<Option<usize>> = vec![None; shapes.len()];
        self.mask_steps.clear();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let t = inputs + i;
            // The layer sees its first input's mask (Keras passes the others to merges only,
            // which do not use them).
            node.mask_in = mask_of[node.inputs[0]];
            node.input_masks = node.inputs.iter().map(|&x| mask_of[x]).collect();
            node.mask_or = None;
            node.mask_out = None;
            let mut seen: Vec<usize> = node.inputs.iter().filter_map(|&x| mask_of[x]).collect();
            let all_masked = seen.len() == node.inputs.len();
            seen.sort_unstable();
            seen.dedup();
            // A merge's output is masked where any input is used, when every input has a mask.
            let merged = match (node.inputs.len(), all_masked, seen.len()) {
                (1, _, _) => node.mask_in,
                (_, false, _) => None,
                (_, true, 1) => Some(seen[0]),
                _ => {
                    self.mask_steps.push(self.mask_steps[seen[0]]);
                    let k = self.mask_steps.len() - 1;
                    node.mask_or = Some((k, seen));
                    Some(k)
                }
            };
            let first = &shapes[node.inputs[0]];
            let keeps_time = shapes[t].len() >= 2 && first.len() >= 2 && shapes[t][0] == first[0];
            mask_of[t] = match rules[i] {
                MaskRule::Drop => None,
                MaskRule::Pass => merged.filter(|_| keeps_time),
                MaskRule::First => node.mask_in.filter(|_| keeps_time),
                MaskRule::Produce => {
                    self.mask_steps.push(shapes[t].first().copied().unwrap_or(1));
                    node.mask_out = Some(self.mask_steps.len() - 1);
                    node.mask_out
                }
                MaskRule::Unsupported => {
                    if node.mask_in.is_some() {
                        return Err(crate::Error::State(format!(
                            "layer {} receives a mask (from an Embedding with mask_zero, or Masking), which Keras \
                             would apply there and minibatch does not yet: remove the mask or the layer",
                            name(i)
                        )));
                    }
                    None
                }
            };
        }
        for &o in &self.outputs {
            if mask_of[o].is_some() {
                let node = self.producer(o).expect("outputs are made by layers");
                return Err(crate::Error::State(format!(
                    "the model's output (layer {}) carries a mask: Keras would weigh the loss's time steps by \
                     it, which minibatch does not yet; end the masked part with a layer that drops the mask \
                     (a recurrent layer without return_sequences, global pooling)",
                    name(node)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_gradients_skip_the_input() {
        let g = Graph::chain(3);
        assert_eq!(g.nodes[0].grads, vec![GradSlot::None]);
        assert_eq!(g.nodes[1].grads, vec![GradSlot::Write(1)]);
        assert_eq!(g.nodes[2].grads, vec![GradSlot::Write(2)]);
        assert!(g.scratch.is_empty());
    }

    #[test]
    fn fan_out_accumulates() {
        // x -> a; a -> b; (a, b) -> c: a is read twice.
        let mut g = Graph {
            inputs: 1,
            nodes: vec![Node::new(0, vec![0]), Node::new(1, vec![1]), Node::new(2, vec![1, 2])],
            outputs: vec![3],
            ..Graph::default()
        };
        g.plan_gradients();
        // c runs backward first: it writes a's and b's gradients; b then adds into a's.
        assert_eq!(g.nodes[2].grads, vec![GradSlot::Write(1), GradSlot::Write(2)]);
        assert_eq!(g.nodes[1].grads, vec![GradSlot::Add { scratch: 0, into: 1 }]);
        assert_eq!(g.scratch, vec![1]);
        // Inference: x and c keep theirs; a is freed after c reads it, b after c too.
        let plan = g.plan_slots(&[2, 4, 4, 1], &[false; 4]);
        assert_eq!(plan.total(), 2 + 4 + 4 + 1);
    }

    #[test]
    fn a_chain_reuses_two_buffers() {
        let g = Graph::chain(4);
        // x → a → b → c → y: a is free once b is made, so c takes a's buffer.
        let plan = g.plan_slots(&[3, 8, 8, 8, 2], &[false; 5]);
        assert_eq!(plan.slot_of[3], plan.slot_of[1]);
        assert_eq!(plan.total(), 3 + 8 + 8 + 2);
    }
}
