//! The distribution protocol's tokio driver: runs `dist`'s handshake over a socket (TCP, or
//! TLS — anything `AsyncRead + AsyncWrite`), then a connection's reader, writer and ticker.
//!
//! Every distribution TCP socket gets `TCP_NODELAY`, as `inet_tcp_dist` sets it: a call must
//! never wait on Nagle's algorithm.

mod connection;
mod handshake;
mod outbox;
mod stream;
pub mod tls;

pub use connection::{run, Closed, Invalid};
pub use handshake::{handshake, Decide, DistIoError, SETUP_TIME};
pub use outbox::{Backlog, ConnectionStats, NotQueued, Outbox, BUSY_LIMIT, HARD_LIMIT};
pub use stream::{DistStream, BUSY_POLL};
pub use tls::{DistTls, TlsError, TlsOptions};
