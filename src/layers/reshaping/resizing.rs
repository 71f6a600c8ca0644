//! `Resizing` (see the type).

use crate::error::{Error, Result};
use crate::layers::{Layer, LayerCore};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Keras's `Resizing(height, width, interpolation="bilinear")`: images `[h, w, c]` resampled
/// to `[height, width, c]`, bilinear (half-pixel centres, the edges clamped) or nearest, as
/// Keras 3 does on the jax backend (`jax.image.resize` without antialiasing; see the
/// resampling equations in `reshaping/resample.rs`). Backward adds each output's gradient
/// into the pixels it blends. Keras's `crop_to_aspect_ratio`, `pad_to_aspect_ratio`,
/// `antialias` and the other interpolations are refused by name.
///
/// ```
/// use minibatch::layers::{Resizing, Flatten, Dense};
/// use minibatch::Sequential;
/// let mut model = Sequential::new()
///     .input_shape(&[28, 28, 1])
///     .add(Resizing::new(14, 14))
///     .add(Flatten::new())
///     .add(Dense::new(10).activation("softmax"));
/// model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Resizing {
    config: ResizingConfig,
    rows: Vec<(usize, usize, f32)>,
    cols: Vec<(usize, usize, f32)>,
    in_shape: [usize; 3],
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
}

/// Resizing's saved arguments (Keras's names).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResizingConfig {
    #[serde(default)]
    name: String,
    height: usize,
    width: usize,
    #[serde(default = "bilinear")]
    interpolation: String,
    #[serde(default)]
    crop_to_aspect_ratio: bool,
    #[serde(default)]
    pad_to_aspect_ratio: bool,
    #[serde(default)]
    antialias: bool,
}

fn bilinear() -> String {
    "bilinear".into()
}

impl Resizing {
    /// To `height × width`, bilinear.
    pub fn new(height: usize, width: usize) -> Self {
        Resizing::from_config(ResizingConfig {
            name: String::new(),
            height,
            width,
            interpolation: bilinear(),
            crop_to_aspect_ratio: false,
            pad_to_aspect_ratio: false,
            antialias: false,
        })
    }

    /// Keras's `interpolation`: `"bilinear"` (the default) or `"nearest"` (others are refused
    /// when the layer is built).
    pub fn interpolation(mut self, interpolation: &str) -> Self {
        self.config.interpolation = interpolation.into();
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer a [`ResizingConfig`] describes (checked when built).
    pub fn from_config(config: ResizingConfig) -> Self {
        let core = LayerCore { name: config.name.clone(), ..LayerCore::default() };
        Resizing { config, rows: Vec::new(), cols: Vec::new(), in_shape: [0; 3], core }
    }
}

impl Layer for Resizing {
    fn kind(&self) -> &'static str {
        "Resizing"
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let [h, w, c] = crate::tensor::window::spatial_input(2, input_shape, &self.core.name)?;
        let c_ = &self.config;
        let name = &self.core.name;
        if c_.height == 0 || c_.width == 0 || c_.height > 1 << 16 || c_.width > 1 << 16 {
            let size = format!("{} × {}", c_.height, c_.width);
            return Err(Error::invalid("height, width", size, format!("1 to 65536 pixels a side (layer {name})")));
        }
        let bilinear = match c_.interpolation.as_str() {
            "bilinear" => true,
            "nearest" => false,
            other => {
                return Err(Error::invalid(
                    "interpolation",
                    other,
                    format!(
                    "bilinear or nearest (layer {name}; Keras's bicubic, lanczos, area and the others are not here)"
                ),
                ))
            }
        };
        for (flag, on) in [
            ("crop_to_aspect_ratio", c_.crop_to_aspect_ratio),
            ("pad_to_aspect_ratio", c_.pad_to_aspect_ratio),
            ("antialias", c_.antialias),
        ] {
            if on {
                return Err(Error::invalid(flag, true, format!("false (layer {name}: not here yet)")));
            }
        }
        crate::tensor::memory::claim(&format!("the output of layer {name}"), &[c_.height, c_.width, c])?;
        self.in_shape = [h, w, c];
        self.rows = super::resample::steps(h, c_.height, bilinear);
        self.cols = super::resample::steps(w, c_.width, bilinear);
        Ok(vec![c_.height, c_.width, c])
    }

    // # Shapes
    // x: [n, h, w, c]; y: [n, height, width, c]
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let [h, w, c] = self.in_shape;
        super::resample::forward(x.data(), y.data_mut(), (h, w, c), &self.rows, &self.cols);
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let [h, w, c] = self.in_shape;
        super::resample::backward(dy.data(), dx.data_mut(), (h, w, c), &self.rows, &self.cols);
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = ResizingConfig { name: self.core.name.clone(), ..self.config.clone() };
        serde_json::to_value(c).ok()
    }
}
