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
const DEFAULTS: [(&str, Supported); 27] = [
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
    // A lookup's output as wide as its vocabulary; its integers as minibatch holds them.
    ("pad_to_max_tokens", |v| v == &json!(false)),
    ("vocabulary_dtype", |v| v == &json!("int64") || v == &json!("int32")),
    // How OOV values share several OOV indices: one index (minibatch's) makes it moot.
    ("oov_method", |v| v.is_string()),
];

/// What translating a Keras architecture found: the layer classes and options minibatch
/// lacks (each a line of the error), and the Keras 2 axes (`[k]`, positive) read as the last
/// axis, to check against each layer's input once the model is built.
#[derive(Default)]
struct Findings {
    refused: Vec<String>,
    axes: Vec<(String, i64)>,
    /// The archive's `assets/…` members by path (`layers/integer_lookup/vocabulary.txt`).
    assets: std::collections::BTreeMap<String, Vec<u8>>,
}

/// Keys that describe Keras's bookkeeping, not the layer.
const BOOKKEEPING: [&str; 11] = [
    "dtype",
    // Whether inputs are cast to the policy's compute dtype: minibatch's bf16 layers round the
    // products' inputs whatever their source (autocast on, Keras's default).
    "autocast",
    "trainable",
    "quantization_config",
    "renorm_momentum",
    "seed",
    "batch_input_shape",
    // A Bidirectional's backward layer: the forward one run backwards, as minibatch builds it.
    "backward_layer",
    // A wrapper's layer: checked when it was rebuilt.
    "layer",
    // A lookup's vocabulary size (its vocabulary's, checked as that), and the cap on what
    // `adapt` kept, which the vocabulary already reflects.
    "vocabulary_size",
    "max_tokens",
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
/// `custom`: the class is not one of Keras's own (a layer of the user's, which minibatch has
/// when its port is registered under the class's name).
fn rebuild_layer(class: &str, keras: &Value, custom: bool, found: &mut Findings) -> Result<Option<Box<dyn Layer>>> {
    let name = keras.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
    let object = keras.as_object().cloned().unwrap_or_default();
    // float32 and mixed_bfloat16 are minibatch's policies; the others (mixed_float16, bfloat16
    // weights, quantized) are refused by name.
    let policy = match crate::layers::DTypePolicy::from_keras(object.get("dtype")) {
        Ok(policy) => policy,
        Err(_) => {
            let d = object.get("dtype").and_then(|d| d.pointer("/config/name").or(Some(d))).and_then(Value::as_str);
            found.refused.push(format!(
                "layer '{name}': dtype policy {} (float32 and mixed_bfloat16 only)",
                d.unwrap_or("of an unknown form")
            ));
            None
        }
    };
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
    // Keras 3 keeps an attention's output shape as a tuple (`[8]`): minibatch's is one size.
    if let Some(size) =
        object.get("output_shape").and_then(Value::as_array).filter(|a| a.len() == 1).map(|a| a[0].clone())
    {
        object.insert("output_shape".into(), size);
    }
    ours.extend(values(&object));
    let layer = match super::layer_from_config(class, &Value::Object(ours)) {
        Ok(mut layer) => {
            // Keras writes float32 on every layer of a float32 model: that is the default, not
            // a choice to keep (so that `train --init model.keras --precision mixed_bfloat16`
            // applies); a mixed_bfloat16 layer keeps its policy.
            layer.core_mut().dtype = policy.filter(|p| p.computes_in_bf16());
            layer
        }
        Err(Error::UnknownName { .. }) if custom => {
            found.refused.push(format!(
                "layer '{name}': {class} is a layer of one's own: register its port first \
                 (layers::register_layer(\"{class}\", …))"
            ));
            return Ok(None);
        }
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

/// An adapted lookup layer's vocabulary, which Keras keeps in the archive's assets
/// (`assets/KEY/vocabulary.txt`, one entry a line, its special tokens first: the mask token if
/// any, then the OOV tokens) rather than in its config: read into `config` without the
/// special tokens, as the layer is configured. A missing or unreadable file is refused.
fn vocabulary_from_assets(key: &str, name: &str, config: &mut Value, found: &mut Findings) {
    let file = format!("{key}/vocabulary.txt");
    let Some(bytes) = found.assets.get(&file) else {
        found.refused.push(format!("layer '{name}': no vocabulary in its config nor in the archive's assets/{file}"));
        return;
    };
    let text = String::from_utf8_lossy(bytes);
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match line.trim().parse::<i64>() {
            Ok(v) => entries.push(v),
            Err(_) => {
                found.refused.push(format!("layer '{name}': assets/{file} line {}: {line:?} is not an integer", i + 1));
                return;
            }
        }
    }
    let specials = usize::from(config.get("mask_token").is_some_and(|m| !m.is_null()))
        + config.get("num_oov_indices").and_then(Value::as_u64).unwrap_or(1) as usize;
    if entries.len() < specials {
        found.refused.push(format!(
            "layer '{name}': assets/{file} holds {} entries, fewer than its {specials} special tokens",
            entries.len()
        ));
        return;
    }
    config["vocabulary"] = json!(entries[specials..]);
}

/// A call's keyword arguments (an `inbound_nodes` entry's `kwargs`) as minibatch reads them:
/// a MultiHeadAttention's `attention_mask` tensor becomes its last input and its
/// `use_causal_mask` an option of the layer; one left unset (`mask: None`) or at Keras's
/// default is accepted;
/// any other is refused by name, rather than the model silently computing something else.
fn call_arguments(class: &str, name: &str, node: &mut Value, config: &mut Value, found: &mut Findings) {
    let kwargs = node.get("kwargs").and_then(Value::as_object).cloned().unwrap_or_default();
    for (key, value) in kwargs {
        match (class, key.as_str()) {
            _ if value.is_null() => {}
            ("MultiHeadAttention", "use_causal_mask") if value.is_boolean() => config["use_causal_mask"] = value,
            ("MultiHeadAttention", "return_attention_scores") if value == json!(false) => {}
            // Keras records a layer's default phase (`training=False`) on every call it builds;
            // a call forced into training mode (`training=True`) has no counterpart here.
            (_, "training") if value == json!(false) => {}
            ("MultiHeadAttention", "attention_mask") => {
                // The query, the value (and a key), then the mask, as minibatch's list.
                let args = node.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut tensors: Vec<Value> = match args.first() {
                    Some(Value::Array(list)) => list.clone(),
                    _ => args.into_iter().filter(|a| !a.is_null()).collect(),
                };
                tensors.push(value);
                node["args"] = json!([tensors]);
                config["attention_mask"] = json!(true);
            }
            _ => found.refused.push(format!("layer '{name}': call argument {key} = {value} is not supported")),
        }
    }
}

/// Keras's architecture document as minibatch's (see [`super::model_file`]): the same graph,
/// each layer's config translated. `prefix` is where the model's layers live in Keras's
/// weights and assets (`layers`, or `layers/sequential/layers` for a nested model).
fn translate(doc: &Value, found: &mut Findings, prefix: &str) -> Result<Value> {
    let class = doc.get("class_name").and_then(Value::as_str).unwrap_or_default();
    let config = doc.get("config").cloned().unwrap_or_default();
    let name = config.get("name").cloned().unwrap_or(json!(class.to_lowercase()));
    let layers = config.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut ours = Vec::new();
    let mut input_shape = None;
    let mut used = std::collections::BTreeMap::new();
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
        let key = format!("{prefix}/{}", super::keras_weights::keras_key(&mut used, lclass));
        // A nested model: translated in turn, then built as minibatch builds one.
        if matches!(lclass, "Sequential" | "Functional") {
            let inner =
                translate(&json!({ "class_name": lclass, "config": lconfig }), found, &format!("{key}/layers"))?;
            let mut entry = layer.clone();
            entry["config"] = inner["config"].clone();
            if lconfig.get("trainable") == Some(&json!(false)) {
                entry["config"]["trainable"] = json!(false);
            }
            ours.push(entry);
            continue;
        }
        let (mut entry, mut lconfig) = (layer.clone(), lconfig);
        let name = lconfig.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
        for node in entry.get_mut("inbound_nodes").and_then(Value::as_array_mut).into_iter().flatten() {
            call_arguments(lclass, &name, node, &mut lconfig, found);
        }
        if lclass == "IntegerLookup" && lconfig.get("vocabulary").is_none_or(Value::is_null) {
            vocabulary_from_assets(&key, &name, &mut lconfig, found);
        }
        // Keras records a class of its own with its module (`keras.layers`) and no registered
        // name; a user's class with its registered name.
        let module = layer.get("module").and_then(Value::as_str).unwrap_or_default();
        let custom = !module.starts_with("keras") && layer.get("registered_name").is_some_and(|r| !r.is_null());
        let Some(l) = rebuild_layer(lclass, &lconfig, custom, found)? else { continue };
        entry["config"] = l.config().unwrap_or_default();
        if lconfig.get("trainable") == Some(&json!(false)) {
            entry["config"]["trainable"] = json!(false);
        }
        if let Some(policy) = l.core().dtype {
            entry["config"]["dtype"] = policy.to_keras();
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
        // The members by name, each taken out (not copied) where it is used.
        let mut members: std::collections::BTreeMap<String, Vec<u8>> =
            crate::io::zip::read_zip(path, "a .keras (ZIP) archive", 1)?.into_iter().collect();
        let mut take = |name: &str| {
            members.remove(name).ok_or_else(|| Error::format(path, format!("has no {name}: not a Keras 3 model file")))
        };
        let doc: Value = serde_json::from_slice(&take("config.json")?)
            .map_err(|e| Error::format(path, format!("config.json is not JSON: {e}")))?;
        let weights = take("model.weights.h5")?;
        let assets =
            members.into_iter().filter_map(|(n, b)| Some((n.strip_prefix("assets/")?.to_string(), b))).collect();
        let mut model = model_from_keras(path, &doc, assets)?;
        // Compiled first (an uncompiled model's compile_config is null or holds no optimizer),
        // so that the optimizer's saved state has its slots to go into.
        if let Some(compile) = doc.get("compile_config").filter(|c| c.get("optimizer").is_some_and(|o| !o.is_null())) {
            compile_from_keras(&mut model, compile)
                .map_err(|e| Error::format(path, format!("its compile_config: {e}")))?;
        }
        model.load_keras_weights_from(path, weights)?;
        Ok(model)
    }
}

/// The model a Keras architecture document describes (`config.json`'s, or a Keras 2 file's
/// `model_config`), not compiled, its weights not loaded. `assets` are the archive's `assets/`
/// members by path (an adapted lookup's vocabulary; none in a Keras 2 file).
///
/// # Errors
/// [`Error::InvalidArgument`] listing every layer class or option minibatch lacks;
/// [`Error::Format`] naming `path` for an architecture that cannot be built.
pub(super) fn model_from_keras(
    path: &Path,
    doc: &Value,
    assets: std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<Model> {
    let mut found = Findings { assets, ..Findings::default() };
    let ours = translate(doc, &mut found, "layers").map_err(|e| Error::format(path, e.to_string()))?;
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
