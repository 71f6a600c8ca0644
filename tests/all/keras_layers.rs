//! Forward parity with Keras 3 for the sequence layers and every activation: Keras's own
//! weights, inputs and outputs, recorded by `tests/fixtures/make_keras_layers.py` in
//! `tests/fixtures/keras_layers.json`, must come out of minibatch's layers to 1e-5.

use minibatch::activations::Activation;
use minibatch::layers::{
    Bidirectional, Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D, Embedding, GroupNormalization, Layer,
    LayerNormalization, LeakyReLU, MergeMode, MultiHeadAttention, PReLU, ReLU, SeparableConv2D, SimpleRNN, Softmax,
    TimeDistributed, UnitNormalization, UpSampling2D, ZeroPadding2D, ELU, GRU, LSTM,
};
use minibatch::rng::Rng;
use minibatch::Tensor;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn layer_for(name: &str) -> Box<dyn Layer> {
    match name {
        "simple_rnn" => Box::new(SimpleRNN(4)),
        "simple_rnn_sequences_backwards" => Box::new(SimpleRNN(4).return_sequences(true).go_backwards(true)),
        "lstm" => Box::new(LSTM::new(4)),
        "lstm_sequences" => Box::new(LSTM::new(4).return_sequences(true)),
        "lstm_backwards_softsign" => {
            Box::new(LSTM::new(3).go_backwards(true).activation("softsign").return_sequences(true))
        }
        "gru" => Box::new(GRU::new(4)),
        "gru_sequences_backwards" => Box::new(GRU::new(4).return_sequences(true).go_backwards(true)),
        "layer_normalization" => Box::new(LayerNormalization::new()),
        "layer_normalization_eps" => Box::new(LayerNormalization::new().epsilon(1e-5)),
        "layer_normalization_last_two_axes" => Box::new(LayerNormalization::new().axis([2, 3])),
        "layer_normalization_whole_sample" => Box::new(LayerNormalization::new().axis([1, 2, 3]).epsilon(1e-4)),
        "group_normalization" => Box::new(GroupNormalization::new(3)),
        "group_normalization_instance" => Box::new(GroupNormalization::new(-1).epsilon(1e-5).center(false)),
        "group_normalization_sequence" => Box::new(GroupNormalization::new(1)),
        "unit_normalization" => Box::new(UnitNormalization::new()),
        "unit_normalization_axes" => Box::new(UnitNormalization::new().axis([2, 3])),
        "embedding" => Box::new(Embedding::new(10, 3)),
        "relu_args" => Box::new(ReLU::new().max_value(2.0).negative_slope(0.1).threshold(0.5)),
        "leaky_relu_layer" => Box::new(LeakyReLU::new()),
        "prelu" => Box::new(PReLU::new()),
        "elu_layer" => Box::new(ELU::with_alpha(0.5)),
        "softmax_layer" => Box::new(Softmax::new()),
        "zero_padding" => Box::new(ZeroPadding2D::new(1)),
        "time_distributed_conv" => Box::new(TimeDistributed::new(Conv2D::new(3, 2).activation("relu"))),
        "time_distributed_dense" => Box::new(TimeDistributed::new(Dense::new(4).activation("sigmoid"))),
        "mha" => Box::new(MultiHeadAttention::new(2, 3)),
        "mha_causal" => Box::new(MultiHeadAttention::new(2, 2).use_bias(false).use_causal_mask(true)),
        "mha_output_shape" => Box::new(MultiHeadAttention::new(2, 3).output_shape(5)),
        "zero_padding_uneven" => Box::new(ZeroPadding2D::with_padding([[0, 2], [1, 0]])),
        "up_sampling" => Box::new(UpSampling2D::new(2)),
        "up_sampling_wide" => Box::new(UpSampling2D::with_size(1, 3)),
        "up_sampling_bilinear" => Box::new(UpSampling2D::with_size(2, 3).interpolation("bilinear")),
        "up_sampling_bilinear_3" => Box::new(UpSampling2D::new(3).interpolation("bilinear")),
        "resizing_down" => Box::new(minibatch::layers::Resizing::new(3, 2)),
        "resizing_up" => Box::new(minibatch::layers::Resizing::new(7, 5)),
        "resizing_nearest_down" => Box::new(minibatch::layers::Resizing::new(4, 3).interpolation("nearest")),
        "resizing_nearest_up" => Box::new(minibatch::layers::Resizing::new(5, 7).interpolation("nearest")),
        "bidirectional_lstm_concat" => Box::new(Bidirectional::new(LSTM::new(3).return_sequences(true))),
        "bidirectional_gru_sum" => Box::new(Bidirectional::new(GRU::new(3)).merge_mode(MergeMode::Sum)),
        "bidirectional_rnn_mul_sequences" => {
            Box::new(Bidirectional::new(SimpleRNN(2).return_sequences(true)).merge_mode(MergeMode::Mul))
        }
        "bidirectional_lstm_ave" => Box::new(Bidirectional::new(LSTM::new(2)).merge_mode(MergeMode::Ave)),
        "depthwise_same_multiplier" => Box::new(DepthwiseConv2D::new(3).depth_multiplier(2).padding("same")),
        "depthwise_strided" => Box::new(DepthwiseConv2D::new((2, 3)).strides(2).activation("relu")),
        "separable" => Box::new(SeparableConv2D::new(4, 3).activation("tanh")),
        "separable_same_multiplier" => Box::new(SeparableConv2D::new(3, 2).padding("same").depth_multiplier(2)),
        "conv_transpose" => Box::new(Conv2DTranspose::new(3, 3)),
        "conv_transpose_strided_same" => {
            Box::new(Conv2DTranspose::new(2, 3).strides(2).padding("same").activation("relu"))
        }
        "conv_transpose_strided_valid" => Box::new(Conv2DTranspose::new(2, (3, 2)).strides((2, 3))),
        _ => panic!("no layer for case {name}"),
    }
}

#[test]
fn sequence_layers_match_keras_outputs_for_keras_weights() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_layers.json");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in r["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut layer = layer_for(name);
        assert_eq!(layer.kind(), case["class_name"].as_str().unwrap(), "{name}");
        let xs = shape(&case["x_shape"]);
        let out = layer.build(&xs[1..], &mut Rng::new(0)).unwrap();
        let ys = shape(&case["y_shape"]);
        assert_eq!(out, ys[1..], "{name}: output shape");
        let weights = case["weights"].as_array().unwrap();
        assert_eq!(weights.len(), layer.params().len(), "{name}: weight count");
        for (p, (w, s)) in
            layer.params_mut().iter_mut().zip(weights.iter().zip(case["weight_shapes"].as_array().unwrap()))
        {
            assert_eq!(p.value.shape(), shape(s).as_slice(), "{name}: {} shape", p.name);
            p.value.data_mut().copy_from_slice(&floats(w));
        }
        layer.plan(xs[0]);
        let x = Tensor::from_vec(&xs, floats(&case["x"])).unwrap();
        let mut y = Tensor::zeros(&ys);
        layer.forward(&x, &mut y, false);
        for (i, (got, want)) in y.data().iter().zip(floats(&case["y"])).enumerate() {
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{name}[{i}]: minibatch {got} vs Keras {want}");
        }
    }
}

#[test]
fn every_activation_matches_keras_at_seventeen_points() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_layers.json");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let points = floats(&r["points"]);
    for (name, values) in r["activations"].as_object().unwrap() {
        let act = Activation::from_name(name).unwrap();
        let mut got = points.clone();
        act.forward(&mut got, 1);
        for ((x, g), want) in points.iter().zip(&got).zip(floats(values)) {
            assert!((g - want).abs() <= 2e-6 * want.abs().max(1.0), "{name}({x}): minibatch {g} vs Keras {want}");
        }
    }
}

#[test]
fn spatial_dropout_drops_whole_channels_in_training_only() {
    use minibatch::layers::{SpatialDropout1D, SpatialDropout2D};
    for (mut layer, shape) in [
        (Box::new(SpatialDropout1D::new(0.5).seed(3)) as Box<dyn Layer>, vec![6, 5]),
        (Box::new(SpatialDropout2D::new(0.5).seed(3)), vec![3, 2, 5]),
    ] {
        layer.build(&shape, &mut Rng::new(0)).unwrap();
        layer.plan(4);
        let full = [&[4][..], &shape].concat();
        let x = Tensor::from_vec(&full, vec![1.0; full.iter().product()]).unwrap();
        let mut y = Tensor::zeros(&full);
        layer.forward(&x, &mut y, true);
        let c = *shape.last().unwrap();
        let mut dropped = 0;
        for sample in y.data().chunks_exact(x.row_len()) {
            // Every position of a sample keeps or drops the same channels, scaled by 1/(1 − rate).
            for position in sample.chunks_exact(c) {
                assert_eq!(position, &sample[..c]);
            }
            assert!(sample[..c].iter().all(|&v| v == 0.0 || v == 2.0));
            dropped += sample[..c].iter().filter(|&&v| v == 0.0).count();
        }
        assert!(dropped > 0 && dropped < 4 * c, "{dropped} of {} channels dropped", 4 * c);
        layer.forward(&x, &mut y, false);
        assert_eq!(y.data(), x.data(), "inference passes the input through");
    }
}
