//! Weight initializers with Keras's names and formulas.
//!
//! `fan_in` and `fan_out` are a kernel's input and output sizes (for a Dense kernel of shape
//! `[in, out]`, `in` and `out`). Keras's defaults: Dense kernels `glorot_uniform`, biases `zeros`.
//!
//! | name | distribution |
//! |---|---|
//! | `glorot_uniform` | U(−l, l), l = √(6 / (fan_in + fan_out)) |
//! | `glorot_normal` | truncated N(0, s), s = √(2 / (fan_in + fan_out)) / 0.8796 |
//! | `he_uniform` / `he_normal` | as above with 6 / fan_in and 2 / fan_in |
//! | `lecun_uniform` / `lecun_normal` | as above with 3 / fan_in and 1 / fan_in |
//! | `random_uniform` | U(−0.05, 0.05) |
//! | `random_normal` | N(0, 0.05) |
//! | `zeros`, `ones`, `constant` | fixed values |
//! | `orthogonal` | a random orthogonal matrix (`gain` 1), Keras's default recurrent kernel |
//!
//! `orthogonal` reads the weight as a matrix of `len / fan_out` rows and `fan_out` columns:
//! it draws a normal matrix with at least as many rows as columns (transposed otherwise),
//! orthonormalizes it (the QR factor with a positive diagonal, as Keras's sign correction
//! makes NumPy's), and scales it by `gain`.

use crate::error::{Error, Result};
use crate::rng::Rng;

/// How a weight tensor gets its first values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class_name", content = "config", rename_all = "snake_case")]
pub enum Initializer {
    /// Keras's default kernel initializer.
    GlorotUniform,
    /// Truncated normal scaled by fan-in plus fan-out.
    GlorotNormal,
    /// Uniform scaled by fan-in, for ReLU networks.
    HeUniform,
    /// Truncated normal scaled by fan-in, for ReLU networks.
    HeNormal,
    /// Uniform scaled by fan-in, for SELU networks.
    LecunUniform,
    /// Truncated normal scaled by fan-in.
    LecunNormal,
    /// Uniform in `[minval, maxval)`; Keras's defaults are −0.05 and 0.05.
    RandomUniform {
        /// Lower bound.
        minval: f32,
        /// Upper bound.
        maxval: f32,
    },
    /// Normal with the given mean and standard deviation; Keras's defaults are 0 and 0.05.
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// All zeros (Keras's default bias initializer).
    Zeros,
    /// All ones.
    Ones,
    /// Every value the same.
    Constant(f32),
    /// A random orthogonal matrix times `gain` (Keras's default 1).
    Orthogonal {
        /// The scale.
        gain: f32,
    },
}

/// The names [`Initializer::from_name`] accepts.
pub const NAMES: &[&str] = &[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_uniform",
    "random_normal",
    "zeros",
    "ones",
    "orthogonal",
];

/// Keras's correction for truncating a standard normal at two standard deviations.
const TRUNCATED_STDDEV: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// The initializer Keras calls `name`, with Keras's defaults.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a name not in [`NAMES`].
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "glorot_uniform" => Initializer::GlorotUniform,
            "glorot_normal" => Initializer::GlorotNormal,
            "he_uniform" => Initializer::HeUniform,
            "he_normal" => Initializer::HeNormal,
            "lecun_uniform" => Initializer::LecunUniform,
            "lecun_normal" => Initializer::LecunNormal,
            "random_uniform" => Initializer::RandomUniform { minval: -0.05, maxval: 0.05 },
            "random_normal" => Initializer::RandomNormal { mean: 0.0, stddev: 0.05 },
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "orthogonal" => Initializer::Orthogonal { gain: 1.0 },
            _ => return Err(Error::UnknownName { kind: "initializer", name: name.into(), known: NAMES.to_vec() }),
        })
    }

    /// Fills `w` for a kernel with the given fans.
    pub fn fill(&self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let uniform = |w: &mut [f32], limit: f64, rng: &mut Rng| {
            w.iter_mut().for_each(|v| *v = rng.uniform(-limit, limit) as f32)
        };
        let truncated = |w: &mut [f32], variance: f64, rng: &mut Rng| {
            let s = variance.sqrt() / TRUNCATED_STDDEV;
            w.iter_mut().for_each(|v| *v = (s * rng.truncated_normal()) as f32)
        };
        match *self {
            Initializer::GlorotUniform => uniform(w, (6.0 / (fi + fo)).sqrt(), rng),
            Initializer::GlorotNormal => truncated(w, 2.0 / (fi + fo), rng),
            Initializer::HeUniform => uniform(w, (6.0 / fi).sqrt(), rng),
            Initializer::HeNormal => truncated(w, 2.0 / fi, rng),
            Initializer::LecunUniform => uniform(w, (3.0 / fi).sqrt(), rng),
            Initializer::LecunNormal => truncated(w, 1.0 / fi, rng),
            Initializer::RandomUniform { minval, maxval } => {
                w.iter_mut().for_each(|v| *v = rng.uniform(minval as f64, maxval as f64) as f32)
            }
            Initializer::RandomNormal { mean, stddev } => {
                w.iter_mut().for_each(|v| *v = mean + stddev * rng.normal() as f32)
            }
            Initializer::Zeros => w.fill(0.0),
            Initializer::Ones => w.fill(1.0),
            Initializer::Constant(c) => w.fill(c),
            Initializer::Orthogonal { gain } => orthogonal(w, fan_out.max(1), gain, rng),
        }
    }
}

/// Fills `w`, read as `len / cols` rows of `cols`, with a random orthogonal matrix times `gain`:
/// modified Gram–Schmidt on the columns of a tall normal matrix (the QR factor with positive
/// diagonal), transposed when the weight is wide.
fn orthogonal(w: &mut [f32], cols: usize, gain: f32, rng: &mut Rng) {
    let rows = w.len() / cols;
    let (m, n) = (rows.max(cols), rows.min(cols));
    // `a` holds n columns of length m, column-major.
    let mut a: Vec<f64> = (0..m * n).map(|_| rng.normal()).collect();
    for j in 0..n {
        for k in 0..j {
            let (done, rest) = a.split_at_mut(j * m);
            let q = &done[k * m..(k + 1) * m];
            let col = &mut rest[..m];
            let dot: f64 = q.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
            col.iter_mut().zip(q).for_each(|(c, q)| *c -= dot * q);
        }
        let col = &mut a[j * m..(j + 1) * m];
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        col.iter_mut().for_each(|v| *v /= norm);
    }
    for r in 0..rows {
        for c in 0..cols {
            // Tall (rows ≥ cols): w[r][c] = Q[r][c]; wide: w = Qᵀ, w[r][c] = Q[c][r].
            let q = if rows >= cols { a[c * m + r] } else { a[r * m + c] };
            w[r * cols + c] = (gain as f64 * q) as f32;
        }
    }
}

/// Something that names an initializer: an [`Initializer`] or Keras's string name.
pub trait IntoInitializer {
    /// Resolves the name.
    fn into_initializer(self) -> Result<Initializer>;
}

impl IntoInitializer for Initializer {
    fn into_initializer(self) -> Result<Initializer> {
        Ok(self)
    }
}

impl IntoInitializer for &str {
    fn into_initializer(self) -> Result<Initializer> {
        Initializer::from_name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(init: Initializer, fan_in: usize, fan_out: usize) -> (f64, f64, f64) {
        let mut w = vec![0.0; 100_000];
        init.fill(&mut w, fan_in, fan_out, &mut Rng::new(1));
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let max = w.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
        (mean, var, max)
    }

    #[test]
    fn variances_follow_keras_formulas() {
        // Every scaled initializer targets variance `scale / fan` (uniform: limit² / 3).
        let cases = [
            (Initializer::GlorotUniform, 2.0 / 300.0),
            (Initializer::GlorotNormal, 2.0 / 300.0),
            (Initializer::HeUniform, 2.0 / 100.0),
            (Initializer::HeNormal, 2.0 / 100.0),
            (Initializer::LecunUniform, 1.0 / 100.0),
            (Initializer::LecunNormal, 1.0 / 100.0),
        ];
        for (init, want) in cases {
            let (mean, var, _) = stats(init, 100, 200);
            assert!(mean.abs() < 0.002, "{init:?} mean {mean}");
            assert!((var / want - 1.0).abs() < 0.03, "{init:?} variance {var}, want {want}");
        }
        let (_, _, max) = stats(Initializer::GlorotUniform, 100, 200);
        assert!(max <= (6.0f64 / 300.0).sqrt());
        let (_, _, max) = stats(Initializer::HeNormal, 100, 200);
        assert!(max <= 2.0 * (2.0f64 / 100.0).sqrt() / TRUNCATED_STDDEV + 1e-6);
    }

    #[test]
    fn orthogonal_gives_orthonormal_rows_or_columns() {
        for (rows, cols) in [(6, 6), (8, 3), (3, 8)] {
            let mut w = vec![0.0; rows * cols];
            Initializer::Orthogonal { gain: 2.0 }.fill(&mut w, rows, cols, &mut Rng::new(4));
            // The smaller side's vectors are orthogonal with norm `gain`.
            // Value `i` of vector `v`: columns of a tall matrix, rows of a wide one.
            let tall = rows >= cols;
            let (n, m) = if tall { (cols, rows) } else { (rows, cols) };
            let at = |v: usize, i: usize| if tall { w[i * cols + v] as f64 } else { w[v * cols + i] as f64 };
            for a in 0..n {
                for b in 0..n {
                    let dot: f64 = (0..m).map(|i| at(a, i) * at(b, i)).sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5, "{rows}x{cols}: <{a},{b}> = {dot}");
                }
            }
        }
    }

    #[test]
    fn constants_and_names() {
        let mut w = vec![9.0; 3];
        Initializer::from_name("zeros").unwrap().fill(&mut w, 1, 1, &mut Rng::new(0));
        assert_eq!(w, vec![0.0; 3]);
        Initializer::Constant(2.5).fill(&mut w, 1, 1, &mut Rng::new(0));
        assert_eq!(w, vec![2.5; 3]);
        assert!(matches!(Initializer::from_name("glorot"), Err(Error::UnknownName { .. })));
    }
}
