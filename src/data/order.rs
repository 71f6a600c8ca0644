//! The order a dataset serves its samples in: as stored (all of them, or a chosen subset), or
//! reshuffled every epoch by a seed — the `(seed, epoch)` rule `fit(x, y)` shuffles arrays by.

use crate::rng::Rng;

/// Which samples a dataset serves, in which order, epoch by epoch.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    /// The rows served, in stored order (`None`: all `samples` rows).
    subset: Option<Vec<usize>>,
    samples: usize,
    seed: Option<u64>,
    epoch: u64,
    /// The epoch's order, when it is not simply rows `0..samples` (a subset, or shuffled).
    order: Vec<usize>,
}

/// The rows of one batch: a run of consecutive rows, or a list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows<'a> {
    Range(usize, usize),
    List(&'a [usize]),
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        match self {
            Rows::Range(lo, hi) => hi - lo,
            Rows::List(l) => l.len(),
        }
    }

    /// Each row, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (range, list) = match *self {
            Rows::Range(lo, hi) => (lo..hi, &[][..]),
            Rows::List(l) => (0..0, l),
        };
        range.chain(list.iter().copied())
    }
}

impl Order {
    /// Rows `0..samples` in stored order.
    pub fn all(samples: usize) -> Order {
        Order { subset: None, samples, seed: None, epoch: 0, order: Vec::new() }
    }

    /// Only the rows `rows`, in that order.
    pub fn subset(mut self, rows: Vec<usize>) -> Order {
        self.subset = Some(rows);
        self.reorder();
        self
    }

    /// The same rule over `samples` rows (all of them): a dataset that kept fewer.
    pub fn resized(mut self, samples: usize) -> Order {
        (self.samples, self.subset) = (samples, None);
        self.reorder();
        self
    }

    /// Reshuffled every epoch from `seed`.
    pub fn shuffle(mut self, seed: u64) -> Order {
        self.seed = Some(seed);
        self.reorder();
        self
    }

    /// Samples served.
    pub fn len(&self) -> usize {
        self.subset.as_ref().map_or(self.samples, Vec::len)
    }

    /// The rows at positions `lo..hi` of the epoch's order.
    pub fn rows(&self, lo: usize, hi: usize) -> Rows<'_> {
        if self.order.is_empty() {
            Rows::Range(lo, hi)
        } else {
            Rows::List(&self.order[lo..hi])
        }
    }

    /// After an epoch: a shuffled order is drawn anew (allocating nothing).
    pub fn next_epoch(&mut self) {
        self.set_epoch(self.epoch + 1);
    }

    /// The order of epoch `epoch` (from `fit`, which knows which epoch a resumed run is
    /// in): drawn from the seed and that index alone, allocating nothing.
    pub fn set_epoch(&mut self, epoch: u64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            if self.seed.is_some() {
                self.reorder();
            }
        }
    }

    fn reorder(&mut self) {
        self.order.clear();
        match &self.subset {
            Some(rows) => self.order.extend_from_slice(rows),
            None if self.seed.is_some() => self.order.extend(0..self.samples),
            None => return,
        }
        if let Some(seed) = self.seed {
            Rng::derive(seed, self.epoch).shuffle(&mut self.order);
        }
    }
}
