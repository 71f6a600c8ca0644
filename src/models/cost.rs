//! The arithmetic a batch size costs, counted before anything runs: the matrix products of a
//! training step, beside [`MemoryPlan`](super::MemoryPlan)'s bytes. See [`Model::products`]
//! (each layer lists its own: [`crate::layers::Layer::products`]).

use super::Model;
use crate::error::{Error, Result};
use crate::layers::Product;

impl Model {
    /// The matrix products of one training step at `batch_size`, layer by layer, each as the
    /// layer calls the kernel ([`crate::layers::Layer::products`]), counted from the kernels'
    /// shapes and the tensors' (no data, nothing run). By default a weight whose name ends in
    /// `kernel` with two or more axes is one kernel, its last axis `n` and the rest `k`, over
    /// the batch times the positions of the layer's output; a recurrent layer lists its
    /// input projection over every step at once, its steps' products (`stepwise`) and its
    /// recurrent kernel's gradient over every step at once, as it runs them. Element-wise
    /// work, pooling, normalization and attention's score products are not counted: they are
    /// memory-bound or small beside the products in the models this plans (see
    /// [`crate::lab::plan_time`]).
    ///
    /// ```
    /// use minibatch::{layers::{Dense, Pass}, Sequential};
    /// let mut model = Sequential::new().input_shape(&[784]).add(Dense::new(512)).add(Dense::new(10));
    /// model.compile("sgd", "mse", &[]).unwrap();
    /// let products = model.products(32).unwrap();
    /// assert_eq!((products[0].m, products[0].k, products[0].n), (32, 784, 512));
    /// // The first layer reads the model's input: no input gradient.
    /// assert!(products[..2].iter().all(|p| p.pass != Pass::InputGradient));
    /// let second: f64 = products[2..].iter().map(|p| p.flops()).sum();
    /// assert_eq!(second, 3.0 * 2.0 * 32.0 * 512.0 * 10.0);
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] for a batch size of 0.
    pub fn products(&self, batch_size: usize) -> Result<Vec<Product>> {
        let mut products = Vec::new();
        self.for_each_costed_node("count its products", batch_size, |i, layer, input_gradient| {
            let output = &self.shapes[self.graph.inputs + i];
            let last = output.last().copied().unwrap_or(1).max(1);
            let positions = output.iter().product::<usize>() / last;
            products.extend(layer.products(batch_size, positions, input_gradient));
        })?;
        Ok(products)
    }

    /// The layers' own element-wise work in a training step at `batch_size`, timed now on
    /// this machine ([`crate::layers::Layer::time_elementwise`]): the seconds, and the bytes
    /// of workspace they cover (which the time plan then leaves out of its activation-pass
    /// count).
    ///
    /// # Errors
    /// As [`Model::products`].
    pub fn time_elementwise(&self, batch_size: usize) -> Result<(f64, usize)> {
        let (mut seconds, mut bytes) = (0.0, 0);
        self.for_each_costed_node("time its element-wise work", batch_size, |_, layer, input_gradient| {
            if let Some(s) = layer.time_elementwise(batch_size, input_gradient) {
                seconds += s;
                bytes += layer.planned_workspace_bytes(batch_size);
            }
        })?;
        Ok((seconds, bytes))
    }

    /// Calls `f(node, layer, input_gradient)` for every node of a built model, checked to be
    /// built (for `what`) and `batch_size` positive; `input_gradient`: whether backward
    /// computes that node's input gradient.
    fn for_each_costed_node(
        &self,
        what: &str,
        batch_size: usize,
        mut f: impl FnMut(usize, &dyn crate::layers::Layer, bool),
    ) -> Result<()> {
        self.require_built(what)?;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let g = &self.graph;
        for (i, node) in g.nodes.iter().enumerate() {
            let input_gradient = g.input_grads || node.inputs.iter().any(|&t| t >= g.inputs);
            f(i, self.node_layer(i), input_gradient);
        }
        Ok(())
    }
}
