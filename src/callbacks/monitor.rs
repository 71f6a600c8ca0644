//! What EarlyStopping, ReduceLROnPlateau and ModelCheckpoint share, as Keras's
//! `MonitorCallback`: the watched quantity, which direction improves, and by how much.

use super::Mode;
use crate::error::{Error, Result};
use crate::metrics::Direction;
use crate::models::Model;

/// A watched log key and its improvement rule.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    /// The log key (`val_loss`, `accuracy`, ...).
    pub name: String,
    pub mode: Mode,
    /// Smallest change that counts as an improvement (non-negative).
    pub min_delta: f64,
    direction: Option<Direction>,
}

impl Monitor {
    pub fn new(name: &str, min_delta: f64) -> Self {
        Monitor { name: name.into(), mode: Mode::Auto, min_delta: min_delta.abs(), direction: None }
    }

    /// Fixes the direction: `min`/`max` as given; `auto` is `min` for losses and the compiled
    /// metric's own direction otherwise, as Keras 3 resolves it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `auto` cannot tell (an unknown key).
    pub fn resolve(&mut self, model: &Model) -> Result<()> {
        self.direction = Some(match self.mode {
            Mode::Min => Direction::Minimize,
            Mode::Max => Direction::Maximize,
            Mode::Auto => {
                let name = self.name.strip_prefix("val_").unwrap_or(&self.name);
                if name == "loss" {
                    Direction::Minimize
                } else if let Some(d) = model.metric_direction(name) {
                    d
                } else {
                    return Err(Error::invalid(
                        "monitor",
                        &self.name,
                        "a loss or a compiled metric for mode=auto; set mode to min or max",
                    ));
                }
            }
        });
        Ok(())
    }

    /// Whether `value` beats `reference` by more than `min_delta` (anything beats `None`).
    pub fn improves(&self, value: f64, reference: Option<f64>) -> bool {
        let Some(reference) = reference else { return true };
        match self.direction {
            Some(Direction::Maximize) => value - self.min_delta > reference,
            _ => value + self.min_delta < reference,
        }
    }
}
