//! A bare peer speaking the distribution protocol byte by byte, for what no well-behaved node
//! sends: it completes (or breaks off) the handshake with our own sans-IO state machine, then
//! writes whatever packets a test asks for, and reads only when told to.

#![allow(dead_code)]

use std::time::Duration;

use dist::{ControlMessage, DistFlags, Handshake, HandshakeConfig, OutputCache, Writer};
use etf::{Atom, Pid, Term};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connected peer that has proved the cookie.
pub struct RawPeer {
    pub tcp: TcpStream,
    pub name: Atom,
    pub creation: u32,
    pub flags: DistFlags,
    writer: Writer,
    cache: OutputCache,
}

/// Who a raw peer says it is.
pub fn config(name: &str, cookie: &str) -> HandshakeConfig {
    HandshakeConfig {
        name: Atom::from(name),
        creation: 0x0bad_cafe,
        flags: DistFlags::DEFAULT,
        hidden: true,
        required: DistFlags::REQUIRED,
        cookie: dist::Cookie::new(cookie),
        challenge: 0x1234_5678,
    }
}

/// Opens a TCP connection to the node listening on `port`.
pub async fn tcp(port: u16) -> TcpStream {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the node");
    tcp.set_nodelay(true).unwrap();
    tcp
}

impl RawPeer {
    /// Connects to the node `target` listening on `port` and completes the handshake as
    /// `config` says.
    pub async fn connect(port: u16, target: &Atom, config: HandshakeConfig) -> RawPeer {
        Self::try_connect(port, target, config)
            .await
            .expect("handshake")
    }

    /// [`RawPeer::connect`], or why the handshake failed.
    pub async fn try_connect(
        port: u16,
        target: &Atom,
        config: HandshakeConfig,
    ) -> Result<RawPeer, net::dist::DistIoError> {
        let name = config.name.clone();
        let creation = config.creation;
        let mut stream = net::dist::DistStream::from(tcp(port).await);
        let hs = Handshake::initiate(config, target.clone());
        let mut ok = |_: &Atom, _: u32| dist::Status::Ok;
        let (up, leftover) =
            net::dist::handshake(&mut stream, hs, &mut ok, Duration::from_secs(10)).await?;
        assert!(leftover.is_empty());
        let net::dist::DistStream::Tcp(tcp) = stream else {
            unreachable!("plain TCP")
        };
        Ok(RawPeer {
            tcp,
            name,
            creation,
            flags: up.flags,
            writer: Writer::new(up.flags),
            cache: OutputCache::default(),
        })
    }

    /// A pid of this peer's node.
    pub fn pid(&self, id: u32) -> Pid {
        Pid {
            node: self.name.clone(),
            id,
            serial: 0,
            creation: self.creation,
        }
    }

    /// The packets for a control message and its payload, as the peer's writer frames them.
    pub fn packets(&mut self, control: &ControlMessage, payload: Option<&Term>) -> Vec<u8> {
        let mut out = Vec::new();
        self.writer
            .write(control, payload, &mut self.cache, &mut out)
            .expect("encodable");
        out
    }

    /// Writes a control message and its payload.
    pub async fn send(&mut self, control: &ControlMessage, payload: Option<&Term>) {
        let bytes = self.packets(control, payload);
        self.send_raw(&bytes).await;
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.tcp.write_all(bytes).await;
    }

    /// `{'$gen_call', {From, Tag}, {call, M, F, Args, user}}` to `rex`, as `rpc:call` sends it.
    pub fn rex_call(
        &self,
        from: &Pid,
        tag: i64,
        module: &str,
        function: &str,
    ) -> (ControlMessage, Term) {
        let call = Term::Tuple(vec![
            Term::atom("$gen_call"),
            Term::Tuple(vec![Term::Pid(from.clone()), Term::Integer(tag)]),
            Term::Tuple(vec![
                Term::atom("call"),
                Term::atom(module),
                Term::atom(function),
                Term::NIL,
                Term::atom("user"),
            ]),
        ]);
        let control = ControlMessage::RegSend {
            from: from.clone(),
            to: Atom::from("rex"),
            token: None,
        };
        (control, call)
    }

    /// Reads and drops what the node sends until it closes the connection: whether it did
    /// within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        closed_within(&mut self.tcp, within).await
    }
}

/// Reads and drops what comes on `tcp` until the other side closes it (or resets it): whether
/// it did within `within`.
pub async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// This test process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// This test process's threads.
pub fn threads() -> usize {
    status_field("Threads:")
}

/// This test process's resident memory, in KiB.
pub fn resident_kib() -> usize {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
