//! `MultiHeadAttention`: self-attention over one sequence, or a query sequence attending to a
//! value (and key) sequence (see the type).

use crate::activations::softmax_in_place;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::layers::LayerCore;
use crate::layers::{Layer, Param};
use crate::rng::Rng;
use crate::tensor::{kernels, Tensor};

/// What Keras adds to a masked attention score (`_large_negative_number` for float32).
const LARGE_NEGATIVE: f32 = -1e9;

/// Keras's `MultiHeadAttention(num_heads, key_dim, value_dim=None, use_bias=True,
/// output_shape=None)` on sequences `[time, features]` (optionally with
/// `use_causal_mask=True`). Called on one tensor (in a Sequential model, or `.call(&x)`) it is
/// self-attention, Keras's `mha(x, x)`; called on `[&query, &value]` or
/// `[&query, &value, &key]` (Keras's argument order; the key defaults to the value) the query
/// attends to the other sequence:
///
/// ```text
/// Q = q W_q + b_q,  K = k W_k + b_k,  V = v W_v + b_v     per head: [Tq, key_dim], [Tv, key_dim], [Tv, value_dim]
/// P = softmax(Q Kᵀ / √key_dim)   (causal: query step t attends to steps ≤ t)
/// y = concat_heads(P V) W_o + b_o                           [Tq, output_dim or the query's features]
/// ```
///
/// The weights have Keras's shapes and names (`query/kernel` `[features, heads, key_dim]`, ...,
/// `attention_output/kernel` `[heads, value_dim, output]`), glorot-uniform kernels and zero
/// biases. With `dropout`, the attention weights `P` are dropped in training (kept with
/// probability `1 − rate`, scaled by `1/(1 − rate)`), as Keras's layer does with its Dropout,
/// from a generator seeded when the layer is built and saved with its weights.
///
/// Keras's `attention_mask` (`mha(query, value, attention_mask=mask)`) is
/// [`MultiHeadAttention::call_with_mask`]: a tensor `[Tq, Tv]` per sample, nonzero where query
/// step `t` may attend to value step `s`. As Keras, a masked score gets −1e9 added before the
/// softmax (combined with the causal mask when both are given), so a query step with nothing
/// to attend to spreads its weight evenly rather than giving NaN; the mask takes no gradient.
///
/// Masks from an `Embedding(mask_zero)` or `Masking` become the attention mask as Keras makes
/// it: query step `t` may attend to value step `s` when the query's mask keeps `t`, the
/// value's (and a given key's) keeps `s`, and `attention_mask` and the causal mask allow it;
/// the output carries the query's mask on.
///
/// ```
/// use minibatch::layers::{Dense, GlobalAveragePooling1D, MultiHeadAttention};
/// let model = minibatch::Sequential::new()
///     .input_shape(&[28, 28])
///     .add(MultiHeadAttention::new(4, 16).use_causal_mask(true))
///     .add(GlobalAveragePooling1D::new())
///     .add(Dense::new(10).activation("softmax"));
/// ```
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    heads: usize,
    key_dim: usize,
    value_dim: Option<usize>,
    output_dim: Option<usize>,
    use_bias: bool,
    causal: bool,
    /// The last input is an attention mask (see [`MultiHeadAttention::call_with_mask`]).
    masked: bool,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]);
    /// `core.params`: query, key, value, attention_output: kernel then bias (when `use_bias`) each.
    core: LayerCore,
    /// The query's steps and features; the value's (and key's) steps; the key's and the
    /// value's features.
    steps: usize,
    features: usize,
    kv_steps: usize,
    key_features: usize,
    value_features: usize,
    /// How many tensors the layer was called on (1: self-attention).
    inputs: usize,
    /// Attention dropout's rate, its generator, and per planned batch the latest mask (scale
    /// or 0 per weight of `P`) and the dropped weights, when training dropped any.
    dropout: f32,
    drop_mask: Vec<f32>,
    dropped_p: Vec<f32>,
    dropped: bool,
    /// Per planned batch: Q, K, V `[n, T, h·d]`; P `[n, h, T, T]`; O `[n, T, h·dv]`; and the
    /// gradients of Q, K, V, O, P beside them.
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    p: Vec<f32>,
    o: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
    do_: Vec<f32>,
    /// Per thread of the per-sample loops: one head's `[T, d]` blocks three times, contiguous,
    /// for the per-head products, and one head's `dP` (`[Tq, Tv]`).
    scratch: Vec<f32>,
    capacity: usize,
}

/// MultiHeadAttention's saved arguments (Keras's names).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MultiHeadAttentionConfig {
    name: String,
    num_heads: usize,
    key_dim: usize,
    value_dim: Option<usize>,
    output_shape: Option<usize>,
    use_bias: bool,
    #[serde(default)]
    use_causal_mask: bool,
    #[serde(default)]
    dropout: f32,
    /// Called with an attention mask as its last input.
    #[serde(default)]
    attention_mask: bool,
}

impl MultiHeadAttention {
    /// `num_heads` heads of `key_dim`, with Keras's defaults (`value_dim` = `key_dim`, biases,
    /// output as wide as the input).
    pub fn new(num_heads: usize, key_dim: usize) -> Self {
        MultiHeadAttention {
            heads: num_heads,
            key_dim,
            value_dim: None,
            output_dim: None,
            use_bias: true,
            causal: false,
            masked: false,
            steps: 0,
            features: 0,
            kv_steps: 0,
            key_features: 0,
            value_features: 0,
            inputs: 1,
            dropout: 0.0,
            drop_mask: Vec::new(),
            dropped_p: Vec::new(),
            dropped: false,
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            p: Vec::new(),
            o: Vec::new(),
            dq: Vec::new(),
            dk: Vec::new(),
            dv: Vec::new(),
            do_: Vec::new(),
            scratch: Vec::new(),
            capacity: 0,
            core: LayerCore::default(),
        }
    }
    /// Each head's value size (default `key_dim`).
    pub fn value_dim(mut self, d: usize) -> Self {
        self.value_dim = Some(d);
        self
    }
    /// The output's last axis (Keras's `output_shape`; default the input's).
    pub fn output_shape(mut self, d: usize) -> Self {
        self.output_dim = Some(d);
        self
    }
    /// Whether the projections have biases (default true).
    pub fn use_bias(mut self, on: bool) -> Self {
        self.use_bias = on;
        self
    }
    /// The rate at which attention weights are dropped in training (Keras's `dropout`,
    /// default 0).
    pub fn dropout(mut self, rate: f32) -> Self {
        self.dropout = rate;
        self
    }
    /// Each step attends only to itself and earlier steps (Keras's `use_causal_mask=True`).
    pub fn use_causal_mask(mut self, on: bool) -> Self {
        self.causal = on;
        self
    }

    /// The layer taking Keras's `attention_mask` as its last input (for the functional call
    /// `call_with_mask`, in `models`).
    pub(crate) fn with_attention_mask(mut self) -> Self {
        self.masked = true;
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }
    /// The layer a [`MultiHeadAttentionConfig`] describes.
    pub fn from_config(c: MultiHeadAttentionConfig) -> Self {
        MultiHeadAttention {
            value_dim: c.value_dim,
            output_dim: c.output_shape,
            use_bias: c.use_bias,
            causal: c.use_causal_mask,
            dropout: c.dropout,
            masked: c.attention_mask,
            ..MultiHeadAttention::new(c.num_heads, c.key_dim).name(&c.name)
        }
    }

    // # Shapes
    // query: [n, Tq, D]; key: [n, Tv, Dk]; value: [n, Tv, Dv]; Q: [n, Tq, h·dk];
    // K: [n, Tv, h·dk]; V: [n, Tv, h·dv]; P: [n, h, Tq, Tv]; O: [n, Tq, h·dv]; y: [n, Tq, out]
    fn attend(&mut self, query: &Tensor, key: &Tensor, value: &Tensor, y: &mut Tensor, training: bool) {
        self.attend_masked(query, key, value, Masks::default(), y, training);
    }

    /// [`Self::attend`] under `masks`: Keras's `attention_mask` (`[n, Tq, Tv]`) and the steps'
    /// masks of the query, value and key (`[n, T]`), each nonzero where allowed.
    fn attend_masked(
        &mut self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        masks: Masks<'_>,
        y: &mut Tensor,
        training: bool,
    ) {
        let n = query.batch();
        let (tq, tv, h, dk, dv, out) =
            (self.steps, self.kv_steps, self.heads, self.key_dim, self.dv_size(), self.out_size());
        let scale = 1.0 / (dk as f32).sqrt();
        self.dropped = training && self.dropout > 0.0;
        // The three projections.
        for (i, input, rows, width) in
            [(0, query, n * tq, h * dk), (1, key, n * tv, h * dk), (2, value, n * tv, h * dv)]
        {
            let (kernel, bias) = weights(&self.core.params, self.use_bias, i);
            let buf = match i {
                0 => &mut self.q,
                1 => &mut self.k,
                _ => &mut self.v,
            };
            let buf = &mut buf[..rows * width];
            kernels::matmul(
                buf,
                input.data(),
                kernel,
                rows,
                input.row_len() / input.shape()[1],
                width,
                false,
                false,
                0.0,
            );
            if let Some(b) = bias {
                kernels::add_row_bias(buf, b);
            }
        }
        kernels::scale(&mut self.q[..n * tq * h * dk], scale);
        // Per sample and head: P = softmax(Q Kᵀ), O = P V, the samples shared among the
        // kernel threads (each writes only its samples' P, masks and O; the same bits for
        // any thread count). The attention dropout masks of a sample, all heads, from the
        // step's key and the sample's global position.
        let key = if self.dropped { self.core.rng.next_u64() } else { 0 };
        let geo =
            Geometry { tq, tv, h, dk, dv, causal: self.causal, rate: self.dropout, key, offset: self.core.offset };
        let (q, k, v) = (&self.q[..], &self.k[..], &self.v[..]);
        let dropped = self.dropped;
        let lent = Lent::new([&mut self.p, &mut self.o, &mut self.drop_mask, &mut self.dropped_p, &mut self.scratch]);
        let parts = crate::tensor::max_parts().min(n);
        crate::tensor::for_each_part(parts, &|t| {
            // SAFETY: part t alone takes samples n·t/parts.. and scratch block t (see `Lent`).
            let scratch = unsafe { lent.slice(4, t * geo.scratch(), geo.scratch()) };
            for s in n * t / parts..n * (t + 1) / parts {
                let (pl, ol) = (h * tq * tv, tq * h * dv);
                // SAFETY: sample s's ranges, written by this part only.
                let (p, o) = unsafe { (lent.slice(0, s * pl, pl), lent.slice(1, s * ol, ol)) };
                let drop = dropped.then(|| unsafe { (lent.slice(2, s * pl, pl), lent.slice(3, s * pl, pl)) });
                let (qs, ks, vs) = (
                    &q[s * tq * h * dk..][..tq * h * dk],
                    &k[s * tv * h * dk..][..tv * h * dk],
                    &v[s * tv * h * dv..][..tv * h * dv],
                );
                geo.attend(s, qs, ks, vs, masks.of_sample(s, tq, tv), p, drop, o, scratch);
            }
        });
        // The output projection.
        let (kernel, bias) = weights(&self.core.params, self.use_bias, 3);
        let yd = y.data_mut();
        kernels::matmul(yd, &self.o[..n * tq * h * dv], kernel, n * tq, h * dv, out, false, false, 0.0);
        if let Some(b) = bias {
            kernels::add_row_bias(yd, b);
        }
    }

    /// Backward of [`Self::attend`] for inputs `[query, key, value]`; the gradient of the input
    /// of projection `i` (0 query, 1 key, 2 value) goes to `dxs`'s input `slots[i]` (added
    /// when two projections read the same input).
    fn attend_backward(
        &mut self,
        ins: [&Tensor; 3],
        dy: &mut Tensor,
        mut dxs: crate::layers::InputGrads<'_>,
        slots: [usize; 3],
    ) {
        let n = ins[0].batch();
        let (tq, tv, h, dk, dv, out) =
            (self.steps, self.kv_steps, self.heads, self.key_dim, self.dv_size(), self.out_size());
        let scale = 1.0 / (dk as f32).sqrt();
        let per = if self.use_bias { 2 } else { 1 };
        let g = dy.data();
        let rows = n * tq;
        // Output projection: dW_o = Oᵀ dy, db_o = Σ dy, dO = dy W_oᵀ.
        {
            let (kernel, rest) = self.core.params[3 * per..].split_first_mut().expect("built");
            kernels::matmul(kernel.grad.data_mut(), &self.o[..rows * h * dv], g, h * dv, rows, out, true, false, 0.0);
            if let Some(b) = rest.first_mut() {
                let db = b.grad.data_mut();
                db.fill(0.0);
                g.chunks_exact(out).for_each(|r| kernels::add(db, r));
            }
            let dout = &mut self.do_[..rows * h * dv];
            kernels::matmul(dout, g, kernel.value.data(), rows, out, h * dv, false, true, 0.0);
        }
        // Per sample and head: dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − Σ dP ⊙ P), dQ = dS K,
        // dK = dSᵀ Q; the samples shared among the kernel threads as in forward.
        let geo = Geometry { tq, tv, h, dk, dv, causal: self.causal, rate: self.dropout, key: 0, offset: 0 };
        let (q, k, v, p, do_) = (&self.q[..], &self.k[..], &self.v[..], &self.p[..], &self.do_[..]);
        let drop = self.dropped.then_some((&self.drop_mask[..], &self.dropped_p[..]));
        let lent = Lent::new([&mut self.dq, &mut self.dk, &mut self.dv, &mut self.scratch]);
        let parts = crate::tensor::max_parts().min(n);
        crate::tensor::for_each_part(parts, &|t| {
            // SAFETY: part t alone takes samples n·t/parts.. and scratch block t (see `Lent`).
            let scratch = unsafe { lent.slice(3, t * geo.scratch(), geo.scratch()) };
            for s in n * t / parts..n * (t + 1) / parts {
                let (ql, kl, vl, pl) = (tq * h * dk, tv * h * dk, tv * h * dv, h * tq * tv);
                // SAFETY: sample s's ranges, written by this part only.
                let (dq, dk_, dv_) =
                    unsafe { (lent.slice(0, s * ql, ql), lent.slice(1, s * kl, kl), lent.slice(2, s * vl, vl)) };
                let ins = [
                    &q[s * ql..][..ql],
                    &k[s * kl..][..kl],
                    &v[s * vl..][..vl],
                    &do_[s * tq * h * dv..][..tq * h * dv],
                ];
                let d = drop.map(|(m, dp)| (&m[s * pl..][..pl], &dp[s * pl..][..pl]));
                geo.attend_backward(ins, &p[s * pl..][..pl], d, [dq, dk_, dv_], scratch);
            }
        });
        kernels::scale(&mut self.dq[..rows * h * dk], scale);
        // The input projections: dW = inputᵀ dZ, db = Σ dZ, d input = dZ Wᵀ.
        let mut written = [false; 3];
        for (i, r, width) in [(0, n * tq, h * dk), (1, n * tv, h * dk), (2, n * tv, h * dv)] {
            let input = ins[i];
            let d = input.row_len() / input.shape()[1];
            let dz = match i {
                0 => &self.dq[..r * width],
                1 => &self.dk[..r * width],
                _ => &self.dv[..r * width],
            };
            let (kernel, rest) = self.core.params[i * per..].split_first_mut().expect("built");
            kernels::matmul(kernel.grad.data_mut(), input.data(), dz, d, r, width, true, false, 0.0);
            if self.use_bias {
                let db = rest[0].grad.data_mut();
                db.fill(0.0);
                dz.chunks_exact(width).for_each(|row| kernels::add(db, row));
            }
            let slot = slots[i];
            if let Some(dx) = dxs.get_mut(slot) {
                let beta = if written[slot] { 1.0 } else { 0.0 };
                kernels::matmul(dx.data_mut(), dz, kernel.value.data(), r, width, d, false, true, beta);
                written[slot] = true;
            }
        }
    }

    fn dv_size(&self) -> usize {
        self.value_dim.unwrap_or(self.key_dim)
    }
    fn out_size(&self) -> usize {
        self.output_dim.unwrap_or(self.features)
    }
}

/// `(kernel, bias)` of projection `i` (0 query, 1 key, 2 value, 3 output).
fn weights(params: &[Param], use_bias: bool, i: usize) -> (&[f32], Option<&[f32]>) {
    let per = if use_bias { 2 } else { 1 };
    (params[i * per].value.data(), use_bias.then(|| params[i * per + 1].value.data()))
}

/// Copies head `h` (columns `h·d..(h+1)·d` of `[T, heads·d]`) of sample rows into `[T, d]`.
/// The masks one call of the layer is under: Keras's `attention_mask` and its inputs' step
/// masks (see [`MultiHeadAttention`]).
#[derive(Clone, Copy, Default)]
struct Masks<'a> {
    attention: Option<&'a Tensor>,
    query: Option<&'a Tensor>,
    value: Option<&'a Tensor>,
    key: Option<&'a Tensor>,
}

impl<'a> Masks<'a> {
    /// Sample `s`'s share of each.
    fn of_sample(&self, s: usize, tq: usize, tv: usize) -> SampleMask<'a> {
        let rows = |m: Option<&'a Tensor>, len: usize| m.map(|m| &m.data()[s * len..(s + 1) * len]);
        SampleMask {
            attention: rows(self.attention, tq * tv),
            query: rows(self.query, tq),
            value: rows(self.value, tv),
            key: rows(self.key, tv),
        }
    }
}

/// One sample's masks: `attention` `[Tq, Tv]`, `query` `[Tq]`, `value` and `key` `[Tv]`.
#[derive(Clone, Copy)]
struct SampleMask<'a> {
    attention: Option<&'a [f32]>,
    query: Option<&'a [f32]>,
    value: Option<&'a [f32]>,
    key: Option<&'a [f32]>,
}

impl SampleMask<'_> {
    /// Whether any mask is given.
    fn any(&self) -> bool {
        self.attention.is_some() || self.query.is_some() || self.value.is_some() || self.key.is_some()
    }

    /// Whether query step `t` may attend to value step `s` (Keras's `_compute_attention_mask`:
    /// the AND of every mask given).
    fn allows(&self, t: usize, s: usize, tv: usize) -> bool {
        let keeps = |m: Option<&[f32]>, i: usize| m.is_none_or(|m| m[i] != 0.0);
        keeps(self.query, t) && keeps(self.value, s) && keeps(self.key, s) && keeps(self.attention, t * tv + s)
    }
}

/// The shapes of one layer's attention, and what one sample's pass needs besides its data.
#[derive(Clone, Copy)]
struct Geometry {
    tq: usize,
    tv: usize,
    h: usize,
    dk: usize,
    dv: usize,
    causal: bool,
    /// Attention dropout's rate, the step's key and the batch's first global position.
    rate: f32,
    key: u64,
    offset: usize,
}

impl Geometry {
    /// Values of one thread's scratch: three head blocks and one `dP`.
    fn scratch(&self) -> usize {
        3 * self.tq.max(self.tv) * self.dk.max(self.dv) + self.tq * self.tv
    }

    /// Sample `s`'s attention, every head: `p` (`[h, Tq, Tv]`) = softmax of the scaled scores
    /// under `mask` and the causal mask; with `drop`, its mask drawn and `P ⊙ mask`
    /// kept; `o` (`[Tq, h·dv]`) = the (dropped) weights times V.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        s: usize,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        mask: SampleMask<'_>,
        p: &mut [f32],
        mut drop: Option<(&mut [f32], &mut [f32])>,
        o: &mut [f32],
        scratch: &mut [f32],
    ) {
        let Geometry { tq, tv, h, dk, dv, .. } = *self;
        let head = tq.max(tv) * dk.max(dv);
        let (a, rest) = scratch.split_at_mut(head);
        let (b, rest) = rest.split_at_mut(head);
        let c = &mut rest[..head];
        if let Some((m, _)) = drop.as_mut() {
            let mut rng = crate::layers::dropout::sample_rng(self.key, self.offset + s);
            crate::ops::dropout_mask(&mut rng, self.rate, m);
        }
        for hd in 0..h {
            take_head(q, a, tq, h, dk, hd);
            take_head(k, b, tv, h, dk, hd);
            let p = &mut p[hd * tq * tv..(hd + 1) * tq * tv];
            kernels::matmul(p, &a[..tq * dk], &b[..tv * dk], tq, dk, tv, false, true, 0.0);
            for (r, row) in p.chunks_exact_mut(tv).enumerate() {
                if mask.any() {
                    // Keras's masked softmax: −1e9 added where the masks (and the causal mask,
                    // when on) forbid.
                    for (col, v) in row.iter_mut().enumerate() {
                        if !mask.allows(r, col, tv) || (self.causal && col > r) {
                            *v += LARGE_NEGATIVE;
                        }
                    }
                } else if self.causal && r + 1 < tv {
                    row[r + 1..].fill(f32::NEG_INFINITY);
                }
                softmax_in_place(row);
            }
            // Attention dropout: O = (P ⊙ mask) V, the mask kept for backward.
            let block = hd * tq * tv..(hd + 1) * tq * tv;
            let used: &[f32] = match drop.as_mut() {
                Some((m, dropped)) => {
                    let dropped = &mut dropped[block.clone()];
                    dropped.iter_mut().zip(p.iter().zip(&m[block])).for_each(|(d, (&p, &m))| *d = p * m);
                    dropped
                }
                None => p,
            };
            take_head(v, b, tv, h, dv, hd);
            kernels::matmul(&mut c[..tq * dv], used, &b[..tv * dv], tq, tv, dv, false, false, 0.0);
            put_head(&c[..tq * dv], o, tq, h, dv, hd, false);
        }
    }

    /// Backward of [`Geometry::attend`] for one sample: from `[Q, K, V, dO]` of the sample and
    /// its `p` (and dropout's mask and dropped weights), `[dQ, dK, dV]` (of the scaled Q).
    fn attend_backward(
        &self,
        [q, k, v, d_o]: [&[f32]; 4],
        p: &[f32],
        drop: Option<(&[f32], &[f32])>,
        [dq, dk_, dv_]: [&mut [f32]; 3],
        scratch: &mut [f32],
    ) {
        let Geometry { tq, tv, h, dk, dv, .. } = *self;
        let head = tq.max(tv) * dk.max(dv);
        let (a, rest) = scratch.split_at_mut(head);
        let (b, rest) = rest.split_at_mut(head);
        let (c, dp) = rest.split_at_mut(head);
        let dp = &mut dp[..tq * tv];
        for hd in 0..h {
            let block = hd * tq * tv..(hd + 1) * tq * tv;
            let p = &p[block.clone()];
            // With dropout, the weights O was made from (P ⊙ mask).
            let used = drop.map_or(p, |(_, dropped)| &dropped[block.clone()]);
            take_head(d_o, a, tq, h, dv, hd);
            // dV
            kernels::matmul(&mut c[..tv * dv], used, &a[..tq * dv], tv, tq, dv, true, false, 0.0);
            put_head(&c[..tv * dv], dv_, tv, h, dv, hd, false);
            // dP, then dS in place
            take_head(v, b, tv, h, dv, hd);
            kernels::matmul(dp, &a[..tq * dv], &b[..tv * dv], tq, dv, tv, false, true, 0.0);
            if let Some((m, _)) = drop {
                dp.iter_mut().zip(&m[block]).for_each(|(d, m)| *d *= m);
            }
            // The softmax's backward, row by row: dS = P ⊙ (dP − Σ dP ⊙ P).
            crate::activations::Activation::Softmax.backward(dp, p, p, tv);
            // dQ (of the scaled Q) = dS K; dK = dSᵀ Q
            take_head(k, b, tv, h, dk, hd);
            kernels::matmul(&mut c[..tq * dk], dp, &b[..tv * dk], tq, tv, dk, false, false, 0.0);
            put_head(&c[..tq * dk], dq, tq, h, dk, hd, false);
            take_head(q, b, tq, h, dk, hd);
            kernels::matmul(&mut c[..tv * dk], dp, &b[..tq * dk], tv, tq, dk, true, false, 0.0);
            put_head(&c[..tv * dk], dk_, tv, h, dk, hd, false);
        }
    }
}

/// Buffers lent to the threads of a per-sample loop, as raw pointers: each thread makes
/// slices of the parts it alone writes (its samples' ranges, its scratch block).
struct Lent<const N: usize>([(*mut f32, usize); N]);

// SAFETY: the pointers are used only through `slice`, whose callers take disjoint ranges;
// `for_each_part` returns only when every thread is done, while the buffers are still lent.
unsafe impl<const N: usize> Sync for Lent<N> {}

impl<const N: usize> Lent<N> {
    fn new(bufs: [&mut Vec<f32>; N]) -> Self {
        Lent(bufs.map(|b| (b.as_mut_ptr(), b.len())))
    }

    /// Values `at..at + len` of buffer `i`.
    ///
    /// # Safety
    /// No other live slice may overlap the range.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, i: usize, at: usize, len: usize) -> &mut [f32] {
        let (ptr, total) = self.0[i];
        assert!(at + len <= total, "a lent range within its buffer");
        // SAFETY: within the buffer (checked); not overlapping, by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(ptr.add(at), len) }
    }
}

fn take_head(src: &[f32], dst: &mut [f32], steps: usize, heads: usize, d: usize, h: usize) {
    for t in 0..steps {
        dst[t * d..(t + 1) * d].copy_from_slice(&src[(t * heads + h) * d..(t * heads + h + 1) * d]);
    }
}

/// The inverse of [`take_head`]: writes (or adds, with `add`) `[T, d]` into head `h`'s columns.
fn put_head(src: &[f32], dst: &mut [f32], steps: usize, heads: usize, d: usize, h: usize, add: bool) {
    for t in 0..steps {
        let out = &mut dst[(t * heads + h) * d..(t * heads + h + 1) * d];
        if add {
            kernels::add(out, &src[t * d..(t + 1) * d]);
        } else {
            out.copy_from_slice(&src[t * d..(t + 1) * d]);
        }
    }
}

impl Layer for MultiHeadAttention {
    // Keras applies the query's, value's and key's masks and passes the query's on.
    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::First
    }

    fn kind(&self) -> &'static str {
        "MultiHeadAttention"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape.to_vec()], rng)
    }

    /// One input: self-attention. `[query, value]` or `[query, value, key]`: cross-attention.
    fn build_many(&mut self, shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.core.name.clone();
        let shapes = if self.masked {
            let Some((mask, rest)) = shapes.split_last() else {
                return Err(Error::invalid(
                    "attention_mask",
                    "given alone",
                    format!("a query and a mask (layer {name})"),
                ));
            };
            let (tq, tv) = match (rest.first(), rest.get(1).or(rest.first())) {
                (Some(q), Some(v)) => (q.first().copied().unwrap_or(0), v.first().copied().unwrap_or(0)),
                _ => (0, 0),
            };
            if mask.as_slice() != [tq, tv] {
                return Err(Error::Shape {
                    what: format!("the attention_mask of layer {name}"),
                    expected: format!("[query steps, value steps] = [{tq}, {tv}] per sample"),
                    received: format!("{mask:?}"),
                });
            }
            rest
        } else {
            shapes
        };
        if shapes.is_empty() || shapes.len() > 3 {
            return Err(Error::Shape {
                what: format!("inputs of layer {name} (MultiHeadAttention)"),
                expected: "one tensor (self-attention), or [query, value] or [query, value, key]".into(),
                received: format!("{} tensors", shapes.len()),
            });
        }
        let query = &shapes[0];
        let value = shapes.get(1).unwrap_or(query);
        let key = shapes.get(2).unwrap_or(value);
        let sequence = |s: &Vec<usize>, which: &str| -> Result<(usize, usize)> {
            match s.as_slice() {
                &[t, f] if t > 0 && f > 0 => Ok((t, f)),
                other => Err(Error::shape(
                    format!("the {which} of layer {name}"),
                    "sequences [time, features] of at least one step and one feature",
                    other,
                )),
            }
        };
        let (steps, features) = sequence(query, "query")?;
        let (kv_steps, value_features) = sequence(value, "value")?;
        let (key_steps, key_features) = sequence(key, "key")?;
        if key_steps != kv_steps {
            return Err(Error::Shape {
                what: format!("the key and value of layer {name}"),
                expected: "as many key steps as value steps".into(),
                received: format!("key {key:?}, value {value:?}"),
            });
        }
        for (arg, v) in [("num_heads", self.heads), ("key_dim", self.key_dim), ("value_dim", self.dv_size())] {
            if v == 0 {
                return Err(Error::invalid(arg, 0, format!("a positive size (layer {name})")));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid("dropout", self.dropout, format!("a rate in [0, 1) (layer {name})")));
        }
        self.core.rng = Rng::new(rng.next_u64());
        if self.output_dim == Some(0) {
            return Err(Error::invalid("output_shape", 0, format!("a positive size (layer {name})")));
        }
        (self.steps, self.features, self.kv_steps) = (steps, features, kv_steps);
        (self.key_features, self.value_features, self.inputs) = (key_features, value_features, shapes.len());
        let (h, dk, dv, out) = (self.heads, self.key_dim, self.dv_size(), self.out_size());
        let shapes: [(&'static str, &'static str, Vec<usize>, Vec<usize>); 4] = [
            ("query/kernel", "query/bias", vec![features, h, dk], vec![h, dk]),
            ("key/kernel", "key/bias", vec![key_features, h, dk], vec![h, dk]),
            ("value/kernel", "value/bias", vec![value_features, h, dv], vec![h, dv]),
            ("attention_output/kernel", "attention_output/bias", vec![h, dv, out], vec![out]),
        ];
        self.core.params.clear();
        for (kernel, bias, kshape, bshape) in shapes {
            let mut k = Param::claim(&name, kernel, &kshape)?;
            // Keras's EinsumDense fans: the kernel's first axis in, the rest out (the output
            // projection: heads·value_dim in, output out).
            let (fan_in, fan_out) =
                if kernel.starts_with("attention") { (h * dv, out) } else { (kshape[0], kshape[1] * kshape[2]) };
            Initializer::GlorotUniform.fill(k.value.data_mut(), fan_in, fan_out, rng);
            self.core.params.push(k);
            if self.use_bias {
                self.core.params.push(Param::claim(&name, bias, &bshape)?);
            }
        }
        self.capacity = 0;
        Ok(vec![steps, out])
    }

    fn plan(&mut self, max_batch: usize) {
        if max_batch <= self.capacity {
            return;
        }
        let (n, tq, tv, h, dk, dv) = (max_batch, self.steps, self.kv_steps, self.heads, self.key_dim, self.dv_size());
        let head = tq.max(tv) * dk.max(dv);
        for (buf, len) in [
            (&mut self.q, n * tq * h * dk),
            (&mut self.k, n * tv * h * dk),
            (&mut self.v, n * tv * h * dv),
            (&mut self.p, n * h * tq * tv),
            (&mut self.o, n * tq * h * dv),
            (&mut self.dq, n * tq * h * dk),
            (&mut self.dk, n * tv * h * dk),
            (&mut self.dv, n * tv * h * dv),
            (&mut self.do_, n * tq * h * dv),
            (&mut self.scratch, crate::tensor::max_parts() * (3 * head + tq * tv)),
            (&mut self.drop_mask, if self.dropout > 0.0 { n * h * tq * tv } else { 0 }),
            (&mut self.dropped_p, if self.dropout > 0.0 { n * h * tq * tv } else { 0 }),
        ] {
            *buf = vec![0.0; len];
        }
        self.capacity = max_batch;
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        self.attend(x, x, x, y, training);
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        self.attend_backward([x, x, x], dy, crate::layers::InputGrads::one(dx), [0, 0, 0]);
    }

    fn forward_many(&mut self, xs: crate::layers::Inputs<'_>, y: &mut Tensor, training: bool) {
        let n = xs.len() - usize::from(self.masked);
        let query = xs.get(0);
        let value = if n > 1 { xs.get(1) } else { query };
        let key = if n > 2 { xs.get(2) } else { value };
        // Each input's step mask, as Keras fills `query_mask`, `value_mask` and `key_mask`
        // (called on one tensor, it is the query and the value).
        let query_mask = xs.input_mask(0);
        let masks = Masks {
            attention: self.masked.then(|| xs.get(n)),
            query: query_mask,
            value: if n > 1 { xs.input_mask(1) } else { query_mask },
            key: if n > 2 { xs.input_mask(2) } else { None },
        };
        self.attend_masked(query, key, value, masks, y, training);
    }

    fn backward_many(
        &mut self,
        xs: crate::layers::Inputs<'_>,
        _y: &Tensor,
        dy: &mut Tensor,
        mut dxs: crate::layers::InputGrads<'_>,
    ) {
        let n = xs.len() - usize::from(self.masked);
        let query = xs.get(0);
        let value = if n > 1 { xs.get(1) } else { query };
        let key = if n > 2 { xs.get(2) } else { value };
        // The mask takes no gradient.
        if self.masked {
            if let Some(d) = dxs.get_mut(n) {
                d.data_mut().fill(0.0);
            }
        }
        // Which input takes the gradient of the query, key and value projections' inputs.
        let slots = match n {
            1 => [0, 0, 0],
            2 => [0, 1, 1],
            _ => [0, 2, 1],
        };
        self.attend_backward([query, key, value], dy, dxs, slots);
    }

    // The dropout generator's state, as Keras saves a SeedGenerator's (only with dropout).
    fn state(&self) -> Vec<(&'static str, crate::layers::State)> {
        if self.dropout > 0.0 {
            vec![("seed_generator_state", crate::layers::State::U64(self.core.rng.state().to_vec()))]
        } else {
            Vec::new()
        }
    }

    fn set_state(&mut self, name: &str, value: &crate::layers::State) -> Result<()> {
        match (name, value) {
            ("seed_generator_state", crate::layers::State::U64(words)) if self.dropout > 0.0 => {
                self.core.rng = crate::layers::dropout::generator_from_state(&self.core.name, words)?;
                Ok(())
            }
            _ => Err(Error::State(format!("layer {} has no variable {name}", self.core.name))),
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let (n, tq, tv, h, dk, dv) = (max_batch, self.steps, self.kv_steps, self.heads, self.key_dim, self.dv_size());
        let head = tq.max(tv) * dk.max(dv);
        let dropout = if self.dropout > 0.0 { 2 * n * h * tq * tv } else { 0 };
        // q, k, v, p, o and their gradients; per kernel thread three head blocks and one dP
        let values = 2 * (n * tq * h * dk + n * tv * h * dk + n * tv * h * dv + n * tq * h * dv)
            + n * h * tq * tv
            + crate::tensor::max_parts() * (3 * head + tq * tv)
            + dropout;
        4 * values
    }

    fn workspace_bytes(&self) -> usize {
        4 * [
            &self.q,
            &self.k,
            &self.v,
            &self.p,
            &self.o,
            &self.dq,
            &self.dk,
            &self.dv,
            &self.do_,
            &self.scratch,
            &self.drop_mask,
            &self.dropped_p,
        ]
        .iter()
        .map(|b| b.len())
        .sum::<usize>()
    }
    fn config(&self) -> Option<serde_json::Value> {
        let c = MultiHeadAttentionConfig {
            name: self.core.name.clone(),
            num_heads: self.heads,
            key_dim: self.key_dim,
            value_dim: self.value_dim,
            output_shape: self.output_dim,
            use_bias: self.use_bias,
            use_causal_mask: self.causal,
            attention_mask: self.masked,
            dropout: self.dropout,
        };
        serde_json::to_value(c).ok()
    }
}
