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
//!
//! What a heap keeps is reused, but it is not given back by `free` unless it sits at the top
//! of its heap: freed blocks between blocks still in use stay resident, whatever the
//! thresholds. A peer that leaves in the middle of hundreds of large fragmented messages (the
//! security review of 2026-12-07, M13) frees them all at once, interleaved with what the node
//! keeps: measured with `crates/rotp-cli/tests/dist_memory.rs`, a debug `rotp node` went from
//! 19 MB to 40–80 MB after each such peer and stayed there (glibc's default 128 KiB trim
//! threshold made no difference), while `malloc_trim(0)` brought it back to 19 MB every time.
//! [`give_back_freed_memory`] does that, on a blocking thread, when a connection that held
//! [`GIVE_BACK_AFTER`] bytes or more of unfinished messages has closed.
//!
//! ```
//! // First thing in `main`, before any thread starts (as `rotp node` does).
//! let tuned = rotp_node::malloc::keep_freed_memory();
//! assert_eq!(tuned, cfg!(all(target_os = "linux", target_env = "gnu")));
//! // ... then start the tokio runtime and the node.
//! ```

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
        set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) & set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Keeps every thread's allocations in one malloc heap (glibc's `M_ARENA_MAX` = 1), so that
/// [`give_back_freed_memory`] can give back all of what a burst freed: glibc gives each thread
/// that contends for a heap one of its own (up to eight per core), and `malloc_trim` cannot
/// give back the free top of those, which stays up to [`TRIM_THRESHOLD`] each. Measured with
/// Drip (`drip-load`, BENCHMARKS.md): sixteen heaps held 150–200 MiB, nearly all free, after a
/// load of 200 clients, whatever the trims. For a server that should shrink back when quiet;
/// small allocations stay in each thread's cache, large ones take the heap's lock. Call it first
/// thing in `main`, beside [`keep_freed_memory`]. Returns whether it took.
pub fn one_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` takes two integers and touches only malloc's own parameters,
        // under malloc's lock; any value is valid input (it returns 0 when it refuses one).
        #[allow(unsafe_code)]
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        ok == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// A closed connection whose unfinished fragmented messages held at least this many bytes
/// has its memory given back ([`give_back_freed_memory`]): below that, what it freed is
/// left for the heap to reuse.
pub const GIVE_BACK_AFTER: usize = 1 << 20;

/// Whether a [`give_back_freed_memory`] is under way (one at a time is enough).
static GIVING_BACK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hands the free pages of every malloc heap back to the kernel (glibc's `malloc_trim(0)`),
/// on one of tokio's blocking threads, never a scheduler thread: it walks every arena under
/// its lock. Does nothing if one is already under way, outside a tokio runtime, or on another
/// C library.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::atomic::Ordering;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if GIVING_BACK.swap(true, Ordering::AcqRel) {
            return;
        }
        handle.spawn_blocking(|| {
            // SAFETY: `malloc_trim` takes a size and touches only malloc's own free lists,
            // under each arena's lock; it may be called at any time from any thread.
            #[allow(unsafe_code)]
            let _ = unsafe { libc::malloc_trim(0) };
            GIVING_BACK.store(false, Ordering::Release);
        });
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
