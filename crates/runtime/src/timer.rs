//! Keeps receive timeouts cheap on tokio.
//!
//! tokio's time driver sleeps in the I/O driver's `epoll_wait` until its earliest timer. Arming
//! a timer earlier than that — or any timer while none is armed — has to wake the sleeping
//! driver thread (an `eventfd` write and a context switch). A GenServer call arms a timer and
//! disarms it microseconds later, so the wheel is usually empty when the next call arms one:
//! every call paid that cross-thread wake, which halved the throughput of a call loop
//! (measured with `bench/examples/callprobe.rs`: 1.0 M → 1.4 M timed receives/s on 2 workers
//! with a standing timer).
//!
//! While receive timeouts are in use, a keeper task keeps a timer standing at most
//! [`TICK`] ahead, so new timeouts longer than that never move the driver's wake-up earlier.
//! After [`IDLE_TICKS`] ticks without a timed receive the keeper ends, so an idle node does not
//! wake up at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How far ahead the standing timer is.
const TICK: Duration = Duration::from_millis(500);
/// Ticks without a timed receive before the keeper stops.
const IDLE_TICKS: u32 = 20;

/// Shared by the runtime and its keeper task.
#[derive(Default)]
pub(crate) struct TimerKeeper {
    /// A timed receive happened since the keeper's last tick.
    used: AtomicBool,
    /// The keeper task runs.
    running: AtomicBool,
}

impl TimerKeeper {
    /// Called by every timed receive: starts the keeper if it is not running. Costs one load
    /// when it is (the flag is only written once per tick, so the line stays shared).
    pub(crate) fn touch(self: &Arc<Self>) {
        if self.used.load(Ordering::Relaxed) {
            return;
        }
        self.used.store(true, Ordering::Relaxed);
        if !self.running.swap(true, Ordering::AcqRel) {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(self.clone().keep());
            } else {
                self.running.store(false, Ordering::Release);
            }
        }
    }

    async fn keep(self: Arc<Self>) {
        let mut idle = 0;
        loop {
            tokio::time::sleep(TICK).await;
            if self.used.swap(false, Ordering::Relaxed) {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle < IDLE_TICKS {
                continue;
            }
            self.running.store(false, Ordering::Release);
            // A timed receive between the swap above and now saw the keeper running and did
            // not start one: take the job back.
            if !self.used.load(Ordering::Relaxed) || self.running.swap(true, Ordering::AcqRel) {
                return;
            }
            idle = 0;
        }
    }
}
