//! Models that hold every layer type between them, for the tests that check something of
//! every layer (zero allocation, the memory plan). Included by `#[path]` where needed.

use minibatch::layers::{
    ActivationLayer, AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D, Dense, Dropout, Embedding,
    Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
    LayerNormalization, MaxPooling1D, MaxPooling2D, Reshape, SimpleRNN, GRU, LSTM,
};
use minibatch::Sequential;

/// `(name, model, sample shape)`: between them, every layer class the registry knows
/// (`layers::CLASS_NAMES`; `tests/all/memory_plan.rs` checks it), some in orders chosen only
/// for that; the classifiers end in 3 classes. The models named `tokens…` take token ids
/// 0..17.
pub fn layer_zoo() -> Vec<(&'static str, minibatch::Model, Vec<usize>)> {
    use minibatch::layers::{RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
    let images = Sequential::new()
        .input_shape(&[12, 12, 2])
        .add(RandomFlip::new("horizontal_and_vertical"))
        .add(RandomRotation::new(0.1))
        .add(RandomTranslation::new(0.1, 0.1))
        .add(RandomZoom::new(0.1))
        .add(RandomContrast::new(0.2).value_range(-10.0, 10.0))
        .add(RandomCrop::new(12, 12))
        .add(Conv2D::new(6, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(BatchNormalization::new())
        .add(minibatch::layers::ZeroPadding2D::new(1))
        .add(minibatch::layers::SpatialDropout2D::new(0.3))
        .add(minibatch::layers::UpSampling2D::new(2))
        .add(minibatch::layers::Resizing::new(11, 13))
        .add(minibatch::layers::PReLU::new())
        .add(minibatch::layers::GroupNormalization::new(3))
        .add(LayerNormalization::new().axis([2, 3]))
        .add(minibatch::layers::UnitNormalization::new().axis([1, 2, 3]))
        .add(Conv2D::new(4, 3).padding("same").activation("elu"))
        .add(minibatch::layers::DepthwiseConv2D::new(3).depth_multiplier(2).padding("same"))
        .add(minibatch::layers::SeparableConv2D::new(4, 3).padding("same").activation("relu"))
        .add(minibatch::layers::Conv2DTranspose::new(4, 3).strides(2).padding("same"))
        .add(MaxPooling2D::new(2))
        .add(AveragePooling2D::new(2).padding("same"))
        .add(Dropout::new(0.2))
        .add(GlobalMaxPooling2D::new())
        .add(Dense::new(3))
        .add(ActivationLayer::new("softmax"));
    let sequences = Sequential::new()
        .input_shape(&[16, 3])
        .add(minibatch::layers::SpatialDropout1D::new(0.2))
        .add(Conv1D::new(6, 3).activation("leaky_relu"))
        .add(minibatch::layers::ReLU::new().max_value(4.0))
        .add(MaxPooling1D::new(2))
        .add(AveragePooling1D::new(2).padding("same"))
        .add(ActivationLayer::new("tanh"))
        .add(Flatten::new())
        .add(Reshape::new(&[4, 6]))
        .add(GlobalMaxPooling1D::new())
        .add(Dense::new(3).activation("softmax"));
    let pooled = Sequential::new()
        .input_shape(&[16, 3])
        .add(Dense::new(4).activation("sigmoid"))
        .add(GlobalAveragePooling1D::new())
        .add(Reshape::new(&[2, 2, 1]))
        .add(GlobalAveragePooling2D::new())
        .add(Dense::new(3).activation("softmax"));
    // Recurrences through time, layer normalization, and token ids (values 0..17 as ids).
    let recurrent = Sequential::new()
        .input_shape(&[16, 3])
        .add(LSTM::new(5).return_sequences(true))
        .add(LayerNormalization::new())
        .add(minibatch::layers::MultiHeadAttention::new(2, 3).use_causal_mask(true))
        .add(minibatch::layers::TimeDistributed::new(Dense::new(4).activation("relu")))
        .add(GRU::new(4).return_sequences(true).go_backwards(true))
        .add(minibatch::layers::Bidirectional::new(LSTM::new(3).return_sequences(true)))
        .add(SimpleRNN(3))
        .add(Dense::new(3).activation("softmax"));
    let tokens = Sequential::new()
        .input_shape(&[6])
        .add(Embedding::new(17, 4).mask_zero(true))
        .add(LSTM::new(4).return_sequences(true))
        .add(GlobalAveragePooling1D::new())
        .add(Reshape::new(&[4, 1]))
        .add(minibatch::layers::Masking::new(0.0))
        .add(LSTM::new(4))
        .add(Dense::new(3).activation("softmax"));
    // Preprocessing and activation layers over features.
    let mean: Vec<f32> = (0..8).map(|i| i as f32 / 16.0).collect();
    let preprocessed = Sequential::new()
        .input_shape(&[8])
        .add(minibatch::layers::Normalization::new().with_statistics(&mean, &[0.25; 8]).unwrap())
        .add(minibatch::layers::Rescaling::new(0.5))
        .add(Dense::new(8))
        .add(minibatch::layers::LeakyReLU::new())
        .add(Dense::new(8))
        .add(minibatch::layers::ELU::new())
        .add(minibatch::layers::Discretization::with_boundaries(&[-0.5, 0.0, 0.5]))
        .add(Dense::new(3))
        .add(minibatch::layers::Softmax::new());
    // Lookups and encodings over token ids.
    let lookups = Sequential::new()
        .input_shape(&[6])
        .add(minibatch::layers::IntegerLookup::new().with_vocabulary(&(1..16).collect::<Vec<i64>>()))
        .add(minibatch::layers::CategoryEncoding::new(17, minibatch::layers::OutputMode::MultiHot))
        .add(Dense::new(3).activation("softmax"));
    vec![
        ("images", images.into(), vec![12, 12, 2]),
        ("sequences", sequences.into(), vec![16, 3]),
        ("pooled", pooled.into(), vec![16, 3]),
        ("recurrent", recurrent.into(), vec![16, 3]),
        ("tokens", tokens.into(), vec![6]),
        ("preprocessed", preprocessed.into(), vec![8]),
        ("tokens, looked up", lookups.into(), vec![6]),
        ("graph", graph(), vec![6, 4]),
    ]
}

/// A functional model of the merges, Attention, PositionEmbedding, an LSTM's returned states
/// (RecurrentOutput) and a split Bidirectional (OutputPart), on sequences `[6, 4]`.
fn graph() -> minibatch::Model {
    use minibatch::layers::{
        Add, Attention, Average, Concatenate, Dot, Maximum, Minimum, Multiply, PositionEmbedding, Subtract,
    };
    use minibatch::models::{Call, Input};
    let x = Input::new(&[6, 4]);
    let (h, g) = (Dense::new(4).activation("tanh").call(&x), Dense::new(4).call(&x));
    let placed = Add::new().call([&h, &PositionEmbedding::new(6).call(&h)]);
    let merged = Concatenate::new().call([
        &placed,
        &Subtract::new().call([&h, &g]),
        &Multiply::new().call([&h, &g]),
        &Average::new().call([&h, &g]),
        &Maximum::new().call([&h, &g]),
        &Minimum::new().call([&h, &g]),
    ]);
    // Attention's return_attention_scores: the weights taken out by an OutputPart too.
    let [attended, weights] = Attention::new().call_with_scores([&merged, &merged]);
    let weights = minibatch::layers::GlobalAveragePooling1D::new().call(&weights);
    let [out, state_h, state_c] = <[_; 3]>::try_from(LSTM::new(5).call_with_states(&attended)).unwrap();
    let similarity = Dot::new(true).call([&state_h, &state_c]);
    // Keras's Bidirectional(merge_mode=None): two outputs, taken apart by OutputPart nodes.
    let [fwd, bwd] = minibatch::layers::Bidirectional::new(GRU::new(2)).call_split(&attended);
    let joined = Concatenate::new().call([&out, &state_h, &similarity, &fwd, &bwd, &weights]);
    let y = Dense::new(3).activation("softmax").call(&joined);
    minibatch::Model::new(&[&x], &[&y]).unwrap()
}
