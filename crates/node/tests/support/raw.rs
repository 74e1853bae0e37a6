//! A bare peer speaking the distribution protocol byte by byte, for what no well-behaved node
//! sends: it completes (or breaks off) the handshake with our own sans-IO state machine, then
//! writes whatever packets a test asks for, and reads only when told to.

#![allow(dead_code)]

use std::time::Duration;

use dist::{
    ControlMessage, DistFlags, DistMessage, Handshake, HandshakeConfig, Incoming, OutputCache,
    Reader, Writer,
};
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
    reader: Reader,
    /// Bytes read and not yet made into packets.
    input: Vec<u8>,
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
        let hs = Handshake::initiate(config, target.clone())?;
        let mut ok = |_: &Atom, _: u32| dist::Status::Ok;
        let (up, leftover) =
            net::dist::handshake(&mut stream, hs, &mut ok, Duration::from_secs(10)).await?;
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
            reader: Reader::default().for_flags(up.flags),
            input: leftover,
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

    /// The next message the node sends (ticks are skipped), or `None` if none comes within
    /// `within` or the connection closes.
    pub async fn recv(&mut self, within: Duration) -> Option<DistMessage> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Ok(Some((n, body))) =
                dist::packet::split_packet(&self.input, self.reader.max_message())
            {
                let incoming = self.reader.packet(body);
                self.input.drain(..n);
                match incoming {
                    Ok(Incoming::Message(m)) => return Some(m),
                    Ok(Incoming::Tick | Incoming::Partial) => {}
                    Err(e) => panic!("the node sent a packet we cannot read: {e}"),
                }
            }
            let read = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => self.input.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
    }

    /// The next message that `pick` accepts, skipping others (`None` as [`RawPeer::recv`]).
    pub async fn recv_matching(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&DistMessage) -> bool,
    ) -> Option<DistMessage> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.recv(left).await?;
            if pick(&m) {
                return Some(m);
            }
        }
    }

    /// Calls `erlang:node/0` through the node's `rex` and waits for the answer: every packet
    /// sent before has been read and handled once it comes. Whether it came within `within`.
    pub async fn round_trip(&mut self, within: Duration) -> bool {
        let from = self.pid(999);
        let tag = 0x5eed;
        let (control, call) = self.rex_call(&from, tag, "erlang", "node");
        self.send(&control, Some(&call)).await;
        let is_reply = |m: &DistMessage| matches!(&m.payload, Some(Term::Tuple(v)) if v.first() == Some(&Term::Integer(tag)));
        self.recv_matching(within, is_reply).await.is_some()
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

/// One framed packet: a 4-byte length, then `body`.
pub fn framed(body: Vec<u8>) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// The first fragment (`131, 69`) of message `sequence`, announcing `fragments` fragments in
/// all, with no atom cache references and `size` bytes of data: a packet ready to write.
pub fn first_fragment(sequence: u64, fragments: u64, size: usize) -> Vec<u8> {
    let mut body = vec![131, 69];
    body.extend_from_slice(&sequence.to_be_bytes());
    body.extend_from_slice(&fragments.to_be_bytes());
    body.push(0);
    body.resize(body.len() + size, 0x61);
    framed(body)
}

/// A later fragment (`131, 70`) of message `sequence`: fragment `id` with `size` bytes.
pub fn later_fragment(sequence: u64, id: u64, size: usize) -> Vec<u8> {
    let mut body = vec![131, 70];
    body.extend_from_slice(&sequence.to_be_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    body.resize(body.len() + size, 0x62);
    framed(body)
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
