//! Runtime SIMD dispatch for element-wise kernels.
//!
//! The crate is compiled for baseline x86-64 (SSE2) so its binaries run anywhere. [`simd!`]
//! compiles a function's body three times — for AVX-512, for AVX2 + FMA, and for the baseline —
//! and calls the best one the processor has, detected once. Only loops LLVM can vectorize
//! without changing results benefit (element-wise arithmetic, `sqrt`, division); no
//! reassociation or contraction is allowed, so every level computes the same bits.
//!
//! ```ignore
//! simd! {
//!     /// y += a · x
//!     pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
//!         for (y, x) in y.iter_mut().zip(x) { *y += a * x; }
//!     }
//! }
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
