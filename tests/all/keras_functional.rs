//! Functional models against Keras 3: masks through recurrent layers, merges and pooling,
//! attention between two sequences (MultiHeadAttention and Attention), and
//! a two-input, two-output model's losses, metrics and one SGD step, recorded by
//! `tests/fixtures/make_keras_functional.py` in `tests/fixtures/keras_functional.json`.

use minibatch::layers::{
    Add, Attention, Bidirectional, Concatenate, Dense, Dot, Dropout, Embedding, GlobalAveragePooling1D,
    LayerNormalization, Masking, MultiHeadAttention, Multiply, Reshape, SimpleRNN, GRU, LSTM,
};
use minibatch::models::{Call, Input, Losses, SymbolicTensor};
use minibatch::optimizers::SGD;
use minibatch::{CompileOptions, Model, Tensor};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_functional.json");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r["cases"].as_array().unwrap().clone()
}

/// The tensors of a case (a Keras scalar, shape `[]`, as shape `[1]`: Attention's scale).
fn tensors(values: &Value, shapes: &Value) -> Vec<Tensor> {
    let (values, shapes) = (values.as_array().unwrap(), shapes.as_array().unwrap());
    let dims = |s: &Value| Some(shape(s)).filter(|d| !d.is_empty()).unwrap_or(vec![1]);
    values.iter().zip(shapes).map(|(v, s)| Tensor::from_vec(&dims(s), floats(v)).unwrap()).collect()
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: {g} vs Keras {w}");
    }
}

/// The same graph as the fixture's case, by name.
fn model_for(name: &str) -> Model {
    let seq = |x: &SymbolicTensor, out: &SymbolicTensor| Model::new(&[x], &[out]).unwrap();
    match name {
        "embedding_lstm_sequences_pooled" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let s = LSTM::new(3).return_sequences(true).call(&e);
            let p = GlobalAveragePooling1D::new().call(&s);
            seq(&t, &Dense::new(2).call(&p))
        }
        "embedding_bidirectional_gru_simple_rnn_backwards" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let s = Bidirectional::new(GRU::new(3).return_sequences(true)).call(&e);
            seq(&t, &SimpleRNN(2).go_backwards(true).call(&s))
        }
        "embedding_dense_dropout_rnn_sequences_lstm" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let d = Dense::new(3).activation("tanh").call(&e);
            let s = SimpleRNN(3).return_sequences(true).call(&Dropout::new(0.5).call(&d));
            seq(&t, &LSTM::new(2).call(&LayerNormalization::new().call(&s)))
        }
        "two_masks_or" => {
            let (a, b) = (Input::new(&[6]), Input::new(&[6]));
            let ea = Embedding::new(12, 4).mask_zero(true).call(&a);
            let eb = Embedding::new(12, 4).mask_zero(true).call(&b);
            let m = GRU::new(3).call(&Add::new().call([&ea, &eb]));
            Model::new(&[&a, &b], &[&m]).unwrap()
        }
        "masking_lstm" => {
            let x = Input::new(&[5, 2]);
            seq(&x, &LSTM::new(3).call(&Masking::new(0.0).call(&x)))
        }
        "embedding_mha_self_pooled" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let p = GlobalAveragePooling1D::new().call(&MultiHeadAttention::new(2, 3).call(&e));
            seq(&t, &Dense::new(2).call(&p))
        }
        "embedding_mha_cross_masks" => {
            let (a, b) = (Input::new(&[6]), Input::new(&[6]));
            let ea = Embedding::new(12, 4).mask_zero(true).call(&a);
            let eb = Embedding::new(12, 5).mask_zero(true).call(&b);
            let p = GlobalAveragePooling1D::new().call(&MultiHeadAttention::new(2, 3).call([&ea, &eb]));
            Model::new(&[&a, &b], &[&Dense::new(2).call(&p)]).unwrap()
        }
        "embedding_mha_causal_lstm" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let s = MultiHeadAttention::new(2, 2).use_causal_mask(true).call(&e);
            seq(&t, &LSTM::new(3).call(&s))
        }
        "mha_masked_query_unmasked_value" => {
            let (t, u) = (Input::new(&[6]), Input::new(&[5, 3]));
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let s = MultiHeadAttention::new(2, 2).call([&e, &u]);
            Model::new(&[&t, &u], &[&LSTM::new(2).call(&s)]).unwrap()
        }
        "dot_last_axes" => {
            let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
            Model::new(&[&q, &v], &[&Dot::with_axes([2, 2], false).call([&q, &v])]).unwrap()
        }
        "dot_first_axes_normalized" => {
            let (a, b) = (Input::new(&[3, 4]), Input::new(&[3, 2]));
            Model::new(&[&a, &b], &[&Dot::with_axes([1, 1], true).call([&a, &b])]).unwrap()
        }
        "dot_2_1" => {
            let (a, b) = (Input::new(&[3, 4]), Input::new(&[4, 5]));
            Model::new(&[&a, &b], &[&Dot::with_axes([2, 1], false).call([&a, &b])]).unwrap()
        }
        "dot_vector_sequence_normalized" => {
            let (a, b) = (Input::new(&[4]), Input::new(&[3, 4]));
            Model::new(&[&a, &b], &[&Dot::with_axes([1, 2], true).call([&a, &b])]).unwrap()
        }
        "attention_concat" => {
            let (q, v, k) = (Input::new(&[3, 4]), Input::new(&[5, 6]), Input::new(&[5, 4]));
            let y = Attention::new().score_mode("concat").call([&q, &v, &k]);
            Model::new(&[&q, &v, &k], &[&y]).unwrap()
        }
        "attention_concat_scale_causal" => {
            let (q, kv) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
            let y = Attention::new().use_scale(true).score_mode("concat").use_causal_mask(true).call([&q, &kv]);
            Model::new(&[&q, &kv], &[&y]).unwrap()
        }
        "scalar_inputs" => {
            // Input(shape=()): one value per sample.
            let (i, n) = (Input::new(&[]), Input::new(&[]));
            let e = Embedding::new(10, 3).call(&i);
            let s = Reshape::new(&[1]).call(&Multiply::new().call([&n, &n]));
            let y = Dense::new(2).call(&Concatenate::new().call([&e, &s]));
            Model::new(&[&i, &n], &[&y]).unwrap()
        }
        "bidirectional_split" => {
            // merge_mode=None: two tensors, sequences and last steps, trained through both.
            let x = Input::new(&[5, 3]);
            let [fwd, bwd] = Bidirectional::new(GRU::new(3).return_sequences(true)).call_split(&x);
            let d = minibatch::layers::Subtract::new().call([&fwd, &bwd]);
            let [f2, b2] = Bidirectional::new(LSTM::new(2)).call_split(&d);
            let y = Dense::new(2).call(&Multiply::new().call([&f2, &b2]));
            Model::new(&[&x], &[&y, &fwd]).unwrap()
        }
        "attention_scores" => {
            // return_attention_scores: the output and the weights, both model outputs.
            let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
            let [out, scores] = Attention::new().use_scale(true).use_causal_mask(true).call_with_scores([&q, &v]);
            let y = Dense::new(2).call(&minibatch::layers::Flatten::new().call(&out));
            Model::new(&[&q, &v], &[&y, &scores]).unwrap()
        }
        "mha_cross" => {
            let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 6]));
            let y = MultiHeadAttention::new(2, 3).call([&q, &v]);
            Model::new(&[&q, &v], &[&y]).unwrap()
        }
        "mha_cross_key_causal" => {
            let (q, v, k) = (Input::new(&[3, 4]), Input::new(&[5, 6]), Input::new(&[5, 4]));
            let y = MultiHeadAttention::new(2, 3).use_bias(false).use_causal_mask(true).call([&q, &v, &k]);
            Model::new(&[&q, &v, &k], &[&y]).unwrap()
        }
        "attention_scaled_key" | "attention_scale_07" => {
            let (q, v, k) = (Input::new(&[3, 4]), Input::new(&[5, 6]), Input::new(&[5, 4]));
            let y = Attention::new().use_scale(true).call([&q, &v, &k]);
            Model::new(&[&q, &v, &k], &[&y]).unwrap()
        }
        "attention_causal" => {
            let (q, v) = (Input::new(&[3, 4]), Input::new(&[5, 4]));
            let y = Attention::new().use_causal_mask(true).call([&q, &v]);
            Model::new(&[&q, &v], &[&y]).unwrap()
        }
        "mha_attention_mask" => {
            let (q, v, mask) = (Input::new(&[3, 4]), Input::new(&[5, 6]), Input::new(&[3, 5]));
            let y = MultiHeadAttention::new(2, 3).call_with_mask([&q, &v], &mask);
            Model::new(&[&q, &v, &mask], &[&y]).unwrap()
        }
        "mha_attention_mask_causal" => {
            let (q, mask) = (Input::new(&[3, 4]), Input::new(&[3, 3]));
            let y = MultiHeadAttention::new(2, 2).use_causal_mask(true).call_with_mask(&q, &mask);
            Model::new(&[&q, &mask], &[&y]).unwrap()
        }
        "lstm_return_state" => {
            let x = Input::new(&[5, 3]);
            let outs = LSTM::new(3).call_with_states(&x);
            Model::new(&[&x], &outs.iter().collect::<Vec<_>>()).unwrap()
        }
        "masked_gru_return_state" => {
            let t = Input::new(&[6]);
            let e = Embedding::new(12, 4).mask_zero(true).call(&t);
            let outs = GRU::new(3).call_with_states(&e);
            Model::new(&[&t], &outs.iter().collect::<Vec<_>>()).unwrap()
        }
        "simple_rnn_return_state_sequences_backwards" => {
            let x = Input::new(&[5, 3]);
            let outs = SimpleRNN(2).return_sequences(true).go_backwards(true).call_with_states(&x);
            Model::new(&[&x], &outs.iter().collect::<Vec<_>>()).unwrap()
        }
        "lstm_initial_state" => {
            let (x, h, c) = (Input::new(&[5, 3]), Input::new(&[4]), Input::new(&[4]));
            let y = LSTM::new(4).return_sequences(true).call([&x, &h, &c]);
            Model::new(&[&x, &h, &c], &[&y]).unwrap()
        }
        "gru_initial_state_backwards" => {
            let (t, h) = (Input::new(&[6]), Input::new(&[3]));
            let e = Embedding::new(12, 4).call(&t);
            let y = GRU::new(3).go_backwards(true).call([&e, &h]);
            Model::new(&[&t, &h], &[&y]).unwrap()
        }
        "encoder_decoder" => encoder_decoder(),
        "two_headed" => crate::functional::two_headed(0),
        other => panic!("no model for case {other}"),
    }
}

/// An LSTM encoder whose final states start an LSTM decoder (Keras's seq2seq), then Dense(2).
fn encoder_decoder() -> Model {
    let (src, tgt) = (Input::new(&[5, 3]), Input::new(&[4, 2]));
    let states = LSTM::new(4).call_with_states(&src);
    let dec = LSTM::new(4).return_sequences(true).call([&tgt, &states[1], &states[2]]);
    Model::new(&[&src, &tgt], &[&Dense::new(2).call(&dec)]).unwrap()
}

/// Keras's weights in the model's order: the same order for the chains. The two-headed
/// model's layers are all Dense (a kernel, then a bias), which Keras lists in creation order
/// and minibatch in call order: each layer's pair goes where its kernel's shape fits, every
/// kernel shape there being distinct.
fn keras_weights(model: &Model, case: &Value, key: &str) -> Vec<Tensor> {
    let keras = tensors(&case[key], &case["weight_shapes"]);
    let ours = model.get_weights();
    assert_eq!(ours.len(), keras.len(), "{}: weight count", case["name"]);
    if case["name"] != "two_headed" {
        return keras;
    }
    let mut out = Vec::new();
    for pair in ours.chunks(2) {
        let k = keras.chunks(2).find(|k| k[0].shape() == pair[0].shape()).expect("a kernel of this shape");
        out.extend(k.iter().cloned());
    }
    out
}

#[test]
fn masks_and_attention_between_sequences_follow_keras() {
    for case in cases().iter().filter(|c| c["name"] != "two_headed" && c["name"] != "encoder_decoder") {
        let name = case["name"].as_str().unwrap();
        let mut model = model_for(name);
        let weights = keras_weights(&model, case, "weights");
        model.set_weights(&weights).unwrap();
        let xs = tensors(&case["x"], &case["x_shapes"]);
        let refs: Vec<&Tensor> = xs.iter().collect();
        let ys = model.predict_outputs(&refs[..], 4).unwrap();
        let want = tensors(&case["y"], &case["y_shapes"]);
        assert_eq!(ys.len(), want.len(), "{name}: outputs");
        for (k, (y, w)) in ys.iter().zip(&want).enumerate() {
            assert_eq!(y.shape(), w.shape(), "{name}: output {k}");
            close(y.data(), w.data(), 1e-5, &format!("{name}, output {k}"));
        }
    }
}

#[test]
fn two_outputs_losses_metrics_and_one_sgd_step_match_keras() {
    let case = cases().into_iter().find(|c| c["name"] == "two_headed").unwrap();
    let mut model = model_for("two_headed");
    let losses = Losses::named(&[("digit", "sparse_categorical_crossentropy"), ("value", "mse")]);
    let options = CompileOptions::new()
        .output_metrics("digit", &["accuracy"])
        .output_metrics("value", &["mae"])
        .loss_weights(&[1.0, 0.5]);
    model.compile_with(SGD::new(0.1), losses, options).unwrap();
    let weights = keras_weights(&model, &case, "weights");
    model.set_weights(&weights).unwrap();
    let xs = tensors(&case["x"], &case["x_shapes"]);
    let targets = case["targets"].as_array().unwrap();
    let classes = Tensor::from_slice(&floats(&targets[0]));
    let values = Tensor::from_vec(&[8, 1], floats(&targets[1])).unwrap();
    let ys = tensors(&case["y"], &case["y_shapes"]);
    let outs = model.predict_outputs([&xs[0], &xs[1]], 8).unwrap();
    close(outs[0].data(), ys[0].data(), 1e-5, "digit");
    close(outs[1].data(), ys[1].data(), 1e-5, "value");
    let logs = model.evaluate([&xs[0], &xs[1]], [&classes, &values], 8).unwrap();
    for (key, want) in case["evaluate"].as_object().unwrap() {
        let got = logs.get(key).unwrap_or_else(|| panic!("no {key} in {logs}"));
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{key}: {got} vs Keras {want}");
    }
    model.train_on_batch([&xs[0], &xs[1]], [&classes, &values]).unwrap();
    let after = keras_weights(&model, &case, "after_one_sgd_step");
    for (i, (got, want)) in model.get_weights().iter().zip(&after).enumerate() {
        close(got.data(), want.data(), 1e-5, &format!("weight {i} after one step"));
    }
}

#[test]
fn an_encoder_decoder_trains_through_its_initial_states_as_keras() {
    // The gradient reaches the encoder only through the states the decoder starts from.
    let case = cases().into_iter().find(|c| c["name"] == "encoder_decoder").unwrap();
    let mut model = encoder_decoder();
    model.compile(SGD::new(0.5), "mse", &[]).unwrap();
    let weights = keras_weights(&model, &case, "weights");
    model.set_weights(&weights).unwrap();
    let xs = tensors(&case["x"], &case["x_shapes"]);
    let y = Tensor::from_vec(&[2, 4, 2], floats(&case["targets"][0])).unwrap();
    model.train_on_batch([&xs[0], &xs[1]], &y).unwrap();
    let after = keras_weights(&model, &case, "after_one_sgd_step");
    for (i, (got, want)) in model.get_weights().iter().zip(&after).enumerate() {
        close(got.data(), want.data(), 1e-5, &format!("weight {i} after one step"));
    }
    assert_ne!(model.get_weights()[0], weights[0], "the encoder's kernel moved");
    // A state of the wrong size is named when the model is made.
    let (x, h) = (Input::new(&[5, 3]), Input::new(&[3]));
    let e = Model::new(&[&x, &h], &[&LSTM::new(4).call([&x, &h])]).unwrap_err().to_string();
    assert!(e.contains("initial_state") && e.contains("h, c"), "{e}");
}
