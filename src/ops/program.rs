//! A recorded [`Graph`] made runnable: a buffer for every value and every gradient, planned
//! once for the largest batch, then forward and backward every step without allocating.
//!
//! The caller lends its own buffers for what it owns (the result, the result's gradient, the
//! inputs' and the weights' gradients): they are swapped in for the step and back out, so
//! nothing is copied between the program and the model. A gradient's first contribution
//! overwrites its buffer and later ones add to it, so no buffer is cleared first.

use super::slots::{Slots, NONE};
use super::vjp::{put, GradOut};
use super::{broadcast, einsum, elementwise, indexing, linalg, random, reduce, shape, softmax, Graph, Node, Op, Var};
use crate::error::{Error, Result};

/// A recording with its buffers: planned once for the largest batch, then run forward and
/// backward every step without allocating; the caller lends the buffers it owns.
///
/// # Buffers
/// Values and gradients whose lifetimes do not overlap share a buffer (see `ops/slots.rs`):
///
/// | buffer | shape | written by |
/// |---|---|---|
/// | `values[slots.value[v]]` | at least value `v`'s whole shape at `max_batch` (none for inputs, weights, constants) | the forward pass |
/// | `grads[slots.grad[v]]` | the same, for each value a gradient reaches | the backward pass |
/// | `written[v]` | one flag per value: its gradient has had a contribution this step | the backward pass |
/// | `scratch[v]` | an `einsum`'s operands and result laid out for its matrix products, and one operand's gradient; a `dropout`'s mask | both passes |
#[derive(Debug, Clone)]
pub struct Program {
    graph: Graph,
    output: Var,
    max_batch: usize,
    values: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    written: Vec<bool>,
    scratch: Vec<Vec<f32>>,
    /// Whether the result depends on each value (others are neither computed nor given room).
    live: Vec<bool>,
    /// Which buffer holds each value and each gradient.
    slots: Slots,
}

/// Where the values of the layer's inputs and weights are, for one step; in the backward
/// pass, also the result the forward pass left in the caller's buffer.
pub(crate) struct Sources<'a> {
    pub inputs: &'a [&'a [f32]],
    pub weights: &'a dyn WeightSource,
    pub output: Option<&'a [f32]>,
    /// What the random ops draw from this step.
    pub draw: super::Draw,
}

/// Where a step reads the weights' values: a layer's parameters, or none (a loss).
pub(crate) trait WeightSource {
    /// Weight `i`'s values.
    fn weight(&self, i: usize) -> &[f32];
}

/// Weights given as their values' slices.
pub(crate) struct Slices<'a>(pub &'a [&'a [f32]]);

impl WeightSource for Slices<'_> {
    fn weight(&self, i: usize) -> &[f32] {
        self.0[i]
    }
}

/// No weights (a loss's recording).
pub(crate) struct NoWeights;

impl WeightSource for NoWeights {
    fn weight(&self, _: usize) -> &[f32] {
        &[]
    }
}

impl Program {
    /// The recording `graph` with `output` as its result, run forward and backward, its buffers
    /// planned for batches of up to `max_batch` samples. A result that is an input, weight or
    /// constant itself gets a copy as the recording's last op (so the result always has a
    /// buffer of its own).
    pub fn new(graph: Graph, output: Var, max_batch: usize) -> Program {
        Program::with_passes(graph, output, max_batch, true)
    }

    /// [`Program::new`] for a recording run forward only (inference, a metric): a value's
    /// buffer goes to a later value once its last reader has run.
    pub fn forward_only(graph: Graph, output: Var, max_batch: usize) -> Program {
        Program::with_passes(graph, output, max_batch, false)
    }

    fn with_passes(mut graph: Graph, output: Var, max_batch: usize, backward: bool) -> Program {
        let mut output = output;
        if matches!(graph.nodes[output.0].op, Op::Input(_) | Op::Weight(_) | Op::Constant) {
            let n = &graph.nodes[output.0];
            let (shape, batched) = (n.shape.clone(), n.batched);
            output = graph.push(Op::Reshape, vec![output], shape, batched);
        }
        fuse(&mut graph, output);
        let live = live(&graph, output);
        let count = graph.nodes.len();
        let slots = Slots::plan(&graph, output, &live, backward);
        let mut p = Program {
            graph,
            output,
            max_batch: 0,
            values: Vec::new(),
            grads: Vec::new(),
            written: vec![false; count],
            scratch: Vec::new(),
            live,
            slots,
        };
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
        // Each slot as large as the largest value (gradient) it holds; none for those the
        // caller always lends (the result and its gradient, the weights' gradients).
        let o = self.output.0;
        let sized = |slot_of: &[usize], count: usize, lent: &dyn Fn(usize) -> bool| {
            let mut sizes = vec![0usize; count];
            for (v, (n, &s)) in nodes.iter().zip(slot_of).enumerate() {
                if s != NONE && !lent(v) {
                    sizes[s] = sizes[s].max(n.len(max_batch));
                }
            }
            sizes.into_iter().map(|len| vec![0.0; len]).collect::<Vec<_>>()
        };
        self.values = sized(&self.slots.value, self.slots.values, &|v| v == o);
        self.grads = sized(&self.slots.grad, self.slots.grads, &|v| v == o || matches!(nodes[v].op, Op::Weight(_)));
        self.scratch = nodes
            .iter()
            .map(|n| match &n.op {
                Op::Einsum(e) => {
                    let len = |v: &Var| nodes[v.0].len(max_batch);
                    vec![0.0; einsum::workspace(e, len(&n.inputs[0]), len(&n.inputs[1]), n.len(max_batch))]
                }
                Op::Dropout { .. } => vec![0.0; n.len(max_batch)],
                _ => Vec::new(),
            })
            .collect();
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
        let total = |b: &[Vec<f32>]| b.iter().map(Vec::len).sum::<usize>();
        4 * (total(&self.values) + total(&self.grads) + total(&self.scratch))
    }

    /// Whether the result depends on input `i`.
    pub(crate) fn reads_input(&self, i: usize) -> bool {
        self.live[self.input_node(i)]
    }

    /// The node of input `i`.
    fn input_node(&self, i: usize) -> usize {
        self.graph.input_nodes[i]
    }

    /// The node of weight `i`.
    fn weight_node(&self, i: usize) -> usize {
        self.graph.weight_nodes[i]
    }

    /// Runs the recording forward for a batch of `batch` samples, the result written into
    /// `out` (the caller's buffer, lent for the step: at least the result's length).
    pub(crate) fn forward(&mut self, src: &Sources<'_>, batch: usize, out: &mut Vec<f32>) {
        assert!(batch <= self.max_batch, "a batch of {batch} past the planned {}", self.max_batch);
        let o = self.slots.value[self.output.0];
        std::mem::swap(&mut self.values[o], out);
        for v in 0..self.graph.nodes.len() {
            let node = &self.graph.nodes[v];
            let slot = self.slots.value[v];
            if slot == NONE {
                continue;
            }
            let mut buffer = std::mem::take(&mut self.values[slot]);
            let mut room = std::mem::take(&mut self.scratch[v]);
            let ins = Operands { p: self, src, of: &node.inputs, batch };
            run_forward(node, &ins, &mut buffer[..node.len(batch)], batch, &mut room);
            self.values[slot] = buffer;
            self.scratch[v] = room;
        }
        std::mem::swap(&mut self.values[o], out);
    }

    /// Runs each op's vector-Jacobian product in reverse from `dy` (the result's gradient),
    /// after [`Program::forward`] on the same sources and batch (`src.output` holding its
    /// result). The gradients of the inputs go into `dx[i]` where given, else into the
    /// program's own buffers ([`Program::input_grad`]); the weights' into `dw[i]`, given for
    /// every weight a gradient reaches: the caller's buffers, lent for the step. Only the inputs `wanted` get a gradient
    /// (a model's first layer needs none for its input).
    pub(crate) fn backward(
        &mut self,
        src: &Sources<'_>,
        batch: usize,
        dy: &mut Vec<f32>,
        dx: &mut [Option<&mut Vec<f32>>],
        dw: &mut [Option<&mut Vec<f32>>],
        wanted: &[bool],
    ) {
        let o = self.output.0;
        let lend =
            |p: &mut Program, dx: &mut [Option<&mut Vec<f32>>], dw: &mut [Option<&mut Vec<f32>>], dy: &mut Vec<f32>| {
                std::mem::swap(&mut p.grads[p.slots.grad[o]], dy);
                for (i, d) in dx.iter_mut().enumerate() {
                    let slot = p.slots.grad[p.input_node(i)];
                    if let (Some(d), true) = (d, slot != NONE) {
                        std::mem::swap(&mut p.grads[slot], *d);
                    }
                }
                for (i, d) in dw.iter_mut().enumerate() {
                    let slot = p.slots.grad[p.weight_node(i)];
                    if let (Some(d), true) = (d, slot != NONE) {
                        std::mem::swap(&mut p.grads[slot], *d);
                    }
                }
            };
        lend(self, dx, dw, dy);
        self.written.fill(false);
        self.written[o] = true;
        let nodes = &self.graph.nodes;
        let slot = &self.slots.grad;
        for v in (0..nodes.len()).rev() {
            let node = &nodes[v];
            // A value no gradient reached (all its readers stop it) passes none on.
            if !self.written[v] || matches!(node.op, Op::Input(_) | Op::Weight(_)) {
                continue;
            }
            let dz = std::mem::take(&mut self.grads[slot[v]]);
            let mut room = std::mem::take(&mut self.scratch[v]);
            // An operand that takes this op's gradient itself (a sum's, see ops::slots) holds
            // it already, in the same buffer.
            let through = self.slots.through[v];
            for (which, input) in node.inputs.iter().enumerate() {
                if Some(which) == through {
                    continue;
                }
                let unwanted = matches!(nodes[input.0].op, Op::Input(i) if !wanted.get(i).copied().unwrap_or(false));
                if !nodes[input.0].needs_grad || !node.op.passes_gradient(which) || unwanted {
                    continue;
                }
                let mut d = std::mem::take(&mut self.grads[slot[input.0]]);
                let acc = self.written[input.0];
                let ins = Operands { p: self, src, of: &node.inputs, batch };
                let z = ins.data(v);
                let dlen = nodes[input.0].len(batch);
                let out = GradOut { dz: &dz[..node.len(batch)], z: node, batch, d: &mut d[..dlen], acc };
                run_backward(which, &ins, z, out, &mut room);
                self.grads[slot[input.0]] = d;
                self.written[input.0] = true;
            }
            self.grads[slot[v]] = dz;
            if let Some(which) = through {
                self.written[node.inputs[which].0] = true;
            }
            self.scratch[v] = room;
        }
        // A wanted input or a weight no gradient reached: zero.
        for (v, n) in nodes.iter().enumerate() {
            let asked = match n.op {
                Op::Input(i) => wanted.get(i).copied().unwrap_or(false),
                Op::Weight(_) => true,
                _ => false,
            };
            let slot = self.slots.grad[v];
            if asked && !self.written[v] && slot != NONE {
                let len = n.len(batch).min(self.grads[slot].len());
                self.grads[slot][..len].fill(0.0);
            }
        }
        lend(self, dx, dw, dy);
        // A wanted input the result does not depend on (no buffer): zero.
        for (i, d) in dx.iter_mut().enumerate() {
            let v = self.input_node(i);
            if let (Some(d), NONE) = (d, self.slots.grad[v]) {
                let len = self.graph.nodes[v].len(batch).min(d.len());
                d[..len].fill(0.0);
            }
        }
    }
}

impl Program {
    /// Input `i`'s gradient from the last [`Program::backward`] when its buffer was not lent
    /// (empty when the result does not depend on the input).
    pub(crate) fn input_grad(&self, i: usize, batch: usize) -> &[f32] {
        let v = self.input_node(i);
        match self.slots.grad[v] {
            NONE => &[],
            slot => &self.grads[slot][..self.graph.nodes[v].len(batch)],
        }
    }
}

/// Fuses each `add` whose only reader is a `relu` into that reader (`relu(a + b)` in one pass:
/// a layer's bias and activation); the `add` is left without readers.
fn fuse(graph: &mut Graph, output: Var) {
    let mut readers = vec![0usize; graph.nodes.len()];
    for n in &graph.nodes {
        for i in &n.inputs {
            readers[i.0] += 1;
        }
    }
    for u in 0..graph.nodes.len() {
        if graph.nodes[u].op != Op::Unary(super::Unary::Relu) {
            continue;
        }
        let v = graph.nodes[u].inputs[0].0;
        if graph.nodes[v].op == Op::Binary(super::Binary::Add) && readers[v] == 1 && v != output.0 {
            graph.nodes[u].op = Op::Binary(super::Binary::AddRelu);
            graph.nodes[u].inputs = graph.nodes[v].inputs.clone();
            readers[v] = 0;
        }
    }
}

/// Which values the result depends on (its inputs, theirs, …).
fn live(graph: &Graph, output: Var) -> Vec<bool> {
    let mut live = vec![false; graph.nodes.len()];
    live[output.0] = true;
    for v in (0..graph.nodes.len()).rev() {
        if live[v] {
            for i in &graph.nodes[v].inputs {
                live[i.0] = true;
            }
        }
    }
    live
}

/// An op's operands for one step, looked up on demand (no list is built).
struct Operands<'a> {
    p: &'a Program,
    src: &'a Sources<'a>,
    of: &'a [Var],
    batch: usize,
}

impl<'a> Operands<'a> {
    /// Value `v`'s data: an input's or weight's from the sources, a constant's from the
    /// graph, the result from the caller's buffer in the backward pass, any other from its own.
    fn data(&self, v: usize) -> &'a [f32] {
        let (graph, src) = (&self.p.graph, self.src);
        let n = &graph.nodes[v];
        let len = n.len(self.batch);
        match n.op {
            Op::Input(i) => &src.inputs[i][..len],
            Op::Weight(i) => src.weights.weight(i),
            Op::Constant => {
                graph.constants.iter().find(|(at, _)| *at == v).map(|(_, c)| c.as_slice()).expect("its values")
            }
            _ => match src.output {
                Some(out) if v == self.p.output.0 => &out[..len],
                _ => &self.p.values[self.p.slots.value[v]][..len],
            },
        }
    }

    /// Operand `i`: its data and its node.
    fn get(&self, i: usize) -> (&'a [f32], &'a Node) {
        let v = self.of[i].0;
        (self.data(v), &self.p.graph.nodes[v])
    }
}

/// One op forward: `out = op(operands)`.
fn run_forward(node: &Node, ins: &Operands<'_>, out: &mut [f32], batch: usize, room: &mut [f32]) {
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
        Op::Slice { axis, start, len } => {
            let (x, n) = ins.get(0);
            let around = reduce::split(&n.full_shape(batch), axis + usize::from(n.batched));
            indexing::slice_forward(x, around, *start, *len, out)
        }
        Op::Take(g) => indexing::take_forward(g, ins.get(0), ins.get(1).0, out, batch),
        Op::OneHot(depth) => indexing::one_hot_forward(ins.get(0).0, *depth, out),
        Op::Where => indexing::where_forward([ins.get(0), ins.get(1), ins.get(2)], out, node, batch),
        Op::Einsum(e) => einsum::forward(e, ins.get(0), ins.get(1), out, node, batch, room),
        Op::Dropout { rate, salt } => {
            let per = node.len(1);
            random::forward(ins.get(0).0, *rate, *salt, ins.src.draw, per, out, &mut room[..out.len()])
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

/// One op's vector-Jacobian product for its operand `which`: `d = (∂z/∂operand)ᵀ dz`, added to
/// `d` when `acc` (see [`put`]); `room` is the op's workspace.
fn run_backward(which: usize, ins: &Operands<'_>, z: &[f32], out: GradOut<'_>, room: &mut [f32]) {
    let GradOut { dz, z: node, batch, d, acc } = out;
    match &node.op {
        Op::Input(_) | Op::Weight(_) | Op::Constant | Op::StopGradient => {}
        Op::Reshape => d.iter_mut().zip(dz).for_each(|(d, &g)| put(d, g, acc)),
        Op::Unary(f) => elementwise::backward(*f, ins.get(0).0, z, dz, d, acc),
        Op::Binary(f) => broadcast::backward(*f, which, ins.get(0), ins.get(1), GradOut { dz, z: node, batch, d, acc }),
        Op::Reduce { f, axis, .. } => {
            let (x, n) = ins.get(0);
            if !acc {
                d.fill(0.0);
            }
            reduce::backward(*f, x, reduce::split(&n.full_shape(batch), axis + usize::from(n.batched)), z, dz, d)
        }
        Op::MatMul(p) => linalg::backward(*p, which, ins.get(0).0, ins.get(1).0, dz, d, acc, batch),
        Op::Softmax { log } => softmax::backward(*log, z, dz, node.shape.last().copied().unwrap_or(1), d, acc),
        Op::Transpose(perm) => {
            // The inverse permutation takes dz back to x's layout.
            let mut inverse = [0usize; super::graph::MAX_RANK];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            shape::permute(dz, &node.full_shape(batch), &inverse[..perm.len()], d, acc)
        }
        Op::Slice { axis, start, len } => {
            let n = ins.get(0).1;
            let around = reduce::split(&n.full_shape(batch), axis + usize::from(n.batched));
            indexing::slice_backward(dz, around, *start, *len, d, acc)
        }
        Op::Take(g) => indexing::take_backward(g, ins.get(0).1, ins.get(1).0, dz, d, acc, batch),
        Op::OneHot(_) => {}
        Op::Where => indexing::where_backward(
            which,
            [ins.get(0), ins.get(1), ins.get(2)],
            GradOut { dz, z: node, batch, d, acc },
        ),
        Op::Einsum(e) => {
            einsum::backward(e, which, ins.get(0), ins.get(1), GradOut { dz, z: node, batch, d, acc }, room)
        }
        Op::Dropout { .. } => random::backward(dz, &room[..dz.len()], d, acc),
        Op::Concatenate(axis) => {
            let (outer, total) = shape::outer_and_total(node, *axis, batch);
            let start: usize = (0..which).map(|i| shape::part_block(ins.get(i).1, *axis)).sum();
            let w = shape::part_block(ins.get(which).1, *axis);
            for o in 0..outer {
                let from = &dz[o * total + start..o * total + start + w];
                d[o * w..(o + 1) * w].iter_mut().zip(from).for_each(|(d, &g)| put(d, g, acc));
            }
        }
    }
}

/// A recording of one value per sample from a sample's targets and predictions (a loss's or a
/// metric's `call`, of these per-sample shapes), run `backward` too or not; its errors name
/// `{kind} '{name}'`.
///
/// # Errors
/// `call`'s, and [`Error::Shape`] when its result is not one value per sample.
pub(crate) fn per_sample(
    kind: &str,
    name: &str,
    target: &[usize],
    pred: &[usize],
    backward: bool,
    call: impl FnOnce(&mut Graph, Var, Var) -> Result<Var>,
) -> Result<Program> {
    let named = |e: Error| match e {
        Error::Shape { what, expected, received } => {
            Error::Shape { what: format!("{what} in {kind} '{name}'"), expected, received }
        }
        other => Error::State(format!("{kind} '{name}': {other}")),
    };
    let mut graph = Graph::new();
    let (t, p) = (graph.input(target), graph.input(pred));
    let value = call(&mut graph, t, p).map_err(named)?;
    if graph.shape(value).iter().product::<usize>() != 1 || !graph.is_batched(value) {
        return Err(named(graph.mismatch("call", &[value], "one value per sample (reduce over the sample's axes)")));
    }
    Ok(Program::with_passes(graph, value, 1, backward))
}
