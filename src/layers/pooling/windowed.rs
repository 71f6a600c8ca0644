//! `MaxPooling2D`, `AveragePooling2D` and their 1-D forms (see [`Pooling`]).

use crate::error::Result;
use crate::layers::LayerCore;
use crate::layers::{Layer, Padding, Size, Window};
use crate::rng::Rng;
use crate::tensor::window::spatial_input;
use crate::tensor::{for_each_range, kernels, SendPtr, Tensor};

/// Which value of the window a pooling layer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolOp {
    /// The largest.
    Max,
    /// The mean.
    Average,
}

macro_rules! pooling_constructors {
    ($($(#[$doc:meta])* $name:ident => ($op:expr, $rank:expr, $size:ty);)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl $name {
            /// A window of `pool_size`, strides equal to it, padding `"valid"`.
            #[allow(clippy::new_ret_no_self)]
            pub fn new(pool_size: $size) -> Pooling {
                Pooling::new($op, $rank, pool_size.into())
            }
        }
    )*};
}

pooling_constructors! {
    /// Makes 2-D max pooling: `MaxPooling2D::new(2)` or `::new((2, 3))` returns a [`Pooling`].
    MaxPooling2D => (PoolOp::Max, 2, impl Into<Size>);
    /// Makes 2-D average pooling, returning a [`Pooling`].
    AveragePooling2D => (PoolOp::Average, 2, impl Into<Size>);
    /// Makes 1-D max pooling over `(steps, channels)` samples, returning a [`Pooling`].
    MaxPooling1D => (PoolOp::Max, 1, usize);
    /// Makes 1-D average pooling over `(steps, channels)` samples, returning a [`Pooling`].
    AveragePooling1D => (PoolOp::Average, 1, usize);
}

/// A pooling layer.
///
/// `MaxPooling2D`, `AveragePooling2D` and their 1-D forms: the largest or the mean value of
/// each window, channel by channel, channels-last.
///
/// Keras's defaults: `strides` equal to `pool_size`, padding `"valid"`. With `"same"`, windows
/// hanging over the edge consider only the values inside (the average divides by their count),
/// as TensorFlow does.
///
/// ```
/// use minibatch::layers::{AveragePooling1D, MaxPooling2D};
/// let pool = MaxPooling2D::new(2);
/// let smooth = AveragePooling1D::new(3).strides(1).padding("same");
/// ```
#[derive(Debug, Clone)]
pub struct Pooling {
    op: PoolOp,
    rank: usize,
    pool_size: Size,
    strides: Option<Size>,
    padding: Result<Padding>,
    /// Name, weights, penalties, output fusion, random state (see [`LayerCore`]).
    core: LayerCore,
    window: Window,
    /// Max pooling: per output value, the flat index within its sample of the input chosen.
    argmax: Vec<u32>,
}

/// Pooling's saved arguments (Keras's names); the operation and rank come from the class.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PoolingConfig {
    name: String,
    pool_size: Size,
    strides: Option<Size>,
    padding: Padding,
}

impl Pooling {
    fn new(op: PoolOp, rank: usize, pool_size: Size) -> Self {
        Pooling {
            op,
            rank,
            pool_size,
            strides: None,
            padding: Ok(Padding::Valid),
            window: Window::default(),
            argmax: Vec::new(),
            core: LayerCore::default(),
        }
    }

    /// The layer a [`PoolingConfig`] describes.
    pub fn from_config(op: PoolOp, rank: usize, c: PoolingConfig) -> Self {
        let mut layer = Pooling { strides: c.strides, padding: Ok(c.padding), ..Pooling::new(op, rank, c.pool_size) };
        layer.core.name = c.name;
        layer
    }

    /// Window steps (default: the pool size).
    pub fn strides(mut self, strides: impl Into<Size>) -> Self {
        self.strides = Some(strides.into());
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, padding: &str) -> Self {
        self.padding = Padding::from_name(padding);
        self
    }
    /// The layer's name.
    pub fn name(mut self, name: &str) -> Self {
        self.core.name = name.into();
        self
    }

    fn sample_sizes(&self) -> (usize, usize) {
        let g = &self.window;
        (g.h * g.w * g.c, g.oh * g.ow * g.c)
    }
}

impl Layer for Pooling {
    fn check_arguments(&self) -> Result<()> {
        self.padding.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match (self.op, self.rank) {
            (PoolOp::Max, 2) => "MaxPooling2D",
            (PoolOp::Average, 2) => "AveragePooling2D",
            (PoolOp::Max, _) => "MaxPooling1D",
            (PoolOp::Average, _) => "AveragePooling1D",
        }
    }

    crate::layers::lends_core!();

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let padding = self.padding.clone()?;
        let name = self.core.name.clone();
        let [h, w, c] = spatial_input(self.rank, input_shape, &name)?;
        let k = self.pool_size.resolve(self.rank, "pool size", &name)?;
        let s = self.strides.unwrap_or(self.pool_size).resolve(self.rank, "stride", &name)?;
        self.window = Window::new(&name, [h, w, c], k, s, (1, 1), padding)?;
        let g = self.window;
        Ok(if self.rank == 2 { vec![g.oh, g.ow, c] } else { vec![g.ow, c] })
    }

    fn plan(&mut self, max_batch: usize) {
        let (_, out) = self.sample_sizes();
        if self.op == PoolOp::Max && self.argmax.len() < max_batch * out {
            self.argmax = vec![0; max_batch * out];
        }
    }

    // # Shapes
    // x: [n, h, w, c] → y: [n, oh, ow, c], each value the max or mean of its window
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _training: bool) {
        let (inp, out) = self.sample_sizes();
        let n = x.len() / inp;
        let (g, op) = (self.window, self.op);
        let (yp, ap) = (SendPtr(y.data_mut().as_mut_ptr()), SendPtr(self.argmax.as_mut_ptr()));
        for_each_range(n, 2, |lo, hi| {
            // SAFETY: samples lo..hi own disjoint shares of `y` and `argmax`.
            let y = unsafe { yp.slice(lo * out, hi * out) };
            let arg: &mut [u32] = if op == PoolOp::Max { unsafe { ap.slice(lo * out, hi * out) } } else { &mut [] };
            for (s, y) in (lo..hi).zip(y.chunks_exact_mut(out)) {
                let x = &x.data()[s * inp..(s + 1) * inp];
                let arg = if arg.is_empty() { None } else { Some(&mut arg[(s - lo) * out..(s - lo + 1) * out]) };
                pool_sample(x, y, arg, &g, op);
            }
        });
    }

    // Max: each output's gradient goes to the input it chose. Average: shared equally among the
    // window's values inside the input.
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        let (inp, out) = self.sample_sizes();
        let n = x.len() / inp;
        let (g, op, argmax) = (self.window, self.op, &self.argmax);
        let dy = dy.data();
        let dxp = SendPtr(dx.data_mut().as_mut_ptr());
        for_each_range(n, 2, |lo, hi| {
            // SAFETY: samples lo..hi own a disjoint share of `dx`.
            let dx = unsafe { dxp.slice(lo * inp, hi * inp) };
            dx.fill(0.0);
            for (s, dx) in (lo..hi).zip(dx.chunks_exact_mut(inp)) {
                let dy = &dy[s * out..(s + 1) * out];
                match op {
                    PoolOp::Max => {
                        for (&a, &d) in argmax[s * out..(s + 1) * out].iter().zip(dy) {
                            dx[a as usize] += d;
                        }
                    }
                    PoolOp::Average => unpool_average(dy, dx, &g),
                }
            }
        });
    }

    fn planned_workspace_bytes(&self, max_batch: usize) -> usize {
        let (_, out) = self.sample_sizes();
        if self.op == PoolOp::Max {
            4 * max_batch * out
        } else {
            0
        }
    }

    fn workspace_bytes(&self) -> usize {
        self.argmax.len() * 4
    }

    fn config(&self) -> Option<serde_json::Value> {
        let c = PoolingConfig {
            name: self.core.name.clone(),
            pool_size: self.pool_size,
            strides: self.strides,
            padding: self.padding.clone().ok()?,
        };
        serde_json::to_value(c).ok()
    }
}

/// One sample: `y[i, j, ch]` from the window at `(i, j)`; `arg` records max pooling's choices
/// (the first maximum of each window wins).
fn pool_sample(x: &[f32], y: &mut [f32], mut arg: Option<&mut [u32]>, g: &Window, op: PoolOp) {
    let c = g.c;
    for i in 0..g.oh {
        for j in 0..g.ow {
            let o = (i * g.ow + j) * c;
            let out = &mut y[o..o + c];
            let mut count = 0usize;
            for ki in 0..g.kh {
                let Some(yy) = g.in_y(i, ki) else { continue };
                for kj in 0..g.kw {
                    let Some(xx) = g.in_x(j, kj) else { continue };
                    let base = (yy * g.w + xx) * c;
                    let tap = &x[base..base + c];
                    match (op, arg.as_deref_mut(), count) {
                        (PoolOp::Max, Some(arg), 0) => {
                            out.copy_from_slice(tap);
                            first_index(&mut arg[o..o + c], base as u32);
                        }
                        (PoolOp::Max, Some(arg), _) => max_into(out, &mut arg[o..o + c], tap, base as u32),
                        (_, _, 0) => out.copy_from_slice(tap),
                        _ => kernels::add(out, tap),
                    }
                    count += 1;
                }
            }
            if op == PoolOp::Average {
                kernels::scale(out, 1.0 / count.max(1) as f32);
            }
        }
    }
}

crate::simd! {
    /// `arg[ch] = base + ch`.
    fn first_index(arg: &mut [u32], base: u32) {
        for (ch, a) in arg.iter_mut().enumerate() {
            *a = base + ch as u32;
        }
    }
}

crate::simd! {
    /// Channel by channel, `out = max(out, tap)`, noting `base + ch` in `arg` where `tap` is
    /// strictly greater (branch-free, so it vectorizes).
    fn max_into(out: &mut [f32], arg: &mut [u32], tap: &[f32], base: u32) {
        for (ch, ((o, a), &t)) in out.iter_mut().zip(arg.iter_mut()).zip(tap).enumerate() {
            let greater = t > *o;
            *o = if greater { t } else { *o };
            *a = if greater { base + ch as u32 } else { *a };
        }
    }
}

/// Average pooling's adjoint for one sample: adds `dy / count` to every value of each window.
fn unpool_average(dy: &[f32], dx: &mut [f32], g: &Window) {
    let c = g.c;
    for i in 0..g.oh {
        for j in 0..g.ow {
            let count = (0..g.kh).filter(|&ki| g.in_y(i, ki).is_some()).count()
                * (0..g.kw).filter(|&kj| g.in_x(j, kj).is_some()).count();
            let inv = 1.0 / count.max(1) as f32;
            let d = &dy[(i * g.ow + j) * c..][..c];
            for ki in 0..g.kh {
                let Some(yy) = g.in_y(i, ki) else { continue };
                for kj in 0..g.kw {
                    let Some(xx) = g.in_x(j, kj) else { continue };
                    kernels::axpy(&mut dx[(yy * g.w + xx) * c..][..c], inv, d);
                }
            }
        }
    }
}
