//! A connection after the handshake: a reader that decodes packets and hands messages to the
//! node, a writer that writes what senders queued in the connection's [`Outbox`] (everything
//! queued in one write), and the ticker (`net_ticktime`: a tick when nothing was written for a quarter of it,
//! the connection dropped when nothing was read for all of it; `dist_util:con_loop/2`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use dist::{DistFlags, DistMessage, Incoming, Reader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::outbox::{Batch, Outbox};

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

/// How long a reader polls its socket before it sleeps, once it has handed on what it read.
///
/// Waking a thread that slept costs tens of microseconds on a virtual machine (the idle CPU
/// halts), more than a whole round trip takes otherwise; the BEAM's schedulers spin before they
/// sleep for the same reason (`+sbwt`, busy wait threshold).
pub const BUSY_POLL: Duration = Duration::from_micros(50);

/// A second handle on a TCP connection's socket, for [`run`]'s reader to poll it without going
/// through the runtime's readiness events while a reply is likely on its way.
#[derive(Debug)]
pub struct BusyPoll(std::net::TcpStream);

impl BusyPoll {
    /// A handle on `tcp`'s socket (a duplicate of its descriptor, non-blocking like it).
    pub fn new(tcp: &tokio::net::TcpStream) -> std::io::Result<BusyPoll> {
        use std::os::fd::AsFd;
        Ok(BusyPoll(std::net::TcpStream::from(
            tcp.as_fd().try_clone_to_owned()?,
        )))
    }

    /// Reads what has arrived, for up to [`BUSY_POLL`]: `Ok(0)` if nothing came (or the
    /// peer closed; the next async read tells which).
    fn poll_for(&self, buffer: &mut BytesMut) -> std::io::Result<usize> {
        let start = buffer.len();
        buffer.resize(start + 64 * 1024, 0);
        let result = self.poll_into(&mut buffer[start..]);
        buffer.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    /// [`BusyPoll::poll_for`] into a slice.
    pub(crate) fn poll_into(&self, buffer: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Read;
        let deadline = std::time::Instant::now() + BUSY_POLL;
        loop {
            match (&self.0).read(buffer) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        return Ok(0);
                    }
                    std::hint::spin_loop();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs a connection until it ends: `incoming` gets each message in arrival order. With
/// `busy_poll`, the reader polls the socket for a moment before it sleeps (see [`BUSY_POLL`]).
pub async fn run<S, F>(
    stream: S,
    flags: DistFlags,
    leftover: Vec<u8>,
    ticktime: Duration,
    outbox: Arc<Outbox>,
    busy_poll: Option<BusyPoll>,
    mut incoming: F,
) -> Closed
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    F: FnMut(DistMessage) + Send,
{
    let (mut read_half, write_half) = tokio::io::split(stream);
    outbox.start(flags);
    let _close = CloseOnDrop(outbox.clone());
    let mut writer = tokio::spawn(write_loop(write_half, outbox.clone()));
    let stats = outbox.stats();
    let interval = ticktime / 4;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut reader = Reader::default();
    // Read straight into the buffer's spare room; consumed packets are split off its front
    // without moving what follows.
    let mut buffer = BytesMut::from(&leftover[..]);
    let mut last_read = 0u64;
    let mut silent_ticks = 0u32;
    let mut last_written = 0u64;
    let mut queued_mark = outbox.queued();
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
        if let (Some(poll), true) = (&busy_poll, used > 0) {
            // Talking: we sent the peer something since the last packets we read (requests and
            // replies). Then the peer's next packet is likely on its way: let what we handed on
            // run, and look for it before sleeping. A node that only receives (a stream of
            // casts) never spins.
            let talking = outbox.queued() != queued_mark;
            queued_mark = outbox.queued();
            if talking {
                tokio::task::yield_now().await;
                match poll.poll_for(&mut buffer) {
                    Ok(0) => {}
                    Ok(_) => continue,
                    Err(e) => break Closed::Io(e),
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
                if stats.written.load(Ordering::Relaxed) == last_written {
                    outbox.tick();
                }
                last_written = stats.written.load(Ordering::Relaxed);
            }
        }
    };
    writer.abort();
    closed
}

/// Writes what senders queue, a batch per write, until told to disconnect or the socket fails.
async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, outbox: Arc<Outbox>) {
    let mut batch = Batch::default();
    loop {
        batch = outbox.next_batch(std::mem::take(&mut batch.buffers)).await;
        for buffer in &batch.buffers {
            if out.write_all(buffer).await.is_err() {
                return;
            }
        }
        outbox.written(&batch);
        if batch.disconnect {
            let _ = out.shutdown().await;
            return;
        }
    }
}

/// Closes the queue for good when the connection ends: senders stop queueing, waiting ones
/// go on.
struct CloseOnDrop(Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}
