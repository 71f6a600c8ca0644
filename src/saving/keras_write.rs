//! Keras 3's `.keras` model file, written: minibatch's model document
//! ([`Model::to_config`]) translated into the `config.json` Keras's `serialization_lib`
//! reads, beside `metadata.json` and `model.weights.h5` (see [`super::keras_weights`]).
//!
//! The translation mirrors [reading](super::keras_model), one layer entry at a time: each
//! option under Keras's name and in Keras's form (an initializer as its class and config, an
//! activation by name), a wrapper's layer (`Bidirectional`, `TimeDistributed`) and a nested
//! model translated in turn, and a call's arguments as Keras passes them (attention's query
//! and value positionally, its mask and causal flag as keyword arguments). A layer whose class
//! Keras does not share is refused by name, with every other such layer, before anything is
//! written.

use crate::error::{Error, Result};
use crate::models::Model;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Keras's options of its layers with a kernel and a bias (`Dense`, and the convolutions after
/// their own).
const KERNEL_OPTIONS: &[&str] = &[
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

/// Keras's options of its convolutions (`Conv1D`, `Conv2D`), less [`KERNEL_OPTIONS`].
const CONV_OPTIONS: &[&str] =
    &["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups"];

/// Keras's options of its windowed poolings.
const POOL_OPTIONS: &[&str] = &["pool_size", "padding", "strides", "data_format"];

/// Keras's options of its recurrent layers (`LSTM`, `GRU`, `SimpleRNN`), less each one's own.
const RECURRENT_OPTIONS: &[&str] = &[
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
];

/// The options Keras 3's layers take (`get_config()` less `name`, `trainable`, `dtype`), for
/// the classes minibatch writes into `.keras` files, as lists to join: a minibatch option
/// outside its class's lists is not written (Keras would refuse the keyword).
const KERAS_OPTIONS: [(&str, &[&[&str]]); 34] = [
    ("Dense", &[&["units"], KERNEL_OPTIONS]),
    ("Conv1D", &[CONV_OPTIONS, KERNEL_OPTIONS]),
    ("Conv2D", &[CONV_OPTIONS, KERNEL_OPTIONS]),
    (
        "BatchNormalization",
        &[&[
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
        ]],
    ),
    (
        "LayerNormalization",
        &[&[
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
        ]],
    ),
    (
        "Embedding",
        &[&[
            "input_dim",
            "output_dim",
            "embeddings_initializer",
            "embeddings_regularizer",
            "activity_regularizer",
            "embeddings_constraint",
            "mask_zero",
        ]],
    ),
    ("LSTM", &[RECURRENT_OPTIONS, &["recurrent_activation", "unit_forget_bias", "seed"]]),
    ("GRU", &[RECURRENT_OPTIONS, &["recurrent_activation", "reset_after", "seed"]]),
    ("SimpleRNN", &[RECURRENT_OPTIONS]),
    ("Dropout", &[&["rate", "seed", "noise_shape"]]),
    ("Flatten", &[&["data_format"]]),
    ("MaxPooling2D", &[POOL_OPTIONS]),
    ("AveragePooling2D", &[POOL_OPTIONS]),
    ("MaxPooling1D", &[POOL_OPTIONS]),
    ("AveragePooling1D", &[POOL_OPTIONS]),
    ("GlobalAveragePooling2D", &[&["keepdims"]]),
    ("GlobalMaxPooling2D", &[&["keepdims"]]),
    ("GlobalAveragePooling1D", &[&["keepdims"]]),
    ("GlobalMaxPooling1D", &[&["keepdims"]]),
    ("Concatenate", &[&["axis"]]),
    ("Add", &[]),
    ("Subtract", &[]),
    ("Multiply", &[]),
    ("Average", &[]),
    ("Maximum", &[]),
    ("Minimum", &[]),
    ("Activation", &[&["activation"]]),
    ("Reshape", &[&["target_shape"]]),
    ("ReLU", &[&["max_value", "negative_slope", "threshold"]]),
    ("Rescaling", &[&["scale", "offset"]]),
    ("ZeroPadding2D", &[&["padding"]]),
    ("UpSampling2D", &[&["size", "interpolation"]]),
    ("Resizing", &[&["height", "width", "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"]]),
    ("IntegerLookup", &[&["num_oov_indices", "oov_token", "mask_token", "output_mode", "invert", "vocabulary"]]),
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

/// `[null, d1, d2, …]`: a shape without its batch axis as Keras's `batch_shape`.
fn batch_shape(shape: &Value) -> Value {
    let mut dims = vec![Value::Null];
    dims.extend(shape.as_array().into_iter().flatten().cloned());
    Value::Array(dims)
}

/// Whether a model or layer configuration is trainable (absent: trainable).
fn trainable(config: &Value) -> bool {
    config.get("trainable") != Some(&json!(false))
}

/// A Keras layer entry (`{"module", "class_name", "config", "registered_name"}`): Keras's
/// bookkeeping keys, then each option of `options` that minibatch's configuration `ours`
/// sets, in Keras's form.
fn entry(class: &str, ours: &Value, options: &[&str]) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), ours.get("name").cloned().unwrap_or(Value::Null));
    config.insert("trainable".into(), json!(trainable(ours)));
    config.insert("dtype".into(), ours.get("dtype").cloned().unwrap_or_else(float32_policy));
    for key in options {
        if let Some(v) = ours.get(*key).filter(|v| !v.is_null()) {
            config.insert(key.to_string(), keras_value(key, v));
        }
    }
    json!({ "module": "keras.layers", "class_name": class, "config": config, "registered_name": null })
}

/// A layer of the user's own ([`crate::layers::register_layer`]) as Keras records an
/// unregistered custom class: its options as its `get_config` gives them, its registered name
/// its class's, so Keras loads it with the Python class given as
/// `custom_objects={"Class": Class}` (whose `__init__` takes those options).
fn custom_entry(class: &str, ours: &Value) -> Value {
    let mut keras = entry(class, ours, &[]);
    let config = keras["config"].as_object_mut().expect("entry makes an object");
    for (key, value) in ours.as_object().into_iter().flatten() {
        config.entry(key.clone()).or_insert_with(|| value.clone());
    }
    keras["module"] = Value::Null;
    keras["registered_name"] = json!(class);
    keras
}

/// Keras's options of `MultiHeadAttention` that minibatch's configuration carries (its
/// `use_causal_mask` and attention mask are arguments of Keras's call, see [`keras_node`]).
const ATTENTION_OPTIONS: &[&str] = &["num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape"];

/// A layer of minibatch's model document (its class and configuration) as a Keras layer
/// entry, or `None` after recording in `refused` why it cannot be one. A wrapper's layer and a
/// nested model are translated in turn.
fn keras_layer(class: &str, ours: &Value, refused: &mut Vec<String>) -> Option<Value> {
    let name = ours.get("name").and_then(Value::as_str).unwrap_or("?");
    match class {
        "Sequential" | "Functional" => Some(keras_model(class, ours, &format!("{name}_input"), refused)),
        "Bidirectional" | "TimeDistributed" => {
            let inner = &ours["layer"];
            let wrapped = keras_layer(inner["class_name"].as_str().unwrap_or_default(), &inner["config"], refused)?;
            let options: &[&str] = if class == "Bidirectional" { &["merge_mode"] } else { &[] };
            let mut keras = entry(class, ours, options);
            keras["config"]["layer"] = wrapped;
            Some(keras)
        }
        "MultiHeadAttention" => Some(entry(class, ours, ATTENTION_OPTIONS)),
        _ => match KERAS_OPTIONS.iter().find(|(c, _)| *c == class) {
            Some((_, lists)) => Some(entry(class, ours, &lists.concat())),
            None if crate::layers::registered(class).is_some() => Some(custom_entry(class, ours)),
            None => {
                refused.push(format!("layer '{name}': {class} is not written to .keras files yet"));
                None
            }
        },
    }
}

/// One call of a layer (an `inbound_nodes` entry of minibatch's document) as Keras records
/// it: each tensor with its dtype; a MultiHeadAttention's query and value positionally (self
/// attention reads one tensor twice), its mask and causal flag as keyword arguments. The inputs
/// in `int_inputs` are integers (what a lookup reads).
fn keras_node(class: &str, ours: &Value, node: &Value, int_inputs: &[String]) -> Value {
    let args = node.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
    let listed = args.first().is_some_and(Value::is_array);
    let tensors: Vec<Value> = if listed { args[0].as_array().cloned().unwrap_or_default() } else { args };
    let mut tensors: Vec<Value> = tensors
        .into_iter()
        .map(|mut t| {
            let input = t.pointer("/config/keras_history/0").and_then(Value::as_str);
            let int = input.is_some_and(|i| int_inputs.iter().any(|n| n == i));
            t["config"]["dtype"] = json!(if int { "int64" } else { "float32" });
            t
        })
        .collect();
    if class != "MultiHeadAttention" {
        let args = if listed { json!([tensors]) } else { Value::Array(tensors) };
        return json!({ "args": args, "kwargs": {} });
    }
    let mut kwargs = Map::new();
    if ours.get("attention_mask") == Some(&json!(true)) {
        if let Some(mask) = tensors.pop() {
            kwargs.insert("attention_mask".into(), mask);
        }
    }
    if ours.get("use_causal_mask") == Some(&json!(true)) {
        kwargs.insert("use_causal_mask".into(), json!(true));
    }
    if tensors.len() == 1 {
        tensors.push(tensors[0].clone());
    }
    json!({ "args": tensors, "kwargs": kwargs })
}

/// The names of the layers and inputs whose tensors a layer's calls read (`keras_history`).
fn histories(nodes: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![nodes];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => match map.get("keras_history").and_then(|h| h.get(0)).and_then(Value::as_str) {
                Some(name) => names.push(name.to_string()),
                None => stack.extend(map.values()),
            },
            _ => {}
        }
    }
    names
}

/// minibatch's model document (`class` and its configuration, as [`Model::to_config`] writes
/// them) as Keras's; `input_name` names a Sequential model's InputLayer. What cannot be
/// written is recorded in `refused`.
fn keras_model(class: &str, config: &Value, input_name: &str, refused: &mut Vec<String>) -> Value {
    let name = config.get("name").cloned().unwrap_or(Value::Null);
    let layers = config.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    // Keras's lookups read integers: the inputs they read are declared so.
    let int_inputs: Vec<String> = layers
        .iter()
        .filter(|l| l["class_name"] == "IntegerLookup")
        .flat_map(|l| histories(&l["inbound_nodes"]))
        .collect();
    if class == "Sequential" {
        let shape = batch_shape(&config["input_shape"]);
        let int = layers.first().is_some_and(|l| l["class_name"] == "IntegerLookup");
        let input = json!({
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": { "batch_shape": shape, "dtype": if int { "int64" } else { "float32" }, "sparse": false, "name": input_name },
            "registered_name": null,
        });
        let mut entries = vec![input];
        for layer in &layers {
            let lclass = layer["class_name"].as_str().unwrap_or_default();
            if lclass == "MultiHeadAttention" {
                let lname = layer["config"]["name"].as_str().unwrap_or("?");
                refused.push(format!(
                    "layer '{lname}': MultiHeadAttention in a Sequential model (Keras calls it with a query and a \
                     value: build the model functionally)"
                ));
                continue;
            }
            entries.extend(keras_layer(lclass, &layer["config"], refused));
        }
        return json!({
            "module": "keras",
            "class_name": "Sequential",
            "config": { "name": name, "trainable": trainable(config), "dtype": float32_policy(), "layers": entries, "build_input_shape": shape },
            "registered_name": null,
            "build_config": { "input_shape": shape },
        });
    }
    let mut entries = Vec::new();
    for layer in &layers {
        let lclass = layer["class_name"].as_str().unwrap_or_default();
        let lname = layer.get("name").cloned().unwrap_or(Value::Null);
        if lclass == "InputLayer" {
            let shape = layer["config"]["batch_shape"].clone();
            let int = lname.as_str().is_some_and(|n| int_inputs.iter().any(|i| i == n));
            entries.push(json!({
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": { "batch_shape": shape, "dtype": if int { "int64" } else { "float32" }, "sparse": false, "name": lname },
                "registered_name": null,
                "name": lname,
                "inbound_nodes": [],
            }));
            continue;
        }
        let Some(mut keras) = keras_layer(lclass, &layer["config"], refused) else { continue };
        let nodes: Vec<Value> = layer
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|n| keras_node(lclass, &layer["config"], n, &int_inputs))
            .collect();
        keras["name"] = lname;
        keras["inbound_nodes"] = Value::Array(nodes);
        entries.push(keras);
    }
    json!({
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": name,
            "trainable": trainable(config),
            "layers": entries,
            "input_layers": config["input_layers"],
            "output_layers": config["output_layers"],
        },
        "registered_name": "Functional",
        "build_config": { "input_shape": null },
    })
}

impl Model {
    /// Writes the model as a Keras 3 `.keras` file (the zip of `config.json`,
    /// `metadata.json` and `model.weights.h5` Keras's `model.save` writes) that Keras 3's
    /// `keras.saving.load_model` reads: the architecture (a Sequential or functional model of
    /// the layer classes Keras and minibatch share, wrappers and nested models included), the
    /// weights, and the compile configuration (the optimizer with its options and, for SGD,
    /// Adam and AdamW, its state; the loss). Written crash-safely.
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] listing every layer
    /// whose class is not written to `.keras` files yet; [`Error::Io`].
    pub fn save_keras(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.require_built("save")?;
        let ours = self.to_config()?;
        let class = ours["class_name"].as_str().unwrap_or_default().to_string();
        let mut refused = Vec::new();
        let mut doc = keras_model(&class, &ours["config"], &self.input_names[0], &mut refused);
        if !refused.is_empty() {
            return Err(Error::invalid("Keras model", refused.join("; "), "layer classes Keras and minibatch share"));
        }
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
