//! Is a difference real? Runs repeated over seeds: [`Spread`] and [`compare`].

/// Student's t at 97.5% (a two-sided 95% interval) for 1 to 30 degrees of freedom; beyond, the
/// normal's 1.96 is within 2%.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// Student's t quantile at 97.5% for `df` degrees of freedom (rounded down; at least 1).
fn t_975(df: f64) -> f64 {
    let k = df.floor().max(1.0) as usize;
    T_975.get(k - 1).copied().unwrap_or(1.96)
}

/// The mean of one figure over seeds and its 95% confidence interval, `mean ± half_width`
/// (Student's t with `n − 1` degrees of freedom).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spread {
    /// The runs.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (`n − 1` in the denominator).
    pub std: f64,
    /// Half the 95% interval of the mean: `t · std / √n`.
    pub half_width: f64,
}

impl Spread {
    /// The spread of `values` (finite ones; `None` for fewer than 2).
    ///
    /// ```
    /// let s = minibatch::lab::Spread::of(&[1.0, 2.0, 3.0]).unwrap();
    /// assert_eq!((s.mean, s.std), (2.0, 1.0));
    /// assert!((s.half_width - 4.303 / 3f64.sqrt()).abs() < 1e-9);
    /// ```
    pub fn of(values: &[f64]) -> Option<Spread> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n < 2 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt();
        Some(Spread { n, mean, std, half_width: t_975((n - 1) as f64) * std / (n as f64).sqrt() })
    }
}

/// Whether two configurations' figures differ beyond their seeds' noise: Welch's t-test at
/// the 5% level (unequal variances; Welch–Satterthwaite degrees of freedom).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Welch's t of `a − b`.
    pub t: f64,
    /// Its degrees of freedom.
    pub df: f64,
    /// `|t|` is at least the 97.5% quantile: the difference is not seed noise (p < 0.05).
    pub different: bool,
}

/// [`Comparison`] of two spreads. Two sets of runs with no spread at all differ when their
/// means do.
///
/// ```
/// use minibatch::lab::{compare, Spread};
/// let a = Spread::of(&[1.0, 1.1, 0.9, 1.05]).unwrap();
/// let b = Spread::of(&[2.0, 2.1, 1.9, 2.05]).unwrap();
/// let c = Spread::of(&[1.02, 0.95, 1.08, 0.97]).unwrap();
/// assert!(compare(&a, &b).different);
/// assert!(!compare(&a, &c).different);
/// ```
pub fn compare(a: &Spread, b: &Spread) -> Comparison {
    let (va, vb) = (a.std * a.std / a.n as f64, b.std * b.std / b.n as f64);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Comparison { t: 0.0, df: (a.n + b.n - 2) as f64, different: a.mean != b.mean };
    }
    let t = (a.mean - b.mean) / se;
    let df = (va + vb).powi(2) / (va * va / (a.n as f64 - 1.0) + vb * vb / (b.n as f64 - 1.0));
    Comparison { t, df, different: t.abs() >= t_975(df) }
}
