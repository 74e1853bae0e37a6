//! A distribution connection's socket: plain TCP (`inet_tcp_dist`) or TLS over TCP
//! (`inet_tls_dist`), one descriptor either way.
//!
//! A plain TCP reader may busy-poll its socket: it reads with `recv(2)` straight on the
//! connection's own descriptor (borrowed through [`socket2::SockRef`], never duplicated), so a
//! reply that is on its way is picked up without going through the runtime's readiness events.
//! A TLS reader cannot (the record layer sits between the socket and the packets).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// How long a reader polls its socket before it sleeps, once it has handed on what it read.
///
/// Waking a thread that slept costs tens of microseconds on a virtual machine (the idle CPU
/// halts), more than a whole round trip takes otherwise; the BEAM's schedulers spin before they
/// sleep for the same reason (`+sbwt`, busy wait threshold).
pub const BUSY_POLL: Duration = Duration::from_micros(50);

/// A distribution socket.
#[derive(Debug)]
pub enum DistStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (either side of the TLS handshake).
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for DistStream {
    fn from(tcp: TcpStream) -> DistStream {
        DistStream::Tcp(tcp)
    }
}

impl From<TlsStream<TcpStream>> for DistStream {
    fn from(tls: TlsStream<TcpStream>) -> DistStream {
        DistStream::Tls(Box::new(tls))
    }
}

impl DistStream {
    /// Whether the handshake frames its messages with 4-byte lengths (TLS, as
    /// `inet_tls_dist` sets `{packet, 4}`) rather than 2.
    pub fn is_tls(&self) -> bool {
        matches!(self, DistStream::Tls(_))
    }

    /// Reads what has arrived on a plain TCP socket for up to [`BUSY_POLL`]: `Ok(0)` if nothing
    /// came (or the peer closed: the next async read tells which), and always `Ok(0)` over TLS.
    pub(crate) fn busy_poll(&self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            DistStream::Tcp(tcp) => poll_socket(tcp, buffer),
            DistStream::Tls(_) => Ok(0),
        }
    }

    /// The two halves, for a reader task and a writer task.
    pub(crate) fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            DistStream::Tcp(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            DistStream::Tls(tls) => {
                let (r, w) = tokio::io::split(*tls);
                (ReadHalf::Tls(r), WriteHalf::Tls(w))
            }
        }
    }
}

/// `recv(2)` on `tcp`'s own descriptor until something arrives or [`BUSY_POLL`] has passed.
fn poll_socket(tcp: &TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let socket = socket2::SockRef::from(tcp);
    let deadline = std::time::Instant::now() + BUSY_POLL;
    loop {
        match (&*socket).read(buffer) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return Ok(0);
                }
                // Give the core to whatever else wants it (on a small machine, often the peer
                // node we wait for): two rotp nodes spinning on two cores starved each other.
                std::thread::yield_now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The reading half of a [`DistStream`].
#[derive(Debug)]
pub(crate) enum ReadHalf {
    Tcp(OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

impl ReadHalf {
    /// [`DistStream::busy_poll`] into `scratch` (the reader's, reused), and what came onto
    /// `buffer`. Reading into `buffer`'s own spare room meant zeroing 64 KiB for every poll
    /// (safe code may not read into uninitialised bytes): 1.5 % of a GenStage node's profile,
    /// and latency on every packet; copying what arrived costs only its length.
    pub(crate) fn busy_poll(&self, scratch: &mut [u8], buffer: &mut BytesMut) -> io::Result<usize> {
        let ReadHalf::Tcp(tcp) = self else {
            return Ok(0);
        };
        let n = poll_socket(tcp.as_ref(), scratch)?;
        buffer.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    /// Whether busy polling can find anything (plain TCP).
    pub(crate) fn can_busy_poll(&self) -> bool {
        matches!(self, ReadHalf::Tcp(_))
    }
}

/// The writing half of a [`DistStream`].
#[derive(Debug)]
pub(crate) enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for DistStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DistStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            DistStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DistStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DistStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            DistStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DistStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            DistStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DistStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            DistStream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ReadHalf::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            WriteHalf::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            WriteHalf::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Tcp(s) => s.is_write_vectored(),
            WriteHalf::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_flush(cx),
            WriteHalf::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            WriteHalf::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
