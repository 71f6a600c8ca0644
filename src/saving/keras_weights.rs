//! Keras 3's weights file, `NAME.weights.h5`, both ways: what `model.save_weights` writes
//! and `model.load_weights` reads in Keras, so weights move between a model built in Python
//! and the same model built here.
//!
//! # The layout (Keras's `saving_lib`)
//! An HDF5 file. Each layer of the model, in the model's order, is a group
//! `layers/KEY/vars` holding its variables as datasets `0`, `1`, … in the layer's own order
//! (`kernel`, `bias`; a BatchNormalization's `gamma`, `beta`, `moving_mean`,
//! `moving_variance`). `KEY` is not the layer's name but its class in snake case, numbered
//! within the model (`dense`, `dense_1`, `batch_normalization`): Keras keeps files independent
//! of the names it generates. A recurrent layer keeps its variables in its cell
//! (`layers/lstm/cell/vars`), a Bidirectional in its two layers' cells
//! (`layers/bidirectional/forward_layer/cell/vars`, `backward_layer`). Each `vars` group
//! carries the object's name as an attribute `name`, as Keras writes it.
//!
//! The same variable order holds here (a layer's parameters, then its float state), so a layer
//! maps to its group by position alone. A MultiHeadAttention keeps its weights in its four
//! projections (`query_dense`, `key_dense`, `value_dense`, `output_dense`), a TimeDistributed
//! in the layer it wraps (`layer`), a nested model under its own layers
//! (`layers/sequential/layers/dense/vars`, numbered within it).
//!
//! # Reading safely
//! Every dataset's shape is checked against the weight it fills before its values are read,
//! so nothing is allocated by what the file declares beyond the model's own sizes; the whole
//! file is checked before any weight changes; the HDF5 parser's failures on a corrupt file
//! come back as [`Error::Format`] naming the file.

use crate::error::{Error, Result};
use crate::layers::{Layer, State};
use crate::models::Model;
use hdf5_pure::{AttrValue, FileBuilder};
use std::collections::BTreeMap;
use std::path::Path;

/// Where one variable lives in the model: layer `layer`'s parameter `index`, or its float
/// state variable `name`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Var {
    Param { layer: usize, index: usize },
    State { layer: usize, name: &'static str },
}

/// One Keras `vars` group: its path (`layers/dense_1`), the name Keras records on it, and its
/// variables in order.
#[derive(Debug)]
struct Entry {
    group: String,
    name: String,
    vars: Vec<Var>,
}

/// The model's variables as Keras lays them out (see the [module docs](self)).
fn layout(model: &Model) -> Vec<Entry> {
    let mut entries = Vec::new();
    let items: Vec<Item<'_>> = model
        .layers()
        .iter()
        .enumerate()
        .map(|(li, layer)| {
            let params = (0..layer.params().len()).map(|index| Var::Param { layer: li, index });
            let states = layer
                .state()
                .into_iter()
                .filter(|(_, s)| matches!(s, State::F32(_)))
                .map(|(name, _)| Var::State { layer: li, name });
            let layer = layer.as_ref();
            Item {
                layer,
                vars: params.chain(states).collect(),
                owner: layer,
                owner_index: li,
                offset: 0,
                path: String::new(),
            }
        })
        .collect();
    walk(&items, "layers", &mut entries);
    entries
}

/// A layer as the walk sees it: the layer, its variables (as the model holds them), and, for a
/// layer inside a nested model, the model's own layer that holds it (`owner`, at `owner_index`),
/// where its variables begin in the owner's lent list (`offset`), and the prefix of its state
/// variables' names there (`path`: `encoder/dense/` for a layer of a model nested in the owner).
struct Item<'m> {
    layer: &'m dyn Layer,
    vars: Vec<Var>,
    owner: &'m dyn Layer,
    owner_index: usize,
    offset: usize,
    path: String,
}

/// A layer's key within its container as Keras's `saving_lib` makes it: its class in snake
/// case, numbered from the second of that class (`dense`, `dense_1`). `used` counts the
/// classes seen so far in the container.
pub(super) fn keras_key(used: &mut BTreeMap<String, usize>, class: &str) -> String {
    let base = crate::models::snake_case(class);
    match used.get_mut(&base) {
        None => {
            used.insert(base.clone(), 0);
            base
        }
        Some(n) => {
            *n += 1;
            format!("{base}_{n}")
        }
    }
}

/// The entries of `items`, a model's layers in order, under `prefix` (`layers`, or a nested
/// model's `layers/sequential/layers`): each numbered by class within its container.
fn walk(items: &[Item<'_>], prefix: &str, entries: &mut Vec<Entry>) {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        let layer = item.layer;
        let class = layer.kind();
        let key = keras_key(&mut used, class);
        let vars = item.vars.clone();
        let name = layer.name().to_string();
        // Every layer has its group, as Keras writes one (empty for a layer without weights).
        let group = format!("{prefix}/{key}");
        let own = |vars: Vec<Var>| Entry { group: group.clone(), name: name.clone(), vars };
        match class {
            "LSTM" | "GRU" | "SimpleRNN" => {
                entries.push(own(Vec::new()));
                entries.push(Entry { group: format!("{group}/cell"), name: format!("{name}_cell"), vars })
            }
            "Bidirectional" => {
                entries.push(own(Vec::new()));
                let half = vars.len() / 2;
                let (forward, backward) = vars.split_at(half);
                for (side, vars) in [("forward", forward), ("backward", backward)] {
                    let layer_group = format!("{group}/{side}_layer");
                    let side_name = format!("{side}_{name}");
                    entries.push(Entry { group: layer_group.clone(), name: side_name.clone(), vars: Vec::new() });
                    let cell = Entry {
                        group: format!("{layer_group}/cell"),
                        name: format!("{side_name}_cell"),
                        vars: vars.to_vec(),
                    };
                    entries.push(cell);
                }
            }
            "MultiHeadAttention" if !vars.is_empty() => {
                // Its four EinsumDense projections, a kernel (and a bias) each, in its order.
                entries.push(own(Vec::new()));
                let per = vars.len() / 4;
                for (i, part) in ["query_dense", "key_dense", "value_dense", "output_dense"].iter().enumerate() {
                    let group = format!("{group}/{part}");
                    entries.push(Entry { group, name: part.to_string(), vars: vars[i * per..(i + 1) * per].to_vec() });
                }
            }
            "TimeDistributed" if !vars.is_empty() => {
                // The wrapped layer (`layer`), a recurrent one keeping its weights in its cell.
                entries.push(own(Vec::new()));
                let inner = layer.config().and_then(|c| c.pointer("/layer/class_name").cloned());
                let recurrent = matches!(inner.as_ref().and_then(|v| v.as_str()), Some("LSTM" | "GRU" | "SimpleRNN"));
                let group = if recurrent { format!("{group}/layer/cell") } else { format!("{group}/layer") };
                entries.push(Entry { group, name: format!("{name}_layer"), vars });
            }
            "Functional" | "Sequential" if !layer.sublayers().is_empty() => {
                // A nested model: its own layers, numbered within it, under `KEY/layers`. Its
                // weights are lent to the model's own layer that holds it as one list (its
                // layers' in order), its state variables named `LAYER/VAR` (`MODEL/LAYER/VAR`
                // a level further down).
                entries.push(own(Vec::new()));
                let (owner, index, mut offset) = (item.owner, item.owner_index, item.offset);
                let mut inner = Vec::new();
                for sub in layer.sublayers() {
                    let count = sub.params().len();
                    let params = (offset..offset + count).map(|i| Var::Param { layer: index, index: i });
                    let path = format!("{}{}/", item.path, sub.name());
                    let states: Vec<Var> = owner
                        .state()
                        .into_iter()
                        .filter(|(n, s)| n.starts_with(&path) && matches!(s, State::F32(_)))
                        .map(|(name, _)| Var::State { layer: index, name })
                        .collect();
                    let vars = params.chain(states).collect();
                    inner.push(Item { layer: sub.as_ref(), vars, owner, owner_index: index, offset, path });
                    offset += count;
                }
                walk(&inner, &format!("{group}/layers"), entries);
            }
            _ => entries.push(own(vars)),
        }
    }
}

/// The shape and values of a variable.
/// The shape of a variable (without copying its values).
pub(super) fn var_shape(model: &Model, var: Var) -> Vec<usize> {
    match var {
        Var::Param { layer, index } => model.layers()[layer].params()[index].value.shape().to_vec(),
        Var::State { .. } => var_tensor(model, var).shape().to_vec(),
    }
}

/// The HDF5 file of `bytes` (read from `path`). The parser is a dependency: its failure, a
/// panic on a hostile file included, is a format error naming `path`, not a crash.
pub(super) fn open_hdf5(path: &Path, bytes: Vec<u8>) -> Result<hdf5_pure::File> {
    let corrupt = |what: String| Error::format(path, what);
    std::panic::catch_unwind(|| hdf5_pure::File::from_bytes(bytes))
        .map_err(|_| corrupt("not a readable HDF5 file".into()))?
        .map_err(|e| corrupt(format!("not a readable HDF5 file ({e})")))
}

/// The float32 dataset `name` of `file`, its shape checked against `want` before a value is
/// read (so nothing is allocated by what the file declares). The message of an error says
/// what is wrong after the dataset's name; the parser's failures, a panic on a hostile file
/// included, are errors too.
pub(super) fn read_checked(
    file: &hdf5_pure::File,
    name: &str,
    want: &[usize],
) -> std::result::Result<Vec<f32>, String> {
    read_checked_as(file, name, want, hdf5_pure::Dataset::read_f32)
}

/// [`read_checked`], the values read by `read` (`read_f64` for a count that float32 would
/// round).
fn read_checked_as<T>(
    file: &hdf5_pure::File,
    name: &str,
    want: &[usize],
    read: fn(&hdf5_pure::Dataset) -> std::result::Result<Vec<T>, hdf5_pure::Error>,
) -> std::result::Result<Vec<T>, String> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> std::result::Result<_, String> {
        let ds = file.dataset(name).map_err(|e| format!("cannot be read: {e}"))?;
        let shape: Vec<usize> =
            ds.shape().map_err(|e| format!("cannot be read: {e}"))?.iter().map(|&d| d as usize).collect();
        if shape != want {
            return Err(format!("has shape {shape:?} where {want:?} was expected"));
        }
        read(&ds).map_err(|e| format!("cannot be read: {e}"))
    }));
    match read {
        Ok(Ok(v)) if v.len() == want.iter().product::<usize>() => Ok(v),
        Ok(Ok(v)) => Err(format!("holds {} values for shape {want:?}", v.len())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("cannot be read".into()),
    }
}

fn var_tensor(model: &Model, var: Var) -> crate::Tensor {
    match var {
        Var::Param { layer, index } => model.layers()[layer].params()[index].value.clone(),
        Var::State { layer, name } => match model.layers()[layer].state().into_iter().find(|(n, _)| *n == name) {
            Some((_, State::F32(t))) => t,
            _ => unreachable!("the layout lists float state variables only"),
        },
    }
}

impl Model {
    /// Writes the weights as Keras 3's `save_weights` does (a `NAME.weights.h5` HDF5 file, see
    /// [`crate::saving`]'s Keras section): the same model built in Keras loads them with
    /// `model.load_weights`. Written crash-safely (a temporary file renamed over the target).
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] for a layer whose
    /// Keras layout is not supported; [`Error::Io`].
    pub fn save_keras_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.keras_weights_bytes(path)?;
        crate::io::write_atomic(path, &bytes)
    }

    /// The bytes of [`Model::save_keras_weights`]'s file (`path` names it in errors): a
    /// `.keras` archive's `model.weights.h5` too.
    pub(crate) fn keras_weights_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        self.require_built("save weights")?;
        let entries = layout(self);
        let mut builder = FileBuilder::new();
        // The model's own (empty) entry, named as Keras names it.
        let mut root_vars = builder.create_group("vars");
        root_vars.set_attr("name", AttrValue::String(self.name().to_string()));
        builder.add_group(root_vars.finish());
        // Groups nest: collect each entry's path, then build the tree from the leaves.
        let mut tree = Node::default();
        for entry in &entries {
            let mut node = &mut tree;
            for part in entry.group.split('/') {
                node = node.children.entry(part.to_string()).or_default();
            }
            node.vars =
                Some((entry.name.clone(), entry.vars.iter().map(|&v| Data::F32(var_tensor(self, v))).collect()));
        }
        // The optimizer's state, as Keras keeps it (when its layout is known: see
        // `optimizer_layout`).
        if let Some((name, slots)) = optimizer_layout(self) {
            let c = self.compiled.as_ref().expect("an optimizer layout needs a compiled model");
            let opt = c.optimizer.as_ref();
            let mut data =
                vec![Data::I32(opt.iterations().min(i32::MAX as u64) as i32), Data::Scalar(opt.learning_rate())];
            let all = opt.slots();
            for (i, shape) in trainable_shapes(self).iter().enumerate() {
                for slot in &slots {
                    let values = all.iter().find(|(n, _)| n == slot).expect("a slot listed").1[i].clone();
                    data.push(Data::F32(crate::Tensor::from_vec(shape, values).expect("a slot has its weight's size")));
                }
            }
            tree.children.entry("optimizer".into()).or_default().vars = Some((name, data));
        }
        for (name, child) in tree.children {
            let group = child.build(builder.create_group(&name));
            builder.add_group(group);
        }
        builder.finish().map_err(|e| Error::State(format!("could not encode {}: {e}", path.display())))
    }

    /// Reads weights Keras 3's `save_weights` wrote (`NAME.weights.h5`) into this model, built
    /// as the Keras one was (the same layers in the same order; names may differ: Keras files
    /// address layers by class and position). Every variable's shape and count is checked
    /// before anything changes.
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::Format`] naming the file for a
    /// corrupt or non-HDF5 file, a missing variable, a variable of another shape, a layer with
    /// more or fewer variables than this model's, or weights of a layer this model does not
    /// have; [`Error::InvalidArgument`] for a layer whose Keras layout is not supported.
    pub fn load_keras_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let (false, Some(shape)) = (self.is_built(), self.get_input_shape().map(<[usize]>::to_vec)) {
            self.build(&shape)?;
        }
        self.require_built("load weights")?;
        let bytes = crate::io::file::read_file(path)?;
        self.load_keras_weights_from(path, bytes)
    }

    /// [`Model::load_keras_weights`] from the file's bytes (`path` names it in errors): a
    /// `.keras` archive's `model.weights.h5` too.
    pub(crate) fn load_keras_weights_from(&mut self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        let entries = layout(self);
        let corrupt = |what: String| Error::format(path, what);
        let file = open_hdf5(path, bytes)?;
        let read = |what: &str| -> Result<Vec<String>> {
            let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| file.group(what)?.datasets()));
            match found {
                Ok(Ok(names)) => Ok(names),
                Ok(Err(_)) => Ok(Vec::new()),
                Err(_) => Err(corrupt(format!("group {what} cannot be read"))),
            }
        };
        // Every layer group in the file must be one of the model's.
        let mut known: Vec<String> = entries.iter().map(|e| e.group.clone()).collect();
        known.sort();
        for group in keras_groups(&file).map_err(&corrupt)? {
            // A group of a layer without weights (Keras writes one for its inputs too) asks
            // nothing of the model.
            if !known.contains(&group) && !read(&format!("{group}/vars"))?.is_empty() {
                return Err(corrupt(format!(
                    "holds weights for {group}, which this model does not have (it has {})",
                    known.join(", ")
                )));
            }
        }
        // Check every variable, then read them all, then apply.
        let mut values: Vec<(Var, Vec<f32>)> = Vec::new();
        for entry in &entries {
            let vars_path = format!("{}/vars", entry.group);
            let held = read(&vars_path)?;
            if held.len() != entry.vars.len() {
                return Err(corrupt(format!(
                    "{vars_path} holds {} variables where layer '{}' has {} (a model built differently?)",
                    held.len(),
                    entry.name,
                    entry.vars.len()
                )));
            }
            for (i, &var) in entry.vars.iter().enumerate() {
                let dataset = format!("{vars_path}/{i}");
                let v = read_checked(&file, &dataset, &var_shape(self, var))
                    .map_err(|e| corrupt(format!("{dataset} (layer '{}') {e}", entry.name)))?;
                values.push((var, v));
            }
        }
        let optimizer = self.read_keras_optimizer(&file, path, &read)?;
        self.apply_vars(values)?;
        if let (Some(SavedOptimizer { iterations, rate, names, slots }), Some(c)) = (optimizer, self.compiled.as_mut())
        {
            let mut targets = c.optimizer.slots_mut();
            for (k, values) in slots.into_iter().enumerate() {
                let (i, s) = (k / names.len(), k % names.len());
                if let Some((_, list)) = targets.iter_mut().find(|(n, _)| *n == names[s]) {
                    list[i].copy_from_slice(&values);
                }
            }
            drop(targets);
            c.optimizer.set_iterations(iterations);
            c.optimizer.base_mut().set_steps(iterations);
            c.optimizer.set_learning_rate(rate);
        }
        Ok(())
    }

    /// Sets each variable to its values, read and checked against its shape beforehand.
    pub(super) fn apply_vars(&mut self, values: Vec<(Var, Vec<f32>)>) -> Result<()> {
        for (var, v) in values {
            match var {
                Var::Param { layer, index } => {
                    self.layers[layer].params_mut()[index].value.data_mut().copy_from_slice(&v);
                }
                Var::State { layer, name } => {
                    let t = crate::Tensor::from_vec(&var_shape(self, var), v)?;
                    self.layers[layer].set_state(name, &State::F32(t))?;
                }
            }
        }
        Ok(())
    }

    /// The optimizer's state in a Keras file (`optimizer/vars`), checked, when the model is
    /// compiled with an optimizer whose layout is known and the file holds one of that layout:
    /// the iteration count, the learning rate and every slot, weight by weight. `None` when
    /// there is none to read; a state of another layout is skipped with a warning, as Keras
    /// skips it (the optimizer starts afresh).
    fn read_keras_optimizer(
        &self,
        file: &hdf5_pure::File,
        path: &Path,
        read: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<Option<SavedOptimizer>> {
        let held = read("optimizer/vars")?;
        if held.is_empty() {
            return Ok(None);
        }
        let Some((_, slots)) = optimizer_layout(self) else {
            eprintln!(
                "warning: {}: the optimizer's saved state does not fit this model's optimizer: it starts afresh",
                path.display()
            );
            return Ok(None);
        };
        let shapes = trainable_shapes(self);
        // An optimizer Keras never stepped keeps its iteration count and rate alone (its
        // slots are made at its first step): read those, the slots stay at zero.
        let unbuilt = held.len() == 2;
        if !unbuilt && held.len() != 2 + shapes.len() * slots.len() {
            eprintln!(
                "warning: {}: the optimizer's saved state has {} variables where this optimizer has {}: it starts afresh",
                path.display(),
                held.len(),
                2 + shapes.len() * slots.len()
            );
            return Ok(None);
        }
        let name = |i: usize| format!("optimizer/vars/{i}");
        let named = |i: usize| move |e: String| Error::format(path, format!("{} {e}", name(i)));
        let iterations = read_checked_as(file, &name(0), &[], hdf5_pure::Dataset::read_f64).map_err(named(0))?[0];
        let rate = read_checked(file, &name(1), &[]).map_err(named(1))?[0];
        let per_weight = if unbuilt { 0 } else { slots.len() };
        let mut values = Vec::new();
        for (k, shape) in shapes.iter().flat_map(|s| std::iter::repeat_n(s, per_weight)).enumerate() {
            values.push(read_checked(file, &name(2 + k), shape).map_err(named(2 + k))?);
        }
        if !(iterations >= 0.0 && iterations.is_finite() && rate.is_finite()) {
            return Err(Error::format(
                path,
                format!("its optimizer state holds iterations {iterations} and learning rate {rate}"),
            ));
        }
        Ok(Some(SavedOptimizer { iterations: iterations as u64, rate, names: slots, slots: values }))
    }
}

/// An optimizer's state as a Keras file holds it, read and checked: its iteration count and
/// learning rate, and each trainable weight's slots in turn (`names` per weight; none for an
/// optimizer Keras never stepped).
struct SavedOptimizer {
    iterations: u64,
    rate: f32,
    names: Vec<&'static str>,
    slots: Vec<Vec<f32>>,
}

/// The optimizer's name and slot names in Keras's order, for the optimizers whose
/// `optimizer/vars` layout is checked against Keras's (the iteration count, the learning
/// rate, then each trainable weight's slots in turn): SGD (momentum), Adam and AdamW (momentum,
/// velocity), without AMSGrad, gradient accumulation or moving averages. `None` for another:
/// its state is neither written nor read (Keras too skips a state it cannot match, and the
/// optimizer starts afresh).
fn optimizer_layout(model: &Model) -> Option<(String, Vec<&'static str>)> {
    let c = model.compiled.as_ref()?;
    let opt = c.optimizer.as_ref();
    let class = opt.config()?.get("class_name")?.as_str()?.to_string();
    if !matches!(class.as_str(), "SGD" | "Adam" | "AdamW") || !opt.base().slots().is_empty() {
        return None;
    }
    let n = model.trainable_params().count();
    let held: Vec<(&'static str, &[Vec<f32>])> = opt.slots().into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let known = held.iter().all(|(name, v)| *name != "velocity_hat" && v.len() == n);
    known.then(|| (opt.name().to_string(), held.iter().map(|(name, _)| *name).collect()))
}

/// The trainable weights' shapes, in the optimizer's order.
fn trainable_shapes(model: &Model) -> Vec<Vec<usize>> {
    model.trainable_params().map(|(_, p)| p.value.shape().to_vec()).collect()
}

/// Every group under `layers/` that holds a `vars` group, as `layers/KEY[/…]`.
fn keras_groups(file: &hdf5_pure::File) -> std::result::Result<Vec<String>, String> {
    let walk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut found = Vec::new();
        let mut stack = vec!["layers".to_string()];
        // A bound on the walk: a cyclic or absurdly deep file ends it.
        let mut visited = 0usize;
        while let Some(path) = stack.pop() {
            visited += 1;
            if visited > 100_000 {
                return Err("too many groups (a cycle?)".to_string());
            }
            let Ok(group) = file.group(&path) else { continue };
            for child in group.groups().map_err(|e| e.to_string())? {
                if child == "vars" {
                    found.push(path.clone());
                } else if path.matches('/').count() < 16 {
                    stack.push(format!("{path}/{child}"));
                }
            }
        }
        Ok(found)
    }));
    walk.unwrap_or_else(|_| Err("its groups cannot be read".to_string()))
}

/// A group of the file being written: its sub-groups by name and, for a `vars` holder, the
/// name Keras records and the variables.
#[derive(Default)]
struct Node {
    children: BTreeMap<String, Node>,
    vars: Option<(String, Vec<Data>)>,
}

/// A dataset's values: float32, a float32 scalar (the learning rate), or an int32 count (the
/// optimizer's iterations).
enum Data {
    F32(crate::Tensor),
    Scalar(f32),
    I32(i32),
}

impl Node {
    /// This node's contents into `group`, finished.
    fn build(self, mut group: hdf5_pure::GroupBuilder) -> hdf5_pure::FinishedGroup {
        if let Some((name, tensors)) = self.vars {
            let mut vars = group.create_group("vars");
            vars.set_attr("name", AttrValue::String(name));
            for (i, data) in tensors.iter().enumerate() {
                match data {
                    Data::F32(t) => {
                        let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
                        vars.create_dataset(&i.to_string()).with_f32_data(t.data()).with_shape(&shape);
                    }
                    Data::Scalar(v) => {
                        vars.create_dataset(&i.to_string()).with_f32_data(&[*v]).with_shape(&[]);
                    }
                    Data::I32(n) => {
                        vars.create_dataset(&i.to_string()).with_i32_data(&[*n]).with_shape(&[]);
                    }
                }
            }
            group.add_group(vars.finish());
        }
        for (name, child) in self.children {
            let sub = child.build(group.create_group(&name));
            group.add_group(sub);
        }
        group.finish()
    }
}
