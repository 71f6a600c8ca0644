//! The instructions minibatch's kernels use, in portable Rust, as the Intel SDM defines them.
//!
//! Each function here is one instruction's pseudo-code: the same lanes, the same order of
//! additions, the same rounding and the same treatment of denormals, so a kernel written over
//! them computes the bits the hardware would. They are the kernels' test on every machine
//! (`MINIBATCH_KERNELS=emulated`), and on a processor that has the instruction, the tests
//! compare them with it bit for bit.
//!
//! | instruction | emulation |
//! |---|---|
//! | `VFMADD231PS zmm` | [`fmadd`]: 16 lanes of `a·b + c`, one rounding each |
//! | `VDPBF16PS zmm` | [`dpbf16ps`]: per f32 lane, the odd bf16 pair's product added first, then the even one's |
//! | `TDPBF16PS tmm` | [`Tiles::dpbf16ps`]: per row and column, pairs in order, the even product first |
//! | `LDTILECFG`, `TILELOADD`, `TILESTORED`, `TILEZERO` | [`Tiles`] |

use crate::tensor::bf16;

/// Sixteen f32 lanes: a `zmm` register.
pub type F32x16 = [f32; 16];

/// Sixteen zeros (`VXORPS`).
#[inline(always)]
pub fn zero() -> F32x16 {
    [0.0; 16]
}

/// Sixteen values from memory (`VMOVUPS`).
///
/// # Safety
/// `p` must point to 16 readable `f32`.
#[inline(always)]
pub unsafe fn load(p: *const f32) -> F32x16 {
    unsafe { std::ptr::read_unaligned(p as *const F32x16) }
}

/// Sixteen values to memory (`VMOVUPS`).
///
/// # Safety
/// `p` must point to 16 writable `f32`.
#[inline(always)]
pub unsafe fn store(p: *mut f32, v: F32x16) {
    unsafe { std::ptr::write_unaligned(p as *mut F32x16, v) }
}

/// One value in every lane (`VBROADCASTSS`).
#[inline(always)]
pub fn set1(x: f32) -> F32x16 {
    [x; 16]
}

/// `a·b + c` in every lane with one rounding (`VFMADD231PS`, as `_mm512_fmadd_ps`).
#[inline(always)]
pub fn fmadd(a: F32x16, b: F32x16, c: F32x16) -> F32x16 {
    std::array::from_fn(|l| a[l].mul_add(b[l], c[l]))
}

/// A denormal input read as zero of its sign (the bf16 instructions' "DAZ").
#[inline(always)]
fn daz(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

/// One accumulation of the bf16 instructions: "FP32 FMA with DAZ in, FTZ out and RNE rounding;
/// MXCSR neither consulted nor updated" — `acc + a·b` rounded once, a denormal result flushed
/// to zero of its sign.
#[inline(always)]
pub fn bf16_fma(acc: f32, a: u16, b: u16) -> f32 {
    let r = daz(bf16::to_f32(a)).mul_add(daz(bf16::to_f32(b)), daz(acc));
    if r.is_subnormal() {
        0.0f32.copysign(r)
    } else {
        r
    }
}

/// `VDPBF16PS zmm, zmm, zmm` (`_mm512_dpbf16_ps(acc, a, b)`): each 32-bit lane of `a` and `b`
/// holds a bf16 pair (element `2i` in the low half); per the SDM,
///
/// ```text
/// acc.fp32[i] += make_fp32(a.bf16[2i+1]) · make_fp32(b.bf16[2i+1])
/// acc.fp32[i] += make_fp32(a.bf16[2i+0]) · make_fp32(b.bf16[2i+0])
/// ```
#[inline(always)]
pub fn dpbf16ps(acc: F32x16, a: [u32; 16], b: [u32; 16]) -> F32x16 {
    std::array::from_fn(|l| {
        let odd = bf16_fma(acc[l], (a[l] >> 16) as u16, (b[l] >> 16) as u16);
        bf16_fma(odd, a[l] as u16, b[l] as u16)
    })
}

/// An AMX tile configuration, laid out as `LDTILECFG` reads it (64 bytes).
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileConfig {
    /// 1: the only palette (8 tiles of up to 16 rows × 64 bytes).
    pub palette: u8,
    /// The row to restart an interrupted load or store at; 0.
    pub start_row: u8,
    reserved0: [u8; 14],
    /// Bytes per row of each tile.
    pub colsb: [u16; 8],
    reserved1: [u8; 16],
    /// Rows of each tile.
    pub rows: [u8; 8],
    reserved2: [u8; 8],
}

impl TileConfig {
    /// Palette 1 with these rows and bytes per row for tiles `0..8` (unused tiles 0 × 0).
    pub fn new(shapes: [(u8, u16); 8]) -> Self {
        TileConfig { palette: 1, rows: shapes.map(|s| s.0), colsb: shapes.map(|s| s.1), ..TileConfig::default() }
    }
}

/// The eight tile registers of palette 1 (16 rows × 64 bytes each) and their configuration,
/// with the AMX instructions' semantics.
pub struct Tiles {
    config: TileConfig,
    regs: Box<[[[u32; 16]; 16]; 8]>,
}

impl Default for Tiles {
    fn default() -> Self {
        Tiles { config: TileConfig::default(), regs: Box::new([[[0; 16]; 16]; 8]) }
    }
}

impl Tiles {
    /// `LDTILECFG`: sets the shapes and zeroes every tile.
    ///
    /// # Panics
    /// On a configuration the hardware faults on (palette other than 1, more than 16 rows or
    /// 64 bytes, a row width not a multiple of 4): a kernel bug, caught in the tests.
    pub fn ldtilecfg(&mut self, config: &TileConfig) {
        assert_eq!(config.palette, 1, "LDTILECFG: palette {}", config.palette);
        for t in 0..8 {
            assert!(
                config.rows[t] <= 16 && config.colsb[t] <= 64 && config.colsb[t].is_multiple_of(4),
                "LDTILECFG: tile {t}"
            );
        }
        self.config = *config;
        *self.regs = [[[0; 16]; 16]; 8];
    }

    fn shape(&self, t: usize) -> (usize, usize) {
        let (rows, colsb) = (self.config.rows[t] as usize, self.config.colsb[t] as usize);
        assert!(self.config.palette == 1 && rows > 0, "tile {t} used unconfigured");
        (rows, colsb / 4)
    }

    /// `TILELOADD tmm, [base + stride]`: row `r` from `base + r·stride` bytes; the rest of the
    /// register zeroed.
    ///
    /// # Safety
    /// The configured rows × bytes must be readable at those addresses.
    pub unsafe fn tileloadd(&mut self, t: usize, base: *const u8, stride: usize) {
        let (rows, cols) = self.shape(t);
        self.regs[t] = [[0; 16]; 16];
        for r in 0..rows {
            for c in 0..cols {
                self.regs[t][r][c] = unsafe { std::ptr::read_unaligned(base.add(r * stride + 4 * c) as *const u32) };
            }
        }
    }

    /// `TILESTORED [base + stride], tmm`.
    ///
    /// # Safety
    /// The configured rows × bytes must be writable at those addresses.
    pub unsafe fn tilestored(&self, t: usize, base: *mut u8, stride: usize) {
        let (rows, cols) = self.shape(t);
        for r in 0..rows {
            for c in 0..cols {
                unsafe { std::ptr::write_unaligned(base.add(r * stride + 4 * c) as *mut u32, self.regs[t][r][c]) };
            }
        }
    }

    /// `TILEZERO tmm`.
    pub fn tilezero(&mut self, t: usize) {
        self.shape(t);
        self.regs[t] = [[0; 16]; 16];
    }

    /// `TDPBF16PS dst, a, b`: `dst` is M × N f32, `a` M × K bf16 pairs, `b` K × N bf16 pairs
    /// (the "VNNI" layout: row `k` of `b` holds rows `2k` and `2k + 1` of the matrix
    /// interleaved). Per the SDM,
    ///
    /// ```text
    /// for m, for k, for n:
    ///     dst[m][n] += make_fp32(a[m].bf16[2k+0]) · make_fp32(b[k].bf16[2n+0])
    ///     dst[m][n] += make_fp32(a[m].bf16[2k+1]) · make_fp32(b[k].bf16[2n+1])
    /// ```
    ///
    /// each addition an FMA rounded to nearest even, denormals in and out zero.
    pub fn dpbf16ps(&mut self, dst: usize, a: usize, b: usize) {
        let ((m, n), (ma, k), (kb, nb)) = (self.shape(dst), self.shape(a), self.shape(b));
        assert!(m == ma && k == kb && n == nb, "TDPBF16PS: shapes {m}×{n} += {ma}×{k} · {kb}×{nb}");
        for row in 0..m {
            for p in 0..k {
                let pa = self.regs[a][row][p];
                for col in 0..n {
                    let pb = self.regs[b][p][col];
                    let acc = f32::from_bits(self.regs[dst][row][col]);
                    let even = bf16_fma(acc, pa as u16, pb as u16);
                    let odd = bf16_fma(even, (pa >> 16) as u16, (pb >> 16) as u16);
                    self.regs[dst][row][col] = odd.to_bits();
                }
            }
        }
    }

    /// `TILERELEASE`: back to the unconfigured state.
    pub fn tilerelease(&mut self) {
        self.config = TileConfig::default();
        *self.regs = [[[0; 16]; 16]; 8];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Bit patterns for bf16 pairs and accumulators that reach every rule: denormal inputs and
    /// accumulators, products that underflow, overflow, cancellation, NaN and infinities.
    fn lanes(rng: &mut Rng) -> ([f32; 16], [u32; 16], [u32; 16]) {
        let special =
            [0x0000u16, 0x8000, 0x0001, 0x8071, 0x007f, 0x0080, 0x7f80, 0xff80, 0x7fc0, 0x7f7f, 0x3f80, 0x1f80];
        let half = |rng: &mut Rng| -> u16 {
            match rng.next_u64() % 4 {
                0 => special[(rng.next_u64() % special.len() as u64) as usize],
                // Around 1, where sums round.
                1 => (0x3f00 + (rng.next_u64() % 0x100) as u16) | (rng.next_u64() as u16 & 0x8000),
                // Small exponents, whose products underflow.
                2 => (0x0080 + (rng.next_u64() % 0x1000) as u16) | (rng.next_u64() as u16 & 0x8000),
                _ => rng.next_u64() as u16,
            }
        };
        let acc = std::array::from_fn(|_| match rng.next_u64() % 3 {
            0 => f32::from_bits(rng.next_u64() as u32 & 0x807f_ffff), // denormal or zero
            1 => rng.uniform(-2.0, 2.0) as f32,
            _ => f32::from_bits(rng.next_u64() as u32),
        });
        let a = std::array::from_fn(|_| half(rng) as u32 | (half(rng) as u32) << 16);
        let b = std::array::from_fn(|_| half(rng) as u32 | (half(rng) as u32) << 16);
        (acc, a, b)
    }

    /// The emulated `VDPBF16PS` is the hardware's, bit for bit (NaNs compared as NaN), on
    /// a processor that has it.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn dpbf16ps_matches_the_hardware() {
        if !std::is_x86_feature_detected!("avx512bf16") {
            return eprintln!("no AVX512-BF16 here: the emulation runs without a hardware comparison");
        }
        #[target_feature(enable = "avx512f,avx512bf16")]
        unsafe fn hardware(acc: [f32; 16], a: [u32; 16], b: [u32; 16]) -> [f32; 16] {
            use std::arch::x86_64::*;
            let r = _mm512_dpbf16_ps(
                _mm512_loadu_ps(acc.as_ptr()),
                std::mem::transmute::<[u32; 16], __m512bh>(a),
                std::mem::transmute::<[u32; 16], __m512bh>(b),
            );
            std::mem::transmute(r)
        }
        let mut rng = Rng::new(11);
        for _ in 0..20_000 {
            let (acc, a, b) = lanes(&mut rng);
            // SAFETY: the processor has AVX512-BF16 (checked above).
            let hw = unsafe { hardware(acc, a, b) };
            let em = dpbf16ps(acc, a, b);
            for l in 0..16 {
                let same = hw[l].to_bits() == em[l].to_bits() || (hw[l].is_nan() && em[l].is_nan());
                assert!(
                    same,
                    "lane {l}: acc {:#010x} a {:#010x} b {:#010x}: hardware {:#010x}, emulated {:#010x}",
                    acc[l].to_bits(),
                    a[l],
                    b[l],
                    hw[l].to_bits(),
                    em[l].to_bits()
                );
            }
        }
    }

    /// The order of the two products matters, and the two instructions take opposite orders:
    /// accumulator 2⁻²⁴, products 1 (odd element) and 2⁻²⁴ (even element).
    #[test]
    fn the_vector_and_tile_instructions_add_the_pair_in_opposite_orders() {
        // Two halves of an ulp of 1 (2⁻²⁴ each) vanish when added to 1 one at a time, and
        // count when added to each other first.
        let tiny = bf16::from_f32(2f32.powi(-24)) as u32;
        let one = bf16::from_f32(1.0) as u32;
        // Pair (lo, hi): lo product = 2⁻²⁴·1, hi product = 1·1 → vector adds hi first.
        let a = [tiny | one << 16; 16];
        let b = [one | one << 16; 16];
        let v = dpbf16ps(set1(2f32.powi(-24)), a, b);
        // Vector: acc = 2⁻²⁴ + 1 → 1 (tie to even), then + 2⁻²⁴ → 1.
        assert_eq!(v[0], 1.0);
        let mut tiles = Tiles::default();
        tiles.ldtilecfg(&TileConfig::new([(1, 4), (1, 4), (1, 4), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]));
        let (acc, a1, b1) = (2f32.powi(-24).to_bits(), a[0], b[0]);
        // SAFETY: one row of 4 bytes each.
        unsafe {
            tiles.tileloadd(0, &acc as *const u32 as *const u8, 4);
            tiles.tileloadd(1, &a1 as *const u32 as *const u8, 4);
            tiles.tileloadd(2, &b1 as *const u32 as *const u8, 4);
        }
        tiles.dpbf16ps(0, 1, 2);
        let mut out = 0u32;
        // SAFETY: one row of 4 bytes.
        unsafe { tiles.tilestored(0, &mut out as *mut u32 as *mut u8, 4) };
        // Tiles: acc = 2⁻²⁴ + 2⁻²⁴ = 2⁻²³ first, then + 1 → 1 + 2⁻²³, representable.
        assert_eq!(f32::from_bits(out), 1.0 + 2f32.powi(-23));
    }

    #[test]
    fn fma_rounds_once() {
        // (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴: a separate multiply would round the 2⁻²⁴ away first.
        let x = 1.0 + 2f32.powi(-12);
        let r = fmadd(set1(x), set1(x), set1(-1.0 - 2f32.powi(-11)));
        assert_eq!(r[3], 2f32.powi(-24));
    }
}
