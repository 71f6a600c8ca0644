//! summary(), parameter counts, initializer defaults and ndarray interop.

use minibatch::layers::{ActivationLayer, Dense, Dropout, Flatten};
use minibatch::{FitOptions, Sequential, Tensor};

#[test]
fn summary_is_a_keras_table_with_totals() {
    let mut m = Sequential::new()
        .input_shape(&[28, 28])
        .add(Flatten::new())
        .add(Dense::new(512).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(10))
        .add(ActivationLayer::new("softmax"));
    m.compile("rmsprop", "categorical_crossentropy", &["accuracy"]).unwrap();
    let s = m.summary().unwrap();
    // Keras's MNIST MLP: 784·512+512 + 512·512+512 + 512·10+10 = 669,706 parameters.
    assert_eq!(m.count_params(), 669_706);
    for needle in [
        "flatten (Flatten)",
        "(None, 784)",
        "dense (Dense)",
        "dense_1 (Dense)",
        "dropout (Dropout)",
        "401,920",
        "activation (Activation)",
        "Total params: 669,706",
    ] {
        assert!(s.contains(needle), "summary lacks {needle:?}:\n{s}");
    }
}

#[test]
fn summary_columns_fit_long_names_and_count_the_optimizer_as_keras() {
    // Names up to 60 characters stay in line: every row of the table is as wide as the rules.
    for len in [27, 28, 45, 60] {
        let name: String = "max_pooling2d_1_".chars().cycle().take(len).collect();
        let mut m = Sequential::new()
            .named("a_model")
            .input_shape(&[2])
            .add(Dense::new(64).activation("relu").name(&name))
            .add(Dense::new(3).activation("softmax"));
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let s = m.summary().unwrap();
        assert!(s.starts_with("Model: \"a_model\"\n"), "{s}");
        let table: Vec<&str> = s.lines().skip(1).take_while(|l| !l.starts_with(' ')).collect();
        let widths: Vec<usize> = table.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "aligned with a {len}-character name:\n{s}");
        assert!(s.contains(&format!("{name} (Dense)")), "the whole name is shown:\n{s}");
        // The column borders line up too.
        let bars = |l: &str| -> Vec<usize> {
            l.chars().enumerate().filter(|(_, c)| "┃│┳╇┴┏┡└┓┩┘".contains(*c)).map(|(i, _)| i).collect()
        };
        assert!(table.iter().all(|l| bars(l) == bars(table[0]) && bars(l).len() == 4), "{s}");
    }
    // Keras 3.15 (jax), the same model after one fit with Adam: "Total params: 1,163 (4.54
    // KB)", "Trainable params: 387", "Optimizer params: 776 (3.03 KB)" (two slots per weight,
    // the iteration count and the learning rate); no optimizer line before it has state.
    let mut m = Sequential::new()
        .input_shape(&[2])
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    assert!(!m.summary().unwrap().contains("Optimizer params"));
    let x = Tensor::from_vec(&[32, 2], (0..64).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let y = Tensor::from_vec(&[32], (0..32).map(|i| (i % 3) as f32).collect()).unwrap();
    m.fit(&x, &y, FitOptions::new().epochs(1).verbose(0)).unwrap();
    let s = m.summary().unwrap();
    for needle in
        [" Total params: 1,163 (4.54 KB)\n", " Trainable params: 387 (1.51 KB)\n", " Optimizer params: 776 (3.03 KB)\n"]
    {
        assert!(s.contains(needle), "{needle:?}:\n{s}");
    }
}

#[test]
fn dense_defaults_are_glorot_uniform_and_zero_bias() {
    let mut m = Sequential::new().input_shape(&[300]).add(Dense::new(100));
    m.build(&[300]).unwrap();
    let w = m.get_weights();
    let limit = (6.0f32 / 400.0).sqrt();
    assert!(w[0].data().iter().all(|v| v.abs() <= limit));
    assert!(w[0].data().iter().any(|v| v.abs() > 0.9 * limit));
    assert!(w[1].data().iter().all(|&v| v == 0.0));
    assert_eq!(w[0].shape(), &[300, 100], "kernel is [in, out] as in Keras");
}

#[test]
fn ndarray_arrays_in_and_out() {
    let x = ndarray::Array2::from_shape_fn((20, 3), |(i, j)| ((i * 3 + j) % 7) as f32 / 7.0);
    let y = ndarray::Array1::from_shape_fn(20, |i| (i % 2) as f32);
    let (x, y) = (Tensor::try_from(x).unwrap(), Tensor::try_from(y).unwrap());
    let mut m = Sequential::new().add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    m.fit(&x, &y, FitOptions::new().verbose(0)).unwrap();
    let pred: ndarray::ArrayD<f32> = m.predict(&x, 8).unwrap().into();
    assert_eq!(pred.shape(), &[20, 2]);
    for row in pred.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
    // a transposed (non-standard layout) view converts in logical order
    let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
    let t = Tensor::try_from(a.t().into_dyn()).unwrap();
    assert_eq!(t.data(), &[1.0, 3.0, 2.0, 4.0]);
    assert_eq!(t.view(), a.t().into_dyn());
}

#[test]
fn predict_matches_evaluate_and_is_batch_size_independent() {
    let data = minibatch::datasets::load("blobs", 0).unwrap();
    let mut m = Sequential::new().add(Dense::new(8).activation("relu")).add(Dense::new(3).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m.fit(&data.x_train, &data.y_train, FitOptions::new().epochs(2).verbose(0)).unwrap();
    // Batch size changes only the GEMM's blocking, hence at most rounding.
    let a = m.predict(&data.x_test, 7).unwrap();
    let b = m.predict(&data.x_test, 1000).unwrap();
    assert!(a.data().iter().zip(b.data()).all(|(p, q)| (p - q).abs() < 1e-5));
    assert_eq!(a.argmax_rows(), b.argmax_rows());
    let correct = a.argmax_rows().iter().zip(data.y_test.data()).filter(|(p, &y)| **p == y as usize).count();
    let acc = m.evaluate(&data.x_test, &data.y_test, 50).unwrap().get("accuracy").unwrap();
    assert_eq!(acc, correct as f64 / data.y_test.batch() as f64);
}
