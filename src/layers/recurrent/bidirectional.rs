//! `Bidirectional`: a recurrent layer run forwards and backwards in time (see the type).

use super::{Cell, Recurrent, RecurrentConfig};
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// How [`Bidirectional`] joins its two directions' outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// Side by side on the last axis (Keras's default): `2 · units` features.
    Concat,
    /// `forward + backward`.
    Sum,
    /// `(forward + backward) / 2`.
    Ave,
    /// `forward ⊙ backward`.
    Mul,
}

/// Keras's `Bidirectional(layer, merge_mode="concat")`: a copy of `layer` reads the sequence
/// backwards (its `go_backwards` flipped), and the two outputs are merged. With
/// `return_sequences` the backward copy's steps are put back in time order first, as Keras does,
/// so step `t` of the output sees the whole sequence. The weights are the forward layer's
/// (`forward_kernel`, ...) then the backward one's (`backward_kernel`, ...).
///
/// ```
/// use minibatch::layers::{Bidirectional, Dense, MergeMode, LSTM};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[20, 8])
///     .add(Bidirectional::new(LSTM::new(16).return_sequences(true)))
///     .add(Bidirectional::new(LSTM::new(8)).merge_mode(MergeMode::Sum))
///     .add(Dense::new(1).activation("sigmoid"));
/// ```
#[derive(Debug, Clone)]
pub struct Bidirectional {
    forward: Recurrent,
    backward: Recurrent,
    /// `None`: Keras's `merge_mode=None`, both outputs packed `[2, …]` per sample for
    /// [`Bidirectional::call_split`] to take apart.
    merge_mode: Option<MergeMode>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: the forward layer's parameters, then the backward layer's (moved in and
    /// out of the layers around each call, so the model sees one list).
    core: LayerCore,
    /// Each direction's output and its gradient, `[batch, (steps,) units]`, and the backward
    /// direction's input gradient.
    outputs: [Tensor; 2],
    grads: [Tensor; 2],
    dx: Tensor,
    out_shape: Vec<usize>,
    in_shape: Vec<usize>,
}

/// Bidirectional's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BidirectionalConfig {
    name: String,
    layer: serde_json::Value,
    /// `null` for Keras's `merge_mode=None`.
    merge_mode: Option<MergeMode>,
}

impl Bidirectional {
    /// Both directions of `layer`, concatenated.
    pub fn new(layer: Recurrent) -> Self {
        let backward = layer.clone().go_backwards(!layer.go_backwards);
        Bidirectional {
            forward: layer,
            backward,
            merge_mode: Some(MergeMode::Concat),
            outputs: Default::default(),
            grads: Default::default(),
            dx: Tensor::default(),
            out_shape: Vec::new(),
            in_shape: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// How the two outputs are joined (default concat); `None` (Keras's `merge_mode=None`):
    /// not joined, see [`Bidirectional::call_split`].
    pub fn merge_mode(mut self, mode: impl Into<Option<MergeMode>>) -> Self {
        self.merge_mode = mode.into();
        self
    }

    /// The layer's name (else the model assigns `bidirectional`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`BidirectionalConfig`] describes (not built).
    ///
    /// # Errors
    /// A wrapped layer that is not SimpleRNN, LSTM or GRU, or whose config does not fit.
    pub fn from_config(c: BidirectionalConfig) -> Result<Self> {
        let class = c.layer.get("class_name").and_then(|v| v.as_str()).unwrap_or_default();
        let cell = match class {
            "SimpleRNN" => Cell::SimpleRNN,
            "LSTM" => Cell::LSTM,
            "GRU" => Cell::GRU,
            other => {
                return Err(Error::UnknownName {
                    kind: "layer class in Bidirectional",
                    name: other.into(),
                    known: vec!["SimpleRNN", "LSTM", "GRU"],
                })
            }
        };
        let config: RecurrentConfig = serde_json::from_value(c.layer.get("config").cloned().unwrap_or_default())
            .map_err(|e| Error::State(format!("config of the layer in Bidirectional {}: {e}", c.name)))?;
        Ok(Bidirectional::new(Recurrent::from_config(cell, config)).merge_mode(c.merge_mode).name(&c.name))
    }

    /// Moves the parameters into the two layers (`into`) or back out.
    fn swap_params(&mut self) {
        let n = self.forward.core.params.len();
        for (i, p) in self.core.params.iter_mut().enumerate() {
            let inner = if i < n { &mut self.forward.core.params[i] } else { &mut self.backward.core.params[i - n] };
            std::mem::swap(p, inner);
        }
    }
}

/// `forward_kernel`, `backward_bias`, ...: the names the two directions' weights save under.
fn direction_name(forward: bool, name: &str) -> &'static str {
    match (forward, name) {
        (true, "kernel") => "forward_kernel",
        (true, "recurrent_kernel") => "forward_recurrent_kernel",
        (true, _) => "forward_bias",
        (false, "kernel") => "backward_kernel",
        (false, "recurrent_kernel") => "backward_recurrent_kernel",
        (false, _) => "backward_bias",
    }
}

/// Reverses the time axis of `[n, steps, f]` data in place.
fn reverse_time(data: &mut [f32], n: usize, steps: usize, f: usize) {
    for sample in data[..n * steps * f].chunks_exact_mut(steps * f) {
        for t in 0..steps / 2 {
            let (a, b) = sample.split_at_mut((steps - 1 - t) * f);
            a[t * f..(t + 1) * f].swap_with_slice(&mut b[..f]);
        }
    }
}

impl Layer for Bidirectional {
    fn check_arguments(&self) -> Result<()> {
        self.forward.check_arguments()?;
        self.backward.check_arguments()
    }

    fn kind(&self) -> &'static str {
        "Bidirectional"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if self.forward.return_state || self.backward.return_state {
            let expected = format!("a layer without return_state (layer {}; not yet)", self.core.name);
            return Err(crate::error::Error::invalid("return_state", true, expected));
        }
        let inner = self.forward.kind().to_ascii_lowercase();
        self.forward.set_name(format!("{}_forward_{inner}", self.core.name));
        self.backward.set_name(format!("{}_backward_{inner}", self.core.name));
        let out = self.forward.build(input_shape, rng)?;
        self.backward.build(input_shape, rng)?;
        self.core.params.clear();
        for (forward, layer) in [(true, &mut self.forward), (false, &mut self.backward)] {
            for p in layer.core.params.iter_mut() {
                let mut moved = Param::zeros(direction_name(forward, p.name), &[0]);
                std::mem::swap(&mut moved.value, &mut p.value);
                std::mem::swap(&mut moved.grad, &mut p.grad);
                self.core.params.push(moved);
            }
        }
        // The layers keep empty parameters until `swap_params` moves the real ones in.
        self.in_shape = input_shape.to_vec();
        self.out_shape = out.clone();
        let mut merged = out;
        match self.merge_mode {
            Some(MergeMode::Concat) => *merged.last_mut().expect("recurrent output") *= 2,
            // Both outputs whole, one after the other: [2, (T,) u].
            None => merged.insert(0, 2),
            _ => {}
        }
        Ok(merged)
    }

    fn plan(&mut self, max_batch: usize) {
        self.forward.plan(max_batch);
        self.backward.plan(max_batch);
        if self.outputs[0].capacity() < max_batch * self.out_shape.iter().product::<usize>() {
            for t in self.outputs.iter_mut().chain(self.grads.iter_mut()) {
                *t = Tensor::zeros_batch(max_batch, &self.out_shape);
            }
            self.dx = Tensor::zeros_batch(max_batch, &self.in_shape);
        }
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.forward_many(super::super::Inputs::one(x), y, training);
    }

    fn mask_rule(&self) -> super::super::MaskRule {
        // The packed outputs of merge_mode None have no time axis of their own to mask.
        if self.out_shape.len() == 2 && self.merge_mode.is_some() {
            super::super::MaskRule::Pass
        } else {
            super::super::MaskRule::Drop
        }
    }

    // # Shapes
    // x: [n, T, in]; each direction [n, (T,) u]; y: [n, (T,) 2u] (concat) or [n, (T,) u]. A
    // mask goes to both directions (each reads it in its own order).
    fn forward_many(&mut self, xs: super::super::Inputs<'_>, y: &mut Tensor, training: bool) {
        let x = xs.get(0);
        let n = x.batch();
        self.swap_params();
        {
            let [yf, yb] = &mut self.outputs;
            yf.set_batch(n);
            yb.set_batch(n);
            self.forward.forward_many(xs, yf, training);
            self.backward.forward_many(xs, yb, training);
        }
        self.swap_params();
        let u = *self.out_shape.last().expect("built");
        let [yf, yb] = &mut self.outputs;
        if self.out_shape.len() == 2 {
            reverse_time(yb.data_mut(), n, self.out_shape[0], u);
        }
        let (f, b, out) = (yf.data(), yb.data(), y.data_mut());
        match self.merge_mode {
            None => {
                let len: usize = self.out_shape.iter().product();
                for ((o, f), b) in out.chunks_exact_mut(2 * len).zip(f.chunks_exact(len)).zip(b.chunks_exact(len)) {
                    o[..len].copy_from_slice(f);
                    o[len..].copy_from_slice(b);
                }
            }
            Some(MergeMode::Concat) => {
                for ((o, f), b) in out.chunks_exact_mut(2 * u).zip(f.chunks_exact(u)).zip(b.chunks_exact(u)) {
                    o[..u].copy_from_slice(f);
                    o[u..].copy_from_slice(b);
                }
            }
            Some(MergeMode::Sum) => out.iter_mut().zip(f.iter().zip(b)).for_each(|(o, (f, b))| *o = f + b),
            Some(MergeMode::Ave) => out.iter_mut().zip(f.iter().zip(b)).for_each(|(o, (f, b))| *o = (f + b) * 0.5),
            Some(MergeMode::Mul) => out.iter_mut().zip(f.iter().zip(b)).for_each(|(o, (f, b))| *o = f * b),
        }
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.batch();
        let u = *self.out_shape.last().expect("built");
        let sequences = self.out_shape.len() == 2;
        let steps = if sequences { self.out_shape[0] } else { 1 };
        let [df, db] = &mut self.grads;
        df.set_batch(n);
        db.set_batch(n);
        let [yf, yb] = &self.outputs;
        let d = dy.data();
        match self.merge_mode {
            None => {
                let (dfs, dbs) = (df.data_mut(), db.data_mut());
                let len: usize = self.out_shape.iter().product();
                for ((dr, f), b) in
                    d.chunks_exact(2 * len).zip(dfs.chunks_exact_mut(len)).zip(dbs.chunks_exact_mut(len))
                {
                    f.copy_from_slice(&dr[..len]);
                    b.copy_from_slice(&dr[len..]);
                }
            }
            Some(MergeMode::Concat) => {
                let (dfs, dbs) = (df.data_mut(), db.data_mut());
                for ((dr, f), b) in d.chunks_exact(2 * u).zip(dfs.chunks_exact_mut(u)).zip(dbs.chunks_exact_mut(u)) {
                    f.copy_from_slice(&dr[..u]);
                    b.copy_from_slice(&dr[u..]);
                }
            }
            Some(MergeMode::Sum | MergeMode::Ave) => {
                let s = if self.merge_mode == Some(MergeMode::Ave) { 0.5 } else { 1.0 };
                df.data_mut().iter_mut().zip(d).for_each(|(g, d)| *g = s * d);
                db.data_mut().iter_mut().zip(d).for_each(|(g, d)| *g = s * d);
            }
            Some(MergeMode::Mul) => {
                // Both outputs in time order here (the backward one was reversed in forward).
                df.data_mut().iter_mut().zip(d.iter().zip(yb.data())).for_each(|(g, (d, b))| *g = d * b);
                db.data_mut().iter_mut().zip(d.iter().zip(yf.data())).for_each(|(g, (d, f))| *g = d * f);
            }
        }
        if sequences {
            reverse_time(db.data_mut(), n, steps, u);
        }
        self.swap_params();
        let [yf, yb] = &self.outputs;
        let [df, db] = &mut self.grads;
        match dx {
            Some(dx) => {
                self.forward.backward(x, yf, df, Some(dx));
                self.dx.set_batch(n);
                self.backward.backward(x, yb, db, Some(&mut self.dx));
                crate::tensor::kernels::add(dx.data_mut(), self.dx.data());
            }
            None => {
                self.forward.backward(x, yf, df, None);
                self.backward.backward(x, yb, db, None);
            }
        }
        self.swap_params();
    }

    fn products(&self, batch: usize, positions: usize, input_gradient: bool) -> Vec<crate::layers::Product> {
        let mut products = self.forward.products(batch, positions, input_gradient);
        products.extend(self.backward.products(batch, positions, input_gradient));
        products
    }

    fn time_elementwise(&self, batch: usize, input_gradient: bool) -> Option<f64> {
        let (f, b) = (&self.forward, &self.backward);
        Some(f.time_elementwise(batch, input_gradient)? + b.time_elementwise(batch, input_gradient)?)
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let (out, input): (usize, usize) = (self.out_shape.iter().product(), self.in_shape.iter().product());
        let own = 4 * max_batch * (4 * out + input);
        own + self.forward.planned_workspace_bytes(max_batch) + self.backward.planned_workspace_bytes(max_batch)
    }

    fn workspace_bytes(&self) -> usize {
        let own: usize = self.outputs.iter().chain(&self.grads).map(|t| t.capacity() * 4).sum();
        own + self.dx.capacity() * 4 + self.forward.workspace_bytes() + self.backward.workspace_bytes()
    }

    fn config(&self) -> Option<serde_json::Value> {
        let layer = serde_json::json!({ "class_name": self.forward.kind(), "config": self.forward.config()? });
        let c = BidirectionalConfig { name: self.core.name.clone(), layer, merge_mode: self.merge_mode };
        serde_json::to_value(c).ok()
    }
}
