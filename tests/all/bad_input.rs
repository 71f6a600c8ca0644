//! Bad input gives an error that names the problem and the values — never a panic.

use minibatch::layers::{Dense, Dropout};
use minibatch::{Error, FitOptions, Sequential, Tensor};

fn model() -> Sequential {
    let mut m = Sequential::new().add(Dense::new(4).activation("relu")).add(Dense::new(3).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

fn xy(n: usize) -> (Tensor, Tensor) {
    let x = Tensor::from_vec(&[n, 2], (0..2 * n).map(|i| i as f32 / 10.0).collect()).unwrap();
    let y = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    (x, y)
}

fn quiet<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(0)
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn sample_counts_must_match() {
    let (x, _) = xy(10);
    let (_, y) = xy(9);
    let e = model().fit(&x, &y, quiet()).unwrap_err();
    assert_eq!(e, Error::SampleCount { x: 10, y: 9 });
    assert!(message(e).contains("10") && message(Error::SampleCount { x: 10, y: 9 }).contains("9"));
}

#[test]
fn inputs_must_fit_the_model() {
    let mut m = Sequential::new().input_shape(&[3]).add(Dense::new(2));
    m.compile("sgd", "mse", &[]).unwrap();
    let x = Tensor::zeros(&[4, 5]);
    let e = m.fit(&x, &Tensor::zeros(&[4, 2]), quiet()).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    assert!(message(e).contains("[3]"));
    let e = m.predict(&x, 2).unwrap_err();
    assert!(message(e).contains("[4, 5]"));
    // targets of the wrong width for the loss
    let e = m.fit(&Tensor::zeros(&[4, 3]), &Tensor::zeros(&[4, 3]), quiet()).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }) && message(e).contains("mean_squared_error"));
}

#[test]
fn empty_data_is_refused() {
    let x = Tensor::zeros(&[0, 2]);
    let y = Tensor::zeros(&[0]);
    let e = model().fit(&x, &y, quiet()).unwrap_err();
    assert!(matches!(e, Error::Empty { .. }), "{e:?}");
    assert!(matches!(model().predict(&x, 8), Err(Error::Empty { .. })));
}

#[test]
fn batch_size_zero_is_refused() {
    let (x, y) = xy(10);
    let e = model().fit(&x, &y, quiet().batch_size(0)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { name: "batch_size", .. }), "{e:?}");
    assert!(matches!(model().evaluate(&x, &y, 0), Err(Error::InvalidArgument { name: "batch_size", .. })));
    assert!(matches!(model().predict(&x, 0), Err(Error::InvalidArgument { name: "batch_size", .. })));
}

#[test]
fn validation_split_must_be_in_range_and_leave_both_sides() {
    let (x, y) = xy(10);
    for v in [1.0, -0.1, 1.5, f64::NAN] {
        let e = model().fit(&x, &y, quiet().validation_split(v)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { name: "validation_split", .. }), "{v}: {e:?}");
    }
    // Keras splits at floor(n × (1 − v)): 0.01 of 10 still leaves floor(9.9) = 9 | 1.
    assert_eq!(model().fit(&x, &y, quiet().validation_split(0.01)).unwrap().train_samples, 9);
    // 0.95 of 10 leaves floor(0.5) = 0 training samples; 1e-18 leaves no validation sample.
    for v in [0.95, 1e-18] {
        let e = model().fit(&x, &y, quiet().validation_split(v)).unwrap_err();
        assert!(message(e).contains("both sides"), "{v}");
    }
}

#[test]
fn non_finite_values_are_named() {
    let (mut x, y) = xy(10);
    x.data_mut()[7] = f32::NAN;
    let e = model().fit(&x, &y, quiet()).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 7, .. }), "{e:?}");
    x.data_mut()[7] = f32::INFINITY;
    assert!(message(model().fit(&x, &y, quiet()).unwrap_err()).contains("inf"));
    let (x, mut y) = xy(10);
    y.data_mut()[3] = f32::NEG_INFINITY;
    assert!(matches!(model().fit(&x, &y, quiet()), Err(Error::NonFinite { index: 3, .. })));
    let (mut vx, vy) = xy(4);
    vx.data_mut()[0] = f32::NAN;
    let e = model().fit(&x.clone(), &xy(10).1, quiet().validation_data(&vx, &vy)).unwrap_err();
    assert!(message(e).contains("validation"));
}

#[test]
fn labels_out_of_range_for_the_loss() {
    let (x, mut y) = xy(10);
    y.data_mut()[4] = 3.0; // 3 classes: 0..3
    let e = model().fit(&x, &y, quiet()).unwrap_err();
    assert!(matches!(e, Error::Label { sample: 4, .. }), "{e:?}");
    assert!(message(e).contains("[0, 3)"));
    y.data_mut()[4] = 1.5;
    assert!(matches!(model().fit(&x, &y, quiet()), Err(Error::Label { sample: 4, .. })));
    y.data_mut()[4] = -1.0;
    assert!(matches!(model().evaluate(&x, &y, 4), Err(Error::Label { .. })));

    let mut bin = Sequential::new().add(Dense::new(1).activation("sigmoid"));
    bin.compile("adam", "binary_crossentropy", &["accuracy"]).unwrap();
    let yb = Tensor::from_vec(&[10, 1], vec![0., 1., 2., 0., 1., 0., 1., 0., 1., 0.]).unwrap();
    assert!(matches!(bin.fit(&x, &yb, quiet()), Err(Error::Label { sample: 2, .. })));
}

#[test]
fn unknown_names_in_compile_list_the_known_ones() {
    let mut m = Sequential::new().add(Dense::new(1));
    let e = m.compile("adma", "mse", &[]).unwrap_err();
    assert!(matches!(&e, Error::UnknownName { kind: "optimizer", .. }));
    assert!(message(e).contains("adam"));
    assert!(matches!(m.compile("adam", "mse_loss", &[]), Err(Error::UnknownName { kind: "loss", .. })));
    assert!(matches!(m.compile("adam", "mse", &["acuracy"]), Err(Error::UnknownName { kind: "metric", .. })));
    let mut bad = Sequential::new().input_shape(&[2]).add(Dense::new(1).activation("relux"));
    assert!(matches!(bad.compile("adam", "mse", &[]), Err(Error::UnknownName { kind: "activation", .. })));
}

#[test]
fn invalid_layer_arguments_and_state() {
    let mut m = Sequential::new().input_shape(&[2]).add(Dropout::new(1.0));
    assert!(matches!(m.compile("adam", "mse", &[]), Err(Error::InvalidArgument { name: "rate", .. })));
    let mut m = Sequential::new().input_shape(&[2]).add(Dense::new(0));
    assert!(matches!(m.compile("adam", "mse", &[]), Err(Error::InvalidArgument { name: "units", .. })));
    // fit before compile
    let (x, y) = xy(4);
    let mut m = Sequential::new().add(Dense::new(3));
    assert!(matches!(m.fit(&x, &y, quiet()), Err(Error::State(_))));
    assert!(Sequential::new().summary().is_err());
    assert!(matches!(model().fit(&x, &y, quiet().verbose(3)), Err(Error::InvalidArgument { name: "verbose", .. })));
    assert!(matches!(model().fit(&x, &y, quiet().validation_freq(0)), Err(Error::InvalidArgument { .. })));
    // a tensor whose data does not fit its shape
    assert!(matches!(Tensor::from_vec(&[2, 3], vec![0.0; 5]), Err(Error::Shape { .. })));
    // set_weights with the wrong shapes changes nothing
    let mut m = model();
    m.build(&[2]).unwrap();
    let before = m.get_weights();
    assert!(m.set_weights(&[Tensor::zeros(&[2, 4])]).is_err());
    assert_eq!(before, m.get_weights());
}

#[test]
fn a_failed_fit_leaves_the_model_untouched() {
    let (x, mut y) = xy(10);
    let mut m = model();
    m.build(&[2]).unwrap();
    let before = m.get_weights();
    y.data_mut()[9] = 7.0;
    assert!(m.fit(&x, &y, quiet()).is_err());
    assert_eq!(before, m.get_weights());
}

#[test]
fn bad_weights_and_optimizer_options_are_named_before_any_update() {
    use minibatch::losses::BuiltinLoss;
    use minibatch::optimizers::{Adam, SGD};
    let (x, y) = xy(6);
    let untouched = |m: &Sequential, before: &[Tensor]| {
        assert_eq!(
            m.get_weights().iter().map(|t| t.data().to_vec()).collect::<Vec<_>>(),
            before.iter().map(|t| t.data().to_vec()).collect::<Vec<_>>()
        );
    };
    let mut m = model();
    m.build(&[2]).unwrap();
    let before = m.get_weights();
    let cases: Vec<(FitOptions, &str)> = vec![
        (quiet().sample_weight(&[1.0; 5]), "6 weights, one per sample"),
        (quiet().sample_weight(&[1.0, 1.0, -2.0, 1.0, 1.0, 1.0]), "-2"),
        (quiet().sample_weight(&[1.0, 1.0, f32::NAN, 1.0, 1.0, 1.0]), "NaN"),
        (quiet().class_weight([(3, 2.0)]), "[0, 3)"),
        (quiet().class_weight([(1, -1.0)]), "-1"),
        (quiet().class_weight([(1, 2.0)]).sample_weight(&[1.0; 6]), "not both"),
        (quiet().steps_per_epoch(0), "steps_per_epoch"),
        (quiet().validation_steps(0), "validation_steps"),
        (quiet().validation_batch_size(0), "validation_batch_size"),
        (quiet().validation_data_weighted(&x, &y, &[1.0; 2]), "6 weights"),
    ];
    for (options, needle) in cases {
        let e = m.fit(&x, &y, options).unwrap_err();
        assert!(message(e.clone()).contains(needle), "{needle}: {e}");
        untouched(&m, &before);
    }
    let mut m = model();
    let e = m.evaluate_with(&x, &y, minibatch::EvaluateOptions::new().sample_weight(&[1.0; 2])).unwrap_err();
    assert!(message(e).contains("6 weights"));
    let e = m.evaluate_with(&x, &y, minibatch::EvaluateOptions::new().steps(0)).unwrap_err();
    assert!(message(e).contains("steps"));
    let e = m.predict_with(&x, minibatch::EvaluateOptions::new().steps(0)).unwrap_err();
    assert!(message(e).contains("steps"));

    // Optimizer options as Keras checks them, at compile.
    let compile = |opt: SGD| model_with(opt).unwrap_err();
    let e = compile(SGD::new(0.1).clipnorm(1.0).clipvalue(0.5));
    assert!(message(e.clone()).contains("only one of clipnorm, clipvalue and global_clipnorm"), "{e}");
    assert!(
        message(e).contains("clipnorm=1")
            && message(compile(SGD::new(0.1).clipnorm(1.0).global_clipnorm(2.0))).contains("global_clipnorm=2")
    );
    for n in [0, 1] {
        let e = compile(SGD::new(0.1).gradient_accumulation_steps(n));
        assert!(message(e.clone()).contains("gradient_accumulation_steps") && message(e).contains(">= 2"));
    }
    assert!(message(compile(SGD::new(0.1).ema(1.5))).contains("ema_momentum"));
    assert!(message(compile(SGD::new(0.1).ema(0.9).ema_overwrite_frequency(0))).contains("ema_overwrite_frequency"));
    assert!(message(compile(SGD::new(0.1).clipnorm(-1.0))).contains("clipnorm"));
    assert!(message(compile(SGD::new(f32::NAN))).contains("learning_rate"));
    assert!(message(model_with(Adam::new(0.1).weight_decay(f32::INFINITY)).unwrap_err()).contains("weight_decay"));

    // Unknown names and bad loss arguments.
    let mut m = model();
    let e = m.compile("adam", "hubber", &[]).unwrap_err();
    assert!(matches!(e, Error::UnknownName { .. }) && message(e).contains("hubber"));
    let e = m.compile("adam", "mse", &["presicion"]).unwrap_err();
    assert!(message(e).contains("presicion"));
    let e = m.compile("adamm", "mse", &[]).unwrap_err();
    assert!(message(e).contains("adamm"));
    let e = m.compile("adam", BuiltinLoss::Huber { delta: -1.0 }, &[]).unwrap_err();
    assert!(message(e).contains("delta"));
    assert!(BuiltinLoss::from_name("categorical_crossentropy").unwrap().label_smoothing(1.5).is_err());
    assert!(BuiltinLoss::from_name("mse").unwrap().label_smoothing(0.1).is_err());
}

fn model_with(opt: impl minibatch::optimizers::IntoOptimizer) -> minibatch::Result<()> {
    let mut m = Sequential::new().add(Dense::new(2));
    m.compile(opt, "mse", &[])
}

#[test]
fn bad_regularizers_and_constraints_are_named_when_the_model_is_built() {
    use minibatch::constraints::{Axes, Constraint};
    use minibatch::regularizers::Regularizer;
    let build = |layer: Dense| {
        let mut m = Sequential::new().add(layer);
        m.build(&[3]).unwrap_err()
    };
    assert!(message(build(Dense::new(2).kernel_regularizer(Regularizer::l2(-0.1)))).contains("l2"));
    assert!(message(build(Dense::new(2).activity_regularizer(Regularizer::l1(f32::NAN)))).contains("l1"));
    let e = build(Dense::new(2).kernel_constraint(Constraint::max_norm(1.0).axis(Axes::One(2))));
    assert!(message(e.clone()).contains("axis") && message(e).contains("[3, 2]"));
    assert!(message(build(Dense::new(2).bias_constraint(Constraint::min_max_norm(2.0, 1.0)))).contains("min_value"));
    assert!(Axes::many(&[0; 9]).is_err());
}

#[test]
fn sequence_layers_name_bad_token_ids_shapes_and_arguments() {
    use minibatch::layers::{Embedding, LayerNormalization, SimpleRNN, LSTM};
    // Token ids outside [0, input_dim) or not integers: named before any work.
    let mut m = Sequential::new().add(Embedding::new(5, 2)).add(LSTM::new(3)).add(Dense::new(2).activation("softmax"));
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let y = Tensor::from_slice(&[0.0, 1.0]);
    for (bad, shown) in [(5.0, "5"), (-1.0, "-1"), (2.5, "2.5")] {
        let x = Tensor::from_vec(&[2, 3], vec![0.0, 1.0, 2.0, 3.0, bad, 4.0]).unwrap();
        let e = m.fit(&x, &y, quiet()).unwrap_err();
        assert!(message(e.clone()).contains(shown) && message(e.clone()).contains("[0, 5)"), "{e}");
        assert!(message(e).contains("sample 1"));
        assert!(m.predict(&x, 2).is_err());
    }
    // A recurrent layer needs (time, features) samples.
    let mut m = Sequential::new().add(LSTM::new(3));
    let e = m.build(&[4]).unwrap_err();
    assert!(message(e).contains("[time, features]"));
    let e = Sequential::new().add(SimpleRNN(0)).build(&[2, 3]).unwrap_err();
    assert!(message(e).contains("units"));
    let e = Sequential::new().add(LSTM::new(2).activation("gelu")).build(&[2, 3]).unwrap_err();
    assert!(message(e).contains("gelu"));
    let e = Sequential::new().add(Embedding::new(0, 2)).build(&[3]).unwrap_err();
    assert!(message(e).contains("input_dim"));
    let e = Sequential::new().add(LayerNormalization::new().epsilon(0.0)).build(&[3]).unwrap_err();
    assert!(message(e).contains("epsilon"));
    use minibatch::layers::MultiHeadAttention;
    let e = Sequential::new().add(MultiHeadAttention::new(2, 4)).build(&[8]).unwrap_err();
    assert!(message(e).contains("[time, features]"));
    let e = Sequential::new().add(MultiHeadAttention::new(0, 4)).build(&[3, 8]).unwrap_err();
    assert!(message(e).contains("num_heads"));
}

/// `prepare_fit` refuses what `fit` refuses, with the same error, and changes nothing: no
/// weight moves, and a `fit` after it trains exactly as one without it.
#[test]
fn prepare_fit_refuses_what_fit_refuses_and_changes_nothing() {
    use minibatch::data::TensorDataset;
    let (x, y) = xy(100);
    let mut m = model();
    m.build(&[2]).unwrap();
    let before = m.get_weights();
    let options = || quiet().batch_size(32).epochs(3).validation_split(0.2);
    let plan = m.prepare_fit(&x, &y, &options()).unwrap();
    assert_eq!(
        plan,
        minibatch::training::FitPlan {
            train_samples: 80,
            validation_samples: Some(20),
            batch_size: 32,
            steps_per_epoch: 3
        }
    );
    assert_eq!(before, m.get_weights(), "preparing trains nothing");
    let prepared = m.fit(&x, &y, options()).unwrap();
    let mut fresh = model();
    fresh.build(&[2]).unwrap();
    let alone = fresh.fit(&x, &y, options()).unwrap();
    assert_eq!(format!("{:?}", prepared.history), format!("{:?}", alone.history));
    assert_eq!(m.get_weights(), fresh.get_weights());

    // Each refusal is fit's own, word for word.
    let (_, short) = xy(9);
    let mut bad_y = y.clone();
    bad_y.data_mut()[5] = 7.0;
    let cases: Vec<(Tensor, Tensor, FitOptions<'static>)> = vec![
        (x.clone(), short, quiet()),
        (x.clone(), bad_y, quiet()),
        (x.clone(), y.clone(), quiet().batch_size(0)),
        (x.clone(), y.clone(), quiet().validation_split(1.0)),
    ];
    for (cx, cy, o) in cases {
        let mut m = model();
        let prepared = m.prepare_fit(&cx, &cy, &o).unwrap_err().to_string();
        let fitted = m.fit(&cx, &cy, o).unwrap_err().to_string();
        assert_eq!(prepared, fitted);
    }

    // A dataset: its spec and Keras's rules for datasets, before a batch is read.
    let mut m = model();
    let data = TensorDataset::new(vec![x.clone()], vec![y.clone()], 16).unwrap();
    let plan = m.prepare_fit_dataset(&data, &quiet()).unwrap();
    assert_eq!((plan.train_samples, plan.batch_size, plan.steps_per_epoch), (100, 16, 7));
    let e = m.prepare_fit_dataset(&data, &quiet().batch_size(8)).unwrap_err();
    assert!(e.to_string().contains("no batch_size with a dataset"), "{e}");
}
