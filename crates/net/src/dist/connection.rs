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
    /// A control message and its payload.
    Message(ControlMessage, Option<Term>),
    /// Close the connection (`erlang:disconnect_node/1`).
    Disconnect,
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
    let writer = tokio::spawn(write_loop(
        write_half,
        flags,
        outbound,
        tick_rx,
        stats.clone(),
    ));
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
        if writer.is_finished() {
            break Closed::Disconnected;
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
    let mut writer = Writer::new(flags);
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
        let mut next = first;
        loop {
            match next {
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
        stats.written.fetch_add(packets, Ordering::Relaxed);
    }
}
