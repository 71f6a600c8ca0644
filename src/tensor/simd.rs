//! Runtime SIMD dispatch for element-wise kernels.
//!
//! The crate is compiled for baseline x86-64 (SSE2) so its binaries run anywhere. `simd!`
//! compiles a function's body three times — for AVX-512, for AVX2 + FMA, and for the baseline —
//! and calls the best one the processor has, detected once. Only loops LLVM can vectorize
//! without changing results benefit (element-wise arithmetic, `sqrt`, division); no
//! reassociation or contraction is allowed, so every level computes the same bits.
//!
//! ```
//! minibatch::simd! {
//!     /// y += a · x
//!     pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
//!         for (y, x) in y.iter_mut().zip(x) {
//!             *y += a * x;
//!         }
//!     }
//! }
//! let mut y = [1.0f32; 20];
//! axpy(&mut y, 2.0, &[0.5; 20]);
//! assert_eq!(y, [2.0; 20]);
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction sets `simd!` compiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// SSE2 only.
    Baseline,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 Foundation.
    Avx512,
}

static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);

/// The best level this processor supports (detected once).
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Baseline,
        1 => Level::Avx2,
        2 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

/// Uses `level` from now on (tests compare levels); returns the previous one. `level` must be
/// supported by this processor.
#[cfg(test)]
pub(crate) fn force_level(level: Level) -> Level {
    let previous = self::level();
    LEVEL.store(level as u8, Ordering::Relaxed);
    previous
}

/// The levels this processor supports.
#[cfg(test)]
pub(crate) fn supported_levels() -> Vec<Level> {
    let best = detect();
    [Level::Baseline, Level::Avx2, Level::Avx512].into_iter().filter(|&l| l as u8 <= best as u8).collect()
}

fn detect() -> Level {
    // MINIBATCH_KERNELS caps the element-wise level too: `avx2` runs AVX2 code, the emulated
    // and portable levels the baseline's.
    use super::isa::{check_requested, Isa};
    match check_requested() {
        Ok(Some(Isa::Portable | Isa::Emulated | Isa::EmulatedAmx)) => return Level::Baseline,
        Ok(Some(Isa::Avx2)) => return Level::Avx2,
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

/// Defines a function whose body is compiled for each [`Level`] and dispatched at run time.
#[macro_export]
#[doc(hidden)]
macro_rules! simd {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
                match $crate::tensor::simd::level() {
                    // SAFETY: `level()` reported the processor supports these features.
                    $crate::tensor::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::tensor::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::tensor::simd::Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activations::Activation;
    use crate::layers::{AveragePooling2D, Dense, Dropout, GlobalAveragePooling1D, Layer, MaxPooling2D};
    use crate::optimizers::{Adam, AdamW, Optimizer, RMSprop, SGD};
    use crate::rng::Rng;
    use crate::tensor::{kernels, Tensor};

    /// Every value that a simd!-dispatched kernel computes, through the code that calls it.
    fn everything(w0: &[f32], g: &[f32]) -> Vec<u32> {
        let n = w0.len();
        let mut out = Vec::new();
        let optimizers: [Box<dyn Optimizer>; 8] = [
            Box::new(Adam::default()),
            Box::new(AdamW::default()),
            Box::new(RMSprop::default()),
            Box::new(RMSprop::default().centered(true).momentum(0.5)),
            Box::new(SGD::new(0.1)),
            Box::new(SGD::new(0.1).momentum(0.9)),
            Box::new(SGD::new(0.1).momentum(0.9).nesterov(true)),
            Box::new(AdamW::new(0.01)),
        ];
        for mut opt in optimizers {
            let mut w = w0.to_vec();
            opt.build(&[n]);
            for _ in 0..3 {
                opt.update(0, &mut w, g);
                opt.finish_step();
            }
            out.extend(w);
        }
        for act in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Softmax,
            Activation::Gelu,
            Activation::Sigmoid,
            Activation::Elu { alpha: 1.0 },
            Activation::LeakyRelu { negative_slope: 0.2 },
        ] {
            let mut y = w0.to_vec();
            act.forward(&mut y, 10);
            let mut d = g.to_vec();
            act.backward(&mut d, w0, &y, 10);
            out.extend(y);
            out.extend(d);
        }
        // The element-wise kernels on their own, the bias passes among them.
        out.push(kernels::dot(w0, g));
        let mut y = w0.to_vec();
        kernels::scale(&mut y, 0.3);
        kernels::add(&mut y, g);
        kernels::axpy(&mut y, -0.7, w0);
        kernels::add_row_bias(&mut y, &g[..10]);
        let mut m = vec![0.0; n];
        kernels::mul(&mut m, &y, g);
        let mut sums = vec![0.0; 10];
        kernels::sum_rows(&mut sums, &m);
        out.extend(y.iter().chain(&m).chain(&sums));
        // The recurrent cells' vectorized tanh and sigmoid.
        let (mut t, mut s) = (w0.to_vec(), g.to_vec());
        crate::activations::fast::tanh_in_place(&mut t);
        crate::activations::fast::sigmoid_in_place(&mut s);
        out.extend(t.iter().chain(&s));
        // Layers whose forward and backward passes call them: dropout's mask multiply, max
        // pooling's argmax, average pooling's scale and adjoint, a dense layer's bias passes.
        let layers: [(Box<dyn Layer>, &[usize]); 7] = [
            (Box::new(Dropout::new(0.3).seed(4)), &[10]),
            (Box::new(MaxPooling2D::new(2)), &[5, 2, 1]),
            (Box::new(AveragePooling2D::new(3).strides(2).padding("same")), &[5, 2, 1]),
            (Box::new(GlobalAveragePooling1D::new()), &[5, 2]),
            (Box::new(Dense::new(10).activation("elu")), &[10]),
            (Box::new(crate::layers::LSTM::new(2).return_sequences(true)), &[5, 2]),
            (Box::new(crate::layers::LayerNormalization::new()), &[10]),
        ];
        for (mut layer, shape) in layers {
            let out_shape = layer.build(shape, &mut Rng::new(3)).unwrap();
            let batch = n / shape.iter().product::<usize>();
            layer.plan(batch);
            let x = Tensor::from_vec(&[&[batch][..], shape].concat(), w0.to_vec()).unwrap();
            let mut y = Tensor::zeros(&[&[batch][..], &out_shape].concat());
            layer.forward(&x, &mut y, true);
            let mut dy = Tensor::from_vec(y.shape(), g[..y.len()].to_vec()).unwrap();
            let mut dx = Tensor::zeros(x.shape());
            layer.backward(&x, &y, &mut dy, Some(&mut dx));
            out.extend(y.data().iter().chain(dx.data()));
            out.extend(layer.params().iter().flat_map(|p| p.grad.data().iter()));
        }
        out.iter().map(|v| v.to_bits()).collect()
    }

    /// Element-wise kernels give the same bits at every SIMD level this processor has. On
    /// x86-64 at least two levels must be compared (set MINIBATCH_ALLOW_ONE_SIMD_LEVEL on a
    /// processor without AVX2), so the test cannot pass by comparing a level with itself.
    #[test]
    fn every_level_computes_the_same_bits() {
        let mut rng = Rng::new(8);
        let n = 1000;
        let w0: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let levels = supported_levels();
        if cfg!(target_arch = "x86_64") && std::env::var_os("MINIBATCH_ALLOW_ONE_SIMD_LEVEL").is_none() {
            assert!(levels.len() >= 2, "only {levels:?} here: set MINIBATCH_ALLOW_ONE_SIMD_LEVEL to accept one level");
        }
        let original = level();
        let results: Vec<(Level, Vec<u32>)> = levels
            .into_iter()
            .map(|l| {
                force_level(l);
                (l, everything(&w0, &g))
            })
            .collect();
        force_level(original);
        for (l, bits) in &results[1..] {
            let first = bits.iter().zip(&results[0].1).position(|(a, b)| a != b);
            assert!(first.is_none(), "{l:?} differs from {:?} at value {first:?}", results[0].0);
        }
    }
}
