//! How `validation_split` chooses its samples.
//!
//! Keras takes the *last* fraction of the samples, before any shuffling ([`SplitMode::Tail`],
//! the default). minibatch also offers a seeded random choice ([`SplitMode::Shuffled`]) and one
//! that keeps each class's share on both sides ([`SplitMode::Stratified`]) — often requested
//! of Keras, which declines because its data may be a stream; here it is always in memory.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::{kernels::argmax, Tensor};

/// Which samples `validation_split` holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitMode {
    /// The last `floor`-rounded fraction, in order (Keras).
    #[default]
    Tail,
    /// A random fraction of the same size, drawn from the model's seed.
    Shuffled,
    /// The fraction of each class (by label, or the argmax of one-hot targets), drawn from the
    /// model's seed: class proportions stay the same on both sides.
    Stratified,
}

/// Training and validation rows (each in ascending order) for a split of `fraction` of the
/// samples of `y`, as `fit` makes it with `validation_split` (the model's seed for the seeded
/// modes): a caller can check a split before training.
///
/// # Errors
/// [`Error::InvalidArgument`] for a fraction outside [0, 1) or a split that leaves a side empty.
pub fn split_rows(y: &Tensor, fraction: f64, mode: SplitMode, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = y.batch();
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::invalid("validation_split", fraction, "a fraction in [0, 1)"));
    }
    let start = (n as f64 * (1.0 - fraction)).floor() as usize;
    let mut rng = Rng::derive(seed, 0x5B17);
    let mut held = match mode {
        SplitMode::Tail => (start..n).collect::<Vec<_>>(),
        SplitMode::Shuffled => {
            let mut all: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut all);
            all.split_off(start)
        }
        SplitMode::Stratified => {
            let class = |i: usize| if y.row_len() == 1 { y.row(i)[0] as usize } else { argmax(y.row(i)) };
            let classes = (0..n).map(class).max().map_or(0, |c| c + 1);
            let mut by_class = vec![Vec::new(); classes];
            (0..n).for_each(|i| by_class[class(i)].push(i));
            let mut held = Vec::new();
            for rows in &mut by_class {
                rng.shuffle(rows);
                let take = (rows.len() as f64 * fraction).round() as usize;
                held.extend_from_slice(&rows[rows.len() - take..]);
            }
            held
        }
    };
    held.sort_unstable();
    if held.is_empty() || held.len() == n {
        return Err(Error::invalid(
            "validation_split",
            fraction,
            format!(
                "a fraction that leaves samples on both sides of the split of {n} samples (got {} for training, {} for validation)",
                n - held.len(),
                held.len()
            ),
        ));
    }
    let mut is_held = vec![false; n];
    held.iter().for_each(|&i| is_held[i] = true);
    let train = (0..n).filter(|&i| !is_held[i]).collect();
    Ok((train, held))
}
