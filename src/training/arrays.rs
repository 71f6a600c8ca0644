//! The data on one side of a call (`x` or `y`): one array per model input or output, by
//! position or by name, as Keras takes a tensor, a list or a dict.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::borrow::Cow;

/// One array per model input (or output): a single [`Tensor`] for a model with one, a list
/// in order (`[&a, &b]`, `&[&a, &b][..]`), or by name (`&[("pixels", &a), ("sums", &b)][..]`).
#[derive(Clone, Debug)]
pub enum Arrays<'a> {
    /// The only input or output.
    One(&'a Tensor),
    /// One per input or output, in order.
    List(Vec<&'a Tensor>),
    /// One per input or output, by name.
    Named(Vec<(&'a str, &'a Tensor)>),
}

impl Arrays<'_> {
    /// Samples in the first array (each array's first axis; the checks that they agree come
    /// later, with the data's other checks). 0 when there is none.
    pub(crate) fn samples(&self) -> usize {
        match self {
            Arrays::One(t) => t.batch(),
            Arrays::List(ts) => ts.first().map_or(0, |t| t.batch()),
            Arrays::Named(ts) => ts.first().map_or(0, |(_, t)| t.batch()),
        }
    }
}

impl<'a> From<&'a Tensor> for Arrays<'a> {
    fn from(t: &'a Tensor) -> Self {
        Arrays::One(t)
    }
}
impl<'a> From<&'a [&'a Tensor]> for Arrays<'a> {
    fn from(ts: &'a [&'a Tensor]) -> Self {
        Arrays::List(ts.to_vec())
    }
}
impl<'a, const N: usize> From<[&'a Tensor; N]> for Arrays<'a> {
    fn from(ts: [&'a Tensor; N]) -> Self {
        Arrays::List(ts.to_vec())
    }
}
impl<'a> From<&'a [Tensor]> for Arrays<'a> {
    fn from(ts: &'a [Tensor]) -> Self {
        Arrays::List(ts.iter().collect())
    }
}
impl<'a> From<&'a Vec<Tensor>> for Arrays<'a> {
    fn from(ts: &'a Vec<Tensor>) -> Self {
        Arrays::List(ts.iter().collect())
    }
}
impl<'a> From<&'a [(&'a str, &'a Tensor)]> for Arrays<'a> {
    fn from(ts: &'a [(&'a str, &'a Tensor)]) -> Self {
        Arrays::Named(ts.to_vec())
    }
}
impl<'a, const N: usize> From<[(&'a str, &'a Tensor); N]> for Arrays<'a> {
    fn from(ts: [(&'a str, &'a Tensor); N]) -> Self {
        Arrays::Named(ts.to_vec())
    }
}

impl<'a> Arrays<'a> {
    /// The arrays in the order of the model's `count` inputs (or outputs), whose names
    /// `names` gives; `what` names the side in errors (`x (training data)`). Allocates nothing
    /// for a single tensor or a list of the right length.
    ///
    /// # Errors
    /// A number of arrays that is not `count`; a name that is not one of them, or given twice.
    pub(crate) fn resolve(
        &self,
        count: usize,
        names: &dyn Fn() -> Vec<String>,
        what: &dyn Fn() -> String,
    ) -> Result<Cow<'_, [&'a Tensor]>> {
        let check = |n: usize| -> Result<()> {
            if n == count {
                return Ok(());
            }
            let what = what();
            Err(Error::Shape {
                expected: format!("{count} arrays, one per model {} ({})", side(&what), names().join(", ")),
                what,
                received: format!("{n} arrays"),
            })
        };
        match self {
            Arrays::One(t) => {
                check(1)?;
                Ok(Cow::Borrowed(std::slice::from_ref(t)))
            }
            Arrays::List(ts) => {
                check(ts.len())?;
                Ok(Cow::Borrowed(ts.as_slice()))
            }
            Arrays::Named(ts) => {
                let names = names();
                let mut out: Vec<Option<&'a Tensor>> = vec![None; names.len()];
                for &(name, t) in ts {
                    let i = names.iter().position(|n| n == name).ok_or_else(|| {
                        let what = what();
                        Error::Shape {
                            expected: format!("arrays named as the model's {}s: {}", side(&what), names.join(", ")),
                            what,
                            received: format!("an array named {name}"),
                        }
                    })?;
                    if out[i].is_some() {
                        return Err(Error::Shape {
                            what: what(),
                            expected: "each name once".into(),
                            received: format!("{name} given twice"),
                        });
                    }
                    out[i] = Some(t);
                }
                if let Some(i) = out.iter().position(Option::is_none) {
                    return Err(Error::Shape {
                        what: what(),
                        expected: format!("an array for every {}: {}", side(&what()), names.join(", ")),
                        received: format!("none for {}", names[i]),
                    });
                }
                Ok(Cow::Owned(out.into_iter().map(|t| t.expect("checked")).collect()))
            }
        }
    }
}

fn side(what: &str) -> &'static str {
    if what.starts_with('x') {
        "input"
    } else {
        "output"
    }
}
