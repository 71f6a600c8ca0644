//! Floats as Keras forms them. A hyperparameter in Keras is the Python float the user wrote
//! (a double), and constants derived from it are formed in double precision before they meet
//! a float32 tensor. The optimizers hold theirs as that f64; BatchNormalization's momentum is
//! an f32, from which the decimal the user wrote is recovered first.

/// `1 − x` as Keras forms it: `x` is the Python float the user wrote, the difference is taken
/// in double precision and rounded to f32 where it meets a float32 tensor. For β₂ = 0.999 that is 1.0000000475e-3,
/// where `1.0 − 0.999f32` would give 9.9998712540e-4 (every Adam step 6.5e-6 larger).
pub(crate) fn one_minus(x: f64) -> f32 {
    (1.0 - x) as f32
}

/// [`one_minus`] of a hyperparameter held as f32 (BatchNormalization's `momentum`): the
/// decimal the user wrote is recovered first ([`python_float`]).
pub(crate) fn one_minus_f32(x: f32) -> f32 {
    one_minus(python_float(x))
}

/// The shortest decimal (at most 9 significant digits, enough for any f32) that rounds to
/// `x`, as an f64: `0.9f32` → `0.9`, not `0.8999999761581421`.
fn python_float(x: f32) -> f64 {
    let v = x as f64;
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let magnitude = v.abs().log10().floor() as i32;
    for digits in 1..=9 {
        // Rounding to an integer count of 10^-exp, then one correctly rounded division or
        // multiplication by an exact power of ten, gives the decimal's nearest f64.
        let exp = digits - 1 - magnitude;
        let scale = 10f64.powi(exp.abs());
        let d = if exp >= 0 { (v * scale).round() / scale } else { (v / scale).round() * scale };
        if d as f32 == x {
            return d;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::one_minus_f32 as keras_one_minus;

    #[test]
    #[allow(clippy::excessive_precision)] // the literals are the float32 values Keras holds, as printed
    fn one_minus_a_decay_is_formed_as_keras_forms_it() {
        // Python: float32(1 - 0.999) = 1.0000000475e-3; float32(1 - 0.9) = 0.1; float32(1 - 0.99) = 0.01.
        assert_eq!(keras_one_minus(0.999).to_bits(), 1.0000000475e-3f32.to_bits());
        assert_eq!(keras_one_minus(0.999), (1.0f64 - 0.999f64) as f32);
        assert_ne!(keras_one_minus(0.999), 1.0 - 0.999f32, "the f32 difference is 9.9998712540e-4");
        assert_eq!(keras_one_minus(0.9), 0.1f32);
        assert_eq!(keras_one_minus(0.99), 0.01f32);
        assert_eq!(keras_one_minus(0.95), (1.0f64 - 0.95f64) as f32);
        assert_eq!(keras_one_minus(0.0), 1.0);
        assert_eq!(keras_one_minus(1.0), 0.0);
        assert_eq!(keras_one_minus(0.123_456_79), (1.0f64 - 0.12345679f64) as f32);
    }
}
