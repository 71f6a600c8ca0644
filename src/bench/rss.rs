//! The process's resident memory as Linux reports it (`/proc/self/status`), and the two
//! things that make a measurement of one run's growth honest: memory freed by earlier runs
//! handed back to the system, and the peak reset. Elsewhere these read `None` and do nothing.

/// The resident set now (`VmRSS`), in bytes.
pub fn resident() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// The peak resident set (`VmHWM`) since the process started or [`reset_peak_rss`], in bytes.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Starts a new peak: `VmHWM` falls to the present resident set (Linux 4.0 and later: `5`
/// written to `/proc/self/clear_refs`). Returns whether it could.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Hands memory that the allocator holds free back to the system (glibc's `malloc_trim`), so
/// that what an earlier run freed is not reused unseen by the next one's measurement.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim takes no pointers and only returns free pages to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
