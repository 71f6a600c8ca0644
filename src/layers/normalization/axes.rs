//! Keras's `axis` argument of the normalizations that reduce over a sample's axes
//! (LayerNormalization, UnitNormalization): one axis or a list, which here must be the
//! trailing axes of the sample, so each group of values reduced together is contiguous.

use crate::error::{Error, Result};

/// One axis (`-1`, Keras's default) or several (`[1, 2, 3]`), counted as Keras counts them:
/// the batch is axis 0, negative axes count from the end. Saved as Keras writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Axes {
    /// One axis.
    One(i64),
    /// Several axes.
    Many(Vec<i64>),
}

impl Default for Axes {
    fn default() -> Self {
        Axes::One(-1)
    }
}

impl From<i64> for Axes {
    fn from(axis: i64) -> Self {
        Axes::One(axis)
    }
}

impl From<&[i64]> for Axes {
    fn from(axes: &[i64]) -> Self {
        Axes::Many(axes.to_vec())
    }
}

impl<const N: usize> From<[i64; N]> for Axes {
    fn from(axes: [i64; N]) -> Self {
        Axes::Many(axes.to_vec())
    }
}

impl Axes {
    /// The number of values one group holds: the product of the named axes of a sample of
    /// shape `sample` (the batch axis not included), which must be its last axes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `layer` for no axes, an axis out of range, the batch
    /// axis, a repeated axis, or axes that are not the sample's last ones.
    pub(crate) fn group_len(&self, sample: &[usize], layer: &str) -> Result<usize> {
        let rank = sample.len() as i64 + 1;
        let given = match self {
            Axes::One(a) => vec![*a],
            Axes::Many(v) => v.clone(),
        };
        let bad =
            |expected: String| Error::invalid("axis", format!("{given:?}"), format!("{expected} (layer {layer})"));
        if given.is_empty() {
            return Err(bad("at least one axis".into()));
        }
        let mut axes = Vec::with_capacity(given.len());
        for &a in &given {
            let c = if a < 0 { a + rank } else { a };
            if !(1..rank).contains(&c) {
                return Err(bad(format!("axes of the sample, 1 to {} or −1 to −{}", rank - 1, rank - 1)));
            }
            axes.push(c as usize);
        }
        axes.sort_unstable();
        axes.dedup();
        if axes.len() != given.len() {
            return Err(bad("each axis once".into()));
        }
        let first = sample.len() + 1 - axes.len();
        if axes.iter().enumerate().any(|(i, &a)| a != first + i) {
            return Err(bad(format!(
                "the sample's last axes, such as {:?}",
                (first..=sample.len()).collect::<Vec<_>>()
            )));
        }
        Ok(sample[first - 1..].iter().product())
    }

    /// The shape of a weight over the named axes (Keras's `gamma` and `beta` shape).
    pub(crate) fn param_shape(&self, sample: &[usize]) -> Vec<usize> {
        let n = match self {
            Axes::One(_) => 1,
            Axes::Many(v) => v.len(),
        };
        sample[sample.len().saturating_sub(n)..].to_vec()
    }
}
