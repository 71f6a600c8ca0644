//! The scale-and-shift every normalization ends with, `y = x̂ · γ + β` per feature, and its
//! weights' gradients: shared by LayerNormalization and GroupNormalization.

use crate::layers::Param;

/// `out ← out · γ + β` row by row, `γ` and `β` of the rows' width (either may be absent).
pub(crate) fn apply(out: &mut [f32], gamma: Option<&[f32]>, beta: Option<&[f32]>, width: usize) {
    for row in out.chunks_exact_mut(width) {
        if let Some(g) = gamma {
            row.iter_mut().zip(g).for_each(|(v, g)| *v *= g);
        }
        if let Some(b) = beta {
            row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    }
}

/// `dγ = Σ_rows dy ⊙ x̂` and `dβ = Σ_rows dy` into `params` (`[γ, β]`, each only when the
/// layer scales and centres).
pub(crate) fn gradients(params: &mut [Param], scale: bool, center: bool, dy: &[f32], xhat: &[f32], width: usize) {
    let mut params = params.iter_mut();
    if scale {
        let g = params.next().expect("gamma").grad.data_mut();
        g.fill(0.0);
        for (d, xh) in dy.chunks_exact(width).zip(xhat.chunks_exact(width)) {
            g.iter_mut().zip(d.iter().zip(xh)).for_each(|(g, (d, x))| *g += d * x);
        }
    }
    if center {
        let g = params.next().expect("beta").grad.data_mut();
        g.fill(0.0);
        for d in dy.chunks_exact(width) {
            crate::tensor::kernels::add(g, d);
        }
    }
}
