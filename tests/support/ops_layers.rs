//! Layers written with the ops, shared by the tests (`tests/all/custom_layers.rs`) and the
//! examples (`examples/ops_speed.rs`, `examples/custom_layer.rs`), which include this file by
//! `#[path]`: a gated residual unit, a one-head self-attention, and Keras's LSTM and
//! MultiHeadAttention spelled out with the ops.
#![allow(dead_code)]

use minibatch::constraints::Constraint;
use minibatch::layers::{CustomLayer, MaskRule, Weight, WeightOptions, WeightVars, Weights};
use minibatch::ops::{Graph, Var};
use minibatch::regularizers::Regularizer;

/// A gated residual unit: `x + (x·W + b) ⊙ σ(x·V)`, the input's width kept.
#[derive(Clone, Default)]
pub struct GatedResidual {
    kernel: Option<Weight>,
    bias: Option<Weight>,
    gate: Option<Weight>,
}

impl CustomLayer for GatedResidual {
    fn class_name(&self) -> &'static str {
        "GatedResidual"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let width = input_shape[input_shape.len() - 1];
        self.kernel = Some(w.add_weight("kernel", &[width, width], "glorot_uniform")?);
        self.bias = Some(w.add_weight("bias", &[width], "zeros")?);
        self.gate = Some(w.add_weight("gate", &[width, width], "glorot_uniform")?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let h = ops.matmul(x, w[self.kernel.unwrap()])?;
        let h = ops.add(h, w[self.bias.unwrap()])?;
        let g = ops.matmul(x, w[self.gate.unwrap()])?;
        let g = ops.sigmoid(g);
        let gated = ops.multiply(h, g)?;
        ops.add(x, gated)
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({}))
    }
}

/// Scaled dot-product self-attention over the steps of `[steps, features]`, one head, added to
/// its input (a residual connection): `x + softmax(x·Q (x·K)ᵀ / √d) · x`.
#[derive(Clone)]
pub struct SelfAttention {
    pub dim: usize,
    q: Option<Weight>,
    k: Option<Weight>,
}

impl SelfAttention {
    pub fn new(dim: usize) -> Self {
        SelfAttention { dim, q: None, k: None }
    }
}

impl CustomLayer for SelfAttention {
    fn class_name(&self) -> &'static str {
        "SelfAttention"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let f = input_shape[input_shape.len() - 1];
        self.q = Some(w.add_weight("query", &[f, self.dim], "glorot_uniform")?);
        self.k = Some(w.add_weight("key", &[f, self.dim], "glorot_uniform")?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let q = ops.matmul(x, w[self.q.unwrap()])?;
        let k = ops.matmul(x, w[self.k.unwrap()])?;
        let kt = ops.transpose(k, &[0, 2, 1])?;
        let scores = ops.matmul(q, kt)?;
        let scale = ops.scalar(1.0 / (self.dim as f32).sqrt());
        let scores = ops.multiply(scores, scale)?;
        let p = ops.softmax(scores);
        let mixed = ops.matmul(p, x)?;
        ops.add(x, mixed)
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "dim": self.dim }))
    }
}

/// Keras's `Dense(units, activation="relu")`, written with the ops.
#[derive(Clone)]
pub struct OpsDense {
    units: usize,
    kernel: Option<Weight>,
    bias: Option<Weight>,
}

impl OpsDense {
    pub fn new(units: usize) -> Self {
        OpsDense { units, kernel: None, bias: None }
    }
}

impl CustomLayer for OpsDense {
    fn class_name(&self) -> &'static str {
        "OpsDense"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let inputs = input_shape[input_shape.len() - 1];
        self.kernel = Some(w.add_weight("kernel", &[inputs, self.units], "glorot_uniform")?);
        self.bias = Some(w.add_weight("bias", &[self.units], "zeros")?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let z = ops.matmul(x, w[self.kernel.unwrap()])?;
        let z = ops.add(z, w[self.bias.unwrap()])?;
        Ok(ops.relu(z))
    }
}

/// Keras's LSTM (its gates i, f, c, o in one kernel; the last step's output), written with
/// the ops: each step's input sliced from the sequence, the recurrence unrolled when built.
#[derive(Clone)]
pub struct OpsLstm {
    units: usize,
    w: Vec<Weight>,
}

impl OpsLstm {
    pub fn new(units: usize) -> Self {
        OpsLstm { units, w: Vec::new() }
    }
}

impl CustomLayer for OpsLstm {
    fn class_name(&self) -> &'static str {
        "OpsLstm"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let (f, u) = (input_shape[1], self.units);
        self.w = vec![
            w.add_weight("kernel", &[f, 4 * u], "glorot_uniform")?,
            w.add_weight("recurrent_kernel", &[u, 4 * u], "orthogonal")?,
            w.add_weight("bias", &[4 * u], "zeros")?,
        ];
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let (kernel, recurrent, bias) = (w[self.w[0]], w[self.w[1]], w[self.w[2]]);
        let steps = ops.shape(x)[0];
        let u = self.units;
        let mut h = ops.constant(&[u], vec![0.0; u])?;
        let mut c = h;
        for t in 0..steps {
            let xt = ops.slice(x, 1, t, 1)?;
            let xt = ops.reshape(xt, &[-1])?;
            let z = ops.matmul(xt, kernel)?;
            let r = ops.matmul(h, recurrent)?;
            let z = ops.add(z, r)?;
            let z = ops.add(z, bias)?;
            let gate = |ops: &mut Graph, k: usize| ops.slice(z, -1, k * u, u);
            let (i, f, g, o) = (gate(ops, 0)?, gate(ops, 1)?, gate(ops, 2)?, gate(ops, 3)?);
            let (i, f, g, o) = (ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o));
            let kept = ops.multiply(f, c)?;
            let added = ops.multiply(i, g)?;
            c = ops.add(kept, added)?;
            let tc = ops.tanh(c);
            h = ops.multiply(o, tc)?;
        }
        Ok(h)
    }
}

/// Keras's MultiHeadAttention over one sequence (self-attention), written with `einsum`:
/// the query, key, value and output projections as Keras's EinsumDense kernels.
#[derive(Clone)]
pub struct OpsAttention {
    heads: usize,
    key_dim: usize,
    w: Vec<Weight>,
}

impl OpsAttention {
    pub fn new(heads: usize, key_dim: usize) -> Self {
        OpsAttention { heads, key_dim, w: Vec::new() }
    }
}

impl CustomLayer for OpsAttention {
    fn class_name(&self) -> &'static str {
        "OpsAttention"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let (f, h, d) = (input_shape[1], self.heads, self.key_dim);
        self.w.clear();
        for name in [("query_kernel", "query_bias"), ("key_kernel", "key_bias"), ("value_kernel", "value_bias")] {
            self.w.push(w.add_weight(name.0, &[f, h, d], "glorot_uniform")?);
            self.w.push(w.add_weight(name.1, &[h, d], "zeros")?);
        }
        self.w.push(w.add_weight("output_kernel", &[h, d, f], "glorot_uniform")?);
        self.w.push(w.add_weight("output_bias", &[f], "zeros")?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let project = |ops: &mut Graph, k: usize| -> minibatch::Result<Var> {
            let p = ops.einsum("btf,fhd->bthd", x, w[self.w[k]])?;
            ops.add(p, w[self.w[k + 1]])
        };
        let (q, k, v) = (project(ops, 0)?, project(ops, 2)?, project(ops, 4)?);
        let scale = ops.scalar(1.0 / (self.key_dim as f32).sqrt());
        let q = ops.multiply(q, scale)?;
        let scores = ops.einsum("bthd,bshd->bhts", q, k)?;
        let p = ops.softmax(scores);
        let context = ops.einsum("bhts,bshd->bthd", p, v)?;
        let out = ops.einsum("bthd,hdf->btf", context, w[self.w[6]])?;
        ops.add(out, w[self.w[7]])
    }
}

/// Dropout in training only, as a Keras layer writes it: `if training: x =
/// keras.random.dropout(x, rate)`. Step-wise, so a mask passes through it.
#[derive(Clone)]
pub struct OpsDropout {
    pub rate: f32,
}

impl CustomLayer for OpsDropout {
    fn class_name(&self) -> &'static str {
        "OpsDropout"
    }
    fn build(&mut self, _w: &mut Weights, _input_shape: &[usize]) -> minibatch::Result<()> {
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, _w: &WeightVars) -> minibatch::Result<Var> {
        if ops.training() {
            ops.dropout(x, self.rate)
        } else {
            Ok(x)
        }
    }
    fn mask_rule(&self) -> MaskRule {
        MaskRule::Pass
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "rate": self.rate }))
    }
}

/// The mean over the steps a mask keeps, as Keras's `GlobalAveragePooling1D` computes it with
/// a mask: `Σₜ mₜ xₜ / Σₜ mₜ`.
#[derive(Clone, Default)]
pub struct MaskedMean;

impl CustomLayer for MaskedMean {
    fn class_name(&self) -> &'static str {
        "MaskedMean"
    }
    fn build(&mut self, _w: &mut Weights, _input_shape: &[usize]) -> minibatch::Result<()> {
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, _w: &WeightVars) -> minibatch::Result<Var> {
        ops.mean(x, 1, false)
    }
    fn call_masked(&self, ops: &mut Graph, x: Var, mask: Var, _w: &WeightVars) -> minibatch::Result<Var> {
        let m = ops.expand_dims(mask, 2)?;
        let kept = ops.multiply(x, m)?;
        let total = ops.sum(kept, 1, false)?;
        let count = ops.sum(m, 1, false)?;
        ops.divide(total, count)
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({}))
    }
}

/// A Dense with Keras's other `add_weight` arguments: an L2 penalty and a non-negative
/// constraint on the kernel, and a fixed (non-trainable) scale on the output.
#[derive(Clone)]
pub struct ScaledDense {
    pub units: usize,
    kernel: Option<Weight>,
    scale: Option<Weight>,
}

impl ScaledDense {
    pub fn new(units: usize) -> Self {
        ScaledDense { units, kernel: None, scale: None }
    }
}

impl CustomLayer for ScaledDense {
    fn class_name(&self) -> &'static str {
        "ScaledDense"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let inputs = input_shape[input_shape.len() - 1];
        let kernel = WeightOptions::new()
            .initializer("glorot_uniform")?
            .regularizer(Regularizer::L2 { l2: 0.01 })
            .constraint(Constraint::NonNeg);
        self.kernel = Some(w.add_weight_with("kernel", &[inputs, self.units], kernel)?);
        let scale = WeightOptions::new().initializer("ones")?.trainable(false);
        self.scale = Some(w.add_weight_with("scale", &[self.units], scale)?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let h = ops.matmul(x, w[self.kernel.unwrap()])?;
        ops.multiply(h, w[self.scale.unwrap()])
    }
    fn get_config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "units": self.units }))
    }
}
