//! The buffer plan of a recording: values, and gradients, whose lifetimes do not overlap share
//! a buffer (a *slot*).
//!
//! - A value lives from its op to its last reader in the forward pass, or to the end of the
//!   step when the backward pass reads it (its op's gradient reads its result; a reader's
//!   gradient reads its operands). A recording run forward only (inference) keeps nothing.
//! - A gradient lives in the backward pass from its first contribution (the backward of its
//!   last reader that passes it one) to the backward of its own op. An `add`'s operand of the
//!   sum's shape whose first contribution is the sum's gradient itself takes the sum's slot:
//!   no copy, no second buffer.
//!
//! Slots are handed out greedily in the order each pass runs. The result, the inputs and the
//! weights keep slots of their own (the caller lends its buffers for them), as do values with
//! no buffer (inputs, weights, constants, values the result does not depend on: [`NONE`]).

use super::{Binary, Graph, Node, Op, Var};

/// No buffer.
pub(crate) const NONE: usize = usize::MAX;

/// Which slot holds each value and each gradient, and which operand of each op takes over its
/// gradient's slot.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    /// Per value: its slot among the value buffers, or [`NONE`].
    pub value: Vec<usize>,
    /// How many value slots.
    pub values: usize,
    /// Per value: its gradient's slot among the gradient buffers, or [`NONE`].
    pub grad: Vec<usize>,
    /// How many gradient slots.
    pub grads: usize,
    /// Per op: the operand (by position) whose gradient is the op's own, in the same slot.
    pub through: Vec<Option<usize>>,
}

impl Slots {
    /// The plan for `graph` with result `output`, for a recording that runs backward or not.
    pub fn plan(graph: &Graph, output: Var, live: &[bool], backward: bool) -> Slots {
        let nodes = &graph.nodes;
        let o = output.0;
        let leaf = |n: &Node| matches!(n.op, Op::Input(_) | Op::Weight(_) | Op::Constant);
        let reached = if backward { reached(nodes, o) } else { vec![false; nodes.len()] };
        // Values: the result and those the backward pass reads keep their slots.
        let mut kept = vec![false; nodes.len()];
        kept[o] = true;
        for (v, n) in nodes.iter().enumerate() {
            if reached[v] && !leaf(n) {
                kept[v] = true;
                n.inputs.iter().for_each(|u| kept[u.0] = true);
            }
        }
        let mut last_reader = vec![0usize; nodes.len()];
        for (v, n) in nodes.iter().enumerate().filter(|(v, _)| live[*v]) {
            n.inputs.iter().for_each(|u| last_reader[u.0] = v);
        }
        let mut value = vec![NONE; nodes.len()];
        let mut pool = Pool::default();
        for (v, n) in nodes.iter().enumerate() {
            if leaf(n) || !live[v] {
                continue;
            }
            value[v] = if kept[v] { pool.own() } else { pool.take() };
            for (k, u) in n.inputs.iter().enumerate() {
                let first = n.inputs[..k].iter().all(|w| w != u);
                if first && !kept[u.0] && value[u.0] != NONE && last_reader[u.0] == v {
                    pool.give(value[u.0]);
                }
            }
        }
        let values = pool.count;
        // Gradients: the lent ones (the result's, the inputs', the weights') have their own;
        // the others are handed out in the backward pass's order.
        let mut born = vec![NONE; nodes.len()];
        for (r, n) in nodes.iter().enumerate().rev() {
            if !reached[r] || leaf(n) {
                continue;
            }
            for (which, u) in n.inputs.iter().enumerate() {
                if nodes[u.0].needs_grad && n.op.passes_gradient(which) && born[u.0] == NONE {
                    born[u.0] = r;
                }
            }
        }
        let mut grad = vec![NONE; nodes.len()];
        let mut through = vec![None; nodes.len()];
        let mut pool = Pool::default();
        for (v, n) in nodes.iter().enumerate().filter(|_| backward) {
            let lent = matches!(n.op, Op::Input(_) | Op::Weight(_)) && live[v] && n.needs_grad;
            if v == o || lent {
                grad[v] = pool.own();
            }
        }
        let own = |u: usize| u != o && !leaf(&nodes[u]);
        for (i, n) in nodes.iter().enumerate().rev() {
            if !reached[i] || leaf(n) {
                continue;
            }
            // An operand of a sum with the sum's shape, first given a gradient here, takes the
            // sum's gradient itself.
            through[i] = n.inputs.iter().enumerate().position(|(which, u)| {
                let sum = n.op == Op::Binary(Binary::Add) || (n.op == Op::Binary(Binary::Subtract) && which == 0);
                let m = &nodes[u.0];
                sum && own(i)
                    && own(u.0)
                    && born[u.0] == i
                    && m.shape == n.shape
                    && m.batched == n.batched
                    && n.inputs.iter().filter(|w| *w == u).count() == 1
            });
            for (which, u) in n.inputs.iter().enumerate() {
                if born[u.0] != i || grad[u.0] != NONE || !own(u.0) {
                    continue;
                }
                grad[u.0] = if through[i] == Some(which) { grad[i] } else { pool.take() };
            }
            if own(i) && through[i].is_none() {
                pool.give(grad[i]);
            }
        }
        Slots { value, values, grad, grads: pool.count, through }
    }
}

/// Which values a gradient reaches in the backward pass: the result, and each operand that
/// takes one (it depends on an input or a trainable weight; the op passes a gradient to it) of
/// a value reached.
fn reached(nodes: &[Node], o: usize) -> Vec<bool> {
    let mut reached = vec![false; nodes.len()];
    reached[o] = true;
    for v in (0..nodes.len()).rev() {
        if !reached[v] {
            continue;
        }
        for (which, u) in nodes[v].inputs.iter().enumerate() {
            if nodes[u.0].needs_grad && nodes[v].op.passes_gradient(which) {
                reached[u.0] = true;
            }
        }
    }
    reached
}

/// Slots handed out and given back.
#[derive(Default)]
struct Pool {
    count: usize,
    free: Vec<usize>,
}

impl Pool {
    /// A slot nobody else will have.
    fn own(&mut self) -> usize {
        self.count += 1;
        self.count - 1
    }

    /// A slot given back earlier, else a new one.
    fn take(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| self.own())
    }

    /// Gives `slot` back for a later value.
    fn give(&mut self, slot: usize) {
        self.free.push(slot);
    }
}
