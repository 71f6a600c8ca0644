//! ONNX export: `Model::export_onnx(path)`, a model as an ONNX graph (opset 17) that
//! onnxruntime, a browser or a C++ service runs with no training framework.
//!
//! Each layer call becomes a few ONNX nodes, its weights initializers (by the weight's path,
//! `dense/kernel`, shared by every call of a shared layer); the batch dimension is dynamic
//! (`batch`). Keras computes in channels-last layout and ONNX's convolutions in channels-first,
//! so a convolution or pooling is wrapped in two `Transpose`s.
//!
//! | layer | ONNX |
//! |---|---|
//! | Dense | `MatMul`, `Add`, the activation |
//! | activations (Activation, ReLU, and each layer's own) | `Relu`, `Sigmoid`, `Tanh`, `Softmax(axis=-1)`, `LeakyRelu`, `Elu`, `Selu`, `Softplus`, `Softsign`, `Exp`, `Clip` (relu6), `x·Sigmoid(x)` (silu), `x·Φ(x)` by `Erf` (gelu), `x·tanh(softplus x)` (mish), hard sigmoid by `Clip` |
//! | Conv1D, Conv2D | `Transpose`, `Conv` (`auto_pad` `SAME_UPPER` for `same`, Keras's rule), `Transpose` |
//! | DepthwiseConv2D, SeparableConv2D | `Conv` in groups of one channel (then a 1×1 `Conv`) |
//! | Conv2DTranspose | `ConvTranspose`, cropped and padded to Keras's output size |
//! | Max/AveragePooling1D and 2D | `Transpose`, `MaxPool` / `AveragePool` (padding excluded from averages, as Keras), `Transpose` |
//! | GlobalAverage/MaxPooling1D and 2D | `ReduceMean` / `ReduceMax` over the steps or height and width |
//! | ZeroPadding2D, UpSampling2D (nearest) | `Pad`, `Resize` |
//! | SimpleRNN, LSTM, GRU, Bidirectional (concat) | `RNN`, `LSTM` (gates reordered), `GRU` (`linear_before_reset`), time-major between `Transpose`s |
//! | BatchNormalization | folded: `x · γ/√(σ²+ε) + (β − μ·γ/√(σ²+ε))` (`Mul`, `Add`) |
//! | LayerNormalization (its last axes) | `LayerNormalization` |
//! | UnitNormalization | `ReduceSumSquare`, `Sqrt`, `Reciprocal`, `Min` (Keras's cap), `Mul` |
//! | Normalization, Rescaling | `Sub`, `Div` / `Mul`, `Add` (inverted Normalization: `Mul`, `Add`) |
//! | Dropout, GaussianNoise and the like | nothing (identity in inference) |
//! | Flatten, Reshape | `Reshape` to `[-1, …]` |
//! | Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate | `Add`, `Sub`, `Mul`, `Mean`, `Max`, `Min`, `Concat` |
//! | Embedding | `Cast` to int64, `Gather` |
//! | MultiHeadAttention (causal too) | the projections as `MatMul`s, heads by `Reshape` and `Transpose`, `Softmax` |
//!
//! Any other layer is refused by name ([`Error::InvalidArgument`] naming the layer and its
//! class) before anything is written.

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::io::protobuf::Message;
use crate::layers::Layer;
use crate::models::Model;
use std::path::Path;

/// The ONNX operator set the graph uses.
pub const OPSET: u64 = 17;
/// The ONNX IR version written (ONNX 1.12's, the first with opset 17).
const IR_VERSION: u64 = 8;
/// ONNX `TensorProto.DataType`.
const FLOAT: u64 = 1;
const INT64: u64 = 7;
/// ONNX `AttributeProto.AttributeType`.
const ATTR_FLOAT: u64 = 1;
const ATTR_INT: u64 = 2;
const ATTR_STRING: u64 = 3;
const ATTR_INTS: u64 = 7;
const ATTR_STRINGS: u64 = 8;

/// An attribute of a node.
enum Attr<'a> {
    Int(&'a str, i64),
    Float(&'a str, f32),
    Str(&'a str, &'a str),
    Ints(&'a str, Vec<i64>),
    Strs(&'a str, Vec<&'a str>),
}

/// The graph being built: nodes, initializers, and a counter for fresh tensor names.
#[derive(Default)]
struct Graph {
    nodes: Vec<Message>,
    initializers: Vec<Message>,
    /// Every tensor name taken (inputs, outputs, initializers).
    names: std::collections::HashSet<String>,
    /// The initializers written, by name.
    weights: std::collections::HashSet<String>,
    fresh: usize,
}

impl Graph {
    /// A tensor name of its own, from `base`.
    fn fresh(&mut self, base: &str) -> String {
        loop {
            self.fresh += 1;
            let name = format!("{base}__{}", self.fresh);
            if self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    /// A node `op(inputs) -> output` with `attrs`.
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: &[Attr]) {
        self.node_outputs(op, inputs, &[output], attrs);
    }

    /// A node `op(inputs) -> outputs` with `attrs` (named after its first output).
    fn node_outputs(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Attr]) {
        let mut n = Message::new();
        inputs.iter().for_each(|i| {
            n.string(1, i);
        });
        outputs.iter().for_each(|o| {
            n.string(2, o);
        });
        n.string(3, outputs[0]).string(4, op);
        for a in attrs {
            let mut m = Message::new();
            match a {
                Attr::Int(name, v) => m.string(1, name).varint(3, *v as u64).varint(20, ATTR_INT),
                Attr::Float(name, v) => m.string(1, name).float(2, *v).varint(20, ATTR_FLOAT),
                Attr::Str(name, v) => m.string(1, name).bytes_field(4, v.as_bytes()).varint(20, ATTR_STRING),
                Attr::Ints(name, v) => m.string(1, name).packed_varints(8, v).varint(20, ATTR_INTS),
                Attr::Strs(name, v) => {
                    m.string(1, name);
                    v.iter().for_each(|s| {
                        m.bytes_field(9, s.as_bytes());
                    });
                    m.varint(20, ATTR_STRINGS)
                }
            };
            n.message(5, &m);
        }
        self.nodes.push(n);
    }

    /// `op(inputs)` into a fresh tensor named from `base`; returns its name.
    fn apply(&mut self, op: &str, inputs: &[&str], base: &str, attrs: &[Attr]) -> String {
        let out = self.fresh(base);
        self.node(op, inputs, &out, attrs);
        out
    }

    /// A float initializer `name` of shape `dims` (once: a shared layer's second call reuses it).
    fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        if self.weights.insert(name.to_string()) {
            self.names.insert(name.to_string());
            let mut t = Message::new();
            let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            t.packed_varints(1, &dims).varint(2, FLOAT).string(8, name).bytes_field(9, &raw);
            self.initializers.push(t);
        }
        name.to_string()
    }

    /// An int64 initializer of shape `[values.len()]` (a shape for `Reshape`).
    fn ints(&mut self, base: &str, values: &[i64]) -> String {
        let name = self.fresh(base);
        let mut t = Message::new();
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.packed_varints(1, &[values.len() as i64]).varint(2, INT64).string(8, &name).bytes_field(9, &raw);
        self.initializers.push(t);
        name
    }

    /// A float scalar constant.
    fn scalar(&mut self, base: &str, v: f32) -> String {
        let name = self.fresh(base);
        self.weight(&name, &[], &[v])
    }
}

/// `ValueInfoProto` of a float tensor `name`, its first dimension the dynamic `batch`.
fn value_info(name: &str, shape: &[usize]) -> Message {
    let mut dims = Message::new();
    let mut batch = Message::new();
    batch.string(2, "batch");
    dims.message(1, &batch);
    for &d in shape {
        let mut dim = Message::new();
        dim.varint(1, d as u64);
        dims.message(1, &dim);
    }
    let mut tensor = Message::new();
    tensor.varint(1, FLOAT).message(2, &dims);
    let mut ty = Message::new();
    ty.message(1, &tensor);
    let mut info = Message::new();
    info.string(1, name).message(2, &ty);
    info
}

/// A layer's configuration field, by Keras's name.
fn field<'a>(config: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    config.get(key).filter(|v| !v.is_null())
}

/// A weight of `layer` by its name (`kernel`), with its path.
fn param<'a>(layer: &'a dyn Layer, name: &str) -> Option<(String, &'a crate::tensor::Tensor)> {
    let p = layer.params().iter().find(|p| p.name == name)?;
    Some((format!("{}/{}", layer.name(), name), &p.value))
}

/// A state variable of `layer` (a BatchNormalization's moving mean, a Normalization's mean).
fn state(layer: &dyn Layer, name: &str) -> Option<Vec<f32>> {
    layer.state().into_iter().find(|(n, _)| *n == name).and_then(|(_, s)| match s {
        crate::layers::State::F32(t) => Some(t.data().to_vec()),
        _ => None,
    })
}

/// `activation` applied to tensor `x`; returns the result's name.
fn activation(g: &mut Graph, a: &Activation, x: &str, base: &str) -> String {
    match a {
        Activation::Linear => x.to_string(),
        Activation::Relu => g.apply("Relu", &[x], base, &[]),
        Activation::Sigmoid => g.apply("Sigmoid", &[x], base, &[]),
        Activation::Tanh => g.apply("Tanh", &[x], base, &[]),
        Activation::Softmax => g.apply("Softmax", &[x], base, &[Attr::Int("axis", -1)]),
        Activation::LeakyRelu { negative_slope } => {
            g.apply("LeakyRelu", &[x], base, &[Attr::Float("alpha", *negative_slope)])
        }
        Activation::Elu { alpha } => g.apply("Elu", &[x], base, &[Attr::Float("alpha", *alpha)]),
        Activation::Selu => {
            g.apply("Selu", &[x], base, &[Attr::Float("alpha", 1.673_263_2), Attr::Float("gamma", 1.050_701)])
        }
        Activation::Softplus => g.apply("Softplus", &[x], base, &[]),
        Activation::Softsign => g.apply("Softsign", &[x], base, &[]),
        Activation::Exponential => g.apply("Exp", &[x], base, &[]),
        Activation::Relu6 => {
            let (lo, hi) = (g.scalar("zero", 0.0), g.scalar("six", 6.0));
            g.apply("Clip", &[x, &lo, &hi], base, &[])
        }
        Activation::HardSigmoid => {
            // clip((x + 3) / 6, 0, 1) = clip(x/6 + 1/2, 0, 1)
            let (lo, hi) = (g.scalar("zero", 0.0), g.scalar("one", 1.0));
            let (a, b) = (g.scalar("sixth", 1.0 / 6.0), g.scalar("half", 0.5));
            let scaled = g.apply("Mul", &[x, &a], base, &[]);
            let shifted = g.apply("Add", &[&scaled, &b], base, &[]);
            g.apply("Clip", &[&shifted, &lo, &hi], base, &[])
        }
        Activation::Silu => {
            let s = g.apply("Sigmoid", &[x], base, &[]);
            g.apply("Mul", &[x, &s], base, &[])
        }
        Activation::Gelu => {
            // x · (1 + erf(x / √2)) / 2
            let root2 = g.scalar("sqrt2", std::f32::consts::SQRT_2);
            let (one, half) = (g.scalar("one", 1.0), g.scalar("half", 0.5));
            let scaled = g.apply("Div", &[x, &root2], base, &[]);
            let erf = g.apply("Erf", &[&scaled], base, &[]);
            let plus = g.apply("Add", &[&erf, &one], base, &[]);
            let times = g.apply("Mul", &[x, &plus], base, &[]);
            g.apply("Mul", &[&times, &half], base, &[])
        }
        Activation::Mish => {
            let sp = g.apply("Softplus", &[x], base, &[]);
            let t = g.apply("Tanh", &[&sp], base, &[]);
            g.apply("Mul", &[x, &t], base, &[])
        }
    }
}

/// The activation a layer's config names (`linear` when none).
fn config_activation(config: &serde_json::Value) -> Result<Activation> {
    match field(config, "activation") {
        None => Ok(Activation::Linear),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| Error::State(format!("an activation ONNX export cannot read ({v}): {e}"))),
    }
}

/// Channels-last to channels-first (`rank` spatial axes: NWC or NHWC), `op`, and back: a
/// channels-first ONNX operator on Keras's channels-last data.
fn channels_first(
    g: &mut Graph,
    x: &str,
    base: &str,
    rank: usize,
    op: impl FnOnce(&mut Graph, &str) -> String,
) -> String {
    let (to, back) = if rank == 1 { (vec![0, 2, 1], vec![0, 2, 1]) } else { (vec![0, 3, 1, 2], vec![0, 2, 3, 1]) };
    let first = g.apply("Transpose", &[x], base, &[Attr::Ints("perm", to)]);
    let y = op(g, &first);
    g.apply("Transpose", &[&y], base, &[Attr::Ints("perm", back)])
}

/// A `Size` field (`3` or `[3, 3]`) as `rank` values.
fn sizes(config: &serde_json::Value, key: &str, rank: usize) -> Option<Vec<i64>> {
    match field(config, key)? {
        serde_json::Value::Number(n) => n.as_i64().map(|v| vec![v; rank]),
        serde_json::Value::Array(a) if a.len() == rank => a.iter().map(|v| v.as_i64()).collect(),
        _ => None,
    }
}

/// A normalization's `epsilon` (Keras's default 1e-3), when it normalizes the last axis of
/// samples of shape `sample` (`axis` -1, or the last counted with the batch axis); `None`
/// for another axis.
fn last_axis_epsilon(config: &serde_json::Value, sample: &[usize]) -> Option<f32> {
    let axis = field(config, "axis").and_then(|v| v.as_i64()).unwrap_or(-1);
    (axis == -1 || axis == sample.len() as i64)
        .then(|| field(config, "epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-3) as f32)
}

/// A normalization's `gamma` and `beta` over `n` features: 1 and 0 where the layer has none
/// (`scale=False`, `center=False`).
fn gamma_beta(layer: &dyn Layer, n: usize) -> (Vec<f32>, Vec<f32>) {
    let or = |weight: &str, fill: f32| param(layer, weight).map_or_else(|| vec![fill; n], |(_, t)| t.data().to_vec());
    (or("gamma", 1.0), or("beta", 0.0))
}

/// `t`'s values with its axes permuted (the result's axis `i` is `t`'s axis `perm[i]`), and
/// the permuted shape: Keras's kernel layouts as ONNX's.
fn permuted(t: &crate::tensor::Tensor, perm: &[usize]) -> (Vec<usize>, Vec<f32>) {
    let shape = perm.iter().map(|&p| t.shape()[p]).collect();
    let mut values = vec![0.0f32; t.len()];
    crate::ops::shape::permute(t.data(), t.shape(), perm, &mut values, false);
    (shape, values)
}

/// A channels-last kernel `[k…, cin, cout]` as ONNX's `[cout, cin, k…]`.
fn kernel_oi(kernel: &crate::tensor::Tensor) -> (Vec<usize>, Vec<f32>) {
    let rank = kernel.shape().len() - 2;
    let perm: Vec<usize> = [rank + 1, rank].into_iter().chain(0..rank).collect();
    permuted(kernel, &perm)
}

/// A convolution's ONNX weights: `w` (`[cout, cin/group, k…]`, the window `kernel`), `bias`,
/// and the channel groups.
struct ConvWeights<'a> {
    w: &'a str,
    bias: Option<&'a str>,
    kernel: &'a [usize],
    group: usize,
}

/// A convolution over channels-last `x` with weights `c`, and the strides, dilations and
/// padding of `config`.
fn convolution(g: &mut Graph, x: &str, name: &str, c: ConvWeights, config: &serde_json::Value) -> String {
    let ConvWeights { w, bias, kernel, group } = c;
    let rank = kernel.len();
    let strides = sizes(config, "strides", rank).unwrap_or(vec![1; rank]);
    let dilations = sizes(config, "dilation_rate", rank).unwrap_or(vec![1; rank]);
    let pad = padding_attr(config);
    channels_first(g, x, name, rank, |g, input| {
        let mut ins = vec![input, w];
        ins.extend(bias);
        g.apply(
            "Conv",
            &ins,
            name,
            &[
                Attr::Ints("kernel_shape", kernel.iter().map(|&k| k as i64).collect()),
                Attr::Ints("strides", strides),
                Attr::Ints("dilations", dilations),
                Attr::Int("group", group as i64),
                pad,
            ],
        )
    })
}

/// ONNX's padding attributes for Keras's `padding` of a 2-D window.
fn padding_attr(config: &serde_json::Value) -> Attr<'static> {
    match field(config, "padding").and_then(|p| p.as_str()) {
        Some("same") => Attr::Str("auto_pad", "SAME_UPPER"),
        _ => Attr::Str("auto_pad", "VALID"),
    }
}

/// ONNX's name of a recurrent activation (`Tanh`), when ONNX's recurrent operators have it.
fn recurrent_activation(a: &Activation) -> Option<&'static str> {
    match a {
        Activation::Tanh => Some("Tanh"),
        Activation::Sigmoid => Some("Sigmoid"),
        Activation::Relu => Some("Relu"),
        _ => None,
    }
}

/// A SimpleRNN, LSTM or GRU (`cell`, its `config` and weights `[kernel, recurrent_kernel,
/// bias]` of each direction) over `x` (`[batch, time, features]`) as ONNX's `RNN`, `LSTM` or
/// `GRU` operator, time-major between two `Transpose`s; both directions for a Bidirectional (its halves
/// concatenated, as Keras's `merge_mode="concat"`). Keras orders an LSTM's gates `i, f, c, o`
/// and ONNX `i, o, f, c`; a GRU's are `z, r, h` in both, and Keras 3's `reset_after=True` is
/// ONNX's `linear_before_reset=1`.
fn recurrent(
    g: &mut Graph,
    name: &str,
    cell: &str,
    config: &serde_json::Value,
    directions: &[Vec<(String, &crate::tensor::Tensor)>],
    x: &str,
    steps: usize,
) -> Result<String> {
    let refuse = |why: String| {
        Error::invalid("layer", format!("{name} ({cell})"), format!("a layer ONNX export can express: {why}"))
    };
    let flag = |key: &str| field(config, key).and_then(|v| v.as_bool()).unwrap_or(false);
    if flag("return_state") || flag("go_backwards") {
        return Err(refuse("no return_state or go_backwards (a Bidirectional runs the backward pass)".into()));
    }
    let units = field(config, "units").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    let act = |key: &str, default: Activation| -> Result<&'static str> {
        let a = match field(config, key) {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::State(format!("activation {v}: {e}")))?,
            None => default,
        };
        recurrent_activation(&a)
            .ok_or_else(|| refuse(format!("{key} {a:?} (ONNX's recurrent operators take tanh, sigmoid, relu)")))
    };
    let (op, gates, perm, names): (&str, usize, &[usize], Vec<&str>) = match cell {
        "SimpleRNN" => ("RNN", 1, &[0], vec![act("activation", Activation::Tanh)?]),
        "LSTM" => {
            let (f, a) = (act("recurrent_activation", Activation::Sigmoid)?, act("activation", Activation::Tanh)?);
            ("LSTM", 4, &[0, 3, 1, 2], vec![f, a, a])
        }
        "GRU" => {
            let (f, a) = (act("recurrent_activation", Activation::Sigmoid)?, act("activation", Activation::Tanh)?);
            ("GRU", 3, &[0, 1, 2], vec![f, a])
        }
        other => return Err(refuse(format!("a recurrent layer ONNX has ({other} is not one)"))),
    };
    let d = directions.len();
    let gu = gates * units;
    let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
    let mut features = 0;
    for weights in directions {
        let kernel = weights.first().ok_or_else(|| Error::State(format!("layer {name} ({cell}) has no weights")))?.1;
        let recurrent = weights[1].1;
        features = kernel.shape()[0];
        // W[k·u + j, f] = kernel[f, perm[k]·u + j]; R likewise from the recurrent kernel.
        for &gate in perm {
            for j in 0..units {
                let col = gate * units + j;
                w.extend((0..features).map(|f| kernel.data()[f * gu + col]));
            }
        }
        for &gate in perm {
            for j in 0..units {
                let col = gate * units + j;
                r.extend((0..units).map(|h| recurrent.data()[h * gu + col]));
            }
        }
        // B = [input bias | recurrent bias], each in ONNX's gate order.
        let (input_bias, recurrent_bias): (Vec<f32>, Vec<f32>) = match weights.get(2) {
            Some((_, bias)) if cell == "GRU" && bias.len() == 2 * gu => {
                (bias.data()[..gu].to_vec(), bias.data()[gu..].to_vec())
            }
            Some((_, bias)) => (bias.data().to_vec(), vec![0.0; gu]),
            None => (vec![0.0; gu], vec![0.0; gu]),
        };
        for source in [&input_bias, &recurrent_bias] {
            for &gate in perm {
                b.extend_from_slice(&source[gate * units..(gate + 1) * units]);
            }
        }
    }
    let wn = g.weight(&format!("{name}/W"), &[d, gu, features], &w);
    let rn = g.weight(&format!("{name}/R"), &[d, gu, units], &r);
    let bn = g.weight(&format!("{name}/B"), &[d, 2 * gu], &b);
    let (y, y_h) = (g.fresh(name), g.fresh(name));
    let acts: Vec<&str> = (0..d).flat_map(|_| names.iter().copied()).collect();
    // Time-major, ONNX's layout 0 (onnxruntime runs no other): [time, batch, features].
    let time_major = g.apply("Transpose", &[x], name, &[Attr::Ints("perm", vec![1, 0, 2])]);
    let mut attrs = vec![
        Attr::Int("hidden_size", units as i64),
        Attr::Str("direction", if d == 2 { "bidirectional" } else { "forward" }),
        Attr::Strs("activations", acts),
    ];
    if cell == "GRU" {
        attrs.push(Attr::Int("linear_before_reset", 1));
    }
    g.node_outputs(op, &[&time_major, &wn, &rn, &bn], &[&y, &y_h], &attrs);
    // Y: [time, directions, batch, units]; Y_h: [directions, batch, units].
    Ok(if flag("return_sequences") {
        let batch_major = g.apply("Transpose", &[&y], name, &[Attr::Ints("perm", vec![2, 0, 1, 3])]);
        let shape = g.ints("shape", &[-1, steps as i64, (d * units) as i64]);
        g.apply("Reshape", &[&batch_major, &shape], name, &[])
    } else {
        let batch_major = g.apply("Transpose", &[&y_h], name, &[Attr::Ints("perm", vec![1, 0, 2])]);
        let shape = g.ints("shape", &[-1, (d * units) as i64]);
        g.apply("Reshape", &[&batch_major, &shape], name, &[])
    })
}

/// Keras's MultiHeadAttention on `inputs` (query, value, and key when given; else the value):
///
/// ```text
/// Q = query·Wq + bq, K = key·Wk + bk, V = value·Wv + bv       each split into heads
/// A = softmax(Q Kᵀ / √key_dim  [+ −1e9 above the diagonal, causal])
/// out = concat_heads(A V)·Wo + bo
/// ```
///
/// Dropout is inference's identity; an attention mask given as an input is refused.
fn attention(
    g: &mut Graph,
    layer: &dyn Layer,
    config: &serde_json::Value,
    inputs: &[String],
    shapes: &[&[usize]],
) -> Result<String> {
    let name = layer.name();
    let refuse = |why: &str| {
        Error::invalid(
            "layer",
            format!("{name} (MultiHeadAttention)"),
            format!("a layer ONNX export can express: {why}"),
        )
    };
    if field(config, "attention_mask").and_then(|v| v.as_bool()).unwrap_or(false) || inputs.len() > 3 {
        return Err(refuse("no attention mask input"));
    }
    let heads = field(config, "num_heads").and_then(|v| v.as_u64()).unwrap_or(1) as i64;
    let key_dim = field(config, "key_dim").and_then(|v| v.as_u64()).unwrap_or(1) as i64;
    let (query, value) = (&inputs[0], inputs.get(1).unwrap_or(&inputs[0]));
    let key = inputs.get(2).unwrap_or(value);
    let (tq, tk) = (shapes[0][0] as i64, shapes.get(1).unwrap_or(&shapes[0])[0] as i64);
    let missing = || Error::State(format!("layer {name} (MultiHeadAttention) has not been built"));
    // One projection: x·W (+ b) as [batch, heads, steps, dim].
    let project = |g: &mut Graph, x: &str, which: &str, steps: i64| -> Result<(String, i64)> {
        let (path, kernel) = param(layer, &format!("{which}/kernel")).ok_or_else(missing)?;
        let ks = kernel.shape().to_vec(); // [features, heads, dim]
        let dim = ks[2] as i64;
        let w = g.weight(&path, &[ks[0], ks[1] * ks[2]], kernel.data());
        let mut y = g.apply("MatMul", &[x, &w], name, &[]);
        if let Some((path, bias)) = param(layer, &format!("{which}/bias")) {
            let b = g.weight(&path, &[bias.len()], bias.data());
            y = g.apply("Add", &[&y, &b], name, &[]);
        }
        let split = g.ints("shape", &[-1, steps, heads, dim]);
        let y = g.apply("Reshape", &[&y, &split], name, &[]);
        Ok((g.apply("Transpose", &[&y], name, &[Attr::Ints("perm", vec![0, 2, 1, 3])]), dim))
    };
    let (q, _) = project(g, query, "query", tq)?;
    let (k, _) = project(g, key, "key", tk)?;
    let (v, dv) = project(g, value, "value", tk)?;
    let scale = g.scalar("scale", 1.0 / (key_dim as f32).sqrt());
    let q = g.apply("Mul", &[&q, &scale], name, &[]);
    let kt = g.apply("Transpose", &[&k], name, &[Attr::Ints("perm", vec![0, 1, 3, 2])]);
    let mut scores = g.apply("MatMul", &[&q, &kt], name, &[]);
    if field(config, "use_causal_mask").and_then(|v| v.as_bool()).unwrap_or(false) {
        // Keras's masked softmax adds −1e9 where the mask is 0: here above the diagonal.
        let adder: Vec<f32> = (0..tq).flat_map(|i| (0..tk).map(move |j| if j > i { -1e9 } else { 0.0 })).collect();
        let mask = g.fresh("causal");
        let mask = g.weight(&mask, &[tq as usize, tk as usize], &adder);
        scores = g.apply("Add", &[&scores, &mask], name, &[]);
    }
    let a = g.apply("Softmax", &[&scores], name, &[Attr::Int("axis", -1)]);
    let context = g.apply("MatMul", &[&a, &v], name, &[]);
    let context = g.apply("Transpose", &[&context], name, &[Attr::Ints("perm", vec![0, 2, 1, 3])]);
    let merge = g.ints("shape", &[-1, tq, heads * dv]);
    let context = g.apply("Reshape", &[&context, &merge], name, &[]);
    let (path, kernel) = param(layer, "attention_output/kernel").ok_or_else(missing)?;
    let ks = kernel.shape().to_vec(); // [heads, value_dim, out]
    let w = g.weight(&path, &[ks[0] * ks[1], ks[2]], kernel.data());
    let mut y = g.apply("MatMul", &[&context, &w], name, &[]);
    if let Some((path, bias)) = param(layer, "attention_output/bias") {
        let b = g.weight(&path, bias.shape(), bias.data());
        y = g.apply("Add", &[&y, &b], name, &[]);
    }
    Ok(y)
}

/// One call of `layer` on tensors `inputs` (per-sample shapes `shapes`), output shape
/// `out_shape`; returns the output's name.
fn layer_call<'a>(
    g: &mut Graph,
    layer: &'a dyn Layer,
    inputs: &[String],
    shapes: &[&[usize]],
    out_shape: &[usize],
) -> Result<String> {
    let (kind, name) = (layer.kind(), layer.name());
    let config = layer.config().unwrap_or(serde_json::Value::Null);
    let x = inputs.first().map(String::as_str).unwrap_or_default();
    let refuse = |why: &str| {
        Error::invalid("layer", format!("{name} ({kind})"), format!("a layer ONNX export can express: {why}"))
    };
    let missing = || Error::State(format!("layer {name} ({kind}) has not been built: no weights to export"));
    Ok(match kind {
        "Dense" => {
            let (path, kernel) = param(layer, "kernel").ok_or_else(missing)?;
            let k = g.weight(&path, kernel.shape(), kernel.data());
            let mut y = g.apply("MatMul", &[x, &k], name, &[]);
            if let Some((path, bias)) = param(layer, "bias") {
                let b = g.weight(&path, bias.shape(), bias.data());
                y = g.apply("Add", &[&y, &b], name, &[]);
            }
            activation(g, &config_activation(&config)?, &y, name)
        }
        "Activation" => activation(g, &config_activation(&config)?, x, name),
        "ReLU" => {
            let slope = field(&config, "negative_slope").and_then(|v| v.as_f64()).unwrap_or(0.0) as f32;
            let max = field(&config, "max_value").and_then(|v| v.as_f64());
            let threshold = field(&config, "threshold").and_then(|v| v.as_f64()).unwrap_or(0.0);
            if threshold != 0.0 {
                return Err(refuse("ReLU with a threshold"));
            }
            let y = if slope == 0.0 {
                g.apply("Relu", &[x], name, &[])
            } else {
                g.apply("LeakyRelu", &[x], name, &[Attr::Float("alpha", slope)])
            };
            match max {
                Some(m) => {
                    let (lo, hi) = (g.scalar("lo", f32::MIN), g.scalar("max", m as f32));
                    g.apply("Clip", &[&y, &lo, &hi], name, &[])
                }
                None => y,
            }
        }
        "Dropout"
        | "SpatialDropout1D"
        | "SpatialDropout2D"
        | "GaussianNoise"
        | "GaussianDropout"
        | "AlphaDropout"
        | "ActivityRegularization"
        | "RandomFlip"
        | "RandomRotation"
        | "RandomTranslation"
        | "RandomZoom"
        | "RandomContrast"
        | "RandomCrop" => {
            if kind == "RandomCrop" && shapes[0] != out_shape {
                return Err(refuse("RandomCrop changes the shape in inference (a centre crop)"));
            }
            g.apply("Identity", &[x], name, &[])
        }
        "Flatten" | "Reshape" => {
            let target: Vec<i64> = std::iter::once(-1).chain(out_shape.iter().map(|&d| d as i64)).collect();
            let shape = g.ints("shape", &target);
            g.apply("Reshape", &[x, &shape], name, &[])
        }
        "Rescaling" => {
            let scale = field(&config, "scale").and_then(|v| v.as_f64()).unwrap_or(1.0) as f32;
            let offset = field(&config, "offset").and_then(|v| v.as_f64()).unwrap_or(0.0) as f32;
            let (s, o) = (g.scalar("scale", scale), g.scalar("offset", offset));
            let y = g.apply("Mul", &[x, &s], name, &[]);
            g.apply("Add", &[&y, &o], name, &[])
        }
        "Normalization" => {
            let mean = state(layer, "mean").ok_or_else(missing)?;
            let variance = state(layer, "variance").ok_or_else(missing)?;
            // The layer's own divisor, max(√variance, ε), as it computes it.
            let stats = crate::layers::Normalization::new().with_statistics(&mean, &variance)?;
            let n = mean.len();
            let m = g.weight(&format!("{name}/mean"), &[n], &mean);
            let s = g.weight(&format!("{name}/std"), &[n], stats.std());
            if config.get("invert").and_then(|v| v.as_bool()).unwrap_or(false) {
                let y = g.apply("Mul", &[x, &s], name, &[]);
                g.apply("Add", &[&y, &m], name, &[])
            } else {
                let y = g.apply("Sub", &[x, &m], name, &[]);
                g.apply("Div", &[&y, &s], name, &[])
            }
        }
        "BatchNormalization" => {
            let eps = last_axis_epsilon(&config, shapes[0]).ok_or_else(|| refuse("normalizing the last axis"))?;
            let mean = state(layer, "moving_mean").ok_or_else(missing)?;
            let var = state(layer, "moving_variance").ok_or_else(missing)?;
            let (gamma, beta) = gamma_beta(layer, mean.len());
            let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
            let shift: Vec<f32> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
            let n = scale.len();
            let s = g.weight(&format!("{name}/folded_scale"), &[n], &scale);
            let b = g.weight(&format!("{name}/folded_shift"), &[n], &shift);
            let y = g.apply("Mul", &[x, &s], name, &[]);
            g.apply("Add", &[&y, &b], name, &[])
        }
        "LayerNormalization" | "UnitNormalization" => {
            // Its axes are the sample's last `count` (checked when the layer was built);
            // ONNX's LayerNormalization normalizes from `axis` to the end, the same groups.
            let axes: crate::layers::Axes =
                serde_json::from_value(config.get("axis").cloned().unwrap_or(serde_json::json!(-1)))
                    .map_err(|_| refuse("an axis that is not an integer or a list of them"))?;
            let count = match &axes {
                crate::layers::Axes::One(_) => 1,
                crate::layers::Axes::Many(v) => v.len(),
            };
            let sample = shapes[0];
            let dims = &sample[sample.len().saturating_sub(count)..];
            if kind == "UnitNormalization" {
                // x · min(1 / √(Σ x²), 1e12), as Keras's ops.normalize.
                let axes: Vec<i64> = (0..count as i64).map(|i| -1 - i).collect();
                let squares =
                    g.apply("ReduceSumSquare", &[x], name, &[Attr::Ints("axes", axes), Attr::Int("keepdims", 1)]);
                let norm = g.apply("Sqrt", &[&squares], name, &[]);
                let inv = g.apply("Reciprocal", &[&norm], name, &[]);
                let cap = g.scalar("unit_norm_cap", 1e12);
                let inv = g.apply("Min", &[&inv, &cap], name, &[]);
                g.apply("Mul", &[x, &inv], name, &[])
            } else {
                let eps = field(&config, "epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-3) as f32;
                let n = dims.iter().product();
                let (gamma, beta) = gamma_beta(layer, n);
                let s = g.weight(&format!("{name}/gamma"), dims, &gamma);
                let b = g.weight(&format!("{name}/beta"), dims, &beta);
                let attrs = [Attr::Int("axis", -(count as i64)), Attr::Float("epsilon", eps)];
                g.apply("LayerNormalization", &[x, &s, &b], name, &attrs)
            }
        }
        "Conv1D" | "Conv2D" => {
            let (path, kernel) = param(layer, "kernel").ok_or_else(missing)?;
            let (dims, w) = kernel_oi(kernel);
            let k = g.weight(&format!("{path}__oi"), &dims, &w);
            let bias = param(layer, "bias").map(|(path, b)| g.weight(&path, b.shape(), b.data()));
            let c = ConvWeights { w: &k, bias: bias.as_deref(), kernel: &dims[2..], group: 1 };
            let y = convolution(g, x, name, c, &config);
            activation(g, &config_activation(&config)?, &y, name)
        }
        "Conv2DTranspose" => {
            // The adjoint of the Conv2D with the same window: ONNX's ConvTranspose, its kernel
            // [in, filters, kh, kw] from Keras's [kh, kw, filters, in]; per axis the crop is the
            // forward convolution's padding (`same`: max(k − s, 0), half before) and
            // `output_padding` makes up the rest of Keras's size (in·s, or in·s + k − s).
            let (path, kernel) = param(layer, "kernel").ok_or_else(missing)?;
            let (dims, w) = permuted(kernel, &[3, 2, 0, 1]);
            let (kh, kw) = (dims[2], dims[3]);
            let k = g.weight(&format!("{path}__iokk"), &dims, &w);
            let strides = sizes(&config, "strides", 2).unwrap_or(vec![1, 1]);
            let same = field(&config, "padding").and_then(|p| p.as_str()) == Some("same");
            let (mut begin, mut end, mut extra) = (Vec::new(), Vec::new(), Vec::new());
            for (kernel, stride) in [(kh as i64, strides[0]), (kw as i64, strides[1])] {
                let total = if same { (kernel - stride).max(0) } else { 0 };
                begin.push(total / 2);
                end.push(total - total / 2);
                extra.push((stride - kernel).max(0));
            }
            let pads: Vec<i64> = begin.into_iter().chain(end).collect();
            let bias = param(layer, "bias").map(|(path, b)| g.weight(&path, b.shape(), b.data()));
            let y = channels_first(g, x, name, 2, |g, input| {
                let mut ins = vec![input, k.as_str()];
                ins.extend(bias.as_deref());
                g.apply(
                    "ConvTranspose",
                    &ins,
                    name,
                    &[
                        Attr::Ints("kernel_shape", vec![kh as i64, kw as i64]),
                        Attr::Ints("strides", strides),
                        Attr::Ints("pads", pads),
                        Attr::Ints("output_padding", extra),
                    ],
                )
            });
            activation(g, &config_activation(&config)?, &y, name)
        }
        "DepthwiseConv2D" | "SeparableConv2D" => {
            // Depthwise: [kh, kw, c, m] as [c·m, 1, kh, kw] in groups of one channel (output
            // channel c·m + j reads channel c), then a SeparableConv2D's pointwise 1×1.
            let depthwise = layer.params().first().ok_or_else(missing)?;
            let shape = depthwise.value.shape().to_vec();
            let (kh, kw, c, m) = (shape[0], shape[1], shape[2], shape[3]);
            // [c, m, kh, kw] is [c·m, 1, kh, kw] in memory.
            let (_, w) = permuted(&depthwise.value, &[2, 3, 0, 1]);
            let dw = g.weight(&format!("{name}/{}__oi", depthwise.name), &[c * m, 1, kh, kw], &w);
            let bias = param(layer, "bias").map(|(path, b)| g.weight(&path, b.shape(), b.data()));
            let y = if kind == "DepthwiseConv2D" {
                let depth = ConvWeights { w: &dw, bias: bias.as_deref(), kernel: &[kh, kw], group: c };
                convolution(g, x, name, depth, &config)
            } else {
                let mid =
                    convolution(g, x, name, ConvWeights { w: &dw, bias: None, kernel: &[kh, kw], group: c }, &config);
                let (path, pointwise) = param(layer, "pointwise_kernel").ok_or_else(missing)?;
                let (dims, w) = kernel_oi(pointwise);
                let pw = g.weight(&format!("{path}__oi"), &dims, &w);
                let unit = serde_json::json!({"strides": 1, "dilation_rate": 1, "padding": "valid"});
                let point = ConvWeights { w: &pw, bias: bias.as_deref(), kernel: &[1, 1], group: 1 };
                convolution(g, &mid, name, point, &unit)
            };
            activation(g, &config_activation(&config)?, &y, name)
        }
        "MaxPooling1D" | "AveragePooling1D" | "MaxPooling2D" | "AveragePooling2D" => {
            let rank = if kind.ends_with("1D") { 1 } else { 2 };
            let pool = sizes(&config, "pool_size", rank).unwrap_or(vec![2; rank]);
            let strides = sizes(&config, "strides", rank).unwrap_or_else(|| pool.clone());
            let pad = padding_attr(&config);
            let op = if kind.starts_with("Max") { "MaxPool" } else { "AveragePool" };
            channels_first(g, x, name, rank, |g, input| {
                g.apply(op, &[input], name, &[Attr::Ints("kernel_shape", pool), Attr::Ints("strides", strides), pad])
            })
        }
        "GlobalAveragePooling1D" | "GlobalMaxPooling1D" => {
            let op = if kind.starts_with("GlobalAverage") { "ReduceMean" } else { "ReduceMax" };
            g.apply(op, &[x], name, &[Attr::Ints("axes", vec![1]), Attr::Int("keepdims", 0)])
        }
        "ZeroPadding2D" => {
            let p = field(&config, "padding").and_then(|v| serde_json::from_value::<[[i64; 2]; 2]>(v.clone()).ok());
            let [[top, bottom], [left, right]] = p.ok_or_else(|| refuse("its padding"))?;
            let pads = g.ints("pads", &[0, top, left, 0, 0, bottom, right, 0]);
            g.apply("Pad", &[x, &pads], name, &[])
        }
        "UpSampling2D" => {
            if field(&config, "interpolation").and_then(|v| v.as_str()).unwrap_or("nearest") != "nearest" {
                return Err(refuse("UpSampling2D with nearest interpolation"));
            }
            let size = field(&config, "size").and_then(|v| serde_json::from_value::<[f32; 2]>(v.clone()).ok());
            let [sh, sw] = size.ok_or_else(|| refuse("its size"))?;
            let scales = g.fresh("scales");
            let scales = g.weight(&scales, &[4], &[1.0, sh, sw, 1.0]);
            g.apply(
                "Resize",
                &[x, "", &scales],
                name,
                &[
                    Attr::Str("mode", "nearest"),
                    Attr::Str("coordinate_transformation_mode", "asymmetric"),
                    Attr::Str("nearest_mode", "floor"),
                ],
            )
        }
        "GlobalAveragePooling2D" | "GlobalMaxPooling2D" => {
            let op = if kind == "GlobalAveragePooling2D" { "ReduceMean" } else { "ReduceMax" };
            g.apply(op, &[x], name, &[Attr::Ints("axes", vec![1, 2]), Attr::Int("keepdims", 0)])
        }
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" => {
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let op = match kind {
                "Add" => "Sum",
                "Subtract" => "Sub",
                "Multiply" => "Mul",
                "Average" => "Mean",
                "Maximum" => "Max",
                _ => "Min",
            };
            g.apply(op, &refs, name, &[])
        }
        "Concatenate" => {
            let axis = field(&config, "axis").and_then(|v| v.as_i64()).unwrap_or(-1);
            // Keras's axis counts the batch axis, as ONNX's does.
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            g.apply("Concat", &refs, name, &[Attr::Int("axis", axis)])
        }
        "Embedding" => {
            if field(&config, "mask_zero").and_then(|v| v.as_bool()).unwrap_or(false) {
                return Err(refuse("an Embedding without mask_zero (the mask would not reach ONNX)"));
            }
            let (path, table) = param(layer, "embeddings").ok_or_else(missing)?;
            let t = g.weight(&path, table.shape(), table.data());
            let ids = g.apply("Cast", &[x], name, &[Attr::Int("to", INT64 as i64)]);
            g.apply("Gather", &[&t, &ids], name, &[Attr::Int("axis", 0)])
        }
        "SimpleRNN" | "LSTM" | "GRU" => {
            let weights: Vec<(String, &crate::tensor::Tensor)> =
                layer.params().iter().map(|p| (format!("{name}/{}", p.name), &p.value)).collect();
            recurrent(g, name, kind, &config, &[weights], x, shapes[0][0])?
        }
        "Bidirectional" => {
            if field(&config, "merge_mode").and_then(|v| v.as_str()) != Some("concat") {
                return Err(refuse("a Bidirectional with merge_mode concat"));
            }
            let inner = field(&config, "layer").ok_or_else(missing)?;
            let cell = inner.get("class_name").and_then(|v| v.as_str()).unwrap_or_default();
            let inner_config = inner.get("config").cloned().unwrap_or_default();
            let params = layer.params();
            let half = params.len() / 2;
            let side = |ps: &'a [crate::layers::Param]| -> Vec<(String, &'a crate::tensor::Tensor)> {
                ps.iter().map(|p| (format!("{name}/{}", p.name), &p.value)).collect()
            };
            let directions = [side(&params[..half]), side(&params[half..])];
            recurrent(g, name, cell, &inner_config, &directions, x, shapes[0][0])?
        }
        "MultiHeadAttention" => attention(g, layer, &config, inputs, shapes)?,
        "Masking" => return Err(refuse("masks (ONNX's recurrent operators would need sequence lengths)")),
        _ => return Err(refuse("this class has no ONNX translation yet")),
    })
}

impl Model {
    /// The model as an ONNX file at `path` (opset [`OPSET`]; see the [module docs](self)):
    /// inputs and outputs named as the model's (`input_layer`, the output layers'), the batch
    /// dimension dynamic. Written crash-safely (a temporary file renamed into place).
    ///
    /// ```
    /// use minibatch::{layers::Dense, Sequential};
    /// let mut model = Sequential::new().add(Dense::new(3).activation("softmax")).into_model();
    /// model.build(&[4]).unwrap();
    /// let path = std::env::temp_dir().join("minibatch-doc-export.onnx");
    /// model.export_onnx(&path).unwrap();
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`]
    /// naming a layer ONNX export cannot express (nothing is written then); as
    /// [`crate::saving::write_atomic`].
    pub fn export_onnx(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_onnx()?;
        crate::saving::write_atomic(path.as_ref(), &bytes)
    }

    /// The ONNX file [`Model::export_onnx`] writes, as bytes.
    ///
    /// # Errors
    /// As [`Model::export_onnx`], less writing.
    pub fn to_onnx(&self) -> Result<Vec<u8>> {
        if !self.is_built() {
            return Err(Error::State(
                "this model has not yet been built: call build(input_shape), or fit it, before exporting".into(),
            ));
        }
        let gr = &self.graph;
        let mut g = Graph::default();
        // Every tensor's ONNX name: the inputs by their names, a call's output fresh.
        let mut names: Vec<String> = self.input_names.clone();
        g.names.extend(names.iter().cloned());
        for (n, node) in gr.nodes.iter().enumerate() {
            let layer = self.layers[node.layer].as_ref();
            let inputs: Vec<String> = node.inputs.iter().map(|&t| names[t].clone()).collect();
            let shapes: Vec<&[usize]> = node.inputs.iter().map(|&t| self.shapes[t].as_slice()).collect();
            let out = layer_call(&mut g, layer, &inputs, &shapes, &self.shapes[gr.inputs + n])?;
            names.push(out);
        }
        // The outputs, named as the layers that produce them.
        let mut outputs = Vec::new();
        for &t in &gr.outputs {
            let base = match gr.producer(t) {
                Some(n) => self.layers[gr.nodes[n].layer].name().to_string(),
                None => format!("{}_out", names[t]),
            };
            let name = if g.names.insert(base.clone()) { base } else { g.fresh(&base) };
            g.node("Identity", &[&names[t]], &name, &[]);
            outputs.push((name, self.shapes[t].clone()));
        }
        let mut graph = Message::new();
        g.nodes.iter().for_each(|n| {
            graph.message(1, n);
        });
        graph.string(2, self.name());
        g.initializers.iter().for_each(|t| {
            graph.message(5, t);
        });
        for (i, name) in self.input_names.iter().enumerate() {
            graph.message(11, &value_info(name, &self.shapes[i]));
        }
        for (name, shape) in &outputs {
            graph.message(12, &value_info(name, shape));
        }
        let mut opset = Message::new();
        opset.string(1, "").varint(2, OPSET);
        let mut model = Message::new();
        model
            .varint(1, IR_VERSION)
            .string(2, "minibatch")
            .string(3, env!("CARGO_PKG_VERSION"))
            .message(7, &graph)
            .message(8, &opset);
        Ok(model.into_bytes())
    }
}
