//! ONNX export checked by ONNX's own tools (`tests/fixtures/check_onnx.py`): for a model of
//! each family, `onnx.checker.check_model(full_check=True)` passes and onnxruntime's outputs
//! on random inputs equal minibatch's `predict` to 1e-5; a layer ONNX export cannot express is
//! refused by name, and the command writes nothing over its input.

use crate::common::{minibatch, random, temp_dir};
use crate::tensorboard::python_with;
use minibatch::layers::{
    ActivationLayer, Add, AveragePooling2D, BatchNormalization, Bidirectional, Concatenate, Conv1D, Conv2D,
    Conv2DTranspose, Dense, DepthwiseConv2D, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalMaxPooling1D, LayerNormalization, MaxPooling1D, MaxPooling2D, MultiHeadAttention,
    Multiply, Normalization, Rescaling, Reshape, SeparableConv2D, SimpleRNN, UpSampling2D, ZeroPadding2D, GRU, LSTM,
};
use minibatch::models::{Call, Input, Shared};
use minibatch::{FitOptions, Model, Sequential, Tensor};
use std::path::Path;

/// `model`'s predictions on `inputs`, the inputs and the exported model written to
/// `dir/name.{onnx, in0.npy, …, out0.npy}`.
fn export(dir: &Path, name: &str, model: &mut Model, inputs: &[Tensor]) {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let outputs = model.predict_outputs(&refs[..], 16).unwrap();
    for (i, x) in inputs.iter().enumerate() {
        std::fs::write(dir.join(format!("{name}.in{i}.npy")), minibatch::io::write_npy(x.shape(), x.data())).unwrap();
    }
    for (i, y) in outputs.iter().enumerate() {
        std::fs::write(dir.join(format!("{name}.out{i}.npy")), minibatch::io::write_npy(y.shape(), y.data())).unwrap();
    }
    model.export_onnx(dir.join(format!("{name}.onnx"))).unwrap();
}

/// A few steps of training, so that BatchNormalization's moving statistics and every weight
/// are away from their initial values.
fn trained(mut model: Model, x: &Tensor, classes: usize) -> Model {
    let y = Tensor::from_vec(&[x.batch()], (0..x.batch()).map(|i| (i % classes) as f32).collect()).unwrap();
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    model.fit(x, &y, FitOptions::new().epochs(2).batch_size(8).verbose(0)).unwrap();
    model
}

#[test]
fn every_family_runs_in_onnxruntime_as_in_minibatch() {
    let Some(python) = python_with("onnxruntime") else { return };
    let dir = temp_dir("onnx-export");
    // MLP: standardized inputs, every activation, dropout, the targets' inverse scaling.
    let x = random(&[32, 5], 1);
    let mut norm = Normalization::new();
    norm.adapt(&x).unwrap();
    let back = Normalization::new().invert(true).with_statistics(&[3.0, -1.0], &[4.0, 0.25]).unwrap();
    let mut mlp = Sequential::new().seed(1).input_shape(&[5]).add(norm);
    for (i, a) in [
        "relu",
        "sigmoid",
        "tanh",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "gelu",
        "silu",
        "leaky_relu",
        "mish",
        "relu6",
        "hard_sigmoid",
    ]
    .iter()
    .enumerate()
    {
        mlp = mlp.add(Dense::new(6 + i % 3).activation(*a));
    }
    let mlp = mlp.add(Dropout::new(0.3)).add(Dense::new(2)).add(back).into_model();
    let mut mlp = trained(mlp, &x, 2);
    export(&dir, "mlp", &mut mlp, &[x]);

    // Convnet: rescaling, same and valid padding, strides, both poolings, BatchNormalization,
    // global pooling; and Keras's MNIST convnet's Flatten.
    let images = random(&[16, 12, 10, 3], 2);
    let convnet = Sequential::new()
        .seed(2)
        .input_shape(&[12, 10, 3])
        .add(Rescaling::new(0.5).offset(0.1))
        .add(Conv2D::new(4, 3).padding("same").activation("relu"))
        .add(BatchNormalization::new())
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(5, (3, 2)).strides(2).padding("valid"))
        .add(AveragePooling2D::new(2).padding("same"))
        .add(Flatten::new())
        .add(Dense::new(3).activation("softmax"))
        .into_model();
    let mut convnet = trained(convnet, &images, 3);
    export(&dir, "convnet", &mut convnet, std::slice::from_ref(&images));
    let pooled = Sequential::new()
        .seed(3)
        .input_shape(&[12, 10, 3])
        .add(Conv2D::new(4, 3).strides((2, 1)).padding("same"))
        .add(GlobalAveragePooling2D::new())
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut pooled = trained(pooled, &images, 2);
    export(&dir, "global_pool", &mut pooled, std::slice::from_ref(&images));
    // LayerNormalization over a sample's last axes and UnitNormalization, as ONNX's
    // LayerNormalization from an axis to the end and a capped inverse norm.
    let normalized = Sequential::new()
        .seed(4)
        .input_shape(&[12, 10, 3])
        .add(Conv2D::new(4, 3).activation("relu"))
        .add(LayerNormalization::new().axis([2, 3]))
        .add(minibatch::layers::UnitNormalization::new().axis([1, 2, 3]))
        .add(LayerNormalization::new().axis([1, 2, 3]).center(false))
        .add(minibatch::layers::UnitNormalization::new())
        .add(Flatten::new())
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut normalized = trained(normalized, &images, 2);
    export(&dir, "normalizations", &mut normalized, &[images]);

    // Functional: two inputs, a shared layer, merges, concatenation, LayerNormalization,
    // Reshape, an activation layer.
    let a = Input::named("a", &[6]);
    let b = Input::named("b", &[6]);
    let shared = Shared::new(Dense::new(4).activation("relu").name("shared"));
    let (ha, hb) = (shared.call(&a), shared.call(&b));
    let sum = Add::new().call([&ha, &hb]);
    let product = Multiply::new().call([&ha, &hb]);
    let cat = Concatenate::new().call([&sum, &product]);
    let normed = LayerNormalization::new().call(&cat);
    let shaped = Reshape::new(&[2, 4]).call(&normed);
    let flat = Flatten::new().call(&shaped);
    let act = ActivationLayer::new("tanh").call(&flat);
    let out = Dense::new(3).activation("softmax").name("head").call(&act);
    let functional = Model::new(&[&a, &b], &[&out]).unwrap().with_seed(4).unwrap();
    let (xa, xb) = (random(&[20, 6], 3), random(&[20, 6], 4));
    let mut functional = {
        let mut m = functional;
        let y = Tensor::from_vec(&[20], (0..20).map(|i| (i % 3) as f32).collect()).unwrap();
        m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
        m.fit([&xa, &xb], &y, FitOptions::new().epochs(2).batch_size(5).verbose(0)).unwrap();
        m
    };
    export(&dir, "functional", &mut functional, &[xa, xb]);

    // Embedding: token ids to vectors, averaged by a Dense over the flattened sequence.
    let ids = Tensor::from_vec(&[10, 4], (0..40).map(|i| ((i * 7) % 11) as f32).collect()).unwrap();
    let embed = Sequential::new()
        .seed(5)
        .input_shape(&[4])
        .add(Embedding::new(11, 3))
        .add(Flatten::new())
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut embed = trained(embed, &ids, 2);
    export(&dir, "embedding", &mut embed, &[ids]);

    // Depthwise and separable convolutions, zero padding, nearest upsampling.
    let images = random(&[8, 9, 8, 3], 8);
    let separable = Sequential::new()
        .seed(8)
        .input_shape(&[9, 8, 3])
        .add(ZeroPadding2D::with_padding([[1, 2], [0, 1]]))
        .add(DepthwiseConv2D::new(3).depth_multiplier(2).activation("relu"))
        .add(UpSampling2D::with_size(2, 1))
        .add(SeparableConv2D::new(4, 3).strides(2).padding("same"))
        .add(Conv2DTranspose::new(3, 3).strides(2).padding("same").activation("relu"))
        .add(Conv2DTranspose::new(2, (2, 3)).strides((3, 2)))
        .add(Flatten::new())
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut separable = trained(separable, &images, 2);
    export(&dir, "separable", &mut separable, &[images]);
    // One-dimensional convolution and pooling over sequences.
    let series = random(&[10, 16, 4], 9);
    let conv1d = Sequential::new()
        .seed(9)
        .input_shape(&[16, 4])
        .add(Conv1D::new(5, 3).padding("same").activation("relu"))
        .add(MaxPooling1D::new(2))
        .add(Conv1D::new(3, 2).strides(2))
        .add(GlobalMaxPooling1D::new())
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut conv1d = trained(conv1d, &series, 2);
    export(&dir, "conv1d", &mut conv1d, &[series]);

    // Attention: a Transformer encoder block (self-attention, residual Add, LayerNormalization,
    // feed-forward), and causal cross-attention with a key of its own.
    let (t, f) = (6, 8);
    let tokens = Input::named("tokens", &[t, f]);
    let memory = Input::named("memory", &[4, 5]);
    let attended = MultiHeadAttention::new(2, 4).name("self_attention").call([&tokens, &tokens]);
    let residual = Add::new().call([&tokens, &attended]);
    let normed = LayerNormalization::new().call(&residual);
    let ff = Dense::new(f).activation("relu").call(&normed);
    let cross = MultiHeadAttention::new(3, 2).value_dim(3).name("cross").call([&ff, &memory, &memory]);
    let causal = MultiHeadAttention::new(2, 3).use_causal_mask(true).name("causal").call([&cross, &cross]);
    let pooled = GlobalAveragePooling1D::new().call(&causal);
    let out = Dense::new(2).activation("softmax").call(&pooled);
    let encoder = Model::new(&[&tokens, &memory], &[&out]).unwrap().with_seed(10).unwrap();
    let (xt, xm) = (random(&[9, t, f], 10), random(&[9, 4, 5], 11));
    let mut encoder = {
        let mut m = encoder;
        let y = Tensor::from_vec(&[9], (0..9).map(|i| (i % 2) as f32).collect()).unwrap();
        m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
        m.fit([&xt, &xm], &y, FitOptions::new().epochs(2).batch_size(3).verbose(0)).unwrap();
        m
    };
    export(&dir, "attention", &mut encoder, &[xt, xm]);

    // Recurrent: SimpleRNN, LSTM and GRU (returning sequences and not), a Bidirectional LSTM.
    let sequences = random(&[12, 7, 3], 6);
    let rnn = Sequential::new()
        .seed(6)
        .input_shape(&[7, 3])
        .add(SimpleRNN(5).return_sequences(true))
        .add(LSTM::new(4).return_sequences(true))
        .add(Bidirectional::new(LSTM::new(3).return_sequences(true)))
        .add(GRU::new(6))
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut rnn = trained(rnn, &sequences, 2);
    export(&dir, "recurrent", &mut rnn, std::slice::from_ref(&sequences));
    let last = Sequential::new()
        .seed(7)
        .input_shape(&[7, 3])
        .add(Bidirectional::new(GRU::new(4)))
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    let mut last = trained(last, &sequences, 2);
    export(&dir, "bidirectional_gru", &mut last, &[sequences]);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check_onnx.py");
    let out = std::process::Command::new(&python).arg(script).arg(&dir).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "{stdout}{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.contains("largest difference")).count(), 11, "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_layer_onnx_cannot_express_is_refused_by_name_and_nothing_is_written() {
    let dir = temp_dir("onnx-refused");
    let mut model =
        Sequential::new().add(LSTM::new(4).go_backwards(true).name("memory")).add(Dense::new(2)).into_model();
    model.build(&[5, 3]).unwrap();
    let path = dir.join("m.onnx");
    let e = model.export_onnx(&path).unwrap_err().to_string();
    assert!(e.contains("memory (LSTM)"), "{e}");
    assert!(!path.exists());
    let unbuilt = Sequential::new().add(Dense::new(2)).into_model();
    assert!(unbuilt.export_onnx(&path).unwrap_err().to_string().contains("not yet been built"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn minibatch_export_writes_onnx_and_never_over_its_input() {
    let dir = temp_dir("onnx-command");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ok, _, err) =
        minibatch(&["train", "--data", "moons", "--epochs", "1", "--verbose", "0", "--save", &p("m.safetensors")]);
    assert!(ok, "{err}");
    let (ok, out, err) = minibatch(&["export", "--model", &p("m.safetensors"), "--format", "onnx", &p("m.onnx")]);
    assert!(ok && out.contains("m.onnx") && out.contains("opset 17"), "{out}{err}");
    let bytes = std::fs::read(dir.join("m.onnx")).unwrap();
    assert!(bytes.windows(9).any(|w| w == b"minibatch"));
    // Over the input, an unknown format, a model with a layer ONNX lacks: named, nothing written.
    let (ok, _, err) = minibatch(&["export", "--model", &p("m.safetensors"), "--format", "onnx", &p("m.safetensors")]);
    assert!(!ok && err.contains("--model"), "{err}");
    let (ok, _, err) = minibatch(&["export", "--model", &p("m.safetensors"), "--format", "tflite", &p("m.tflite")]);
    assert!(!ok && err.contains("onnx"), "{err}");
    let mut lstm = Sequential::new().add(LSTM::new(4).go_backwards(true)).add(Dense::new(2)).into_model();
    lstm.build(&[5, 3]).unwrap();
    lstm.save(dir.join("l.safetensors")).unwrap();
    let (ok, _, err) = minibatch(&["export", "--model", &p("l.safetensors"), "--format", "onnx", &p("l.onnx")]);
    assert!(!ok && err.contains("(LSTM)") && err.contains("go_backwards") && !dir.join("l.onnx").exists(), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
