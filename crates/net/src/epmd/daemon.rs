//! The EPMD daemon: listeners and one task per connection around [`epmd::server`], binding and
//! timing out as `erts/epmd/src/epmd_srv.c` does.
//!
//! ```
//! use rotp_net::epmd::{Client, Daemon, DaemonConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `epmd -address 127.0.0.1 -port 0`: loopback only, on a free port.
//! let daemon = Daemon::bind(DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..DaemonConfig::default() })?;
//! let addr = daemon.local_addrs().into_iter().find(|a| a.is_ipv4()).expect("127.0.0.1");
//! let table = daemon.names_handle(); // reads the table while `run` owns the daemon
//! let mut changed = daemon.subscribe();
//! tokio::spawn(daemon.run());
//!
//! let _registration = Client::new(addr).register(epmd::msg::NodeInfo::new("drip", 45_000)).await?;
//! changed.changed().await?;
//! assert_eq!(table.registered(), 1);
//! assert_eq!(table.names(), "name drip at port 45000\n");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use epmd::server::{ConnId, Connection, Framed, Reply, Server};
use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, Notify};

use super::log;

/// How many addresses epmd listens on at most (`MAX_LISTEN_SOCKETS`).
pub const MAX_LISTEN_SOCKETS: usize = 16;

/// The daemon's settings: epmd's command line and environment.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// `-port` / `ERL_EPMD_PORT`.
    pub port: u16,
    /// `-address` / `ERL_EPMD_ADDRESS`: a comma- or space-separated list of addresses to
    /// listen on besides loopback. `None` (or only separators) listens on every address.
    pub addresses: Option<String>,
    /// `-relaxed_command_check` / `ERL_EPMD_RELAXED_COMMAND_CHECK`.
    pub relaxed_command_check: bool,
    /// `-packet_timeout`: seconds a connection may sit idle before it is closed (default 60),
    /// unless it registered a node.
    pub packet_timeout: Duration,
    /// `-delay_accept`: seconds to wait before each accept (simulates a busy server).
    pub delay_accept: Duration,
    /// `-delay_write`: seconds to wait before each reply (simulates a busy server).
    pub delay_write: Duration,
    /// `-d`/`-debug`, once per level.
    pub debug: u8,
    /// `-systemd`: listen on the sockets systemd passes (socket activation, `LISTEN_FDS`) and
    /// tell systemd when ready, as Debian's `epmd.socket` unit expects.
    pub systemd: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            port: epmd::DEFAULT_PORT,
            addresses: None,
            relaxed_command_check: false,
            packet_timeout: Duration::from_secs(60),
            delay_accept: Duration::ZERO,
            delay_write: Duration::ZERO,
            debug: 0,
            systemd: false,
        }
    }
}

/// Why the daemon could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// Another epmd listens on the port; OTP's epmd exits with status 0 then.
    #[error("there is already a epmd running at port {port} on ipaddr {addr}")]
    AlreadyRunning {
        /// The port.
        port: u16,
        /// The address that was taken.
        addr: IpAddr,
    },
    /// An `-address` entry that is not an IP address.
    #[error("cannot parse IP address \"{0}\"")]
    BadAddress(String),
    /// More than [`MAX_LISTEN_SOCKETS`] addresses.
    #[error("cannot listen on more than {MAX_LISTEN_SOCKETS} IP addresses")]
    TooManyAddresses,
    /// Binding or listening failed.
    #[error("failed to bind on ipaddr {addr}: {source}")]
    Bind {
        /// The address.
        addr: IpAddr,
        /// The error.
        source: io::Error,
    },
    /// No address could be bound.
    #[error("unable to bind any address")]
    NothingBound,
    /// `-systemd` without sockets from systemd.
    #[error("systemd provides no sockets")]
    NoSystemdSockets,
    /// A socket systemd passed is not a listening TCP socket.
    #[error("cannot obtain sockets from systemd: {0}")]
    Systemd(io::Error),
    /// A thread to accept connections could not be started.
    #[error("cannot start an accept thread: {0}")]
    Thread(io::Error),
}

struct Shared {
    server: Mutex<Server>,
    config: DaemonConfig,
    /// Closers for open connections, so `STOP_REQ` can close the one that registered a node.
    conns: Mutex<HashMap<ConnId, oneshot::Sender<()>>>,
    killed: Notify,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn server(&self) -> MutexGuard<'_, Server> {
        // A panic while holding the lock cannot leave the table half-updated in a way that
        // matters more than stopping every client would, so keep serving.
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self, level: u8, line: &str) {
        log::print(self.config.debug, level, line);
    }

    fn table_changed(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// A bound daemon, ready to [`run`](Daemon::run).
pub struct Daemon {
    listeners: Vec<Socket>,
    shared: Arc<Shared>,
}

impl Daemon {
    /// Binds the listening sockets as epmd does: every address (IPv4 and IPv6) by default;
    /// with `addresses`, loopback (127.0.0.1 and ::1) plus each address listed.
    pub fn bind(config: DaemonConfig) -> Result<Daemon, DaemonError> {
        let listeners = if config.systemd {
            systemd_listeners()?
        } else {
            bind_listeners(&config)?
        };
        let server = Server::new(epmd::server::Config {
            port: config.port,
            relaxed_command_check: config.relaxed_command_check,
            debug: config.debug,
        });
        let shared = Arc::new(Shared {
            server: Mutex::new(server),
            config,
            conns: Mutex::new(HashMap::new()),
            killed: Notify::new(),
            changed: watch::channel(0).0,
        });
        Ok(Daemon { listeners, shared })
    }

    /// The addresses actually bound (with the port, useful when binding port 0 in tests).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok()?.as_socket())
            .collect()
    }

    /// A receiver that changes whenever a name is registered or unregistered.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// A handle for reading the table while [`run`](Daemon::run) owns the daemon.
    pub fn names_handle(&self) -> NamesHandle {
        NamesHandle(self.shared.clone())
    }

    /// Serves until a `KILL_REQ` is accepted. Each listening socket gets a thread per core that
    /// blocks in `accept`; connections that have to wait are tasks on the current tokio runtime.
    pub async fn run(self) -> Result<(), DaemonError> {
        self.shared.log(2, "entering the main select() loop");
        let runtime = Handle::current();
        // One accepting thread per core: a request is served in the thread that accepted it.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        for listener in self.listeners {
            for _ in 0..threads {
                let listener = listener.try_clone().map_err(DaemonError::Thread)?;
                let (shared, runtime) = (self.shared.clone(), runtime.clone());
                std::thread::Builder::new()
                    .name("epmd-accept".to_owned())
                    .spawn(move || accept_loop(listener, shared, runtime))
                    .map_err(DaemonError::Thread)?;
            }
        }
        if self.shared.config.systemd {
            let pid = std::process::id();
            let ready = [
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status("Processing port mapping requests..."),
                sd_notify::NotifyState::MainPid(pid),
            ];
            if let Err(e) = sd_notify::notify(&ready) {
                self.shared.log(0, &format!("cannot notify systemd: {e}"));
            }
        }
        self.shared.killed.notified().await;
        Ok(())
    }
}

/// Reads the daemon's table from elsewhere.
#[derive(Clone)]
pub struct NamesHandle(Arc<Shared>);

impl NamesHandle {
    /// The current `NAMES_REQ` text.
    pub fn names(&self) -> String {
        let bytes = self.0.server().names();
        String::from_utf8_lossy(&bytes[4..]).into_owned()
    }

    /// The requests handled so far, by kind.
    pub fn requests(&self) -> epmd::server::RequestCounts {
        self.0.server().requests().clone()
    }

    /// How many nodes are registered now.
    pub fn registered(&self) -> usize {
        self.0.server().registered().len()
    }
}

/// Binds the listening sockets as `run` in epmd_srv.c does.
fn bind_listeners(config: &DaemonConfig) -> Result<Vec<Socket>, DaemonError> {
    let mut listeners = Vec::new();
    for (ip, fatal) in listen_addresses(config.addresses.as_deref())? {
        match listen(SocketAddr::new(ip, config.port)) {
            Ok(Some(l)) => listeners.push(l),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(DaemonError::AlreadyRunning {
                    port: config.port,
                    addr: ip,
                })
            }
            Err(source) if fatal => return Err(DaemonError::Bind { addr: ip, source }),
            Err(source) => log::print(
                config.debug,
                0,
                &format!("failed to bind on ipaddr {ip}: {source}"),
            ),
        }
    }
    if listeners.is_empty() {
        return Err(DaemonError::NothingBound);
    }
    Ok(listeners)
}

/// The sockets systemd passed (`sd_listen_fds`), blocking as the accept threads want them.
fn systemd_listeners() -> Result<Vec<Socket>, DaemonError> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => return Err(DaemonError::NoSystemdSockets),
        n if n > MAX_LISTEN_SOCKETS => return Err(DaemonError::TooManyAddresses),
        _ => {}
    }
    let mut listeners = Vec::new();
    for i in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(i)
            .map_err(DaemonError::Systemd)?
            .ok_or(DaemonError::NoSystemdSockets)?;
        let socket = Socket::from(listener);
        socket
            .set_nonblocking(false)
            .map_err(DaemonError::Systemd)?;
        listeners.push(socket);
    }
    Ok(listeners)
}

/// The addresses to bind and whether failing to bind each is fatal (`run` in epmd_srv.c).
fn listen_addresses(addresses: Option<&str>) -> Result<Vec<(IpAddr, bool)>, DaemonError> {
    let list = addresses.filter(|a| a.chars().any(|c| c != ' ' && c != ','));
    let Some(list) = list else {
        return Ok(vec![
            (Ipv4Addr::UNSPECIFIED.into(), true),
            (Ipv6Addr::UNSPECIFIED.into(), true),
        ]);
    };
    let mut out = vec![
        (Ipv4Addr::LOCALHOST.into(), false),
        (Ipv6Addr::LOCALHOST.into(), false),
    ];
    for token in list.split([',', ' ']).filter(|t| !t.is_empty()) {
        let ip: IpAddr = token
            .parse()
            .map_err(|_| DaemonError::BadAddress(token.to_owned()))?;
        if ip.is_loopback() {
            continue;
        }
        out.push((ip, true));
        if out.len() >= MAX_LISTEN_SOCKETS {
            return Err(DaemonError::TooManyAddresses);
        }
    }
    Ok(out)
}

/// One listening socket: IPv6 sockets are IPv6-only, addresses are reusable, as in epmd.
/// `Ok(None)` when the address family is not supported here.
fn listen(addr: SocketAddr) -> io::Result<Option<Socket>> {
    let socket = match Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) if matches!(e.raw_os_error(), Some(97 | 93)) => return Ok(None), // EAFNOSUPPORT, EPROTONOSUPPORT
        Err(e) => return Err(e),
    };
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(Some(socket))
}

/// The listen backlog asked for; the kernel caps it at `net.core.somaxconn` (4096 on Linux 5.4+),
/// as it caps OTP's `SOMAXCONN`.
const BACKLOG: i32 = 4096;

/// Accepts on one listening socket, in a thread of its own that blocks in `accept`: most
/// requests are in the socket by the time it is accepted and are served right there, without
/// the reactor; the others go to a task on `runtime`.
fn accept_loop(listener: Socket, shared: Arc<Shared>, runtime: Handle) {
    loop {
        if !shared.config.delay_accept.is_zero() {
            std::thread::sleep(shared.config.delay_accept);
        }
        match listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
            Ok((socket, addr)) => {
                let Some(peer) = addr.as_socket() else {
                    continue;
                };
                if let Some((socket, conn, reply)) = serve_now(socket, peer, &shared) {
                    let shared = shared.clone();
                    runtime.spawn(async move {
                        match TcpStream::from_std(socket.into()) {
                            Ok(stream) => serve(stream, conn, reply, shared).await,
                            Err(e) => shared.log(0, &format!("error registering connection: {e}")),
                        }
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors and the like: say so, and let others finish.
                shared.log(0, &format!("error in accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// `conn_local_peer_check`: a loopback peer, or a peer on the address it connected to.
fn is_local_peer(socket: &Socket, peer: SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) if ip.octets()[0] == 127 => true,
        IpAddr::V6(ip) if ip.is_loopback() => true,
        ip => socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|local| local.ip() == ip),
    }
}

/// How long until epmd_srv.c would close a connection last active in second `mod_secs`: it
/// closes one when `mod_time + packet_timeout < time(NULL)`, in whole seconds, so at the first
/// second boundary past `mod_secs + packet_timeout + 1`. A client that pauses one second under
/// `-packet_timeout 1` is still served, as by OTP's epmd. (OTP looks at the clock only when its
/// `select` returns, every second or five, so it may close a little later than this.)
fn until_packet_timeout(mod_secs: u64, packet_timeout: Duration) -> Duration {
    let close_at = UNIX_EPOCH + Duration::from_secs(mod_secs + packet_timeout.as_secs() + 1);
    close_at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The common case, served without the reactor: the request is already in the socket, and its
/// reply closes the connection. Returns the connection (and the reply still to act on, if any)
/// when it has to wait for more: a request still on its way, or a node that registered.
fn serve_now(
    socket: Socket,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<(Socket, Connection, Option<Reply>)> {
    let id = ConnId::from(socket.as_raw_fd());
    let mut conn = Connection::new(id, is_local_peer(&socket, peer));
    if shared.config.debug >= 2 {
        let who = if conn.is_local() {
            "Local"
        } else {
            "Non-local"
        };
        shared.log(2, &format!("{who} peer connected"));
    }
    let mut buf = [0u8; epmd::server::INBUF_SIZE];
    let limit = conn.read_limit();
    let n = match (&socket).read(&mut buf[..limit]) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some((socket, conn, None)),
        Ok(0) | Err(_) => return None,
        Ok(n) => n,
    };
    match conn.handle_data(&buf[..n]) {
        Framed::Incomplete => Some((socket, conn, None)),
        Framed::Close(why) => {
            shared.log(0, why);
            None
        }
        Framed::Packet(packet) => {
            let reply = shared
                .server()
                .handle_request(&mut conn, &packet, now_secs());
            let simple = !reply.keep
                && !reply.exit
                && reply.close.is_none()
                && shared.config.delay_write.is_zero();
            if !simple {
                return Some((socket, conn, Some(reply)));
            }
            log_reply(shared, &reply);
            // Replies are small: a fresh socket's send buffer takes them whole.
            if !reply.bytes.is_empty()
                && !matches!((&socket).write(&reply.bytes), Ok(n) if n == reply.bytes.len())
            {
                shared.log(1, "failed to send reply");
            }
            None
        }
    }
}

fn log_reply(shared: &Shared, reply: &Reply) {
    for (level, line) in reply
        .log
        .iter()
        .filter(|(level, _)| shared.config.debug >= *level)
    {
        shared.log(*level, line);
    }
}

/// What to do after acting on a reply.
enum Flow {
    Continue,
    Close,
    Exit,
}

/// Writes a reply and carries out what else it asks (`do_request`'s side effects).
async fn act(
    stream: &mut TcpStream,
    reply: Reply,
    shared: &Shared,
    stop: &mut Option<oneshot::Receiver<()>>,
    id: ConnId,
) -> Flow {
    log_reply(shared, &reply);
    if reply.keep && stop.is_none() {
        let (tx, rx) = oneshot::channel();
        lock(&shared.conns).insert(id, tx);
        *stop = Some(rx);
    }
    if reply.registered.is_some() {
        shared.table_changed();
    }
    if !shared.config.delay_write.is_zero() {
        tokio::time::sleep(shared.config.delay_write).await;
    }
    let written = reply.bytes.is_empty() || stream.write_all(&reply.bytes).await.is_ok();
    if !written {
        if let Some(name) = &reply.registered {
            shared.server().unregister_name(name);
            shared.table_changed();
        }
    }
    if let Some(other) = reply.close {
        if let Some(closer) = lock(&shared.conns).remove(&other) {
            let _ = closer.send(());
        }
        shared.table_changed();
    }
    if reply.exit {
        let _ = stream.shutdown().await;
        shared.log(0, "got KILL_REQ - terminates normal");
        shared.killed.notify_one();
        return Flow::Exit;
    }
    if written && reply.keep {
        Flow::Continue
    } else {
        Flow::Close
    }
}

/// Serves a connection that has to wait (`do_read` and `do_request` of epmd_srv.c), starting
/// with the reply [`serve_now`] left to act on, if any.
async fn serve(
    mut stream: TcpStream,
    mut conn: Connection,
    mut pending: Option<Reply>,
    shared: Arc<Shared>,
) {
    let id = conn.id();
    // Set when the connection registers a node: STOP_REQ closes it through this.
    let mut stop: Option<oneshot::Receiver<()>> = None;
    let mut buf = [0u8; epmd::server::INBUF_SIZE];
    // The last activity, in whole seconds of the wall clock, as epmd_srv.c keeps `mod_time`.
    let mut mod_secs = now_secs();
    loop {
        if let Some(reply) = pending.take() {
            match act(&mut stream, reply, &shared, &mut stop, id).await {
                Flow::Continue => {}
                Flow::Close => break,
                Flow::Exit => return,
            }
        }
        let limit = conn.read_limit();
        let read = async {
            if conn.keeps_alive() {
                Some(stream.read(&mut buf[..limit]).await)
            } else {
                let timeout = until_packet_timeout(mod_secs, shared.config.packet_timeout);
                tokio::time::timeout(timeout, stream.read(&mut buf[..limit]))
                    .await
                    .ok()
            }
        };
        let stopped = async {
            match stop.as_mut() {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            r = read => r,
            _ = stopped => break, // STOP_REQ unregistered our node
        };
        let n = match n {
            None => {
                shared.log(1, "closing because timed out on receive");
                break;
            }
            Some(Ok(0)) if !conn.keeps_alive() => {
                shared.log(0, "got partial packet only");
                break;
            }
            Some(Ok(n)) if n > 0 => n,
            Some(_) => {
                unregister_conn(&shared, id);
                break;
            }
        };
        mod_secs = now_secs();
        match conn.handle_data(&buf[..n]) {
            Framed::Incomplete => {}
            Framed::Close(why) => {
                shared.log(if conn.keeps_alive() { 1 } else { 0 }, why);
                unregister_conn(&shared, id);
                break;
            }
            Framed::Packet(packet) => {
                pending = Some(
                    shared
                        .server()
                        .handle_request(&mut conn, &packet, now_secs()),
                );
            }
        }
    }
    if stop.is_some() {
        lock(&shared.conns).remove(&id);
    }
    if shared.config.debug >= 2 {
        shared.log(2, &format!("closing connection on file descriptor {id}"));
    }
}

fn unregister_conn(shared: &Shared, id: ConnId) {
    if shared.server().connection_closed(id).is_some() {
        shared.table_changed();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
