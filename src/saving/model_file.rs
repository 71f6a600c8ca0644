//! `save`, `load`, `save_weights`, `load_weights` on a [`Model`]: Sequential or functional.

use super::tensor_file::{self, TensorFile};
use super::FileFormat;
use crate::error::{Error, Result};
use crate::layers::State;
use crate::models::{Call, CompileOptions, Input, Losses, Model, Sequential, Shared, SymbolicTensor};
use crate::tensor::memory;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A model's state held in memory (see [`Model::checkpoint`]).
pub(crate) struct Checkpoint(TensorFile);

/// The version of the document minibatch writes; files of a later version are refused.
pub const FORMAT_VERSION: u64 = 1;

/// The prefix of optimizer tensors.
const OPTIMIZER: &str = "optimizer/";

impl Model {
    /// Saves the model to one safetensors file: the architecture and compile configuration as
    /// JSON, the weights, the layers' non-trainable state, and the optimizer's state (Keras's
    /// `model.save`). The write is crash-safe. See [`crate::saving`] for the layout.
    ///
    /// ```
    /// use minibatch::{layers::Dense, Sequential};
    /// # let dir = std::env::temp_dir().join(format!("minibatch-doc-save-{}", std::process::id()));
    /// let mut model = Sequential::new().input_shape(&[4]).add(Dense::new(3).activation("softmax"));
    /// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    /// model.save(dir.join("model.safetensors")).unwrap();
    /// let loaded = Sequential::load(dir.join("model.safetensors")).unwrap();
    /// assert_eq!(loaded.get_weights(), model.get_weights());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// A path ending in `.keras` gets Keras 3's model file instead ([`Model::save_keras`]).
    ///
    /// # Errors
    /// [`Error::State`] for a model not built, or with a layer or optimizer that cannot be
    /// saved (it gives no config; [`Model::save_weights`] still works); [`Error::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with(path, true)
    }

    /// [`Model::save`], choosing whether the optimizer's state goes in (Keras's
    /// `include_optimizer`). Without it the file is smaller and a loaded model's optimizer
    /// starts afresh (same configuration, zero moments, step 0).
    ///
    /// # Errors
    /// As [`Model::save`].
    pub fn save_with(&self, path: impl AsRef<Path>, include_optimizer: bool) -> Result<()> {
        if FileFormat::of(path.as_ref()) == Some(FileFormat::Keras) {
            return self.save_keras(path);
        }
        let (tensors, doc) = self.snapshot(Value::Null, include_optimizer)?;
        tensor_file::write(path.as_ref(), &tensors, &doc)
    }

    /// Rebuilds a model [`Model::save`] wrote: layers, weights and state, compiled with
    /// the saved optimizer (and its state), loss and metrics when it was compiled. A path
    /// ending in `.keras` is read as Keras 3's model file ([`Model::load_keras`]), one ending in
    /// `.h5` (but not `.weights.h5`) as Keras 2's ([`Model::load_keras_h5`]).
    ///
    /// # Errors
    /// [`Error::Io`] for a missing file; [`Error::Format`] naming the file for a truncated or
    /// corrupt one, a weights-only file, or tensors that do not fit the architecture.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        match FileFormat::of(path) {
            Some(FileFormat::Keras) => return Model::load_keras(path),
            Some(FileFormat::Keras2) => return Model::load_keras_h5(path),
            _ => {}
        }
        let file = tensor_file::read(path)?;
        let doc = file.doc.as_ref().filter(|d| d.get("model").is_some()).ok_or_else(|| {
            Error::format(path, "holds weights only, no model configuration: build the model and use load_weights")
        })?;
        check_version(path, doc)?;
        // The configuration may declare any size: its weights are claimed against the bytes of
        // tensors the file holds before anything is allocated (tensor::memory).
        let held: u64 = file
            .tensors
            .values()
            .map(|t| match t {
                State::F32(t) => t.len() as u64 * 4,
                State::U64(w) => w.len() as u64 * 8,
            })
            .sum();
        let mut model = memory::with_budget(held, memory::Source::File, || Model::from_doc(doc))
            .map_err(|e| Error::format(path, e.to_string()))?;
        model.restore(path, &file)?;
        Ok(model)
    }

    /// Saves the weights and the layers' non-trainable state alone (Keras's `save_weights`),
    /// crash-safely, under the names [`crate::saving`] documents. A path ending in
    /// `.weights.h5` gets Keras 3's own format instead ([`Model::save_keras_weights`]).
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::Io`].
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        if FileFormat::of(path.as_ref()) == Some(FileFormat::KerasWeights) {
            return self.save_keras_weights(path);
        }
        let tensors = self.weight_tensors()?;
        tensor_file::write(path.as_ref(), &tensors, &json!({ "format_version": FORMAT_VERSION, "kind": "weights" }))
    }

    /// Loads weights by name from a safetensors file: one [`Model::save_weights`] or
    /// [`Model::save`] wrote, or one exported elsewhere under the same names (see
    /// [`crate::saving`]). F64 tensors are converted. Optimizer tensors are ignored; a
    /// layer's non-trainable state is loaded when present. A path ending in `.weights.h5` is
    /// read as Keras 3's own weights file ([`Model::load_keras_weights`]).
    ///
    /// A model not yet built but given an `input_shape` is built first. Everything is checked
    /// before anything changes: on error the weights are as they were.
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::Format`] naming the file and the tensor
    /// for a missing weight, a wrong shape, or a tensor the model has no place for (a file of
    /// another architecture).
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if FileFormat::of(path) == Some(FileFormat::KerasWeights) {
            return self.load_keras_weights(path);
        }
        if let (false, Some(shape)) = (self.is_built(), self.get_input_shape().map(<[usize]>::to_vec)) {
            self.build(&shape)?;
        }
        self.require_built("load weights")?;
        let file = tensor_file::read(path)?;
        if let Some(doc) = &file.doc {
            check_version(path, doc)?;
        }
        let plan = self.plan_weights(path, &file)?;
        self.apply_weights(plan);
        Ok(())
    }

    /// The model's configuration document, as Keras's `get_config()`: `{"class_name":
    /// "Sequential", "config": {"name", "seed", "input_shape", "layers": [...]}}` for a stack;
    /// for a functional model `{"class_name": "Functional", "config": {"name", "seed",
    /// "layers": [...], "input_layers", "output_layers"}}`, each layer with Keras's
    /// `inbound_nodes` (the tensors of each call, as `keras_history` `[layer, call, 0]`).
    ///
    /// # Errors
    /// [`Error::State`] for a model not built or a layer that cannot be saved.
    pub fn to_config(&self) -> Result<Value> {
        self.require_built("save")?;
        // With any bf16 layer, every layer says its policy (Keras's `dtype`), so that loading
        // under another global policy changes none.
        let mixed = self.layers.iter().any(|l| l.core().policy().computes_in_bf16());
        let configs = self
            .layers
            .iter()
            .map(|l| {
                let mut config = l.config().ok_or_else(|| {
                    Error::State(format!(
                        "layer {} ({}) cannot be saved as a model file: it gives no config (save_weights still works)",
                        l.name(),
                        l.kind()
                    ))
                })?;
                // A frozen layer says so, under Keras's key (absent: trainable).
                if let (false, Some(object)) = (l.trainable(), config.as_object_mut()) {
                    object.insert("trainable".into(), json!(false));
                }
                if let (true, Some(object)) = (mixed, config.as_object_mut()) {
                    object.insert("dtype".into(), l.core().policy().to_keras());
                }
                Ok(config)
            })
            .collect::<Result<Vec<_>>>()?;
        if !self.functional {
            let layers: Vec<Value> = self
                .layers
                .iter()
                .zip(configs)
                .map(|(l, config)| json!({ "class_name": l.kind(), "config": config }))
                .collect();
            return Ok(json!({
                "class_name": "Sequential",
                "config": { "name": self.core.name, "seed": self.seed, "input_shape": self.shapes[0], "layers": layers },
            }));
        }
        // Which call of its layer made each tensor: Keras's `keras_history`.
        let g = &self.graph;
        let history = |t: usize| -> Value {
            match g.producer(t) {
                None => json!([self.input_names[t], 0, 0]),
                Some(n) => {
                    let li = g.nodes[n].layer;
                    let call = g.nodes[..n].iter().filter(|m| m.layer == li).count();
                    json!([self.layers[li].name(), call, 0])
                }
            }
        };
        let tensor = |t: usize| {
            let mut shape = vec![Value::Null];
            shape.extend(self.shapes[t].iter().map(|&d| json!(d)));
            json!({ "class_name": "__keras_tensor__", "config": { "shape": shape, "keras_history": history(t) } })
        };
        let mut layers: Vec<Value> = Vec::new();
        for (i, name) in self.input_names.iter().enumerate() {
            let mut shape = vec![Value::Null];
            shape.extend(self.shapes[i].iter().map(|&d| json!(d)));
            layers.push(json!({
                "class_name": "InputLayer",
                "name": name,
                "config": { "batch_shape": shape, "name": name },
                "inbound_nodes": [],
            }));
        }
        for (li, (l, config)) in self.layers.iter().zip(configs).enumerate() {
            let nodes: Vec<Value> = g
                .nodes
                .iter()
                .filter(|n| n.layer == li)
                .map(|n| {
                    let args: Vec<Value> = n.inputs.iter().map(|&t| tensor(t)).collect();
                    let args = if args.len() == 1 { Value::Array(args) } else { json!([args]) };
                    json!({ "args": args, "kwargs": {} })
                })
                .collect();
            layers.push(json!({ "class_name": l.kind(), "name": l.name(), "config": config, "inbound_nodes": nodes }));
        }
        let inputs: Vec<Value> = (0..g.inputs).map(history).collect();
        let outputs: Vec<Value> = g.outputs.iter().map(|&t| history(t)).collect();
        Ok(json!({
            "class_name": "Functional",
            "config": {
                "name": self.core.name,
                "seed": self.seed,
                "layers": layers,
                "input_layers": inputs,
                "output_layers": outputs,
            },
        }))
    }

    /// The compile configuration a model file records: `{"optimizer", "loss", "metrics",
    /// "weighted_metrics"}` as Keras's configs (`null` for a model not compiled).
    ///
    /// # Errors
    /// [`Error::State`] for an optimizer, loss or metric that gives no config.
    pub fn compile_config(&self) -> Result<Value> {
        let Some(c) = &self.compiled else { return Ok(Value::Null) };
        let optimizer = c.optimizer.config().ok_or_else(|| {
            Error::State(format!(
                "optimizer {} cannot be saved: it gives no config (save_weights saves the weights alone)",
                c.optimizer.name()
            ))
        })?;
        let losses = c
            .losses
            .iter()
            .map(|l| {
                l.config().ok_or_else(|| {
                    Error::State(format!(
                        "loss {} cannot be saved: it gives no config (save_weights saves the weights alone)",
                        l.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let several = losses.len() > 1;
        let loss = if several { Value::Array(losses) } else { losses.into_iter().next().unwrap_or(Value::Null) };
        let config = |i: usize| {
            let m = &c.metrics[i];
            let config = m.config().ok_or_else(|| {
                Error::State(format!(
                    "metric {} cannot be saved: it gives no config (save_weights saves the weights alone)",
                    m.name()
                ))
            })?;
            Ok(if several { json!({ "output": c.metric_output[i], "metric": config }) } else { config })
        };
        let all = 0..c.metrics.len();
        let metrics = all.clone().filter(|&i| !c.weighted[i]).map(config).collect::<Result<Vec<_>>>()?;
        let weighted = all.filter(|&i| c.weighted[i]).map(config).collect::<Result<Vec<_>>>()?;
        let mut doc = json!({ "optimizer": optimizer, "loss": loss, "metrics": metrics, "weighted_metrics": weighted });
        if c.loss_weights.iter().any(|&w| w != 1.0) {
            doc["loss_weights"] = json!(c.loss_weights);
        }
        Ok(doc)
    }

    /// Everything [`Model::save`] writes: the tensors and the document (the optimizer's
    /// state when `with_state`), with `training` (a resumable run's position) under its own key.
    pub(crate) fn snapshot(&self, training: Value, with_state: bool) -> Result<(BTreeMap<String, State>, Value)> {
        let mut tensors = self.weight_tensors()?;
        let mut doc = json!({ "format_version": FORMAT_VERSION, "kind": "model", "model": self.to_config()? });
        if self.compiled.is_some() {
            doc["compile"] = self.compile_config()?;
            if with_state {
                self.optimizer_state(&mut tensors, &mut doc);
            }
        }
        if !training.is_null() {
            doc["training"] = training;
        }
        if !self.metadata.is_empty() {
            doc["metadata"] = Value::Object(self.metadata.clone());
        }
        Ok((tensors, doc))
    }

    /// Everything a later [`Model::rewind`] returns to: weights, layers' state (moving
    /// statistics, random generators) and the optimizer's state, step count and rate, in
    /// memory.
    pub(crate) fn checkpoint(&self) -> Result<Checkpoint> {
        let mut tensors = self.weight_tensors()?;
        let mut doc = json!({});
        if let Some(c) = &self.compiled {
            self.optimizer_state(&mut tensors, &mut doc);
            doc["compile"] = json!({ "optimizer": { "config": { "learning_rate": c.optimizer.learning_rate() } } });
        }
        Ok(Checkpoint(TensorFile { tensors, doc: Some(doc) }))
    }

    /// Returns the model to `checkpoint` (taken of this model by [`Model::checkpoint`]).
    pub(crate) fn rewind(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.restore(Path::new("(in memory)"), &checkpoint.0)
    }

    /// The optimizer's slots into `tensors`, its step counts into `doc`.
    fn optimizer_state(&self, tensors: &mut BTreeMap<String, State>, doc: &mut Value) {
        let Some(c) = &self.compiled else { return };
        doc["optimizer_iterations"] = json!(c.optimizer.iterations());
        doc["optimizer_steps"] = json!(c.optimizer.base().steps());
        let names = self.slot_names();
        let shapes: Vec<&[usize]> = self.trainable_params().map(|(_, p)| p.value.shape()).collect();
        for (slot, values) in c.optimizer.slots().into_iter().chain(c.optimizer.base().slots()) {
            for (i, v) in values.iter().enumerate() {
                let shape = shapes[i];
                let t = crate::Tensor::from_vec(shape, v.clone()).expect("a slot has its parameter's size");
                tensors.insert(format!("{OPTIMIZER}{slot}/{}", names[i]), State::F32(t));
            }
        }
    }

    /// Restores the weights, layer state and (when compiled and saved) optimizer state from
    /// `file`, checking everything before changing anything.
    pub(crate) fn restore(&mut self, path: &Path, file: &TensorFile) -> Result<()> {
        let weights = self.plan_weights(path, file)?;
        let doc = file.doc.as_ref();
        let iterations = doc.and_then(|d| d.get("optimizer_iterations")).and_then(Value::as_u64);
        let steps = doc.and_then(|d| d.get("optimizer_steps")).and_then(Value::as_u64).or(iterations);
        // The rate in force when saved (a callback may have changed the compiled one).
        let learning_rate = doc
            .and_then(|d| d.pointer("/compile/optimizer/config/learning_rate"))
            .and_then(Value::as_f64)
            .map(|lr| lr as f32);
        let mut slots: Vec<(&'static str, usize, &[f32])> = Vec::new();
        // Without a saved step count the file holds no optimizer state: it starts afresh.
        if let (Some(c), Some(_)) = (&self.compiled, iterations) {
            let names = self.slot_names();
            for (slot, values) in c.optimizer.slots().into_iter().chain(c.optimizer.base().slots()) {
                for (i, v) in values.iter().enumerate() {
                    let name = format!("{OPTIMIZER}{slot}/{}", names[i]);
                    match file.tensors.get(&name) {
                        Some(State::F32(t)) if t.len() == v.len() => slots.push((slot, i, t.data())),
                        Some(State::F32(t)) => {
                            return Err(Error::format(
                                path,
                                format!("tensor {name} holds {} values: expected {}", t.len(), v.len()),
                            ))
                        }
                        Some(State::U64(_)) => {
                            return Err(Error::format(
                                path,
                                format!("tensor {name} is an integer tensor: expected F32"),
                            ))
                        }
                        None => return Err(Error::format(path, format!("missing optimizer tensor {name}"))),
                    }
                }
            }
        }
        self.apply_weights(weights);
        if let Some(c) = self.compiled.as_mut() {
            let mut targets = c.optimizer.slots_mut();
            for &(slot, i, data) in &slots {
                if let Some((_, values)) = targets.iter_mut().find(|(s, _)| *s == slot) {
                    values[i].copy_from_slice(data);
                }
            }
            drop(targets);
            let mut targets = c.optimizer.base_mut().slots_mut();
            for &(slot, i, data) in &slots {
                if let Some((_, values)) = targets.iter_mut().find(|(s, _)| *s == slot) {
                    values[i].copy_from_slice(data);
                }
            }
            drop(targets);
            if let Some(n) = steps {
                c.optimizer.base_mut().set_steps(n);
            }
            if let Some(lr) = learning_rate {
                c.optimizer.set_learning_rate(lr);
            }
            if let Some(n) = iterations {
                c.optimizer.set_iterations(n);
            }
        }
        Ok(())
    }

    /// The names of the weights the optimizer has slots for (the trainable layers'), by slot.
    fn slot_names(&self) -> Vec<String> {
        self.trainable_params().map(|(l, p)| format!("{}/{}", l.name(), p.name)).collect()
    }

    pub(crate) fn require_built(&self, what: &str) -> Result<()> {
        if self.is_built() {
            Ok(())
        } else {
            Err(Error::State(format!(
                "cannot {what}: the model is not built (call build, compile it with an input_shape, or fit it first)"
            )))
        }
    }

    /// The weights and layer state by name.
    fn weight_tensors(&self) -> Result<BTreeMap<String, State>> {
        self.require_built("save")?;
        let mut out = BTreeMap::new();
        for layer in &self.layers {
            for p in layer.params() {
                out.insert(format!("{}/{}", layer.name(), p.name), State::F32(p.value.clone()));
            }
            for (name, state) in layer.state() {
                out.insert(format!("{}/{name}", layer.name()), state);
            }
        }
        Ok(out)
    }

    /// Checks `file` against the model's weights and state; returns what to copy where.
    fn plan_weights<'f>(&self, path: &Path, file: &'f TensorFile) -> Result<WeightPlan<'f>> {
        let mut plan = WeightPlan::default();
        let mut known: Vec<String> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for (li, layer) in self.layers.iter().enumerate() {
            for (pi, p) in layer.params().iter().enumerate() {
                let name = format!("{}/{}", layer.name(), p.name);
                match file.tensors.get(&name) {
                    Some(State::F32(t)) if t.shape() == p.value.shape() => plan.params.push((li, pi, t.data())),
                    Some(State::F32(t)) => {
                        return Err(Error::format(
                            path,
                            format!("tensor {name} has shape {:?}: the model expects {:?}", t.shape(), p.value.shape()),
                        ))
                    }
                    Some(State::U64(_)) => {
                        return Err(Error::format(path, format!("tensor {name} is an integer tensor: expected F32")))
                    }
                    None => missing.push(name.clone()),
                }
                known.push(name);
            }
            for (sname, current) in layer.state() {
                let name = format!("{}/{sname}", layer.name());
                if let Some(value) = file.tensors.get(&name) {
                    let fits = match (&current, value) {
                        (State::F32(a), State::F32(b)) => a.shape() == b.shape(),
                        (State::U64(a), State::U64(b)) => a.len() == b.len(),
                        _ => false,
                    };
                    if !fits {
                        return Err(Error::format(path, format!("tensor {name} does not fit the layer's {sname}")));
                    }
                    plan.states.push((li, sname, value));
                }
                known.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(Error::format(path, format!("missing weight tensors: {}", missing.join(", "))));
        }
        let extra: Vec<&str> = file
            .tensors
            .keys()
            .filter(|k| !k.starts_with(OPTIMIZER) && !known.contains(k))
            .map(|k| k.as_str())
            .collect();
        if !extra.is_empty() {
            return Err(Error::format(
                path,
                format!(
                    "tensors the model has no place for: {} (was the file made for another architecture? the model has {})",
                    extra.join(", "),
                    known.join(", ")
                ),
            ));
        }
        Ok(plan)
    }

    fn apply_weights(&mut self, plan: WeightPlan<'_>) {
        for (li, pi, data) in plan.params {
            self.layers[li].params_mut()[pi].value.data_mut().copy_from_slice(data);
        }
        for (li, name, value) in plan.states {
            self.layers[li].set_state(name, value).expect("checked against the layer's state");
        }
    }

    /// A model (built, compiled when the document says so) from a saved document.
    fn from_doc(doc: &Value) -> Result<Model> {
        let model = doc.get("model").ok_or_else(|| Error::State("no model configuration in the file".into()))?;
        let config = model.get("config").unwrap_or(&Value::Null);
        let class = model.get("class_name").and_then(Value::as_str).unwrap_or_default();
        let mut m = model_from_config(class, config)?;
        if let Some(c) = doc.get("compile") {
            let optimizer = crate::optimizers::from_config(c.get("optimizer").unwrap_or(&Value::Null))?;
            let losses = match c.get("loss") {
                Some(Value::Array(list)) => {
                    Losses::boxed(list.iter().map(crate::losses::from_config).collect::<Result<Vec<_>>>()?)
                }
                other => crate::losses::from_config(other.unwrap_or(&Value::Null))?.into(),
            };
            let outputs = m.output_names();
            let list = |key: &str| -> Result<Vec<(usize, Box<dyn crate::metrics::Metric>)>> {
                let Some(v) = c.get(key) else { return Ok(Vec::new()) };
                let items = v.as_array().ok_or_else(|| Error::State(format!("the saved {key}: not a list")))?;
                items
                    .iter()
                    .map(|item| {
                        // With several outputs each metric is saved as {"output": k, "metric": {...}}.
                        match (item.get("output").and_then(Value::as_u64), item.get("metric")) {
                            (Some(k), Some(metric)) if (k as usize) < outputs.len() => {
                                Ok((k as usize, crate::metrics::from_config(metric)?))
                            }
                            (Some(k), _) => Err(Error::State(format!("the saved {key}: output {k} out of range"))),
                            _ => Ok((0, crate::metrics::from_config(item)?)),
                        }
                    })
                    .collect()
            };
            let mut options = CompileOptions::new();
            let several = outputs.len() > 1;
            for (k, metric) in list("metrics")? {
                options = if several { options.output_metric(&outputs[k], metric) } else { options.metric(metric) };
            }
            for (k, metric) in list("weighted_metrics")? {
                options = if several {
                    options.output_weighted_metric(&outputs[k], metric)
                } else {
                    options.weighted_metric(metric)
                };
            }
            if let Some(w) = c.get("loss_weights").and_then(|w| serde_json::from_value::<Vec<f32>>(w.clone()).ok()) {
                options = options.loss_weights(&w);
            }
            m.compile_with(optimizer, losses, options)?;
        }
        if let Some(Value::Object(meta)) = doc.get("metadata") {
            m.metadata = meta.clone();
        }
        Ok(m)
    }
}

/// A model (built, not compiled) from its class (`Sequential` or `Functional`) and config, as
/// [`Model::to_config`] writes them: a saved model, or a model used as a layer of another.
/// Rebuilds a layer from its class name and [`Layer::config`](crate::layers::Layer::config),
/// as Keras's `layers.deserialize`: the whole registry. A
/// nested model is rebuilt here, a wrapper (`TimeDistributed`) is handed its inner layer
/// rebuilt first, and every other class comes from the layers' own table. The error message
/// says which argument is missing or wrong.
///
/// # Errors
/// [`Error::UnknownName`] for a class not in [`crate::layers::CLASS_NAMES`]; [`Error::State`]
/// with serde's message for a config that does not fit the class.
pub fn layer_from_config(class: &str, config: &Value) -> Result<Box<dyn crate::layers::Layer>> {
    let mut layer = rebuild_layer(class, config)?;
    // Keras's `trainable` key: a frozen layer comes back frozen.
    if config.get("trainable") == Some(&Value::Bool(false)) {
        layer.set_trainable(false);
    }
    // Keras's `dtype`: the layer's own policy.
    if let Some(policy) = crate::layers::DTypePolicy::from_keras(config.get("dtype"))? {
        layer.core_mut().dtype = Some(policy);
    }
    Ok(layer)
}

/// [`layer_from_config`]'s class dispatch.
fn rebuild_layer(class: &str, config: &Value) -> Result<Box<dyn crate::layers::Layer>> {
    match class {
        "Functional" | "Sequential" => Ok(Box::new(model_from_config(class, config)?)),
        "TimeDistributed" => {
            let c: crate::layers::TimeDistributedConfig = serde_json::from_value(config.clone())
                .map_err(|e| Error::State(format!("config of a TimeDistributed layer: {e}")))?;
            let inner_class = c.layer().get("class_name").and_then(Value::as_str).unwrap_or_default();
            let inner = layer_from_config(inner_class, c.layer().get("config").unwrap_or(&Value::Null))?;
            Ok(Box::new(crate::layers::TimeDistributed::from_config(c, inner)))
        }
        _ => crate::layers::rebuild(class, config),
    }
}

pub(crate) fn model_from_config(class: &str, config: &Value) -> Result<Model> {
    let seed = config.get("seed").and_then(Value::as_u64).unwrap_or(0);
    let mut m = match class {
        "Sequential" => {
            let input_shape: Vec<usize> = config
                .get("input_shape")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| Error::State("the model configuration has no input_shape".into()))?;
            let mut m = Sequential::new().seed(seed);
            for layer in config.get("layers").and_then(Value::as_array).into_iter().flatten() {
                let class = layer.get("class_name").and_then(Value::as_str).unwrap_or_default();
                m.push(layer_from_config(class, layer.get("config").unwrap_or(&Value::Null))?);
            }
            m.build(&input_shape)?;
            m.into_model()
        }
        "Functional" => functional_from_config(config, seed)?,
        other => {
            return Err(Error::State(format!(
                "the model configuration is of class {other:?}: expected Sequential or Functional"
            )))
        }
    };
    if let Some(name) = config.get("name").and_then(Value::as_str) {
        m.core.name = name.to_string();
    }
    Ok(m)
}

/// A functional model from Keras's config: the `InputLayer`s, then each layer's calls
/// (`inbound_nodes`) replayed once the tensors they read exist.
fn functional_from_config(config: &Value, seed: u64) -> Result<Model> {
    let bad = |what: String| Error::State(format!("the functional model configuration: {what}"));
    let layers = config.get("layers").and_then(Value::as_array).ok_or_else(|| bad("no layers".into()))?;
    // (layer name, call index) → the tensor that call made.
    let mut made: BTreeMap<(String, usize), SymbolicTensor> = BTreeMap::new();
    let mut pending: Vec<(String, Shared, Vec<Value>)> = Vec::new();
    for layer in layers {
        let class = layer.get("class_name").and_then(Value::as_str).unwrap_or_default();
        let name = layer.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let lconfig = layer.get("config").unwrap_or(&Value::Null);
        if class == "InputLayer" {
            let shape: Vec<Option<usize>> = lconfig
                .get("batch_shape")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| bad(format!("input {name} has no batch_shape")))?;
            let shape: Vec<usize> = shape.iter().skip(1).map(|d| d.unwrap_or(0)).collect();
            made.insert((name.clone(), 0), Input::named(&name, &shape));
            continue;
        }
        let mut built = layer_from_config(class, lconfig)?;
        built.set_name(name.clone());
        let nodes = layer.get("inbound_nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        pending.push((name, Shared::boxed(built), nodes));
    }
    // The tensors one call reads, from `args` (one tensor, or a list of them).
    fn history(t: &Value) -> Option<(String, usize)> {
        let h = t.pointer("/config/keras_history")?.as_array()?;
        Some((h.first()?.as_str()?.to_string(), h.get(1)?.as_u64()? as usize))
    }
    // The tensors of a call: a list as the first argument (a merge), or each tensor argument
    // in turn (attention's query, value and key; Keras's None arguments skipped).
    let reads = |node: &Value| -> Option<Vec<(String, usize)>> {
        let args = node.get("args")?.as_array()?;
        match args.first()? {
            Value::Array(list) => list.iter().map(history).collect(),
            _ => args.iter().filter(|a| !a.is_null()).map(history).collect(),
        }
    };
    let mut done: Vec<usize> = vec![0; pending.len()];
    loop {
        let mut progressed = false;
        for (i, (name, layer, nodes)) in pending.iter().enumerate() {
            while done[i] < nodes.len() {
                let keys =
                    reads(&nodes[done[i]]).ok_or_else(|| bad(format!("a call of layer {name} is unreadable")))?;
                let Some(args) = keys.iter().map(|k| made.get(k).cloned()).collect::<Option<Vec<_>>>() else {
                    break;
                };
                made.insert((name.clone(), done[i]), layer.call(&args));
                done[i] += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    if let Some(i) = (0..pending.len()).find(|&i| done[i] < pending[i].2.len()) {
        // Name the tensor it waits for, and the layer that was to make it.
        let (name, _, nodes) = &pending[i];
        let keys = reads(&nodes[done[i]]).unwrap_or_default();
        let (from, call) = keys.iter().find(|k| !made.contains_key(k)).cloned().unwrap_or_default();
        let why = match pending.iter().position(|(n, _, _)| *n == from) {
            None if !made.keys().any(|(n, _)| *n == from) => {
                format!("the configuration has no layer or input named {from:?}")
            }
            None => format!("input {from:?} has one tensor ({from:?}[0])"),
            Some(j) if call >= pending[j].2.len() => {
                format!("layer {from:?} is called {} time(s)", pending[j].2.len())
            }
            Some(_) => format!("layer {from:?} waits in turn for a tensor never made (a missing layer, or a cycle)"),
        };
        return Err(bad(format!(
            "layer {name:?} (call {}) reads tensor {from:?}[{call}], the output of call {call} of layer \
             {from:?}, which is never made: {why}",
            done[i]
        )));
    }
    let find = |key: &str| -> Result<Vec<SymbolicTensor>> {
        let list = config.get(key).and_then(Value::as_array).ok_or_else(|| bad(format!("no {key}")))?;
        list.iter()
            .map(|h| {
                let h = h.as_array().ok_or_else(|| bad(format!("{key}: not a list")))?;
                let name = h.first().and_then(Value::as_str).unwrap_or_default().to_string();
                let call = h.get(1).and_then(Value::as_u64).unwrap_or(0) as usize;
                made.get(&(name.clone(), call)).cloned().ok_or_else(|| bad(format!("{key}: no tensor {name}[{call}]")))
            })
            .collect()
    };
    let (inputs, outputs) = (find("input_layers")?, find("output_layers")?);
    let (inputs, outputs): (Vec<&SymbolicTensor>, Vec<&SymbolicTensor>) =
        (inputs.iter().collect(), outputs.iter().collect());
    Model::new_seeded(&inputs, &outputs, seed)
}

/// What [`Model::load_weights`] copies: parameters by (layer, index), state by name.
#[derive(Default)]
struct WeightPlan<'f> {
    params: Vec<(usize, usize, &'f [f32])>,
    states: Vec<(usize, &'static str, &'f State)>,
}

fn check_version(path: &Path, doc: &Value) -> Result<()> {
    match doc.get("format_version").and_then(Value::as_u64) {
        Some(v) if v <= FORMAT_VERSION => Ok(()),
        Some(v) => Err(Error::format(
            path,
            format!("written by a newer minibatch (format_version {v}; this one reads up to {FORMAT_VERSION})"),
        )),
        None => Err(Error::format(path, "corrupt model document: no format_version")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Dense;
    use crate::models::{Call, Input};

    /// A call that reads a tensor no layer makes names the tensor, the layer it was to come
    /// from, and why it never came.
    #[test]
    fn a_reference_to_a_missing_layer_names_the_tensor_and_the_layer() {
        let x = Input::named("x", &[4]);
        let h = Dense::new(8).name("hidden").call(&x);
        let out = Dense::new(2).name("out").call(&h);
        let m = Model::new(&[&x], &[&out]).unwrap();
        let config = m.to_config().unwrap();
        let text = config["config"].to_string();
        let renamed = text.replacen("\"keras_history\":[\"hidden\"", "\"keras_history\":[\"hiddn\"", 1);
        assert_ne!(renamed, text, "the reference was found");
        let e = model_from_config("Functional", &serde_json::from_str(&renamed).unwrap()).unwrap_err().to_string();
        assert!(
            e.contains("layer \"out\"")
                && e.contains("\"hiddn\"[0]")
                && e.contains("no layer or input named \"hiddn\""),
            "{e}"
        );
    }
}
