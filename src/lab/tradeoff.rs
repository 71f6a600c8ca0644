//! The steps–examples trade-off of McCandlish et al. (2018): measured steps to a target loss
//! at several batch sizes, fitted to
//!
//! ```text
//! S / S_min − 1 = (E / E_min − 1)⁻¹      with E = B·S samples
//! ```
//!
//! which is `S(B) = S_min · (1 + B_crit / B)` with `B_crit = E_min / S_min`: `S_min` is the
//! fewest updates any batch size needs, `E_min` the fewest samples. At `B = B_crit` training takes twice the fewest updates and twice the
//! fewest samples; the paper's claim, which [`crate::FitOptions::measure_noise_scale`] lets
//! anyone check, is that the gradient noise scale predicts `B_crit`.

use super::LabRun;
use crate::plot::{Chart, Figure, Mark, Series};
use serde::Serialize;

/// The trade-off fitted to measured `(batch size, steps)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TradeOff {
    /// The fewest updates, at an unlimited batch size.
    pub s_min: f64,
    /// The fewest samples, at a batch of one.
    pub e_min: f64,
    /// `E_min / S_min`: the batch size where both cost twice their least.
    pub b_crit: f64,
}

impl TradeOff {
    /// The fitted steps at batch size `b`, `S_min · (1 + B_crit / b)`.
    pub fn steps(&self, b: f64) -> f64 {
        self.s_min * (1.0 + self.b_crit / b)
    }
}

/// Least squares in log space: `B_crit` and `S_min` minimizing `Σ (ln S − ln S_min(1 + B_crit/B))²`
/// (each batch size's relative error counts alike, so the small batches' thousands of updates
/// do not outweigh the large batches' hundreds). For each `B_crit` the best `S_min` is closed
/// form; `B_crit` is searched over a fine log grid from a hundredth of the smallest batch size
/// to a hundred times the largest, then refined. `None` with fewer than two distinct batch
/// sizes or a best `B_crit` at the grid's edge (steps that do not fall with the batch size, or
/// that fall in proportion throughout: no trade-off measured).
///
/// ```
/// // Exactly S = 100 · (1 + 256 / B):
/// let points: Vec<(usize, f64)> = [16, 64, 256, 1024].iter().map(|&b| (b, 100.0 * (1.0 + 256.0 / b as f64))).collect();
/// let fit = minibatch::lab::fit_tradeoff(&points).unwrap();
/// assert!((fit.b_crit / 256.0 - 1.0).abs() < 1e-3 && (fit.s_min / 100.0 - 1.0).abs() < 1e-3);
/// ```
pub fn fit_tradeoff(points: &[(usize, f64)]) -> Option<TradeOff> {
    let pts: Vec<(f64, f64)> =
        points.iter().filter(|(b, s)| *b > 0 && s.is_finite() && *s > 0.0).map(|&(b, s)| (b as f64, s.ln())).collect();
    let (lo, hi) = pts.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    if pts.len() < 2 || lo == hi {
        return None;
    }
    let n = pts.len() as f64;
    // For a given B_crit: ln S_min = mean(ln S − ln(1 + B_crit/B)), and the squared error.
    let fit = |bc: f64| -> (f64, f64) {
        let log_s_min = pts.iter().map(|&(b, ls)| ls - (1.0 + bc / b).ln()).sum::<f64>() / n;
        let err = pts.iter().map(|&(b, ls)| (ls - log_s_min - (1.0 + bc / b).ln()).powi(2)).sum::<f64>();
        (err, log_s_min)
    };
    let (from, to) = ((lo / 100.0).ln(), (hi * 100.0).ln());
    let steps = 4000;
    let at = |i: f64| (from + (to - from) * i / steps as f64).exp();
    let errors: Vec<f64> = (0..=steps).map(|i| fit(at(i as f64)).0).collect();
    let best = (0..=steps).min_by(|&a, &b| errors[a].total_cmp(&errors[b]))?;
    if best == 0 || best == steps {
        return None;
    }
    // Refine between the neighbours by golden-section search.
    let (mut a, mut b) = (at(best as f64 - 1.0).ln(), at(best as f64 + 1.0).ln());
    for _ in 0..60 {
        let (c, d) = (b - (b - a) * 0.618_034, a + (b - a) * 0.618_034);
        if fit(c.exp()).0 < fit(d.exp()).0 {
            b = d;
        } else {
            a = c;
        }
    }
    let b_crit = ((a + b) / 2.0).exp();
    let s_min = fit(b_crit).1.exp();
    Some(TradeOff { s_min, e_min: s_min * b_crit, b_crit })
}

/// Steps to reach the held-out loss `target` in a lab run: the first epoch whose held-out
/// loss is at or below it, interpolated linearly in updates within that epoch. `None` when the
/// run never reached it.
pub fn steps_to_loss(run: &LabRun, target: f64) -> Option<f64> {
    let mut before = (0.0, f64::INFINITY);
    for (i, e) in run.epochs.iter().enumerate() {
        let updates = ((i + 1) * run.updates_per_epoch) as f64;
        if e.val_loss <= target {
            let (u0, l0) = before;
            if !l0.is_finite() || l0 <= e.val_loss {
                return Some(updates);
            }
            return Some(u0 + (updates - u0) * (l0 - target) / (l0 - e.val_loss));
        }
        before = (updates, e.val_loss);
    }
    None
}

/// The evidence figure: measured steps to the target against the batch size with the fitted
/// trade-off (left; the fitted `B_crit` and the measured noise scale marked), and the same as
/// steps against samples (right, the paper's figure).
pub fn tradeoff_figure(points: &[(usize, f64)], fit: Option<TradeOff>, b_noise: Option<f64>, target: &str) -> Figure {
    let measured =
        |f: &dyn Fn(usize, f64) -> (f64, f64)| -> Vec<(f64, f64)> { points.iter().map(|&(b, s)| f(b, s)).collect() };
    let grid: Vec<f64> = match (points.iter().map(|p| p.0).min(), points.iter().map(|p| p.0).max()) {
        (Some(lo), Some(hi)) => (0..=40).map(|i| lo as f64 * (hi as f64 / lo as f64).powf(i as f64 / 40.0)).collect(),
        _ => Vec::new(),
    };
    let fitted = |f: &dyn Fn(f64, f64) -> (f64, f64)| -> Vec<Series> {
        fit.map(|t| Series {
            name: format!("fit: S_min {:.0}, E_min {:.0}, B_crit {:.0}", t.s_min, t.e_min, t.b_crit),
            points: grid.iter().map(|&b| f(b, t.steps(b))).collect(),
            color: 1,
            dashed: true,
        })
        .into_iter()
        .collect()
    };
    let mut marks = Vec::new();
    if let Some(t) = fit {
        marks.push(Mark { x: t.b_crit, label: format!("B_crit {:.0} (fitted)", t.b_crit), color: 1 });
    }
    if let Some(b) = b_noise {
        marks.push(Mark { x: b, label: format!("B_noise {b:.0} (measured)"), color: 2 });
    }
    let mut by_batch = vec![Series {
        name: format!("updates to {target} (measured)"),
        points: measured(&|b, s| (b as f64, s)),
        color: 0,
        dashed: false,
    }];
    by_batch.extend(fitted(&|b, s| (b, s)));
    let mut by_samples =
        vec![Series { name: "measured".into(), points: measured(&|b, s| (b as f64 * s, s)), color: 0, dashed: false }];
    by_samples.extend(fitted(&|b, s| (b * s, s)));
    Figure {
        charts: vec![
            Chart {
                title: format!("Updates to {target} by batch size"),
                x_label: "batch size".into(),
                y_label: "updates".into(),
                series: by_batch,
                marks,
                log_x: true,
                log_y: true,
                ..Chart::default()
            },
            Chart {
                title: "Updates against samples (McCandlish et al. 2018)".into(),
                x_label: "samples seen".into(),
                y_label: "updates".into(),
                series: by_samples,
                log_x: true,
                log_y: true,
                ..Chart::default()
            },
        ],
        columns: 2,
    }
}
