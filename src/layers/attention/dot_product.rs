//! `Attention`: Keras's dot-product attention of a query sequence over a value sequence (see
//! the type).

use crate::activations::softmax_in_place;
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{InputGrads, Inputs, Layer, Param};
use crate::rng::Rng;
use crate::tensor::{kernels, Tensor};

/// Keras's `Attention(use_scale=False, score_mode="dot")` (Luong-style), called on
/// `[query, value]` or `[query, value, key]` (the key defaults to the value), sequences
/// `[time, dim]` with the query's and key's `dim` equal:
///
/// ```text
/// S = Q Kᵀ (· scale, a learned scalar starting at 1, with use_scale)   [Tq, Tv]
/// P = softmax(S)   (use_causal_mask: query step t attends to steps ≤ t)
/// y = P V                                                              [Tq, value dim]
/// ```
///
/// With `score_mode("concat")` (Bahdanau-style), the scores come from every pair of steps
/// instead, with a learned weight `w` (Keras's `concat_score_weight`, starting at 1):
///
/// ```text
/// S[t, s] = w · Σ_d tanh(scale · (Q[t, d] + K[s, d]))                  (scale 1 without use_scale)
/// backward, with dz = dS[t, s] · w · (1 − tanh²): dQ[t] += scale · dz, dK[s] += scale · dz,
///   d scale += Σ dz ⊙ (Q[t] + K[s]),  dw += dS[t, s] · Σ_d tanh(…)
/// ```
///
/// (the tanh values are recomputed in backward rather than kept, `[Tq, Tv, dim]` per sample).
///
/// No projections (that is [`MultiHeadAttention`](crate::layers::MultiHeadAttention)'s work). The
/// scale and the concat weight are saved as tensors of shape `[1]` (Keras's are scalars, shape
/// `[]`). Keras's `return_attention_scores=True` is [`Attention::call_with_scores`]: the output
/// and `P`. Not yet: `dropout` and masks.
///
/// ```
/// use minibatch::layers::{Attention, GlobalAveragePooling1D, Dense};
/// use minibatch::models::{Call, Input, Model};
/// let (question, passage) = (Input::new(&[5, 8]), Input::new(&[12, 8]));
/// let attended = Attention::new().call([&question, &passage]);
/// let out = Dense::new(1).call(&GlobalAveragePooling1D::new().call(&attended));
/// let model = Model::new(&[&question, &passage], &[&out]).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Attention {
    use_scale: bool,
    /// Keras's `score_mode`: `dot` or `concat` (checked when built).
    score_mode: String,
    causal: bool,
    /// Keras's `return_attention_scores`: the output packs `y` and `P` per sample, flat
    /// (`[Tq·value dim + Tq·Tv]`), for two [`OutputPart`](crate::layers::OutputPart) nodes.
    scores: bool,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    tq: usize,
    tv: usize,
    dim: usize,
    dv: usize,
    inputs: usize,
    capacity: usize,
    /// `[n, Tq, Tv]`: the unscaled scores `Q Kᵀ`, and the attention weights `P`.
    raw: Vec<f32>,
    p: Vec<f32>,
    /// `[Tq, Tv]`, `[Tq, dim]`, `[Tv, dim]`: one sample's score and input gradients.
    dp: Vec<f32>,
    tmp: Vec<f32>,
    /// Concat: one sample's key gradient `[Tv, dim]` while `tmp` holds the query's.
    tmp_k: Vec<f32>,
}

/// Attention's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AttentionConfig {
    name: String,
    use_scale: bool,
    #[serde(default = "dot")]
    score_mode: String,
    #[serde(default)]
    use_causal_mask: bool,
    /// minibatch's: the layer packs its output and its scores (Keras's call argument).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    return_attention_scores: bool,
}

fn dot() -> String {
    "dot".into()
}

impl Default for Attention {
    fn default() -> Self {
        Attention::new()
    }
}

impl Attention {
    /// Dot-product attention without a learned scale (Keras's defaults).
    pub fn new() -> Self {
        Attention {
            use_scale: false,
            score_mode: dot(),
            causal: false,
            scores: false,
            tq: 0,
            tv: 0,
            dim: 0,
            dv: 0,
            inputs: 2,
            capacity: 0,
            raw: Vec::new(),
            p: Vec::new(),
            dp: Vec::new(),
            tmp: Vec::new(),
            tmp_k: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// Multiplies the scores by a learned scalar (Keras's `use_scale`, default false).
    pub fn use_scale(mut self, on: bool) -> Self {
        self.use_scale = on;
        self
    }

    /// Keras's `score_mode`: `"dot"` (the default) or `"concat"` (others are refused when the
    /// model is built).
    pub fn score_mode(mut self, mode: &str) -> Self {
        self.score_mode = mode.into();
        self
    }

    /// Each query step attends only to value steps at or before it (Keras's call argument
    /// `use_causal_mask`).
    pub fn use_causal_mask(mut self, on: bool) -> Self {
        self.causal = on;
        self
    }

    /// Packs the attention weights `P` after the output (Keras's call argument
    /// `return_attention_scores`); [`Attention::call_with_scores`] takes the two apart.
    pub fn return_attention_scores(mut self, on: bool) -> Self {
        self.scores = on;
        self
    }

    /// Values of one sample's output `y` (`Tq · value dim`), and of its packed tensor (with the
    /// scores `Tq · Tv` after them when asked for).
    fn lens(&self) -> (usize, usize) {
        let out = self.tq * self.dv;
        (out, out + if self.scores { self.tq * self.tv } else { 0 })
    }

    /// The layer's name (else the model assigns `attention`, ...).
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer an [`AttentionConfig`] describes.
    ///
    /// # Errors
    /// A `score_mode` other than `dot` or `concat`.
    pub fn from_config(c: AttentionConfig) -> Result<Self> {
        if !matches!(c.score_mode.as_str(), "dot" | "concat") {
            return Err(Error::invalid("score_mode", c.score_mode, "dot or concat"));
        }
        Ok(Attention::new()
            .use_scale(c.use_scale)
            .score_mode(&c.score_mode)
            .use_causal_mask(c.use_causal_mask)
            .return_attention_scores(c.return_attention_scores)
            .name(&c.name))
    }

    fn concat(&self) -> bool {
        self.score_mode == "concat"
    }

    fn scale(&self) -> f32 {
        if self.use_scale {
            self.core.params[0].value.data()[0]
        } else {
            1.0
        }
    }

    /// The concat weight `w` (1 in dot mode, where it does not exist).
    fn concat_weight(&self) -> f32 {
        if self.concat() {
            self.core.params[usize::from(self.use_scale)].value.data()[0]
        } else {
            1.0
        }
    }

    fn parts<'a>(xs: &Inputs<'a>) -> (&'a Tensor, &'a Tensor, &'a Tensor) {
        let value = xs.get(1);
        (xs.get(0), if xs.len() > 2 { xs.get(2) } else { value }, value)
    }
}

impl Layer for Attention {
    fn kind(&self) -> &'static str {
        "Attention"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape.to_vec()], rng)
    }

    fn build_many(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        let what = format!("inputs of layer {} (Attention)", self.core.name);
        let bad = |expected: &str| Error::Shape {
            what: what.clone(),
            expected: expected.into(),
            received: format!("{shapes:?}"),
        };
        if !(2..=3).contains(&shapes.len()) {
            return Err(bad("[query, value] or [query, value, key]"));
        }
        let (q, v) = (&shapes[0], &shapes[1]);
        let k = shapes.get(2).unwrap_or(v);
        let (&[tq, dim], &[tv, dv], &[tk, dk]) = (q.as_slice(), v.as_slice(), k.as_slice()) else {
            return Err(bad("sequences [time, dim]"));
        };
        if tk != tv || dk != dim || tq == 0 || tv == 0 || dim == 0 || dv == 0 {
            return Err(bad("a key with the value's steps and the query's dim, every size positive"));
        }
        if !matches!(self.score_mode.as_str(), "dot" | "concat") {
            return Err(Error::invalid(
                "score_mode",
                &self.score_mode,
                format!("dot or concat (layer {})", self.core.name),
            ));
        }
        (self.tq, self.tv, self.dim, self.dv, self.inputs) = (tq, tv, dim, dv, shapes.len());
        self.core.params.clear();
        if self.use_scale {
            let mut scale = Param::claim(&self.core.name, "scale", &[1])?;
            scale.value.data_mut().fill(1.0);
            self.core.params.push(scale);
        }
        if self.concat() {
            let mut w = Param::claim(&self.core.name, "concat_score_weight", &[1])?;
            w.value.data_mut().fill(1.0);
            self.core.params.push(w);
        }
        self.capacity = 0;
        Ok(if self.scores { vec![tq * dv + tq * tv] } else { vec![tq, dv] })
    }

    fn plan(&mut self, max_batch: usize) {
        if max_batch <= self.capacity {
            return;
        }
        let (tq, tv) = (self.tq, self.tv);
        self.raw = vec![0.0; max_batch * tq * tv];
        self.p = vec![0.0; max_batch * tq * tv];
        self.dp = vec![0.0; tq * tv];
        self.tmp = vec![0.0; tq.max(tv) * self.dim.max(self.dv)];
        self.tmp_k = if self.concat() { vec![0.0; tv * self.dim] } else { Vec::new() };
        self.capacity = max_batch;
    }

    // A model calls the layer on two or three tensors; the one-input methods attend a
    // sequence to itself.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let ids = [0, 0];
        self.forward_many(Inputs::new(std::slice::from_ref(x), &ids), y, training);
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let ids = [0, 0];
        let inputs = std::mem::replace(&mut self.inputs, 1);
        self.backward_many(Inputs::new(std::slice::from_ref(x), &ids), y, dy, InputGrads::one(dx));
        self.inputs = inputs;
    }

    fn output_parts(&self) -> Vec<(usize, Vec<usize>)> {
        let (tq, tv, dv) = (self.tq, self.tv, self.dv);
        if self.scores {
            vec![(0, vec![tq, dv]), (tq * dv, vec![tq, tv])]
        } else {
            Vec::new()
        }
    }

    // Per sample: S = Q Kᵀ · scale, P = softmax(S), y = P V (and P after it, packed, with
    // return_attention_scores).
    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, _training: bool) {
        let (query, key, value) = Attention::parts(&xs);
        let (tq, tv, dim, dv) = (self.tq, self.tv, self.dim, self.dv);
        let (out, row) = self.lens();
        let scale = self.scale();
        let (concat, w) = (self.concat(), self.concat_weight());
        for s in 0..query.batch() {
            let q = &query.data()[s * tq * dim..(s + 1) * tq * dim];
            let k = &key.data()[s * tv * dim..(s + 1) * tv * dim];
            let raw = &mut self.raw[s * tq * tv..(s + 1) * tq * tv];
            // raw: Q Kᵀ (dot), or Σ_d tanh(scale · (Q[t] + K[s])) (concat); S = raw · scale, or · w.
            if concat {
                for (t, row) in raw.chunks_exact_mut(tv).enumerate() {
                    let qt = &q[t * dim..(t + 1) * dim];
                    for (u, r) in row.iter_mut().enumerate() {
                        let ku = &k[u * dim..(u + 1) * dim];
                        *r = qt.iter().zip(ku).map(|(a, b)| (scale * (a + b)).tanh()).sum();
                    }
                }
            } else {
                kernels::matmul(raw, q, k, tq, dim, tv, false, true, 0.0);
            }
            let factor = if concat { w } else { scale };
            let p = &mut self.p[s * tq * tv..(s + 1) * tq * tv];
            for (r, (prow, srow)) in p.chunks_exact_mut(tv).zip(raw.chunks_exact(tv)).enumerate() {
                prow.iter_mut().zip(srow).for_each(|(p, &v)| *p = v * factor);
                if self.causal && r + 1 < tv {
                    prow[r + 1..].fill(f32::NEG_INFINITY);
                }
                softmax_in_place(prow);
            }
            let v = &value.data()[s * tv * dv..(s + 1) * tv * dv];
            let packed = &mut y.data_mut()[s * row..(s + 1) * row];
            kernels::matmul(&mut packed[..out], p, v, tq, tv, dv, false, false, 0.0);
            packed[out..].copy_from_slice(&p[..row - out]);
        }
    }

    // dV = Pᵀ dy; dP = dy Vᵀ; dS = P ⊙ (dP − Σ dP ⊙ P); d scale = Σ dS ⊙ Q Kᵀ;
    // dQ = dS K · scale; dK = dSᵀ Q · scale.
    fn backward_many(&mut self, xs: Inputs<'_>, _y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        let (query, key, value) = Attention::parts(&xs);
        let (tq, tv, dim, dv) = (self.tq, self.tv, self.dim, self.dv);
        let scale = self.scale();
        // Where the query's, key's and value's gradients go (the key is the value when not
        // given; all three are one input when the layer attends a sequence to itself).
        let (q_slot, k_slot, v_slot) = match (xs.len(), self.inputs) {
            (_, 1) => (0, 0, 0),
            (3, _) => (0, 2, 1),
            _ => (0, 1, 1),
        };
        let (concat, w) = (self.concat(), self.concat_weight());
        let (mut d_scale, mut d_w) = (0.0f32, 0.0f32);
        let (out, row) = self.lens();
        for s in 0..query.batch() {
            let p = &self.p[s * tq * tv..(s + 1) * tq * tv];
            let (g, d_scores) = dy.data()[s * row..(s + 1) * row].split_at(out);
            let v = &value.data()[s * tv * dv..(s + 1) * tv * dv];
            // dP (plus the returned scores' own gradient), then dS in place.
            let dp = &mut self.dp[..tq * tv];
            kernels::matmul(dp, g, v, tq, dv, tv, false, true, 0.0);
            dp.iter_mut().zip(d_scores).for_each(|(d, g)| *d += g);
            // The softmax's backward, row by row: dS = P ⊙ (dP − Σ dP ⊙ P).
            crate::activations::Activation::Softmax.backward(dp, p, p, tv);
            let raw = &self.raw[s * tq * tv..(s + 1) * tq * tv];
            let q = &query.data()[s * tq * dim..(s + 1) * tq * dim];
            let k = &key.data()[s * tv * dim..(s + 1) * tv * dim];
            if concat {
                // dw = Σ dS ⊙ raw; through the tanh (recomputed): dz = dS · w · (1 − tanh²).
                d_w += dp.iter().zip(raw).map(|(d, r)| d * r).sum::<f32>();
                let (dq, dk) = (&mut self.tmp[..tq * dim], &mut self.tmp_k[..tv * dim]);
                dq.fill(0.0);
                dk.fill(0.0);
                for t in 0..tq {
                    for u in 0..tv {
                        let g = dp[t * tv + u] * w;
                        for d in 0..dim {
                            let z = q[t * dim + d] + k[u * dim + d];
                            let th = (scale * z).tanh();
                            let dz = g * (1.0 - th * th);
                            dq[t * dim + d] += scale * dz;
                            dk[u * dim + d] += scale * dz;
                            d_scale += dz * z;
                        }
                    }
                }
            } else {
                d_scale += dp.iter().zip(raw).map(|(d, r)| d * r).sum::<f32>();
            }
            // Each input's gradient is written by the first of the projections reading it and
            // added to by the others.
            let mut written = [false; 3];
            if let Some(dx) = dxs.get_mut(v_slot) {
                kernels::matmul(&mut dx.data_mut()[s * tv * dv..(s + 1) * tv * dv], p, g, tv, tq, dv, true, false, 0.0);
                written[v_slot] = true;
            }
            if let Some(dx) = dxs.get_mut(k_slot) {
                let beta = if written[k_slot] { 1.0 } else { 0.0 };
                let out = &mut dx.data_mut()[s * tv * dim..(s + 1) * tv * dim];
                if concat {
                    out.iter_mut().zip(&self.tmp_k[..tv * dim]).for_each(|(o, &t)| *o = beta * *o + t);
                } else {
                    let tmp = &mut self.tmp[..tv * dim];
                    kernels::matmul(tmp, dp, q, tv, tq, dim, true, false, 0.0);
                    out.iter_mut().zip(tmp.iter()).for_each(|(o, &t)| *o = beta * *o + scale * t);
                }
                written[k_slot] = true;
            }
            if let Some(dx) = dxs.get_mut(q_slot) {
                let beta = if written[q_slot] { 1.0 } else { 0.0 };
                let out = &mut dx.data_mut()[s * tq * dim..(s + 1) * tq * dim];
                if concat {
                    out.iter_mut().zip(&self.tmp[..tq * dim]).for_each(|(o, &t)| *o = beta * *o + t);
                } else {
                    let tmp = &mut self.tmp[..tq * dim];
                    kernels::matmul(tmp, dp, k, tq, tv, dim, false, false, 0.0);
                    out.iter_mut().zip(tmp.iter()).for_each(|(o, &t)| *o = beta * *o + scale * t);
                }
            }
        }
        if self.use_scale {
            self.core.params[0].grad.data_mut()[0] = d_scale;
        }
        if concat {
            self.core.params[usize::from(self.use_scale)].grad.data_mut()[0] = d_w;
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let (tq, tv) = (self.tq, self.tv);
        let concat = if self.concat() { tv * self.dim } else { 0 };
        4 * (2 * max_batch * tq * tv + tq * tv + tq.max(tv) * self.dim.max(self.dv) + concat)
    }

    fn workspace_bytes(&self) -> usize {
        4 * (self.raw.len() + self.p.len() + self.dp.len() + self.tmp.len() + self.tmp_k.len())
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = AttentionConfig {
            name: self.core.name.clone(),
            use_scale: self.use_scale,
            score_mode: self.score_mode.clone(),
            use_causal_mask: self.causal,
            return_attention_scores: self.scores,
        };
        serde_json::to_value(c).ok()
    }
}
