//! The arithmetic a batch size costs, counted before anything runs: the matrix products of a
//! training step, beside [`MemoryPlan`](super::MemoryPlan)'s bytes. See [`Model::products`].

use super::Model;
use crate::error::{Error, Result};
use serde::Serialize;

/// One matrix product of a layer's forward pass, `[m, k] × [k, n]`, run `count` times a step.
///
/// Training runs each three times over: the forward product, the weight gradient
/// `[k, m] × [m, n]` and the input gradient `[m, n] × [n, k]` (the last not for a layer that
/// reads only the model's inputs, whose gradient nobody needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// The layer's name.
    pub layer: String,
    /// Rows: the batch's samples times the positions each has (a convolution's output pixels,
    /// a Dense layer's timesteps), or the batch for one step of a recurrent layer.
    pub m: usize,
    /// The kernel's inputs: a Dense layer's features, a convolution's `kh·kw·channels`.
    pub k: usize,
    /// The kernel's outputs (units, filters, a recurrent layer's gates × units).
    pub n: usize,
    /// Times a step: a recurrent layer's timesteps, else 1.
    pub count: usize,
    /// Whether backward computes the input gradient.
    pub input_gradient: bool,
}

impl Product {
    /// Floating-point operations of the forward product, `2·m·k·n·count`.
    pub fn forward_flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64 * self.count as f64
    }

    /// Floating-point operations of the product in a training step: forward, the weight
    /// gradient and, where computed, the input gradient.
    pub fn training_flops(&self) -> f64 {
        self.forward_flops() * if self.input_gradient { 3.0 } else { 2.0 }
    }
}

impl Model {
    /// The matrix products of one training step at `batch_size`, layer by layer, counted from
    /// the kernels' shapes and the tensors' (no data, nothing run). Every weight whose name ends
    /// in `kernel` with two or more axes is one product: its last axis is `n`, the rest `k`;
    /// `m` is the batch times the positions of the layer's output (its elements over its last
    /// axis); a recurrent layer's products run once per timestep on the batch's rows.
    /// Element-wise work, pooling, normalization and attention's score products are not
    /// counted: they are memory-bound or small beside the products in the models this plans
    /// (see [`crate::lab::plan_time`]).
    ///
    /// ```
    /// use minibatch::{layers::Dense, Sequential};
    /// let mut model = Sequential::new().input_shape(&[784]).add(Dense::new(512)).add(Dense::new(10));
    /// model.compile("sgd", "mse", &[]).unwrap();
    /// let products = model.products(32).unwrap();
    /// assert_eq!((products[0].m, products[0].k, products[0].n), (32, 784, 512));
    /// assert!(!products[0].input_gradient); // the first layer reads the model's input
    /// assert_eq!(products[1].training_flops(), 3.0 * 2.0 * 32.0 * 512.0 * 10.0);
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] for a batch size of 0.
    pub fn products(&self, batch_size: usize) -> Result<Vec<Product>> {
        self.require_built("count its products")?;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let g = &self.graph;
        let mut products = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            let layer = self.node_layer(i);
            let output = &self.shapes[g.inputs + i];
            let input = node.inputs.first().map(|&t| self.shapes[t].as_slice()).unwrap_or(&[]);
            let recurrent = matches!(layer.kind(), "LSTM" | "GRU" | "SimpleRNN" | "Bidirectional");
            let (rows, count) = if recurrent {
                (1, input.first().copied().unwrap_or(1))
            } else {
                let last = output.last().copied().unwrap_or(1).max(1);
                (output.iter().product::<usize>() / last, 1)
            };
            let input_gradient = g.input_grads || node.inputs.iter().any(|&t| t >= g.inputs);
            for p in layer.params().iter().filter(|p| p.name.ends_with("kernel") && p.value.shape().len() >= 2) {
                let n = p.value.shape().last().copied().unwrap_or(1).max(1);
                products.push(Product {
                    layer: layer.name().to_string(),
                    m: batch_size * rows,
                    k: p.value.len() / n,
                    n,
                    count,
                    input_gradient,
                });
            }
        }
        Ok(products)
    }
}
