//! Log-cosh, as Keras: with `e = p − y`, `L = mean_j (e_j + softplus(−2 e_j) − log 2)`
//! (= log cosh e, without overflow), `∂L/∂p_j = tanh(e_j) / k`.

use crate::activations::softplus;

pub fn row(p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let k = p.len() as f32;
    if let Some(g) = grad {
        for ((g, &p), &y) in g.iter_mut().zip(p).zip(t) {
            *g = (p - y).tanh() / k;
        }
    }
    let value = |e: f32| e + softplus(-2.0 * e) - std::f32::consts::LN_2;
    p.iter().zip(t).map(|(&p, &y)| value(p - y)).sum::<f32>() / k
}
