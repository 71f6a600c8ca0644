//! One pass over the planned buffers: forward, loss, backward, update. Allocation-free.

use crate::layers::Layer;
use crate::models::Compiled;
use crate::models::Sequential;
use crate::tensor::Tensor;

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
        let loss = output_loss(c, &self.layers, &bufs.acts, &bufs.target, Some(bufs.grads[last].data_mut()));
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
        output_loss(c, &self.layers, &self.bufs.acts, &self.bufs.target, None)
    }
}

/// The sum of per-sample losses of the model's output (the last of `acts`), and its gradient
/// into `grad` when given. With a fused loss the value comes from the logits behind the output
/// activation, as Keras on TensorFlow takes it: kept by the last layer, or its input (an
/// `Activation` layer).
fn output_loss(
    c: &Compiled,
    layers: &[Box<dyn Layer>],
    acts: &[Tensor],
    target: &Tensor,
    grad: Option<&mut [f32]>,
) -> f64 {
    let last = layers.len();
    if !c.fused {
        return c.loss.compute(&acts[last], target, grad, false);
    }
    let logits = layers[last - 1].fused_logits().unwrap_or(acts[last - 1].data());
    c.loss.compute_fused(&acts[last], logits, target, grad)
}
