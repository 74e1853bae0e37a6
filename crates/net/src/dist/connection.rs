//! A connection after the handshake: a reader that decodes packets and hands messages to the
//! node, a writer that writes what senders queued in the connection's [`Outbox`] (everything
//! queued in one write), and the ticker (`net_ticktime`: a tick when nothing was written for a quarter of it,
//! the connection dropped when nothing was read for all of it; `dist_util:con_loop/2`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use dist::{DistFlags, DistMessage, Incoming, Reader};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::outbox::{Batch, Outbox};
use super::stream::DistStream;

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
    /// The peer sent a message erts refuses (a signal from a process of another node than the
    /// peer, to a process of a third node…).
    Invalid(Invalid),
    /// More than [`HARD_LIMIT`](super::HARD_LIMIT) bytes waited for a peer that does not read.
    Overloaded,
}

/// A distribution message that reads well but that erts refuses: the connection is closed, as
/// erts closes it after logging `Invalid distribution message` (`erts_net_message`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Invalid distribution message: {0}")]
pub struct Invalid(pub String);

/// Runs a connection until it ends: `incoming` gets each message in arrival order. A message
/// over `max_message` bytes, or unfinished fragmented messages holding more than that between
/// them, end the connection ([`dist::Reader::new`]). Over plain
/// TCP the reader polls the socket for a moment before it sleeps while it is talking with the
/// peer (see [`BUSY_POLL`](super::BUSY_POLL)).
pub async fn run<F>(
    stream: DistStream,
    flags: DistFlags,
    leftover: Vec<u8>,
    ticktime: Duration,
    max_message: usize,
    outbox: Arc<Outbox>,
    mut incoming: F,
) -> Closed
where
    F: FnMut(DistMessage) -> Result<(), Invalid> + Send,
{
    let (mut read_half, write_half) = stream.split();
    outbox.start(flags);
    let _close = CloseOnDrop(outbox.clone());
    let mut writer = tokio::spawn(write_loop(write_half, outbox.clone()));
    let stats = outbox.stats();
    let interval = ticktime / 4;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut reader = Reader::new(max_message).for_flags(flags);
    // Read straight into the buffer's spare room; consumed packets are split off its front
    // without moving what follows.
    let mut buffer = BytesMut::from(&leftover[..]);
    // What a busy poll reads lands here first (see `ReadHalf::busy_poll`).
    let mut scratch = vec![0u8; 64 * 1024];
    let mut last_read = 0u64;
    let mut silent_ticks = 0u32;
    let mut last_written = 0u64;
    let mut queued_mark = outbox.queued();
    let mut pace = Pace::default();
    let closed = 'run: loop {
        // Every whole packet in the buffer first; what they make us send goes out together.
        outbox.hold_wakeups();
        let mut used = 0;
        loop {
            match dist::packet::split_packet(&buffer[used..], reader.max_message()) {
                Ok(Some((n, body))) => {
                    stats.read.fetch_add(1, Ordering::Relaxed);
                    match reader.packet(body) {
                        Ok(Incoming::Message(m)) => {
                            if let Err(invalid) = incoming(m) {
                                break 'run Closed::Invalid(invalid);
                            }
                        }
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
        stats
            .unfinished
            .store(reader.unfinished_bytes() as u64, Ordering::Relaxed);
        outbox.end_hold();
        if !read_half.can_busy_poll() {
            outbox.wake_held();
        } else {
            // Talking: we sent the peer something since the last packets we read (requests and
            // replies). Then the peer's next packet is likely on its way: let what we handed on
            // run, and look for it before sleeping. In the middle of a message (part of a
            // packet in, or the first fragments of a large message) the rest is on its way
            // too. A node that only receives small messages (a stream of casts) never spins.
            let talking = used > 0 && outbox.queued() != queued_mark;
            if used > 0 {
                queued_mark = outbox.queued();
            }
            let mid_message = !buffer.is_empty() || reader.reassembling();
            // What we queued waits for the batch's processes: they run at the yield (tokio
            // keeps the one we woke last in this thread's next slot, where no other thread
            // may take it), and what they send at once joins it.
            if (talking || mid_message) && used > 0 {
                tokio::task::yield_now().await;
            }
            // The writer goes before we poll: woken from here it waits in this thread's next
            // slot, which no other thread may take, until we stop.
            if outbox.wake_held() {
                tokio::task::yield_now().await;
            }
            if talking || mid_message {
                let poll = mid_message || pace.worth_polling();
                pace.start();
                if poll {
                    match read_half.busy_poll(&mut scratch, &mut buffer) {
                        Ok(0) => {}
                        Ok(n) => {
                            stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                            pace.arrived();
                            continue;
                        }
                        Err(e) => break Closed::Io(e),
                    }
                }
            }
        }
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
            // Too much queued for a peer that does not read: the writer may be stuck in a write
            // that will never finish, so nothing waits for it.
            _ = outbox.aborted() => break Closed::Overloaded,
            read = read_half.read_buf(&mut buffer) => match read {
                Ok(0) => break Closed::ConnectionClosed,
                Ok(n) => {
                    stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    pace.arrived();
                }
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
                if stats.written.load(Ordering::Relaxed) == last_written {
                    outbox.tick();
                }
                last_written = stats.written.load(Ordering::Relaxed);
            }
        }
    };
    stats
        .unfinished
        .store(reader.unfinished_bytes() as u64, Ordering::Relaxed);
    writer.abort();
    closed
}

/// How often the peer's next packet comes within a busy poll's time once the reader is ready
/// for it: a running rate, out of 1024 (each packet weighs 1/16). The reader spins only for a
/// peer that answers within the spin at least a quarter of the time: one that answers later (a
/// client that waits for several nodes' replies between calls) would only have it burn the CPU
/// the client needs. Once it sleeps, every 32nd time it polls anyway, to notice a peer that got
/// quicker (what it measures asleep includes its own wake-up): a probe that finds the packet
/// puts it back to spinning at once. Without that, a peer answering near the spin's length (a
/// GenStage producer on another node) left it asleep for good, and every packet then paid a
/// wake-up: node-to-node pipelines ran at 10 M events/s or 16 M, by the luck of the start.
struct Pace {
    rate: u32,
    since: Option<std::time::Instant>,
    skipped: u32,
    probing: bool,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            rate: 1024,
            since: None,
            skipped: 0,
            probing: false,
        }
    }
}

impl Pace {
    fn worth_polling(&mut self) -> bool {
        if self.rate >= 256 {
            return true;
        }
        self.skipped = (self.skipped + 1) % 32;
        self.probing = self.skipped == 0;
        self.probing
    }

    /// The reader is ready for the peer's next packet.
    fn start(&mut self) {
        self.since = Some(std::time::Instant::now());
    }

    /// A packet came.
    fn arrived(&mut self) {
        if let Some(since) = self.since.take() {
            let hit = since.elapsed() <= super::BUSY_POLL;
            self.rate = self.rate - self.rate / 16 + if hit { 64 } else { 0 };
            if std::mem::take(&mut self.probing) && hit {
                self.rate = self.rate.max(320);
            }
        }
    }
}

/// Writes what senders queue, a batch per write, until told to disconnect or the socket fails.
async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, outbox: Arc<Outbox>) {
    let mut batch = Batch::default();
    loop {
        batch = outbox.next_batch(std::mem::take(&mut batch.buffers)).await;
        // Flushed each time: over TLS a write may leave records in the TLS layer when the
        // socket is full, and they would wait there for the next batch (with nothing more to
        // send, a tick 15 s later: rotp→erl over TLS stalled now and then for that long).
        if write_all_vectored(&mut out, &batch.buffers).await.is_err() || out.flush().await.is_err()
        {
            return;
        }
        outbox.written(&batch);
        if batch.disconnect {
            let _ = out.shutdown().await;
            return;
        }
    }
}

/// Writes every chunk, as few `writev(2)`s as the socket takes (the pieces of a large message
/// go out from where they are, as erts writes a message's binaries with an I/O vector).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    out: &mut W,
    chunks: &[super::outbox::Chunk],
) -> std::io::Result<()> {
    if let [one] = chunks {
        return out.write_all(one.as_slice()).await;
    }
    let mut slices: Vec<std::io::IoSlice<'_>> = chunks
        .iter()
        .map(|c| std::io::IoSlice::new(c.as_slice()))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match out.write_vectored(rest).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => std::io::IoSlice::advance_slices(&mut rest, n),
        }
    }
    Ok(())
}

/// Closes the queue for good when the connection ends: senders stop queueing, waiting ones
/// go on.
struct CloseOnDrop(Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}
