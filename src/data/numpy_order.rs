//! The file order Keras's directory loaders draw: NumPy's legacy
//! `np.random.RandomState(seed).shuffle(list)` (keras/src/utils/dataset_utils.py,
//! `index_directory`), so that a `validation_split` with a `seed` puts the same files on the
//! same side as Keras does.
//!
//! ```text
//! MT19937 seeded by init_genrand(seed)          (NumPy's _legacy_seeding of a 32-bit int)
//! for i = n−1 down to 1:
//!     mask = all ones up to i's highest bit
//!     j = next_u32 & mask, drawn again while j > i
//!     swap(items[i], items[j])
//! ```

/// The Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998), 32-bit output.
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    next ^= 0x9908_b0df;
                }
                self.state[i] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A value in `0..=max`, by NumPy's masked rejection (`random_interval`).
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16] {
            mask |= mask >> shift;
        }
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }
}

/// Shuffles `items` as `np.random.RandomState(seed).shuffle(items)` does a Python list.
pub(crate) fn numpy_shuffle<T>(items: &mut [T], seed: u32) {
    let mut rng = Mt19937::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.interval(i as u32) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_and_the_shuffle_are_numpys() {
        // np.random.RandomState(5489).randint(0, 2**32, dtype=np.uint64) draws MT19937's
        // reference sequence: 3499211612, 581869302, 3890346734, ...
        let mut mt = Mt19937::new(5489);
        assert_eq!([mt.next_u32(), mt.next_u32(), mt.next_u32()], [3_499_211_612, 581_869_302, 3_890_346_734]);
        // x = list(range(10)); np.random.RandomState(7).shuffle(x)
        let mut x: Vec<usize> = (0..10).collect();
        numpy_shuffle(&mut x, 7);
        assert_eq!(x, [8, 5, 0, 2, 1, 9, 7, 3, 6, 4]);
    }
}
