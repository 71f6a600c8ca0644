//! Keras 2's model file, `NAME.h5` (the "legacy HDF5" format, which Keras 3 still writes and
//! reads), read: the architecture as JSON in the root attribute `model_config`, the compile
//! configuration in `training_config`, and the weights under `model_weights/LAYER/…`, listed
//! by the attributes `layer_names` (on `model_weights`) and `weight_names` (on each layer's
//! group, the dataset paths in the layer's variable order).
//!
//! Unlike Keras 3's files, the legacy format addresses layers by name: each listed layer must
//! be one of the model's, with as many variables, of the same shapes. The architecture goes
//! through the same translation and option checks as a `.keras` file's
//! ([`super::keras_model`]).

use super::keras_weights::{open_hdf5, read_checked, var_shape, Var};
use crate::error::{Error, Result};
use crate::layers::State;
use crate::models::Model;
use hdf5_pure::AttrValue;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// A string attribute's text, whatever string encoding h5py or Keras 2 gave it.
fn text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => Some(s.clone()),
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => Some(value.clone()),
        _ => None,
    }
}

/// A string-array attribute's texts.
fn texts(v: &AttrValue) -> Option<Vec<String>> {
    match v {
        AttrValue::StringArray(s)
        | AttrValue::AsciiStringArray(s)
        | AttrValue::VarLenStringArray(s)
        | AttrValue::VarLenAsciiStringArray(s)
        | AttrValue::VarLenAsciiCharArray(s) => Some(s.clone()),
        AttrValue::StringArraySized { values, .. } | AttrValue::AsciiStringArraySized { values, .. } => {
            Some(values.clone())
        }
        AttrValue::F64Array(empty) if empty.is_empty() => Some(Vec::new()),
        other => text(other).map(|s| vec![s]),
    }
}

impl Model {
    /// Reads a Keras 2 model file (legacy HDF5, `NAME.h5`, as `model.save("NAME.h5")` writes
    /// it in Keras 2 and still in Keras 3): the architecture, the weights by layer name, and
    /// the compile configuration when it was compiled (the optimizer's state starts afresh).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file for a file that is not HDF5 or not a Keras model, a
    /// layer listed in its weights that the model does not have, or variables of another count
    /// or shape; [`Error::InvalidArgument`] listing every layer class or option minibatch does
    /// not have.
    pub fn load_keras_h5(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let corrupt = |what: String| Error::format(path, what);
        let file = open_hdf5(path, crate::io::file::read_file(path)?)?;
        let guarded = |f: &dyn Fn() -> std::result::Result<HashMap<String, AttrValue>, String>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err("unreadable".into()))
        };
        let root = guarded(&|| file.root().attrs().map_err(|e| e.to_string()))
            .map_err(|e| corrupt(format!("its attributes cannot be read ({e})")))?;
        let config = root
            .get("model_config")
            .and_then(text)
            .ok_or_else(|| corrupt("has no model_config attribute: not a Keras model file (a weights file?)".into()))?;
        let doc: Value =
            serde_json::from_str(&config).map_err(|e| corrupt(format!("its model_config is not JSON: {e}")))?;
        let mut model = super::keras_model::model_from_keras(path, &doc, Default::default())?;

        // The weights, by layer name, every one checked before any is set.
        let weights = guarded(&|| file.group("model_weights").and_then(|g| g.attrs()).map_err(|e| e.to_string()))
            .map_err(|e| corrupt(format!("its model_weights group cannot be read ({e})")))?;
        let layer_names = weights
            .get("layer_names")
            .and_then(texts)
            .ok_or_else(|| corrupt("model_weights has no layer_names attribute".into()))?;
        let mut values: Vec<(Var, Vec<f32>)> = Vec::new();
        for name in &layer_names {
            let group = format!("model_weights/{name}");
            let attrs = guarded(&|| file.group(&group).and_then(|g| g.attrs()).map_err(|e| e.to_string()))
                .map_err(|e| corrupt(format!("{group} cannot be read ({e})")))?;
            let names = attrs.get("weight_names").and_then(texts).unwrap_or_default();
            let li = model.layers.iter().position(|l| l.name() == name.as_str());
            let Some(li) = li else {
                if names.is_empty() {
                    continue; // an input, or a layer without weights
                }
                return Err(corrupt(format!("holds weights for layer '{name}', which the model does not have")));
            };
            // The layer's variables in Keras's order: its parameters, then its float state.
            let layer = &model.layers[li];
            let params = (0..layer.params().len()).map(|index| Var::Param { layer: li, index });
            let states = layer
                .state()
                .into_iter()
                .filter(|(_, s)| matches!(s, State::F32(_)))
                .map(|(name, _)| Var::State { layer: li, name });
            let vars: Vec<Var> = params.chain(states).collect();
            if names.len() != vars.len() {
                return Err(corrupt(format!(
                    "layer '{name}' has {} weights in the file and {} in the model",
                    names.len(),
                    vars.len()
                )));
            }
            for (weight, var) in names.iter().zip(vars) {
                let dataset = format!("{group}/{weight}");
                let v = read_checked(&file, &dataset, &var_shape(&model, var))
                    .map_err(|e| corrupt(format!("{dataset} {e}")))?;
                values.push((var, v));
            }
        }
        model.apply_vars(values)?;
        if let Some(training) = root.get("training_config").and_then(text) {
            let training: Value = serde_json::from_str(&training)
                .map_err(|e| corrupt(format!("its training_config is not JSON: {e}")))?;
            let mut compile = training.clone();
            compile["optimizer"] = training.get("optimizer_config").cloned().unwrap_or(Value::Null);
            if !compile["optimizer"].is_null() {
                super::keras_model::compile_from_keras(&mut model, &compile)
                    .map_err(|e| corrupt(format!("its training_config: {e}")))?;
            }
        }
        Ok(model)
    }
}
