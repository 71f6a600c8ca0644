//! Same seed and thread count: the same History, bit for bit.

use minibatch::layers::{Dense, Dropout};
use minibatch::{datasets, FitOptions, Sequential};

/// The History's values and the final weights, as raw bits.
type Bits = (Vec<(String, Vec<u64>)>, Vec<Vec<u32>>);

fn run(seed: u64) -> Bits {
    let data = datasets::load("moons", 5).unwrap();
    let mut m = Sequential::new()
        .seed(seed)
        .add(Dense::new(32).activation("relu"))
        .add(Dropout::new(0.3))
        .add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m
        .fit(&data.x_train, &data.y_train, FitOptions::new().batch_size(16).epochs(3).validation_split(0.2).verbose(0))
        .unwrap();
    let bits = h.history.iter().map(|(k, v)| (k.clone(), v.iter().map(|x| x.to_bits()).collect())).collect();
    let weights = m.get_weights().iter().map(|w| w.data().iter().map(|x| x.to_bits()).collect()).collect();
    (bits, weights)
}

#[test]
fn same_seed_same_history_and_weights_bit_for_bit() {
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0, "the seed matters");
}
