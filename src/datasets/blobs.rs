//! `blobs`: isotropic Gaussian blobs, as scikit-learn's `make_blobs(centers=3, n_features=2,
//! cluster_std=1.0, center_box=(-10, 10))`. Train and test share the centres.

use super::{shuffled, TrainTest};
use crate::rng::Rng;

const CENTERS: usize = 3;
const PER_CENTER: usize = 334;
const STD: f64 = 1.0;

pub fn generate(seed: u64) -> TrainTest {
    let mut rng = Rng::derive(seed, 0xB10B);
    let centers: Vec<[f64; 2]> = (0..CENTERS).map(|_| [rng.uniform(-10.0, 10.0), rng.uniform(-10.0, 10.0)]).collect();
    let points = |rng: &mut Rng| {
        let mut out = Vec::new();
        for (k, c) in centers.iter().enumerate() {
            for _ in 0..PER_CENTER {
                out.push((vec![(c[0] + STD * rng.normal()) as f32, (c[1] + STD * rng.normal()) as f32], k));
            }
        }
        shuffled(out, rng)
    };
    let (x_train, y_train) = points(&mut rng);
    let (x_test, y_test) = points(&mut rng);
    TrainTest { name: "blobs", x_train, y_train, x_test, y_test, num_classes: CENTERS }
}
