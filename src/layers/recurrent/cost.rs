//! What a recurrent layer's training step costs, as the driver runs it (see the module docs of
//! [`super`]): its products, and its cell's element-wise work timed on this machine.
//!
//! ```text
//! input side, every step at once:   [T·N, in] × [in, G·u]      forward
//!                                   [in, T·N] × [T·N, G·u]     dW
//!                                   [T·N, G·u] × [G·u, in]     dX (when asked for)
//! the steps, T of them:             [N, u] × [u, G·u]          forward  (stepwise: U packed once)
//!                                   [N, G·u] × [G·u, u]        dh       (stepwise: Uᵀ packed once)
//! recurrent kernel's gradient:      [u, T·N] × [T·N, G·u]      once (GRU: [u, N] × [N, G·u] per step)
//! ```

use super::{lstm, rows_per_part, Cell, Recurrent};
use crate::layers::cost::{best_time, kernel_products, Pass, Product};
use crate::tensor::{for_each_range, kernels, SendPtr};

impl Recurrent {
    /// The products of a training step at `batch` samples (see the module docs).
    pub(super) fn step_products(&self, batch: usize, input_gradient: bool) -> Vec<Product> {
        let (t, u, f) = (self.steps, self.units, self.features);
        let gu = self.cell.gates() * u;
        let name = &self.core.name;
        let mut products = kernel_products(name, t * batch, f, gu, input_gradient);
        // SimpleRNN and LSTM run every step of a pass in one parallel region (stepwise); GRU
        // shares each step's product out over the threads.
        let stepwise = self.cell != Cell::GRU;
        let step =
            |pass, (k, n), tb, ta| Product { layer: name.clone(), pass, m: batch, k, n, ta, tb, count: t, stepwise };
        products.push(step(Pass::Forward, (u, gu), false, false));
        products.push(step(Pass::InputGradient, (gu, u), true, false));
        if self.cell == Cell::GRU {
            products.push(Product {
                m: u,
                k: batch,
                n: gu,
                stepwise: false,
                ..step(Pass::WeightGradient, (0, 0), false, true)
            });
        } else {
            products.push(Product::once(name, Pass::WeightGradient, (u, t * batch, gu), (true, false)));
        }
        products
    }

    /// Seconds of the LSTM cell's element-wise work in a training step at `batch` samples:
    /// one step's gates forward and backward over every row (shared out over the threads as
    /// the driver does), the bias added to and summed from one step's gates, timed on
    /// workspaces of one step's size and counted `T` times. `None` for SimpleRNN and GRU,
    /// whose element-wise work is an activation pass or two.
    pub(super) fn time_cell(&self, batch: usize) -> Option<f64> {
        if self.cell != Cell::LSTM || self.steps == 0 || self.units == 0 {
            return None;
        }
        let (n, u, gu) = (batch, self.units, 4 * self.units);
        let (act, gate) = self.acts();
        let mut z: Vec<f32> = (0..n * gu).map(|i| (i % 29) as f32 / 29.0 - 0.5).collect();
        let c_prev: Vec<f32> = (0..n * u).map(|i| (i % 7) as f32 / 7.0 - 0.5).collect();
        let (mut c, mut aux, mut h, mut dc) =
            (vec![0.0f32; n * u], vec![0.0f32; n * u], vec![0.0; n * u], vec![0.0; n * u]);
        let bias = vec![0.0f32; gu];
        let mut db = vec![0.0f32; gu];
        let (zp, cp, ap, hp, dp) = (
            SendPtr(z.as_mut_ptr()),
            SendPtr(c.as_mut_ptr()),
            SendPtr(aux.as_mut_ptr()),
            SendPtr(h.as_mut_ptr()),
            SendPtr(dc.as_mut_ptr()),
        );
        let step = best_time(|| {
            // SAFETY: each thread's rows lo..hi of buffers sized for n rows.
            kernels::add_row_bias(unsafe { zp.slice(0, n * gu) }, &bias);
            for_each_range(n, rows_per_part(u, gu), |lo, hi| unsafe {
                let rows = hi - lo;
                let (z, c_prev) = (zp.slice(lo * gu, hi * gu), &c_prev[lo * u..hi * u]);
                let (c, aux, h, dc) = (
                    cp.slice(lo * u, hi * u),
                    ap.slice(lo * u, hi * u),
                    hp.slice(lo * u, hi * u),
                    dp.slice(lo * u, hi * u),
                );
                lstm::forward_rows(z, c_prev, c, aux, h, (act, gate), rows, u);
                lstm::backward_rows(z, c_prev, aux, h, dc, (act, gate), rows, u);
            });
            for row in unsafe { zp.slice(0, n * gu) }.chunks_exact(gu) {
                kernels::add(&mut db, row);
            }
        });
        Some(step * self.steps as f64)
    }
}
