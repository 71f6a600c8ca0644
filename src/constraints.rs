//! Weight constraints, as Keras's `keras.constraints`: applied to a weight after every
//! optimizer step.
//!
//! Norms are taken over `axis` of the weight in Keras's layout (a Dense kernel is
//! `[in, out]`, a Conv2D kernel `[kh, kw, in, out]`), so the default axis 0 constrains the
//! weights into each output unit of a Dense layer. For a Conv2D kernel Keras's documentation
//! uses `axis=[0, 1, 2]` (each filter).
//!
//! | Keras | effect |
//! |---|---|
//! | `MaxNorm(max_value=2, axis=0)` | `w · clip(n, 0, max) / (ε + n)` |
//! | `NonNeg()` | `w · (w ≥ 0)` |
//! | `UnitNorm(axis=0)` | `w / (ε + n)` |
//! | `MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)` | `w · (rate · clip(n, min, max) + (1 − rate) n) / (ε + n)` |
//!
//! with `n` the L2 norm over `axis` and ε = 1e-7.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

const EPSILON: f32 = 1e-7;

/// A constraint. Saved as Keras writes it: `{"class_name": "MaxNorm", "config": {...}}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config")]
pub enum Constraint {
    /// Norms above `max_value` are scaled down to it.
    MaxNorm {
        /// The largest norm allowed.
        max_value: f32,
        /// The axes the norm is taken over (a bit mask: bit `i` is axis `i`).
        axis: Axes,
    },
    /// Negative weights become 0.
    NonNeg,
    /// Every norm becomes 1.
    UnitNorm {
        /// The axes the norm is taken over.
        axis: Axes,
    },
    /// Norms are pulled into `[min_value, max_value]` at `rate`.
    MinMaxNorm {
        /// The smallest norm.
        min_value: f32,
        /// The largest norm.
        max_value: f32,
        /// 1 enforces strictly; smaller rates move part of the way each step.
        rate: f32,
        /// The axes the norm is taken over.
        axis: Axes,
    },
}

/// The axes a norm is taken over, written as Keras writes `axis`: one integer or a list.
#[derive(Debug, Clone, PartialEq, Eq, Copy, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Axes {
    /// One axis.
    One(usize),
    /// Several axes (up to 8).
    Many(AxisList),
}

/// Up to 8 axes, as a list in files.
#[derive(Debug, Clone, PartialEq, Eq, Copy, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct AxisList {
    len: usize,
    axes: [usize; 8],
}

impl TryFrom<Vec<usize>> for AxisList {
    type Error = String;
    fn try_from(v: Vec<usize>) -> std::result::Result<Self, String> {
        if v.len() > 8 {
            return Err(format!("at most 8 axes, got {}", v.len()));
        }
        let mut axes = [0; 8];
        axes[..v.len()].copy_from_slice(&v);
        Ok(AxisList { len: v.len(), axes })
    }
}

impl From<AxisList> for Vec<usize> {
    fn from(a: AxisList) -> Self {
        a.axes[..a.len].to_vec()
    }
}

impl Axes {
    /// Several axes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for more than 8.
    pub fn many(axes: &[usize]) -> Result<Self> {
        AxisList::try_from(axes.to_vec()).map(Axes::Many).map_err(|e| Error::invalid("axis", format!("{axes:?}"), e))
    }

    fn list(&self) -> &[usize] {
        match self {
            Axes::One(a) => std::slice::from_ref(a),
            Axes::Many(l) => &l.axes[..l.len],
        }
    }
}

impl Constraint {
    /// Keras's `MaxNorm(max_value, axis=0)`.
    pub fn max_norm(max_value: f32) -> Self {
        Constraint::MaxNorm { max_value, axis: Axes::One(0) }
    }
    /// Keras's `UnitNorm(axis=0)`.
    pub fn unit_norm() -> Self {
        Constraint::UnitNorm { axis: Axes::One(0) }
    }
    /// Keras's `MinMaxNorm(min_value, max_value, rate=1, axis=0)`.
    pub fn min_max_norm(min_value: f32, max_value: f32) -> Self {
        Constraint::MinMaxNorm { min_value, max_value, rate: 1.0, axis: Axes::One(0) }
    }

    /// The same constraint over other axes (no effect on `NonNeg`).
    pub fn axis(self, axes: Axes) -> Self {
        match self {
            Constraint::MaxNorm { max_value, .. } => Constraint::MaxNorm { max_value, axis: axes },
            Constraint::UnitNorm { .. } => Constraint::UnitNorm { axis: axes },
            Constraint::MinMaxNorm { min_value, max_value, rate, .. } => {
                Constraint::MinMaxNorm { min_value, max_value, rate, axis: axes }
            }
            Constraint::NonNeg => Constraint::NonNeg,
        }
    }

    /// The constraint Keras calls `name` (`max_norm`, `non_neg`, `unit_norm`, `min_max_norm`),
    /// with Keras's defaults.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for another name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "max_norm" => Constraint::max_norm(2.0),
            "non_neg" => Constraint::NonNeg,
            "unit_norm" => Constraint::unit_norm(),
            "min_max_norm" => Constraint::min_max_norm(0.0, 1.0),
            _ => {
                return Err(Error::UnknownName {
                    kind: "constraint",
                    name: name.into(),
                    known: vec!["max_norm", "non_neg", "unit_norm", "min_max_norm"],
                })
            }
        })
    }

    /// Checks that the axes exist in a weight of `shape` and the bounds make sense.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the argument.
    pub fn check(&self, shape: &[usize]) -> Result<()> {
        let axes = match self {
            Constraint::NonNeg => return Ok(()),
            Constraint::MaxNorm { max_value, axis } => {
                if max_value.is_nan() || *max_value < 0.0 {
                    return Err(Error::invalid("max_value", max_value, "a non-negative norm"));
                }
                axis
            }
            Constraint::UnitNorm { axis } => axis,
            Constraint::MinMaxNorm { min_value, max_value, rate, axis } => {
                if !(*min_value >= 0.0 && min_value <= max_value) {
                    return Err(Error::invalid("min_value", min_value, format!("in [0, max_value = {max_value}]")));
                }
                if !(0.0..=1.0).contains(rate) {
                    return Err(Error::invalid("rate", rate, "a number in [0, 1]"));
                }
                axis
            }
        };
        if let Some(&a) = axes.list().iter().find(|&&a| a >= shape.len()) {
            return Err(Error::invalid("axis", a, format!("an axis of the weight's shape {shape:?}")));
        }
        Ok(())
    }

    /// Applies the constraint to `w` in place. Allocation-free.
    pub fn apply(&self, w: &mut Tensor) {
        let (axes, target): (&Axes, &dyn Fn(f32) -> f32) = match self {
            Constraint::NonNeg => {
                w.data_mut().iter_mut().for_each(|v| *v = if *v >= 0.0 { *v } else { 0.0 });
                return;
            }
            Constraint::MaxNorm { max_value, axis } => (axis, &move |n: f32| n.clamp(0.0, *max_value)),
            Constraint::UnitNorm { axis } => (axis, &|_| 1.0),
            Constraint::MinMaxNorm { min_value, max_value, rate, axis } => {
                (axis, &move |n: f32| rate * n.clamp(*min_value, *max_value) + (1.0 - rate) * n)
            }
        };
        let r = w.shape().len().min(8);
        let mut shape = [1usize; 8];
        shape[..r].copy_from_slice(&w.shape()[..r]);
        let mut stride = [1usize; 8];
        for i in (0..r.saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        let (mut kept, mut red, mut nk, mut nr) = ([0usize; 8], [0usize; 8], 0, 0);
        for i in 0..r {
            if axes.list().contains(&i) {
                red[nr] = i;
                nr += 1;
            } else {
                kept[nk] = i;
                nk += 1;
            }
        }
        let groups: usize = kept[..nk].iter().map(|&a| shape[a]).product();
        let inner: usize = red[..nr].iter().map(|&a| shape[a]).product();
        // The offset of the `i`-th combination of `axes` (the last fastest), from `base`.
        let offset = |axes: &[usize], mut i: usize, base: usize| {
            let mut off = base;
            for &a in axes.iter().rev() {
                off += (i % shape[a]) * stride[a];
                i /= shape[a];
            }
            off
        };
        let data = w.data_mut();
        for g in 0..groups {
            let base = offset(&kept[..nk], g, 0);
            let n = (0..inner).map(|i| data[offset(&red[..nr], i, base)].powi(2)).sum::<f32>().sqrt();
            let scale = target(n) / (EPSILON + n);
            for i in 0..inner {
                data[offset(&red[..nr], i, base)] *= scale;
            }
        }
    }
}
