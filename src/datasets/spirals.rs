//! `spirals`: three spiral arms winding out from the origin, one class each.
//!
//! Arm `k` at radius `r ∈ [0.05, 1]` lies at angle `θ = 2πk/3 + 6 r + ε` (about one full turn),
//! with `ε` normal noise of standard deviation 0.3 rad; a point is `(r sin θ, r cos θ)`. Arms
//! lie 2.1 rad apart, so about one point in a hundred falls nearer another arm: a small MLP
//! reaches about 98–99% on the test split, not 100%.

use super::{shuffled, TrainTest};
use crate::rng::Rng;

const ARMS: usize = 3;
const PER_ARM: usize = 500;
const TURN: f64 = 6.0;
const NOISE: f64 = 0.3;

fn points(rng: &mut Rng) -> Vec<(Vec<f32>, usize)> {
    let mut out = Vec::with_capacity(ARMS * PER_ARM);
    for k in 0..ARMS {
        for _ in 0..PER_ARM {
            let r = rng.next_f64().sqrt() * 0.95 + 0.05;
            let t = std::f64::consts::TAU * k as f64 / ARMS as f64 + TURN * r + NOISE * rng.normal();
            out.push((vec![(r * t.sin()) as f32, (r * t.cos()) as f32], k));
        }
    }
    out
}

pub fn generate(seed: u64) -> TrainTest {
    let mut rng = Rng::derive(seed, 0x5919);
    let (x_train, y_train) = shuffled(points(&mut rng), &mut rng);
    let (x_test, y_test) = shuffled(points(&mut rng), &mut rng);
    TrainTest { name: "spirals", x_train, y_train, x_test, y_test, num_classes: ARMS }
}
