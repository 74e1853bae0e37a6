//! The node's connections to other nodes: set-up in both directions (with `net_kernel`'s
//! simultaneous-connect rules) and the table of live connections. The runtime's signals to
//! remote processes become control messages in `remote_link.rs`; host addresses are cached in
//! `hosts.rs`.
//!
//! A connection is made on first use, as erts auto-connects: the first signal to a node opens
//! a pending entry whose outbound queue fills while the handshake runs and is handed to the
//! connection that comes up (ours, or the peer's in a simultaneous connect). If none does,
//! the queue is dropped and links and monitors towards the node fire with `noconnection`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dist::{ControlMessage, DistFlags, Established, Handshake, HandshakeError, Status};
use etf::{Atom, Pid, Term};
use net::dist::{DistStream, Outbox};
use runtime::ExitReason;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::node::Inner;
use crate::unreachable::Unreachable;

/// One entry in the connection table.
pub(crate) struct Conn {
    /// What senders queue for the peer; handed to the connection that comes up.
    pub(crate) outbox: Arc<Outbox>,
    /// Which attempt (outgoing or accepted) owns the entry.
    pub(crate) owner: u64,
    pub(crate) state: ConnState,
}

pub(crate) enum ConnState {
    /// Handshaking; the queue waits for whichever connection comes up (`claimed` once one
    /// has).
    Pending { claimed: bool },
    /// Up.
    Up(Up),
}

/// A live connection.
#[derive(Clone)]
pub(crate) struct Up {
    pub(crate) flags: DistFlags,
    pub(crate) hidden: bool,
}

/// The connection table.
pub(crate) struct Connections {
    pub(crate) table: Mutex<HashMap<Atom, Conn>>,
    next_owner: AtomicU64,
    /// Woken whenever an entry comes up or goes away.
    pub(crate) changed: tokio::sync::Notify,
    /// Host names already resolved (as `inet_db` caches them): bounded, aged, and forgotten
    /// when a connection to the address fails.
    pub(crate) hosts: crate::hosts::HostCache,
    /// Handshakes with peers that connected to us and have not proved the cookie yet, oldest
    /// first: dropping an entry's sender ends that handshake.
    accepting: Mutex<std::collections::VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>>,
    /// Refused connection attempts, logged at a bounded rate.
    pub(crate) refusals: crate::log::RateLimited,
    /// Handshakes refused for a bad cookie or missing flags, by the peer's address (at most
    /// [`MAX_REFUSED_ADDRESSES`] addresses; the rest are counted under the unspecified one).
    refused_by: Mutex<HashMap<std::net::IpAddr, u64>>,
    /// Why our last attempt to each of the last [`MAX_FAILURES`] nodes failed
    /// ([`crate::Node::connect_or_why`]).
    pub(crate) failures: Mutex<lru::LruCache<Atom, Unreachable>>,
}

/// How long looking a host's name up may take.
const RESOLVE_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// How many nodes' last failures are kept.
const MAX_FAILURES: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(64) {
    Some(n) => n,
    None => unreachable!(),
};

/// How many peer addresses the refusal counts keep apart.
const MAX_REFUSED_ADDRESSES: usize = 1024;

impl Default for Connections {
    fn default() -> Self {
        Connections {
            table: Mutex::default(),
            next_owner: AtomicU64::default(),
            changed: tokio::sync::Notify::new(),
            hosts: crate::hosts::HostCache::default(),
            accepting: Mutex::default(),
            refusals: crate::log::RateLimited::default(),
            refused_by: Mutex::default(),
            failures: Mutex::new(lru::LruCache::new(MAX_FAILURES)),
        }
    }
}

/// At most this many peers that connected to us may be in their handshake at once: each costs a
/// task and a few kilobytes until it proves the cookie or `net_setuptime` passes. One more
/// ends the oldest, which has had the longest to finish: a stranger holding many silent
/// connections open cannot lock out a real peer, whose handshake takes a millisecond.
pub(crate) const MAX_ACCEPTING: usize = 256;

impl Conn {
    /// The queue, for the connection that comes up first; `None` once claimed or up.
    fn claim(&mut self) -> Option<Arc<Outbox>> {
        match &mut self.state {
            ConnState::Pending { claimed } if !*claimed => {
                *claimed = true;
                Some(self.outbox.clone())
            }
            _ => None,
        }
    }
}

impl Connections {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Atom, Conn>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes read and written by the connections up now (`erlang:statistics(io)`; a closed
    /// connection's bytes go with it).
    pub(crate) fn io_bytes(&self) -> (u64, u64) {
        self.lock().values().fold((0, 0), |(i, o), c| {
            let stats = c.outbox.stats();
            (
                i + stats.bytes_in.load(Ordering::Relaxed),
                o + stats.bytes_out.load(Ordering::Relaxed),
            )
        })
    }

    /// Refused handshakes by peer address (`rotp_connections_refused_total{peer_address}`).
    pub(crate) fn refused_by(&self) -> Vec<(std::net::IpAddr, u64)> {
        let mut v: Vec<_> = self
            .refused_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(a, n)| (*a, *n))
            .collect();
        v.sort();
        v
    }

    fn count_refusal(&self, from: Option<std::net::IpAddr>) {
        let mut by = self.refused_by.lock().unwrap_or_else(|e| e.into_inner());
        let unspecified = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        let mut key = from.unwrap_or(unspecified);
        if by.len() >= MAX_REFUSED_ADDRESSES && !by.contains_key(&key) {
            key = unspecified;
        }
        *by.entry(key).or_default() += 1;
    }

    pub(crate) fn next_owner(&self) -> u64 {
        self.next_owner.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Inner {
    /// Queues a control message for `node`, connecting first if `connect` and there is no
    /// connection; `false` if it could not be queued.
    pub(crate) fn send_control(
        self: &Arc<Self>,
        node: &Atom,
        control: ControlMessage,
        payload: Option<Term>,
        connect: bool,
    ) -> bool {
        let Some(outbox) = self.route(node, connect) else {
            return false;
        };
        // A term that cannot be encoded is dropped; nothing else is lost.
        outbox.send(control, payload).is_ok()
    }

    /// [`Inner::send_control`] for a process's own message: when the connection is busy (over
    /// [`net::dist::BUSY_LIMIT`] bytes queued) the sender is to wait for it to drain, as erts
    /// suspends a process sending to a busy distribution port: the wait is returned, for the
    /// process to await. The node's own control messages never wait (that could deadlock two
    /// nodes whose buffers are both full).
    pub(crate) fn send_from_process(
        self: &Arc<Self>,
        node: &Atom,
        control: ControlMessage,
        payload: Option<Term>,
    ) -> Option<runtime::Busy> {
        let outbox = self.route(node, true)?;
        // A term that cannot be encoded is dropped; nothing else is lost.
        let _ = outbox.send(control, payload);
        outbox.busy().then(|| {
            Box::pin(async move { outbox.stats().backlog.drained().await }) as runtime::Busy
        })
    }

    /// The queue to `node`'s connection; with `connect`, opened (and the connection attempt
    /// started) if there is none.
    pub(crate) fn sender(self: &Arc<Self>, node: &Atom, connect: bool) -> Option<Arc<Outbox>> {
        self.route(node, connect)
    }

    /// The queue to `node`'s connection.
    fn route(self: &Arc<Self>, node: &Atom, connect: bool) -> Option<Arc<Outbox>> {
        if node == self.runtime.node() {
            return None;
        }
        let mut table = self.conns.lock();
        if let Some(conn) = table.get(node) {
            return Some(conn.outbox.clone());
        }
        if !connect || *self.down.borrow() {
            return None;
        }
        let outbox = Arc::new(Outbox::new());
        let owner = self.conns.next_owner();
        table.insert(
            node.clone(),
            Conn {
                outbox: outbox.clone(),
                owner,
                state: ConnState::Pending { claimed: false },
            },
        );
        let inner = self.clone();
        let peer = node.clone();
        tokio::spawn(async move { inner.connect(peer, owner).await });
        Some(outbox)
    }

    /// The flags of the live connection to `node`.
    pub(crate) fn flags(&self, node: &Atom) -> Option<DistFlags> {
        match &self.conns.lock().get(node)?.state {
            ConnState::Up(up) => Some(up.flags),
            ConnState::Pending { .. } => None,
        }
    }

    fn handshake_config(&self) -> dist::HandshakeConfig {
        let mut challenge = [0u8; 4];
        let _ = getrandom::fill(&mut challenge);
        dist::HandshakeConfig {
            name: self.runtime.node().clone(),
            creation: self.runtime.creation(),
            flags: DistFlags::DEFAULT,
            hidden: self.hidden,
            required: DistFlags::REQUIRED,
            cookie: self.cookie.clone(),
            challenge: u32::from_be_bytes(challenge),
        }
    }

    /// Our attempt to connect to `peer`.
    async fn connect(self: Arc<Self>, peer: Atom, owner: u64) {
        let span = tracing::info_span!("dist_connect", peer = %peer);
        let result = tracing::Instrument::instrument(self.try_connect(&peer, owner), span).await;
        match result {
            Ok((stream, up, leftover)) => {
                let outbox = {
                    let mut table = self.conns.lock();
                    match table.get_mut(&peer) {
                        Some(conn) if conn.owner == owner => conn.claim(),
                        _ => None,
                    }
                };
                match outbox {
                    Some(outbox) => self.clone().run(stream, up, leftover, outbox, owner),
                    // The peer's own attempt won the race: ours just closes.
                    None => drop(stream),
                }
            }
            Err(Failed::Nok) => {
                // The peer's own attempt to us wins (dist_util: the initiator that gets `nok`
                // waits for it). Keep the queue for it; give up only if it never comes.
                tokio::time::sleep(net::dist::SETUP_TIME).await;
                let stale = self.conns.lock().get(&peer).is_some_and(|c| {
                    c.owner == owner && matches!(c.state, ConnState::Pending { .. })
                });
                if stale {
                    tracing::debug!("connection to {peer}: refused with nok and never replaced");
                    self.forget(&peer, owner);
                }
            }
            Err(Failed::Other(e)) => {
                // erl says nothing of a failed auto-connect either: the caller sees `pang`,
                // `noconnection` ([`crate::Node::connect_or_why`] tells why).
                tracing::debug!("connection to {peer} failed: {e}");
                self.conns
                    .failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .put(peer.clone(), e);
                self.forget(&peer, owner);
            }
        }
    }

    /// Our set-up of a connection to `peer`, every step of it — the host's address, EPMD's
    /// answer, the TCP and TLS connects and the handshake — within `net_setuptime` in all, as
    /// erts times the whole set-up, so a host whose EPMD or node never answers cannot leave
    /// the connection pending (and what is queued for it waiting) for ever.
    async fn try_connect(
        self: &Arc<Self>,
        peer: &Atom,
        owner: u64,
    ) -> Result<(DistStream, Established, Vec<u8>), Failed> {
        let deadline = Instant::now() + net::dist::SETUP_TIME;
        match tokio::time::timeout_at(deadline, self.set_up(peer, owner, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(Failed::Other(Unreachable::Timeout {
                node: peer.to_string(),
                seconds: net::dist::SETUP_TIME.as_secs(),
            })),
        }
    }

    async fn set_up(
        self: &Arc<Self>,
        peer: &Atom,
        owner: u64,
        deadline: Instant,
    ) -> Result<(DistStream, Established, Vec<u8>), Failed> {
        let node = || peer.to_string();
        let (alive, host) = crate::name::split(peer.as_str())
            .ok_or_else(|| Failed::Other(Unreachable::BadName(node())))?;
        let ip = self.resolve(host).await.map_err(|error| {
            Failed::Other(Unreachable::Resolve {
                host: host.to_owned(),
                error,
            })
        })?;
        let addr = std::net::SocketAddr::new(ip, self.epmd_port);
        // A host that does not answer at its address may have moved: it is looked up again
        // next time.
        let moved = |e: Unreachable| {
            self.conns.hosts.forget(host);
            Failed::Other(e)
        };
        let epmd = net::epmd::Client::new(addr);
        let unanswered = |e: net::epmd::ClientError| Unreachable::Epmd {
            host: host.to_owned(),
            port: self.epmd_port,
            error: e.to_string(),
        };
        let Some(info) = epmd
            .port_please(alive)
            .await
            .map_err(|e| moved(unanswered(e)))?
        else {
            let names = epmd.names().await.map_or_else(
                |_| Vec::new(),
                |(_, names)| names.into_iter().map(|(name, _)| name).collect(),
            );
            return Err(Failed::Other(Unreachable::NotRegistered {
                name: alive.to_owned(),
                host: host.to_owned(),
                names,
            }));
        };
        let tcp = TcpStream::connect((addr.ip(), info.port))
            .await
            .map_err(|e| {
                moved(Unreachable::Port {
                    name: alive.to_owned(),
                    host: host.to_owned(),
                    port: info.port,
                    error: e.to_string(),
                })
            })?;
        let failed = |error: String| {
            Failed::Other(Unreachable::Handshake {
                node: node(),
                error,
            })
        };
        tcp.set_nodelay(true).map_err(|e| failed(e.to_string()))?;
        let mut stream = match &self.tls {
            Some(tls) => DistStream::from(tls.connect(host, tcp).await.map_err(|e| {
                Failed::Other(Unreachable::Tls {
                    node: node(),
                    error: e.to_string(),
                })
            })?),
            None => DistStream::from(tcp),
        };
        let mut hs = Handshake::initiate(self.handshake_config(), peer.clone())
            .map_err(|e| failed(e.to_string()))?;
        if stream.is_tls() {
            hs = hs.with_4_byte_lengths();
        }
        let mut decide = InitiatorDecide {
            inner: self.clone(),
            peer: peer.clone(),
            owner,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match net::dist::handshake(&mut stream, hs, &mut decide, left).await {
            Ok((up, leftover)) => Ok((stream, up, leftover)),
            Err(net::dist::DistIoError::Handshake(HandshakeError::Refused {
                status: "nok",
                ..
            })) => Err(Failed::Nok),
            Err(net::dist::DistIoError::CookieRefused) => {
                Err(Failed::Other(Unreachable::Cookie { node: node() }))
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// The address of `host`, cached for a while after a lookup (`hosts`): its IPv4 one
    /// first, or its IPv6 one first with `inet6` (`-proto_dist inet6_tcp`); the other family
    /// when it has only that.
    async fn resolve(&self, host: &str) -> Result<std::net::IpAddr, String> {
        if let Some(ip) = self.conns.hosts.get(host, std::time::Instant::now()) {
            return Ok(ip);
        }
        // Within most of net_setuptime, so a resolver that never answers is told as such.
        let lookup = tokio::time::timeout(RESOLVE_TIME, tokio::net::lookup_host((host, 0)));
        let ip = lookup
            .await
            .map_err(|_| format!("no answer within {} s", RESOLVE_TIME.as_secs()))?
            .map_err(|e| e.to_string())?
            .map(|a| a.ip())
            .min_by_key(|ip| ip.is_ipv4() == self.inet6)
            .ok_or_else(|| "it has no address".to_owned())?;
        self.conns.hosts.insert(host, ip, std::time::Instant::now());
        Ok(ip)
    }

    /// A peer connected to us. Until it has proved it knows the cookie it costs at most its
    /// own connection: a bounded number of handshakes run at once, each within
    /// `net_setuptime` (TLS included), its name is not interned, and a failure touches only
    /// its own table entry.
    pub(crate) async fn accept(self: Arc<Self>, tcp: TcpStream) {
        let owner = self.conns.next_owner();
        let (slot, mut evicted) = tokio::sync::oneshot::channel();
        {
            let mut accepting = self
                .conns
                .accepting
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if accepting.len() >= MAX_ACCEPTING {
                accepting.pop_front();
                self.conns.refusals.warn(format_args!(
                    "{MAX_ACCEPTING} distribution handshakes under way: the oldest is dropped"
                ));
            }
            accepting.push_back((owner, slot));
        }
        let _ = tcp.set_nodelay(true);
        // An IPv4 peer of a dual-stack listener as itself, not `::ffff:a.b.c.d`.
        let address = tcp.peer_addr().ok().map(|a| a.ip().to_canonical());
        let deadline = Instant::now() + net::dist::SETUP_TIME;
        let mut peer_name: Option<Atom> = None;
        let span = tracing::info_span!(
            "dist_accept",
            peer_address = %address.map_or_else(String::new, |a| a.to_string())
        );
        let handshake = tracing::Instrument::instrument(
            self.accept_handshake(tcp, owner, deadline, &mut peer_name),
            span,
        );
        let result = tokio::select! {
            result = tokio::time::timeout_at(deadline, handshake) => {
                result.unwrap_or(Err(net::dist::DistIoError::Timeout(net::dist::SETUP_TIME)))
            }
            _ = &mut evicted => Err(net::dist::DistIoError::Closed),
        };
        self.conns
            .accepting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(o, _)| *o != owner);
        match result {
            Ok((stream, up, leftover)) => self.accepted(stream, up, leftover, owner),
            Err(e) => {
                self.refused(&e, address);
                if let Some(peer) = peer_name {
                    self.forget(&peer, owner);
                }
            }
        }
    }

    /// The TLS handshake if the node runs TLS, then the distribution handshake.
    async fn accept_handshake(
        self: &Arc<Self>,
        tcp: TcpStream,
        owner: u64,
        deadline: Instant,
        peer_name: &mut Option<Atom>,
    ) -> Result<(DistStream, Established, Vec<u8>), net::dist::DistIoError> {
        let mut stream = match &self.tls {
            Some(tls) => DistStream::from(tls.accept(tcp).await?),
            None => DistStream::from(tcp),
        };
        let mut hs = Handshake::accept(self.handshake_config())?;
        if stream.is_tls() {
            hs = hs.with_4_byte_lengths();
        }
        let us = self.runtime.node().clone();
        let inner = self.clone();
        let mut decide = |peer: &Atom, _creation: u32| {
            *peer_name = Some(peer.clone());
            inner.accept_pending(&us, peer, owner)
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let (up, leftover) = net::dist::handshake(&mut stream, hs, &mut decide, left).await?;
        Ok((stream, up, leftover))
    }

    /// A handshake a peer started failed: what erl logs for the same refusal (a bad cookie,
    /// missing flags), at a bounded rate; anything else (garbage, a peer that went away, our
    /// own `nok` in a simultaneous connect) only at debug level, as erl logs nothing for it.
    fn refused(&self, e: &net::dist::DistIoError, from: Option<std::net::IpAddr>) {
        use net::dist::DistIoError as E;
        match e {
            E::Handshake(
                HandshakeError::InvalidChallengeReply { .. } | HandshakeError::MissingFlags { .. },
            ) => {
                self.conns.count_refusal(from);
                self.conns.refusals.error(format_args!("{e}"));
            }
            _ => tracing::debug!("distribution handshake with a peer that connected failed: {e}"),
        }
    }

    /// A peer that connected to us is up: its connection takes the entry's queue, or replaces
    /// a stale connection the peer says is gone.
    fn accepted(
        self: &Arc<Self>,
        stream: DistStream,
        up: Established,
        leftover: Vec<u8>,
        owner: u64,
    ) {
        let peer = up.peer.clone();
        let mut replaced = false;
        let outbox = {
            let mut table = self.conns.lock();
            match table.get_mut(&peer) {
                Some(conn) if conn.owner == owner => conn.claim(),
                // We answered `alive` and the peer says this attempt is the real one: the old
                // connection is stale (the peer restarted). Replace it.
                Some(conn) if matches!(conn.state, ConnState::Up(_)) => {
                    conn.outbox.disconnect();
                    let outbox = Arc::new(Outbox::new());
                    *conn = Conn {
                        outbox: outbox.clone(),
                        owner,
                        state: ConnState::Pending { claimed: true },
                    };
                    replaced = true;
                    Some(outbox)
                }
                _ => None,
            }
        };
        if replaced {
            self.runtime.node_down(&peer);
        }
        match outbox {
            Some(outbox) => self.clone().run(stream, up, leftover, outbox, owner),
            None => drop(stream),
        }
    }

    /// `net_kernel`'s `accept_pending`: the status for a peer that is connecting to us.
    fn accept_pending(&self, us: &Atom, peer: &Atom, owner: u64) -> Status {
        if peer == us {
            // net_kernel cannot make a connection to its own node (`new_connection/1` fails
            // with badarg): it logs this and answers `nok`.
            self.conns
                .refusals
                .error(format_args!("** Cannot get connection id for node {peer}"));
            return Status::Nok;
        }
        let mut table = self.conns.lock();
        let new_entry = |table: &mut HashMap<Atom, Conn>| {
            table.insert(
                peer.clone(),
                Conn {
                    outbox: Arc::new(Outbox::new()),
                    owner,
                    state: ConnState::Pending { claimed: false },
                },
            );
        };
        match table.get_mut(peer) {
            None => {
                new_entry(&mut table);
                Status::Ok
            }
            // We are connecting to it too: the greater name's attempt wins.
            Some(Conn {
                state: ConnState::Pending { .. },
                ..
            }) if us.as_str() > peer.as_str() => Status::Nok,
            Some(
                conn @ Conn {
                    state: ConnState::Pending { .. },
                    ..
                },
            ) => {
                conn.owner = owner;
                Status::OkSimultaneous
            }
            // A connection we think is up: the peer restarted, or the old one died silently,
            // or this is a stray duplicate. Ask the peer (dist_util's up_pending → `alive`);
            // if it says this attempt is the one, `accept` replaces the old connection.
            Some(Conn {
                state: ConnState::Up(_),
                ..
            }) => Status::Alive,
        }
    }

    /// An attempt failed or a connection ended: drop its entry if it still owns it, and fire
    /// `noconnection` for what went through it. An entry that never came up and never carried
    /// a signal (a stranger's failed handshake) has nothing to fire: the process table is
    /// not even looked at.
    fn forget(&self, peer: &Atom, owner: u64) {
        let removed = {
            let mut table = self.conns.lock();
            match table.get(peer) {
                Some(c) if c.owner == owner => {
                    let used = matches!(c.state, ConnState::Up(_)) || !c.outbox.close_if_unused();
                    table.remove(peer);
                    Some(used)
                }
                _ => None,
            }
        };
        let Some(used) = removed else { return };
        self.conns.changed.notify_waiters();
        if used {
            self.runtime.node_down(peer);
        }
        self.fire_node_monitors(peer);
    }

    /// `{nodedown, Node}` to every process that called `monitor_node(Node, true)`; the
    /// monitors are spent.
    pub(crate) fn fire_node_monitors(&self, peer: &Atom) {
        let fired: Vec<Pid> = {
            let mut monitors = self.node_monitors.lock().unwrap_or_else(|e| e.into_inner());
            let (fired, kept) = monitors.drain(..).partition(|(_, n)| n == peer);
            *monitors = kept;
            fired.into_iter().map(|(p, _)| p).collect()
        };
        for pid in fired {
            let down = Term::Tuple(vec![Term::atom("nodedown"), Term::Atom(peer.clone())]);
            self.runtime.send(&pid, runtime::Message::Term(down));
        }
    }

    /// `{nodeup | nodedown, Node, #{connection_id => Id}}` to `monitor_nodes` watchers.
    fn tell_watchers(&self, what: &str, peer: &Atom, connection: u64) {
        let info = etf::Map::from_entries([(
            Term::atom("connection_id"),
            Term::Integer(connection as i64),
        )]);
        let message = Term::Tuple(vec![
            Term::atom(what),
            Term::Atom(peer.clone()),
            Term::Map(info),
        ]);
        let watchers = self
            .node_watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for pid in watchers {
            self.runtime
                .send(&pid, runtime::Message::Term(message.clone()));
        }
    }

    /// Runs an established connection until it closes.
    fn run(
        self: Arc<Self>,
        stream: DistStream,
        up: Established,
        leftover: Vec<u8>,
        outbox: Arc<Outbox>,
        owner: u64,
    ) {
        let peer = up.peer.clone();
        {
            let mut table = self.conns.lock();
            if let Some(conn) = table.get_mut(&peer) {
                conn.state = ConnState::Up(Up {
                    flags: up.flags,
                    hidden: up.peer_hidden,
                });
            }
        }
        tracing::info!(
            "nodeup {peer}{}",
            if up.peer_hidden { " (hidden)" } else { "" }
        );
        let _ = self
            .events
            .send(crate::NodeEvent::Up(peer.clone(), up.peer_hidden));
        let visible = !up.peer_hidden && !self.hidden;
        if visible {
            self.tell_watchers("nodeup", &peer, owner);
        }
        self.conns.changed.notify_waiters();
        let inner = self.clone();
        tokio::spawn(async move {
            // The reader holds the node while the connection lives (the task ends with it).
            let reader_inner = inner.clone();
            let from = peer.clone();
            let mut route = runtime::Route::default();
            let queue = outbox.clone();
            let closed = net::dist::run(
                stream,
                up.flags,
                leftover,
                inner.ticktime,
                inner.max_message,
                outbox,
                move |m| reader_inner.dispatch(&from, m, &mut route),
            )
            .await;
            crate::log::nodedown(&peer, &closed);
            inner.forget(&peer, owner);
            if visible {
                inner.tell_watchers("nodedown", &peer, owner);
            }
            let _ = inner.events.send(crate::NodeEvent::Down(peer.clone()));
            // A peer that left in the middle of large messages: what they held is free now,
            // but scattered through the heaps, where `free` does not give it back.
            let unfinished = queue.stats().unfinished.load(Ordering::Relaxed);
            drop(queue);
            if unfinished >= crate::malloc::GIVE_BACK_AFTER as u64 {
                crate::malloc::give_back_freed_memory();
            }
        });
    }

    /// Sends a reason-carrying message: the `PAYLOAD_` form when the peer takes it.
    pub(crate) fn exit_like(
        self: &Arc<Self>,
        node: &Atom,
        plain: ControlMessage,
        payload: ControlMessage,
        reason: &ExitReason,
        connect: bool,
    ) {
        let with_payload = self
            .flags(node)
            .is_some_and(|f| f.contains(DistFlags::EXIT_PAYLOAD));
        if with_payload {
            self.send_control(node, payload, Some(reason.to_term()), connect);
        } else {
            self.send_control(node, plain, None, connect);
        }
    }
}

/// Why our attempt to connect failed.
enum Failed {
    /// The peer answered `nok`: its own attempt to us wins the simultaneous connect.
    Nok,
    /// Anything else: why, for the log and [`crate::Node::connect_or_why`].
    Other(Unreachable),
}

/// The initiator's answers: `alive` is `true` only while this attempt still owns the pending
/// entry (we have no other connection to the peer).
struct InitiatorDecide {
    inner: Arc<Inner>,
    peer: Atom,
    owner: u64,
}

impl net::dist::Decide for InitiatorDecide {
    fn status(&mut self, _: &Atom, _: u32) -> Status {
        Status::Ok
    }

    fn alive(&mut self) -> bool {
        self.inner
            .conns
            .lock()
            .get(&self.peer)
            .is_some_and(|c| c.owner == self.owner && matches!(c.state, ConnState::Pending { .. }))
    }
}
