//! `MultiHeadAttention` over one sequence (self-attention; see the type).

use super::{Layer, Param};
use crate::activations::softmax_in_place;
use crate::error::{Error, Result};
use crate::initializers::Initializer;
use crate::rng::Rng;
use crate::tensor::{kernels, Tensor};

/// Keras's `MultiHeadAttention(num_heads, key_dim, value_dim=None, use_bias=True,
/// output_shape=None)` called as self-attention, `mha(x, x)`, on sequences `[time, features]`
/// (optionally with `use_causal_mask=True`):
///
/// ```text
/// Q = x W_q + b_q,  K = x W_k + b_k,  V = x W_v + b_v          per head: [T, key_dim], [T, value_dim]
/// P = softmax(Q Kᵀ / √key_dim)   (causal: step t attends to steps ≤ t)
/// y = concat_heads(P V) W_o + b_o                                [T, output_dim or features]
/// ```
///
/// The weights have Keras's shapes and names (`query/kernel` `[features, heads, key_dim]`, ...,
/// `attention_output/kernel` `[heads, value_dim, output]`), glorot-uniform kernels and zero
/// biases. Several inputs (query, key and value apart) wait for functional models; attention
/// dropout is not here yet.
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
    name: String,
    /// query, key, value, attention_output: kernel then bias (when `use_bias`) each.
    params: Vec<Param>,
    steps: usize,
    features: usize,
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
    dp: Vec<f32>,
    do_: Vec<f32>,
    /// One head's `[T, d]` blocks, contiguous, for the per-head products.
    head_a: Vec<f32>,
    head_b: Vec<f32>,
    head_c: Vec<f32>,
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
            name: String::new(),
            params: Vec::new(),
            steps: 0,
            features: 0,
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            p: Vec::new(),
            o: Vec::new(),
            dq: Vec::new(),
            dk: Vec::new(),
            dv: Vec::new(),
            dp: Vec::new(),
            do_: Vec::new(),
            head_a: Vec::new(),
            head_b: Vec::new(),
            head_c: Vec::new(),
            capacity: 0,
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
    /// Each step attends only to itself and earlier steps (Keras's `use_causal_mask=True`).
    pub fn use_causal_mask(mut self, on: bool) -> Self {
        self.causal = on;
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
    /// The layer a [`MultiHeadAttentionConfig`] describes.
    pub fn from_config(c: MultiHeadAttentionConfig) -> Self {
        MultiHeadAttention {
            value_dim: c.value_dim,
            output_dim: c.output_shape,
            use_bias: c.use_bias,
            causal: c.use_causal_mask,
            ..MultiHeadAttention::new(c.num_heads, c.key_dim).name(&c.name)
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
    // Keras applies a query and a value mask (and passes the query's on): not yet here.
    fn mask_rule(&self) -> crate::layers::MaskRule {
        crate::layers::MaskRule::Unsupported
    }

    fn kind(&self) -> &'static str {
        "MultiHeadAttention"
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.name.clone();
        let &[steps, features] = input_shape else {
            return Err(Error::shape(format!("input to layer {name}"), "sequences [time, features]", input_shape));
        };
        for (arg, v) in [("num_heads", self.heads), ("key_dim", self.key_dim), ("value_dim", self.dv_size())] {
            if v == 0 {
                return Err(Error::invalid(arg, 0, format!("a positive size (layer {name})")));
            }
        }
        if steps == 0 || features == 0 || self.output_dim == Some(0) {
            return Err(Error::shape(
                format!("input to layer {name}"),
                "at least one step and one feature",
                input_shape,
            ));
        }
        (self.steps, self.features) = (steps, features);
        let (h, dk, dv, out) = (self.heads, self.key_dim, self.dv_size(), self.out_size());
        let shapes: [(&'static str, &'static str, Vec<usize>, Vec<usize>); 4] = [
            ("query/kernel", "query/bias", vec![features, h, dk], vec![h, dk]),
            ("key/kernel", "key/bias", vec![features, h, dk], vec![h, dk]),
            ("value/kernel", "value/bias", vec![features, h, dv], vec![h, dv]),
            ("attention_output/kernel", "attention_output/bias", vec![h, dv, out], vec![out]),
        ];
        self.params.clear();
        for (kernel, bias, kshape, bshape) in shapes {
            let mut k = Param::claim(&name, kernel, &kshape)?;
            // Keras's EinsumDense fans: the kernel's first axis in, the rest out (the output
            // projection: heads·value_dim in, output out).
            let (fan_in, fan_out) =
                if kernel.starts_with("attention") { (h * dv, out) } else { (features, kshape[1] * kshape[2]) };
            Initializer::GlorotUniform.fill(k.value.data_mut(), fan_in, fan_out, rng);
            self.params.push(k);
            if self.use_bias {
                self.params.push(Param::claim(&name, bias, &bshape)?);
            }
        }
        self.capacity = 0;
        Ok(vec![steps, out])
    }

    fn plan(&mut self, max_batch: usize) {
        if max_batch <= self.capacity {
            return;
        }
        let (n, t, h, dk, dv) = (max_batch, self.steps, self.heads, self.key_dim, self.dv_size());
        for (buf, len) in [
            (&mut self.q, n * t * h * dk),
            (&mut self.k, n * t * h * dk),
            (&mut self.v, n * t * h * dv),
            (&mut self.p, n * h * t * t),
            (&mut self.o, n * t * h * dv),
            (&mut self.dq, n * t * h * dk),
            (&mut self.dk, n * t * h * dk),
            (&mut self.dv, n * t * h * dv),
            (&mut self.dp, t * t),
            (&mut self.do_, n * t * h * dv),
            (&mut self.head_a, t * dk.max(dv)),
            (&mut self.head_b, t * dk.max(dv)),
            (&mut self.head_c, t * dk.max(dv)),
        ] {
            *buf = vec![0.0; len];
        }
        self.capacity = max_batch;
    }

    // # Shapes
    // x: [n, T, D]; Q, K: [n, T, h·dk]; V, O: [n, T, h·dv]; P: [n, h, T, T]; y: [n, T, out]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let n = x.batch();
        let (t, d, h, dk, dv, out) =
            (self.steps, self.features, self.heads, self.key_dim, self.dv_size(), self.out_size());
        let rows = n * t;
        let scale = 1.0 / (dk as f32).sqrt();
        // The three projections.
        for (i, width) in [(0, h * dk), (1, h * dk), (2, h * dv)] {
            let (kernel, bias) = weights(&self.params, self.use_bias, i);
            let buf = match i {
                0 => &mut self.q,
                1 => &mut self.k,
                _ => &mut self.v,
            };
            let buf = &mut buf[..rows * width];
            kernels::matmul(buf, x.data(), kernel, rows, d, width, false, false, 0.0);
            if let Some(b) = bias {
                kernels::add_row_bias(buf, b);
            }
        }
        kernels::scale(&mut self.q[..rows * h * dk], scale);
        // Per sample and head: P = softmax(Q Kᵀ), O = P V.
        for s in 0..n {
            for hd in 0..h {
                let (qs, ks, vs) = (&self.q[s * t * h * dk..], &self.k[s * t * h * dk..], &self.v[s * t * h * dv..]);
                take_head(qs, &mut self.head_a, t, h, dk, hd);
                take_head(ks, &mut self.head_b, t, h, dk, hd);
                let p = &mut self.p[(s * h + hd) * t * t..(s * h + hd + 1) * t * t];
                kernels::matmul(p, &self.head_a[..t * dk], &self.head_b[..t * dk], t, dk, t, false, true, 0.0);
                for (r, row) in p.chunks_exact_mut(t).enumerate() {
                    if self.causal {
                        row[r + 1..].fill(f32::NEG_INFINITY);
                    }
                    softmax_in_place(row);
                }
                take_head(vs, &mut self.head_b, t, h, dv, hd);
                kernels::matmul(&mut self.head_c[..t * dv], p, &self.head_b[..t * dv], t, t, dv, false, false, 0.0);
                put_head(&self.head_c[..t * dv], &mut self.o[s * t * h * dv..], t, h, dv, hd, false);
            }
        }
        // The output projection.
        let (kernel, bias) = weights(&self.params, self.use_bias, 3);
        let yd = y.data_mut();
        kernels::matmul(yd, &self.o[..rows * h * dv], kernel, rows, h * dv, out, false, false, 0.0);
        if let Some(b) = bias {
            kernels::add_row_bias(yd, b);
        }
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let n = x.batch();
        let (t, d, h, dk, dv, out) =
            (self.steps, self.features, self.heads, self.key_dim, self.dv_size(), self.out_size());
        let rows = n * t;
        let scale = 1.0 / (dk as f32).sqrt();
        let per = if self.use_bias { 2 } else { 1 };
        let g = dy.data();
        // Output projection: dW_o = Oᵀ dy, db_o = Σ dy, dO = dy W_oᵀ.
        {
            let (kernel, rest) = self.params[3 * per..].split_first_mut().expect("built");
            kernels::matmul(kernel.grad.data_mut(), &self.o[..rows * h * dv], g, h * dv, rows, out, true, false, 0.0);
            if let Some(b) = rest.first_mut() {
                let db = b.grad.data_mut();
                db.fill(0.0);
                g.chunks_exact(out).for_each(|r| kernels::add(db, r));
            }
            kernels::matmul(
                &mut self.do_[..rows * h * dv],
                g,
                kernel.value.data(),
                rows,
                out,
                h * dv,
                false,
                true,
                0.0,
            );
        }
        // Per sample and head: dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − Σ dP ⊙ P), dQ = dS K, dK = dSᵀ Q.
        for s in 0..n {
            for hd in 0..h {
                let p = &self.p[(s * h + hd) * t * t..(s * h + hd + 1) * t * t];
                take_head(&self.do_[s * t * h * dv..], &mut self.head_a, t, h, dv, hd);
                // dV
                kernels::matmul(&mut self.head_c[..t * dv], p, &self.head_a[..t * dv], t, t, dv, true, false, 0.0);
                put_head(&self.head_c[..t * dv], &mut self.dv[s * t * h * dv..], t, h, dv, hd, false);
                // dP, then dS in place
                take_head(&self.v[s * t * h * dv..], &mut self.head_b, t, h, dv, hd);
                let dp = &mut self.dp[..t * t];
                kernels::matmul(dp, &self.head_a[..t * dv], &self.head_b[..t * dv], t, dv, t, false, true, 0.0);
                for (dr, pr) in dp.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                    let dot: f32 = dr.iter().zip(pr).map(|(a, b)| a * b).sum();
                    dr.iter_mut().zip(pr).for_each(|(d, &p)| *d = p * (*d - dot));
                }
                // dQ (of the scaled Q) = dS K; dK = dSᵀ Q
                take_head(&self.k[s * t * h * dk..], &mut self.head_b, t, h, dk, hd);
                kernels::matmul(&mut self.head_c[..t * dk], dp, &self.head_b[..t * dk], t, t, dk, false, false, 0.0);
                put_head(&self.head_c[..t * dk], &mut self.dq[s * t * h * dk..], t, h, dk, hd, false);
                take_head(&self.q[s * t * h * dk..], &mut self.head_b, t, h, dk, hd);
                kernels::matmul(&mut self.head_c[..t * dk], dp, &self.head_b[..t * dk], t, t, dk, true, false, 0.0);
                put_head(&self.head_c[..t * dk], &mut self.dk[s * t * h * dk..], t, h, dk, hd, false);
            }
        }
        kernels::scale(&mut self.dq[..rows * h * dk], scale);
        // The input projections: dW = xᵀ dZ, db = Σ dZ, dx = Σ dZ Wᵀ.
        let mut dx = dx;
        for (i, width) in [(0, h * dk), (1, h * dk), (2, h * dv)] {
            let dz = match i {
                0 => &self.dq[..rows * width],
                1 => &self.dk[..rows * width],
                _ => &self.dv[..rows * width],
            };
            let (kernel, rest) = self.params[i * per..].split_first_mut().expect("built");
            kernels::matmul(kernel.grad.data_mut(), x.data(), dz, d, rows, width, true, false, 0.0);
            if self.use_bias {
                let db = rest[0].grad.data_mut();
                db.fill(0.0);
                dz.chunks_exact(width).for_each(|r| kernels::add(db, r));
            }
            if let Some(dx) = dx.as_deref_mut() {
                let beta = if i == 0 { 0.0 } else { 1.0 };
                kernels::matmul(dx.data_mut(), dz, kernel.value.data(), rows, width, d, false, true, beta);
            }
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
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
            &self.dp,
            &self.do_,
            &self.head_a,
            &self.head_b,
            &self.head_c,
        ]
        .iter()
        .map(|b| b.len())
        .sum::<usize>()
    }
    fn config(&self) -> Option<serde_json::Value> {
        let c = MultiHeadAttentionConfig {
            name: self.name.clone(),
            num_heads: self.heads,
            key_dim: self.key_dim,
            value_dim: self.value_dim,
            output_shape: self.output_dim,
            use_bias: self.use_bias,
            use_causal_mask: self.causal,
        };
        serde_json::to_value(c).ok()
    }
}
