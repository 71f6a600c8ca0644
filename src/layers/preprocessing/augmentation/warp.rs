//! `Warp`: per-sample affine resampling, the engine of Keras's geometric augmentations.

use super::image_shape;
use crate::error::{Error, Result};
use crate::layers::LayerCore;
use crate::layers::{Layer, State};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Where a sample point outside the image reads from (Keras's `fill_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillMode {
    /// Mirrored about the edge, the edge pixel repeated (`d c b a | a b c d | d c b a`):
    /// Keras's default.
    Reflect,
    /// Wrapped around (`a b c d | a b c d`).
    Wrap,
    /// `fill_value`.
    Constant,
    /// The nearest edge pixel.
    Nearest,
}

/// How a sample point between pixels is read (Keras's `interpolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// From the four pixels around it, weighted by distance (Keras's default).
    Bilinear,
    /// From the nearest pixel.
    Nearest,
}

/// What a geometric layer draws for each batch: its class decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Draw {
    /// `RandomRotation`: an angle in `[lo, hi] · 360°` per sample about the centre.
    Rotation { factor: (f32, f32) },
    /// `RandomTranslation`: a shift in `[lo, hi] ·` height and width per sample.
    Translation { height: (f32, f32), width: (f32, f32) },
    /// `RandomZoom`: a scale `1 + [lo, hi]` per sample (positive: zoomed out); the width's own
    /// range, or the height's scale.
    Zoom { height: (f32, f32), width: Option<(f32, f32)> },
    /// `RandomCrop`: one window of `height × width` per batch in training when the images are
    /// larger; else a central window, resized (see [`super::RandomCrop`]).
    Crop { height: usize, width: usize },
}

/// The layers of Keras's geometric augmentations ([`super::RandomRotation`],
/// [`super::RandomTranslation`], [`super::RandomZoom`], [`super::RandomCrop`]): each sample's
/// output pixel `(i, j)` reads the input at `(b0·j + b1·i + b2, a0·j + a1·i + a2)` (row,
/// column), the affine map drawn for it, with `fill_mode` outside the image. In inference the
/// layer passes its input through (a crop resizes).
#[derive(Debug, Clone)]
pub struct Warp {
    pub(crate) class: &'static str,
    pub(crate) draw: Draw,
    pub(crate) fill_mode: FillMode,
    pub(crate) fill_value: f32,
    pub(crate) interpolation: Interpolation,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    pub(crate) core: LayerCore,
    /// The input `[h, w, c]` and output `[h, w, c]` images.
    input: [usize; 3],
    output: [usize; 3],
    /// The latest batch's maps, `[a0, a1, a2, b0, b1, b2]` per sample (planned).
    maps: Vec<[f32; 6]>,
    /// Whether the latest forward warped (training, or a crop's resize).
    warped: bool,
}

/// The saved arguments of a geometric augmentation (Keras's names; each class uses its own).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WarpConfig {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    factor: Option<(f32, f32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height_factor: Option<(f32, f32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width_factor: Option<(f32, f32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    #[serde(default = "reflect")]
    fill_mode: FillMode,
    #[serde(default)]
    fill_value: f32,
    #[serde(default = "bilinear")]
    interpolation: Interpolation,
    seed: Option<u64>,
}

fn reflect() -> FillMode {
    FillMode::Reflect
}

fn bilinear() -> Interpolation {
    Interpolation::Bilinear
}

impl Warp {
    pub(crate) fn new(class: &'static str, draw: Draw) -> Warp {
        Warp {
            class,
            draw,
            fill_mode: FillMode::Reflect,
            fill_value: 0.0,
            interpolation: Interpolation::Bilinear,
            core: LayerCore::default(),
            input: [0; 3],
            output: [0; 3],
            maps: Vec::new(),
            warped: false,
        }
    }

    /// Where points outside the image read from (default reflect).
    pub fn fill_mode(mut self, mode: FillMode) -> Self {
        self.fill_mode = mode;
        self
    }

    /// The value outside the image with `FillMode::Constant` (default 0).
    pub fn fill_value(mut self, value: f32) -> Self {
        self.fill_value = value;
        self
    }

    /// Bilinear (default) or nearest-pixel sampling.
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// A seed of the layer's own (else one is drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.core.seed = Some(seed);
        self
    }

    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    /// The layer of Keras's class `class` a [`WarpConfig`] describes.
    ///
    /// # Errors
    /// A config without the arguments its class needs.
    pub fn from_class_config(class: &str, c: WarpConfig) -> Result<Warp> {
        let missing = |arg: &str| Error::State(format!("config of a {class} layer: no {arg}"));
        let layer = match class {
            "RandomRotation" => super::RandomRotation::new(c.factor.ok_or_else(|| missing("factor"))?),
            "RandomTranslation" => super::RandomTranslation::new(
                c.height_factor.ok_or_else(|| missing("height_factor"))?,
                c.width_factor.ok_or_else(|| missing("width_factor"))?,
            ),
            "RandomZoom" => {
                let zoom = super::RandomZoom::new(c.height_factor.ok_or_else(|| missing("height_factor"))?);
                match c.width_factor {
                    Some(w) => zoom.width_factor(w),
                    None => zoom,
                }
            }
            "RandomCrop" => super::RandomCrop::new(
                c.height.ok_or_else(|| missing("height"))?,
                c.width.ok_or_else(|| missing("width"))?,
            ),
            other => return Err(Error::State(format!("{other} is not a geometric augmentation"))),
        };
        let layer = layer.fill_mode(c.fill_mode).fill_value(c.fill_value).interpolation(c.interpolation).name(&c.name);
        let mut layer = layer;
        layer.core.seed = c.seed;
        Ok(layer)
    }

    /// The ranges as given, checked (Keras's bounds).
    fn check(&self) -> Result<()> {
        let name = &self.core.name;
        let bounded = |f: (f32, f32), arg: &'static str, lo: f32| {
            super::Factor::Range(f.0, f.1).range(arg, name, (lo, 1.0)).map(|_| ())
        };
        match self.draw {
            Draw::Rotation { factor } => bounded(factor, "factor", -1.0),
            Draw::Translation { height, width } => {
                bounded(height, "height_factor", -1.0)?;
                bounded(width, "width_factor", -1.0)
            }
            Draw::Zoom { height, width } => {
                // Keras: each bound in (-1, 1] (a scale of 0 would read one point).
                bounded(height, "height_factor", -0.999_999)?;
                width.map_or(Ok(()), |w| bounded(w, "width_factor", -0.999_999))
            }
            Draw::Crop { height, width } if height == 0 || width == 0 => Err(Error::invalid(
                "height, width",
                format!("{height}, {width}"),
                format!("a positive crop size for layer {name}"),
            )),
            Draw::Crop { .. } => Ok(()),
        }
    }

    /// Draws the batch's maps (or the crop's resize) into `maps`; returns whether to warp.
    fn draw_maps(&mut self, batch: usize, training: bool) -> bool {
        let [ih, iw, _] = self.input;
        let (h, w) = (ih as f32, iw as f32);
        let (cx, cy) = (0.5 * (w - 1.0), 0.5 * (h - 1.0));
        let uniform = |rng: &mut Rng, (lo, hi): (f32, f32)| rng.uniform(lo as f64, hi as f64) as f32;
        // One key per training step: the batch's crop window from it, each sample's transform
        // from it and the sample's global position.
        let key = if training { self.core.rng.next_u64() } else { 0 };
        let offset = self.core.offset;
        let sample = |s: usize| crate::layers::sample_rng(key, offset + s);
        let maps = &mut self.maps[..batch];
        match self.draw {
            Draw::Crop { height, width } => {
                let map = if training && ih > height && iw > width {
                    // One window for the whole batch, as Keras.
                    let mut rng = Rng::new(key);
                    let top = (rng.uniform(0.0, (ih - height + 1) as f64) as usize).min(ih - height);
                    let left = (rng.uniform(0.0, (iw - width + 1) as f64) as usize).min(iw - width);
                    [1.0, 0.0, left as f32, 0.0, 1.0, top as f32]
                } else {
                    // The largest central window of the target's aspect ratio, resized to
                    // `height × width` (bilinear, half-pixel centres, edges clamped: Keras's
                    // `resize`). In training Keras's code takes `height × width` from where
                    // that window starts (as far as the image reaches) instead: the same
                    // numbers as Keras there.
                    let ch = (((iw * height) as f32 / width as f32) as usize).clamp(1, ih);
                    let cw = (((ih * width) as f32 / height as f32) as usize).clamp(1, iw);
                    let (top, left) = ((ih - ch) / 2, (iw - cw) / 2);
                    let (wh, ww) = if training { (height.min(ih - top), width.min(iw - left)) } else { (ch, cw) };
                    let (sy, sx) = (wh as f32 / height as f32, ww as f32 / width as f32);
                    let (top, left) = (top as f32, left as f32);
                    [sx, 0.0, left + 0.5 * sx - 0.5, 0.0, sy, top + 0.5 * sy - 0.5]
                };
                maps.fill(map);
                return true;
            }
            _ if !training => return false,
            Draw::Rotation { factor } => {
                for (s, m) in maps.iter_mut().enumerate() {
                    let angle = (uniform(&mut sample(s), factor) * 360.0).to_radians();
                    let (sin, cos) = angle.sin_cos();
                    let (a0, a1, b0, b1) = (cos, -sin, sin, cos);
                    *m = [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1];
                }
            }
            Draw::Translation { height, width } => {
                for (s, m) in maps.iter_mut().enumerate() {
                    let rng = &mut sample(s);
                    let dy = uniform(rng, height) * h;
                    let dx = uniform(rng, width) * w;
                    *m = [1.0, 0.0, -dx, 0.0, 1.0, -dy];
                }
            }
            Draw::Zoom { height, width } => {
                for (s, m) in maps.iter_mut().enumerate() {
                    let rng = &mut sample(s);
                    let zy = 1.0 + uniform(rng, height);
                    let zx = match width {
                        Some(range) => 1.0 + uniform(rng, range),
                        None => zy,
                    };
                    *m = [zx, 0.0, cx * (1.0 - zx), 0.0, zy, cy * (1.0 - zy)];
                }
            }
        }
        true
    }

    /// The input index `i` (of `n`) reads from under the fill mode, or `None` for the fill
    /// value.
    fn fill(&self, i: i64, n: usize) -> Option<usize> {
        let n = n as i64;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        Some(match self.fill_mode {
            FillMode::Constant => return None,
            FillMode::Nearest => i.clamp(0, n - 1),
            FillMode::Wrap => i.rem_euclid(n),
            FillMode::Reflect => {
                let m = i.rem_euclid(2 * n);
                if m < n {
                    m
                } else {
                    2 * n - 1 - m
                }
            }
        } as usize)
    }

    /// Calls `tap(output pixel, input pixel or None, weight)` for every tap of sample map `m`.
    fn taps(&self, m: &[f32; 6], mut tap: impl FnMut(usize, Option<usize>, f32)) {
        let [ih, iw, _] = self.input;
        let [oh, ow, _] = self.output;
        for i in 0..oh {
            for j in 0..ow {
                let (x, y) = (j as f32, i as f32);
                let sx = m[0] * x + m[1] * y + m[2];
                let sy = m[3] * x + m[4] * y + m[5];
                let out = i * ow + j;
                let at = |r: i64, c: i64| Some(self.fill(r, ih)? * iw + self.fill(c, iw)?);
                match self.interpolation {
                    Interpolation::Nearest => tap(out, at(sy.round() as i64, sx.round() as i64), 1.0),
                    Interpolation::Bilinear => {
                        let (y0, x0) = (sy.floor(), sx.floor());
                        let (fy, fx) = (sy - y0, sx - x0);
                        let (y0, x0) = (y0 as i64, x0 as i64);
                        tap(out, at(y0, x0), (1.0 - fy) * (1.0 - fx));
                        tap(out, at(y0, x0 + 1), (1.0 - fy) * fx);
                        tap(out, at(y0 + 1, x0), fy * (1.0 - fx));
                        tap(out, at(y0 + 1, x0 + 1), fy * fx);
                    }
                }
            }
        }
    }
}

impl Layer for Warp {
    fn kind(&self) -> &'static str {
        self.class
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.check()?;
        self.input = image_shape(&self.core.name, input_shape)?;
        self.output = match self.draw {
            Draw::Crop { height, width } => [height, width, self.input[2]],
            _ => self.input,
        };
        self.core.rng = Rng::new(self.core.seed.unwrap_or_else(|| rng.next_u64()));
        Ok(self.output.to_vec())
    }

    fn plan(&mut self, max_batch: usize) {
        if self.maps.len() < max_batch {
            self.maps.resize(max_batch, [0.0; 6]);
        }
    }

    // # Shapes
    // x: [batch, h, w, c]; y: [batch, h', w', c] (a crop's size, else h, w).
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        let batch = x.batch();
        self.warped = self.draw_maps(batch, training);
        if !self.warped {
            y.data_mut().copy_from_slice(x.data());
            return;
        }
        let c = self.input[2];
        let (per_in, per_out) = (x.row_len(), y.row_len());
        let fill = self.fill_value;
        let out = y.data_mut();
        out.fill(0.0);
        for s in 0..batch {
            let (src, dst) = (&x.data()[s * per_in..][..per_in], &mut out[s * per_out..][..per_out]);
            self.taps(&self.maps[s], |o, i, w| {
                if w == 0.0 {
                    return;
                }
                let d = &mut dst[o * c..][..c];
                match i {
                    Some(i) => d.iter_mut().zip(&src[i * c..][..c]).for_each(|(d, &v)| *d += w * v),
                    None => d.iter_mut().for_each(|d| *d += w * fill),
                }
            });
        }
    }

    // dx[input pixel] += weight · dy[output pixel], over the same taps (the fill value takes
    // no gradient).
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        if !self.warped {
            dx.data_mut().copy_from_slice(dy.data());
            return;
        }
        let c = self.input[2];
        let (per_in, per_out) = (x.row_len(), dy.row_len());
        let grad = dx.data_mut();
        grad.fill(0.0);
        for s in 0..x.batch() {
            let (g, d) = (&mut grad[s * per_in..][..per_in], &dy.data()[s * per_out..][..per_out]);
            self.taps(&self.maps[s], |o, i, w| {
                if let (Some(i), true) = (i, w != 0.0) {
                    g[i * c..][..c].iter_mut().zip(&d[o * c..][..c]).for_each(|(g, &v)| *g += w * v);
                }
            });
        }
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        24 * max_batch
    }

    fn workspace_bytes(&self) -> usize {
        self.maps.capacity() * 24
    }

    fn config(&self) -> Option<serde_json::Value> {
        let mut c = WarpConfig {
            name: self.core.name.clone(),
            factor: None,
            height_factor: None,
            width_factor: None,
            height: None,
            width: None,
            fill_mode: self.fill_mode,
            fill_value: self.fill_value,
            interpolation: self.interpolation,
            seed: self.core.seed,
        };
        match self.draw {
            Draw::Rotation { factor } => c.factor = Some(factor),
            Draw::Translation { height, width } => (c.height_factor, c.width_factor) = (Some(height), Some(width)),
            Draw::Zoom { height, width } => (c.height_factor, c.width_factor) = (Some(height), width),
            Draw::Crop { height, width } => (c.height, c.width) = (Some(height), Some(width)),
        }
        serde_json::to_value(c).ok()
    }

    /// The generator's position, so a resumed run draws what an unbroken one would.
    fn state(&self) -> Vec<(&'static str, State)> {
        crate::layers::rng_state(&self.core.rng)
    }

    fn set_state(&mut self, name: &str, value: &State) -> Result<()> {
        crate::layers::set_rng_state(&self.core.name, &mut self.core.rng, name, value)
    }
}
