//! Counts at evenly spaced thresholds, as Keras's `update_confusion_matrix_variables` keeps
//! them when its thresholds are distributed evenly (behind [`super::Auc`] and
//! [`super::OperatingPoint`]).
//!
//! With `N` thresholds `t_i = i / (N − 1)` (Keras puts `−ε` and `1 + ε`, or 0 and 1, at the
//! ends), a prediction clipped to `[0, 1]` falls in bucket `max(⌈p (N − 1)⌉ − 1, 0)`: it
//! counts as above every threshold up to its bucket's. So the weighted true positives at
//! threshold `i` are the positives in buckets `≥ i`, and likewise the false positives; the
//! false negatives and true negatives are the rest. Targets `y ≠ 0` are positive.

/// Weighted positives and negatives per bucket.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    positives: Vec<f64>,
    negatives: Vec<f64>,
}

/// The four counts at one threshold.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub tp: f64,
    pub fp: f64,
    pub tn: f64,
    pub fn_: f64,
}

impl Buckets {
    /// `n` buckets (at least 2).
    pub fn new(n: usize) -> Self {
        let n = n.max(2);
        Buckets { positives: vec![0.0; n], negatives: vec![0.0; n] }
    }

    /// The number of thresholds.
    pub fn len(&self) -> usize {
        self.positives.len()
    }

    /// Adds prediction `p` of target `y` with weight `w`.
    pub fn add(&mut self, p: f32, y: f32, w: f64) {
        let scale = (self.positives.len() - 1) as f32;
        let bucket = ((p.clamp(0.0, 1.0) * scale).ceil() - 1.0).max(0.0) as usize;
        if y != 0.0 {
            self.positives[bucket] += w;
        } else {
            self.negatives[bucket] += w;
        }
    }

    /// The counts at every threshold, from the highest (`N − 1`) down to 0.
    pub fn descending(&self) -> impl Iterator<Item = (usize, Counts)> + '_ {
        let total_p: f64 = self.positives.iter().sum();
        let total_n: f64 = self.negatives.iter().sum();
        let (mut tp, mut fp) = (0.0, 0.0);
        (0..self.len()).rev().map(move |i| {
            tp += self.positives[i];
            fp += self.negatives[i];
            (i, Counts { tp, fp, tn: total_n - fp, fn_: total_p - tp })
        })
    }

    /// Empties it.
    pub fn reset(&mut self) {
        self.positives.fill(0.0);
        self.negatives.fill(0.0);
    }

    /// The numbers of the state: twice the buckets.
    pub fn state_len(&self) -> usize {
        self.positives.len() * 2
    }

    /// Writes the state.
    pub fn save(&self, out: &mut [f64]) {
        super::save_columns(&[&self.positives, &self.negatives], out)
    }

    /// Reads a state (or a sum of states).
    pub fn load(&mut self, state: &[f64]) {
        super::load_columns(&mut [&mut self.positives, &mut self.negatives], state)
    }
}

/// `a / b`, 0 where `b` is 0 (Keras's `divide_no_nan`).
pub(crate) fn divide_no_nan(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}
