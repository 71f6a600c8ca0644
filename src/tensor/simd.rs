//! Runtime SIMD dispatch for element-wise kernels.
//!
//! The crate is compiled for baseline x86-64 (SSE2) so its binaries run anywhere. [`simd!`]
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

/// The instruction sets [`simd!`] compiles for.
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
    use crate::optimizers::{Adam, Optimizer, RMSprop};
    use crate::rng::Rng;

    /// Element-wise kernels give the same bits at every SIMD level this processor has.
    #[test]
    fn every_level_computes_the_same_bits() {
        let mut rng = Rng::new(8);
        let n = 1000;
        let w0: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let run = || {
            let mut out = Vec::new();
            for mut opt in [Box::new(Adam::default()) as Box<dyn Optimizer>, Box::new(RMSprop::default())] {
                let mut w = w0.clone();
                opt.build(&[n]);
                for _ in 0..3 {
                    opt.update(0, &mut w, &g);
                    opt.finish_step();
                }
                out.extend(w);
            }
            for act in [Activation::Relu, Activation::Tanh, Activation::Softmax, Activation::Gelu] {
                let mut y = w0.clone();
                act.forward(&mut y, 10);
                let mut d = g.clone();
                act.backward(&mut d, &w0, &y, 10);
                out.extend(y);
                out.extend(d);
            }
            out.push(crate::tensor::kernels::dot(&w0, &g));
            out.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
        };
        let original = level();
        let results: Vec<(Level, Vec<u32>)> = supported_levels()
            .into_iter()
            .map(|l| {
                force_level(l);
                (l, run())
            })
            .collect();
        force_level(original);
        for (l, bits) in &results[1..] {
            assert!(bits == &results[0].1, "{l:?} differs from {:?}", results[0].0);
        }
    }
}
