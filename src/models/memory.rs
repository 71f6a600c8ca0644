//! The memory a batch size costs, computed before anything is allocated: see [`MemoryPlan`].

use super::Model;
use crate::error::{Error, Result};
use serde::Serialize;

/// What training at one batch size holds, in bytes, by kind: the memory a batch size costs,
/// computed before anything is allocated.
///
/// minibatch plans every buffer of a training step before the first one (see
/// [`crate::training`]'s buffers): the activations of every tensor of the graph and a gradient
/// beside each, the batch's targets and sample weights, and each layer's own workspaces, all
/// sized for the batch. [`Model::memory_plan`] adds those sizes up for any batch size without
/// reserving them, with the weights, their gradients and the optimizer's slots, so the
/// question the tutorial raises — how much memory does a larger batch need? — has an answer
/// before training, and [`Model::max_batch_size`] finds the largest batch that fits a budget
/// by computation rather than by trying batch sizes until one runs out of memory.
///
/// ```
/// use minibatch::{layers::Dense, Sequential};
/// let mut model = Sequential::new()
///     .input_shape(&[784])
///     .add(Dense::new(512).activation("relu"))
///     .add(Dense::new(10).activation("softmax"));
/// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
/// let plan = model.memory_plan(128).unwrap();
/// assert_eq!(plan.weights, 4 * (784 * 512 + 512 + 512 * 10 + 10));
/// assert_eq!(plan.optimizer, 2 * plan.weights); // Adam: two slots per weight
/// let largest = model.max_batch_size(64 << 20).unwrap();
/// assert!(model.memory_plan(largest).unwrap().total() <= 64 << 20);
/// assert!(model.memory_plan(largest + 1).unwrap().total() > 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryPlan {
    /// The batch size planned for.
    pub batch_size: usize,
    /// The weights: trainable and non-trainable (BatchNormalization's moving statistics).
    pub weights: usize,
    /// A gradient beside every trainable weight.
    pub gradients: usize,
    /// The optimizer's slots (Adam's two moments, SGD's momentum, gradient accumulators, EMA
    /// averages), as many as its settings use.
    pub optimizer: usize,
    /// Every tensor of the graph for the batch, its gradient, the sums where a tensor fans
    /// out, masks, the batch's targets and sample weights.
    pub activations: usize,
    /// The layers' own workspaces (im2col patches, attention weights, recurrent states, ...).
    pub workspaces: usize,
}

impl MemoryPlan {
    /// Everything together.
    pub fn total(&self) -> usize {
        self.weights + self.gradients + self.optimizer + self.activations + self.workspaces
    }

    /// What grows with the batch size: activations and workspaces.
    pub fn per_batch(&self) -> usize {
        self.activations + self.workspaces
    }
}

impl Model {
    /// The memory training at `batch_size` holds, computed from the plan without allocating
    /// it (the data set itself, and the epoch's sample order, are not included). The model
    /// must be built; the optimizer's slots are counted once it is compiled.
    ///
    /// # Errors
    /// [`Error::State`] for a model not built; [`Error::InvalidArgument`] for a batch size
    /// of 0.
    pub fn memory_plan(&self, batch_size: usize) -> Result<MemoryPlan> {
        self.require_built("plan its memory")?;
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "a positive number of samples per batch"));
        }
        let weights = self.count_params();
        let trainable = self.count_trainable_params();
        let fixed: usize = self
            .layers
            .iter()
            .flat_map(|l| l.state())
            .map(|(_, s)| if let crate::layers::State::F32(t) = s { t.len() } else { 0 })
            .sum();
        let activations = self.planned_buffer_bytes(batch_size, true);
        let workspaces = self.planned_workspaces(batch_size);
        Ok(MemoryPlan {
            batch_size,
            weights: 4 * (weights + fixed),
            gradients: 4 * weights,
            optimizer: 4 * trainable * self.optimizer_slots(),
            activations: activations - workspaces,
            workspaces,
        })
    }

    /// The largest batch size whose [`Model::memory_plan`] fits in `budget_bytes`: computed
    /// (the plan grows linearly with the batch), not found by trying batch sizes until one
    /// runs out of memory.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the budget and what one sample needs when not even a
    /// batch of 1 fits; as [`Model::memory_plan`].
    pub fn max_batch_size(&self, budget_bytes: usize) -> Result<usize> {
        let one = self.memory_plan(1)?;
        if one.total() > budget_bytes {
            return Err(Error::invalid(
                "memory budget",
                format!("{budget_bytes} bytes"),
                format!("at least {} bytes: the plan for a batch of 1", one.total()),
            ));
        }
        // The plan is affine in the batch size: fixed + per_sample · b. Solve, then check
        // against the plan itself on both sides.
        let two = self.memory_plan(2)?;
        let per_sample = (two.total() - one.total()).max(1);
        let fixed = one.total() - per_sample;
        let mut b = (budget_bytes - fixed) / per_sample;
        while b > 1 && self.memory_plan(b)?.total() > budget_bytes {
            b -= 1;
        }
        while self.memory_plan(b + 1)?.total() <= budget_bytes {
            b += 1;
        }
        Ok(b.max(1))
    }

    /// Bytes of the buffers [`Model::plan`] reserves for training at `batch` (with targets
    /// when `targets`: a model trained on its own; not when nested in another), and of the
    /// layers' workspaces.
    pub(crate) fn planned_buffer_bytes(&self, batch: usize, targets: bool) -> usize {
        let g = &self.graph;
        let sizes: Vec<usize> = self.shapes.iter().map(|s| s.iter().product()).collect();
        let without = if g.input_grads { 0 } else { g.inputs };
        let acts: usize = sizes.iter().sum();
        let grads: usize = sizes[without..].iter().sum();
        let scratch: usize = g.scratch.iter().map(|&t| sizes[t]).sum();
        let masks: usize = g.mask_steps.iter().sum();
        let target: usize = match (&self.compiled, targets) {
            (Some(c), true) => g
                .outputs
                .iter()
                .zip(&c.losses)
                .map(|(&o, loss)| {
                    let last = self.shapes[o].last().copied().unwrap_or(1).max(1);
                    sizes[o] / last * loss.target_len(last)
                })
                .sum(),
            _ => 0,
        };
        // One sample weight per sample.
        4 * batch * (acts + grads + scratch + masks + target + 1) + self.planned_workspaces(batch)
    }

    /// The layers' (and shared layers' replicas') workspaces for batches of `batch`.
    fn planned_workspaces(&self, batch: usize) -> usize {
        let layers = self.layers.iter().chain(self.replicas.iter().map(|(_, l)| l));
        layers.map(|l| l.planned_workspace_bytes(batch)).sum()
    }

    /// Values the optimizer keeps per trainable weight, as its settings use them: a fresh
    /// copy from its configuration, built for one weight, counts them.
    fn optimizer_slots(&self) -> usize {
        let Some(c) = &self.compiled else { return 0 };
        let count = |o: &dyn crate::optimizers::Optimizer| -> usize {
            let slots = o.slots().into_iter().chain(o.base().slots());
            slots.map(|(_, v)| v.iter().map(Vec::len).sum::<usize>()).sum()
        };
        match c.optimizer.config().and_then(|cfg| crate::optimizers::from_config(&cfg).ok()) {
            Some(mut fresh) => {
                fresh.build(&[1]);
                fresh.base_mut().build(&[1]);
                count(fresh.as_ref())
            }
            None => count(c.optimizer.as_ref()) / self.count_trainable_params().max(1),
        }
    }
}
