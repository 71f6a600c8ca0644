//! Layers: the [`Layer`] contract and the layers that implement it.
//!
//! A layer is built once for a per-sample input shape (creating its weights), planned for the
//! largest batch it will see (sizing its workspaces), and then runs `forward` and `backward`
//! over buffers the model owns. Neither allocates.
//!
//! # The contract
//! - `forward(x, y, training)`: `y` is already sized `[batch, output_shape…]`; overwrite it.
//! - `backward(x, y, dy, dx)`: called after `forward` on the same batch, in training only.
//!   `dy` is ∂loss/∂y and may be overwritten (the model no longer needs it). Parameter
//!   gradients are *written* (not added) into each [`Param::grad`]. `dx`, when asked for, is
//!   overwritten with ∂loss/∂x.
//!
//! # What every layer shares
//! A layer's name, weights, their penalties and constraints, its fused output activation and a
//! random layer's seed and draws live in one [`LayerCore`], lent through [`Layer::core`] and
//! [`Layer::core_mut`] (as an optimizer lends what optimizers share through `base()`); the
//! trait's defaults for `name`, `params`, the fusion, the activity penalty and the sample
//! offset read it, so a layer implements only what is its own.
//!
//! # Several inputs (merge layers, cross-attention)
//! A layer that takes several tensors implements [`Layer::build_many`], [`Layer::forward_many`]
//! and [`Layer::backward_many`]; their defaults hand a single input to `build`, `forward` and
//! `backward`, so a one-input layer writes only those. [`Inputs`] lends the input tensors in
//! call order; [`InputGrads`] lends, one at a time, the buffer each input's gradient is to be
//! *written* into (`None` for a model input, which needs none).
//!
//! # What the model does around a layer
//! Each call of a layer in a model is a node of the graph ([`crate::models`]). The model runs
//! the nodes in topological order, then backward in reverse. Where a tensor feeds several
//! nodes (a residual skip, a tensor used twice) the model adds their gradients: a layer never
//! sees that. A layer called twice (shared weights) runs its second call on a replica that
//! holds the same weight values; the model sums the replicas' parameter gradients into the
//! layer's before the update, so a layer never accumulates either.
//!
//! # Where each layer is
//! As Keras groups them: `core/` (Dense, Activation, Embedding, PositionEmbedding, Masking,
//! and the fused output activation and regularization builders the weighted layers share),
//! `activation_layers.rs` (ReLU, LeakyReLU, PReLU, ELU, Softmax), `conv/`, `pooling/`,
//! `normalization/`, `dropout.rs` (Dropout, SpatialDropout1D/2D), `attention/`, `merge.rs`
//! (Add … Dot), `reshaping/`, `recurrent/` (SimpleRNN, LSTM, GRU, Bidirectional,
//! TimeDistributed) and `preprocessing/`. Every public path is `minibatch::layers::Name`.
//!
//! # Memory
//! [`Layer::plan`] sizes the layer's own workspaces for a batch size, and
//! [`Layer::planned_workspace_bytes`] says how many bytes that plan takes without making it:
//! the model's memory plan ([`crate::MemoryPlan`]) adds these up. A test holds the two equal
//! for every layer type.

mod activation_layers;
mod attention;
mod conv;
mod core;
pub mod cost;
mod custom;
mod dot;
mod dropout;
pub mod dtype_policy;
mod gradient_norms;
mod layer_core;
mod merge;
mod normalization;
mod output_part;
mod pooling;
pub(crate) mod preprocessing;
mod recurrent;
mod reshaping;

pub use self::attention::dot_product::{Attention, AttentionConfig};
pub use self::attention::multi_head_attention::{MultiHeadAttention, MultiHeadAttentionConfig};
pub use self::conv::conv_transpose::{Conv2DTranspose, ConvTranspose, ConvTransposeConfig};
pub use self::conv::convolution::{Conv, Conv1D, Conv2D, ConvConfig, Size};
pub use self::conv::depthwise_conv::{DepthwiseConv, DepthwiseConv2D, DepthwiseConvConfig, SeparableConv2D};
pub use self::core::activation::{ActivationConfig, ActivationLayer};
pub use self::core::dense::{Dense, DenseConfig};
pub use self::core::embedding::{Embedding, EmbeddingConfig};
pub use self::core::masking::{Masking, MaskingConfig};
pub use self::core::position_embedding::{PositionEmbedding, PositionEmbeddingConfig};
pub use self::core::regularization::Regularization;
pub use self::cost::{Pass, Product};
pub use self::custom::{
    register_layer, Custom, CustomClone, CustomLayer, FromConfig, Weight, WeightOptions, WeightVars, Weights,
    MAX_INPUTS,
};
pub use self::normalization::axes::Axes;
pub use self::normalization::batch_normalization::{BatchNormalization, BatchNormalizationConfig};
pub use self::normalization::group_normalization::{GroupNormalization, GroupNormalizationConfig};
pub use self::normalization::layer_normalization::{LayerNormalization, LayerNormalizationConfig};
pub use self::normalization::unit_normalization::{UnitNormalization, UnitNormalizationConfig};
pub use self::pooling::global_pooling::{
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalPooling,
    GlobalPoolingConfig,
};
pub use self::pooling::windowed::{
    AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D, PoolOp, Pooling, PoolingConfig,
};
pub use self::recurrent::time_distributed::{TimeDistributed, TimeDistributedConfig};
pub use self::reshaping::flatten::{Flatten, FlattenConfig};
pub use self::reshaping::reshape::{Reshape, ReshapeConfig};
pub use self::reshaping::resizing::{Resizing, ResizingConfig};
pub use self::reshaping::up_sampling::{UpSampling2D, UpSampling2DConfig};
pub use self::reshaping::zero_padding::{ZeroPadding2D, ZeroPadding2DConfig};
pub use crate::initializers::IntoInitializer;
pub use crate::params::{Param, State};
pub use crate::tensor::window::{Padding, Window};
pub use activation_layers::{LeakyReLU, PReLU, PReLUConfig, ReLU, ReLUConfig, Softmax, ELU};
pub(crate) use custom::registered;
pub(crate) use dropout::{rng_state, sample_rng, set_rng_state};
pub use dropout::{Dropout, DropoutConfig, SpatialDropout1D, SpatialDropout2D};
pub use dtype_policy::{dtype_policy, set_dtype_policy, DTypePolicy};
pub use gradient_norms::GradientNorms;
pub(crate) use layer_core::lends_core;
pub use layer_core::{LayerCore, WithDType};
pub use merge::{Add, Average, Concatenate, Dot, Maximum, Merge, MergeConfig, MergeOp, Minimum, Multiply, Subtract};
pub use output_part::{OutputPart, OutputPartConfig};
pub use preprocessing::augmentation::{
    FillMode, Interpolation, RandomContrastConfig, RandomFlipConfig, Warp, WarpConfig,
};
pub use preprocessing::{
    CategoryEncoding, CategoryEncodingConfig, Discretization, DiscretizationConfig, IntegerLookup, IntegerLookupConfig,
    OutputMode, Split, Standardize, StringLookup, TextOutput, TextVectorization, TextVectorizationConfig,
};
pub use preprocessing::{
    Normalization, NormalizationConfig, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
    RandomZoom, Rescaling, RescalingConfig,
};
pub(crate) use recurrent::rows_per_part;
pub use recurrent::{
    Bidirectional, BidirectionalConfig, Cell, MergeMode, Recurrent, RecurrentConfig, RecurrentOutput,
    RecurrentOutputConfig, SimpleRNN, GRU, LSTM,
};

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// One stage of a model. See the [module docs](self) for the contract.
pub trait Layer: Send {
    /// Keras's class name, as `summary()` prints it: `Dense`, `Dropout`, ...
    fn kind(&self) -> &'static str;

    /// What every layer holds the same way (name, weights, penalties, fused output
    /// activation, random state): see [`LayerCore`]. The defaults below read it.
    fn core(&self) -> &LayerCore;

    /// [`Layer::core`], writable.
    fn core_mut(&mut self) -> &mut LayerCore;

    /// The layer's name: given by the user, else assigned by the model (`dense`, `dense_1`).
    fn name(&self) -> &str {
        &self.core().name
    }

    /// Sets the layer's name.
    fn set_name(&mut self, name: String) {
        self.core_mut().name = name;
    }

    /// The layers inside this one, for a layer that is a model (a nested model's own layers,
    /// in order); none by default. Saving walks them (Keras's files keep a nested model's
    /// weights under its own layers).
    fn sublayers(&self) -> &[Box<dyn Layer>] {
        &[]
    }

    /// Keras's `layer.trainable`: whether `fit` updates the layer's weights (true unless
    /// frozen).
    fn trainable(&self) -> bool {
        self.core().trainable
    }

    /// Freezes (`false`) or unfreezes the layer, as Keras's `layer.trainable = False`: a frozen
    /// layer's weights get no update and no optimizer slots, their regularization penalties
    /// leave the loss, and a frozen `BatchNormalization` runs in inference mode (Keras 3's
    /// rule). Gradients still flow through it to the layers before it. As in Keras, the change
    /// takes effect at the next `compile` (`fit` refuses to run on a stale one). A layer that
    /// holds layers (a nested model) sets them all.
    fn set_trainable(&mut self, trainable: bool) {
        self.core_mut().trainable = trainable;
    }

    /// Creates the weights for a per-sample `input_shape` and returns the per-sample output
    /// shape. Errors name the layer and the shapes.
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>>;

    /// Checks the values of the model's input when this is the first layer, before any work
    /// (an Embedding's token ids, say); nothing to check by default.
    ///
    /// # Errors
    /// A value the layer cannot take, naming the sample and the value.
    fn check_input(&self, _x: &Tensor) -> Result<()> {
        Ok(())
    }

    /// Checks the layer's arguments (an activation or initializer given by an unknown name, a
    /// padding that is neither `valid` nor `same`): [`Model::compile`](crate::Model::compile)
    /// calls it for every layer, so a wrong argument fails there rather than at `fit`.
    ///
    /// # Errors
    /// The first argument the layer cannot take, named with its value.
    fn check_arguments(&self) -> Result<()> {
        Ok(())
    }

    /// Sizes internal workspaces for batches of up to `max_batch` samples.
    fn plan(&mut self, _max_batch: usize) {}

    /// Computes `y` from `x`. See the module docs.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool);

    /// Computes gradients from `dy`. See the module docs.
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>);

    /// [`Layer::build`] for a call on several tensors (a merge layer's). The default takes
    /// exactly one.
    ///
    /// # Errors
    /// A number of inputs the layer does not take, or shapes it cannot combine, naming the
    /// layer and the shapes.
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<usize>> {
        match input_shapes {
            [one] => self.build(one, rng),
            _ => Err(Error::Shape {
                what: format!("inputs of layer {} ({})", self.name(), self.kind()),
                expected: "one tensor".into(),
                received: format!("{} tensors", input_shapes.len()),
            }),
        }
    }

    /// [`Layer::forward`] over several inputs. The default hands the first to `forward`.
    fn forward_many(&mut self, xs: Inputs<'_>, y: &mut Tensor, training: bool) {
        self.forward(xs.get(0), y, training);
    }

    /// [`Layer::backward`] over several inputs. The default hands the first to `backward`.
    fn backward_many(&mut self, xs: Inputs<'_>, y: &Tensor, dy: &mut Tensor, mut dxs: InputGrads<'_>) {
        self.backward(xs.get(0), y, dy, dxs.get_mut(0));
    }

    /// The trainable parameters ([`LayerCore::params`] by default).
    fn params(&self) -> &[Param] {
        &self.core().params
    }

    /// The trainable parameters, writable.
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.core_mut().params
    }

    /// The activation applied last in `forward`, if the layer has one.
    fn output_activation(&self) -> Activation {
        Activation::Linear
    }

    /// With `fused`, `backward` receives ∂loss/∂(pre-activation) in `dy` and skips the output
    /// activation's derivative. The model sets this when the loss fuses a softmax or sigmoid
    /// into a stable cross-entropy gradient, `(p − y) / n`, and clears it when recompiled with
    /// a loss that does not. By default the flag is [`LayerCore`]'s, which a layer's output
    /// activation reads.
    fn fuse_output_activation(&mut self, fused: bool) {
        self.core_mut().output.fused = fused;
    }
    /// With a fused loss: the values before the output activation in the latest `forward`,
    /// from which the loss takes its value, as Keras's TensorFlow backend takes it from the
    /// logits it keeps on a softmax's output. `None` (the default) when they are the layer's
    /// input (an `Activation` layer).
    fn fused_logits(&self) -> Option<&[f32]> {
        self.core().output.logits()
    }

    /// What the layer does with a mask on its input (see [`MaskRule`]); `Drop` by default.
    fn mask_rule(&self) -> MaskRule {
        MaskRule::Drop
    }

    /// For [`MaskRule::Produce`]: writes the mask of `x` into `mask` (`[batch, time]`, 1 to
    /// use a step, 0 to skip it).
    fn compute_mask(&self, _x: &Tensor, _mask: &mut Tensor) {}

    /// The activity penalties inside a layer that holds layers of its own (a nested model),
    /// from its latest forward pass, per sample: the model adds them to the loss as it adds
    /// its own layers' (their gradients flow through `backward` already). 0 by default.
    fn activity_penalty(&self) -> f64 {
        0.0
    }

    /// Tells a random layer the position in the global batch of the next training batch's
    /// first sample: this process's shard's offset when a batch is split over processes (see
    /// [`crate::distributed`]). Dropout draws each sample's mask from the step and the
    /// sample's position, so the split changes no mask. Kept in [`LayerCore::offset`] by
    /// default; a layer that holds layers passes it on.
    fn set_sample_offset(&mut self, offset: usize) {
        self.core_mut().offset = offset;
    }

    /// Whether the layer takes part in collectives with the other processes in each training
    /// step (a synchronized `BatchNormalization`): then every process must compute every
    /// step, so `fit` refuses a batch that would leave one without samples. False by default;
    /// a layer that holds layers asks them.
    fn synchronizes(&self) -> bool {
        false
    }

    /// The penalty on the layer's output (Keras's `activity_regularizer`), if any
    /// ([`LayerCore::reg`]'s by default).
    fn activity_regularizer(&self) -> Option<crate::regularizers::Regularizer> {
        self.core().reg.activity_regularizer
    }

    /// The matrix products of a training step at `batch` samples, each as the layer calls it
    /// (see [`Product`]), for the time plan ([`crate::lab::plan_time`]). `positions` is the
    /// rows per sample of the layer's output (its elements over its last axis);
    /// `input_gradient` whether backward computes the input's gradient. By default every
    /// weight named `…kernel` is one kernel over `batch · positions` rows
    /// ([`cost::weight_kernel_products`]); a layer that calls its products otherwise (a
    /// recurrent layer's steps, a wrapper's inner layers) says so.
    fn products(&self, batch: usize, positions: usize, input_gradient: bool) -> Vec<Product> {
        cost::weight_kernel_products(self.name(), self.params(), batch * positions, input_gradient)
    }

    /// For a layer that packs several outputs of different shapes into its tensor (Keras's
    /// `Attention(return_attention_scores=True)`: the output and the scores): each part's
    /// offset in a flat packed sample and its shape, once built. Empty by default. An
    /// [`OutputPart::of`] node reading the tensor takes its part's layout from it.
    fn output_parts(&self) -> Vec<(usize, Vec<usize>)> {
        Vec::new()
    }

    /// Receives the [`Layer::output_parts`] of the layer whose tensor this one reads, before
    /// being built (an [`OutputPart::of`] takes its own). Ignored by default.
    fn place_part(&mut self, _parts: &[(usize, Vec<usize>)]) {}

    /// Seconds of the layer's own element-wise work on its workspaces in one training step
    /// at `batch` samples (`input_gradient`: backward computes the input's gradient),
    /// measured now by running its kernels on workspaces of that size, for the time plan;
    /// `None` (the default) leaves the plan to count the values of its workspaces
    /// ([`Layer::planned_workspace_bytes`]) at the rate of an activation pass. A recurrent
    /// cell, whose gates cost several such passes, and a convolution, whose patches are
    /// copies, measure themselves.
    fn time_elementwise(&self, _batch: usize, _input_gradient: bool) -> Option<f64> {
        None
    }

    /// The bytes [`Layer::plan`]`(max_batch)` reserves for the layer's own workspaces, computed
    /// without reserving them: what [`Layer::workspace_bytes`] reports after that plan. The
    /// model's memory plan ([`Model::memory_plan`](crate::Model::memory_plan)) adds these up.
    fn planned_workspace_bytes(&self, _max_batch: usize) -> usize {
        0
    }

    /// Bytes of the layer's own workspaces (not weights, not the model's activation buffers).
    fn workspace_bytes(&self) -> usize {
        0
    }

    /// The layer's arguments as JSON (Keras's `get_config()`), from which [`crate::saving::layer_from_config`]
    /// rebuilds it; `None` (the default) for a layer that cannot be saved as a model file.
    /// Such a model can still save and load its weights.
    fn config(&self) -> Option<serde_json::Value> {
        None
    }

    /// A copy of this layer for a second call of it (a shared layer): the same
    /// configuration, not built; the model builds it for that call's shapes and mirrors the
    /// weights into it. By default rebuilt from [`Layer::config`]; a layer holding layers (a
    /// wrapper, a nested model) replicates those.
    ///
    /// # Errors
    /// A layer that gives no configuration, or whose class cannot be rebuilt here.
    fn replicate(&self) -> Result<Box<dyn Layer>> {
        let config = self.config().ok_or_else(|| {
            Error::State(format!(
                "layer {} ({}) is called twice but gives no config to make its second call from",
                self.name(),
                self.kind()
            ))
        })?;
        let mut copy = rebuild(self.kind(), &config)?;
        copy.set_name(self.name().to_string());
        Ok(copy)
    }

    /// Non-trainable variables saved with the weights, by name within the layer.
    fn state(&self) -> Vec<(&'static str, State)> {
        Vec::new()
    }

    /// Restores a variable [`Layer::state`] returned. Called only with a name and a kind of
    /// value that `state` gives.
    ///
    /// # Errors
    /// A value of the wrong size, naming the layer.
    fn set_state(&mut self, name: &str, _value: &State) -> Result<()> {
        Err(Error::State(format!("layer {} has no variable {name}", self.name())))
    }
}

/// The tensors a layer is called on, in call order, lent from the model's buffers without
/// copying or allocating.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    tensors: &'a [Tensor],
    ids: &'a [usize],
    mask: Option<&'a Tensor>,
    /// The model's mask buffers and which one each input carries.
    masks: &'a [Tensor],
    masks_of: &'a [Option<usize>],
}

impl<'a> Inputs<'a> {
    /// The inputs `ids` of the model's buffers `tensors`.
    pub(crate) fn new(tensors: &'a [Tensor], ids: &'a [usize]) -> Self {
        Inputs { tensors, ids, mask: None, masks: &[], masks_of: &[] }
    }

    /// A single tensor as the only input (a layer run outside a model, in tests).
    pub fn one(x: &'a Tensor) -> Self {
        Inputs { tensors: std::slice::from_ref(x), ids: &[0], mask: None, masks: &[], masks_of: &[] }
    }

    /// The same inputs with each one's mask: buffer `masks_of[i]` of `masks` for input `i`.
    pub(crate) fn with_input_masks(mut self, masks: &'a [Tensor], masks_of: &'a [Option<usize>]) -> Self {
        self.masks = masks;
        self.masks_of = masks_of;
        self
    }

    /// The mask on input `i` (`[batch, time]`, 1 for a step to use), when one reaches it; read
    /// by layers whose rule is [`MaskRule::First`].
    pub fn input_mask(&self, i: usize) -> Option<&'a Tensor> {
        self.masks_of.get(i).copied().flatten().map(|k| &self.masks[k])
    }

    /// The same inputs with a mask on the first (see [`MaskRule`]).
    pub fn with_mask(mut self, mask: Option<&'a Tensor>) -> Self {
        self.mask = mask;
        self
    }

    /// The mask on the first input: `[batch, time]`, 1 for a step to use and 0 for one to
    /// skip (Keras's `mask` argument), when one reaches the layer.
    pub fn mask(&self) -> Option<&'a Tensor> {
        self.mask
    }

    /// The number of inputs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none (never, in a model).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `i`-th input.
    pub fn get(&self, i: usize) -> &'a Tensor {
        &self.tensors[self.ids[i]]
    }

    /// The inputs in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a Tensor> + '_ {
        self.ids.iter().map(|&i| &self.tensors[i])
    }
}

/// Where a layer writes the gradient of each of its inputs: lent one at a time by
/// [`InputGrads::get_mut`], `None` where the model needs none (a model input).
pub struct InputGrads<'a> {
    grads: &'a mut [Tensor],
    scratch: &'a mut [Tensor],
    slots: &'a [GradSlot],
}

/// What a layer does with a mask on its input (Keras's `supports_masking` and
/// `compute_mask`). A mask marks, per sample, the time steps of a sequence to use (1) and to
/// skip (0): the padding of token sequences, from [`Embedding::mask_zero`] or `Masking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskRule {
    /// The output has no mask (the default; as Keras, a layer that does not support masking
    /// drops it). A layer may still use the mask it receives (a recurrent layer without
    /// `return_sequences`, global pooling over time).
    Drop,
    /// The output keeps the input's mask: the layer works step by step (Dense on sequences,
    /// Dropout, LayerNormalization, a recurrent layer with `return_sequences`, merges).
    Pass,
    /// The layer makes a mask from its input ([`Layer::compute_mask`]).
    Produce,
    /// The output keeps its first input's mask, and the layer reads each input's
    /// ([`Inputs::input_mask`]): attention, whose output keeps the query's mask as Keras's.
    First,
    /// Keras would apply a mask here and this layer does not yet: a mask reaching it is an
    /// error when the model is built, rather than a silent difference.
    Unsupported,
}

/// Where the gradient of one input of a node goes (planned once per graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GradSlot {
    /// Not needed: the input is one of the model's.
    None,
    /// Written straight into the gradient buffer of tensor `.0` (its first writer).
    Write(usize),
    /// Written into scratch buffer `scratch`, then added into tensor `into`'s gradient.
    Add { scratch: usize, into: usize },
}

impl<'a> InputGrads<'a> {
    pub(crate) fn new(grads: &'a mut [Tensor], scratch: &'a mut [Tensor], slots: &'a [GradSlot]) -> Self {
        InputGrads { grads, scratch, slots }
    }

    /// The single input's gradient buffer `dx` (a layer run outside a model, in tests).
    pub fn one(dx: Option<&'a mut Tensor>) -> Self {
        match dx {
            Some(dx) => InputGrads { grads: std::slice::from_mut(dx), scratch: &mut [], slots: &[GradSlot::Write(0)] },
            None => InputGrads { grads: &mut [], scratch: &mut [], slots: &[GradSlot::None] },
        }
    }

    /// The buffer for ∂loss/∂(input `i`), to be overwritten; `None` when not needed.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Tensor> {
        match self.slots[i] {
            GradSlot::None => None,
            GradSlot::Write(t) => Some(&mut self.grads[t]),
            GradSlot::Add { scratch, .. } => Some(&mut self.scratch[scratch]),
        }
    }

    /// The number of inputs.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The layer classes a saved model may name.
pub const CLASS_NAMES: &[&str] = &[
    "Dense",
    "Dropout",
    "Flatten",
    "Activation",
    "Conv2D",
    "Conv1D",
    "MaxPooling2D",
    "AveragePooling2D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "BatchNormalization",
    "Reshape",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Embedding",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Bidirectional",
    "RecurrentOutput",
    "OutputPart",
    "Resizing",
    "Normalization",
    "Rescaling",
    "CategoryEncoding",
    "IntegerLookup",
    "Discretization",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomCrop",
    "RandomContrast",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "ZeroPadding2D",
    "UpSampling2D",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "MultiHeadAttention",
    "TimeDistributed",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "PositionEmbedding",
    "Masking",
    "Attention",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
    "Functional",
    "Sequential",
];

/// A layer of a class that holds no other layer, rebuilt from its [`Layer::config`]: the
/// layers' own table, which [`crate::saving::layer_from_config`] (the whole registry: nested models
/// and wrappers too) falls back on, and what [`Layer::replicate`] uses by default.
///
/// # Errors
/// [`Error::UnknownName`] for a class not in [`CLASS_NAMES`] (or one that holds layers);
/// [`Error::State`] with serde's message for a config that does not fit the class.
pub(crate) fn rebuild(class_name: &str, config: &serde_json::Value) -> Result<Box<dyn Layer>> {
    fn parse<T: serde::de::DeserializeOwned>(class_name: &str, config: &serde_json::Value) -> Result<T> {
        T::deserialize(config).map_err(|e| Error::State(format!("config of a {class_name} layer: {e}")))
    }
    Ok(match class_name {
        "Dense" => Box::new(Dense::from_config(parse(class_name, config)?)),
        "Dropout" => Box::new(Dropout::from_config(parse(class_name, config)?)),
        "Flatten" => Box::new(Flatten::from_config(parse(class_name, config)?)),
        "Activation" => Box::new(ActivationLayer::from_config(parse(class_name, config)?)),
        "Conv2D" => Box::new(Conv::from_config(2, parse(class_name, config)?)),
        "Conv1D" => Box::new(Conv::from_config(1, parse(class_name, config)?)),
        "MaxPooling2D" => Box::new(Pooling::from_config(PoolOp::Max, 2, parse(class_name, config)?)),
        "AveragePooling2D" => Box::new(Pooling::from_config(PoolOp::Average, 2, parse(class_name, config)?)),
        "MaxPooling1D" => Box::new(Pooling::from_config(PoolOp::Max, 1, parse(class_name, config)?)),
        "AveragePooling1D" => Box::new(Pooling::from_config(PoolOp::Average, 1, parse(class_name, config)?)),
        "GlobalAveragePooling2D" => {
            Box::new(GlobalPooling::from_config(PoolOp::Average, 2, parse(class_name, config)?))
        }
        "GlobalMaxPooling2D" => Box::new(GlobalPooling::from_config(PoolOp::Max, 2, parse(class_name, config)?)),
        "GlobalAveragePooling1D" => {
            Box::new(GlobalPooling::from_config(PoolOp::Average, 1, parse(class_name, config)?))
        }
        "GlobalMaxPooling1D" => Box::new(GlobalPooling::from_config(PoolOp::Max, 1, parse(class_name, config)?)),
        "BatchNormalization" => Box::new(BatchNormalization::from_config(parse(class_name, config)?)?),
        "Reshape" => Box::new(Reshape::from_config(parse(class_name, config)?)),
        "SimpleRNN" => Box::new(Recurrent::from_config(Cell::SimpleRNN, parse(class_name, config)?)),
        "LSTM" => Box::new(Recurrent::from_config(Cell::LSTM, parse(class_name, config)?)),
        "GRU" => Box::new(Recurrent::from_config(Cell::GRU, parse(class_name, config)?)),
        "Embedding" => Box::new(Embedding::from_config(parse(class_name, config)?)),
        "Bidirectional" => Box::new(Bidirectional::from_config(parse(class_name, config)?)?),
        "RecurrentOutput" => Box::new(RecurrentOutput::from_config(parse(class_name, config)?)),
        "OutputPart" => Box::new(OutputPart::from_config(parse(class_name, config)?)),
        "Resizing" => Box::new(Resizing::from_config(parse(class_name, config)?)),
        "Normalization" => Box::new(Normalization::from_config(parse(class_name, config)?)?),
        "Rescaling" => Box::new(Rescaling::from_config(parse(class_name, config)?)),
        "RandomFlip" => Box::new(RandomFlip::from_config(parse(class_name, config)?)),
        "CategoryEncoding" => Box::new(CategoryEncoding::from_config(parse(class_name, config)?)),
        "IntegerLookup" => Box::new(IntegerLookup::from_config(parse(class_name, config)?)),
        "Discretization" => Box::new(Discretization::from_config(parse(class_name, config)?)),
        "RandomContrast" => Box::new(RandomContrast::from_config(parse(class_name, config)?)),
        "RandomRotation" | "RandomTranslation" | "RandomZoom" | "RandomCrop" => {
            Box::new(preprocessing::augmentation::Warp::from_class_config(class_name, parse(class_name, config)?)?)
        }
        "ReLU" => Box::new(ReLU::from_config(parse(class_name, config)?)),
        "PReLU" => Box::new(PReLU::from_config(parse(class_name, config)?)),
        "SpatialDropout1D" | "SpatialDropout2D" => {
            Box::new(Dropout::from_class_config(class_name, parse(class_name, config)?))
        }
        "MultiHeadAttention" => Box::new(MultiHeadAttention::from_config(parse(class_name, config)?)),
        "ZeroPadding2D" => Box::new(ZeroPadding2D::from_config(parse(class_name, config)?)),
        "UpSampling2D" => Box::new(UpSampling2D::from_config(parse(class_name, config)?)?),
        "LeakyReLU" | "ELU" | "Softmax" => Box::new(ActivationLayer::from_class_config(class_name, config)?),
        "LayerNormalization" => Box::new(LayerNormalization::from_config(parse(class_name, config)?)?),
        "GroupNormalization" => Box::new(GroupNormalization::from_config(parse(class_name, config)?)?),
        "UnitNormalization" => Box::new(UnitNormalization::from_config(parse(class_name, config)?)),
        "DepthwiseConv2D" | "SeparableConv2D" => Box::new(DepthwiseConv::from_config(parse(class_name, config)?)),
        "Conv2DTranspose" => Box::new(ConvTranspose::from_config(parse(class_name, config)?)),
        "Attention" => Box::new(Attention::from_config(parse(class_name, config)?)?),
        "Masking" => Box::new(Masking::from_config(parse(class_name, config)?)),
        "PositionEmbedding" => Box::new(PositionEmbedding::from_config(parse(class_name, config)?)),
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" | "Concatenate" | "Dot" => {
            Box::new(Merge::from_config(class_name, parse(class_name, config)?)?)
        }
        _ => match custom::Custom::from_registry(class_name, config) {
            Some(layer) => Box::new(layer?),
            None => {
                return Err(Error::UnknownName {
                    kind: "layer class (a layer of your own: layers::register_layer it before loading)",
                    name: class_name.into(),
                    known: CLASS_NAMES.to_vec(),
                })
            }
        },
    })
}

/// The builder methods every weighted layer shares (Dense, Conv, the recurrent layers):
/// `activation`, `use_bias`, `kernel_initializer`, `bias_initializer`, over fields of those names.
macro_rules! weighted_layer_builders {
    ($t:ty) => {
        impl $t {
            /// The activation, by [`Activation`](crate::activations::Activation) or Keras's name
            /// (checked when the model is built).
            pub fn activation(mut self, activation: impl $crate::layers::IntoActivation) -> Self {
                self.activation = activation.into_activation();
                self
            }
            /// Whether to add a bias (default true).
            pub fn use_bias(mut self, use_bias: bool) -> Self {
                self.use_bias = use_bias;
                self
            }
            /// The kernel initializer, by value or Keras's name.
            pub fn kernel_initializer(mut self, init: impl $crate::initializers::IntoInitializer) -> Self {
                self.kernel_initializer = init.into_initializer();
                self
            }
            /// The bias initializer, by value or Keras's name.
            pub fn bias_initializer(mut self, init: impl $crate::initializers::IntoInitializer) -> Self {
                self.bias_initializer = init.into_initializer();
                self
            }
        }
    };
}
pub(crate) use weighted_layer_builders;

/// `y = x`, for layers that only change the shape (row-major data keeps its order).
fn pass_forward(x: &Tensor, y: &mut Tensor) {
    y.data_mut().copy_from_slice(x.data());
}

/// `dx = dy`, the backward of [`pass_forward`].
fn pass_backward(dy: &Tensor, dx: Option<&mut Tensor>) {
    if let Some(dx) = dx {
        dx.data_mut().copy_from_slice(dy.data());
    }
}

/// Something that names an activation: an [`Activation`] or Keras's string name.
pub trait IntoActivation {
    /// Resolves the name.
    fn into_activation(self) -> Result<Activation>;
}

impl IntoActivation for Activation {
    fn into_activation(self) -> Result<Activation> {
        Ok(self)
    }
}

impl IntoActivation for &str {
    fn into_activation(self) -> Result<Activation> {
        Activation::from_name(self)
    }
}

impl IntoActivation for String {
    fn into_activation(self) -> Result<Activation> {
        Activation::from_name(&self)
    }
}
