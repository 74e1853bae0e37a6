//! glibc's malloc, tuned for a node that moves large messages.
//!
//! glibc hands a freed block's pages back to the kernel as soon as the free space at the top of
//! a heap passes `M_TRIM_THRESHOLD` (128 KiB until its dynamic tuning raises it), and serves
//! blocks over `M_MMAP_THRESHOLD` with fresh `mmap`s. A node receiving 64 KB messages
//! allocates and frees a few such blocks per message, so every page of every message was
//! faulted in afresh (`clear_page_erms`, `exc_page_fault` under `memmove` in `perf`): 64 KB
//! distribution throughput ran at a third of erl's. BEAM's own allocators keep their carriers
//! for the same reason.
//!
//! [`keep_freed_memory`] sets the mmap threshold to 8 MiB and the trim threshold to twice that
//! (as glibc's dynamic tuning pairs them), from the start. Measured with `dist-vs-erl 64k`
//! (BENCHMARKS.md): 0.3–0.5× erl's throughput before, 0.8–1.3× after; small messages
//! unchanged. Why 8 MiB, from `runtime-vs-erl` (three runs each): at 32 MiB (the ceiling of
//! glibc's own tuning) one-to-one messaging ran 15 % slower, because a mailbox queue growing
//! through 16–32 MiB was copied where `mremap` had moved it; at 1 MiB spawn + exit ran 12 %
//! slower. mimalloc and jemalloc were tried instead of tuning: both fixed 64 KB messages, and
//! both made one-to-one messaging slower (0.4× and 0.9× of erl's, against 1.3× with glibc).

/// Largest block served from the heap rather than by `mmap`: large enough for messages'
/// buffers, small enough that huge vectors still grow by `mremap`.
pub const MMAP_THRESHOLD: usize = 8 << 20;

/// Free space a heap keeps at its top before giving pages back (twice the mmap threshold, as
/// glibc's dynamic tuning sets it).
pub const TRIM_THRESHOLD: usize = 2 * MMAP_THRESHOLD;

/// Tunes glibc's malloc as described in the [module docs](self), for the whole process: call
/// it first thing in `main`, before threads start. A program with another global allocator, or
/// on another C library, is left as it is. Returns whether the tuning took.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |param, value: usize| {
            let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
            // SAFETY: `mallopt` takes two integers and touches only malloc's own parameters,
            // under malloc's lock; any value is valid input (it returns 0 when it refuses one).
            #[allow(unsafe_code)]
            let ok = unsafe { libc::mallopt(param, value) };
            ok == 1
        };
        let trim = std::env::var("XTRIM")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(TRIM_THRESHOLD);
        set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) & set(libc::M_TRIM_THRESHOLD, trim)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        assert!(super::keep_freed_memory());
    }
}
