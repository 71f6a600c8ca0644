//! One pass over the planned buffers: forward, loss, backward, update. Allocation-free.

use crate::layers::Layer;
use crate::losses;
use crate::models::{Compiled, Sequential};
use crate::optimizers::base::apply_gradients;
use crate::tensor::Tensor;
use crate::training::Buffers;

impl Sequential {
    /// Runs every layer forward over `acts`.
    pub(crate) fn forward_pass(&mut self, training: bool) {
        let acts = &mut self.bufs.acts;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (done, rest) = acts.split_at_mut(i + 1);
            layer.forward(&done[i], &mut rest[0], training);
        }
    }

    /// One training step on the batch in `acts[0]`, `target` (and `weights`): forward, loss,
    /// backward, then the optimizer (see [`crate::optimizers::base`]). Updates the compiled
    /// metrics and returns the batch's loss as a *sum* over samples, regularization included
    /// (each sample carrying the batch's penalty), so that epoch means are Keras's.
    pub(crate) fn train_step(&mut self) -> f64 {
        // 1. forward, in training mode
        self.forward_pass(true);
        let c = self.compiled.as_mut().expect("compiled");
        let bufs = &mut self.bufs;
        let last = self.layers.len();
        let n = bufs.acts[0].batch();
        // 2. loss and ∂loss/∂output (the buffers' fields borrowed apart: the gradient is written)
        let weights = bufs.weighted.then(|| &bufs.weights[..n]);
        let out_grad = Some(bufs.grads[last].data_mut());
        let loss = output_loss(c, &self.layers, &bufs.acts, &bufs.target, weights, out_grad);
        update_metrics(c, bufs);
        // 3. backward, last layer first, with activity penalties added to each output's gradient
        let mut penalty = 0.0f64;
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            let (x, y) = (&bufs.acts[i], &bufs.acts[i + 1]);
            let (before, after) = bufs.grads.split_at_mut(i + 1);
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(y.data()) / n as f32) as f64;
                r.add_gradient(y.data(), after[0].data_mut(), 1.0 / n as f32);
            }
            let dx = if i > 0 { Some(&mut before[i]) } else { None };
            layer.backward(x, y, &mut after[0], dx);
        }
        // 4. weight penalties, then the update
        for p in self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut()) {
            if let Some(r) = p.regularizer {
                penalty += r.penalty(p.value.data()) as f64;
                r.add_gradient(p.value.data(), p.grad.data_mut(), 1.0);
            }
        }
        apply_gradients(c.optimizer.as_mut(), self.layers.as_mut_slice());
        loss + penalty * n as f64
    }

    /// Forward in inference mode, then loss and metrics. Returns the batch's loss as a sum
    /// over samples, regularization included (Keras adds the layers' losses in evaluation too).
    pub(crate) fn test_step(&mut self) -> f64 {
        self.forward_pass(false);
        let c = self.compiled.as_mut().expect("compiled");
        update_metrics(c, &self.bufs);
        let n = self.bufs.acts[0].batch();
        let mut penalty = 0.0f64;
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(r) = layer.activity_regularizer() {
                penalty += (r.penalty(self.bufs.acts[i + 1].data()) / n as f32) as f64;
            }
            for p in layer.params() {
                if let Some(r) = p.regularizer {
                    penalty += r.penalty(p.value.data()) as f64;
                }
            }
        }
        let bufs = &self.bufs;
        output_loss(c, &self.layers, &bufs.acts, &bufs.target, bufs.batch_weights(), None) + penalty * n as f64
    }
}

/// Feeds the batch to the metrics: `metrics` unweighted, `weighted_metrics` with the weights.
fn update_metrics(c: &mut Compiled, bufs: &Buffers) {
    let out = bufs.acts.last().expect("planned");
    let weights = bufs.batch_weights();
    for (i, m) in c.metrics.iter_mut().enumerate() {
        m.update(out, &bufs.target, if i < c.unweighted { None } else { weights });
    }
}

/// The batch's loss as a sum over samples (see [`losses`]), and its gradient into `grad` when
/// given. With a fused loss the value comes from the logits behind the output activation, as
/// Keras on TensorFlow takes it: kept by the last layer, or its input (an `Activation` layer).
fn output_loss(
    c: &Compiled,
    layers: &[Box<dyn Layer>],
    acts: &[Tensor],
    target: &Tensor,
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
) -> f64 {
    let last = layers.len();
    let logits = c.fused.then(|| layers[last - 1].fused_logits().unwrap_or(acts[last - 1].data()));
    losses::reduce(c.loss.as_ref(), &acts[last], logits, target, weights, grad)
}
