//! Which instructions the matrix kernels run, chosen once at run time.
//!
//! The products of a training step run on one of these (best first):
//!
//! | [`Isa`] | f32 products | bf16 products (`mixed_bfloat16`) |
//! |---|---|---|
//! | `amx` | AVX-512 FMA, 8 × 32 | AMX tiles, `TDPBF16PS` on 32 × 32 blocks of four 16 × 16 tiles |
//! | `avx512-bf16` | AVX-512 FMA, 8 × 32 | AVX512-BF16 `VDPBF16PS`, 8 × 32 |
//! | `avx512` | AVX-512 FMA, 8 × 32 | inputs rounded to bf16, then the f32 kernel |
//! | `avx2` | AVX2 FMA, 6 × 16 | inputs rounded to bf16, then the f32 kernel |
//! | `portable` | 4 × 4 in plain Rust | inputs rounded to bf16, then the f32 kernel |
//! | `emulated` | the AVX-512 kernel over [emulated] instructions | the `VDPBF16PS` kernel, emulated |
//! | `emulated-amx` | as `emulated` | the AMX kernel over emulated tiles |
//!
//! The emulated levels follow the instructions' documented semantics (Intel SDM pseudo-code:
//! the order of the additions, their rounding, denormals in and out), so they compute the same
//! bits as the hardware, and they run on every machine: the packing, the tails, the tile
//! configuration and the blocking of every kernel are tested on any x86-64, and against the
//! hardware where the processor has it.
//!
//! `MINIBATCH_KERNELS` forces a level, for tests and comparisons: one of the names above,
//! refused (by name) when the processor lacks it. The command checks it before any work; a
//! library caller can with [`check_requested`].

pub mod amx;
pub mod emulated;

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// A set of instructions for the matrix kernels (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust: the 4 × 4 kernel (any processor).
    Portable,
    /// The AVX-512 and AVX512-BF16 kernels over emulated instructions (any processor).
    Emulated,
    /// As [`Isa::Emulated`], with the AMX kernel over emulated tiles for bf16.
    EmulatedAmx,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 Foundation.
    Avx512,
    /// AVX-512 with the bf16 dot product `VDPBF16PS`.
    Avx512Bf16,
    /// AVX-512 for f32, AMX-BF16 tiles for bf16.
    Amx,
}

impl Isa {
    /// Every level, in the order of the names `MINIBATCH_KERNELS` accepts.
    pub const ALL: [Isa; 7] =
        [Isa::Amx, Isa::Avx512Bf16, Isa::Avx512, Isa::Avx2, Isa::Portable, Isa::Emulated, Isa::EmulatedAmx];

    /// The name `MINIBATCH_KERNELS` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Emulated => "emulated",
            Isa::EmulatedAmx => "emulated-amx",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Bf16 => "avx512-bf16",
            Isa::Amx => "amx",
        }
    }

    /// The level a name stands for.
    pub fn parse(name: &str) -> Result<Isa> {
        Isa::ALL.into_iter().find(|l| l.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Isa::ALL.iter().map(|l| l.name()).collect();
            Error::invalid("MINIBATCH_KERNELS", name, format!("one of {}", names.join(", ")))
        })
    }

    /// Whether this processor can run it (the emulated and portable levels run anywhere). AMX
    /// also needs the kernel's permission to use the tile registers, asked for here.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::is_x86_feature_detected!("avx512f");
            match self {
                Isa::Portable | Isa::Emulated | Isa::EmulatedAmx => true,
                Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
                Isa::Avx512 => avx512,
                Isa::Avx512Bf16 => avx512 && std::is_x86_feature_detected!("avx512bf16"),
                Isa::Amx => avx512 && amx::available(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        matches!(self, Isa::Portable | Isa::Emulated | Isa::EmulatedAmx)
    }

    /// Whether the bf16 products run on bf16 instructions (hardware or emulated), rather than
    /// rounding their inputs and running the f32 kernel.
    pub fn has_bf16_products(self) -> bool {
        matches!(self, Isa::Emulated | Isa::EmulatedAmx | Isa::Avx512Bf16 | Isa::Amx)
    }

    /// What runs, in words, as `bench --json` and `--verbose` print it.
    pub fn describe(self) -> String {
        let f32 = match self {
            Isa::Portable => "portable 4x4",
            Isa::Avx2 => "avx2 f32 6x16",
            Isa::Avx512 | Isa::Avx512Bf16 | Isa::Amx => "avx512 f32 8x32",
            Isa::Emulated | Isa::EmulatedAmx => "emulated avx512 f32 8x32",
        };
        let bf16 = match self {
            Isa::Amx => "amx-bf16 16x16 tiles",
            Isa::EmulatedAmx => "emulated amx-bf16 16x16 tiles",
            Isa::Avx512Bf16 => "avx512-bf16 8x32",
            Isa::Emulated => "emulated avx512-bf16 8x32",
            Isa::Portable | Isa::Avx2 | Isa::Avx512 => "bf16-rounded inputs on the f32 kernel",
        };
        format!("gemm: {f32}; bf16 gemm: {bf16}")
    }
}

/// The best level this processor has.
pub fn detected() -> Isa {
    [Isa::Amx, Isa::Avx512Bf16, Isa::Avx512, Isa::Avx2].into_iter().find(|l| l.supported()).unwrap_or(Isa::Portable)
}

/// The level `MINIBATCH_KERNELS` asks for (`None` when unset), refused when unknown or when
/// this processor lacks it.
pub fn check_requested() -> Result<Option<Isa>> {
    let Some(value) = std::env::var_os("MINIBATCH_KERNELS") else { return Ok(None) };
    let value = value.to_string_lossy();
    let isa = Isa::parse(&value)?;
    if !isa.supported() {
        return Err(Error::invalid(
            "MINIBATCH_KERNELS",
            &*value,
            format!("a level this processor has (it lacks {}; it has {})", isa.name(), detected().name()),
        ));
    }
    Ok(Some(isa))
}

/// The level the kernels run at: `MINIBATCH_KERNELS` if set and usable, else the best
/// detected (chosen once). A refused `MINIBATCH_KERNELS` that reaches here without
/// [`check_requested`] is said once on stderr, and the detected level runs.
pub fn current() -> Isa {
    static CURRENT: OnceLock<Isa> = OnceLock::new();
    *CURRENT.get_or_init(|| match check_requested() {
        Ok(Some(isa)) => isa,
        Ok(None) => detected(),
        Err(e) => {
            eprintln!("warning: {e}; using {}", detected().name());
            detected()
        }
    })
}
