//! `Logs`: the named values of a batch or an epoch (`loss`, `accuracy`, `val_loss`, ...), in
//! the order Keras reports them.

/// Ordered name → value pairs. In steady state nothing allocates: setting an existing name
/// overwrites its value, and [`Logs::clear`] keeps the names' storage for the next epoch's
/// entries.
#[derive(Clone, Default)]
pub struct Logs {
    /// Entries `..len` are the logs; those after them are storage kept from earlier ones.
    entries: Vec<(String, f64)>,
    len: usize,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Logs {
    fn eq(&self, other: &Self) -> bool {
        self.entries[..self.len] == other.entries[..other.len]
    }
}

impl Logs {
    /// Empty logs.
    pub fn new() -> Self {
        Logs::default()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.live().iter().find(|(k, _)| k == name).map(|&(_, v)| v)
    }

    /// Sets `name` to `value`, appending it if new.
    pub fn set(&mut self, name: &str, value: f64) {
        self.set_prefixed("", name, value)
    }

    /// Sets `prefix` + `name` (say `val_` + `loss`) to `value` without forming the key first.
    pub fn set_prefixed(&mut self, prefix: &str, name: &str, value: f64) {
        let is_key = |k: &str| k.len() == prefix.len() + name.len() && k.starts_with(prefix) && k.ends_with(name);
        if let Some(entry) = self.entries[..self.len].iter_mut().find(|(k, _)| is_key(k)) {
            entry.1 = value;
            return;
        }
        if self.len == self.entries.len() {
            self.entries.push((String::new(), 0.0));
        }
        let entry = &mut self.entries[self.len];
        entry.0.clear();
        entry.0.push_str(prefix);
        entry.0.push_str(name);
        entry.1 = value;
        self.len += 1;
    }

    /// Removes every entry (keeping their storage).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.live().iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.live().iter().map(|(k, _)| k.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn live(&self) -> &[(String, f64)] {
        &self.entries[..self.len]
    }
}

impl std::fmt::Display for Logs {
    /// Keras's format: `accuracy: 0.9880 - loss: 0.0447`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" - ")?;
            }
            write!(f, "{k}: {}", super::progbar::format_value(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Logs;

    #[test]
    fn cleared_logs_reuse_their_storage_and_compare_by_live_entries() {
        let mut a = Logs::new();
        a.set("loss", 1.0);
        a.set_prefixed("val_", "loss", 2.0);
        assert_eq!(a.get("val_loss"), Some(2.0));
        a.set_prefixed("val_", "loss", 3.0);
        assert_eq!((a.len(), a.get("val_loss")), (2, Some(3.0)), "set again, not appended");
        a.clear();
        assert!(a.is_empty() && a.get("loss").is_none());
        a.set_prefixed("val_", "accuracy", 0.5);
        let mut b = Logs::new();
        b.set("val_accuracy", 0.5);
        assert_eq!(a, b, "storage kept after clear is not part of the logs");
        assert_eq!(a.keys().collect::<Vec<_>>(), ["val_accuracy"]);
        assert_eq!(format!("{a:?}"), r#"{"val_accuracy": 0.5}"#);
    }
}
