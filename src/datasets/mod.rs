//! Built-in data sets, generated from a seed: nothing is downloaded.
//!
//! | name | task | train / test | classes |
//! |---|---|---|---|
//! | `exam` | the tutorial's mock exam: 100 questions in groups of similar ones, 4 answer choices | 100 / 100 | 4 |
//! | `spirals` | three interleaved spiral arms in the plane | 1500 / 1500 | 3 |
//! | `moons` | two interleaving half circles, as scikit-learn's `make_moons` | 1000 / 1000 | 2 |
//! | `blobs` | isotropic Gaussian blobs, as scikit-learn's `make_blobs` | 1002 / 1002 | 3 |
//!
//! [`write_topics`] writes a generated text corpus (three topics) as class folders of `.txt`
//! files, for `TextVectorization` and the command's text classifier.
//!
//! Labels are class indices (`y` has shape `[n]`), for `sparse_categorical_crossentropy`.
//! Training samples come in random order, so Keras's tail `validation_split` sees every class.

mod blobs;
mod exam;
mod moons;
mod spirals;
mod topics;

pub use topics::write_topics;

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// A data set with a training and a held-out test split.
#[derive(Debug, Clone)]
pub struct TrainTest {
    /// Its name.
    pub name: &'static str,
    /// Training inputs, `[n, features]`.
    pub x_train: Tensor,
    /// Training labels, `[n]`.
    pub y_train: Tensor,
    /// Held-out inputs.
    pub x_test: Tensor,
    /// Held-out labels.
    pub y_test: Tensor,
    /// Number of classes.
    pub num_classes: usize,
}

/// The names [`load`] accepts.
pub const NAMES: &[&str] = &["exam", "spirals", "moons", "blobs"];

/// Generates the data set `name` from `seed`.
///
/// # Errors
/// [`Error::UnknownName`] for a name not in [`NAMES`].
pub fn load(name: &str, seed: u64) -> Result<TrainTest> {
    match name {
        "exam" => Ok(exam::generate(seed)),
        "spirals" => Ok(spirals::generate(seed)),
        "moons" => Ok(moons::generate(seed)),
        "blobs" => Ok(blobs::generate(seed)),
        _ => Err(Error::UnknownName { kind: "dataset", name: name.into(), known: NAMES.to_vec() }),
    }
}

/// Builds `x` (`[n, d]`) and `y` (`[n]`) from samples, in a random order drawn from `rng`.
fn shuffled(mut samples: Vec<(Vec<f32>, usize)>, rng: &mut Rng) -> (Tensor, Tensor) {
    rng.shuffle(&mut samples);
    let d = samples[0].0.len();
    let x: Vec<f32> = samples.iter().flat_map(|(x, _)| x.iter().copied()).collect();
    let y: Vec<f32> = samples.iter().map(|&(_, c)| c as f32).collect();
    (
        Tensor::from_vec(&[samples.len(), d], x).expect("consistent sizes"),
        Tensor::from_vec(&[samples.len()], y).expect("consistent sizes"),
    )
}

/// Splits off the last `fraction` of the samples, after a shuffle drawn from `seed`, as a test
/// set (like scikit-learn's `train_test_split`). Returns `((x_train, y_train), (x_test, y_test))`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a fraction outside (0, 1) or one that leaves a side empty.
pub fn train_test_split(
    x: &Tensor,
    y: &Tensor,
    fraction: f64,
    seed: u64,
) -> Result<((Tensor, Tensor), (Tensor, Tensor))> {
    let n = x.batch();
    if y.batch() != n {
        return Err(Error::SampleCount { x: n, y: y.batch() });
    }
    let (train, held) = train_test_rows(n, fraction, seed)?;
    Ok(((x.select_rows(&train), y.select_rows(&train)), (x.select_rows(&held), y.select_rows(&held))))
}

/// The rows [`train_test_split`] puts on each side, `(train, test)`, for `n` samples: the
/// same `n`, `fraction` and `seed` give the same rows, so a test split can be found again
/// from these three numbers.
///
/// # Errors
/// As [`train_test_split`].
pub fn train_test_rows(n: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let test = (n as f64 * fraction).round() as usize;
    if !(fraction > 0.0 && fraction < 1.0) || test == 0 || test == n {
        return Err(Error::invalid(
            "test_split",
            fraction,
            format!("a fraction in (0, 1) leaving samples on both sides of {n}"),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 0x7E57).shuffle(&mut order);
    let held = order.split_off(n - test);
    Ok((order, held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_is_seeded_balanced_and_finite() {
        for &name in NAMES {
            let a = load(name, 3).unwrap();
            let b = load(name, 3).unwrap();
            assert_eq!(a.x_train, b.x_train, "{name} not deterministic");
            assert_ne!(a.x_train, load(name, 4).unwrap().x_train, "{name} ignores the seed");
            assert_ne!(a.x_train, a.x_test, "{name}: test split equals train split");
            assert!(a.x_train.first_non_finite().is_none());
            for y in [&a.y_train, &a.y_test] {
                let mut counts = vec![0usize; a.num_classes];
                y.data().iter().for_each(|&c| counts[c as usize] += 1);
                let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(*min > 0 && max - min <= y.batch() / 10, "{name} unbalanced: {counts:?}");
            }
        }
        assert!(load("mnist", 0).is_err());
    }
}
