//! Keras 3's `.keras` model file, read: the zip of `config.json` (the architecture and the
//! compile configuration, as Keras's `serialization_lib` writes them), `metadata.json` and
//! `model.weights.h5` (the weights, see [`super::keras_weights`]).
//!
//! Each layer's Keras config is translated into minibatch's (an activation by name, a
//! regularizer or constraint by class) and rebuilt from the layers' table; then every option
//! Keras recorded is checked against what minibatch built: an option minibatch does not have,
//! set to anything but Keras's default, is a named error listing each one (`layer 'conv':
//! dilation_rate = [2, 2]`), never a silently different model. Initializers are not carried:
//! the weights come from the file.

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::models::Model;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Whether a Keras option's value is the one minibatch supports.
type Supported = fn(&Value) -> bool;

/// Keras options minibatch has no field for, with the one value it supports (Keras's default).
const DEFAULTS: [(&str, Supported); 24] = [
    ("rms_scaling", |v| v == &json!(false)),
    // Attention over the steps of sequences `[steps, features]` (minibatch's only case).
    ("attention_axes", |v| v == &json!([1])),
    ("use_gate", |v| v == &json!(false)),
    ("center", |v| v == &json!(true)),
    ("scale", |v| v == &json!(true)),
    ("data_format", |v| v == &json!("channels_last")),
    ("dilation_rate", |v| all_ones(v)),
    ("groups", |v| v == &json!(1)),
    ("renorm", |v| v == &json!(false)),
    ("go_backwards", |v| v == &json!(false)),
    ("stateful", |v| v == &json!(false)),
    ("unroll", |v| v == &json!(false)),
    ("zero_output_for_mask", |v| v == &json!(false)),
    ("unit_forget_bias", |v| v == &json!(true)),
    ("dropout", |v| v.as_f64() == Some(0.0)),
    ("recurrent_dropout", |v| v.as_f64() == Some(0.0)),
    ("sparse", |v| v == &json!(false)),
    ("ragged", |v| v == &json!(false)),
    ("optional", |v| v == &json!(false)),
    ("mask_zero", |v| v == &json!(false)),
    ("return_state", |v| v == &json!(false)),
    ("keepdims", |v| v == &json!(false)),
    ("reset_after", |v| v == &json!(true)),
    ("noise_shape", |v| v.is_null()),
];

/// What translating a Keras architecture found: the layer classes and options minibatch
/// lacks (each a line of the error), and the Keras 2 axes (`[k]`, positive) read as the last
/// axis, to check against each layer's input once the model is built.
#[derive(Default)]
struct Findings {
    refused: Vec<String>,
    axes: Vec<(String, i64)>,
}

/// Keys that describe Keras's bookkeeping, not the layer.
const BOOKKEEPING: [&str; 8] = [
    "dtype",
    "trainable",
    "quantization_config",
    "renorm_momentum",
    "seed",
    "batch_input_shape",
    // A Bidirectional's backward layer: the forward one run backwards, as minibatch builds it.
    "backward_layer",
    // A wrapper's layer: checked when it was rebuilt.
    "layer",
];

fn all_ones(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(|x| x == &json!(1)),
        other => other == &json!(1),
    }
}

/// Loose equality of a Keras value and minibatch's for the same option: numbers to f32
/// precision, a scalar against a list of that scalar (`3` and `[3, 3]`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-6 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Array(x), one) | (one, Value::Array(x)) => x.iter().all(|p| same(p, one)),
        (Value::String(s), Value::Object(o)) | (Value::Object(o), Value::String(s)) => {
            o.get("class_name").and_then(Value::as_str) == Some(s.as_str())
        }
        _ => a == b,
    }
}

/// `{"module": …, "class_name": C, "config": {…}}` as minibatch's tagged form
/// `{"class_name": C, "config": {…}}`.
fn tagged(v: &Value) -> Value {
    json!({ "class_name": v.get("class_name").cloned().unwrap_or(Value::Null), "config": v.get("config").cloned().unwrap_or(json!({})) })
}

/// A Keras initializer (`{"class_name": "RandomNormal", "config": {"mean": 0, …}}`) in
/// minibatch's form (`{"class_name": "random_normal", "config": {"mean": 0, "stddev": …}}`); a
/// seed is not carried (the weights come from the file).
fn initializer(v: &Value) -> Value {
    let class = crate::models::snake_case(v.get("class_name").and_then(Value::as_str).unwrap_or_default());
    let config = v.get("config").cloned().unwrap_or_default();
    let keep = |keys: &[&str]| -> Value {
        let fields: Map<String, Value> =
            keys.iter().filter_map(|k| Some((k.to_string(), config.get(*k)?.clone()))).collect();
        json!({ "class_name": class, "config": fields })
    };
    match class.as_str() {
        "random_uniform" => keep(&["minval", "maxval"]),
        "random_normal" => keep(&["mean", "stddev"]),
        "orthogonal" => keep(&["gain"]),
        "constant" => json!({ "class_name": class, "config": config.get("value").cloned().unwrap_or(json!(0.0)) }),
        _ => json!({ "class_name": class }),
    }
}

/// A Keras layer config's values in minibatch's forms (activations by name, initializers,
/// regularizers and constraints tagged; a wrapped layer's config translated in turn); unset
/// (null) options left out.
fn values(object: &Map<String, Value>) -> Map<String, Value> {
    let mut ours = Map::new();
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        let value = if key.ends_with("_initializer") {
            initializer(value)
        } else if key.ends_with("activation") && value.is_string() {
            json!({ "class_name": value })
        } else if key.ends_with("_regularizer") || key.ends_with("_constraint") {
            tagged(value)
        } else if key == "layer" && value.get("class_name").is_some() {
            // A wrapper's layer (Bidirectional, TimeDistributed).
            let inner = value.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
            json!({ "class_name": value["class_name"], "config": values(&inner) })
        } else {
            value.clone()
        };
        ours.insert(key.clone(), value);
    }
    ours
}

/// One Keras layer config translated, rebuilt and checked (see the [module docs](self)).
fn rebuild_layer(class: &str, keras: &Value, found: &mut Findings) -> Result<Option<Box<dyn Layer>>> {
    let name = keras.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
    let object = keras.as_object().cloned().unwrap_or_default();
    let dtype = object.get("dtype").and_then(|d| d.pointer("/config/name").or(Some(d))).and_then(Value::as_str);
    if let Some(d) = dtype.filter(|d| *d != "float32") {
        found.refused.push(format!("layer '{name}': dtype policy {d} (float32 only)"));
    }
    let mut ours = Map::new();
    let mut object = object;
    // Keras 2 writes a normalization's axis as a list of the positive index (`[3]`): read as
    // the last axis here, which the model checks once it knows the input's rank.
    if let Some(axis) =
        object.get("axis").and_then(Value::as_array).filter(|a| a.len() == 1).and_then(|a| a[0].as_i64())
    {
        if axis > 0 {
            object.insert("axis".into(), json!(-1));
            found.axes.push((name.clone(), axis));
        } else {
            // Keras 3's list of one axis, counted from the end.
            object.insert("axis".into(), json!(axis));
        }
    }
    ours.extend(values(&object));
    let layer = match super::layer_from_config(class, &Value::Object(ours)) {
        Ok(layer) => layer,
        Err(Error::UnknownName { .. }) => {
            found.refused.push(format!("layer '{name}': {class} is not supported"));
            return Ok(None);
        }
        Err(e) => {
            found.refused.push(format!("layer '{name}' ({class}): {e}"));
            return Ok(None);
        }
    };
    let rebuilt = layer.config().unwrap_or(Value::Null);
    for (key, value) in &object {
        if value.is_null() || key.ends_with("_initializer") || BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        match rebuilt.get(key) {
            Some(mine) if same(value, mine) => {}
            Some(mine) => found.refused.push(format!("layer '{name}': {key} = {value} (read as {mine})")),
            None => match DEFAULTS.iter().find(|(k, _)| k == key) {
                Some((_, ok)) if ok(value) => {}
                _ => found.refused.push(format!("layer '{name}': {key} = {value} is not supported")),
            },
        }
    }
    Ok(Some(layer))
}

/// Keras's architecture document as minibatch's (see [`super::model_file`]): the same graph,
/// each layer's config translated.
fn translate(doc: &Value, found: &mut Findings) -> Result<Value> {
    let class = doc.get("class_name").and_then(Value::as_str).unwrap_or_default();
    let config = doc.get("config").cloned().unwrap_or_default();
    let name = config.get("name").cloned().unwrap_or(json!(class.to_lowercase()));
    let layers = config.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut ours = Vec::new();
    let mut input_shape = None;
    for layer in &layers {
        let lclass = layer.get("class_name").and_then(Value::as_str).unwrap_or_default();
        let lconfig = layer.get("config").cloned().unwrap_or_default();
        if lclass == "InputLayer" {
            input_shape = lconfig.get("batch_shape").or(lconfig.get("batch_input_shape")).cloned();
            ours.push(layer.clone());
            continue;
        }
        // Keras 2's Sequential gives its input shape on the first layer.
        if input_shape.is_none() {
            input_shape = lconfig.get("batch_input_shape").cloned();
        }
        // A nested model: translated in turn, then built as minibatch builds one.
        if matches!(lclass, "Sequential" | "Functional") {
            let inner = translate(&json!({ "class_name": lclass, "config": lconfig }), found)?;
            let mut entry = layer.clone();
            entry["config"] = inner["config"].clone();
            if lconfig.get("trainable") == Some(&json!(false)) {
                entry["config"]["trainable"] = json!(false);
            }
            ours.push(entry);
            continue;
        }
        let Some(l) = rebuild_layer(lclass, &lconfig, found)? else { continue };
        let mut entry = layer.clone();
        entry["config"] = l.config().unwrap_or_default();
        if lconfig.get("trainable") == Some(&json!(false)) {
            entry["config"]["trainable"] = json!(false);
        }
        ours.push(entry);
    }
    let doc = match class {
        "Sequential" => {
            let shape: Vec<Value> = input_shape
                .and_then(|s| s.as_array().cloned())
                .ok_or_else(|| Error::State("the Sequential model has no InputLayer (no input shape)".into()))?;
            let layers: Vec<Value> = ours.into_iter().filter(|l| l["class_name"] != "InputLayer").collect();
            json!({ "class_name": "Sequential", "config": { "name": name, "seed": 0, "input_shape": shape[1..], "layers": layers } })
        }
        "Functional" => {
            let mut config = config.clone();
            config["layers"] = Value::Array(ours);
            config["seed"] = json!(0);
            // One input or output is written as its history alone (`["x", 0, 0]`).
            for key in ["input_layers", "output_layers"] {
                if config[key].get(0).is_some_and(Value::is_string) {
                    config[key] = json!([config[key].clone()]);
                }
            }
            json!({ "class_name": "Functional", "config": config })
        }
        other => return Err(Error::State(format!("a model of class {other}: Sequential and Functional models only"))),
    };
    Ok(doc)
}

impl Model {
    /// Reads a Keras 3 `.keras` file: the architecture (a Sequential or functional model of
    /// layers minibatch has), the weights, and the compile configuration when the model was
    /// compiled (optimizer, loss and metrics by their Keras configuration; the optimizer's
    /// state for SGD, Adam and AdamW, else it starts afresh with a warning).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file for a damaged archive, a missing member, or weights
    /// that do not fit; [`Error::InvalidArgument`] listing every layer class or option
    /// minibatch does not have, before anything is built.
    pub fn load_keras(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let entries = crate::io::zip::read_zip(path, "a .keras (ZIP) archive", 1)?;
        let member = |name: &str| {
            entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b)
                .ok_or_else(|| Error::format(path, format!("has no {name}: not a Keras 3 model file")))
        };
        let doc: Value = serde_json::from_slice(member("config.json")?)
            .map_err(|e| Error::format(path, format!("config.json is not JSON: {e}")))?;
        let mut model = model_from_keras(path, &doc)?;
        // Compiled first (an uncompiled model's compile_config is null or holds no optimizer),
        // so that the optimizer's saved state has its slots to go into.
        if let Some(compile) = doc.get("compile_config").filter(|c| c.get("optimizer").is_some_and(|o| !o.is_null())) {
            compile_from_keras(&mut model, compile)
                .map_err(|e| Error::format(path, format!("its compile_config: {e}")))?;
        }
        model.load_keras_weights_from(path, member("model.weights.h5")?.clone())?;
        Ok(model)
    }
}

/// The model a Keras architecture document describes (`config.json`'s, or a Keras 2 file's
/// `model_config`), not compiled, its weights not loaded.
///
/// # Errors
/// [`Error::InvalidArgument`] listing every layer class or option minibatch lacks;
/// [`Error::Format`] naming `path` for an architecture that cannot be built.
pub(super) fn model_from_keras(path: &Path, doc: &Value) -> Result<Model> {
    let mut found = Findings::default();
    let ours = translate(doc, &mut found).map_err(|e| Error::format(path, e.to_string()))?;
    if !found.refused.is_empty() {
        return Err(Error::invalid(
            "Keras model",
            found.refused.join("; "),
            format!("layers and options minibatch has ({})", path.display()),
        ));
    }
    let class = ours["class_name"].as_str().unwrap_or_default().to_string();
    let model = super::model_file::model_from_config(&class, &ours["config"])
        .map_err(|e| Error::format(path, format!("its architecture: {e}")))?;
    // A Keras 2 axis must be the last one of the layer's input (rank counted with the batch).
    for (name, axis) in found.axes {
        let li = model.layers.iter().position(|l| l.name() == name);
        let node = li.and_then(|li| model.graph.nodes.iter().find(|n| n.layer == li));
        let last = node.map(|n| model.shapes[n.inputs[0]].len() as i64);
        if last != Some(axis) {
            return Err(Error::invalid(
                "Keras model",
                format!("layer '{name}': axis = [{axis}]"),
                format!("the last axis of its input ({}): other axes are not supported", path.display()),
            ));
        }
    }
    Ok(model)
}

/// Compiles `model` as Keras's `compile_config` says: the optimizer from its config, the loss
/// and metrics by name.
pub(super) fn compile_from_keras(model: &mut Model, compile: &Value) -> Result<()> {
    let optimizer = compile.get("optimizer").ok_or_else(|| Error::State("no optimizer".into()))?;
    let optimizer = match optimizer {
        Value::String(name) => crate::optimizers::from_name(name)?,
        other => {
            let mut config = other.get("config").cloned().unwrap_or_default();
            if let Some(object) = config.as_object_mut() {
                object.retain(|_, v| !v.is_null());
            }
            let class = other.get("class_name").cloned().unwrap_or_default();
            crate::optimizers::from_config(&json!({ "class_name": class, "config": config }))?
        }
    };
    let loss = match compile.get("loss") {
        Some(Value::String(name)) => name.clone(),
        other => return Err(Error::State(format!("a loss given as {other:?}: a loss name only"))),
    };
    let metrics: Vec<String> = match compile.get("metrics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|m| {
                m.as_str().map(str::to_string).ok_or_else(|| Error::State(format!("a metric given as {m}: names only")))
            })
            .collect::<Result<_>>()?,
        Some(other) => return Err(Error::State(format!("metrics given as {other}: a list of names only"))),
    };
    let names: Vec<&str> = metrics.iter().map(String::as_str).collect();
    let outputs = model.output_names().len();
    let losses: crate::models::Losses =
        if outputs > 1 { crate::models::Losses::each(&vec![loss.as_str(); outputs]) } else { loss.as_str().into() };
    model.compile_with(optimizer, losses, crate::CompileOptions::new().metrics(&names))
}

/// Keras's options of its convolutions (`Conv1D`, `Conv2D`).
const CONV_OPTIONS: &[&str] = &[
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "groups",
    "activation",
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
];

/// Keras's options of its windowed poolings.
const POOL_OPTIONS: &[&str] = &["pool_size", "padding", "strides", "data_format"];

/// The options Keras 3's layers take (`get_config()` less `name`, `trainable`, `dtype`), for
/// the classes minibatch writes into `.keras` files: a minibatch option outside its class's
/// list is not written (Keras would refuse the keyword).
const KERAS_OPTIONS: [(&str, &[&str]); 32] = [
    (
        "Dense",
        &[
            "units",
            "activation",
            "use_bias",
            "kernel_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "bias_constraint",
        ],
    ),
    ("Conv1D", CONV_OPTIONS),
    ("Conv2D", CONV_OPTIONS),
    (
        "BatchNormalization",
        &[
            "axis",
            "momentum",
            "epsilon",
            "center",
            "scale",
            "beta_initializer",
            "gamma_initializer",
            "moving_mean_initializer",
            "moving_variance_initializer",
            "beta_regularizer",
            "gamma_regularizer",
            "beta_constraint",
            "gamma_constraint",
            "synchronized",
        ],
    ),
    (
        "LayerNormalization",
        &[
            "axis",
            "epsilon",
            "center",
            "scale",
            "rms_scaling",
            "beta_initializer",
            "gamma_initializer",
            "beta_regularizer",
            "gamma_regularizer",
            "beta_constraint",
            "gamma_constraint",
        ],
    ),
    (
        "Embedding",
        &[
            "input_dim",
            "output_dim",
            "embeddings_initializer",
            "embeddings_regularizer",
            "activity_regularizer",
            "embeddings_constraint",
            "mask_zero",
        ],
    ),
    (
        "LSTM",
        &[
            "return_sequences",
            "return_state",
            "go_backwards",
            "stateful",
            "unroll",
            "zero_output_for_mask",
            "units",
            "activation",
            "recurrent_activation",
            "use_bias",
            "kernel_initializer",
            "recurrent_initializer",
            "bias_initializer",
            "unit_forget_bias",
            "kernel_regularizer",
            "recurrent_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "recurrent_constraint",
            "bias_constraint",
            "dropout",
            "recurrent_dropout",
            "seed",
        ],
    ),
    (
        "GRU",
        &[
            "return_sequences",
            "return_state",
            "go_backwards",
            "stateful",
            "unroll",
            "zero_output_for_mask",
            "units",
            "activation",
            "recurrent_activation",
            "use_bias",
            "kernel_initializer",
            "recurrent_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "recurrent_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "recurrent_constraint",
            "bias_constraint",
            "dropout",
            "recurrent_dropout",
            "reset_after",
            "seed",
        ],
    ),
    (
        "SimpleRNN",
        &[
            "return_sequences",
            "return_state",
            "go_backwards",
            "stateful",
            "unroll",
            "zero_output_for_mask",
            "units",
            "activation",
            "use_bias",
            "kernel_initializer",
            "recurrent_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "recurrent_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "recurrent_constraint",
            "bias_constraint",
            "dropout",
            "recurrent_dropout",
        ],
    ),
    ("Dropout", &["rate", "seed", "noise_shape"]),
    ("Flatten", &["data_format"]),
    ("MaxPooling2D", POOL_OPTIONS),
    ("AveragePooling2D", POOL_OPTIONS),
    ("MaxPooling1D", POOL_OPTIONS),
    ("AveragePooling1D", POOL_OPTIONS),
    ("GlobalAveragePooling2D", &["keepdims"]),
    ("GlobalMaxPooling2D", &["keepdims"]),
    ("GlobalAveragePooling1D", &["keepdims"]),
    ("GlobalMaxPooling1D", &["keepdims"]),
    ("Concatenate", &["axis"]),
    ("Add", &[]),
    ("Subtract", &[]),
    ("Multiply", &[]),
    ("Average", &[]),
    ("Maximum", &[]),
    ("Minimum", &[]),
    ("Activation", &["activation"]),
    ("Reshape", &["target_shape"]),
    ("ReLU", &["max_value", "negative_slope", "threshold"]),
    ("Rescaling", &["scale", "offset"]),
    ("ZeroPadding2D", &["padding"]),
    ("UpSampling2D", &["size"]),
];

/// Keras's float32 dtype policy, as its configs carry it.
fn float32_policy() -> Value {
    json!({ "module": "keras", "class_name": "DTypePolicy", "config": { "name": "float32" }, "registered_name": null })
}

/// `glorot_uniform` → `GlorotUniform`.
fn camel(snake: &str) -> String {
    snake.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// A minibatch option's value as Keras writes it.
fn keras_value(key: &str, v: &Value) -> Value {
    let class = v.get("class_name").and_then(Value::as_str);
    if key.ends_with("activation") {
        return class.map_or(v.clone(), |c| json!(c));
    }
    if key.ends_with("_initializer") {
        let class = class.unwrap_or("glorot_uniform");
        let config = match (class, v.get("config")) {
            ("constant", Some(value)) => json!({ "value": value }),
            (_, Some(c)) if c.is_object() => c.clone(),
            _ => json!({}),
        };
        return json!({ "module": "keras.initializers", "class_name": camel(class), "config": config, "registered_name": null });
    }
    for (suffix, module) in [("_regularizer", "keras.regularizers"), ("_constraint", "keras.constraints")] {
        if key.ends_with(suffix) {
            return json!({ "module": module, "class_name": class, "config": v.get("config").cloned().unwrap_or(json!({})), "registered_name": null });
        }
    }
    v.clone()
}

/// A layer as a Keras 3 layer entry, or the reason it cannot be one.
fn keras_layer(layer: &dyn Layer) -> std::result::Result<Value, String> {
    let class = layer.kind();
    let (_, options) = KERAS_OPTIONS
        .iter()
        .find(|(c, _)| *c == class)
        .ok_or_else(|| format!("layer '{}': {class} is not written to .keras files yet", layer.name()))?;
    let ours = layer.config().ok_or_else(|| format!("layer '{}': {class} gives no config", layer.name()))?;
    let mut config = Map::new();
    config.insert("name".into(), json!(layer.name()));
    config.insert("trainable".into(), json!(layer.trainable()));
    config.insert("dtype".into(), float32_policy());
    for key in *options {
        if let Some(v) = ours.get(*key).filter(|v| !v.is_null()) {
            config.insert(key.to_string(), keras_value(key, v));
        }
    }
    Ok(json!({ "module": "keras.layers", "class_name": class, "config": config, "registered_name": null }))
}

impl Model {
    /// Writes the model as a Keras 3 `.keras` file (the zip of `config.json`,
    /// `metadata.json` and `model.weights.h5` Keras's `model.save` writes) that Keras 3's
    /// `keras.saving.load_model` reads: the architecture (a Sequential or functional model of
    /// the layer classes Keras and minibatch share), the weights, and the compile
    /// configuration (the optimizer with its options and, for SGD, Adam and AdamW, its state;
    /// the loss). Written crash-safely.
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] listing every layer
    /// whose class is not written to `.keras` files yet; [`Error::Io`].
    pub fn save_keras(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.require_built("save")?;
        let mut refused = Vec::new();
        let mut entries: Vec<Value> = Vec::new();
        for layer in &self.layers {
            match keras_layer(layer.as_ref()) {
                Ok(entry) => entries.push(entry),
                Err(why) => refused.push(why),
            }
        }
        if !refused.is_empty() {
            return Err(Error::invalid("Keras model", refused.join("; "), "layer classes Keras and minibatch share"));
        }
        let batch_shape = |t: usize| -> Value {
            let mut shape = vec![Value::Null];
            shape.extend(self.shapes[t].iter().map(|&d| json!(d)));
            Value::Array(shape)
        };
        let ours = self.to_config()?;
        let mut doc = if self.functional {
            // minibatch's graph is Keras's (`inbound_nodes`, `keras_history`): each entry's
            // config becomes Keras's, each tensor gets its dtype.
            let mut config = ours["config"].clone();
            let mut next = entries.into_iter();
            for entry in config["layers"].as_array_mut().into_iter().flatten() {
                if entry["class_name"] == "InputLayer" {
                    let name = entry["name"].clone();
                    let shape = entry["config"]["batch_shape"].clone();
                    entry["config"] =
                        json!({ "batch_shape": shape, "dtype": "float32", "sparse": false, "name": name });
                    entry["module"] = json!("keras.layers");
                    entry["registered_name"] = Value::Null;
                    continue;
                }
                let keras = next.next().expect("one entry per layer");
                entry["config"] = keras["config"].clone();
                entry["module"] = json!("keras.layers");
                entry["registered_name"] = Value::Null;
                for node in entry["inbound_nodes"].as_array_mut().into_iter().flatten() {
                    let add_dtype = |t: &mut Value| t["config"]["dtype"] = json!("float32");
                    for arg in node["args"].as_array_mut().into_iter().flatten() {
                        match arg {
                            Value::Array(list) => list.iter_mut().for_each(add_dtype),
                            one => add_dtype(one),
                        }
                    }
                }
            }
            config.as_object_mut().expect("an object").remove("seed");
            config["trainable"] = json!(true);
            json!({ "module": "keras.src.models.functional", "class_name": "Functional", "config": config, "registered_name": "Functional", "build_config": { "input_shape": null } })
        } else {
            let input = json!({
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": { "batch_shape": batch_shape(0), "dtype": "float32", "sparse": false, "name": self.input_names[0] },
                "registered_name": null,
            });
            let layers: Vec<Value> = std::iter::once(input).chain(entries).collect();
            json!({
                "module": "keras",
                "class_name": "Sequential",
                "config": { "name": self.name(), "trainable": true, "dtype": float32_policy(), "layers": layers, "build_input_shape": batch_shape(0) },
                "registered_name": null,
                "build_config": { "input_shape": batch_shape(0) },
            })
        };
        if let (Some(opt), Some(loss)) = (self.optimizer(), self.loss()) {
            // minibatch's optimizer options carry Keras's names; a schedule is written as the
            // rate in force.
            let ours = opt.config().unwrap_or_default();
            let class = ours.get("class_name").cloned().unwrap_or(json!("Adam"));
            let mut config = ours.get("config").cloned().unwrap_or(json!({}));
            if let Some(object) = config.as_object_mut() {
                object.remove("schedule");
                object.insert("learning_rate".into(), json!(opt.learning_rate()));
            }
            doc["compile_config"] = json!({
                "optimizer": { "module": "keras.optimizers", "class_name": class, "config": config, "registered_name": null },
                "loss": loss.name(),
                "loss_weights": null, "metrics": null, "weighted_metrics": null,
                "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false,
            });
        }
        let weights = self.keras_weights_bytes(path)?;
        // The layout is Keras 3.15's; Keras reads the version for its compatibility notes only.
        let metadata =
            json!({ "keras_version": "3.15.1", "saved_by": concat!("minibatch ", env!("CARGO_PKG_VERSION")) });
        let archive = crate::io::zip::zip_bytes(&[
            ("metadata.json".to_string(), metadata.to_string().into_bytes()),
            ("config.json".to_string(), doc.to_string().into_bytes()),
            ("model.weights.h5".to_string(), weights),
        ]);
        crate::io::write_atomic(path, &archive)
    }
}
