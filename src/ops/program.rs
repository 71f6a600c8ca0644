//! A recorded [`Graph`] made runnable: a buffer for every value and every gradient, planned
//! once for the largest batch, then forward and backward every step without allocating.

use super::{broadcast, elementwise, linalg, reduce, shape, softmax, Graph, Node, Op, Var};

/// A recording with its buffers: planned once for the largest batch, then run forward and
/// backward every step without allocating.
///
/// # Buffers
/// | buffer | shape | written by |
/// |---|---|---|
/// | `values[v]` | value `v`'s whole shape at `max_batch` (empty for inputs, weights, constants) | the forward pass |
/// | `grads[v]` | the same, for each value a gradient reaches (`needs_grad`) | the backward pass |
#[derive(Debug, Clone)]
pub struct Program {
    graph: Graph,
    output: Var,
    max_batch: usize,
    values: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
}

/// Where the values of the layer's inputs and weights are, for one step.
pub(crate) struct Sources<'a> {
    pub inputs: &'a [&'a [f32]],
    pub weights: &'a dyn WeightSource,
}

/// Where a step reads the weights' values: a layer's parameters, or none (a loss).
pub(crate) trait WeightSource {
    /// Weight `i`'s values.
    fn weight(&self, i: usize) -> &[f32];
}

/// No weights (a loss's recording).
pub(crate) struct NoWeights;

impl WeightSource for NoWeights {
    fn weight(&self, _: usize) -> &[f32] {
        &[]
    }
}

impl Program {
    /// The recording `graph` with `output` as its result, its buffers planned for batches of
    /// up to `max_batch` samples.
    pub fn new(graph: Graph, output: Var, max_batch: usize) -> Program {
        let mut p = Program { graph, output, max_batch: 0, values: Vec::new(), grads: Vec::new() };
        p.plan(max_batch);
        p
    }

    /// Buffers for batches of up to `max_batch` (kept when already large enough).
    pub fn plan(&mut self, max_batch: usize) {
        if max_batch <= self.max_batch {
            return;
        }
        self.max_batch = max_batch;
        let nodes = &self.graph.nodes;
        self.values = nodes
            .iter()
            .map(|n| match n.op {
                Op::Input(_) | Op::Weight(_) | Op::Constant => Vec::new(),
                _ => vec![0.0; n.len(max_batch)],
            })
            .collect();
        self.grads =
            nodes.iter().map(|n| if n.needs_grad { vec![0.0; n.len(max_batch)] } else { Vec::new() }).collect();
    }

    /// The recording.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The result's shape (one sample's when batched).
    pub fn output_shape(&self) -> Vec<usize> {
        self.graph.shape(self.output)
    }

    /// The bytes of the planned buffers.
    pub fn buffer_bytes(&self) -> usize {
        4 * (self.values.iter().map(Vec::len).sum::<usize>() + self.grads.iter().map(Vec::len).sum::<usize>())
    }

    /// Runs the recording forward for a batch of `batch` samples; returns the result.
    pub(crate) fn forward<'s>(&'s mut self, src: &Sources<'s>, batch: usize) -> &'s [f32] {
        assert!(batch <= self.max_batch, "a batch of {batch} past the planned {}", self.max_batch);
        for v in 0..self.graph.nodes.len() {
            let node = &self.graph.nodes[v];
            if matches!(node.op, Op::Input(_) | Op::Weight(_) | Op::Constant) {
                continue;
            }
            let mut out = std::mem::take(&mut self.values[v]);
            let ins = Operands { graph: &self.graph, values: &self.values, src, of: &node.inputs, batch };
            run_forward(node, &ins, &mut out[..node.len(batch)], batch);
            self.values[v] = out;
        }
        data(&self.graph, &self.values, src, self.output.0, batch)
    }

    /// Runs each op's vector-Jacobian product in reverse from `dy` (the result's gradient),
    /// after [`Program::forward`] on the same sources and batch. The inputs' and weights'
    /// gradients are then [`Program::input_grad`] and [`Program::weight_grad`].
    pub(crate) fn backward(&mut self, src: &Sources<'_>, batch: usize, dy: &[f32]) {
        let nodes = &self.graph.nodes;
        for (g, n) in self.grads.iter_mut().zip(nodes) {
            if n.needs_grad {
                g[..n.len(batch)].fill(0.0);
            }
        }
        let out = self.output.0;
        if nodes[out].needs_grad {
            let len = nodes[out].len(batch);
            self.grads[out][..len].copy_from_slice(&dy[..len]);
        }
        for v in (0..nodes.len()).rev() {
            let node = &nodes[v];
            if !node.needs_grad || matches!(node.op, Op::Input(_) | Op::Weight(_)) {
                continue;
            }
            let dz = std::mem::take(&mut self.grads[v]);
            let z = data(&self.graph, &self.values, src, v, batch);
            for (which, input) in node.inputs.iter().enumerate() {
                if !nodes[input.0].needs_grad {
                    continue;
                }
                let mut d = std::mem::take(&mut self.grads[input.0]);
                let ins = Operands { graph: &self.graph, values: &self.values, src, of: &node.inputs, batch };
                let dlen = nodes[input.0].len(batch);
                run_backward(node, which, &ins, z, &dz[..node.len(batch)], &mut d[..dlen], batch);
                self.grads[input.0] = d;
            }
            self.grads[v] = dz;
        }
    }

    /// Input `i`'s gradient from the last [`Program::backward`], for a batch of `batch`.
    pub(crate) fn input_grad(&self, i: usize, batch: usize) -> &[f32] {
        let v = self.graph.nodes.iter().position(|n| n.op == Op::Input(i)).expect("a recorded input");
        &self.grads[v][..self.graph.nodes[v].len(batch)]
    }

    /// Weight `i`'s gradient from the last [`Program::backward`].
    pub(crate) fn weight_grad(&self, i: usize) -> &[f32] {
        let v = self.graph.nodes.iter().position(|n| n.op == Op::Weight(i)).expect("a recorded weight");
        &self.grads[v]
    }
}

/// Value `v`'s data for a batch of `batch`: an input's or weight's from `src`, a constant's
/// from the graph, any other from its buffer.
fn data<'a>(graph: &'a Graph, values: &'a [Vec<f32>], src: &Sources<'a>, v: usize, batch: usize) -> &'a [f32] {
    let n = &graph.nodes[v];
    match n.op {
        Op::Input(i) => &src.inputs[i][..n.len(batch)],
        Op::Weight(i) => src.weights.weight(i),
        Op::Constant => graph.constants.iter().find(|(at, _)| *at == v).map(|(_, c)| c.as_slice()).expect("its values"),
        _ => &values[v][..n.len(batch)],
    }
}

/// An op's operands for one step, looked up on demand (no list is built).
struct Operands<'a> {
    graph: &'a Graph,
    values: &'a [Vec<f32>],
    src: &'a Sources<'a>,
    of: &'a [Var],
    batch: usize,
}

impl<'a> Operands<'a> {
    /// Operand `i`: its data and its node.
    fn get(&self, i: usize) -> (&'a [f32], &'a Node) {
        let v = self.of[i].0;
        (data(self.graph, self.values, self.src, v, self.batch), &self.graph.nodes[v])
    }
}

/// One op forward: `out = op(operands)`.
fn run_forward(node: &Node, ins: &Operands<'_>, out: &mut [f32], batch: usize) {
    match &node.op {
        Op::Input(_) | Op::Weight(_) | Op::Constant => unreachable!("not computed"),
        Op::StopGradient | Op::Reshape => out.copy_from_slice(ins.get(0).0),
        Op::Unary(f) => elementwise::forward(*f, ins.get(0).0, out),
        Op::Binary(f) => broadcast::forward(*f, ins.get(0), ins.get(1), out, node, batch),
        Op::Reduce { f, axis, .. } => {
            let (x, n) = ins.get(0);
            reduce::forward(*f, x, reduce::split(&n.full_shape(batch), axis + usize::from(n.batched)), out)
        }
        Op::MatMul(p) => linalg::forward(*p, ins.get(0).0, ins.get(1).0, out, batch),
        Op::Softmax { log } => softmax::forward(*log, ins.get(0).0, node.shape.last().copied().unwrap_or(1), out),
        Op::Transpose(perm) => {
            let (x, n) = ins.get(0);
            shape::permute(x, &n.full_shape(batch), perm, out, false)
        }
        Op::Concatenate(axis) => {
            let (outer, total) = shape::outer_and_total(node, *axis, batch);
            let mut start = 0;
            for i in 0..ins.of.len() {
                let (x, n) = ins.get(i);
                let w = shape::part_block(n, *axis);
                for o in 0..outer {
                    out[o * total + start..o * total + start + w].copy_from_slice(&x[o * w..(o + 1) * w]);
                }
                start += w;
            }
        }
    }
}

/// One op's vector-Jacobian product for its operand `which`: `d += (∂z/∂operand)ᵀ dz`.
fn run_backward(node: &Node, which: usize, ins: &Operands<'_>, z: &[f32], dz: &[f32], d: &mut [f32], batch: usize) {
    match &node.op {
        Op::Input(_) | Op::Weight(_) | Op::Constant | Op::StopGradient => {}
        Op::Reshape => d.iter_mut().zip(dz).for_each(|(d, g)| *d += g),
        Op::Unary(f) => elementwise::backward(*f, ins.get(0).0, z, dz, d),
        Op::Binary(f) => broadcast::backward(*f, which, ins.get(0), ins.get(1), dz, node, batch, d),
        Op::Reduce { f, axis, .. } => {
            let (x, n) = ins.get(0);
            reduce::backward(*f, x, reduce::split(&n.full_shape(batch), axis + usize::from(n.batched)), z, dz, d)
        }
        Op::MatMul(p) => linalg::backward(*p, which, ins.get(0).0, ins.get(1).0, dz, d, batch),
        Op::Softmax { log } => softmax::backward(*log, z, dz, node.shape.last().copied().unwrap_or(1), d),
        Op::Transpose(perm) => {
            // The inverse permutation takes dz back to x's layout.
            let mut inverse = [0usize; super::graph::MAX_RANK];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            shape::permute(dz, &node.full_shape(batch), &inverse[..perm.len()], d, true)
        }
        Op::Concatenate(axis) => {
            let (outer, total) = shape::outer_and_total(node, *axis, batch);
            let start: usize = (0..which).map(|i| shape::part_block(ins.get(i).1, *axis)).sum();
            let w = shape::part_block(ins.get(which).1, *axis);
            for o in 0..outer {
                let from = &dz[o * total + start..o * total + start + w];
                d[o * w..(o + 1) * w].iter_mut().zip(from).for_each(|(d, g)| *d += g);
            }
        }
    }
}
