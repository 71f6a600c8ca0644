//! bfloat16: the upper half of an `f32`.
//!
//! A bf16 keeps f32's sign and 8-bit exponent and the top 7 bits of its 23-bit mantissa, so
//! every bf16 widens to an f32 exactly (`bits << 16`) and f32's range is kept; only precision
//! is lost (a relative step of 2⁻⁸). minibatch stores weights in f32 and rounds to bf16 where
//! Keras's `mixed_bfloat16` policy computes in bf16: the inputs of matrix products (packed as
//! bf16 by [`matmul_bf16`](super::kernels::matmul_bf16)) and a layer's outputs.
//!
//! Two roundings, both to nearest with ties to even:
//! - [`from_f32`]: IEEE's, as jax and XLA convert (subnormals kept);
//! - [`from_f32_daz`]: `VCVTNEPS2BF16`'s (Intel SDM): subnormal inputs become a signed zero.
//!
//! ```
//! use minibatch::tensor::bf16;
//! assert_eq!(bf16::to_f32(bf16::from_f32(1.0)), 1.0);
//! // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa, 1.
//! assert_eq!(bf16::round(1.0 + 1.0 / 256.0), 1.0);
//! assert_eq!(bf16::round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
//! ```

/// The bits of `x` rounded to the nearest bf16 (ties to even), the low half zero: the one
/// rounding [`from_f32`] and [`round`] share. Written without branches, so that the loops over
/// it (packing, rounding a tensor) vectorize.
#[inline(always)]
fn rounded_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    // Adding 0x7fff plus the lowest kept bit carries into the kept bits exactly when the
    // dropped half is above one half, or equal to it with the kept bits odd. An overflow
    // carries into the exponent and gives infinity, as rounding should.
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    // NaN: kept, quieted (the integer rounding could carry its payload into infinity).
    (if x.is_nan() { bits | 0x0040_0000 } else { rounded }) & 0xffff_0000
}

/// The bf16 nearest `x` (ties to even); NaN stays NaN (made quiet), infinities stay.
#[inline(always)]
pub fn from_f32(x: f32) -> u16 {
    (rounded_bits(x) >> 16) as u16
}

/// `VCVTNEPS2BF16`'s rounding (Intel SDM, `convert_fp32_to_bfloat16`): as [`from_f32`], except
/// that a subnormal input becomes zero of its sign.
#[inline(always)]
pub fn from_f32_daz(x: f32) -> u16 {
    if x.is_subnormal() {
        return ((x.to_bits() >> 16) & 0x8000) as u16;
    }
    from_f32(x)
}

/// The f32 a bf16 stands for (exact).
#[inline(always)]
pub fn to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `x` rounded to the nearest bf16, as an f32.
#[inline(always)]
pub fn round(x: f32) -> f32 {
    f32::from_bits(rounded_bits(x))
}

crate::simd! {
    /// Rounds every value to the nearest bf16 ([`round`]), in place: a tensor "in bf16" kept
    /// in f32 storage.
    pub fn round_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = round(*v);
        }
    }
}

/// Two bf16 in one 32-bit lane, `lo` in bits 0–15 and `hi` in 16–31: the pair a
/// `VDPBF16PS` or `TDPBF16PS` lane multiplies.
#[inline(always)]
pub fn join(lo: u16, hi: u16) -> u32 {
    lo as u32 | (hi as u32) << 16
}

/// [`join`] of `lo` and `hi` rounded to bf16.
#[inline(always)]
pub fn pair(lo: f32, hi: f32) -> u32 {
    join(from_f32(lo), from_f32(hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Values that exercise every branch: ties both ways, overflow to infinity, subnormals,
    /// signed zeros, NaN and infinities, and random bit patterns.
    pub(crate) fn awkward_values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -1.0 - 1.0 / 256.0,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN whose payload sits in the low half
            f32::MIN_POSITIVE,
            f32::MIN_POSITIVE / 3.0,
            -f32::MIN_POSITIVE / 7.0,
            f32::from_bits(0x0000_8000),
            f32::from_bits(0x7f7f_8000), // rounds up into infinity
        ];
        while v.len() < n {
            v.push(f32::from_bits(rng.next_u64() as u32));
        }
        v
    }

    /// The integer rounding agrees with rounding through f64 arithmetic (the definition: the
    /// nearest bf16, ties to the even one) on every value that is not NaN.
    #[test]
    fn rounding_is_to_nearest_even() {
        for x in awkward_values(20_000, 3) {
            let r = round(x);
            if x.is_nan() {
                assert!(r.is_nan(), "{x:e}");
                continue;
            }
            // The two bf16 neighbours of x: truncation, and one step up in magnitude.
            let down = f32::from_bits(x.to_bits() & 0xffff_0000);
            let up = f32::from_bits((x.to_bits() & 0xffff_0000) + 0x1_0000);
            // One step above the largest finite bf16 is 2¹²⁸ (as if the exponent went on):
            // values nearer it than the largest bf16 overflow to infinity.
            let up_value = if up.is_infinite() { 2f64.powi(128).copysign(x as f64) } else { up as f64 };
            let (dd, du) = ((x as f64 - down as f64).abs(), (up_value - x as f64).abs());
            let want =
                if x.is_infinite() || dd < du || (dd == du && down.to_bits() & 0x1_0000 == 0) { down } else { up };
            assert_eq!(r.to_bits(), want.to_bits(), "{x:e}");
        }
    }

    #[test]
    fn round_in_place_matches_round() {
        let values = awkward_values(1000, 5);
        let mut x = values.clone();
        round_in_place(&mut x);
        for (got, v) in x.iter().zip(&values) {
            assert_eq!(got.to_bits(), round(*v).to_bits(), "{v:e}");
        }
    }

    /// `from_f32_daz` is the hardware conversion, bit for bit, where this processor has it.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn daz_rounding_matches_vcvtneps2bf16() {
        if !std::is_x86_feature_detected!("avx512bf16") {
            return eprintln!("no AVX512-BF16 here: the emulation is checked against the SDM's rules only");
        }
        #[target_feature(enable = "avx512f,avx512bf16")]
        unsafe fn hardware(x: &[f32; 16]) -> [u16; 16] {
            use std::arch::x86_64::*;
            let h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x.as_ptr()));
            std::mem::transmute(h)
        }
        let values = awkward_values(4096, 7);
        for chunk in values.chunks_exact(16) {
            let x: [f32; 16] = chunk.try_into().unwrap();
            // SAFETY: the processor has AVX512-BF16 (checked above).
            let hw = unsafe { hardware(&x) };
            for (h, v) in hw.iter().zip(&x) {
                assert_eq!(*h, from_f32_daz(*v), "{v:e} ({:#010x})", v.to_bits());
            }
        }
    }
}
