//! `moons`: two interleaving half circles, as scikit-learn's `make_moons(noise=0.1)`.
//!
//! The outer moon is `(cos t, sin t)`, the inner `(1 − cos t, 0.5 − sin t)`, `t ∈ [0, π]`, with
//! Gaussian noise of standard deviation 0.1 on each coordinate.

use super::{shuffled, TrainTest};
use crate::rng::Rng;

const PER_MOON: usize = 500;
const NOISE: f64 = 0.1;

fn points(rng: &mut Rng) -> Vec<(Vec<f32>, usize)> {
    let mut out = Vec::with_capacity(2 * PER_MOON);
    for i in 0..PER_MOON {
        let t = std::f64::consts::PI * i as f64 / (PER_MOON - 1) as f64;
        let (x0, y0) = (t.cos(), t.sin());
        let (x1, y1) = (1.0 - t.cos(), 0.5 - t.sin());
        out.push((vec![(x0 + NOISE * rng.normal()) as f32, (y0 + NOISE * rng.normal()) as f32], 0));
        out.push((vec![(x1 + NOISE * rng.normal()) as f32, (y1 + NOISE * rng.normal()) as f32], 1));
    }
    out
}

pub fn generate(seed: u64) -> TrainTest {
    let mut rng = Rng::derive(seed, 0x3005);
    let (x_train, y_train) = shuffled(points(&mut rng), &mut rng);
    let (x_test, y_test) = shuffled(points(&mut rng), &mut rng);
    TrainTest { name: "moons", x_train, y_train, x_test, y_test, num_classes: 2 }
}
