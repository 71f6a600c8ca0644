//! Functional models: graphs of layer calls with several inputs and outputs, shared layers,
//! fan-out and merge layers — gradients, fit semantics (Keras's History keys, loss weights),
//! saving, summary and the errors of a malformed graph.

use crate::common::random;
use crate::gradients::check_model;
use minibatch::layers::{Add, Average, Concatenate, Dense, Dot, Maximum, Merge, Minimum, Multiply, Subtract, LSTM};
use minibatch::models::{Call, Input, Losses, Shared, SymbolicTensor};
use minibatch::optimizers::SGD;
use minibatch::Sequential;
use minibatch::{CompileOptions, Error, FitOptions, Model, Tensor};

/// Two inputs, one Dense shared by two calls, a tensor read by three layers, a tensor added
/// to itself, and two outputs.
pub fn two_headed(seed: u64) -> Model {
    let a = Input::named("a", &[4]);
    let b = Input::named("b", &[3]);
    let shared = Shared::new(Dense::new(5).activation("tanh"));
    let h1 = shared.call(&a);
    let c = Dense::new(4).activation("tanh").call(&b);
    let h2 = shared.call(&c);
    let m = Add::new().call([&h1, &h2]);
    let doubled = Add::new().call([&m, &m]);
    let cat = Concatenate::new().call([&doubled, &h1]);
    let digit = Dense::new(3).activation("softmax").name("digit").call(&cat);
    let mixed = Maximum::new().call([&Dense::new(5).call(&m), &h2]);
    let value = Dense::new(1).name("value").call(&mixed);
    Model::new(&[&a, &b], &[&digit, &value]).unwrap().with_seed(seed).unwrap()
}

fn two_headed_data(n: usize) -> (Tensor, Tensor, Tensor, Tensor) {
    let xa = random(&[n, 4], 1);
    let xb = random(&[n, 3], 2);
    let classes = Tensor::from_vec(&[n], (0..n).map(|i| (i % 3) as f32).collect()).unwrap();
    let values = random(&[n, 1], 3);
    (xa, xb, classes, values)
}

#[test]
pub(crate) fn gradients_through_shared_layers_fan_out_and_two_outputs() {
    let mut model = two_headed(0);
    let losses = Losses::each(&["sparse_categorical_crossentropy", "mse"]);
    model.compile_with(SGD::new(0.0), losses, CompileOptions::new().loss_weights(&[1.0, 0.5])).unwrap();
    let (xa, xb, classes, values) = two_headed_data(6);
    // The shared Dense appears once among the weights; its gradient sums both calls.
    assert_eq!(model.layers().iter().filter(|l| l.kind() == "Dense").count(), 5);
    check_model(&mut model, [&xa, &xb], [&classes, &values], 1);
}

/// `x → Dense → op(·, Dense(x)) → Dense`: each merge's backward reaches the weights before it.
fn merge_model(op: Merge, widths: [usize; 2], seed: u64) -> Model {
    let x = Input::new(&[3]);
    let p = Dense::new(widths[0]).activation("tanh").call(&x);
    let q = Dense::new(widths[1]).activation("tanh").call(&x);
    let merged = op.call([&p, &q]);
    let out = Dense::new(2).call(&merged);
    Model::new(&[&x], &[&out]).unwrap().with_seed(seed).unwrap()
}

#[test]
pub(crate) fn every_merge_layer_passes_a_gradient_check() {
    let x = random(&[5, 3], 7);
    let y = random(&[5, 2], 8);
    let cases: Vec<(Merge, [usize; 2])> = vec![
        (Add::new(), [4, 4]),
        (Subtract::new(), [4, 4]),
        (Multiply::new(), [4, 4]),
        (Average::new(), [4, 4]),
        (Maximum::new(), [4, 4]),
        (Minimum::new(), [4, 4]),
        (Concatenate::new(), [4, 2]),
        (Dot::new(false), [4, 4]),
        (Dot::new(true), [4, 4]),
    ];
    for (i, (op, widths)) in cases.into_iter().enumerate() {
        let kind = format!("{:?}", op.op());
        let mut model = merge_model(op, widths, i as u64);
        model.compile(SGD::new(0.0), "mse", &[]).unwrap();
        println!("{kind}");
        check_model(&mut model, &x, &y, 1);
    }
}

#[test]
fn merge_values_by_hand() {
    let a = Tensor::from_vec(&[1, 3], vec![1.0, -2.0, 3.0]).unwrap();
    let b = Tensor::from_vec(&[1, 3], vec![4.0, 5.0, -6.0]).unwrap();
    let expect = |op: Merge, want: &[f32]| {
        let (ia, ib) = (Input::new(&[3]), Input::new(&[3]));
        let out = op.call([&ia, &ib]);
        // An output must be made by a layer: the merge is one.
        let mut model = Model::new(&[&ia, &ib], &[&out]).unwrap();
        let got = model.predict([&a, &b], 1).unwrap();
        assert_eq!(got.data(), want);
    };
    expect(Add::new(), &[5.0, 3.0, -3.0]);
    expect(Subtract::new(), &[-3.0, -7.0, 9.0]);
    expect(Multiply::new(), &[4.0, -10.0, -18.0]);
    expect(Average::new(), &[2.5, 1.5, -1.5]);
    expect(Maximum::new(), &[4.0, 5.0, 3.0]);
    expect(Minimum::new(), &[1.0, -2.0, -6.0]);
    expect(Concatenate::new(), &[1.0, -2.0, 3.0, 4.0, 5.0, -6.0]);
    expect(Dot::new(false), &[4.0 - 10.0 - 18.0]);
    // Along the first per-sample axis of [2, 2] samples: rows stacked.
    let (ia, ib) = (Input::new(&[2, 2]), Input::new(&[1, 2]));
    let out = Concatenate::axis(1).call([&ia, &ib]);
    let mut model = Model::new(&[&ia, &ib], &[&out]).unwrap();
    let a = Tensor::from_vec(&[1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let b = Tensor::from_vec(&[1, 1, 2], vec![5.0, 6.0]).unwrap();
    let got = model.predict([&a, &b], 1).unwrap();
    assert_eq!(got.shape(), [1, 3, 2]);
    assert_eq!(got.data(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn two_outputs_report_keras_history_keys_and_weighted_total_loss() {
    let mut model = two_headed(1);
    let options = CompileOptions::new()
        .output_metrics("digit", &["accuracy", "accuracy"])
        .output_weighted_metrics("digit", &["accuracy"])
        .output_metrics("value", &["mae"])
        .loss_weights(&[1.0, 0.5]);
    let losses = Losses::named(&[("value", "mse"), ("digit", "sparse_categorical_crossentropy")]);
    model.compile_with("adam", losses, options).unwrap();
    let (xa, xb, classes, values) = two_headed_data(40);
    let x = [("b", &xb), ("a", &xa)];
    let h = model
        .fit(&x[..], [&classes, &values], FitOptions::new().epochs(2).batch_size(8).validation_split(0.25).verbose(0))
        .unwrap();
    let mut keys: Vec<&str> = h.keys().collect();
    keys.sort();
    // Keras 3.15, same model: see the module docs of minibatch::models.
    assert_eq!(
        keys,
        [
            "digit_accuracy",
            "digit_accuracy_1",
            "digit_loss",
            "digit_weighted_accuracy",
            "loss",
            "val_digit_accuracy",
            "val_digit_accuracy_1",
            "val_digit_loss",
            "val_digit_weighted_accuracy",
            "val_loss",
            "val_value_loss",
            "val_value_mae",
            "value_loss",
            "value_mae",
        ]
    );
    for prefix in ["", "val_"] {
        for e in 0..2 {
            let get = |k: &str| h.get(&format!("{prefix}{k}")).unwrap()[e];
            let total = get("digit_loss") + 0.5 * get("value_loss");
            assert!((get("loss") - total).abs() < 1e-5 * total.abs().max(1.0), "{prefix}loss {e}");
        }
    }
    let logs = model.evaluate(&x[..], &[("digit", &classes), ("value", &values)][..], 16).unwrap();
    assert!(logs.get("digit_loss").is_some() && logs.get("value_mae").is_some());
    let outs = model.predict_outputs(&x[..], 16).unwrap();
    assert_eq!((outs[0].shape(), outs[1].shape()), (&[40, 3][..], &[40, 1][..]));
    let err = model.predict(&x[..], 16).unwrap_err().to_string();
    assert!(err.contains("predict_outputs"), "{err}");
}

#[test]
fn saving_and_loading_keeps_the_graph_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("minibatch-functional-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two_headed.safetensors");
    let (xa, xb, classes, values) = two_headed_data(24);
    let mut model = two_headed(2);
    let losses = Losses::each(&["sparse_categorical_crossentropy", "mse"]);
    let options = CompileOptions::new().output_metrics("digit", &["accuracy"]).loss_weights(&[1.0, 0.25]);
    model.compile_with("adam", losses, options).unwrap();
    let fit = |m: &mut Model| m.fit([&xa, &xb], [&classes, &values], FitOptions::new().batch_size(5).verbose(0));
    fit(&mut model).unwrap();
    model.save(&path).unwrap();
    let config = model.to_config().unwrap();
    assert_eq!(config["class_name"], "Functional");
    assert_eq!(config["config"]["output_layers"], serde_json::json!([["digit", 0, 0], ["value", 0, 0]]));
    let mut loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.to_config().unwrap(), config);
    assert_eq!(loaded.get_weights(), model.get_weights());
    assert_eq!(loaded.summary().unwrap(), model.summary().unwrap());
    // The same next epoch: optimizer state, loss weights and metrics came back too.
    let (h1, h2) = (fit(&mut model).unwrap(), fit(&mut loaded).unwrap());
    assert_eq!(h1.get("loss"), h2.get("loss"));
    assert_eq!(h1.get("digit_accuracy"), h2.get("digit_accuracy"));
    assert_eq!(loaded.get_weights(), model.get_weights());
    // A Sequential loader refuses a functional file by name.
    let err = minibatch::Sequential::load(&path).unwrap_err().to_string();
    assert!(err.contains("Model::load"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn summary_has_keras_connected_to_column() {
    let model = two_headed(0);
    let s = model.summary().unwrap();
    assert!(s.starts_with("Model: \"functional\""), "{s}");
    assert!(s.contains("Connected to"), "{s}");
    assert!(s.contains("a (InputLayer)"), "{s}");
    // The shared layer: both calls, the second reading dense_1's output, one per line.
    let row_of = |name: &str| -> Vec<&str> {
        let lines: Vec<&str> = s.lines().collect();
        let start = lines.iter().position(|l| l.starts_with(&format!("│ {name} ("))).expect(name);
        lines[start..].iter().take_while(|l| l.starts_with('│')).copied().collect()
    };
    let dense = row_of("dense");
    assert!(dense[0].contains("a[0][0]") && dense[1].contains("dense_1[0][0]"), "{s}");
    // A tensor added to itself; a second call named by its call index.
    let add = row_of("add_1");
    assert!(add[0].contains("add[0][0]") && add[1].contains("add[0][0]"), "{s}");
    assert!(row_of("maximum")[1].contains("dense[1][0]"), "{s}");
    let widths: Vec<usize> = s.lines().filter(|l| l.starts_with('│')).map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "rows of one width:\n{s}");
}

#[test]
pub(crate) fn sequences_attention_and_residuals_in_one_graph() {
    use minibatch::layers::{GlobalAveragePooling1D, LayerNormalization, MultiHeadAttention};
    let x = Input::new(&[5, 3]);
    let h = Dense::new(4).call(&x);
    let attended = MultiHeadAttention::new(2, 2).call(&h);
    let res = LayerNormalization::new().call(&Add::new().call([&h, &attended]));
    let seq = LSTM::new(3).return_sequences(true).call(&res);
    let pooled = GlobalAveragePooling1D::new().call(&Concatenate::new().call([&seq, &res]));
    let out = Dense::new(2).call(&pooled);
    let mut model = Model::new(&[&x], &[&out]).unwrap().with_seed(3).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &random(&[3, 5, 3], 4), &random(&[3, 2], 5), 3);
}

fn expect_error(result: Result<Model, Error>, needle: &str) {
    match result {
        Ok(_) => panic!("expected an error naming {needle:?}"),
        Err(e) => assert!(e.to_string().contains(needle), "{e} does not name {needle:?}"),
    }
}

#[test]
fn malformed_graphs_are_named_errors() {
    let (a, b) = (Input::new(&[4]), Input::new(&[3]));
    let out = Dense::new(2).call(&a);
    // An input no output depends on.
    expect_error(Model::new(&[&a, &b], &[&out]), "input_layer_1");
    // An input the outputs need but not given.
    let both = Concatenate::new().call([&a, &b]);
    expect_error(Model::new(&[&a], &[&Dense::new(1).call(&both)]), "every Input the outputs depend on");
    // An input given twice; an output that is an input; no outputs.
    expect_error(Model::new(&[&a, &a], &[&out]), "each Input given once");
    expect_error(Model::new(&[&a], &[&a]), "outputs made by layers");
    expect_error(Model::new(&[&a], &[]), "at least one output");
    // Two inputs with one name; two layers with one name.
    let (n1, n2) = (Input::named("x", &[2]), Input::named("x", &[2]));
    expect_error(Model::new(&[&n1, &n2], &[&Add::new().call([&n1, &n2])]), "distinct names");
    let p = Dense::new(2).name("twin").call(&a);
    let q = Dense::new(2).name("twin").call(&p);
    expect_error(Model::new(&[&a], &[&q]), "twin");
    // Shapes that do not fit a merge, named with the layer and the shapes.
    let bad = Add::new().call([&a, &b]);
    expect_error(Model::new(&[&a, &b], &[&bad]), "inputs of layer add (Add)");
    let one = Subtract::new().call([&a, &a, &a]);
    expect_error(Model::new(&[&a], &[&one]), "exactly 2 tensors");
    let dense_twice = Dense::new(2).call([&a, &b]);
    expect_error(Model::new(&[&a, &b], &[&dense_twice]), "one tensor");
    // A shared layer whose second call has another input width.
    let shared = Shared::new(Dense::new(2));
    let (s1, s2) = (shared.call(&a), shared.call(&b));
    expect_error(Model::new(&[&a, &b], &[&Add::new().call([&s1, &s2])]), "second call of layer dense");
    // A layer already taken by another model.
    let taken: SymbolicTensor = Dense::new(2).call(&a);
    Model::new(&[&a], &[&taken]).unwrap();
    expect_error(Model::new(&[&a], &[&taken]), "already belongs to another model");
}

#[test]
fn data_for_several_inputs_is_checked_by_position_and_name() {
    let mut model = two_headed(0);
    model.compile("adam", Losses::each(&["sparse_categorical_crossentropy", "mse"]), &[]).unwrap();
    let (xa, xb, classes, values) = two_headed_data(10);
    let opts = || FitOptions::new().verbose(0);
    let y = [&classes, &values];
    let err = |r: minibatch::Result<minibatch::callbacks::History>| r.unwrap_err().to_string();
    assert!(err(model.fit(&xa, y, opts())).contains("2 arrays, one per model input (a, b)"));
    assert!(err(model.fit([&xb, &xa], y, opts())).contains("the model's input a"));
    assert!(err(model.fit(&[("a", &xa), ("c", &xb)][..], y, opts())).contains("an array named c"));
    assert!(err(model.fit(&[("a", &xa), ("a", &xb)][..], y, opts())).contains("a given twice"));
    let short = random(&[9, 3], 1);
    assert!(err(model.fit([&xa, &short], y, opts())).contains("10"));
    assert!(err(model.fit([&xa, &xb], &classes, opts())).contains("one per model output (digit, value)"));
    // Per-output metrics and losses name the outputs.
    let e = model.compile("adam", Losses::each(&["mse"]), &[]).unwrap_err().to_string();
    assert!(e.contains("one per output: 2 (digit, value)"), "{e}");
    let e = model.compile("adam", "mse", &["accuracy"]).unwrap_err().to_string();
    assert!(e.contains("output_metrics"), "{e}");
    let e = model
        .compile_with("adam", "mse", CompileOptions::new().output_metrics("nope", &["mae"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}

/// Token ids padded at the end and in the middle (0 is padding with `mask_zero`).
fn padded_ids() -> Tensor {
    Tensor::from_vec(&[3, 5], vec![3., 5., 1., 0., 0., 7., 0., 2., 9., 4., 1., 2., 3., 4., 5.]).unwrap()
}

#[test]
pub(crate) fn masked_sequences_pass_gradient_checks() {
    use minibatch::layers::{Bidirectional, Embedding, GlobalAveragePooling1D, Masking, SimpleRNN, GRU};
    let y = random(&[3, 2], 9);
    // Embedding → LSTM over steps → GRU read backwards → Dense.
    let t = Input::new(&[5]);
    let e = Embedding::new(10, 3).mask_zero(true).call(&t);
    let s = LSTM::new(3).return_sequences(true).call(&e);
    let out = Dense::new(2).call(&GRU::new(3).go_backwards(true).call(&s));
    let mut model = Model::new(&[&t], &[&out]).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &padded_ids(), &y, 1);
    // Embedding → Bidirectional SimpleRNN over steps → masked average → Dense.
    let t = Input::new(&[5]);
    let e = Embedding::new(10, 3).mask_zero(true).call(&t);
    let s = Bidirectional::new(SimpleRNN(2).return_sequences(true)).call(&e);
    let out = Dense::new(2).call(&GlobalAveragePooling1D::new().call(&s));
    let mut model = Model::new(&[&t], &[&out]).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &padded_ids(), &y, 1);
    // Embedding → masked self-attention (causal too) → masked average → Dense.
    let t = Input::new(&[5]);
    let e = Embedding::new(10, 4).mask_zero(true).call(&t);
    let a = minibatch::layers::MultiHeadAttention::new(2, 3).call(&e);
    let a = minibatch::layers::MultiHeadAttention::new(2, 2).use_causal_mask(true).call(&a);
    let out = Dense::new(2).call(&GlobalAveragePooling1D::new().call(&a));
    let mut model = Model::new(&[&t], &[&out]).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &padded_ids(), &y, 1);
    // Masking over float steps → LSTM.
    let mut steps = random(&[3, 4, 2], 10);
    steps.data_mut()[4..8].fill(0.0); // sample 0, steps 2 and 3
    steps.data_mut()[10..12].fill(0.0); // sample 1, step 1
    let x = Input::new(&[4, 2]);
    let out = Dense::new(2).call(&LSTM::new(3).call(&Masking::new(0.0).call(&x)));
    let mut model = Model::new(&[&x], &[&out]).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &steps, &y, 1);
}

#[test]
fn a_padded_sequence_gives_the_unpadded_result() {
    use minibatch::layers::{Bidirectional, Embedding, GlobalAveragePooling1D};
    // The same weights over [3, 5, 1] and over [3, 5, 1, 0, 0] with mask_zero.
    let build = |steps: usize| {
        let t = Input::new(&[steps]);
        let e = Embedding::new(10, 3).mask_zero(true).call(&t);
        let s = Bidirectional::new(LSTM::new(4).return_sequences(true)).call(&e);
        // Self-attention under the mask: padded steps are neither attended to nor pooled.
        let s = minibatch::layers::MultiHeadAttention::new(2, 3).call(&s);
        let out = Dense::new(2).call(&GlobalAveragePooling1D::new().call(&s));
        Model::new(&[&t], &[&out]).unwrap()
    };
    let (mut short, mut padded) = (build(3), build(5));
    padded.set_weights(&short.get_weights()).unwrap();
    let a = short.predict(&Tensor::from_vec(&[1, 3], vec![3., 5., 1.]).unwrap(), 1).unwrap();
    let b = padded.predict(&Tensor::from_vec(&[1, 5], vec![3., 5., 1., 0., 0.]).unwrap(), 1).unwrap();
    for (x, y) in a.data().iter().zip(b.data()) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn masks_reaching_what_cannot_use_them_are_named_errors() {
    use minibatch::layers::Embedding;
    let t = Input::new(&[5]);
    let e = Embedding::new(10, 4).mask_zero(true).call(&t);
    let seq = LSTM::new(3).return_sequences(true).call(&e);
    expect_error(Model::new(&[&t], &[&seq]), "carries a mask");
}

#[test]
pub(crate) fn attention_between_two_sequences_passes_gradient_checks() {
    use minibatch::layers::{Attention, GlobalAveragePooling1D, MultiHeadAttention};
    // Dense layers before each input make the inputs' gradients reach weights the check sees.
    let check = |attend: &dyn Fn(&[SymbolicTensor]) -> SymbolicTensor, inputs: usize, seed: u64| {
        let shapes: [&[usize]; 3] = [&[3, 2], &[4, 3], &[4, 2]];
        let ins: Vec<SymbolicTensor> = shapes[..inputs].iter().map(|s| Input::new(s)).collect();
        let projected: Vec<SymbolicTensor> =
            ins.iter().zip([4, 3, 4]).map(|(x, w)| Dense::new(w).activation("tanh").call(x)).collect();
        let out = Dense::new(2).call(&GlobalAveragePooling1D::new().call(&attend(&projected)));
        let refs: Vec<&SymbolicTensor> = ins.iter().collect();
        let mut model = Model::new(&refs, &[&out]).unwrap().with_seed(seed).unwrap();
        model.compile(SGD::new(0.0), "mse", &[]).unwrap();
        let xs: Vec<Tensor> = shapes[..inputs]
            .iter()
            .enumerate()
            .map(|(i, s)| random(&[&[3usize][..], s].concat(), 20 + i as u64))
            .collect();
        let xrefs: Vec<&Tensor> = xs.iter().collect();
        check_model(&mut model, &xrefs[..], &random(&[3, 2], 30), 1);
    };
    check(&|x| MultiHeadAttention::new(2, 2).call([&x[0], &x[1]]), 2, 1);
    // Dot over any axes of [3, 4] and [4, 3] (attention scores, with and without normalizing),
    // and Dot on the same tensor twice.
    check(&|x| Dot::with_axes([2, 1], false).call([&x[0], &x[1]]), 2, 11);
    check(&|x| Dot::with_axes([-1, 1], true).call([&x[0], &x[1]]), 2, 12);
    check(&|x| Dot::with_axes([1, 2], true).call([&x[1], &x[0]]), 2, 13);
    check(&|x| Dot::with_axes([2, 2], false).call([&x[0], &x[0]]), 1, 14);
    check(&|x| MultiHeadAttention::new(2, 2).value_dim(3).use_causal_mask(true).call([&x[0], &x[1], &x[2]]), 3, 2);
    // Keras's attention_mask: a mask input; the weights' gradients check out, and the mask
    // takes none. (Every query step keeps step 0: a step with nothing to attend to has all its
    // scores shifted by −1e9, where float32 steps in units of 64 and finite differences see a
    // staircase; keras_functional.rs checks that case's values against Keras.)
    let (q, v, mask) = (Input::new(&[3, 2]), Input::new(&[4, 3]), Input::new(&[3, 4]));
    let (pq, pv) = (Dense::new(4).activation("tanh").call(&q), Dense::new(3).activation("tanh").call(&v));
    let attended = MultiHeadAttention::new(2, 2).use_causal_mask(true).call_with_mask([&pq, &pv], &mask);
    let out = Dense::new(2).call(&GlobalAveragePooling1D::new().call(&attended));
    let mut model = Model::new(&[&q, &v, &mask], &[&out]).unwrap().with_seed(5).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let m: Vec<f32> = (0..3 * 12).map(|i| if i % 4 != 0 && i % 3 == 1 { 0.0 } else { 1.0 }).collect();
    let m = Tensor::from_vec(&[3, 3, 4], m).unwrap();
    let (xq, xv) = (random(&[3, 3, 2], 40), random(&[3, 4, 3], 41));
    check_model(&mut model, &[&xq, &xv, &m][..], &random(&[3, 2], 42), 1);
    // A mask of another shape is named when the model is made.
    let (q, bad) = (Input::new(&[3, 2]), Input::new(&[4, 3]));
    let y = MultiHeadAttention::new(2, 2).call_with_mask(&q, &bad);
    expect_error(Model::new(&[&q, &bad], &[&y]), "attention_mask");
    check(&|x| Attention::new().use_scale(true).call([&x[0], &x[1], &x[2]]), 3, 3);
    check(&|x| Attention::new().score_mode("concat").call([&x[0], &x[1], &x[2]]), 3, 15);
    check(
        &|x| Attention::new().use_scale(true).score_mode("concat").use_causal_mask(true).call([&x[0], &x[1], &x[2]]),
        3,
        16,
    );
    // The key is the value: both projections' gradients reach the one input. (The value is
    // projected to the query's width here.)
    check(&|x| Attention::new().use_causal_mask(true).call([&x[0], &Dense::new(4).call(&x[1])]), 2, 4);
    // Self-attention through the same path: one tensor as query and value.
    check(&|x| MultiHeadAttention::new(2, 2).call([&x[0], &x[0]]), 1, 5);
}

#[test]
fn inference_reuses_buffers_and_predicts_the_same() {
    use minibatch::layers::{GlobalAveragePooling1D, LayerNormalization, MultiHeadAttention};
    let build = || {
        let x = Input::new(&[6, 4]);
        let h = Dense::new(8).activation("relu").call(&x);
        let a = MultiHeadAttention::new(2, 4).call(&h);
        let r = LayerNormalization::new().call(&Add::new().call([&h, &a]));
        let f = Dense::new(8).call(&Dense::new(16).activation("relu").call(&r));
        let r = LayerNormalization::new().call(&Add::new().call([&r, &f]));
        let out = Dense::new(3).activation("softmax").call(&GlobalAveragePooling1D::new().call(&r));
        let mut m = Model::new(&[&x], &[&out]).unwrap().with_seed(4).unwrap();
        m.compile(SGD::new(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
        m
    };
    let x = random(&[10, 6, 4], 3);
    // Planned for inference only: buffers shared once read for the last time.
    let mut inference = build();
    let shared = inference.predict(&x, 4).unwrap();
    // Planned for training first (one buffer per tensor; a step at rate 0 changes nothing).
    let mut trained = build();
    trained.train_on_batch(&x, &Tensor::from_slice(&[0.; 10])).unwrap();
    let separate = trained.predict(&x, 4).unwrap();
    assert_eq!(shared.data(), separate.data());
    assert!(inference.buffer_bytes() < trained.buffer_bytes());
    let summary = inference.summary().unwrap();
    let line = summary.lines().find(|l| l.contains("Activations per sample")).expect(&summary);
    // Without reuse: 6·4 in, 6·8 × 7 (dense, attention, add, norm, dense, add, norm), 6·16, 8, 3.
    assert!(line.contains("in inference (buffers reused; 1.82 KB without)"), "{line}");
    // Evaluation through the shared buffers gives the same loss as through separate ones.
    let y = Tensor::from_slice(&[0., 1., 2., 0., 1., 2., 0., 1., 2., 0.]);
    let a = build().evaluate(&x, &y, 4).unwrap().get("loss").unwrap();
    let b = trained.evaluate(&x, &y, 4).unwrap().get("loss").unwrap();
    assert_eq!(a, b);
}

#[test]
pub(crate) fn a_model_is_a_layer_of_another() {
    use minibatch::layers::{BatchNormalization, LSTM as Lstm};
    // An encoder (with BatchNormalization state) shared by two inputs, inside a model.
    let encoder = {
        let x = Input::new(&[4]);
        let h = Dense::new(6).activation("tanh").call(&x);
        let h = BatchNormalization::new().call(&h);
        Model::new(&[&x], &[&Dense::new(3).call(&h)]).unwrap().named("encoder")
    };
    let (a, b) = (Input::new(&[4]), Input::new(&[4]));
    let shared = Shared::new(encoder);
    let joined = Concatenate::new().call([&shared.call(&a), &shared.call(&b)]);
    let out = Dense::new(2).call(&joined);
    let mut model = Model::new(&[&a, &b], &[&out]).unwrap().with_seed(1).unwrap();
    // The encoder's weights count once, and save under its name.
    assert_eq!(model.count_params(), (4 * 6 + 6) + 2 * 6 + (6 * 3 + 3) + (6 * 2 + 2));
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let (xa, xb, y) = (random(&[5, 4], 1), random(&[5, 4], 2), random(&[5, 2], 3));
    check_model(&mut model, [&xa, &xb], &y, 1);
    // Saved and loaded with the inner graph, bit for bit.
    let dir = std::env::temp_dir().join(format!("minibatch-nested-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nested.safetensors");
    model.compile("adam", "mse", &[]).unwrap();
    model.fit([&xa, &xb], &y, FitOptions::new().epochs(2).batch_size(2).verbose(0)).unwrap();
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.get_weights(), model.get_weights());
    assert_eq!(loaded.predict([&xa, &xb], 5).unwrap(), model.predict([&xa, &xb], 5).unwrap());
    assert!(model.summary().unwrap().contains("encoder (Functional)"));
    std::fs::remove_dir_all(&dir).unwrap();
    // A stack inside a graph, and a model with two outputs refused as a layer.
    let x = Input::new(&[3, 2]);
    let stack = minibatch::Sequential::new().add(Lstm::new(4)).add(Dense::new(2)).into_model();
    let mut m = Model::new(&[&x], &[&stack.call(&x)]).unwrap();
    m.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut m, &random(&[2, 3, 2], 4), &random(&[2, 2], 5), 1);
    let two = two_headed(0);
    let (p, q) = (Input::new(&[4]), Input::new(&[3]));
    expect_error(Model::new(&[&p, &q], &[&two.call([&p, &q])]), "a model used as a layer has one");
    // Token ids out of range are refused by the Embedding inside a nested model.
    let ids = Input::new(&[3]);
    let inner = {
        let t = Input::new(&[3]);
        let e = minibatch::layers::Embedding::new(5, 2).call(&t);
        Model::new(&[&t], &[&minibatch::layers::Flatten::new().call(&e)]).unwrap()
    };
    let mut outer = Model::new(&[&ids], &[&Dense::new(1).call(&inner.call(&ids))]).unwrap();
    let bad = Tensor::from_vec(&[1, 3], vec![1., 7., 2.]).unwrap();
    let err = outer.predict(&bad, 1).unwrap_err().to_string();
    assert!(err.contains("token id") && err.contains('7'), "{err}");
}

#[test]
fn an_attention_mask_model_saves_and_loads_bit_for_bit() {
    use minibatch::layers::MultiHeadAttention;
    let (q, mask) = (Input::new(&[3, 4]), Input::new(&[3, 3]));
    let y = MultiHeadAttention::new(2, 2).call_with_mask(&q, &mask);
    let mut model = Model::new(&[&q, &mask], &[&y]).unwrap();
    model.compile("adam", "mse", &[]).unwrap();
    let xq = random(&[2, 3, 4], 1);
    let m = Tensor::from_vec(&[2, 3, 3], (0..18).map(|i| f32::from(i % 4 != 3)).collect()).unwrap();
    let before = model.predict(&[&xq, &m][..], 2).unwrap();
    let path = std::env::temp_dir().join(format!("minibatch-mha-mask-{}.safetensors", std::process::id()));
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let after = loaded.predict(&[&xq, &m][..], 2).unwrap();
    assert_eq!(before.data(), after.data());
}

#[test]
pub(crate) fn bidirectional_split_passes_gradient_checks_and_saves() {
    use minibatch::layers::{Bidirectional, GRU};
    // Keras's merge_mode=None: both directions feed the loss, sequences and last steps.
    let x = Input::new(&[4, 3]);
    let [fwd, bwd] = Bidirectional::new(GRU::new(3).return_sequences(true)).call_split(&x);
    let [f2, b2] = Bidirectional::new(LSTM::new(2)).call_split(&Subtract::new().call([&fwd, &bwd]));
    let y = Dense::new(2).call(&Concatenate::new().call([&f2, &Dense::new(2).call(&b2)]));
    let mut model = Model::new(&[&x], &[&y]).unwrap().with_seed(5).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &random(&[3, 4, 3], 12), &random(&[3, 2], 13), 1);
    // Saved and loaded: the same outputs, bit for bit.
    let path = std::env::temp_dir().join(format!("minibatch-split-{}.safetensors", std::process::id()));
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let xs = random(&[2, 4, 3], 14);
    assert_eq!(loaded.predict(&xs, 2).unwrap(), model.predict(&xs, 2).unwrap());
    // Keras files and ONNX do not take it yet: refused by name.
    let keras = std::env::temp_dir().join(format!("minibatch-split-{}.keras", std::process::id()));
    let e = model.save_keras(&keras).unwrap_err().to_string();
    assert!(e.contains("OutputPart") || e.contains("merge_mode"), "{e}");
    let e = model.to_onnx().unwrap_err().to_string();
    assert!(e.contains("OutputPart") || e.contains("merge_mode") || e.contains("Bidirectional"), "{e}");
    // An OutputPart on a tensor that is not packed parts is refused by name.
    let x = Input::new(&[4, 3]);
    let e = Model::new(&[&x], &[&minibatch::layers::OutputPart::new(0, 2).call(&x)]).unwrap_err().to_string();
    assert!(e.contains("OutputPart 0 of 2") && e.contains("[4, 3]"), "{e}");
}

pub(crate) fn attention_scores_pass_gradient_checks_and_save() {
    use minibatch::layers::{Attention, Flatten};
    // return_attention_scores: the loss reads the output and the weights, so the scores'
    // gradient enters the softmax beside the output's.
    let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
    let [out, scores] = Attention::new().use_scale(true).call_with_scores([&q, &v]);
    let joined = Concatenate::new().call([&Flatten::new().call(&out), &Flatten::new().call(&scores)]);
    let y = Dense::new(2).call(&joined);
    let mut model = Model::new(&[&q, &v], &[&y]).unwrap().with_seed(6).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let x = [random(&[3, 3, 4], 15), random(&[3, 5, 4], 16)];
    check_model(&mut model, [&x[0], &x[1]], &random(&[3, 2], 17), 1);
    // Saved and loaded: the same outputs, bit for bit.
    let path = std::env::temp_dir().join(format!("minibatch-scores-{}.safetensors", std::process::id()));
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let refs: Vec<&Tensor> = x.iter().collect();
    assert_eq!(loaded.predict_outputs(&refs[..], 2).unwrap(), model.predict_outputs(&refs[..], 2).unwrap());
    // A part of a layer that packs nothing is refused by name.
    let x = Input::new(&[4, 3]);
    let e = Model::new(&[&x], &[&minibatch::layers::OutputPart::of(1).call(&Dense::new(2).call(&x))]);
    let e = e.unwrap_err().to_string();
    assert!(e.contains("OutputPart 1") && e.contains("packs several outputs"), "{e}");
}

pub(crate) fn return_state_passes_gradient_checks_and_saves() {
    use minibatch::layers::{Embedding, GlobalAveragePooling1D, SimpleRNN, GRU};
    // LSTM: output, h and c all feed the loss, so the states' gradients enter the last step.
    let x = Input::new(&[4, 3]);
    let outs = LSTM::new(3).call_with_states(&x);
    let joined = Concatenate::new().call([&outs[0], &Dense::new(2).call(&outs[1]), &outs[2]]);
    let y = Dense::new(2).call(&joined);
    let mut model = Model::new(&[&x], &[&y]).unwrap().with_seed(2).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &random(&[3, 4, 3], 6), &random(&[3, 2], 7), 1);
    // Sequences backwards with the state beside them; GRU's state through a mask.
    let x = Input::new(&[4, 3]);
    let outs = SimpleRNN(3).return_sequences(true).go_backwards(true).call_with_states(&x);
    let pooled = GlobalAveragePooling1D::new().call(&outs[0]);
    let y = Dense::new(2).call(&Add::new().call([&pooled, &outs[1]]));
    let mut model = Model::new(&[&x], &[&y]).unwrap().with_seed(3).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    check_model(&mut model, &random(&[3, 4, 3], 8), &random(&[3, 2], 9), 1);
    let t = Input::new(&[5]);
    let outs = GRU::new(3).call_with_states(&Embedding::new(9, 4).mask_zero(true).call(&t));
    let y = Dense::new(2).call(&Multiply::new().call([&outs[0], &outs[1]]));
    let mut model = Model::new(&[&t], &[&y]).unwrap().with_seed(4).unwrap();
    model.compile(SGD::new(0.0), "mse", &[]).unwrap();
    let ids = Tensor::from_vec(&[3, 5], vec![1., 2., 0., 0., 0., 3., 4., 5., 6., 7., 8., 0., 2., 0., 0.]).unwrap();
    check_model(&mut model, &ids, &random(&[3, 2], 10), 1);
    // Saved and loaded: the same three outputs, bit for bit.
    let x = Input::new(&[4, 3]);
    let outs = LSTM::new(3).return_sequences(true).call_with_states(&x);
    let mut model = Model::new(&[&x], &outs.iter().collect::<Vec<_>>()).unwrap();
    model.compile("adam", Losses::each(&["mse", "mse", "mse"]), &[]).unwrap();
    let xs = random(&[2, 4, 3], 11);
    let before = model.predict_outputs(&xs, 2).unwrap();
    assert_eq!(before.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(), [vec![2, 4, 3], vec![2, 3], vec![2, 3]]);
    let path = std::env::temp_dir().join(format!("minibatch-return-state-{}.safetensors", std::process::id()));
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.predict_outputs(&xs, 2).unwrap(), before);
    // A mask reaching a layer that returns sequences and states is refused by name (Keras
    // passes it to the sequence alone: not yet).
    let t = Input::new(&[5]);
    let outs = LSTM::new(3).return_sequences(true).call_with_states(&Embedding::new(9, 4).mask_zero(true).call(&t));
    expect_error(Model::new(&[&t], &[&outs[1]]), "receives a mask");
}

#[test]
fn a_nested_models_activity_penalties_join_the_outer_loss() {
    use minibatch::regularizers::Regularizer;
    // The same layers flat and with the first two inside a nested model: the same loss in
    // training and in evaluation, penalties included.
    let inner = || {
        Sequential::new()
            .input_shape(&[3])
            .add(Dense::new(4).activation("tanh").activity_regularizer(Regularizer::l2(0.3)))
            .add(Dense::new(4).activity_regularizer(Regularizer::l1(0.2)))
    };
    let flat_model = || {
        let x = Input::new(&[3]);
        let h = Dense::new(4).activation("tanh").activity_regularizer(Regularizer::l2(0.3)).call(&x);
        let h = Dense::new(4).activity_regularizer(Regularizer::l1(0.2)).call(&h);
        Model::new(&[&x], &[&Dense::new(2).call(&h)]).unwrap()
    };
    let x = Input::new(&[3]);
    let y = Dense::new(2).call(&inner().into_model().call(&x));
    let mut nested = Model::new(&[&x], &[&y]).unwrap();
    let mut flat = flat_model();
    nested.compile(SGD::new(0.0), "mse", &[]).unwrap();
    flat.compile(SGD::new(0.0), "mse", &[]).unwrap();
    flat.set_weights(&nested.get_weights()).unwrap();
    let (xs, ys) = (random(&[5, 3], 1), random(&[5, 2], 2));
    let (a, b) = (nested.train_on_batch(&xs, &ys).unwrap(), flat.train_on_batch(&xs, &ys).unwrap());
    assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "training loss: nested {a}, flat {b}");
    let (a, b) = (nested.evaluate(&xs, &ys, 5).unwrap(), flat.evaluate(&xs, &ys, 5).unwrap());
    let (a, b) = (a.get("loss").unwrap(), b.get("loss").unwrap());
    assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "evaluation loss: nested {a}, flat {b}");
}

#[test]
fn initial_states_are_carried_over_masked_steps() {
    // Padding at the end, read backwards: the first steps processed are masked, so the state
    // stays the given one until the tokens begin, and the result is that of the unpadded
    // sequence. (Keras 3.15 drops the mask when initial_state is given; its docs say masks
    // apply, which is what minibatch does.)
    use minibatch::layers::{Embedding, GRU, LSTM};
    use minibatch::models::{Call, Input};
    for lstm in [false, true] {
        let build = |steps: usize| {
            let (t, h, c) = (Input::new(&[steps]), Input::new(&[3]), Input::new(&[3]));
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let (y, inputs) = if lstm {
                (LSTM::new(3).go_backwards(true).call([&e, &h, &c]), vec![&t, &h, &c])
            } else {
                (GRU::new(3).go_backwards(true).call([&e, &h]), vec![&t, &h])
            };
            Model::new(&inputs, &[&y]).unwrap()
        };
        let (mut padded, mut short) = (build(6), build(3));
        short.set_weights(&padded.get_weights()).unwrap();
        let h = crate::common::random(&[2, 3], 4);
        let c = crate::common::random(&[2, 3], 5);
        let ids = Tensor::from_vec(&[2, 6], vec![3., 5., 1., 0., 0., 0., 7., 2., 9., 0., 0., 0.]).unwrap();
        let cut = Tensor::from_vec(&[2, 3], vec![3., 5., 1., 7., 2., 9.]).unwrap();
        let (a, b) = if lstm {
            (padded.predict([&ids, &h, &c], 2).unwrap(), short.predict([&cut, &h, &c], 2).unwrap())
        } else {
            (padded.predict([&ids, &h], 2).unwrap(), short.predict([&cut, &h], 2).unwrap())
        };
        for (x, y) in a.data().iter().zip(b.data()) {
            assert!((x - y).abs() < 1e-6, "lstm {lstm}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn an_lstm_wider_than_one_column_block_trains() {
    // LSTM(1030): the recurrent kernel [1030, 4120] is packed in two column blocks (the
    // packed product used to assume one and refused the layer mid-training).
    let mut model =
        Sequential::new().input_shape(&[2, 3]).add(LSTM::new(1030)).add(Dense::new(2).activation("softmax"));
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let x = crate::common::random(&[2, 2, 3], 1);
    let y = Tensor::from_vec(&[2], vec![0.0, 1.0]).unwrap();
    let loss = model.train_on_batch(&x, &y).unwrap();
    assert!(loss.is_finite());
}

/// A model called twice (a Siamese network's shared encoder): its second call runs on a
/// replica of the whole model that mirrors its weights, and the gradients of both calls are
/// summed into the encoder's: the whole model passes a gradient check, and saves and loads.
#[test]
pub(crate) fn a_model_called_twice_shares_its_weights() {
    let encoder = Sequential::new().input_shape(&[4]).add(Dense::new(3).activation("tanh")).into_model();
    let shared = Shared::new(encoder);
    let (a, b) = (Input::named("a", &[4]), Input::named("b", &[4]));
    let distance = Subtract::new().call([&shared.call(&a), &shared.call(&b)]);
    let y = Dense::new(2).call(&distance);
    let mut model = Model::new(&[&a, &b], &[&y]).unwrap();
    model.compile(SGD::new(0.1), "mse", &[]).unwrap();
    let (xa, xb) = (random(&[3, 4], 61), random(&[3, 4], 62));
    check_model(&mut model, [&xa, &xb], &random(&[3, 2], 63), 1);
    let dir = crate::common::temp_dir("siamese");
    model.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Model::load(dir.join("m.safetensors")).unwrap();
    let bits = |t: Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(loaded.predict([&xa, &xb], 3).unwrap()), bits(model.predict([&xa, &xb], 3).unwrap()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn inputs_of_one_value_per_sample_train_save_and_load() {
    use minibatch::layers::{Embedding, Flatten};
    // Keras's Input(shape=()): a class id per sample learns its own output.
    let id = Input::named("id", &[]);
    let y = Dense::new(1).call(&Embedding::new(4, 2).call(&id));
    let mut model = Model::new(&[&id], &[&y]).unwrap();
    model.compile(minibatch::optimizers::Adam::new(0.05), "mse", &[]).unwrap();
    let ids = Tensor::from_vec(&[32], (0..32).map(|i| (i % 4) as f32).collect()).unwrap();
    let targets = Tensor::from_vec(&[32, 1], (0..32).map(|i| (i % 4) as f32 * 0.5).collect()).unwrap();
    let history = model.fit(&ids, &targets, FitOptions::new().epochs(60).verbose(0)).unwrap();
    let last = *history.get("loss").unwrap().last().unwrap();
    assert!(last < 0.01, "{last}");
    let dir = crate::common::temp_dir("scalar-inputs");
    for file in ["m.mb", "m.keras"] {
        let path = dir.join(file);
        if file.ends_with(".keras") {
            model.save_keras(&path).unwrap();
        } else {
            model.save(&path).unwrap();
        }
        let mut back =
            if file.ends_with(".keras") { Model::load_keras(&path).unwrap() } else { Model::load(&path).unwrap() };
        assert_eq!(back.input_shapes().unwrap()[0], Vec::<usize>::new(), "{file}");
        assert_eq!(back.predict(&ids, 8).unwrap(), model.predict(&ids, 8).unwrap(), "{file}");
    }
    // A rank-1 array to a model whose input has features is refused, naming Input(shape=()).
    let mut flat = Sequential::new().input_shape(&[3]).add(Dense::new(1));
    flat.compile("sgd", "mse", &[]).unwrap();
    let e = flat.fit(
        &Tensor::from_vec(&[4], vec![0.0; 4]).unwrap(),
        &targets.slice_rows(0, 4),
        FitOptions::new().verbose(0),
    );
    assert!(e.unwrap_err().to_string().contains("Input(shape=())"));
    // A Sequential declared with no axes, and layers that cannot take one value a sample.
    let mut seq = Sequential::new().input_shape(&[]).add(Flatten::new()).add(Dense::new(2));
    seq.compile("sgd", "mse", &[]).unwrap();
    assert_eq!(seq.predict(&ids, 8).unwrap().shape(), &[32, 2]);
    let build = |s: Sequential| -> Model { s.into() };
    let e = build(Sequential::new().add(Dense::new(2))).build(&[]).unwrap_err().to_string();
    assert!(e.contains("dense"), "{e}");
    let e = build(Sequential::new().add(minibatch::layers::Softmax::new())).build(&[]).unwrap_err().to_string();
    assert!(e.contains("softmax") && e.contains("across the batch"), "{e}");
    let e = build(Sequential::new().add(minibatch::layers::PReLU::new())).build(&[]).unwrap_err().to_string();
    assert!(e.contains("PReLU"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
