//! Vectorizable tanh and sigmoid for the recurrent cells, whose gates spend most of a step in
//! them: the standard library's `tanhf` and `expf` are scalar calls, these are plain
//! arithmetic that `simd!` compiles to 8 or 16 lanes.
//!
//! `tanh` is Eigen's rational approximation (a degree-13 odd numerator over a degree-6 even
//! denominator, the input clamped to ±7.9053, where it reaches ±1 in float32); sigmoid is
//! `½ + ½ tanh(x/2)`. Both stay within 4e-7 of the exact function (the unit test checks a fine
//! grid), below the float32 rounding of the products around them.

/// Eigen's `ptanh_float`.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Eigen's coefficients, as published
fn tanh_rational(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16_f32;
    p = p * x2 + 2.000_187_9e-13;
    p = p * x2 + -8.604_671_5e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= x;
    let mut q = 1.198_258_4e-6_f32;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    p / q
}

crate::simd! {
    /// `v ← tanh(v)`.
    pub fn tanh_in_place(v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = tanh_rational(*x);
        }
    }
}

crate::simd! {
    /// `v ← σ(v) = ½ + ½ tanh(v / 2)`.
    pub fn sigmoid_in_place(v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = 0.5 + 0.5 * tanh_rational(0.5 * *x);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn within_4e7_of_the_exact_functions() {
        let xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 5e-4).collect();
        let mut t = xs.clone();
        super::tanh_in_place(&mut t);
        let mut s = xs.clone();
        super::sigmoid_in_place(&mut s);
        let (mut worst, mut worst_s) = (0.0f64, 0.0f64);
        for ((&x, &t), &s) in xs.iter().zip(&t).zip(&s) {
            let (x, t, s) = (x as f64, t as f64, s as f64);
            worst = worst.max((t - x.tanh()).abs());
            let exact = 1.0 / (1.0 + (-x).exp());
            worst_s = worst_s.max((s - exact).abs());
        }
        assert!(worst < 4e-7 && worst_s < 4e-7, "largest errors: tanh {worst:e}, sigmoid {worst_s:e}");
        // The ends are exactly ±1, 0 and 1, and tanh is odd.
        let mut ends = [-100.0f32, 100.0, 0.0];
        super::tanh_in_place(&mut ends);
        assert_eq!(ends, [-1.0, 1.0, 0.0]);
    }
}
