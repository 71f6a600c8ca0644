//! The accuracies: the (weighted) fraction of samples predicted right, by several rules.

use super::{Direction, Mean, Metric};
use crate::tensor::{kernels::argmax, Tensor};

/// How a prediction counts as right.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Keras's `"accuracy"`: binary, sparse or categorical, resolved from the shapes (below).
    Auto,
    /// `p > threshold` against `y` (per value, averaged over the row).
    Binary {
        /// The decision threshold (Keras's default 0.5).
        threshold: f32,
    },
    /// `argmax p == argmax y`.
    Categorical,
    /// `argmax p == y` for an integer label `y`.
    SparseCategorical,
    /// The target class (one-hot) is among the `k` highest scores.
    TopK {
        /// How many of the highest scores count (Keras's default 5).
        k: usize,
    },
    /// The target class (an integer label) is among the `k` highest scores.
    SparseTopK {
        /// How many of the highest scores count (Keras's default 5).
        k: usize,
    },
}

/// The (weighted) fraction of samples predicted right.
///
/// With [`Rule::Auto`], as Keras resolves the string `"accuracy"`:
///
/// - predictions with one value per sample: **binary** — `p > 0.5` against `y > 0.5`;
/// - targets with one value per sample, predictions with `k > 1`: **sparse** — `argmax p == y`;
/// - otherwise **categorical** — `argmax p == argmax y`.
///
/// Top-k counts the target in the top `k` when fewer than `k` scores are strictly larger than
/// its own, so ties at the boundary count as in (TensorFlow's `in_top_k`).
#[derive(Debug, Clone)]
pub struct Accuracy {
    name: String,
    rule: Rule,
    mean: Mean,
}

impl Accuracy {
    /// An accuracy metric reported as `accuracy`.
    pub fn new() -> Self {
        Accuracy::named("accuracy")
    }

    /// An accuracy metric reported under `name`.
    pub fn named(name: &str) -> Self {
        Accuracy::with_rule(name, Rule::Auto)
    }

    /// An accuracy by `rule`, reported under `name`.
    pub fn with_rule(name: &str, rule: Rule) -> Self {
        Accuracy { name: name.into(), rule, mean: Mean::default() }
    }

    /// The key in logs and the History (Keras's `name=`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }
}

impl Default for Accuracy {
    fn default() -> Self {
        Accuracy::new()
    }
}

/// 1 when row `p` (against `t`) is right by `rule`, else 0; a fraction for binary rows.
fn score(rule: Rule, p: &[f32], t: &[f32]) -> f64 {
    let hit = |b: bool| if b { 1.0 } else { 0.0 };
    let in_top = |c: usize, k: usize| c < p.len() && p.iter().filter(|&&v| v > p[c]).count() < k;
    match rule {
        Rule::Auto if p.len() == 1 => hit((p[0] > 0.5) == (t[0] > 0.5)),
        Rule::Auto if t.len() == 1 => hit(argmax(p) == t[0] as usize),
        Rule::Auto | Rule::Categorical => hit(argmax(p) == argmax(t)),
        Rule::SparseCategorical => hit(argmax(p) == t[0] as usize),
        Rule::Binary { threshold } => {
            let right = p.iter().zip(t).filter(|(&p, &y)| (if p > threshold { 1.0 } else { 0.0 }) == y).count();
            right as f64 / p.len().max(1) as f64
        }
        Rule::TopK { k } => hit(in_top(argmax(t), k)),
        Rule::SparseTopK { k } => hit(in_top(t[0] as usize, k)),
    }
}

/// Number of samples predicted right in one batch (Keras's `"accuracy"` rule).
pub fn count_correct(pred: &Tensor, target: &Tensor) -> usize {
    (0..pred.batch()).filter(|&i| score(Rule::Auto, pred.row(i), target.row(i)) == 1.0).count()
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        &self.name
    }
    fn direction(&self) -> Direction {
        Direction::Maximize
    }
    fn update(&mut self, pred: &Tensor, target: &Tensor, weights: Option<&[f32]>) {
        for i in 0..pred.batch() {
            let w = weights.map_or(1.0, |w| w[i] as f64);
            self.mean.add(w * score(self.rule, pred.row(i), target.row(i)), w);
        }
    }
    fn result(&self) -> f64 {
        self.mean.result()
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
    fn state_len(&self) -> Option<usize> {
        Some(2)
    }
    fn save_state(&self, out: &mut [f64]) {
        self.mean.save(out)
    }
    fn load_state(&mut self, state: &[f64]) {
        self.mean.load(state)
    }
    fn config(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"class_name": "Accuracy", "config": {"name": self.name, "rule": self.rule}}))
    }
}
