//! Drives a [`dist::Handshake`] over a stream, within `net_setuptime`.

use std::time::Duration;

use dist::{Established, Event, Handshake, HandshakeError, Status};

use crate::dist::DistStream;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a handshake may take (`net_setuptime`, 7 s by default in `net_kernel`).
pub const SETUP_TIME: Duration = Duration::from_secs(7);

/// Why setting up or running a connection failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DistIoError {
    /// The handshake failed; its text is what `erl` logs.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The socket failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection during the handshake.
    #[error("the peer closed the connection during the handshake")]
    Closed,
    /// The peer closed the connection when it had our challenge reply: it refused our
    /// cookie (an Erlang node says why only in its own log).
    #[error("the peer closed the connection when it checked our cookie")]
    CookieRefused,
    /// The handshake took longer than allowed.
    #[error("the handshake did not finish within {0:?}")]
    Timeout(Duration),
    /// A distribution packet could not be read.
    #[error(transparent)]
    Dist(#[from] dist::DistError),
}

/// The node's answers to the handshake's two questions.
pub trait Decide {
    /// Acceptor: the status for a peer that named itself (who wins a simultaneous connect).
    fn status(&mut self, name: &etf::Atom, creation: u32) -> Status;
    /// Initiator: the acceptor has a connection to us already; should ours replace it?
    fn alive(&mut self) -> bool {
        true
    }
}

impl<F: FnMut(&etf::Atom, u32) -> Status> Decide for F {
    fn status(&mut self, name: &etf::Atom, creation: u32) -> Status {
        self(name, creation)
    }
}

/// Runs the handshake to the end: the result and the bytes read past it. Over plain TCP each
/// wait for the peer's answer starts by polling the socket for a moment, as a connection's
/// reader does while talking (see [`BUSY_POLL`](crate::dist::BUSY_POLL)).
pub async fn handshake(
    stream: &mut DistStream,
    mut hs: Handshake,
    decide: &mut (dyn Decide + Send),
    timeout: Duration,
) -> Result<(Established, Vec<u8>), DistIoError> {
    let run = async {
        let mut buf = vec![0u8; 4096];
        loop {
            let polled = hs.poll();
            let out = hs.take_output();
            let wrote = !out.is_empty();
            if wrote {
                stream.write_all(&out).await?;
            }
            match polled? {
                Some(Event::Established(up)) => {
                    stream.flush().await?;
                    return Ok((up, hs.into_remaining()));
                }
                Some(Event::PeerNamed { name, creation, .. }) => {
                    let status = decide.status(&name, creation);
                    let result = hs.set_status(status);
                    let out = hs.take_output();
                    stream.write_all(&out).await?;
                    result?;
                    continue;
                }
                Some(Event::AliveQuery) => {
                    let alive = decide.alive();
                    hs.reply_alive(alive);
                    let out = hs.take_output();
                    stream.write_all(&out).await?;
                    if !alive {
                        return Err(DistIoError::Closed);
                    }
                    continue;
                }
                None => {}
            }
            if wrote {
                let n = match stream.busy_poll(&mut buf) {
                    Err(_) if hs.awaiting_ack() => return Err(DistIoError::CookieRefused),
                    polled => polled?,
                };
                if n > 0 {
                    hs.feed(&buf[..n]);
                    continue;
                }
            }
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) if hs.awaiting_ack() => return Err(DistIoError::CookieRefused),
                Ok(0) => return Err(DistIoError::Closed),
                Ok(n) => n,
                Err(e) => return Err(e.into()),
            };
            // Only the size: the bytes hold challenge digests (MD5 of the cookie and a
            // challenge), which an offline brute force could turn back into the cookie.
            tracing::trace!("handshake read {n} bytes");
            hs.feed(&buf[..n]);
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| DistIoError::Timeout(timeout))?
}
