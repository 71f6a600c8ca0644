//! The matrix product of `mixed_bfloat16`: `C = bf16(op(A)) · bf16(op(B)) + beta·C`, the
//! inputs rounded to bf16 and the sums kept in f32.
//!
//! Three ways to run it, by [`Isa`](super::isa::Isa):
//! - **Vector** (`VDPBF16PS`, AVX512-BF16): A and B are rounded while they are packed, as bf16
//!   pairs along k; an 8 × 32 micro-kernel adds one pair of products per instruction into 16
//!   f32 accumulators.
//! - **Tiles** (`TDPBF16PS`, AMX-BF16): 32 × 32 blocks of C held in four 16 × 16 tiles, A and
//!   B packed as 16 × 16-pair tiles (B in the "VNNI" layout, the pairs of two rows of B side by
//!   side); one instruction is 16 × 16 × 32 multiply-adds.
//! - **Rounded** (any other processor): A and B rounded into scratch copies, then the f32
//!   product. Not the bf16 instructions' bits, but the same inputs.
//!
//! # The order of the sums
//! Every value of C is one chain, whatever the thread count or blocking: it starts at 0 (or
//! `beta·C`), then adds the products of the pairs `(2p, 2p + 1)` of k in order `p = 0, 1, …`,
//! each product added by one fused, rounded addition with denormals flushed, as the
//! instructions define it. The vector instruction adds the odd element's product first, the
//! tile instruction the even one's: the two kernels differ in the last bits, and each matches
//! its emulation exactly.
//!
//! Packing buffers are per thread and reused: a steady-state product allocates nothing.

use super::gemm::Split;
use super::isa::amx::{Hardware, TileUnit};
use super::isa::emulated::{self, TileConfig, Tiles};
use super::isa::{self, Isa};
use super::{bf16, pool};
use std::cell::RefCell;

/// Micro-tile of the vector kernel: rows × columns of C.
const MR: usize = 8;
const NR: usize = 32;
/// Micro-tile of the tile kernel: 32 × 32, four 16 × 16 f32 tiles.
const TR: usize = 32;
/// Pairs of k per block (512 values of k), rows per A block, columns per B block.
const KCP: usize = 256;
const MC: usize = 256;
const NC: usize = 2048;

/// How a k-block starts each value of C.
#[derive(Clone, Copy, PartialEq)]
enum Init {
    /// At zero (`beta == 0`: C's old values, NaN included, are ignored).
    Zero,
    /// At `beta·C`.
    Scale(f32),
    /// At C: a later k-block continues the chain.
    Load,
}

impl Init {
    /// The start of the k-block beginning at pair `pc`.
    fn of_block(pc: usize, beta: f32) -> Init {
        match (pc, beta) {
            (0, 0.0) => Init::Zero,
            (0, _) => Init::Scale(beta),
            _ => Init::Load,
        }
    }
}

/// Which kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Vector { hardware: bool },
    Tiles { hardware: bool },
}

/// `C[m, n] = bf16(op(A))[m, k] · bf16(op(B))[k, n] + beta · C`, with the strides of
/// [`sgemm`](super::gemm::sgemm).
///
/// # Safety
/// As [`sgemm`](super::gemm::sgemm): every element the strides address lies inside its
/// allocation, and `c` (`m·n` values, row-major) overlaps neither `a` nor `b`. A and B are
/// stored contiguously (`m·k` and `k·n` values, transposed or not), and `m`, `k` and `n` are
/// positive ([`matmul_bf16`](super::kernels::matmul_bf16) takes the empty cases).
#[allow(clippy::too_many_arguments)]
pub unsafe fn bgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    (rsa, csa): (usize, usize),
    b: *const f32,
    (rsb, csb): (usize, usize),
    beta: f32,
    c: *mut f32,
) {
    debug_assert!(m > 0 && k > 0 && n > 0);
    let kind = match isa::current() {
        _ if k < SHORT_K => return unsafe { rounded(m, k, n, a, (rsa, csa), b, (rsb, csb), beta, c) },
        Isa::Avx512Bf16 => Kind::Vector { hardware: true },
        Isa::Emulated => Kind::Vector { hardware: false },
        Isa::Amx => Kind::Tiles { hardware: true },
        Isa::EmulatedAmx => Kind::Tiles { hardware: false },
        Isa::Portable | Isa::Avx2 | Isa::Avx512 => {
            return unsafe { rounded(m, k, n, a, (rsa, csa), b, (rsb, csb), beta, c) }
        }
    };
    unsafe { bgemm_with(kind, m, k, n, View { ptr: a, rs: rsa, cs: csa }, View { ptr: b, rs: rsb, cs: csb }, beta, c) }
}

/// A read-only matrix view: element `(i, j)` at `ptr[i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

impl View {
    /// Element `(i, j)` rounded to bf16, 0 outside `rows × cols` (the padding).
    #[inline(always)]
    unsafe fn get(&self, i: usize, j: usize, rows: usize, cols: usize) -> u16 {
        if i < rows && j < cols {
            bf16::from_f32(unsafe { *self.ptr.add(i * self.rs + j * self.cs) })
        } else {
            0
        }
    }
}

/// The arguments of one product, shared by the threads that compute it.
struct Product {
    kind: Kind,
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    c: *mut f32,
    beta: f32,
    /// How the threads share C (as the f32 product's threads do).
    split: Split,
}

impl Kind {
    /// The micro-tile: rows × columns of C.
    fn tile(self) -> (usize, usize) {
        match self {
            Kind::Vector { .. } => (MR, NR),
            Kind::Tiles { .. } => (TR, TR),
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn bgemm_with(kind: Kind, m: usize, k: usize, n: usize, a: View, b: View, beta: f32, c: *mut f32) {
    let split = Split::of((m, k, n), kind.tile());
    let p = Product { kind, m, k, n, a, b, c, beta, split };
    unsafe { pool::run(split.parts, &p as *const Product as *const (), part) };
}

thread_local! {
    /// Packed A and B of this thread (bf16 pairs), and its emulated tile registers.
    static PACKED: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    static TILES: RefCell<Option<Tiles>> = const { RefCell::new(None) };
}

/// Computes part `t`: its rows or columns of the product.
unsafe fn part(ctx: *const (), t: usize) {
    let p = unsafe { &*(ctx as *const Product) };
    if p.split.bounds[t] >= p.split.bounds[t + 1] {
        return;
    }
    let (rows, cols) = p.split.range(t, p.m, p.n);
    PACKED.with_borrow_mut(|(ap, bp)| match p.kind {
        Kind::Vector { hardware } => unsafe { vector_block(p, hardware, rows, cols, ap, bp) },
        Kind::Tiles { hardware: true } => {
            let mut unit = Hardware::new().expect("AMX was detected before this kernel was chosen");
            unsafe { tile_block(p, &mut unit, rows, cols, ap, bp) }
        }
        Kind::Tiles { hardware: false } => TILES.with_borrow_mut(|tiles| {
            let unit = tiles.get_or_insert_with(Tiles::default);
            unsafe { tile_block(p, unit, rows, cols, ap, bp) }
        }),
    });
}

/// Makes `buf` hold at least `len` values; grows once to the largest block, reused after.
fn room(buf: &mut Vec<u32>, len: usize) -> *mut u32 {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    buf.as_mut_ptr()
}

/// Packs rows `i0..i0 + rows` (padded to `height`) and pairs `p0..p0 + pairs` of a view whose
/// pairs lie side by side (`v.cs == 1`: a row-major A, a transposed B) as one "pair-major"
/// panel of `height` rows: value `(q, i)` at `q·height + i` holds the pair
/// `(v(i, 2(p0+q)), v(i, 2(p0+q)+1))` rounded to bf16; pairs past k and rows past m are zero.
/// The block's values are rounded in one vectorized run (all rows at once where they are
/// contiguous: a first convolution's 9 taps per row), then gathered pair by pair.
unsafe fn pack_pair_major(
    out: *mut u32,
    v: View,
    (i0, rows, height): (usize, usize, usize),
    (p0, pairs): (usize, usize),
    (m, k): (usize, usize),
) {
    debug_assert_eq!(v.cs, 1);
    let rows = rows.min(m.saturating_sub(i0));
    let out = unsafe { std::slice::from_raw_parts_mut(out, pairs * height) };
    let width = (2 * pairs).min(k - 2 * p0); // values of each row in this block
    if rows < height || width < 2 * pairs {
        out.fill(0);
    }
    SCRATCH.with_borrow_mut(|bits| {
        if bits.len() < rows * width {
            bits.resize(rows * width, 0);
        }
        let first = unsafe { v.ptr.add(i0 * v.rs + 2 * p0) };
        if v.rs == width {
            let block = unsafe { std::slice::from_raw_parts(first, rows * width) };
            to_bf16_bits(&mut bits[..rows * width], block);
        } else {
            for i in 0..rows {
                let row = unsafe { std::slice::from_raw_parts(first.add(i * v.rs), width) };
                to_bf16_bits(&mut bits[i * width..(i + 1) * width], row);
            }
        }
        for i in 0..rows {
            let row = &bits[i * width..(i + 1) * width];
            let pairs = row.chunks_exact(2);
            let last = pairs.remainder().first().map(|&lo| bf16::join(lo, 0)); // an odd k's last value
            let whole = pairs.len();
            for (q, pair) in pairs.enumerate() {
                out[q * height + i] = bf16::join(pair[0], pair[1]);
            }
            if let Some(lo) = last {
                out[whole * height + i] = lo;
            }
        }
    });
}

thread_local! {
    /// Rounded values of a block of A whose pairs lie side by side, before they are gathered.
    static SCRATCH: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
}

crate::simd! {
    /// `out[i] = bf16(x[i])`.
    fn to_bf16_bits(out: &mut [u16], x: &[f32]) {
        for (o, v) in out.iter_mut().zip(x) {
            *o = bf16::from_f32(*v);
        }
    }
}

/// Packs `len` rows from `i0` (or columns, for B) into pair-major panels of `width` rows, one
/// after another (`width · pairs` values each; see [`pack_pair_major`], which packs each panel
/// where pairs lie side by side). Where the rows lie side by side instead (`v.rs == 1`: a
/// transposed A, a row-major B), each pair's two source runs are rounded across all the
/// panels at once (vectorized unless they are short), then copied a panel at a time.
unsafe fn pack_panels(
    out: *mut u32,
    v: View,
    (i0, len, width): (usize, usize, usize),
    (p0, pairs): (usize, usize),
    (m, k): (usize, usize),
) {
    let panels = len.div_ceil(width);
    if v.rs != 1 {
        for r in 0..panels {
            let rows = (i0 + r * width, width.min(len - r * width), width);
            unsafe { pack_pair_major(out.add(r * width * pairs), v, rows, (p0, pairs), (m, k)) };
        }
        return;
    }
    let rows = len.min(m.saturating_sub(i0));
    let whole = pairs.min((k / 2).saturating_sub(p0));
    let out = unsafe { std::slice::from_raw_parts_mut(out, panels * width * pairs) };
    if rows < panels * width || whole < pairs {
        out.fill(0);
    }
    // Row `first..first + n` of k-value `kk`: a run in memory.
    let source =
        |kk: usize, first: usize, n: usize| unsafe { std::slice::from_raw_parts(v.ptr.add(kk * v.cs + i0 + first), n) };
    if rows < 16 {
        // A few rows (a weight gradient over 9 taps): straight into place, a panel at a time,
        // as a dispatched call and the copies would cost more than the work.
        for (r, first) in (0..rows).step_by(width).enumerate() {
            let n = width.min(rows - first);
            for q in 0..whole {
                let kk = 2 * (p0 + q);
                let dst = &mut out[r * width * pairs + q * width..][..n];
                for ((o, l), h) in dst.iter_mut().zip(source(kk, first, n)).zip(source(kk + 1, first, n)) {
                    *o = bf16::pair(*l, *h);
                }
            }
        }
    } else {
        PAIRS.with_borrow_mut(|run| {
            if run.len() < rows {
                run.resize(rows, 0);
            }
            for q in 0..whole {
                let kk = 2 * (p0 + q);
                pack_pairs(&mut run[..rows], source(kk, 0, rows), source(kk + 1, 0, rows));
                for (r, first) in (0..rows).step_by(width).enumerate() {
                    let n = width.min(rows - first);
                    let dst = r * width * pairs + q * width;
                    out[dst..dst + n].copy_from_slice(&run[first..first + n]);
                }
            }
        });
    }
    // The last pair of an odd k: its second value is padding.
    let kk = 2 * (p0 + whole);
    if whole < pairs && kk < k {
        spread(out, (whole, pairs, width, rows), |i| unsafe { v.get(i0 + i, kk, m, k) } as u32);
    }
}

/// Writes pair `q`'s value for each of `rows` rows into its place in the pair-major panels of
/// `width` rows (`width · pairs` values each), a panel at a time.
#[inline(always)]
fn spread(out: &mut [u32], (q, pairs, width, rows): (usize, usize, usize, usize), value: impl Fn(usize) -> u32) {
    for (r, first) in (0..rows).step_by(width).enumerate() {
        let panel = &mut out[r * width * pairs + q * width..][..width.min(rows - first)];
        for (i, slot) in panel.iter_mut().enumerate() {
            *slot = value(first + i);
        }
    }
}

thread_local! {
    /// One pair's values across a block's panels, rounded, before they are spread.
    static PAIRS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

crate::simd! {
    /// `out[i] = (bf16(lo[i]), bf16(hi[i]))` as one 32-bit pair ([`bf16::pair`]).
    fn pack_pairs(out: &mut [u32], lo: &[f32], hi: &[f32]) {
        for ((o, l), h) in out.iter_mut().zip(lo).zip(hi) {
            *o = bf16::pair(*l, *h);
        }
    }
}

/// The five loops around the vector micro-kernel, for rows `i0..i1` and columns `j0..j1`.
unsafe fn vector_block(
    p: &Product,
    hardware: bool,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    ap: &mut Vec<u32>,
    bp: &mut Vec<u32>,
) {
    let kp = p.k.div_ceil(2);
    // B's view with k as rows: op(B)(kk, j); A's with k as columns: op(A)(i, kk).
    let bt = View { ptr: p.b.ptr, rs: p.b.cs, cs: p.b.rs }; // bt(j, kk) = op(B)(kk, j)
    let mut tile = [0f32; MR * NR];
    for jc in (j0..j1).step_by(NC) {
        let nc = NC.min(j1 - jc);
        let col_panels = nc.div_ceil(NR);
        for pc in (0..kp.max(1)).step_by(KCP) {
            let kcp = KCP.min(kp - pc.min(kp));
            let b_out = room(bp, col_panels * NR * kcp);
            unsafe { pack_panels(b_out, bt, (jc, nc, NR), (pc, kcp), (p.n, p.k)) };
            let init = Init::of_block(pc, p.beta);
            for ic in (i0..i1).step_by(MC) {
                let mc = MC.min(i1 - ic);
                let row_panels = mc.div_ceil(MR);
                let a_out = room(ap, row_panels * MR * kcp);
                unsafe { pack_panels(a_out, p.a, (ic, mc, MR), (pc, kcp), (p.m, p.k)) };
                for jr in 0..col_panels {
                    let nb = NR.min(nc - jr * NR);
                    let b_panel = unsafe { b_out.add(jr * NR * kcp) };
                    for ir in 0..row_panels {
                        let mb = MR.min(mc - ir * MR);
                        let a_panel = unsafe { a_out.add(ir * MR * kcp) };
                        let c = unsafe { p.c.add((ic + ir * MR) * p.n + jc + jr * NR) };
                        let run = |c: *mut f32, rsc: usize| unsafe {
                            #[cfg(target_arch = "x86_64")]
                            if hardware {
                                return x86::kernel_8x32_bf16(kcp, a_panel, b_panel, c, rsc, init);
                            }
                            debug_assert!(!hardware);
                            kernel_8x32_bf16_emulated(kcp, a_panel, b_panel, c, rsc, init)
                        };
                        if mb == MR && nb == NR {
                            run(c, p.n);
                        } else {
                            // Edge: through a full tile, only the valid part read and written.
                            unsafe { edge(&mut tile, NR, c, p.n, (mb, nb), init, run) };
                        }
                    }
                }
            }
        }
    }
}

/// Runs a micro-kernel on the `mb × nb` corner of C through `tile` (row stride `width`):
/// copies C's valid values in when the kernel reads them, and the valid results out.
unsafe fn edge(
    tile: &mut [f32],
    width: usize,
    c: *mut f32,
    rsc: usize,
    (mb, nb): (usize, usize),
    init: Init,
    run: impl FnOnce(*mut f32, usize),
) {
    if init != Init::Zero {
        tile.fill(0.0);
        for i in 0..mb {
            for j in 0..nb {
                tile[i * width + j] = unsafe { *c.add(i * rsc + j) };
            }
        }
    }
    run(tile.as_mut_ptr(), width);
    for i in 0..mb {
        for j in 0..nb {
            unsafe { *c.add(i * rsc + j) = tile[i * width + j] };
        }
    }
}

/// The 8 × 32 `VDPBF16PS` kernel over emulated instructions (see the x86 one).
unsafe fn kernel_8x32_bf16_emulated(kcp: usize, a: *const u32, b: *const u32, c: *mut f32, rsc: usize, init: Init) {
    let mut acc = [[emulated::zero(); 2]; MR];
    for (i, row) in acc.iter_mut().enumerate() {
        for (h, v) in row.iter_mut().enumerate() {
            let old = || unsafe { emulated::load(c.add(i * rsc + h * 16)) };
            match init {
                Init::Zero => {}
                Init::Scale(beta) => *v = old().map(|x| beta * x),
                Init::Load => *v = old(),
            }
        }
    }
    for q in 0..kcp {
        let b0: [u32; 16] = unsafe { std::ptr::read_unaligned(b.add(q * NR) as *const [u32; 16]) };
        let b1: [u32; 16] = unsafe { std::ptr::read_unaligned(b.add(q * NR + 16) as *const [u32; 16]) };
        for (i, row) in acc.iter_mut().enumerate() {
            let av = [unsafe { *a.add(q * MR + i) }; 16];
            row[0] = emulated::dpbf16ps(row[0], av, b0);
            row[1] = emulated::dpbf16ps(row[1], av, b1);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (h, &v) in row.iter().enumerate() {
            unsafe { emulated::store(c.add(i * rsc + h * 16), v) };
        }
    }
}

/// The tile layout: C's four 16 × 16 f32 tiles (0, 1 above 2, 3), A's two 16-row tiles (4, 5),
/// B's two 16-column tiles (6, 7); each 16 rows × 64 bytes.
fn tile_config() -> TileConfig {
    TileConfig::new([(16, 64); 8])
}

/// The loops around the 32 × 32 tile kernel, for rows `i0..i1` and columns `j0..j1`. A is
/// packed row-major per 32-row panel (row `i`, pair `q` at `i·kcp + q`: a tile load with a
/// stride of one row), B pair-major per 32-column panel (the "VNNI" layout a B tile reads).
unsafe fn tile_block<U: TileUnit>(
    p: &Product,
    unit: &mut U,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    ap: &mut Vec<u32>,
    bp: &mut Vec<u32>,
) {
    unit.configure(&tile_config());
    let kp = p.k.div_ceil(2);
    let bt = View { ptr: p.b.ptr, rs: p.b.cs, cs: p.b.rs };
    let mut tile = [0f32; TR * TR];
    for jc in (j0..j1).step_by(NC) {
        let nc = NC.min(j1 - jc);
        let col_panels = nc.div_ceil(TR);
        for pc in (0..kp.max(1)).step_by(KCP) {
            // Pairs in this block, padded to whole 16-pair tiles.
            let real = KCP.min(kp - pc.min(kp));
            let kcp = real.next_multiple_of(16).max(16);
            let b_out = room(bp, col_panels * TR * kcp);
            unsafe { pack_panels(b_out, bt, (jc, nc, TR), (pc, kcp), (p.n, p.k)) };
            let init = Init::of_block(pc, p.beta);
            for ic in (i0..i1).step_by(MC) {
                let mc = MC.min(i1 - ic);
                let row_panels = mc.div_ceil(TR);
                let a_out = room(ap, row_panels * TR * kcp);
                for r in 0..row_panels {
                    // Row-major: the transpose of the pair-major layout (rows as "pairs").
                    let panel = unsafe { a_out.add(r * TR * kcp) };
                    for i in 0..TR {
                        for q in 0..kcp {
                            let (row, kk) = (ic + r * TR + i, 2 * (pc + q));
                            let rows = (ic + mc).min(p.m);
                            let (lo, hi) = unsafe { (p.a.get(row, kk, rows, p.k), p.a.get(row, kk + 1, rows, p.k)) };
                            unsafe { *panel.add(i * kcp + q) = bf16::join(lo, hi) };
                        }
                    }
                }
                for jr in 0..col_panels {
                    let nb = TR.min(nc - jr * TR);
                    let b_panel = unsafe { b_out.add(jr * TR * kcp) };
                    for ir in 0..row_panels {
                        let mb = TR.min(mc - ir * TR);
                        let a_panel = unsafe { a_out.add(ir * TR * kcp) };
                        let c = unsafe { p.c.add((ic + ir * TR) * p.n + jc + jr * TR) };
                        let mut run =
                            |c: *mut f32, rsc: usize| unsafe { tile_kernel(unit, kcp, a_panel, b_panel, c, rsc, init) };
                        if mb == TR && nb == TR {
                            run(c, p.n);
                        } else {
                            unsafe { edge(&mut tile, TR, c, p.n, (mb, nb), init, run) };
                        }
                    }
                }
            }
        }
    }
    unit.release();
}

/// One 32 × 32 block of C over `kcp` pairs (a multiple of 16): four accumulator tiles, each
/// 16-pair step loading two A and two B tiles and running four `TDPBF16PS`.
unsafe fn tile_kernel<U: TileUnit>(
    unit: &mut U,
    kcp: usize,
    a: *const u32,
    b: *const u32,
    c: *mut f32,
    rsc: usize,
    init: Init,
) {
    let stride_c = 4 * rsc;
    let half_c = unsafe { c.add(16 * rsc) };
    match init {
        Init::Zero => {
            unit.zero::<0>();
            unit.zero::<1>();
            unit.zero::<2>();
            unit.zero::<3>();
        }
        Init::Scale(_) | Init::Load => {
            if let Init::Scale(beta) = init {
                for i in 0..TR {
                    for j in 0..TR {
                        unsafe { *c.add(i * rsc + j) *= beta };
                    }
                }
            }
            unsafe {
                unit.load::<0>(c as *const u8, stride_c);
                unit.load::<1>(c.add(16) as *const u8, stride_c);
                unit.load::<2>(half_c as *const u8, stride_c);
                unit.load::<3>(half_c.add(16) as *const u8, stride_c);
            }
        }
    }
    let (stride_a, stride_b) = (4 * kcp, 4 * TR);
    for q in (0..kcp).step_by(16) {
        unsafe {
            unit.load::<4>(a.add(q) as *const u8, stride_a);
            unit.load::<5>(a.add(16 * kcp + q) as *const u8, stride_a);
            unit.load::<6>(b.add(q * TR) as *const u8, stride_b);
            unit.load::<7>(b.add(q * TR + 16) as *const u8, stride_b);
        }
        unit.dpbf16ps::<0, 4, 6>();
        unit.dpbf16ps::<1, 4, 7>();
        unit.dpbf16ps::<2, 5, 6>();
        unit.dpbf16ps::<3, 5, 7>();
    }
    unsafe {
        unit.store::<0>(c as *mut u8, stride_c);
        unit.store::<1>(c.add(16) as *mut u8, stride_c);
        unit.store::<2>(half_c as *mut u8, stride_c);
        unit.store::<3>(half_c.add(16) as *mut u8, stride_c);
    }
}

thread_local! {
    /// `op(A)` and `op(B)` rounded to bf16, for the f32 kernel (processors without bf16
    /// instructions).
    static ROUNDED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The product on a processor without bf16 instructions, and for a short k (below
/// [`SHORT_K`]) on every processor: A and B copied rounded to bf16 as they are stored (one
/// vectorized pass each), then the f32 product with the same strides (f32 sums, in the f32
/// kernel's order).
#[allow(clippy::too_many_arguments)]
unsafe fn rounded(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    (rsa, csa): (usize, usize),
    b: *const f32,
    (rsb, csb): (usize, usize),
    beta: f32,
    c: *mut f32,
) {
    // Both are stored contiguously, transposed or not: m·k and k·n values.
    let (len_a, len_b) = (m * k, k * n);
    ROUNDED.with_borrow_mut(|(ra, rb)| {
        ra.resize(ra.len().max(len_a), 0.0);
        rb.resize(rb.len().max(len_b), 0.0);
        round_into(&mut ra[..len_a], unsafe { std::slice::from_raw_parts(a, len_a) });
        round_into(&mut rb[..len_b], unsafe { std::slice::from_raw_parts(b, len_b) });
        unsafe { super::gemm::sgemm(m, k, n, ra.as_ptr(), rsa, csa, rb.as_ptr(), rsb, csb, beta, c) }
    })
}

/// Products with fewer values of k than this (a first convolution's 9 taps) run
/// [`rounded`] on every processor: the pairs of a dot-product instruction cannot repay
/// packing there.
const SHORT_K: usize = 32;

crate::simd! {
    /// `out[i] = bf16::round(x[i])`.
    fn round_into(out: &mut [f32], x: &[f32]) {
        for (o, v) in out.iter_mut().zip(x) {
            *o = bf16::round(*v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Init, MR, NR};
    use std::arch::x86_64::*;

    /// 8 rows × 32 columns of C in 16 zmm accumulators; per pair of k, two loads of B's pair
    /// panel and eight broadcasts of A's pairs, 16 `VDPBF16PS`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn kernel_8x32_bf16(kcp: usize, a: *const u32, b: *const u32, c: *mut f32, rsc: usize, init: Init) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (i, row) in acc.iter_mut().enumerate() {
            for (h, v) in row.iter_mut().enumerate() {
                let old = c.add(i * rsc + h * 16);
                match init {
                    Init::Zero => {}
                    Init::Scale(beta) => *v = _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(old)),
                    Init::Load => *v = _mm512_loadu_ps(old),
                }
            }
        }
        for q in 0..kcp {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * NR) as *const _));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * NR + 16) as *const _));
            for (i, row) in acc.iter_mut().enumerate() {
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(q * MR + i) as i32));
                row[0] = _mm512_dpbf16_ps(row[0], av, b0);
                row[1] = _mm512_dpbf16_ps(row[1], av, b1);
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (h, &v) in row.iter().enumerate() {
                _mm512_storeu_ps(c.add(i * rsc + h * 16), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The specification: each value of C one chain over the pairs of k in order, through the
    /// emulated accumulation (`odd_first` for `VDPBF16PS`, else `TDPBF16PS`'s order).
    #[allow(clippy::too_many_arguments)]
    fn spec(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        b: &[f32],
        (ta, tb): (bool, bool),
        beta: f32,
        c: &mut [f32],
        odd_first: bool,
    ) {
        let at =
            |i: usize, p: usize| if p >= k { 0 } else { bf16::from_f32(if ta { a[p * m + i] } else { a[i * k + p] }) };
        let bt =
            |p: usize, j: usize| if p >= k { 0 } else { bf16::from_f32(if tb { b[j * k + p] } else { b[p * n + j] }) };
        for i in 0..m {
            for j in 0..n {
                let mut acc = if beta == 0.0 { 0.0 } else { beta * c[i * n + j] };
                for q in 0..k.div_ceil(2) {
                    let (e, o) = (2 * q, 2 * q + 1);
                    acc = if odd_first {
                        let x = emulated::bf16_fma(acc, at(i, o), bt(o, j));
                        emulated::bf16_fma(x, at(i, e), bt(e, j))
                    } else {
                        let x = emulated::bf16_fma(acc, at(i, e), bt(e, j));
                        emulated::bf16_fma(x, at(i, o), bt(o, j))
                    };
                }
                c[i * n + j] = acc;
            }
        }
    }

    /// Every kernel this processor can run: the emulated ones everywhere.
    fn kinds() -> Vec<Kind> {
        let mut all = vec![Kind::Vector { hardware: false }, Kind::Tiles { hardware: false }];
        if Isa::Avx512Bf16.supported() {
            all.push(Kind::Vector { hardware: true });
        }
        if Isa::Amx.supported() {
            all.push(Kind::Tiles { hardware: true });
        }
        all
    }

    /// Runs one product split into `parts` parts by rows or columns, the parts one after
    /// another: any split the thread pool could choose.
    #[allow(clippy::too_many_arguments)]
    fn product_split(
        kind: Kind,
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        b: &[f32],
        (ta, tb): (bool, bool),
        beta: f32,
        c: &mut [f32],
        (split_rows, parts): (bool, usize),
    ) {
        let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
        let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
        let split = Split::into_parts((m, n), kind.tile(), split_rows, parts);
        let p = Product {
            kind,
            m,
            k,
            n,
            a: View { ptr: a.as_ptr(), rs: rsa, cs: csa },
            b: View { ptr: b.as_ptr(), rs: rsb, cs: csb },
            c: c.as_mut_ptr(),
            beta,
            split,
        };
        for t in 0..split.parts {
            // SAFETY: the views cover the vectors' shapes; parts write disjoint parts of C.
            unsafe { part(&p as *const Product as *const (), t) };
        }
    }

    const SHAPES: [(usize, usize, usize); 6] =
        [(7, 5, 3), (33, 300, 65), (40, 1, 70), (64, 784, 130), (9, 1100, 33), (70, 37, 40)];

    /// Each kernel computes its specification's bits exactly, for every split into parts (so
    /// for every thread count), transposition, `beta`, edge tile and k-block.
    #[test]
    fn every_kernel_computes_its_specification() {
        let mut rng = Rng::new(21);
        for kind in kinds() {
            let odd_first = matches!(kind, Kind::Vector { .. });
            for &(m, k, n) in &SHAPES {
                for (ta, tb, beta) in [(false, false, 0.0), (true, true, 0.5), (false, true, 1.0), (true, false, 0.0)] {
                    let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect::<Vec<f32>>();
                    let (a, b, c0) = (random(m * k), random(k * n), random(m * n));
                    let mut want = c0.clone();
                    spec((m, k, n), &a, &b, (ta, tb), beta, &mut want, odd_first);
                    for split in [(false, 1), (false, 3), (true, 2), (true, 5)] {
                        let mut got = c0.clone();
                        product_split(kind, (m, k, n), &a, &b, (ta, tb), beta, &mut got, split);
                        let first = got.iter().zip(&want).position(|(x, y)| x.to_bits() != y.to_bits());
                        assert!(
                            first.is_none(),
                            "{kind:?} m{m} k{k} n{n} ta{ta} tb{tb} beta{beta} split {split:?}: value {first:?}: {} against {}",
                            got[first.unwrap()],
                            want[first.unwrap()]
                        );
                    }
                }
            }
        }
    }

    /// The products are the bf16-rounded inputs' products to f32 accuracy, and the unrounded
    /// inputs' to bf16's: a relative error of 2⁻⁸ per input.
    #[test]
    fn products_are_accurate_to_bf16() {
        let mut rng = Rng::new(5);
        for &(m, k, n) in &SHAPES {
            let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect::<Vec<f32>>();
            let (a, b) = (random(m * k), random(k * n));
            let mut c = vec![f32::NAN; m * n];
            crate::tensor::kernels::matmul_bf16(&mut c, &a, &b, m, k, n, false, false, 0.0);
            for i in 0..m {
                for j in 0..n {
                    let (mut exact, mut rounded, mut magnitude) = (0f64, 0f64, 0f64);
                    for p in 0..k {
                        let (x, y) = (a[i * k + p] as f64, b[p * n + j] as f64);
                        exact += x * y;
                        rounded += bf16::round(a[i * k + p]) as f64 * bf16::round(b[p * n + j]) as f64;
                        magnitude += (x * y).abs();
                    }
                    let got = c[i * n + j] as f64;
                    assert!((got - rounded).abs() <= 1e-6 * magnitude.max(1.0), "m{m} k{k} n{n}: {got} vs {rounded}");
                    assert!((got - exact).abs() <= 2.0 * 2f64.powi(-8) * magnitude + 1e-6, "{got} vs {exact}");
                }
            }
        }
    }

    /// Without bf16 instructions the product is the f32 product of the rounded inputs.
    #[test]
    fn the_rounded_path_is_the_f32_product_of_rounded_inputs() {
        let (m, k, n) = (33, 70, 45);
        let mut rng = Rng::new(2);
        let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect::<Vec<f32>>();
        let (a, b, c0) = (random(m * k), random(k * n), random(m * n));
        let mut got = c0.clone();
        // SAFETY: a [m, k] transposed (stored [k, m]), b [k, n], c [m, n].
        unsafe { rounded(m, k, n, a.as_ptr(), (1, m), b.as_ptr(), (n, 1), 0.5, got.as_mut_ptr()) };
        let mut want = c0;
        let ra: Vec<f32> = a.iter().map(|&x| bf16::round(x)).collect();
        let rb: Vec<f32> = b.iter().map(|&x| bf16::round(x)).collect();
        crate::tensor::kernels::matmul(&mut want, &ra, &rb, m, k, n, true, false, 0.5);
        assert!(got == want);
    }

    /// The hardware tiles against their emulation, where the processor has AMX: the SDM's
    /// pseudo-code orders the additions, but Intel documents the rounding of each only as
    /// "RNE"; the bound is 2 ulps of 1 per 32 values of k, times k (which bounds Σ|a·b| with
    /// these inputs in [−1, 1]).
    #[test]
    fn hardware_tiles_stay_within_a_bound_of_the_emulation() {
        if !Isa::Amx.supported() {
            return eprintln!("no AMX here: the tile kernel runs over the emulated tiles only");
        }
        let (m, k, n) = (64, 784, 96);
        let mut rng = Rng::new(8);
        let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect::<Vec<f32>>();
        let (a, b) = (random(m * k), random(k * n));
        let (mut hw, mut em) = (vec![0.0; m * n], vec![0.0; m * n]);
        product_split(Kind::Tiles { hardware: true }, (m, k, n), &a, &b, (false, false), 0.0, &mut hw, (false, 1));
        product_split(Kind::Tiles { hardware: false }, (m, k, n), &a, &b, (false, false), 0.0, &mut em, (false, 1));
        for (x, y) in hw.iter().zip(&em) {
            assert!((x - y).abs() <= 2.0 * f32::EPSILON * (k as f32 / 32.0) * k as f32, "{x} vs {y}");
        }
    }
}

#[cfg(test)]
mod edge_cases {
    /// No k: C = beta·C, as `matmul` gives (and nothing at all without rows or columns).
    #[test]
    fn an_empty_k_scales_c() {
        let mut c = vec![2.0f32; 6];
        crate::tensor::kernels::matmul_bf16(&mut c, &[], &[], 2, 0, 3, false, false, 0.5);
        assert_eq!(c, vec![1.0; 6]);
        let mut c = vec![f32::NAN; 6];
        crate::tensor::kernels::matmul_bf16(&mut c, &[], &[], 2, 0, 3, true, true, 0.0);
        assert_eq!(c, vec![0.0; 6]);
        crate::tensor::kernels::matmul_bf16(&mut [], &[1.0; 4], &[], 0, 4, 0, false, false, 0.0);
    }
}
