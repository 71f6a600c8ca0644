//! Bounds on what a model may allocate, checked before anything is allocated.
//!
//! Sizes from outside — a shape in a file, `--hidden 1000000000`, a label of 1e9 that sizes
//! the output layer — must never reach an allocation unchecked: an allocation larger than the
//! machine aborts the process rather than returning an error. So every shape from outside goes
//! through [`element_count`] (checked arithmetic), and every weight tensor a layer creates is
//! [`claim`]ed first against a budget:
//!
//! - while a [`Sequential`](crate::Sequential) builds, 3/4 of this machine's physical memory
//!   for all its weights together, each counted four times: the weight, its gradient and two
//!   optimizer slots (Adam's), which training will need;
//! - while a model file is loaded, the bytes of tensors the file actually holds, so a
//!   configuration that declares more than its file backs is refused before it is built;
//! - elsewhere, a single tensor may not exceed the physical memory.
//!
//! The budget is per thread, set for the span of one build by [`with_budget`].
//!
//! Data that a reader expands (an image decoded from a few compressed bytes, a CSV's category
//! column one-hot encoded, a gzipped IDX file, a deflated NPZ entry) is checked the same way
//! by [`check_decoded`], before the expansion, against one [`decode_budget`]: half of the
//! memory this process may use (the smaller of the physical memory and its address-space
//! limit), or `MINIBATCH_DECODE_BUDGET` bytes when that is set.

pub use crate::error::human;
use crate::error::{Error, Result};
use std::cell::Cell;

/// Values of `shape` in all, or an error naming `what` when the product overflows.
///
/// # Errors
/// [`Error::Shape`] for a product beyond `usize`.
pub fn element_count(what: &str, shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| Error::Shape {
        what: what.into(),
        expected: "a shape whose values can be counted".into(),
        received: format!("{shape:?}, more values than this machine can address"),
    })
}

/// Physical memory in bytes (Linux: `MemTotal` in `/proc/meminfo`; elsewhere 64 GiB).
pub fn physical_memory() -> u64 {
    static TOTAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .unwrap_or(64 << 30)
    })
}

/// What a budget is: the bytes left and where the bound comes from.
#[derive(Clone, Copy)]
struct Budget {
    left: u64,
    total: u64,
    source: Source,
}

/// Where a budget's bound comes from (for the error message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// 3/4 of the physical memory, for one model's weights.
    Memory,
    /// The tensor bytes a model file holds.
    File,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Whether a budget is in force on this thread.
pub fn has_budget() -> bool {
    BUDGET.with(Cell::get).is_some()
}

/// Runs `f` with a budget of `bytes` for the weights it claims (the previous budget is
/// restored afterwards, whatever `f` returns).
pub fn with_budget<T>(bytes: u64, source: Source, f: impl FnOnce() -> T) -> T {
    let previous = BUDGET.with(|b| b.replace(Some(Budget { left: bytes, total: bytes, source })));
    struct Restore(Option<Budget>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The budget a model's build gets when nothing narrower applies: 3/4 of physical memory.
pub fn model_budget() -> u64 {
    physical_memory() / 4 * 3
}

/// Claims room for an f32 tensor of `shape` named `what` (`"dense_2's kernel"`) before it is
/// allocated; returns its number of values.
///
/// # Errors
/// [`Error::Shape`] for a shape whose size overflows; [`Error::Memory`] naming `what` and the
/// size when it does not fit the budget in force (or, with none, the physical memory).
pub fn claim(what: &str, shape: &[usize]) -> Result<usize> {
    let count = element_count(what, shape)?;
    let budget = BUDGET.with(Cell::get);
    let copies = if budget.is_some_and(|b| b.source == Source::Memory) { 4 } else { 1 };
    let bytes = (count as u128 * 4 * copies).min(u64::MAX as u128) as u64;
    let (left, limit, source) = match budget {
        Some(b) => (b.left, b.total, Some(b.source)),
        None => (physical_memory(), physical_memory(), None),
    };
    if bytes > left {
        let within = match source {
            Some(Source::File) => format!("the {} of tensors the model file holds", human(limit)),
            Some(Source::Memory) => format!(
                "the {} minibatch allows a model's weights with their gradients and optimizer slots (3/4 of this machine's {} of memory; {} left)",
                human(limit),
                human(physical_memory()),
                human(left)
            ),
            None => format!("this machine's {} of memory", human(limit)),
        };
        return Err(Error::Memory { what: what.into(), shape: shape.to_vec(), bytes, within });
    }
    if let Some(mut b) = budget {
        b.left -= bytes;
        BUDGET.with(|c| c.set(Some(b)));
    }
    Ok(count)
}

/// The bytes a reader may expand a file into: `MINIBATCH_DECODE_BUDGET` (bytes, or with a
/// `K`, `M` or `G` suffix: KiB, MiB, GiB) when set, else half of the smaller of the physical
/// memory and this process's address-space limit (`ulimit -v`).
/// Read once per process (a reader asks for every image it decodes).
pub fn decode_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        if let Some(bytes) = std::env::var("MINIBATCH_DECODE_BUDGET").ok().as_deref().and_then(parse_bytes) {
            return bytes;
        }
        physical_memory().min(address_space_limit().unwrap_or(u64::MAX)) / 2
    })
}

/// `123`, `64K`, `512M`, `2G` (binary units; an optional trailing `iB` or `B`).
fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim().trim_end_matches("iB").trim_end_matches(['B', 'b']);
    let (digits, scale) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(scale)
}

/// This process's address-space limit in bytes (Linux: `Max address space` in
/// `/proc/self/limits`), if it has one.
fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..].split_whitespace().next()?.parse().ok()
}

/// Checks that expanding `what` into `shape` values of `bytes_per_value` bytes each (all the
/// copies the reader holds at once) fits the [`decode_budget`], before anything is expanded.
///
/// # Errors
/// [`Error::Memory`] naming `what`, the shape and the bytes, and how to raise the budget.
pub fn check_decoded(what: &str, shape: &[usize], bytes_per_value: u64) -> Result<()> {
    let count = shape.iter().fold(1u128, |a, &d| a.saturating_mul(d as u128));
    let bytes = count.saturating_mul(bytes_per_value as u128).min(u64::MAX as u128) as u64;
    let budget = decode_budget();
    if bytes <= budget {
        return Ok(());
    }
    Err(Error::Memory {
        what: what.into(),
        shape: shape.to_vec(),
        bytes,
        within: format!(
            "the {} minibatch lets a reader expand data into (half of the memory this process may use; \
             MINIBATCH_DECODE_BUDGET=BYTES sets it)",
            human(budget)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_sizes_are_checked_against_the_budget() {
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("64KiB"), Some(64 << 10));
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("lots"), None);
        assert!(decode_budget() <= physical_memory() / 2 || std::env::var_os("MINIBATCH_DECODE_BUDGET").is_some());
        assert!(check_decoded("small", &[10, 10], 4).is_ok());
        let err = check_decoded("a.png", &[16384, 16384, 3], 4 * 4096).unwrap_err().to_string();
        assert!(err.contains("a.png") && err.contains("MINIBATCH_DECODE_BUDGET"), "{err}");
        assert!(check_decoded("overflow", &[usize::MAX, usize::MAX], 8).is_err());
    }

    #[test]
    fn claims_are_checked_and_counted_against_the_budget() {
        assert!(element_count("x", &[2, usize::MAX / 2 + 1]).is_err());
        assert_eq!(element_count("x", &[3, 4]).unwrap(), 12);
        let err = claim("dense's kernel", &[1 << 20, 1 << 20]).unwrap_err().to_string();
        assert!(err.contains("dense's kernel") && err.contains("4398 GB"), "{err}");
        with_budget(1000, Source::Memory, || {
            let err = claim("k", &[100]).unwrap_err().to_string();
            assert!(err.contains("k [100] would need 1.6 kB"), "weight, gradient and two slots: {err}");
        });
        with_budget(100, Source::File, || {
            assert_eq!(claim("a", &[20]).unwrap(), 20); // 80 bytes
            let err = claim("b", &[6]).unwrap_err().to_string();
            assert!(err.contains("b [6] would need 24 bytes") && err.contains("100 bytes of tensors"), "{err}");
        });
        assert!(claim("b", &[6]).is_ok(), "the budget ends with its scope");
    }
}
