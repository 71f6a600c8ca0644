//! A packed, blocked SGEMM in the style of BLIS and Goto: `C = op(A)·op(B) + beta·C`.
//!
//! - **Packing.** `op(B)` is copied in `KC × NR` column panels and `op(A)` in `MR × KC` row
//!   panels, zero-padded, so the micro-kernel streams both contiguously; transposition costs
//!   nothing beyond the strides read while packing. Packing buffers are per thread and reused:
//!   a steady-state product allocates nothing.
//! - **Micro-kernel.** An `MR × NR` tile of `C` stays in registers over `KC` rank-1 updates:
//!   8 × 32 with AVX-512 (16 accumulators; 8 divides the usual batch and layer sizes, so edge
//!   tiles are rare; 6% faster than 6 × 32 on an MLP step), 6 × 16 with AVX2 + FMA
//!   (12 accumulators), chosen once at run time; a portable 4 × 4 kernel elsewhere.
//! - **Threads.** The columns of `C` are split into contiguous, `NR`-aligned ranges, one per
//!   thread of the [pool](super::pool). Every value of `C` is computed by one thread in the
//!   same order whatever the thread count, so results do not depend on it.
//!
//! The three-loop product in `kernels::matmul_naive` is the specification it is tested
//! against.

use super::isa::Isa;
use super::pool;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Largest steps per k-block and rows per A block; blocks are balanced below these sizes
/// (k = 784 runs as 3 × 262 rather than 256, 256, 256, 16).
const KC: usize = 256;
const MC: usize = 240;
const NC: usize = 4096;
/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_MIN: usize = 1 << 18;

/// `c[0..mr*nr]` (row stride `rsc`) ← `beta`·c + Σ_p a[p]ᵀ b[p], over `kc` packed steps.
type MicroKernel = unsafe fn(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32);

/// The same product reading `mr` rows of a row-major A in place (row `i`, step `p` at
/// `a[i·lda + p]`): no packing of A, whose rows stream from cache as they are.
type RowKernel = unsafe fn(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, rsc: usize, beta: f32);

#[derive(Clone, Copy)]
struct Kernel {
    mr: usize,
    nr: usize,
    run: MicroKernel,
    rows: Option<RowKernel>,
}

fn kernel() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| kernel_for(super::isa::current()))
}

/// The f32 micro-kernel of a level (one the processor supports).
fn kernel_for(isa: Isa) -> Kernel {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 | Isa::Amx => {
            Kernel { mr: 8, nr: 32, run: x86::kernel_8x32_avx512, rows: Some(x86::kernel_8x32_avx512_rows) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Kernel { mr: 6, nr: 16, run: x86::kernel_6x16_avx2, rows: Some(x86::kernel_6x16_avx2_rows) },
        Isa::Emulated | Isa::EmulatedAmx => {
            Kernel { mr: 8, nr: 32, run: kernel_8x32_emulated, rows: Some(kernel_8x32_emulated_rows) }
        }
        _ => Kernel { mr: 4, nr: 4, run: kernel_4x4_portable, rows: None },
    }
}

/// A read-only matrix view: element `(i, j)` at `ptr[i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

/// The arguments of one product, shared by the threads that compute it.
struct Product {
    kern: Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    c: *mut f32,
    beta: f32,
    /// How the threads share `C`.
    split: Split,
    /// Set when the parts pack A together (column split on several threads).
    shared: Option<Shared>,
    /// `op(B)` packed beforehand ([`PackedB`]): every k-block's panels, one after another.
    packed_b: Option<*const f32>,
}

/// `op(B)` packed once for many products (a recurrent kernel, the same at every time step):
/// the panels [`sgemm`] would pack for each k-block, kept. Packing into it again reuses its
/// buffer, so a steady state allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
}

impl PackedB {
    /// Bytes a `k × n` B takes packed.
    pub fn bytes_for(k: usize, n: usize) -> usize {
        4 * n.div_ceil(kernel().nr) * kernel().nr * k
    }

    /// Makes room for a `k × n` B (planned with the other workspaces).
    pub fn reserve(&mut self, k: usize, n: usize) {
        let len = Self::bytes_for(k, n) / 4;
        if self.data.len() < len {
            self.data.resize(len, 0.0);
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * self.data.len()
    }

    /// Packs `op(B)` `[k, n]` (`b` row-major `[k, n]`, or `[n, k]` when `trans_b`). The
    /// layout is [`sgemm`]'s blocking: column blocks of up to `NC` one after another (`k · NC`
    /// values each, `NC` being a multiple of the panel width), within each the k-blocks'
    /// panels.
    pub fn pack(&mut self, b: &[f32], k: usize, n: usize, trans_b: bool) {
        assert!(b.len() >= k * n, "PackedB::pack: {k} × {n} from {} values", b.len());
        let kern = kernel();
        let len = n.div_ceil(kern.nr) * kern.nr * k;
        if self.data.len() < len {
            self.data.resize(len, 0.0);
        }
        let (rs, cs) = if trans_b { (1, k) } else { (n, 1) };
        let (kc_max, _) = block_sizes(k, 1, kern.mr);
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            let padded = nc.div_ceil(kern.nr) * kern.nr;
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                // SAFETY: block jc's panels of rows pc..pc + kc fit `data` (jc · k before them,
                // padded · k for the block); the reads stay inside `b` (k · n values).
                unsafe {
                    let out = self.data.as_mut_ptr().add(jc * k + pc * padded);
                    pack(out, kc, nc, kern.nr, b.as_ptr().add(pc * rs + jc * cs), rs, cs);
                }
            }
        }
        (self.k, self.n) = (k, n);
    }
}

/// `C[m, n] = A[m, k] · B + beta · C` on the calling thread, with A row-major and B packed
/// beforehand by [`PackedB::pack`] (same bits as [`sgemm`]).
///
/// # Panics
/// When the slices are shorter than the shapes.
pub fn sgemm_packed(m: usize, a: &[f32], b: &PackedB, c: &mut [f32], beta: f32) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "sgemm_packed: buffers too small");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let p = Product {
        kern: kernel(),
        m,
        k,
        n,
        a: View { ptr: a.as_ptr(), rs: k, cs: 1 },
        b: View { ptr: std::ptr::null(), rs: 0, cs: 0 },
        c: c.as_mut_ptr(),
        beta,
        split: Split::whole(m, n),
        shared: None,
        packed_b: Some(b.data.as_ptr()),
    };
    // SAFETY: the views and the packed panels cover the shapes checked above.
    PACKED.with_borrow_mut(|(ap, bp)| unsafe { block(&p, 0, (0, m), (0, n), ap, bp) });
}

thread_local! {
    static PACKED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `C[m, n] = op(A)[m, k] · op(B)[k, n] + beta · C` with `op(A)(i, p) = a[i·rsa + p·csa]`,
/// `op(B)(p, j) = b[p·rsb + j·csb]` and `C` row-major with row stride `n`.
///
/// # Safety
/// Every element the strides address must lie inside the allocations behind `a`, `b` and `c`
/// (`m·n` values), and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    beta: f32,
    c: *mut f32,
) {
    sgemm_with(kernel(), m, k, n, a, rsa, csa, b, rsb, csb, beta, c)
}

/// [`sgemm`] with a given micro-kernel (tests run every kernel the processor has).
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_with(
    kern: Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    beta: f32,
    c: *mut f32,
) {
    let mut p = Product {
        kern,
        m,
        k,
        n,
        a: View { ptr: a, rs: rsa, cs: csa },
        b: View { ptr: b, rs: rsb, cs: csb },
        c,
        beta,
        split: Split::whole(m, n),
        shared: None,
        packed_b: None,
    };
    p.split = Split::of((m, k, n), (kern.mr, kern.nr));
    let (parts, bounds) = (p.split.parts, p.split.bounds);
    // With several threads on column ranges, each would pack all of A: pack it once, together,
    // when the shared buffer and the whole pool are free (barriers need truly parallel parts).
    let one_column_block = (0..parts).all(|t| bounds[t + 1] - bounds[t] <= NC);
    if parts > 1 && !p.split.rows && one_column_block && !reads_a_in_place(&p) {
        if let Ok(mut buf) = SHARED_A.try_lock() {
            // Sized by the same rule `block` packs with: one A block of all `m` rows.
            let (kc_max, mc_max) = block_sizes(k, m, kern.mr);
            let a = room(&mut buf, mc_max * kc_max);
            p.shared =
                Some(Shared { a, threads: parts, arrived: AtomicUsize::new(0), generation: AtomicUsize::new(0) });
            if pool::try_run_parallel(parts, &p as *const Product as *const (), part) {
                return;
            }
            p.shared = None;
        }
    }
    pool::run(parts, &p as *const Product as *const (), part);
}

/// Computes part `t`: its rows or columns of the product.
unsafe fn part(ctx: *const (), t: usize) {
    let p = &*(ctx as *const Product);
    let (lo, hi) = (p.split.bounds[t], p.split.bounds[t + 1]);
    let (rows, cols) = p.split.range(t, p.m, p.n);
    // A cooperative part must reach every barrier, so it runs even with an empty range.
    if lo < hi || p.shared.is_some() {
        PACKED.with_borrow_mut(|(ap, bp)| block(p, t, rows, cols, ap, bp));
    }
}

/// How the pool's threads share a product's `C`: contiguous ranges of whole micro-tile panels
/// of its columns when there are enough of them (each thread then packs only its share of B),
/// else of its rows (a thin output layer). The f32 and the bf16 products split alike.
#[derive(Clone, Copy)]
pub(super) struct Split {
    /// Whether the parts split the rows (else the columns) of `C`.
    pub rows: bool,
    /// How many parts.
    pub parts: usize,
    /// Part `t` computes rows (or columns) `bounds[t]..bounds[t + 1]`.
    pub bounds: [usize; 65],
}

impl Split {
    /// The split the pool's threads take for an `m × k × n` product of `mr × nr` micro-tiles:
    /// one part below [`PARALLEL_MIN`] multiply-adds.
    pub(super) fn of((m, k, n): (usize, usize, usize), (mr, nr): (usize, usize)) -> Split {
        let threads = if m * n * k < PARALLEL_MIN { 1 } else { pool::max_parts().min(64) };
        let (col_panels, row_panels) = (n.div_ceil(nr), m.div_ceil(mr));
        Split::into_parts((m, n), (mr, nr), col_panels < 2 * threads && row_panels > col_panels, threads)
    }

    /// `parts` ranges (at most one a panel) of `C`'s rows or its columns.
    pub(super) fn into_parts((m, n): (usize, usize), (mr, nr): (usize, usize), rows: bool, parts: usize) -> Split {
        let (panels, width, len) = if rows { (m.div_ceil(mr), mr, m) } else { (n.div_ceil(nr), nr, n) };
        let parts = parts.min(panels).max(1);
        let mut bounds = [0; 65];
        for (t, bound) in bounds.iter_mut().enumerate().take(parts + 1) {
            *bound = (panels * t / parts * width).min(len);
        }
        Split { rows, parts, bounds }
    }

    /// One part: all of an `m × n` `C`.
    pub(super) fn whole(m: usize, n: usize) -> Split {
        Split::into_parts((m, n), (m.max(1), n.max(1)), false, 1)
    }

    /// Part `t`'s rows and columns of an `m × n` `C`.
    pub(super) fn range(&self, t: usize, m: usize, n: usize) -> ((usize, usize), (usize, usize)) {
        let (lo, hi) = (self.bounds[t], self.bounds[t + 1]);
        if self.rows {
            ((lo, hi), (0, n))
        } else {
            ((0, m), (lo, hi))
        }
    }
}

/// What the threads of a cooperative product share: one packed A block and a barrier.
struct Shared {
    a: *mut f32,
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl Shared {
    /// Waits until all `threads` have arrived (a spin barrier, reusable).
    fn barrier(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            while self.generation.load(Ordering::Acquire) == generation {
                // A part that panicked never arrives: stop rather than wait forever.
                if pool::job_broken() {
                    std::panic::panic_any(pool::Abandoned);
                }
                std::hint::spin_loop();
            }
        }
    }
}

/// The shared packed-A buffer of cooperative products (one product at a time uses it).
static SHARED_A: std::sync::Mutex<Vec<f32>> = std::sync::Mutex::new(Vec::new());

/// The steps per k-block and rows per A block for a product with `k` steps over `rows` rows:
/// the fewest blocks within [`KC`] and [`MC`], of equal size (`MC` rounded up to whole panels).
/// The shared A buffer is sized by this same rule, so the two cannot disagree.
fn block_sizes(k: usize, rows: usize, mr: usize) -> (usize, usize) {
    (k.div_ceil(k.div_ceil(KC)), rows.div_ceil(rows.div_ceil(MC)).next_multiple_of(mr))
}

/// Whether the micro-kernel reads A where it lies (row-major A, a kernel that can) instead of
/// packing it: packing a row-major A means transposing it, as costly as the product when `n`
/// is small (a convolution's 64 filters).
fn reads_a_in_place(p: &Product) -> bool {
    p.kern.rows.is_some() && p.a.cs == 1
}

/// The five loops around the micro-kernel, for rows `i0..i1` and columns `j0..j1` of `C`.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    p: &Product,
    thread: usize,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    ap: &mut Vec<f32>,
    bp: &mut Vec<f32>,
) {
    let kern = p.kern;
    let (mr, nr) = (kern.mr, kern.nr);
    let mut tile = [0f32; 8 * 32];
    let (kc_max, mc_max) = block_sizes(p.k, i1 - i0, mr);
    let in_place = reads_a_in_place(p);
    for jc in (j0..j1).step_by(NC) {
        let nc = NC.min(j1 - jc);
        for pc in (0..p.k).step_by(kc_max) {
            let kc = kc_max.min(p.k - pc);
            // Later k-blocks add to what the first one wrote.
            let beta = if pc == 0 { p.beta } else { 1.0 };
            let b_out = match p.packed_b {
                // Packed beforehand (see `PackedB::pack`): this column block's k-block.
                Some(packed) => packed.add(jc * p.k + pc * nc.div_ceil(nr) * nr),
                None => {
                    let b_out = room(bp, nc.div_ceil(nr) * nr * kc);
                    pack(b_out, kc, nc, nr, p.b.ptr.add(pc * p.b.rs + jc * p.b.cs), p.b.rs, p.b.cs);
                    b_out as *const f32
                }
            };
            for ic in (i0..i1).step_by(mc_max) {
                let mc = mc_max.min(i1 - ic);
                let a_panels = match &p.shared {
                    // In place (never cooperative), the last, partial row panel, if any, is
                    // packed here once for all the block's column panels, zero-padded.
                    _ if in_place => {
                        let full = mc / mr * mr;
                        if full < mc {
                            let a_out = room(ap, mr * kc);
                            pack(a_out, kc, mc - full, mr, p.a.ptr.add((ic + full) * p.a.rs + pc), 1, p.a.rs);
                        }
                        ap.as_ptr()
                    }
                    // Cooperative: each thread packs its share of the block's row panels into
                    // the shared buffer, between two barriers.
                    Some(shared) => {
                        shared.barrier(); // everyone is done with the previous block
                        let panels = mc.div_ceil(mr);
                        let (lo, hi) = (panels * thread / shared.threads, panels * (thread + 1) / shared.threads);
                        if lo < hi {
                            let len = (hi * mr).min(mc) - lo * mr;
                            let src = p.a.ptr.add((ic + lo * mr) * p.a.rs + pc * p.a.cs);
                            pack(shared.a.add(lo * mr * kc), kc, len, mr, src, p.a.cs, p.a.rs);
                        }
                        shared.barrier(); // the block is complete
                        shared.a as *const f32
                    }
                    None => {
                        let a_out = room(ap, mc.div_ceil(mr) * mr * kc);
                        pack(a_out, kc, mc, mr, p.a.ptr.add(ic * p.a.rs + pc * p.a.cs), p.a.cs, p.a.rs);
                        a_out as *const f32
                    }
                };
                for jr in (0..nc).step_by(nr) {
                    let nb = nr.min(nc - jr);
                    let b_panel = b_out.add(jr * kc);
                    for ir in (0..mc).step_by(mr) {
                        let mb = mr.min(mc - ir);
                        let c = p.c.add((ic + ir) * p.n + jc + jr);
                        let a_rows = p.a.ptr.wrapping_add((ic + ir) * p.a.rs + pc); // used only in place
                        let a_panel = match kern.rows {
                            // A whole row panel read in place.
                            Some(rows) if in_place && mb == mr => {
                                if nb == nr {
                                    rows(kc, a_rows, p.a.rs, b_panel, c, p.n, beta);
                                    continue;
                                }
                                rows(kc, a_rows, p.a.rs, b_panel, tile.as_mut_ptr(), nr, 0.0);
                                None
                            }
                            // The last, partial panel of an in-place A: packed above.
                            _ if in_place => Some(a_panels),
                            _ => Some(a_panels.add(ir * kc)),
                        };
                        if let (Some(a_panel), true) = (a_panel, mb == mr && nb == nr) {
                            (kern.run)(kc, a_panel, b_panel, c, p.n, beta);
                        } else {
                            // Edge tile: compute in full (unless done above), then merge the valid part.
                            if let Some(a_panel) = a_panel {
                                (kern.run)(kc, a_panel, b_panel, tile.as_mut_ptr(), nr, 0.0);
                            }
                            for i in 0..mb {
                                for j in 0..nb {
                                    let dst = c.add(i * p.n + j);
                                    let v = tile[i * nr + j];
                                    *dst = if beta == 0.0 { v } else { beta * *dst + v };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Makes `buf` hold at least `n` values; grows to the largest block once, reused after.
fn room(buf: &mut Vec<f32>, n: usize) -> *mut f32 {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    buf.as_mut_ptr()
}

/// Packs a `kc × len` block into panels of `width`: panel `r` holds, for each step `q`, the
/// `width` values at `src + q·s_k + (r·width + w)·s_l`, zero past `len`. The two common
/// layouts get straight loops: values adjacent along `len` (copy `width` at a time) or along
/// `k` (one source row per lane).
///
/// # Safety
/// Every `src + q·s_k + l·s_l` for `q < kc`, `l < len` must be readable, and `out` must hold
/// `ceil(len / width)·width·kc` values (see [`room`]).
unsafe fn pack(out: *mut f32, kc: usize, len: usize, width: usize, src: *const f32, s_k: usize, s_l: usize) {
    let panels = len.div_ceil(width);
    for r in 0..panels {
        let base = r * width;
        let valid = width.min(len - base);
        let panel = out.add(r * width * kc);
        if valid < width {
            std::ptr::write_bytes(panel, 0, width * kc);
        }
        if s_l == 1 {
            for q in 0..kc {
                copy_run(panel.add(q * width), src.add(q * s_k + base), valid);
            }
        } else if s_k == 1 {
            for w in 0..valid {
                let row = src.add((base + w) * s_l);
                for q in 0..kc {
                    *panel.add(q * width + w) = *row.add(q);
                }
            }
        } else {
            for q in 0..kc {
                for w in 0..valid {
                    *panel.add(q * width + w) = *src.add(q * s_k + (base + w) * s_l);
                }
            }
        }
    }
}

/// Copies `n` values; the panel widths get fixed-size copies, which compile to a few vector
/// moves instead of a `memcpy` call per run.
///
/// # Safety
/// As `copy_nonoverlapping`.
#[inline(always)]
unsafe fn copy_run(dst: *mut f32, src: *const f32, n: usize) {
    match n {
        32 => std::ptr::copy_nonoverlapping(src, dst, 32),
        16 => std::ptr::copy_nonoverlapping(src, dst, 16),
        8 => std::ptr::copy_nonoverlapping(src, dst, 8),
        6 => std::ptr::copy_nonoverlapping(src, dst, 6),
        4 => std::ptr::copy_nonoverlapping(src, dst, 4),
        _ => std::ptr::copy_nonoverlapping(src, dst, n),
    }
}

unsafe fn kernel_4x4_portable(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32) {
    let mut acc = [[0f32; 4]; 4];
    for q in 0..kc {
        for (i, row) in acc.iter_mut().enumerate() {
            let av = *a.add(q * 4 + i);
            for (j, v) in row.iter_mut().enumerate() {
                *v += av * *b.add(q * 4 + j);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let dst = c.add(i * rsc + j);
            *dst = if beta == 0.0 { v } else { beta * *dst + v };
        }
    }
}

/// The accumulation every FMA micro-kernel runs (x86 and emulated): `MR` rows × two vectors of B per step,
/// `acc[i] += A(i, q) · B(q, ..)`; `$a` reads A's element `(i, q)` from the packed panel or
/// from the rows in place. A macro, so that each kernel's own `target_feature` compiles it.
macro_rules! fma_tile {
    ($mr:literal, $w:literal, $zero:ident, $load:ident, $set1:ident, $fma:ident, $kc:expr, $b:expr,
     |$q:ident, $i:ident| $a:expr) => {{
        let mut acc = [[$zero(); 2]; $mr];
        for $q in 0..$kc {
            let b0 = $load($b.add($q * 2 * $w));
            let b1 = $load($b.add($q * 2 * $w + $w));
            for ($i, row) in acc.iter_mut().enumerate() {
                let av = $set1($a);
                row[0] = $fma(av, b0, row[0]);
                row[1] = $fma(av, b1, row[1]);
            }
        }
        acc
    }};
}

/// The AVX-512 8 × 32 kernel over [emulated](super::isa::emulated) instructions: the same
/// operations in the same order as `x86::kernel_8x32_avx512`, so the same bits, on any
/// processor (`MINIBATCH_KERNELS=emulated`).
unsafe fn kernel_8x32_emulated(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32) {
    use super::isa::emulated::{fmadd, load, set1, zero};
    let acc = fma_tile!(8, 16, zero, load, set1, fmadd, kc, b, |q, i| *a.add(q * 8 + i));
    store_8x32_emulated(&acc, c, rsc, beta);
}

/// [`kernel_8x32_emulated`] reading A's rows in place.
unsafe fn kernel_8x32_emulated_rows(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    beta: f32,
) {
    use super::isa::emulated::{fmadd, load, set1, zero};
    let rows: [*const f32; 8] = std::array::from_fn(|i| a.add(i * lda));
    let acc = fma_tile!(8, 16, zero, load, set1, fmadd, kc, b, |q, i| *rows[i].add(q));
    store_8x32_emulated(&acc, c, rsc, beta);
}

/// `C ← acc + beta·C` for an 8 × 32 tile, as `x86::store_8x32` computes it.
unsafe fn store_8x32_emulated(acc: &[[super::isa::emulated::F32x16; 2]; 8], c: *mut f32, rsc: usize, beta: f32) {
    use super::isa::emulated::{fmadd, load, set1, store};
    for (i, row) in acc.iter().enumerate() {
        for (h, &v) in row.iter().enumerate() {
            let dst = c.add(i * rsc + h * 16);
            let out = if beta == 0.0 { v } else { fmadd(set1(beta), load(dst), v) };
            store(dst, out);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel_8x32_avx512(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32) {
        let acc =
            fma_tile!(8, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, kc, b, |q, i| *a
                .add(q * 8 + i));
        store_8x32(&acc, c, rsc, beta);
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel_8x32_avx512_rows(
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        beta: f32,
    ) {
        let rows: [*const f32; 8] = std::array::from_fn(|i| a.add(i * lda));
        let acc =
            fma_tile!(8, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, kc, b, |q, i| *rows
                [i]
                .add(q));
        store_8x32(&acc, c, rsc, beta);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel_6x16_avx2(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32) {
        let acc =
            fma_tile!(6, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, kc, b, |q, i| *a
                .add(q * 6 + i));
        store_6x16(&acc, c, rsc, beta);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel_6x16_avx2_rows(
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        beta: f32,
    ) {
        let rows: [*const f32; 6] = std::array::from_fn(|i| a.add(i * lda));
        let acc =
            fma_tile!(6, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, kc, b, |q, i| *rows
                [i]
                .add(q));
        store_6x16(&acc, c, rsc, beta);
    }

    /// `C ← acc + beta·C` for an 8 × 32 tile.
    #[target_feature(enable = "avx512f")]
    unsafe fn store_8x32(acc: &[[__m512; 2]; 8], c: *mut f32, rsc: usize, beta: f32) {
        let bv = _mm512_set1_ps(beta);
        for (i, row) in acc.iter().enumerate() {
            for (h, &v) in row.iter().enumerate() {
                let dst = c.add(i * rsc + h * 16);
                let out = if beta == 0.0 { v } else { _mm512_fmadd_ps(bv, _mm512_loadu_ps(dst), v) };
                _mm512_storeu_ps(dst, out);
            }
        }
    }

    /// `C ← acc + beta·C` for a 6 × 16 tile.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_6x16(acc: &[[__m256; 2]; 6], c: *mut f32, rsc: usize, beta: f32) {
        let bv = _mm256_set1_ps(beta);
        for (i, row) in acc.iter().enumerate() {
            for (h, &v) in row.iter().enumerate() {
                let dst = c.add(i * rsc + h * 8);
                let out = if beta == 0.0 { v } else { _mm256_fmadd_ps(bv, _mm256_loadu_ps(dst), v) };
                _mm256_storeu_ps(dst, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::tensor::kernels::error_vs_naive;

    /// Every micro-kernel this processor can run, whichever `kernel()` would pick.
    fn kernels() -> Vec<(&'static str, Kernel)> {
        let emulated = Kernel { mr: 8, nr: 32, run: kernel_8x32_emulated, rows: None };
        let mut all = vec![
            ("portable 4x4", Kernel { mr: 4, nr: 4, run: kernel_4x4_portable, rows: None }),
            ("emulated avx512 8x32", emulated),
            ("emulated avx512 8x32 rows", Kernel { rows: Some(kernel_8x32_emulated_rows), ..emulated }),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let packed = Kernel { mr: 6, nr: 16, run: x86::kernel_6x16_avx2, rows: None };
                all.push(("avx2 6x16", packed));
                all.push(("avx2 6x16 rows", Kernel { rows: Some(x86::kernel_6x16_avx2_rows), ..packed }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                let packed = Kernel { mr: 8, nr: 32, run: x86::kernel_8x32_avx512, rows: None };
                all.push(("avx512 8x32", packed));
                all.push(("avx512 8x32 rows", Kernel { rows: Some(x86::kernel_8x32_avx512_rows), ..packed }));
            }
        }
        all
    }

    /// A product against B packed beforehand is the same, bit for bit, as `sgemm` packing B
    /// itself, for B of one column block and of several (a recurrent kernel of LSTM(1100),
    /// `[1100, 4400]`, is wider than one).
    #[test]
    fn packed_b_products_equal_sgemm() {
        let mut rng = Rng::new(4);
        for &(m, k, n) in &[(7, 5, 3), (16, 128, 512), (5, 70, NC + 300), (3, 300, 2 * NC + 17)] {
            for trans_b in [false, true] {
                let a: Vec<f32> = (0..m * k).map(|_| rng.next_f32() - 0.5).collect();
                let b: Vec<f32> = (0..k * n).map(|_| rng.next_f32() - 0.5).collect();
                let c0: Vec<f32> = (0..m * n).map(|_| rng.next_f32()).collect();
                let (rsb, csb) = if trans_b { (1, k) } else { (n, 1) };
                let mut want = c0.clone();
                // SAFETY: the strides address a [m, k], b [k, n] (or its transpose), c [m, n].
                unsafe { sgemm(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), rsb, csb, 0.5, want.as_mut_ptr()) };
                let mut packed = PackedB::default();
                packed.pack(&b, k, n, trans_b);
                assert_eq!(packed.bytes(), PackedB::bytes_for(k, n));
                let mut got = c0.clone();
                sgemm_packed(m, &a, &packed, &mut got, 0.5);
                assert!(got == want, "{m}×{k}×{n}, trans_b {trans_b}");
            }
        }
    }

    /// The FMA kernels (AVX-512 8×32 and AVX2 6×16, packed or reading A in place) accumulate
    /// every value of C in the same order with the same fused operations, so a machine with
    /// either computes the same bits; the portable kernel (separate multiply and add) does not.
    #[test]
    fn the_fma_kernels_compute_the_same_bits() {
        let fma: Vec<_> = kernels().into_iter().filter(|(name, _)| !name.starts_with("portable")).collect();
        if fma.len() < 2 {
            return assert!(
                std::env::var_os("MINIBATCH_ALLOW_ONE_SIMD_LEVEL").is_some(),
                "fewer than two FMA kernels on this processor: set MINIBATCH_ALLOW_ONE_SIMD_LEVEL to accept it"
            );
        }
        let mut rng = Rng::new(9);
        for &(m, k, n) in &[(7, 5, 3), (33, 300, 65), (300, 40, 9), (64, 784, 130), (9, 1000, 32)] {
            for (ta, tb, beta) in [(false, false, 0.0), (true, true, 0.5), (false, true, 1.0), (true, false, 0.0)] {
                let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
                let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
                let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let product = |kern: Kernel| {
                    let mut c = c0.clone();
                    // SAFETY: the strides address m×k, k×n and m×n values of these vectors.
                    unsafe {
                        sgemm_with(kern, m, k, n, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr())
                    };
                    c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                };
                let results: Vec<Vec<u32>> = fma.iter().map(|&(_, kern)| product(kern)).collect();
                for ((name, _), bits) in fma.iter().zip(&results).skip(1) {
                    assert!(bits == &results[0], "{name} differs from {} at m{m} k{k} n{n} ta{ta} tb{tb}", fma[0].0);
                }
                if k >= 300 {
                    // The comparison can tell kernels apart: unfused arithmetic gives other bits.
                    assert!(product(kernels()[0].1) != results[0]);
                }
            }
        }
    }

    #[test]
    fn every_micro_kernel_matches_the_naive_product() {
        let mut rng = Rng::new(4);
        for (name, kern) in kernels() {
            for &(m, k, n) in &[(7, 5, 3), (33, 300, 65), (300, 40, 9)] {
                for (ta, tb, beta) in [(false, false, 0.0), (true, true, 0.5), (false, true, 1.0), (true, false, 0.0)] {
                    let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
                    let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
                    let worst = error_vs_naive(&mut rng, (m, k, n), ta, tb, beta, |c, a, b| unsafe {
                        sgemm_with(kern, m, k, n, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr())
                    });
                    assert!(worst < 1e-3, "{name} m{m} k{k} n{n} ta{ta} tb{tb}: max error {worst}");
                }
            }
        }
    }
}
