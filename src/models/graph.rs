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

use crate::layers::GradSlot;

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
}

impl Graph {
    /// The chain of a Sequential model with `layers` layers.
    pub fn chain(layers: usize) -> Self {
        let nodes = (0..layers).map(|i| Node { layer: i, replica: None, inputs: vec![i], grads: Vec::new() }).collect();
        let mut g = Graph { inputs: 1, nodes, outputs: vec![layers], scratch: Vec::new() };
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
        let Graph { inputs, nodes, outputs, scratch } = self;
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
                    if t < *inputs {
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
            nodes: vec![
                Node { layer: 0, replica: None, inputs: vec![0], grads: vec![] },
                Node { layer: 1, replica: None, inputs: vec![1], grads: vec![] },
                Node { layer: 2, replica: None, inputs: vec![1, 2], grads: vec![] },
            ],
            outputs: vec![3],
            scratch: vec![],
        };
        g.plan_gradients();
        // c runs backward first: it writes a's and b's gradients; b then adds into a's.
        assert_eq!(g.nodes[2].grads, vec![GradSlot::Write(1), GradSlot::Write(2)]);
        assert_eq!(g.nodes[1].grads, vec![GradSlot::Add { scratch: 0, into: 1 }]);
        assert_eq!(g.scratch, vec![1]);
    }
}
