//! The port mapper's logic, after `erts/epmd/src/epmd_srv.c` (`do_read`, `do_request`,
//! `node_reg2`, `node_unreg`): framing on each connection and the node table, with no sockets
//! and no clock. The driver reads at most [`Connection::read_limit`] bytes at a time, feeds
//! them to [`Connection::handle_data`], passes each complete packet to
//! [`Server::handle_request`], writes the reply and acts on what [`Reply`] says.
//!
//! ```
//! use rotp_epmd::msg::{NodeInfo, Request};
//! use rotp_epmd::server::{Config, Connection, Framed, Server};
//!
//! let mut server = Server::new(Config { port: 4369, relaxed_command_check: false, debug: 0 });
//! let mut conn = Connection::new(5, true);
//! let bytes = Request::Alive2(NodeInfo::new("drip", 45_000)).encode()?;
//!
//! // The socket gave the request in two reads.
//! assert_eq!(conn.handle_data(&bytes[..3]), Framed::Incomplete);
//! let Framed::Packet(packet) = conn.handle_data(&bytes[3..]) else { panic!("a whole packet") };
//! let reply = server.handle_request(&mut conn, &packet, 0);
//! assert_eq!(reply.registered.as_deref(), Some(&b"drip"[..]));
//! assert!(reply.keep); // the node's connection stays open while it lives
//! // `NAMES_REQ`'s reply: EPMD's port, then a line per node.
//! assert_eq!(server.names(), [&4369_u32.to_be_bytes()[..], b"name drip at port 45000\n"].concat());
//!
//! // The node's socket closes: the name is gone, and remembered for its next creation.
//! assert_eq!(server.connection_closed(5), Some(b"drip".to_vec()));
//! assert!(server.registered().is_empty());
//! # Ok::<(), rotp_epmd::msg::EncodeError>(())
//! ```

use std::collections::VecDeque;

use crate::msg::{self, Alive2Reply, NodeInfo};
use crate::utf8::count_chars;
use crate::MAX_SYMLEN;

/// The largest packet accepted, length prefix included, plus one (`INBUF_SIZE`).
pub const INBUF_SIZE: usize = 3 * MAX_SYMLEN;

/// How many unregistered names are remembered, so that a node that comes back gets a new
/// creation (`MAX_UNREG_COUNT`; `DEBUG_MAX_UNREG_COUNT` with `-d`).
pub const MAX_UNREG_COUNT: usize = 1000;
/// [`MAX_UNREG_COUNT`] when debugging is on.
pub const DEBUG_MAX_UNREG_COUNT: usize = 5;

/// Identifies a connection to the driver; the daemon uses the socket's file descriptor, which is
/// also what `DUMP_REQ` prints.
pub type ConnId = i64;

/// Per-connection packet framing (`do_read` in epmd_srv.c).
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    local_peer: bool,
    buf: Vec<u8>,
    want: usize,
    keep: bool,
}

/// What a connection's bytes amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, without its length prefix.
    Packet(Vec<u8>),
    /// Close the connection: a bad length, more bytes than the length said, or (on a connection
    /// that registered a node) any byte at all, which also unregisters the node.
    Close(&'static str),
}

impl Connection {
    /// A new connection; `local_peer` is `conn_local_peer_check`: the peer is on a loopback
    /// address or on this host's own address.
    pub fn new(id: ConnId, local_peer: bool) -> Connection {
        Connection {
            id,
            local_peer,
            buf: Vec::new(),
            want: 0,
            keep: false,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Whether the peer is local (may register, dump, kill and stop).
    pub fn is_local(&self) -> bool {
        self.local_peer
    }

    /// Whether this connection registered a node and stays open until the node goes away (no
    /// packet timeout applies).
    pub fn keeps_alive(&self) -> bool {
        self.keep
    }

    /// How many bytes to read next: the rest of the packet when its length is known, else up to
    /// a full buffer, as OTP reads. Reading no more than this is what makes "more bytes than the
    /// length said" detectable exactly as OTP detects it.
    pub fn read_limit(&self) -> usize {
        if self.keep {
            return INBUF_SIZE;
        }
        let pack_size = if self.want > 0 {
            self.want
        } else {
            INBUF_SIZE - 1
        };
        pack_size - self.buf.len()
    }

    /// Feeds bytes read from the socket (never more than [`Connection::read_limit`]).
    pub fn handle_data(&mut self, data: &[u8]) -> Framed {
        if self.keep {
            return Framed::Close("got more than expected on ALIVE socket");
        }
        self.buf.extend_from_slice(data);
        if self.want == 0 && self.buf.len() >= 2 {
            self.want = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]])) + 2;
            if self.want < 3 || self.want >= INBUF_SIZE {
                return Framed::Close("invalid packet size");
            }
            if self.buf.len() > self.want {
                return Framed::Close("got more bytes in packet than expected");
            }
        }
        if self.want > 0 && self.want == self.buf.len() {
            let packet = self.buf[2..].to_vec();
            self.buf.clear();
            self.want = 0;
            return Framed::Packet(packet);
        }
        Framed::Incomplete
    }
}

/// The daemon's settings that change its answers.
#[derive(Clone, Debug)]
pub struct Config {
    /// The port EPMD listens on; `NAMES_REQ` and `DUMP_REQ` replies start with it.
    pub port: u16,
    /// `-relaxed_command_check` / `ERL_EPMD_RELAXED_COMMAND_CHECK`: allow `KILL_REQ` with live
    /// nodes, and `STOP_REQ` at all.
    pub relaxed_command_check: bool,
    /// How many times `-d` was given: with any, fewer unregistered names are remembered; the
    /// level also decides which log lines a [`Reply`] carries.
    pub debug: u8,
}

/// What to do after a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// Bytes to write back (possibly none).
    pub bytes: Vec<u8>,
    /// Keep the connection open after writing: it registered a node. If writing fails the
    /// driver must call [`Server::unregister_name`] with [`Reply::registered`].
    pub keep: bool,
    /// The name this request registered.
    pub registered: Option<Vec<u8>>,
    /// Close this other connection (the one whose node `STOP_REQ` unregistered).
    pub close: Option<ConnId>,
    /// Exit the daemon with status 0 after writing (`KILL_REQ` accepted).
    pub exit: bool,
    /// What OTP's epmd logs about this request at the configured debug level, each line with
    /// the level it needs.
    pub log: Vec<(u8, String)>,
    /// The configured debug level: lines above it are not even formatted.
    debug: u8,
}

impl Reply {
    fn new(debug: u8) -> Reply {
        Reply {
            debug,
            ..Reply::default()
        }
    }

    fn log(self, level: u8, line: &'static str) -> Reply {
        self.log_with(level, || line.to_owned())
    }

    fn log_with(mut self, level: u8, line: impl FnOnce() -> String) -> Reply {
        if level <= self.debug {
            self.log.push((level, line()));
        }
        self
    }
}

/// A registered (or remembered) node (`struct enode`).
#[derive(Clone, Debug)]
pub struct Node {
    /// The connection that registered it.
    pub conn: ConnId,
    /// What the node registered.
    pub info: NodeInfo,
    /// The creation counter (`cr_counter`).
    creation_counter: u32,
}

impl Node {
    /// The creation handed out for this registration (`get_creation`): the 32-bit counter for
    /// nodes of version 6 and later, 1..=3 for older ones.
    pub fn creation(&self) -> u32 {
        if self.info.highest_version >= 6 {
            self.creation_counter
        } else {
            self.creation_counter % 3 + 1
        }
    }

    fn bump_creation(&mut self) {
        self.creation_counter = self.creation_counter.wrapping_add(1).max(4);
    }
}

/// The node table and request handling of one daemon.
#[derive(Debug)]
pub struct Server {
    config: Config,
    /// Registered nodes, most recent first (as epmd_srv.c links them in).
    reg: Vec<Node>,
    /// Unregistered names, oldest first.
    unreg: VecDeque<Node>,
    /// Requests handled, by kind.
    requests: RequestCounts,
}

/// Requests a daemon has handled, by kind (refused ones included), for its metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// `ALIVE2_REQ`.
    pub alive2: u64,
    /// `PORT_PLEASE2_REQ`.
    pub port_please2: u64,
    /// `NAMES_REQ`.
    pub names: u64,
    /// `DUMP_REQ`.
    pub dump: u64,
    /// `KILL_REQ`.
    pub kill: u64,
    /// `STOP_REQ`.
    pub stop: u64,
    /// Anything else (epmd's "got garbage").
    pub other: u64,
}

impl RequestCounts {
    /// Each kind by the name of its request, as OTP's `erl_epmd` and epmd's debug log call
    /// them.
    pub fn by_kind(&self) -> [(&'static str, u64); 7] {
        [
            ("alive2_req", self.alive2),
            ("port_please2_req", self.port_please2),
            ("names_req", self.names),
            ("dump_req", self.dump),
            ("kill_req", self.kill),
            ("stop_req", self.stop),
            ("other", self.other),
        ]
    }

    fn count(&mut self, code: Option<u8>) {
        let slot = match code {
            Some(msg::ALIVE2_REQ) => &mut self.alive2,
            Some(msg::PORT_PLEASE2_REQ) => &mut self.port_please2,
            Some(msg::NAMES_REQ) => &mut self.names,
            Some(msg::DUMP_REQ) => &mut self.dump,
            Some(msg::KILL_REQ) => &mut self.kill,
            Some(msg::STOP_REQ) => &mut self.stop,
            _ => &mut self.other,
        };
        *slot += 1;
    }
}

impl Server {
    /// A daemon with an empty table.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            reg: Vec::new(),
            unreg: VecDeque::new(),
            requests: RequestCounts::default(),
        }
    }

    /// The requests handled so far, by kind.
    pub fn requests(&self) -> &RequestCounts {
        &self.requests
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Registered nodes, most recently registered first.
    pub fn registered(&self) -> &[Node] {
        &self.reg
    }

    /// Handles one complete request from `conn`. `now_secs` is the wall clock in seconds
    /// (creation numbers start from it).
    pub fn handle_request(&mut self, conn: &mut Connection, packet: &[u8], now_secs: u64) -> Reply {
        let reply = Reply::new(self.config.debug);
        self.requests.count(packet.first().copied());
        let Some(&code) = packet.first() else {
            return reply.log(0, "got garbage ");
        };
        let debug = self.config.debug;
        let local_only =
            |what: &str| Reply::new(debug).log_with(0, || format!("{what} from non local address"));
        match code {
            msg::ALIVE2_REQ if !conn.local_peer => local_only("ALIVE2_REQ"),
            msg::ALIVE2_REQ => self.alive2(conn, packet, now_secs),
            msg::PORT_PLEASE2_REQ => self.port_please2(packet),
            msg::NAMES_REQ => Reply {
                bytes: self.names(),
                ..reply.log(1, "** got NAMES_REQ")
            }
            .log(1, "** sent NAMES_RESP"),
            msg::DUMP_REQ if !conn.local_peer => local_only("DUMP_REQ"),
            msg::DUMP_REQ => Reply {
                bytes: self.dump(),
                ..reply.log(1, "** got DUMP_REQ")
            }
            .log(1, "** sent DUMP_RESP"),
            msg::KILL_REQ if !conn.local_peer => local_only("KILL_REQ"),
            msg::KILL_REQ if !self.config.relaxed_command_check && !self.reg.is_empty() => Reply {
                bytes: b"NO".to_vec(),
                ..reply.log(0, "Disallowed KILL_REQ, live nodes")
            },
            msg::KILL_REQ => Reply {
                bytes: b"OK".to_vec(),
                exit: true,
                ..reply.log(1, "epmd killed")
            },
            msg::STOP_REQ if !conn.local_peer => local_only("STOP_REQ"),
            msg::STOP_REQ if !self.config.relaxed_command_check => {
                reply.log(0, "Disallowed STOP_REQ, no relaxed_command_check")
            }
            msg::STOP_REQ if packet.len() <= 1 => {
                reply.log(0, "packet too small for request STOP_REQ")
            }
            msg::STOP_REQ => {
                // The name is a C string: it ends at the first NUL, if any.
                let name = &packet[1..];
                let name = name.split(|&b| b == 0).next().unwrap_or(name);
                let mut reply = reply;
                match self.unregister_name(name) {
                    None => reply.bytes.extend_from_slice(b"NOEXIST"),
                    Some(conn) => reply.close = Some(conn),
                }
                // epmd_srv.c sends STOPPED after NOEXIST too; clients read the first 7 bytes.
                reply.bytes.extend_from_slice(b"STOPPED");
                reply.log(1, "** sent STOP_RESP")
            }
            _ => reply.log(0, "got garbage "),
        }
    }

    fn alive2(&mut self, conn: &mut Connection, b: &[u8], now_secs: u64) -> Reply {
        let reply = Reply::new(self.config.debug).log(1, "** got ALIVE2_REQ");
        if b.len() <= 13 {
            return reply.log_with(0, || {
                format!("packet to small for request ALIVE2_REQ ({})", b.len())
            });
        }
        let u16_at = |at: usize| usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
        let name_len = u16_at(9);
        if name_len + 13 > b.len() {
            return reply.log(0, "Node name size error in ALIVE2_REQ");
        }
        let extra_len = u16_at(11 + name_len);
        if extra_len + name_len + 13 > b.len() {
            return reply.log(0, "Extra info size error in ALIVE2_REQ");
        }
        let name = &b[11..11 + name_len];
        if name.contains(&0) {
            return reply.log(0, "node name contains ascii 0 in ALIVE2_REQ");
        }
        let info = NodeInfo {
            port: u16_at(1) as u16,
            node_type: b[3],
            protocol: b[4],
            highest_version: u16_at(5) as u16,
            lowest_version: u16_at(7) as u16,
            name: name.to_vec(),
            extra: b[13 + name_len..13 + name_len + extra_len].to_vec(),
        };
        let highest_version = info.highest_version;
        let (registered, mut reply) = match self.register(conn.id, info, now_secs) {
            Ok(creation) => (
                Some(name.to_vec()),
                Reply {
                    bytes: Alive2Reply {
                        result: 0,
                        creation,
                    }
                    .encode(highest_version),
                    ..reply
                }
                .log_with(1, || {
                    format!("registering '{}:{creation}'", String::from_utf8_lossy(name))
                }),
            ),
            Err(why) => (
                None,
                Reply {
                    bytes: Alive2Reply {
                        result: 1,
                        creation: 99,
                    }
                    .encode(highest_version),
                    ..reply
                }
                .log_with(0, || why),
            ),
        };
        // As in epmd_srv.c, the connection is kept open even when the registration failed.
        conn.keep = true;
        reply.keep = true;
        reply.registered = registered;
        reply.log_with(1, || {
            format!(
                "** sent ALIVE2_RESP for \"{}\"",
                String::from_utf8_lossy(name)
            )
        })
    }

    /// `node_reg2`: registers a name; the creation, or why not.
    fn register(&mut self, conn: ConnId, info: NodeInfo, now_secs: u64) -> Result<u32, String> {
        let shown = String::from_utf8_lossy(&info.name).into_owned();
        if info.name.len() > MAX_SYMLEN {
            return Err(format!(
                "node name is too long ({}) {shown}",
                info.name.len()
            ));
        }
        match count_chars(&info.name) {
            None => return Err("invalid node name encoding".to_owned()),
            Some(n) if n > 255 => {
                return Err(format!(
                    "node name is too long ({}) {shown}",
                    info.name.len()
                ))
            }
            Some(_) => {}
        }
        if info.extra.len() > MAX_SYMLEN {
            return Err(format!("extra data is too long ({})", info.extra.len()));
        }
        if self.reg.iter().any(|n| n.info.name == info.name) {
            return Err(format!("node name already occupied {shown}"));
        }
        let limit = if self.config.debug > 0 {
            DEBUG_MAX_UNREG_COUNT
        } else {
            MAX_UNREG_COUNT
        };
        let mut node = if let Some(at) = self.unreg.iter().position(|n| n.info.name == info.name) {
            let mut node = self.unreg.remove(at).expect("position is in range");
            node.bump_creation();
            node
        } else if self.unreg.len() > limit {
            // Reuse the oldest remembered slot; like epmd_srv.c, its counter carries over.
            self.unreg
                .pop_front()
                .expect("the list is longer than the limit")
        } else {
            let mut node = Node {
                conn,
                info: info.clone(),
                creation_counter: now_secs as u32,
            };
            node.bump_creation();
            node
        };
        node.conn = conn;
        node.info = info;
        let creation = node.creation();
        self.reg.insert(0, node);
        Ok(creation)
    }

    /// `node_unreg`: unregisters a name; the connection that had registered it.
    pub fn unregister_name(&mut self, name: &[u8]) -> Option<ConnId> {
        let at = self.reg.iter().position(|n| n.info.name == name)?;
        Some(self.forget(at))
    }

    /// `node_unreg_sock`: the connection that registered a node closed (or misbehaved).
    pub fn connection_closed(&mut self, conn: ConnId) -> Option<Vec<u8>> {
        let at = self.reg.iter().position(|n| n.conn == conn)?;
        let name = self.reg[at].info.name.clone();
        self.forget(at);
        Some(name)
    }

    fn forget(&mut self, at: usize) -> ConnId {
        let node = self.reg.remove(at);
        let conn = node.conn;
        self.unreg.push_back(node);
        conn
    }

    fn port_please2(&self, b: &[u8]) -> Reply {
        let reply = Reply::new(self.config.debug).log(1, "** got PORT2_REQ");
        let name = match b {
            [_, name @ .., 0] => name,
            [_, name @ ..] => name,
            [] => &[][..],
        };
        if name.is_empty() {
            return reply.log(0, "packet too small for request PORT2_REQ");
        }
        if name.contains(&0) {
            return reply.log(0, "node name contains ascii 0 in PORT2_REQ");
        }
        match count_chars(name) {
            Some(1..=255) => {}
            _ => return reply.log(0, "invalid node name in PORT2_REQ"),
        }
        let node = self
            .reg
            .iter()
            .find(|n| n.info.name == name)
            .map(|n| &n.info);
        let sent = if node.is_some() { "ok" } else { "error" };
        Reply {
            // A registered name and its extra data came in a request's 16-bit lengths: they
            // always fit the reply's.
            bytes: msg::encode_port2_reply(node).unwrap_or_else(|_| vec![msg::PORT2_RESP, 1]),
            ..reply
        }
        .log_with(1, || {
            format!(
                "** sent PORT2_RESP ({sent}) for \"{}\"",
                String::from_utf8_lossy(name)
            )
        })
    }

    /// The `NAMES_REQ` reply: EPMD's port, then `name N at port P\n` per registered node.
    pub fn names(&self) -> Vec<u8> {
        let mut out = u32::from(self.config.port).to_be_bytes().to_vec();
        for node in &self.reg {
            out.extend_from_slice(b"name ");
            out.extend_from_slice(&node.info.name);
            out.extend_from_slice(format!(" at port {}\n", node.info.port).as_bytes());
        }
        out
    }

    /// The `DUMP_REQ` reply: EPMD's port, then a NUL-terminated line per registered and per
    /// remembered node.
    pub fn dump(&self) -> Vec<u8> {
        let mut out = u32::from(self.config.port).to_be_bytes().to_vec();
        for node in &self.reg {
            out.extend_from_slice(b"active name     <");
            out.extend_from_slice(&node.info.name);
            out.extend_from_slice(
                format!("> at port {}, fd = {}\n\0", node.info.port, node.conn).as_bytes(),
            );
        }
        for node in &self.unreg {
            out.extend_from_slice(b"old/unused name <");
            out.extend_from_slice(&node.info.name);
            out.extend_from_slice(
                format!(">, port = {}, fd = {} \n\0", node.info.port, node.conn).as_bytes(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Request;

    fn server() -> Server {
        Server::new(Config {
            port: 4369,
            relaxed_command_check: false,
            debug: 0,
        })
    }

    fn request(server: &mut Server, conn: &mut Connection, req: Request) -> Reply {
        let bytes = req.encode().unwrap();
        match conn.handle_data(&bytes) {
            Framed::Packet(p) => server.handle_request(conn, &p, 1_700_000_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_name_comes_back_with_a_new_creation() {
        let mut s = server();
        let mut c = Connection::new(5, true);
        let r = request(&mut s, &mut c, Request::Alive2(NodeInfo::new("a", 1000)));
        let (first, _) = Alive2Reply::parse(&r.bytes).unwrap().unwrap();
        assert_eq!(first.result, 0);
        assert!(c.keeps_alive());
        // Taken while registered.
        let mut c2 = Connection::new(6, true);
        let r = request(&mut s, &mut c2, Request::Alive2(NodeInfo::new("a", 1001)));
        assert_eq!(r.bytes, [118, 1, 0, 0, 0, 99]);
        assert_eq!(s.connection_closed(5), Some(b"a".to_vec()));
        let mut c3 = Connection::new(7, true);
        let r = request(&mut s, &mut c3, Request::Alive2(NodeInfo::new("a", 1002)));
        let (second, _) = Alive2Reply::parse(&r.bytes).unwrap().unwrap();
        assert_eq!(second.creation, first.creation + 1);
    }

    #[test]
    fn remote_peers_may_only_ask() {
        let mut s = server();
        let mut c = Connection::new(5, false);
        let r = request(&mut s, &mut c, Request::Alive2(NodeInfo::new("a", 1000)));
        assert!(r.bytes.is_empty() && !r.keep);
        let mut c = Connection::new(6, false);
        assert_eq!(
            request(&mut s, &mut c, Request::Names).bytes,
            [0, 0, 0x11, 0x11]
        );
    }

    #[test]
    fn framing_rejects_bad_sizes_and_overlong_packets() {
        let mut c = Connection::new(1, true);
        assert_eq!(c.handle_data(&[0, 0]), Framed::Close("invalid packet size"));
        let mut c = Connection::new(1, true);
        assert_eq!(
            c.handle_data(&[0x0b, 0xf2]),
            Framed::Close("invalid packet size")
        );
        let mut c = Connection::new(1, true);
        assert!(matches!(c.handle_data(&[0, 1, 110, 7]), Framed::Close(_)));
        let mut c = Connection::new(1, true);
        assert_eq!(c.handle_data(&[0]), Framed::Incomplete);
        assert_eq!(c.read_limit(), INBUF_SIZE - 2);
        assert_eq!(c.handle_data(&[2]), Framed::Incomplete);
        assert_eq!(c.read_limit(), 2);
        assert_eq!(c.handle_data(&[122, b'x']), Framed::Packet(vec![122, b'x']));
    }
}
