//! The registries of a user's own classes (layers, losses, metrics), Keras's
//! `register_keras_serializable`: a name and the function that rebuilds one from its saved
//! config, looked up when a model file is loaded.

use std::sync::{PoisonError, RwLock};

/// Names and their rebuild functions `F`; a later registration of a name replaces the earlier.
pub(crate) struct Registry<F: Copy + 'static>(RwLock<Vec<(&'static str, F)>>);

impl<F: Copy + 'static> Registry<F> {
    /// An empty registry (for a `static`).
    pub const fn new() -> Self {
        Registry(RwLock::new(Vec::new()))
    }

    /// Registers `f` under `name`, replacing an earlier registration of it.
    pub fn insert(&self, name: &'static str, f: F) {
        let mut entries = self.0.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(n, _)| *n != name);
        entries.push((name, f));
    }

    /// The function registered for a saved `{"class_name": name, "config": options}`, with
    /// the options (`null` when absent).
    pub fn saved(&self, config: &serde_json::Value) -> Option<(F, serde_json::Value)> {
        let f = self.get(config.get("class_name")?.as_str()?)?;
        Some((f, config.get("config").cloned().unwrap_or(serde_json::Value::Null)))
    }

    /// The function registered under `name`.
    pub fn get(&self, name: &str) -> Option<F> {
        let entries = self.0.read().unwrap_or_else(PoisonError::into_inner);
        entries.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }
}
