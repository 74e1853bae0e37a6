//! A connection after the handshake: a reader that decodes packets and hands messages to the
//! node, a writer that encodes what the node sends (batching everything queued into one
//! write), and the ticker (`net_ticktime`: a tick when nothing was written for a quarter of it,
//! the connection dropped when nothing was read for all of it; `dist_util:con_loop/2`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use dist::{ControlMessage, DistFlags, DistMessage, Incoming, Reader, Writer};
use etf::Term;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Something for the writer to send.
#[derive(Debug)]
// Nearly every value is a `Message`; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Outbound {
    /// A control message and its payload, for the writer to encode (queued before the
    /// connection's flags were known).
    Message(ControlMessage, Option<Term>),
    /// Packets a sender already encoded with the connection's [`Writer`]; counted in the
    /// connection's [`Backlog`].
    Encoded(Vec<u8>),
    /// Close the connection (`erlang:disconnect_node/1`).
    Disconnect,
}

/// Bytes queued for a connection and not yet written: what lets a sending process wait while
/// the connection is busy, as erts suspends a process whose distribution buffer is over
/// `dist_buf_busy_limit`.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
    lock: std::sync::Mutex<()>,
    drained: std::sync::Condvar,
}

/// A connection is busy past this many queued bytes (`dist_buf_busy_limit`'s default, 1 MiB).
pub const BUSY_LIMIT: usize = 1 << 20;

impl Backlog {
    /// A sender queued `n` bytes.
    pub fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Whether senders should wait.
    pub fn busy(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) > BUSY_LIMIT
    }

    fn written(&self, n: usize) {
        let before = self.bytes.fetch_sub(n, Ordering::Relaxed);
        if before > BUSY_LIMIT / 2 && before - n <= BUSY_LIMIT / 2 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.drained.notify_all();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.drained.notify_all();
    }

    /// Blocks the calling thread until the backlog is below half the limit or the connection
    /// is gone (bounded by `limit`, so a stalled peer cannot hold a sender forever: the tick
    /// timeout closes the connection first).
    pub fn wait(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.bytes.load(Ordering::Relaxed) > BUSY_LIMIT / 2
            && !self.closed.load(Ordering::Relaxed)
        {
            let now = std::time::Instant::now();
            if now >= deadline {
                return;
            }
            guard = match self.drained.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// The node's handle for sending on a connection.
pub type Sender = mpsc::UnboundedSender<Outbound>;

/// Bytes and packets moved, for introspection.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Packets read.
    pub read: AtomicU64,
    /// Packets written.
    pub written: AtomicU64,
    /// Bytes senders have queued and the writer has not written yet.
    pub backlog: Backlog,
}

/// Why a connection ended.
#[derive(Debug)]
pub enum Closed {
    /// The peer closed it.
    ConnectionClosed,
    /// Nothing was read for `net_ticktime`.
    NetTickTimeout,
    /// The node asked to disconnect.
    Disconnected,
    /// The socket failed.
    Io(std::io::Error),
    /// The peer sent a packet that could not be read.
    Dist(dist::DistError),
}

/// Runs a connection until it ends: `incoming` gets each message in arrival order.
pub async fn run<S, F>(
    stream: S,
    flags: DistFlags,
    leftover: Vec<u8>,
    ticktime: Duration,
    outbound: mpsc::UnboundedReceiver<Outbound>,
    stats: Arc<ConnectionStats>,
    mut incoming: F,
) -> Closed
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    F: FnMut(DistMessage) + Send,
{
    let (mut read_half, write_half) = tokio::io::split(stream);
    let (tick_tx, tick_rx) = mpsc::unbounded_channel::<()>();
    let mut writer = tokio::spawn(write_loop(
        write_half,
        flags,
        outbound,
        tick_rx,
        stats.clone(),
    ));
    let _close_backlog = CloseOnDrop(stats.clone());
    let interval = ticktime / 4;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut reader = Reader::default();
    // Read straight into the buffer's spare room; consumed packets are split off its front
    // without moving what follows.
    let mut buffer = BytesMut::from(&leftover[..]);
    let mut last_read = 0u64;
    let mut silent_ticks = 0u32;
    let mut last_written = 0u64;
    let closed = 'run: loop {
        // Every whole packet in the buffer first.
        let mut used = 0;
        loop {
            match dist::packet::split_packet(&buffer[used..], reader.max_message()) {
                Ok(Some((n, body))) => {
                    stats.read.fetch_add(1, Ordering::Relaxed);
                    match reader.packet(body) {
                        Ok(Incoming::Message(m)) => incoming(m),
                        Ok(Incoming::Tick | Incoming::Partial) => {}
                        Err(e) => break 'run Closed::Dist(e),
                    }
                    used += n;
                }
                Ok(None) => break,
                Err(e) => break 'run Closed::Dist(e),
            }
        }
        buffer.advance(used);
        // Room for at least the packet under way, read in one go when it is large.
        let wanted = match buffer.get(..4) {
            Some(len) => 4 + u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize,
            None => 0,
        };
        buffer.reserve(
            wanted
                .saturating_sub(buffer.len())
                .clamp(64 * 1024, 16 << 20),
        );
        tokio::select! {
            // The writer ends on `Disconnect` or a failed write: the connection ends with it,
            // without waiting for the peer to answer our FIN.
            _ = &mut writer => break Closed::Disconnected,
            read = read_half.read_buf(&mut buffer) => match read {
                Ok(0) => break Closed::ConnectionClosed,
                Ok(_) => {}
                Err(e) => break Closed::Io(e),
            },
            _ = ticker.tick() => {
                let read = stats.read.load(Ordering::Relaxed);
                if read == last_read {
                    silent_ticks += 1;
                    if silent_ticks >= 4 {
                        break Closed::NetTickTimeout;
                    }
                } else {
                    silent_ticks = 0;
                    last_read = read;
                }
                let written = stats.written.load(Ordering::Relaxed);
                if written == last_written && tick_tx.send(()).is_err() {
                    break Closed::Disconnected;
                }
                last_written = stats.written.load(Ordering::Relaxed);
            }
        }
    };
    writer.abort();
    closed
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: W,
    flags: DistFlags,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    mut ticks: mpsc::UnboundedReceiver<()>,
    stats: Arc<ConnectionStats>,
) {
    let writer = Writer::new(flags);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let first = tokio::select! {
            m = outbound.recv() => m,
            t = ticks.recv() => {
                if t.is_none() {
                    return;
                }
                buf.extend_from_slice(&dist::packet::TICK);
                None
            }
        };
        let mut packets = u64::from(!buf.is_empty());
        let mut encoded = 0usize;
        let mut next = first;
        loop {
            match next {
                Some(Outbound::Encoded(bytes)) => {
                    encoded += bytes.len();
                    packets += 1;
                    if buf.is_empty() && bytes.len() >= 64 * 1024 {
                        // Large: written as it is, not copied into the batch.
                        buf = bytes;
                    } else {
                        buf.extend_from_slice(&bytes);
                    }
                }
                // A term that cannot be encoded is dropped; nothing else is lost.
                Some(Outbound::Message(control, payload))
                    if writer.write(&control, payload.as_ref(), &mut buf).is_ok() =>
                {
                    packets += 1;
                }
                Some(Outbound::Message(..)) => {}
                Some(Outbound::Disconnect) => {
                    let _ = out.write_all(&buf).await;
                    let _ = out.shutdown().await;
                    return;
                }
                None if buf.is_empty() => return,
                None => {}
            }
            if buf.len() >= 256 * 1024 {
                break;
            }
            next = match outbound.try_recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            };
        }
        if out.write_all(&buf).await.is_err() {
            return;
        }
        stats.backlog.written(encoded);
        stats.written.fetch_add(packets, Ordering::Relaxed);
        if buf.capacity() > 4 << 20 {
            buf = Vec::with_capacity(64 * 1024);
        }
    }
}

/// Wakes blocked senders for good when the connection ends.
struct CloseOnDrop(Arc<ConnectionStats>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.backlog.close();
    }
}
