//! The distribution protocol's tokio driver: runs `dist`'s handshake over a socket (TCP, or
//! TLS — anything `AsyncRead + AsyncWrite`), then a connection's reader, writer and ticker.
//!
//! Every distribution TCP socket gets `TCP_NODELAY`, as `inet_tcp_dist` sets it: a call must
//! never wait on Nagle's algorithm.
//!
//! Two nodes connected over loopback TCP, and a message from one to a registered name on the
//! other:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use dist::{ControlMessage, Cookie, DistFlags, Handshake, HandshakeConfig, Status};
//! use etf::{Atom, Pid, Term};
//! use rotp_net::dist::{handshake, run, DistStream, Outbox, SETUP_TIME};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = |name: &str, challenge| HandshakeConfig {
//!     name: Atom::from(name),
//!     creation: 1,
//!     flags: DistFlags::DEFAULT,
//!     hidden: false,
//!     required: DistFlags::REQUIRED,
//!     cookie: Cookie::new("secret"),
//!     challenge,
//! };
//! let ticktime = Duration::from_secs(60); // net_ticktime
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//!
//! // b@localhost accepts, and hands each message it reads to a channel.
//! let b = tokio::spawn(async move {
//!     let mut stream = DistStream::from(listener.accept().await?.0);
//!     let accept = Handshake::accept(config("b@localhost", 0x5eed))?;
//!     let mut ok = |_: &Atom, _: u32| Status::Ok; // no connection to a@localhost yet
//!     let (up, leftover) = handshake(&mut stream, accept, &mut ok, SETUP_TIME).await?;
//!     let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//!     let outbox = Arc::new(Outbox::new());
//!     tokio::spawn(run(stream, up.flags, leftover, ticktime, 1 << 20, outbox, move |m| {
//!         let _ = tx.send(m);
//!         Ok(())
//!     }));
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>((up.peer, rx.recv().await))
//! });
//!
//! // a@localhost connects, and sends `{counter, 'b@localhost'} ! inc`.
//! let mut stream = DistStream::from(TcpStream::connect(addr).await?);
//! let initiate = Handshake::initiate(config("a@localhost", 0xcafe), Atom::from("b@localhost"))?;
//! let (up, leftover) = handshake(&mut stream, initiate, &mut |_: &Atom, _: u32| Status::Ok, SETUP_TIME).await?;
//! let outbox = Arc::new(Outbox::new());
//! let from = Pid { node: Atom::from("a@localhost"), id: 80, serial: 0, creation: 1 };
//! outbox.send(ControlMessage::RegSend { from, to: Atom::from("counter"), token: None }, Some(Term::atom("inc")))?;
//! tokio::spawn(run(stream, up.flags, leftover, ticktime, 1 << 20, outbox.clone(), |_| Ok(())));
//!
//! let (peer, message) = b.await??;
//! assert_eq!(peer, Atom::from("a@localhost"));
//! let message = message.expect("the message");
//! assert!(matches!(&message.control, ControlMessage::RegSend { to, .. } if *to == Atom::from("counter")));
//! assert_eq!(message.payload, Some(Term::atom("inc")));
//! # Ok(()) }
//! ```

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
