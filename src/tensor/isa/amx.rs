//! AMX on the hardware: the tile instructions through `asm!` (their intrinsics are not stable
//! in Rust), and Linux's permission to use the tile registers.
//!
//! [`TileUnit`] is the thin interface the AMX kernel is written over; [`Hardware`] runs the
//! instructions and [`Tiles`] emulates them, so the kernel's tile configuration, packing and
//! blocking are tested on every machine.

use super::emulated::{TileConfig, Tiles};

/// The AMX instructions the bf16 kernel uses. Tile numbers are constants, as the instructions
/// encode them.
pub trait TileUnit {
    /// `LDTILECFG`.
    fn configure(&mut self, config: &TileConfig);
    /// `TILELOADD tmmT, [base + stride]`.
    ///
    /// # Safety
    /// The configured rows × bytes of tile `T` must be readable from `base`, `stride` apart.
    unsafe fn load<const T: u8>(&mut self, base: *const u8, stride: usize);
    /// `TILESTORED [base + stride], tmmT`.
    ///
    /// # Safety
    /// The configured rows × bytes of tile `T` must be writable from `base`, `stride` apart.
    unsafe fn store<const T: u8>(&mut self, base: *mut u8, stride: usize);
    /// `TILEZERO tmmT`.
    fn zero<const T: u8>(&mut self);
    /// `TDPBF16PS tmmD, tmmA, tmmB`.
    fn dpbf16ps<const D: u8, const A: u8, const B: u8>(&mut self);
    /// `TILERELEASE`.
    fn release(&mut self);
}

impl TileUnit for Tiles {
    fn configure(&mut self, config: &TileConfig) {
        self.ldtilecfg(config);
    }
    unsafe fn load<const T: u8>(&mut self, base: *const u8, stride: usize) {
        unsafe { self.tileloadd(T as usize, base, stride) }
    }
    unsafe fn store<const T: u8>(&mut self, base: *mut u8, stride: usize) {
        unsafe { self.tilestored(T as usize, base, stride) }
    }
    fn zero<const T: u8>(&mut self) {
        self.tilezero(T as usize);
    }
    fn dpbf16ps<const D: u8, const A: u8, const B: u8>(&mut self) {
        Tiles::dpbf16ps(self, D as usize, A as usize, B as usize);
    }
    fn release(&mut self) {
        self.tilerelease();
    }
}

/// The processor's own tiles. Only made by [`Hardware::new`], which succeeds where the
/// processor has AMX-BF16 and Linux has granted the tile data permission.
pub struct Hardware(());

impl Hardware {
    /// The hardware tiles, where [`available`].
    pub fn new() -> Option<Hardware> {
        available().then_some(Hardware(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl TileUnit for Hardware {
    fn configure(&mut self, config: &TileConfig) {
        // SAFETY: AMX is available (the only way to make `Hardware`); the configuration is 64
        // readable bytes, and a shape the hardware would fault on is caught by the same
        // kernel's tests over the emulated tiles, which check it.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) config as *const TileConfig, options(nostack, readonly)) }
    }
    unsafe fn load<const T: u8>(&mut self, base: *const u8, stride: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            std::arch::asm!("tileloadd tmm{t}, [{b} + {s}*1]", t = const T, b = in(reg) base, s = in(reg) stride,
                options(nostack, readonly))
        }
    }
    unsafe fn store<const T: u8>(&mut self, base: *mut u8, stride: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            std::arch::asm!("tilestored [{b} + {s}*1], tmm{t}", t = const T, b = in(reg) base, s = in(reg) stride,
                options(nostack))
        }
    }
    fn zero<const T: u8>(&mut self) {
        // SAFETY: AMX is available; registers only.
        unsafe { std::arch::asm!("tilezero tmm{t}", t = const T, options(nostack, nomem)) }
    }
    fn dpbf16ps<const D: u8, const A: u8, const B: u8>(&mut self) {
        // SAFETY: AMX-BF16 is available; registers only.
        unsafe {
            std::arch::asm!("tdpbf16ps tmm{d}, tmm{a}, tmm{b}", d = const D, a = const A, b = const B,
                options(nostack, nomem))
        }
    }
    fn release(&mut self) {
        // SAFETY: AMX is available; returns the tiles to their initial state.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) }
    }
}

/// Whether this processor has AMX-BF16 and the operating system lets this process use the
/// tile registers. Linux (5.16 and later) grants them on request, once per process:
/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`; asked here, once.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            // CPUID.(EAX=7, ECX=0):EDX bit 22 is AMX-BF16, bit 24 AMX-TILE (`is_x86_feature_detected!`
            // does not name them on stable Rust).
            #[allow(unused_unsafe)]
            // SAFETY: CPUID leaf 7 exists on every x86-64 processor that has AVX-512, the only
            // one asked (the caller checks AVX-512 first), and reading it has no effect.
            let edx = unsafe { std::arch::x86_64::__cpuid_count(7, 0) }.edx;
            if edx & (1 << 22) == 0 || edx & (1 << 24) == 0 {
                return false;
            }
            const SYS_ARCH_PRCTL: usize = 158;
            const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
            const XFEATURE_XTILEDATA: usize = 18;
            let ret: isize;
            // SAFETY: the arch_prctl system call with two integer arguments; it changes only
            // this process's permission to use the tile state.
            unsafe {
                std::arch::asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL as isize => ret,
                    in("rdi") ARCH_REQ_XCOMP_PERM, in("rsi") XFEATURE_XTILEDATA,
                    lateout("rcx") _, lateout("r11") _, options(nostack))
            };
            ret == 0
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        false
    })
}
