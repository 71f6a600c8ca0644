//! Adapting a preprocessing layer to a dataset, a batch at a time (Keras's `adapt` on a
//! dataset). Here, beside the datasets, so that the layers know nothing of them.

use super::{Batch, Dataset};
use crate::error::{Error, Result};
use crate::layers::Normalization;

impl Normalization {
    /// [`Normalization::adapt`] on a dataset's first input, a batch at a time (Keras's `adapt`
    /// on a dataset): each batch's mean and sum of squared deviations, in double precision,
    /// merged into the running ones (Chan, Golub and LeVeque's pairwise update), so memory is
    /// one batch whatever the dataset's size. `steps` bounds the batches read (Keras's
    /// `steps`); an endless dataset needs it.
    ///
    /// # Errors
    /// As [`Normalization::adapt`]; the dataset's errors reading a batch; an endless dataset
    /// without `steps`.
    pub fn adapt_dataset(&mut self, data: &dyn Dataset, steps: Option<usize>) -> Result<()> {
        let spec = data.spec();
        let what = "the dataset to adapt Normalization to";
        let sample = spec.inputs.first().ok_or(Error::Empty { what: what.into() })?;
        let f = match sample.last() {
            Some(&f) if f > 0 => f,
            _ => return Err(Error::shape(what, "[samples, features…]", sample)),
        };
        if self.features() != 0 && f != self.features() {
            let expected = format!("{} features on the last axis, as the layer has", self.features());
            return Err(Error::shape(what, expected, sample));
        }
        let batches = match (data.num_batches(), steps) {
            (Some(b), s) => b.min(s.unwrap_or(usize::MAX)),
            (None, Some(s)) => s,
            (None, None) => {
                return Err(Error::invalid("steps", "not given", "a number of batches for an endless dataset"))
            }
        };
        let mut batch = Batch::new(&spec);
        let (mut count, mut mean, mut m2) = (0f64, vec![0f64; f], vec![0f64; f]);
        let (mut bmean, mut bm2) = (vec![0f64; f], vec![0f64; f]);
        for index in 0..batches {
            data.fill(index, &mut batch).map_err(|e| Error::Batch { index, error: Box::new(e) })?;
            let x = batch.x(0);
            if let Some((i, value)) = x.first_non_finite() {
                return Err(Error::Batch {
                    index,
                    error: Box::new(Error::NonFinite { what: what.into(), index: i, value }),
                });
            }
            let rows = crate::layers::preprocessing::normalization::moments(x.data(), &mut bmean, &mut bm2);
            if rows == 0 {
                continue;
            }
            let n = count + rows as f64;
            for j in 0..f {
                let delta = bmean[j] - mean[j];
                mean[j] += delta * rows as f64 / n;
                m2[j] += bm2[j] + delta * delta * count * rows as f64 / n;
            }
            count = n;
        }
        if count == 0.0 {
            return Err(Error::Empty { what: what.into() });
        }
        self.set_statistics(mean.iter().map(|&m| m as f32).collect(), m2.iter().map(|&s| (s / count) as f32).collect());
        Ok(())
    }
}
