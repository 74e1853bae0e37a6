//! Starting a node: its name, cookie, listener, EPMD registration (starting an EPMD when none
//! answers, as `erl` does), runtime and services; and what the node does for its user: ping,
//! rpc, send, the list of connected nodes.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dist::Cookie;
use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason, Message, Runtime};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

use crate::connections::{ConnState, Connections};
use crate::epmd_program::EpmdProgram;
use crate::functions::{Function, Functions};
use crate::name::{self, NameError, NameKind};
use crate::remote_link::RemoteLink;

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The name given (`foo` or `foo@host`).
    pub name: String,
    /// `-sname` or `-name`.
    pub kind: NameKind,
    /// The cookie.
    pub cookie: Cookie,
    /// `-hidden`: not published to the nodes it connects to.
    pub hidden: bool,
    /// Listen for connections and register with EPMD. Off for command-line clients, which
    /// only connect out (as `erl_call` does).
    pub listen: bool,
    /// The EPMD port (`ERL_EPMD_PORT`, else 4369).
    pub epmd_port: u16,
    /// The ports to listen on (`inet_dist_listen_min..=max`; `0..=0` for any).
    pub listen_ports: RangeInclusive<u16>,
    /// `net_ticktime`.
    pub ticktime: Duration,
    /// How to start an EPMD when none answers: [`EpmdProgram::Auto`] by default, as `erl`
    /// starts `epmd -daemon`; `None` starts none (the start fails if none answers).
    pub epmd_program: Option<EpmdProgram>,
    /// Distribution over TLS (`-proto_dist inet_tls`), both ways.
    pub tls: Option<net::dist::DistTls>,
    /// IPv6 as `-proto_dist inet6_tcp` (or `inet6_tls`): listen on `::` (IPv4 peers too, as
    /// Linux's dual-stack sockets take them) and reach a host by its IPv6 address first.
    /// Without it the node listens on IPv4 only and reaches a host by IPv4 first, by IPv6
    /// when that is all it has (`B@fd00::5`).
    pub inet6: bool,
    /// The largest message a connection takes, and the allowance that all of a connection's
    /// unfinished fragmented messages share while it lives (`dist::Reader::new`): a peer
    /// that sends more is disconnected. 1 GiB by default
    /// ([`dist::packet::DEFAULT_MAX_MESSAGE`]).
    pub max_message: usize,
}

impl NodeConfig {
    /// A node named `name` with `cookie` and OTP's defaults: EPMD port from `ERL_EPMD_PORT`
    /// (else 4369), started if none answers there ([`EpmdProgram::Auto`]: `epmd -daemon` from
    /// `PATH`, else rotp's own in this program), any listen port, `net_ticktime` 60 s.
    pub fn new(name: &str, kind: NameKind, cookie: Cookie) -> NodeConfig {
        NodeConfig {
            name: name.to_owned(),
            kind,
            cookie,
            hidden: false,
            listen: true,
            epmd_port: epmd_port_from_env(),
            listen_ports: 0..=0,
            ticktime: Duration::from_secs(60),
            epmd_program: Some(EpmdProgram::Auto),
            tls: None,
            inet6: false,
            max_message: dist::packet::DEFAULT_MAX_MESSAGE,
        }
    }

    /// `erl -sname name`: [`NodeConfig::new`] with a short name and the cookie erl would use
    /// (`RELEASE_COOKIE`, else `~/.erlang.cookie`, created as erl creates it when missing).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = rotp_node::Node::start(rotp_node::NodeConfig::sname("counter")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn sname(name: &str) -> Result<NodeConfig, crate::cookie::CookieError> {
        let cookie = crate::cookie::find_cookie(None)?;
        Ok(NodeConfig::new(name, NameKind::Short, cookie))
    }
}

/// The EPMD port `erl` uses: `ERL_EPMD_PORT`, else 4369.
pub fn epmd_port_from_env() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(4369)
}

/// Why a node could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The name is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No port in the listen range could be bound.
    #[error("cannot listen for distribution on ports {0:?}: {1}")]
    Listen(RangeInclusive<u16>, std::io::Error),
    /// EPMD could not be reached, nor started.
    #[error("no EPMD answers on port {port} and none could be started: {reason}")]
    NoEpmd {
        /// The EPMD port.
        port: u16,
        /// Why.
        reason: String,
    },
    /// EPMD refused the name: another node has it (erl prints the same).
    #[error("the name {0} seems to be in use by another Erlang node")]
    NameInUse(String),
    /// The kernel's supervision tree did not start.
    #[error("the kernel's services did not start: {0:?}")]
    Kernel(ExitReason),
}

/// Something that happened to a connection (`net_kernel:monitor_nodes/1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// `{nodeup, Node}`; `true` when the peer is hidden.
    Up(Atom, bool),
    /// `{nodedown, Node}`.
    Down(Atom),
}

/// One live connection, as [`Node::connections`] reports it.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The peer.
    pub node: Atom,
    /// The peer is hidden.
    pub hidden: bool,
    /// The flags both sides use.
    pub flags: dist::DistFlags,
    /// Packets read (ticks included).
    pub packets_read: u64,
    /// Packets written (ticks included).
    pub packets_written: u64,
    /// Bytes queued for the peer and not yet written.
    pub backlog: usize,
}

/// A running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// How long [`Node::leave`] lets the calls under way answer.
const LEAVE_GRACE: Duration = Duration::from_millis(250);

pub(crate) struct Inner {
    pub(crate) runtime: Runtime,
    pub(crate) cookie: Cookie,
    pub(crate) hidden: bool,
    pub(crate) epmd_port: u16,
    pub(crate) ticktime: Duration,
    /// `NodeConfig::max_message`.
    pub(crate) max_message: usize,
    pub(crate) tls: Option<net::dist::DistTls>,
    /// `NodeConfig::inet6`.
    pub(crate) inet6: bool,
    pub(crate) conns: Connections,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) functions: RwLock<Functions>,
    /// `monitor_node/2` monitors: the process and the node it watches.
    pub(crate) node_monitors: std::sync::Mutex<Vec<(Pid, Atom)>>,
    /// Processes told of visible nodes coming and going (`net_kernel:monitor_nodes/1`).
    pub(crate) node_watchers: std::sync::Mutex<Vec<Pid>>,
    /// What `global_name_server` shares with readers.
    pub(crate) global: Arc<crate::global::Shared>,
    /// Started `pg` scopes and their member views.
    pub(crate) pg_scopes: RwLock<std::collections::HashMap<Atom, crate::pg::Members>>,
    listen_port: Option<u16>,
    /// The name's EPMD registration, dropped (unregistering it) when the node goes down.
    registration: std::sync::Mutex<Option<net::epmd::Registration>>,
    /// Set when the node has gone down (its kernel tree ended).
    pub(crate) down: tokio::sync::watch::Sender<bool>,
    /// What each discovery strategy sees ([`crate::discovery`]).
    pub(crate) discovery: crate::discovery::Discovered,
    /// Set by `init:stop()`: whoever runs the node stops it gracefully ([`Node::stop_requested`]).
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    /// When the node started, for `erlang:statistics(wall_clock)`.
    pub(crate) started: std::time::Instant,
    /// The last `wall_clock` and `reductions` readings, for their "since last call" halves.
    pub(crate) last_stats: std::sync::Mutex<(u64, u64)>,
    /// Applications declared running (`application:which_applications/0`).
    pub(crate) applications: std::sync::Mutex<Vec<crate::applications::Application>>,
}

impl Node {
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Node {
        Node { inner }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Starts a node: it listens, registers with EPMD and runs `net_kernel` and `rex`.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let full = name::full_name(&config.name, config.kind)?;
        let alive = full.split('@').next().unwrap_or(&full).to_owned();
        let (listener, registration, creation) = if config.listen {
            let listener = bind(&config.listen_ports, config.inet6)?;
            let port = listener
                .local_addr()
                .map_err(|e| StartError::Listen(config.listen_ports.clone(), e))?
                .port();
            let registration = register(&config, &alive, port, &full).await?;
            let creation = registration.creation;
            (Some(listener), Some(registration), creation)
        } else {
            (None, None, random_creation())
        };
        let runtime = Runtime::new(Atom::from(full.as_str()), creation);
        let inner = Arc::new(Inner {
            runtime: runtime.clone(),
            cookie: config.cookie.clone(),
            hidden: config.hidden,
            epmd_port: config.epmd_port,
            ticktime: config.ticktime,
            max_message: config.max_message,
            tls: config.tls.clone(),
            inet6: config.inet6,
            conns: Connections::default(),
            events: broadcast::channel(256).0,
            functions: RwLock::new(Functions::default()),
            pg_scopes: RwLock::default(),
            node_monitors: std::sync::Mutex::default(),
            node_watchers: std::sync::Mutex::default(),
            started: std::time::Instant::now(),
            last_stats: std::sync::Mutex::default(),
            applications: std::sync::Mutex::default(),
            global: Arc::default(),
            listen_port: listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.port()),
            registration: std::sync::Mutex::new(registration),
            down: tokio::sync::watch::channel(false).0,
            stop: tokio::sync::watch::channel(false).0,
            discovery: crate::discovery::Discovered::default(),
        });
        runtime.set_remote(Arc::new(RemoteLink(Arc::downgrade(&inner))));
        if let Some(listener) = listener {
            let down = inner.down.subscribe();
            tokio::spawn(accept_loop(listener, Arc::downgrade(&inner), down));
        }
        let node = Node { inner };
        crate::services::start(&node)
            .await
            .map_err(StartError::Kernel)?;
        Ok(node)
    }

    /// The node goes down, as an erl node whose kernel ended halts: it stops listening, leaves
    /// EPMD, and closes its connections (peers see `nodedown`). Its processes carry on as a
    /// plain runtime; [`Node::down`] resolves for whoever runs the node (the `rotp node`
    /// binary exits).
    pub(crate) fn halt(&self) {
        self.inner.down.send_replace(true);
        drop(
            self.inner
                .registration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let outboxes: Vec<_> = self
            .inner
            .conns
            .lock()
            .values()
            .map(|c| c.outbox.clone())
            .collect();
        for outbox in outboxes {
            outbox.disconnect();
        }
    }

    /// Resolves once the node has gone down: its kernel's supervision tree ended (a service
    /// died, and `kernel_sup` allows no restart), as erl halts with "Kernel pid terminated".
    pub async fn down(&self) {
        let mut down = self.inner.down.subscribe();
        let _ = down.wait_for(|d| *d).await;
    }

    /// Resolves once `init:stop()` was called on this node (a release's `stop`, or
    /// `rpc:call(Node, init, stop, [])`): as erl's init does, whoever runs the node stops it
    /// gracefully then, as on SIGTERM. A node whose runner waits for nothing of the kind
    /// halts at once instead.
    pub async fn stop_requested(&self) {
        let mut stop = self.inner.stop.subscribe();
        let _ = stop.wait_for(|s| *s).await;
    }

    /// `init:stop()`: tells whoever waits in [`Node::stop_requested`]; `false` if no one does.
    pub(crate) fn request_stop(&self) -> bool {
        // Counted before telling: the one told drops its receiver as it wakes.
        let waited = self.inner.stop.receiver_count() > 0;
        self.inner.stop.send_replace(true);
        waited
    }

    /// [`Node::connect`], saying why not in one sentence: the host's name, its EPMD, the
    /// name registered there, the node's port, TLS or the cookie ([`crate::Unreachable`]).
    pub async fn connect_or_why(&self, node: &Atom) -> Result<(), crate::Unreachable> {
        let failures = || {
            self.inner
                .conns
                .failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        failures().pop(node);
        if self.connect(node).await {
            return Ok(());
        }
        Err(failures()
            .pop(node)
            .unwrap_or_else(|| crate::Unreachable::Other {
                node: node.to_string(),
            }))
    }

    /// What each discovery strategy sees, by its label (`epmd`, `dns`…).
    pub fn discovered(&self) -> Vec<(&'static str, crate::discovery::Seen)> {
        self.inner
            .discovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub(crate) fn record_discovery(
        &self,
        label: &'static str,
        update: impl FnOnce(&mut crate::discovery::Seen),
    ) {
        update(
            self.inner
                .discovery
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(label)
                .or_default(),
        );
    }

    /// Leaves the cluster, as a node whose `init:stop()` ends does: the global names its
    /// processes hold are unregistered everywhere, then it leaves EPMD and closes its
    /// connections (peers see `nodedown` at once rather than after `net_ticktime`).
    pub async fn leave(&self) {
        // init:stop() answers `ok` and stops afterwards, as erl's init does: the replies of
        // calls still being answered get a moment to be queued (what is queued is written
        // before each connection closes).
        tokio::time::sleep(LEAVE_GRACE).await;
        let global = self.global();
        for name in global.registered_names() {
            if global
                .whereis_name(&name)
                .is_some_and(|pid| &pid.node == self.name())
            {
                global.unregister_name(&name).await;
            }
        }
        self.halt();
    }

    /// Whether the node has gone down (see [`Node::down`]).
    pub fn is_down(&self) -> bool {
        *self.inner.down.borrow()
    }

    /// The node's name.
    pub fn name(&self) -> &Atom {
        self.inner.runtime.node()
    }

    /// The node's runtime: spawn processes here.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The distribution listen port, if the node listens.
    pub fn listen_port(&self) -> Option<u16> {
        self.inner.listen_port
    }

    /// Connection events from now on.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// The port of the EPMD this node registered with and asks (`ERL_EPMD_PORT`'s).
    pub fn epmd_port(&self) -> u16 {
        self.inner.epmd_port
    }

    /// Bytes read and written by the connections up now, as `erlang:statistics(io)` counts
    /// them on this node.
    pub fn io_bytes(&self) -> (u64, u64) {
        self.inner.conns.io_bytes()
    }

    /// Handshakes this node refused for a bad cookie or missing flags, by the peer's address.
    pub fn refused_connections(&self) -> Vec<(std::net::IpAddr, u64)> {
        self.inner.conns.refused_by()
    }

    /// Connected visible nodes (`nodes()`); with `hidden`, hidden ones too.
    pub fn nodes(&self, hidden: bool) -> Vec<Atom> {
        self.connected(|up_hidden| hidden || !up_hidden)
    }

    /// Connected hidden nodes (`nodes(hidden)`).
    pub fn hidden_nodes(&self) -> Vec<Atom> {
        self.connected(|up_hidden| up_hidden)
    }

    /// The nodes with a live connection whose hiddenness `keep` accepts, sorted.
    fn connected(&self, keep: impl Fn(bool) -> bool) -> Vec<Atom> {
        let table = self.inner.conns.lock();
        let mut out: Vec<Atom> = table
            .iter()
            .filter(|(_, c)| matches!(&c.state, ConnState::Up(up) if keep(up.hidden)))
            .map(|(n, _)| n.clone())
            .collect();
        out.sort();
        out
    }

    /// The live connections, for introspection: peer, hidden, packets read and written.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let table = self.inner.conns.lock();
        let mut out: Vec<ConnectionInfo> = table
            .iter()
            .filter_map(|(node, c)| match &c.state {
                ConnState::Up(up) => Some(ConnectionInfo {
                    node: node.clone(),
                    hidden: up.hidden,
                    flags: up.flags,
                    packets_read: c
                        .outbox
                        .stats()
                        .read
                        .load(std::sync::atomic::Ordering::Relaxed),
                    packets_written: c
                        .outbox
                        .stats()
                        .written
                        .load(std::sync::atomic::Ordering::Relaxed),
                    backlog: c.outbox.stats().backlog.bytes(),
                }),
                ConnState::Pending { .. } => None,
            })
            .collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        out
    }

    /// Registers a Rust function other nodes can call as `Module:Function/Arity`.
    pub fn register_function(&self, module: &str, function: &str, arity: usize, f: Function) {
        self.inner
            .functions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(module, function, arity, f);
    }

    pub(crate) fn function(
        &self,
        module: &Atom,
        function: &Atom,
        arity: usize,
    ) -> Option<Function> {
        self.inner
            .functions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(module, function, arity)
    }

    /// Connects to `node` (`net_kernel:connect_node/1`): `true` once the connection is up.
    pub async fn connect(&self, node: &Atom) -> bool {
        if node == self.name() {
            return true;
        }
        self.inner.sender(node, true);
        let deadline = tokio::time::Instant::now() + net::dist::SETUP_TIME * 2;
        loop {
            // Registered before looking, so a change between the look and the wait wakes us.
            let changed = self.inner.conns.changed.notified();
            match self
                .inner
                .conns
                .lock()
                .get(node)
                .map(|c| matches!(c.state, ConnState::Up(_)))
            {
                Some(true) => return true,
                Some(false) => {}
                None => return false,
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        false
    }

    /// `erlang:monitor_node(Node, true)` for process `pid`: it gets `{nodedown, Node}` when the
    /// connection goes (at once if it cannot be made); each call is one more monitor.
    /// `monitor_node(Node, false)` is [`Node::demonitor_node`].
    pub async fn monitor_node(&self, pid: &Pid, node: &Atom) {
        if node == self.name() {
            return;
        }
        self.inner
            .node_monitors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pid.clone(), node.clone()));
        if !self.connect(node).await {
            self.inner.fire_node_monitors(node);
        }
    }

    /// `net_kernel:monitor_nodes(On)` for process `pid`: it gets `{nodeup, Node, Info}` when
    /// a visible node connects, before any message from it, and `{nodedown, Node, Info}` when
    /// it goes, after the last (`Info` is `#{connection_id => Id}`).
    pub fn monitor_nodes(&self, pid: &Pid, on: bool) {
        let mut watchers = self
            .inner
            .node_watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        watchers.retain(|p| p != pid);
        if on {
            watchers.push(pid.clone());
        }
    }

    /// The node's `global` (cluster-wide names and locks).
    pub fn global(&self) -> crate::global::Global {
        crate::global::Global::new(self)
    }

    /// `erlang:monitor_node(Node, false)`: removes one of `pid`'s monitors of `node`.
    pub fn demonitor_node(&self, pid: &Pid, node: &Atom) {
        let mut monitors = self
            .inner
            .node_monitors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = monitors.iter().position(|(p, n)| p == pid && n == node) {
            monitors.remove(i);
        }
    }

    /// Closes the connection to `node` (`erlang:disconnect_node/1`).
    pub fn disconnect(&self, node: &Atom) -> bool {
        let outbox = self.inner.conns.lock().get(node).map(|c| c.outbox.clone());
        outbox.is_some_and(|outbox| {
            let open = !outbox.is_closed();
            outbox.disconnect();
            open
        })
    }

    /// Runs `body` as a process and returns what it returns.
    pub async fn in_process<T, F, Fut>(&self, body: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.runtime().spawn(move |ctx| async move {
            let _ = tx.send(body(ctx).await);
            ExitReason::Normal
        });
        rx.await.ok()
    }

    /// `net_adm:ping/1`: `true` (pong) if `node` answers `net_kernel`'s `is_auth`.
    pub async fn ping(&self, node: &Atom) -> bool {
        if !self.connect(node).await {
            return false;
        }
        let us = self.name().clone();
        let node = node.clone();
        let reply = self
            .in_process(move |ctx| async move {
                gen_call(
                    ctx,
                    &Atom::from("net_kernel"),
                    &node,
                    Term::Tuple(vec![Term::atom("is_auth"), Term::Atom(us)]),
                    Duration::from_secs(10),
                )
                .await
            })
            .await
            .flatten();
        reply.as_ref().and_then(Term::as_atom) == Some("yes")
    }

    /// `rpc:call(Node, M, F, Args)` through the node's `rex` server: the result, or
    /// `{badrpc, Reason}` as rpc returns it. Output of the called code goes to the remote
    /// node's `user`, as with `erl_call`.
    pub async fn rpc(
        &self,
        node: &Atom,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Term {
        let badrpc = |r: &str| Term::Tuple(vec![Term::atom("badrpc"), Term::atom(r)]);
        if !self.connect(node).await {
            return badrpc("nodedown");
        }
        let request = Term::Tuple(vec![
            Term::atom("call"),
            Term::atom(module),
            Term::atom(function),
            Term::List(args),
            Term::atom("user"),
        ]);
        let rex = otp::ServerRef::Remote(Atom::from("rex"), node.clone());
        let (server, call) = (rex.clone(), request.clone());
        let reply = self
            .in_process(move |mut ctx| async move {
                otp::gen_server::try_call_term(&mut ctx, server, call, timeout).await
            })
            .await;
        // What rpc:call returns when rex cannot answer (rpc.erl's `rpc_check/1`).
        match reply {
            Some(Ok(reply)) => reply,
            Some(Err(otp::CallError::NodeDown(_))) => badrpc("nodedown"),
            Some(Err(otp::CallError::Timeout)) | None => badrpc("timeout"),
            Some(Err(e)) => {
                let millis = Term::Integer(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
                let exit = e.exit_reason_for(&rex, vec![request, millis]).to_term();
                Term::Tuple(vec![
                    Term::atom("badrpc"),
                    Term::Tuple(vec![Term::atom("EXIT"), exit]),
                ])
            }
        }
    }

    /// `erpc:call(Node, M, F, Args, Timeout)`: runs the call in a process the peer spawns for
    /// it (`SPAWN_REQUEST` of `erpc:execute_call/4`, monitored) and returns what it returned,
    /// or how it failed. The call's group leader is the peer's `user`, so its output goes to
    /// the peer's console.
    pub async fn erpc(
        &self,
        node: &Atom,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, ErpcError> {
        if !self.connect(node).await {
            return Err(ErpcError::NoConnection);
        }
        let gl = match self
            .rpc(node, "erlang", "whereis", vec![Term::atom("user")], timeout)
            .await
        {
            Term::Pid(p) => Some(p),
            _ => None,
        };
        let inner = self.inner.clone();
        let (node, module, function) = (node.clone(), Atom::from(module), Atom::from(function));
        self.in_process(move |mut ctx| async move {
            let req_id = ctx.make_ref();
            let tag = ctx.make_ref();
            let request = dist::ControlMessage::SpawnRequest {
                req_id: req_id.clone(),
                from: ctx.pid().clone(),
                group_leader: gl.unwrap_or_else(|| ctx.pid().clone()),
                module: Atom::from("erpc"),
                function: Atom::from("execute_call"),
                arity: 4,
                // `{reply, error_only}` is the requesting node's own business: erts refuses
                // it on the wire (`badopt`); only what the spawning node does goes there.
                options: Term::List(vec![Term::atom("monitor")]),
                token: None,
            };
            let args = Term::List(vec![
                Term::Reference(tag.clone()),
                Term::Atom(module),
                Term::Atom(function),
                Term::List(args),
            ]);
            // The reply is applied only to a request we are waiting for, from that node.
            ctx.runtime()
                .spawn_request_sent(ctx.pid(), &req_id, &node, false, true);
            if !inner.send_control(&node, request, Some(args), true) {
                ctx.runtime().spawn_request_abandon(ctx.pid(), &req_id);
                return Err(ErpcError::NoConnection);
            }
            let r = Term::Reference(req_id.clone());
            let answer = ctx
                .receive_timeout(timeout, |m| {
                    m.as_down().is_some_and(|(x, _, _)| x == req_id)
                        || matches!(m.as_term(), Some(Term::Tuple(v)) if v.len() == 4
                            && v[1] == r
                            && v[2].as_atom() == Some("error"))
                })
                .await;
            let Some(answer) = answer else {
                // erpc.erl on a timeout: the request is abandoned, a late reply ignored.
                ctx.runtime().spawn_request_abandon(ctx.pid(), &req_id);
                return Err(ErpcError::Timeout);
            };
            if let Some((_, _, reason)) = answer.as_down() {
                return erpc_result(&tag, reason.to_term());
            }
            match answer.as_term() {
                // The connection went before the reply came (erpc.erl: `{erpc, noconnection}`).
                Some(Term::Tuple(v)) if v[3].as_atom() == Some("noconnection") => {
                    Err(ErpcError::NoConnection)
                }
                Some(Term::Tuple(v)) => Err(ErpcError::Spawn(v[3].clone())),
                _ => Err(ErpcError::Timeout),
            }
        })
        .await
        .unwrap_or(Err(ErpcError::Timeout))
    }

    /// `pg:start(Scope)`: runs the `pg` scope `scope` on this node (idempotent), so its groups
    /// are shared with every node running the same scope, rotp or BEAM. The scope runs under
    /// `kernel_safe_sup`, as OTP runs its default scope: it is restarted if it dies. `false`
    /// if it could not be started (the name is taken by another process).
    pub async fn pg_start(&self, scope: &str) -> bool {
        let scope = Atom::from(scope);
        if self.runtime().whereis(&scope).is_some() {
            return true;
        }
        let spec = crate::pg::child_spec(self, &scope);
        self.in_process(move |mut ctx| async move {
            let kernel_safe_sup = otp::gen_server::ServerRef::Name(Atom::from("kernel_safe_sup"));
            let response =
                otp::supervisor::request(&mut ctx, kernel_safe_sup, otp::supervisor::Request::StartChild(spec))
                    .await;
            matches!(response, otp::supervisor::Response::Ok(_))
                || matches!(&response, otp::supervisor::Response::Error(t) if t.as_atom() == Some("already_present"))
        })
        .await
        .unwrap_or(false)
    }

    async fn pg_request(
        &self,
        scope: &str,
        make: impl FnOnce(oneshot::Sender<()>) -> crate::pg::PgRequest,
    ) -> bool {
        if !self.pg_start(scope).await {
            return false;
        }
        let Some(pid) = self.runtime().whereis(&Atom::from(scope)) else {
            return false;
        };
        let (tx, rx) = oneshot::channel();
        self.runtime().send(&pid, Message::local(make(tx)));
        rx.await.is_ok()
    }

    /// `pg:join(Scope, Group, Pids)`: local processes join `group` (each time they join, they
    /// are counted once more, as in pg).
    pub async fn pg_join(&self, scope: &str, group: Term, pids: Vec<Pid>) -> bool {
        self.pg_request(scope, |done| crate::pg::PgRequest::Join(group, pids, done))
            .await
    }

    /// `pg:leave(Scope, Group, Pids)`.
    pub async fn pg_leave(&self, scope: &str, group: Term, pids: Vec<Pid>) -> bool {
        self.pg_request(scope, |done| crate::pg::PgRequest::Leave(group, pids, done))
            .await
    }

    /// `pg:get_members(Scope, Group)`: members on every node running the scope.
    pub fn pg_members(&self, scope: &str, group: &Term) -> Vec<Pid> {
        self.pg_read(scope, |groups| groups.get(group).cloned())
            .flatten()
            .unwrap_or_default()
    }

    /// `read` of the scope's groups, if this node runs the scope.
    fn pg_read<T>(&self, scope: &str, read: impl FnOnce(&crate::pg::GroupMap) -> T) -> Option<T> {
        let scopes = self
            .inner
            .pg_scopes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        scopes
            .get(&Atom::from(scope))
            .map(|m| read(&m.read().unwrap_or_else(|e| e.into_inner())))
    }

    /// `pg:which_groups(Scope)`: the groups with a member on some node running the scope.
    pub fn pg_which_groups(&self, scope: &str) -> Vec<Term> {
        self.pg_read(scope, crate::pg::GroupMap::groups)
            .unwrap_or_default()
    }

    /// `{Name, Node} ! Term`, from a short-lived process: `false` if the node cannot be
    /// reached.
    pub async fn send(&self, node: &Atom, name: &Atom, term: Term) -> bool {
        if !self.connect(node).await {
            return false;
        }
        let (node, name) = (node.clone(), name.clone());
        self.in_process(move |ctx| async move {
            ctx.send_to_name(&name, &node, Message::Term(term)).is_ok()
        })
        .await
        .unwrap_or(false)
    }
}

/// How an `erpc` call failed (erpc.erl's `result/4`).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ErpcError {
    /// The call raised `error:Reason`, `exit:Reason`, or threw.
    #[error("the call raised {0:?}")]
    Exception(crate::Exception),
    /// The remote process ended without an answer (`{signal, Reason}`).
    #[error("the call's process ended: {0}")]
    Signal(Term),
    /// The peer could not spawn the call (`{erpc, Reason}`).
    #[error("the node could not spawn the call: {0}")]
    Spawn(Term),
    /// The node cannot be reached, or the connection dropped (`{erpc, noconnection}`).
    #[error("noconnection")]
    NoConnection,
    /// No answer in time.
    #[error("timeout")]
    Timeout,
}

/// Reads the exit reason of `erpc:execute_call/4`.
fn erpc_result(tag: &etf::Reference, reason: Term) -> Result<Term, ErpcError> {
    use crate::Exception;
    let tag = Term::Reference(tag.clone());
    match &reason {
        Term::Tuple(v) if v.first() == Some(&tag) => {
            match (v.get(1).and_then(Term::as_atom), v.len()) {
                (Some("return"), 3) => Ok(v[2].clone()),
                (Some("throw"), 3) => Err(ErpcError::Exception(Exception::Throw(v[2].clone()))),
                (Some("exit"), 3) => Err(ErpcError::Exception(Exception::Exit(v[2].clone()))),
                (Some("error"), 3 | 4) => Err(ErpcError::Exception(Exception::Error(v[2].clone()))),
                _ => Err(ErpcError::Signal(reason)),
            }
        }
        Term::Atom(a) if a.as_str() == "noconnection" => Err(ErpcError::NoConnection),
        _ => Err(ErpcError::Signal(reason)),
    }
}

/// `gen:call({Name, Node}, '$gen_call', Request, Timeout)` from process `ctx`: the reply, or
/// `None` when there is none (a timeout, no such server, or the node went: the server is
/// monitored, so the last two end the call at once). [`otp::gen_server::try_call_term`] says
/// which.
pub async fn gen_call(
    mut ctx: Context,
    name: &Atom,
    node: &Atom,
    request: Term,
    timeout: Duration,
) -> Option<Term> {
    let server = otp::ServerRef::Remote(name.clone(), node.clone());
    otp::gen_server::try_call_term(&mut ctx, server, request, timeout)
        .await
        .ok()
}

/// Accepts distribution connections until the node goes away or goes down. When `accept`
/// fails (out of file descriptors: the connection stays in the backlog and the socket stays
/// readable) it waits before trying again, from 10 ms doubling to 1 s, instead of spinning.
/// (OTP 25's acceptor does spin here: `inet_tcp_dist:accept_loop/2` exits on the error and
/// net_kernel starts another at once.)
async fn accept_loop(
    listener: TcpListener,
    node: std::sync::Weak<Inner>,
    mut down: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = down.wait_for(|d| *d) => return,
        };
        let Some(inner) = node.upgrade() else { return };
        match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                tokio::spawn(inner.accept(stream));
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                inner.conns.refusals.warn(format_args!(
                    "cannot accept distribution connections: {e}; trying again in {backoff:?}"
                ));
                drop(inner);
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

fn bind(ports: &RangeInclusive<u16>, inet6: bool) -> Result<TcpListener, StartError> {
    let mut last = None;
    for port in ports.clone() {
        match listen(port, inet6) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(StartError::Listen(
        ports.clone(),
        last.unwrap_or_else(|| std::io::Error::other("empty port range")),
    ))
}

/// A listening socket on `0.0.0.0:port`, or with `inet6` on `[::]:port` taking IPv4 peers
/// too (`IPV6_V6ONLY` off), as `TcpListener::bind` makes one (`SO_REUSEADDR`).
fn listen(port: u16, inet6: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let (domain, address) = if inet6 {
        (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        )
    } else {
        (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        )
    };
    let socket = Socket::new(domain, Type::STREAM, None)?;
    if inet6 {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Registers with the local EPMD, starting one first if none answers.
async fn register(
    config: &NodeConfig,
    alive: &str,
    port: u16,
    full: &str,
) -> Result<net::epmd::Registration, StartError> {
    let client = net::epmd::Client::localhost(config.epmd_port);
    let mut info = epmd::msg::NodeInfo::new(alive, port);
    if config.hidden {
        info.node_type = 72;
    }
    let mut started = false;
    for _ in 0..100 {
        match client.register(info.clone()).await {
            Ok(r) => return Ok(r),
            Err(net::epmd::ClientError::Refused(_)) => {
                return Err(StartError::NameInUse(full.to_owned()))
            }
            Err(e) => {
                if !started {
                    started = true;
                    crate::epmd_program::start(config).map_err(|reason| StartError::NoEpmd {
                        port: config.epmd_port,
                        reason: format!("{e}; {reason}"),
                    })?;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Err(StartError::NoEpmd {
        port: config.epmd_port,
        reason: "the EPMD started did not answer".to_owned(),
    })
}

/// A creation for a node that does not register: random, above the 1..=3 of old nodes.
fn random_creation() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_be_bytes(b).max(4)
}
