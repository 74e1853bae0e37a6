//! An async EPMD client: what `erl_epmd` does for a node, and what `epmd -names` and friends do
//! for a user.
//!
//! ```no_run
//! use rotp_net::epmd::Client;
//!
//! # async fn demo() -> Result<(), rotp_net::epmd::ClientError> {
//! // Where does `erl -sname drip` listen? (`erl_epmd:port_please/2`)
//! let epmd = Client::localhost(rotp_net::epmd::port_from_env());
//! match epmd.port_please("drip").await? {
//!     Some(node) => println!("drip listens on port {}", node.port),
//!     None => println!("no node drip on this host"),
//! }
//! // `epmd -names`
//! let (epmd_port, names) = epmd.names().await?;
//! println!("epmd: up and running on port {epmd_port} with data:");
//! for (name, port) in names {
//!     println!("name {name} at port {port}");
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use epmd::msg::{self, Alive2Reply, NodeInfo, ReplyError, Request};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request to EPMD failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting, writing or reading failed.
    #[error("EPMD at {addr}: {source}")]
    Io {
        /// Where EPMD was expected.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// EPMD closed the connection without a reply, or with a reply that does not parse.
    #[error("EPMD at {addr}: {source}")]
    Reply {
        /// Where EPMD was.
        addr: SocketAddr,
        /// The error.
        source: ReplyError,
    },
    /// EPMD refused to register the name (taken, or invalid).
    #[error("EPMD refused to register the name (result {0})")]
    Refused(u8),
    /// The request does not fit EPMD's 16-bit lengths (a name over 64 KiB): not sent.
    #[error(transparent)]
    Encode(#[from] epmd::msg::EncodeError),
    /// The reply goes on past what such a reply can hold: not an EPMD, or a broken one.
    #[error("EPMD at {addr}: the reply is longer than {max} bytes")]
    TooLong {
        /// Where EPMD was.
        addr: SocketAddr,
        /// The most such a reply may take.
        max: usize,
    },
}

/// The longest `PORT2_RESP`: a name and an extra field of 65 535 bytes each, and the fixed part.
const MAX_PORT2_REPLY: usize = 2 * 65_535 + 16;

/// The longest `NAMES_RESP` read: a few tens of thousands of nodes.
const MAX_NAMES_REPLY: usize = 1 << 20;

/// A client of one EPMD.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    addr: SocketAddr,
}

/// A registered name: EPMD keeps it while this connection stays open; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    /// The creation EPMD gave the node.
    pub creation: u32,
    _stream: TcpStream,
}

impl Client {
    /// A client of the EPMD at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr }
    }

    /// A client of the EPMD on this host's IPv4 loopback, as `erl_epmd` reaches the local one.
    pub fn localhost(port: u16) -> Client {
        Client::new(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
    }

    /// The EPMD address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn io(&self) -> impl Fn(io::Error) -> ClientError + '_ {
        move |source| ClientError::Io {
            addr: self.addr,
            source,
        }
    }

    async fn send(&self, request: &Request) -> Result<TcpStream, ClientError> {
        let bytes = request.encode()?;
        let mut stream = TcpStream::connect(self.addr).await.map_err(self.io())?;
        stream.set_nodelay(true).map_err(self.io())?;
        stream.write_all(&bytes).await.map_err(self.io())?;
        Ok(stream)
    }

    /// Sends a request and reads the reply until EPMD closes the connection, refusing a reply
    /// longer than `max` bytes (a peer that sends forever costs no more than that).
    pub async fn request(&self, request: &Request, max: usize) -> Result<Vec<u8>, ClientError> {
        let stream = self.send(request).await?;
        let mut reply = Vec::new();
        stream
            .take(max as u64 + 1)
            .read_to_end(&mut reply)
            .await
            .map_err(self.io())?;
        if reply.len() > max {
            return Err(ClientError::TooLong {
                addr: self.addr,
                max,
            });
        }
        Ok(reply)
    }

    /// `PORT_PLEASE2_REQ`: the node's port and versions, or `None` if it is not registered.
    pub async fn port_please(&self, name: &str) -> Result<Option<NodeInfo>, ClientError> {
        let reply = self
            .request(&Request::Port2(name.as_bytes().to_vec()), MAX_PORT2_REPLY)
            .await?;
        msg::parse_port2_reply(&reply).map_err(|source| ClientError::Reply {
            addr: self.addr,
            source,
        })
    }

    /// `NAMES_REQ`: EPMD's port and the `(name, port)` of each registered node.
    pub async fn names(&self) -> Result<(u32, Vec<(String, u16)>), ClientError> {
        let (port, text) = self.names_text().await?;
        let names = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("name ")?;
                let (name, port) = rest.rsplit_once(" at port ")?;
                Some((name.to_owned(), port.parse().ok()?))
            })
            .collect();
        Ok((port, names))
    }

    /// `NAMES_REQ`: EPMD's port and its text as sent.
    pub async fn names_text(&self) -> Result<(u32, String), ClientError> {
        let reply = self.request(&Request::Names, MAX_NAMES_REPLY).await?;
        let (port, text) = msg::parse_names_reply(&reply).map_err(|source| ClientError::Reply {
            addr: self.addr,
            source,
        })?;
        Ok((port, String::from_utf8_lossy(text).into_owned()))
    }

    /// `ALIVE2_REQ`: registers a node; the name stays registered while the result lives.
    pub async fn register(&self, info: NodeInfo) -> Result<Registration, ClientError> {
        let mut stream = self.send(&Request::Alive2(info)).await?;
        let mut reply = Vec::new();
        loop {
            if let Some((r, _)) =
                Alive2Reply::parse(&reply).map_err(|source| ClientError::Reply {
                    addr: self.addr,
                    source,
                })?
            {
                if r.result != 0 {
                    return Err(ClientError::Refused(r.result));
                }
                return Ok(Registration {
                    creation: r.creation,
                    _stream: stream,
                });
            }
            let mut chunk = [0u8; 16];
            match stream.read(&mut chunk).await.map_err(self.io())? {
                0 => {
                    return Err(ClientError::Reply {
                        addr: self.addr,
                        source: ReplyError::Truncated,
                    })
                }
                n => reply.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The addresses `epmd -names` and the other interactive commands try, in order: IPv6
/// loopback first, then IPv4 (`conn_to_epmd` in epmd_cli.c).
pub fn cli_addresses(port: u16) -> [SocketAddr; 2] {
    [
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
    ]
}
