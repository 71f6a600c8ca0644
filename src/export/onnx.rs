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
//! | Conv2D | `Transpose`, `Conv` (`auto_pad` `SAME_UPPER` for `same`, Keras's rule), `Transpose`, `Add` |
//! | MaxPooling2D, AveragePooling2D | `Transpose`, `MaxPool` / `AveragePool` (padding excluded from averages, as Keras), `Transpose` |
//! | GlobalAverage/MaxPooling2D | `ReduceMean` / `ReduceMax` over height and width |
//! | BatchNormalization | folded: `x · γ/√(σ²+ε) + (β − μ·γ/√(σ²+ε))` (`Mul`, `Add`) |
//! | LayerNormalization (last axis) | `LayerNormalization` |
//! | Normalization, Rescaling | `Sub`, `Div` / `Mul`, `Add` (inverted Normalization: `Mul`, `Add`) |
//! | Dropout, GaussianNoise and the like | nothing (identity in inference) |
//! | Flatten, Reshape | `Reshape` to `[-1, …]` |
//! | Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate | `Add`, `Sub`, `Mul`, `Mean`, `Max`, `Min`, `Concat` |
//! | Embedding | `Cast` to int64, `Gather` |
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

/// An attribute of a node.
enum Attr<'a> {
    Int(&'a str, i64),
    Float(&'a str, f32),
    Str(&'a str, &'a str),
    Ints(&'a str, Vec<i64>),
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
        let mut n = Message::new();
        inputs.iter().for_each(|i| {
            n.string(1, i);
        });
        n.string(2, output).string(3, output).string(4, op);
        for a in attrs {
            let mut m = Message::new();
            match a {
                Attr::Int(name, v) => m.string(1, name).varint(3, *v as u64).varint(20, ATTR_INT),
                Attr::Float(name, v) => m.string(1, name).float(2, *v).varint(20, ATTR_FLOAT),
                Attr::Str(name, v) => m.string(1, name).bytes_field(4, v.as_bytes()).varint(20, ATTR_STRING),
                Attr::Ints(name, v) => m.string(1, name).packed_varints(8, v).varint(20, ATTR_INTS),
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

/// A `Size` field (`3` or `[3, 3]`) as (height, width).
fn size2(config: &serde_json::Value, key: &str) -> Option<(i64, i64)> {
    match field(config, key)? {
        serde_json::Value::Number(n) => n.as_i64().map(|v| (v, v)),
        serde_json::Value::Array(a) if a.len() == 2 => Some((a[0].as_i64()?, a[1].as_i64()?)),
        _ => None,
    }
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

/// NHWC to NCHW, `op`, and back: a channels-first ONNX operator on Keras's channels-last data.
fn channels_first(g: &mut Graph, x: &str, base: &str, op: impl FnOnce(&mut Graph, &str) -> String) -> String {
    let nchw = g.apply("Transpose", &[x], base, &[Attr::Ints("perm", vec![0, 3, 1, 2])]);
    let y = op(g, &nchw);
    g.apply("Transpose", &[&y], base, &[Attr::Ints("perm", vec![0, 2, 3, 1])])
}

/// ONNX's padding attributes for Keras's `padding` of a 2-D window.
fn padding_attr(config: &serde_json::Value) -> Attr<'static> {
    match field(config, "padding").and_then(|p| p.as_str()) {
        Some("same") => Attr::Str("auto_pad", "SAME_UPPER"),
        _ => Attr::Str("auto_pad", "VALID"),
    }
}

/// One call of `layer` on tensors `inputs` (per-sample shapes `shapes`), output shape
/// `out_shape`; returns the output's name.
fn layer_call(
    g: &mut Graph,
    layer: &dyn Layer,
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
            let std: Vec<f32> = variance.iter().map(|v| v.sqrt().max(1e-7)).collect();
            let n = mean.len();
            let m = g.weight(&format!("{name}/mean"), &[n], &mean);
            let s = g.weight(&format!("{name}/std"), &[n], &std);
            if config.get("invert").and_then(|v| v.as_bool()).unwrap_or(false) {
                let y = g.apply("Mul", &[x, &s], name, &[]);
                g.apply("Add", &[&y, &m], name, &[])
            } else {
                let y = g.apply("Sub", &[x, &m], name, &[]);
                g.apply("Div", &[&y, &s], name, &[])
            }
        }
        "BatchNormalization" => {
            let axis = field(&config, "axis").and_then(|v| v.as_i64()).unwrap_or(-1);
            if axis != -1 && axis != shapes[0].len() as i64 {
                return Err(refuse("BatchNormalization over an axis other than the last"));
            }
            let eps = field(&config, "epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-3) as f32;
            let mean = state(layer, "moving_mean").ok_or_else(missing)?;
            let var = state(layer, "moving_variance").ok_or_else(missing)?;
            let gamma = param(layer, "gamma").map(|(_, t)| t.data().to_vec()).unwrap_or_else(|| vec![1.0; mean.len()]);
            let beta = param(layer, "beta").map(|(_, t)| t.data().to_vec()).unwrap_or_else(|| vec![0.0; mean.len()]);
            let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
            let shift: Vec<f32> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
            let n = scale.len();
            let s = g.weight(&format!("{name}/folded_scale"), &[n], &scale);
            let b = g.weight(&format!("{name}/folded_shift"), &[n], &shift);
            let y = g.apply("Mul", &[x, &s], name, &[]);
            g.apply("Add", &[&y, &b], name, &[])
        }
        "LayerNormalization" => {
            let axis = field(&config, "axis").and_then(|v| v.as_i64()).unwrap_or(-1);
            if axis != -1 && axis != shapes[0].len() as i64 {
                return Err(refuse("LayerNormalization over axes other than the last"));
            }
            let eps = field(&config, "epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-3) as f32;
            let n = *shapes[0].last().unwrap_or(&1);
            let gamma = param(layer, "gamma").map(|(_, t)| t.data().to_vec()).unwrap_or_else(|| vec![1.0; n]);
            let beta = param(layer, "beta").map(|(_, t)| t.data().to_vec()).unwrap_or_else(|| vec![0.0; n]);
            let s = g.weight(&format!("{name}/gamma"), &[n], &gamma);
            let b = g.weight(&format!("{name}/beta"), &[n], &beta);
            g.apply("LayerNormalization", &[x, &s, &b], name, &[Attr::Int("axis", -1), Attr::Float("epsilon", eps)])
        }
        "Conv2D" => {
            let (path, kernel) = param(layer, "kernel").ok_or_else(missing)?;
            let ks = kernel.shape().to_vec(); // [kh, kw, cin, cout]
            let (kh, kw, cin, cout) = (ks[0], ks[1], ks[2], ks[3]);
            // ONNX's weights are [cout, cin, kh, kw].
            let mut w = vec![0.0f32; kernel.len()];
            for (i, &v) in kernel.data().iter().enumerate() {
                let (o, rest) = (i % cout, i / cout);
                let (c, rest) = (rest % cin, rest / cin);
                let (kx, ky) = (rest % kw, rest / kw);
                w[((o * cin + c) * kh + ky) * kw + kx] = v;
            }
            let k = g.weight(&format!("{path}__oihw"), &[cout, cin, kh, kw], &w);
            let strides = size2(&config, "strides").unwrap_or((1, 1));
            let dilations = size2(&config, "dilation_rate").unwrap_or((1, 1));
            let pad = padding_attr(&config);
            let bias = param(layer, "bias").map(|(path, b)| g.weight(&path, b.shape(), b.data()));
            let y = channels_first(g, x, name, |g, input| {
                let mut ins = vec![input, k.as_str()];
                if let Some(b) = &bias {
                    ins.push(b);
                }
                g.apply(
                    "Conv",
                    &ins,
                    name,
                    &[
                        Attr::Ints("kernel_shape", vec![kh as i64, kw as i64]),
                        Attr::Ints("strides", vec![strides.0, strides.1]),
                        Attr::Ints("dilations", vec![dilations.0, dilations.1]),
                        pad,
                    ],
                )
            });
            activation(g, &config_activation(&config)?, &y, name)
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            let pool = size2(&config, "pool_size").unwrap_or((2, 2));
            let strides = size2(&config, "strides").unwrap_or(pool);
            let pad = padding_attr(&config);
            let op = if kind == "MaxPooling2D" { "MaxPool" } else { "AveragePool" };
            channels_first(g, x, name, |g, input| {
                g.apply(
                    op,
                    &[input],
                    name,
                    &[
                        Attr::Ints("kernel_shape", vec![pool.0, pool.1]),
                        Attr::Ints("strides", vec![strides.0, strides.1]),
                        pad,
                    ],
                )
            })
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
            let (path, table) = param(layer, "embeddings").ok_or_else(missing)?;
            let t = g.weight(&path, table.shape(), table.data());
            let ids = g.apply("Cast", &[x], name, &[Attr::Int("to", INT64 as i64)]);
            g.apply("Gather", &[&t, &ids], name, &[Attr::Int("axis", 0)])
        }
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
