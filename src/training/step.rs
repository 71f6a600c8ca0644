//! One pass over the planned buffers: forward, loss, backward, update. Allocation-free.

use crate::models::Sequential;

impl Sequential {
    /// Runs every layer forward over `acts`.
    pub(crate) fn forward_pass(&mut self, training: bool) {
        let acts = &mut self.bufs.acts;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (done, rest) = acts.split_at_mut(i + 1);
            layer.forward(&done[i], &mut rest[0], training);
        }
    }

    /// One optimizer step on the batch in `acts[0]` and `target`. Updates the compiled
    /// metrics and returns the *sum* of per-sample losses.
    pub(crate) fn train_step(&mut self) -> f64 {
        // 1. forward, in training mode
        self.forward_pass(true);
        let c = self.compiled.as_mut().expect("compiled");
        let bufs = &mut self.bufs;
        let last = self.layers.len();
        // 2. loss and ∂loss/∂output
        let grad = Some(bufs.grads[last].data_mut());
        let loss = if c.fused {
            // The value from the logits behind the fused activation, as Keras on TensorFlow.
            let logits = self.layers[last - 1].fused_logits().unwrap_or(bufs.acts[last - 1].data());
            c.loss.compute_fused(&bufs.acts[last], logits, &bufs.target, grad)
        } else {
            c.loss.compute(&bufs.acts[last], &bufs.target, grad, false)
        };
        for m in &mut c.metrics {
            m.update(&bufs.acts[last], &bufs.target);
        }
        // 3. backward, last layer first
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            let (x, y) = (&bufs.acts[i], &bufs.acts[i + 1]);
            let (before, after) = bufs.grads.split_at_mut(i + 1);
            let dx = if i > 0 { Some(&mut before[i]) } else { None };
            layer.backward(x, y, &mut after[0], dx);
        }
        // 4. one update per parameter, in a fixed order
        let mut slot = 0;
        for layer in &mut self.layers {
            for p in layer.params_mut() {
                c.optimizer.update(slot, p.value.data_mut(), p.grad.data());
                slot += 1;
            }
        }
        c.optimizer.finish_step();
        loss
    }

    /// Forward in inference mode, then loss and metrics. Returns the sum of per-sample losses.
    pub(crate) fn test_step(&mut self) -> f64 {
        self.forward_pass(false);
        let c = self.compiled.as_mut().expect("compiled");
        let out = &self.bufs.acts[self.layers.len()];
        for m in &mut c.metrics {
            m.update(out, &self.bufs.target);
        }
        if c.fused {
            let logits = self.layers[self.layers.len() - 1].fused_logits();
            let logits = logits.unwrap_or(self.bufs.acts[self.layers.len() - 1].data());
            return c.loss.compute_fused(out, logits, &self.bufs.target, None);
        }
        c.loss.compute(out, &self.bufs.target, None, false)
    }
}
