//! What the node says about its connections: one line per node up and down, and refusals at a
//! bounded rate, so a stranger knocking a million times costs a few lines, not a million.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use etf::Atom;

/// At most this many lines of one kind per window; the rest are counted and summed up in the
/// next line that is let through.
const LINES_PER_WINDOW: u32 = 10;

/// The window.
const WINDOW: Duration = Duration::from_secs(10);

/// A log line that may repeat without bound (a refused connection), let through at most
/// [`LINES_PER_WINDOW`] times per [`WINDOW`].
#[derive(Default)]
pub(crate) struct RateLimited(Mutex<Window>);

#[derive(Default)]
struct Window {
    start: Option<Instant>,
    lines: u32,
    suppressed: u64,
}

impl RateLimited {
    /// Whether a line may go out now, and how many were held back before it.
    fn admit(&self) -> Option<u64> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if w.start
            .is_none_or(|start| now.duration_since(start) >= WINDOW)
        {
            w.start = Some(now);
            w.lines = 0;
        }
        if w.lines >= LINES_PER_WINDOW {
            w.suppressed += 1;
            return None;
        }
        w.lines += 1;
        Some(std::mem::take(&mut w.suppressed))
    }

    /// `line` at error level, if the rate allows.
    pub(crate) fn error(&self, line: std::fmt::Arguments<'_>) {
        match self.admit() {
            Some(0) => tracing::error!("{line}"),
            Some(n) => tracing::error!("{line} ({n} similar lines not shown)"),
            None => {}
        }
    }

    /// `line` at warning level, if the rate allows.
    pub(crate) fn warn(&self, line: std::fmt::Arguments<'_>) {
        match self.admit() {
            Some(0) => tracing::warn!("{line}"),
            Some(n) => tracing::warn!("{line} ({n} similar lines not shown)"),
            None => {}
        }
    }
}

/// `nodedown Peer`, with why the connection ended in words.
pub(crate) fn nodedown(peer: &Atom, closed: &net::dist::Closed) {
    use net::dist::Closed;
    let why = match closed {
        Closed::ConnectionClosed => "connection_closed".to_owned(),
        Closed::NetTickTimeout => "net_tick_timeout".to_owned(),
        Closed::Disconnected => "disconnect".to_owned(),
        Closed::Io(e) => format!("{e}"),
        Closed::Dist(e) => format!("{e}"),
        Closed::Invalid(e) => format!("{e}"),
        Closed::Overloaded => net::dist::NotQueued::Overloaded.to_string(),
    };
    tracing::info!("nodedown {peer} ({why})");
}
