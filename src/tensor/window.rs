//! The sliding window of convolutions and pooling: sizes, strides, dilation, padding, and the
//! output size they give, as Keras (TensorFlow) computes them. Below the layers, since
//! `im2col` needs it too; `layers` re-exports [`Window`] and [`Padding`].

use crate::error::{Error, Result};

/// Keras's `padding`: `"valid"` (no padding: windows stay inside the input) or `"same"`
/// (zeros around the input so that `output = ceil(input / stride)`, split evenly with the
/// extra one after, as TensorFlow does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding (Keras's default).
    #[default]
    Valid,
    /// Pad so the output size is `ceil(input / stride)`.
    Same,
}

impl Padding {
    /// `"valid"` or `"same"`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] otherwise.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            _ => Err(Error::UnknownName { kind: "padding", name: name.into(), known: vec!["valid", "same"] }),
        }
    }
}

/// A sample shape as `[height, width, channels]` for a layer of `rank` 2, or of rank 1 over
/// `(steps, channels)` samples (height 1).
///
/// # Errors
/// [`Error::Shape`] naming `layer` for a shape of another rank.
pub fn spatial_input(rank: usize, input_shape: &[usize], layer: &str) -> Result<[usize; 3]> {
    match (rank, input_shape) {
        (2, &[h, w, c]) => Ok([h, w, c]),
        (1, &[l, c]) => Ok([1, l, c]),
        _ => {
            let expected = if rank == 2 { "(height, width, channels)" } else { "(steps, channels)" };
            Err(Error::shape(format!("input to layer {layer}"), format!("samples of shape {expected}"), input_shape))
        }
    }
}

/// A window sliding over an `[h, w, c]` input (1-D layers use `h = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Zero rows above the input.
    pub pad_top: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// Output size and padding before, for one axis (TensorFlow's rule).
fn axis(input: usize, k: usize, stride: usize, dilation: usize, padding: Padding) -> Option<(usize, usize)> {
    let span = (k - 1) * dilation + 1;
    match padding {
        Padding::Valid => (input >= span).then(|| ((input - span) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + span).saturating_sub(input);
            Some((out, total / 2))
        }
    }
}

impl Window {
    /// The window of kernel `k` with `strides` and `dilation` (each `(height, width)`) over an
    /// `[h, w, c]` input.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero size, stride or dilation; [`Error::Shape`] naming
    /// `layer` when a `"valid"` window is larger than the input.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layer: &str,
        [h, w, c]: [usize; 3],
        k: (usize, usize),
        strides: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
    ) -> Result<Window> {
        for (name, (a, b)) in [("kernel/pool size", k), ("strides", strides), ("dilation_rate", dilation)] {
            if a == 0 || b == 0 {
                return Err(Error::invalid(
                    "window",
                    format!("{name} ({a}, {b})"),
                    format!("positive sizes for layer {layer}"),
                ));
            }
        }
        if strides != (1, 1) && dilation != (1, 1) {
            return Err(Error::invalid(
                "strides",
                format!("{strides:?} with dilation_rate {dilation:?}"),
                format!("strides of 1 when dilating, as Keras requires (layer {layer})"),
            ));
        }
        let too_small = || {
            Error::shape(
                format!("input to layer {layer}"),
                format!(
                    "at least the window's {}×{} (dilated) with padding \"valid\"",
                    (k.0 - 1) * dilation.0 + 1,
                    (k.1 - 1) * dilation.1 + 1
                ),
                &[h, w, c],
            )
        };
        let (oh, pad_top) = axis(h, k.0, strides.0, dilation.0, padding).ok_or_else(too_small)?;
        let (ow, pad_left) = axis(w, k.1, strides.1, dilation.1, padding).ok_or_else(too_small)?;
        if c == 0 || oh == 0 || ow == 0 {
            return Err(too_small());
        }
        Ok(Window {
            h,
            w,
            c,
            kh: k.0,
            kw: k.1,
            sh: strides.0,
            sw: strides.1,
            dh: dilation.0,
            dw: dilation.1,
            pad_top,
            pad_left,
            oh,
            ow,
        })
    }

    /// The input row under tap `ki` of output row `i`, if inside the input.
    #[inline]
    pub fn in_y(&self, i: usize, ki: usize) -> Option<usize> {
        (i * self.sh + ki * self.dh).checked_sub(self.pad_top).filter(|&y| y < self.h)
    }

    /// The first input column of output column `j`'s window, when the whole window row lies
    /// inside the input as one contiguous run (no dilation, no padding reached).
    #[inline]
    pub fn row_inside(&self, j: usize) -> Option<usize> {
        let start = (j * self.sw).checked_sub(self.pad_left)?;
        (self.dw == 1 && start + self.kw <= self.w).then_some(start)
    }

    /// The input column under tap `kj` of output column `j`, if inside the input.
    #[inline]
    pub fn in_x(&self, j: usize, kj: usize) -> Option<usize> {
        (j * self.sw + kj * self.dw).checked_sub(self.pad_left).filter(|&x| x < self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_tensorflow() {
        let win = |h, k, s, d, p| Window::new("t", [h, h, 1], (k, k), (s, s), (d, d), p).map(|g| (g.oh, g.pad_top));
        assert_eq!(win(28, 3, 1, 1, Padding::Valid).unwrap(), (26, 0));
        assert_eq!(win(26, 2, 2, 1, Padding::Valid).unwrap(), (13, 0));
        assert_eq!(win(13, 2, 2, 1, Padding::Valid).unwrap(), (6, 0));
        assert_eq!(win(5, 3, 2, 1, Padding::Same).unwrap(), (3, 1));
        assert_eq!(win(6, 3, 2, 1, Padding::Same).unwrap(), (3, 0)); // total 1: the extra goes after
        assert_eq!(win(7, 3, 1, 2, Padding::Valid).unwrap(), (3, 0));
        assert!(win(2, 3, 1, 1, Padding::Valid).is_err());
        assert!(win(5, 0, 1, 1, Padding::Valid).is_err());
        assert!(win(5, 3, 2, 2, Padding::Valid).is_err());
    }
}
