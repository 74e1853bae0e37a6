//! The EPMD daemon: listeners and one task per connection around [`epmd::server`], binding and
//! timing out as `erts/epmd/src/epmd_srv.c` does.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use epmd::server::{ConnId, Connection, Framed, Server};
use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl Daemon {
    /// Binds the listening sockets as epmd does: every address (IPv4 and IPv6) by default;
    /// with `addresses`, loopback (127.0.0.1 and ::1) plus each address listed.
    pub async fn bind(config: DaemonConfig) -> Result<Daemon, DaemonError> {
        let addrs = listen_addresses(config.addresses.as_deref())?;
        let mut listeners = Vec::new();
        for (ip, fatal) in addrs {
            match listen(SocketAddr::new(ip, config.port)) {
                Ok(Some(l)) => listeners.push(l),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    return Err(DaemonError::AlreadyRunning { port: config.port, addr: ip })
                }
                Err(source) if fatal => return Err(DaemonError::Bind { addr: ip, source }),
                Err(source) => log::print(config.debug, 0, &format!("failed to bind on ipaddr {ip}: {source}")),
            }
        }
        if listeners.is_empty() {
            return Err(DaemonError::NothingBound);
        }
        let server = Server::new(epmd::server::Config {
            port: config.port,
            relaxed_command_check: config.relaxed_command_check,
            debug: config.debug > 0,
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
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// A receiver that changes whenever a name is registered or unregistered.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// The current `NAMES_REQ` text: `name N at port P` lines.
    pub fn names(&self) -> String {
        let bytes = self.shared.server().names();
        String::from_utf8_lossy(&bytes[4..]).into_owned()
    }

    /// A handle for reading the table while [`run`](Daemon::run) owns the daemon.
    pub fn names_handle(&self) -> NamesHandle {
        NamesHandle(self.shared.clone())
    }

    /// Serves until a `KILL_REQ` is accepted.
    pub async fn run(self) {
        self.shared.log(2, "entering the main select() loop");
        for listener in self.listeners {
            tokio::spawn(accept_loop(listener, self.shared.clone()));
        }
        self.shared.killed.notified().await;
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
}

/// The addresses to bind and whether failing to bind each is fatal (`run` in epmd_srv.c).
fn listen_addresses(addresses: Option<&str>) -> Result<Vec<(IpAddr, bool)>, DaemonError> {
    let list = addresses.filter(|a| a.chars().any(|c| c != ' ' && c != ','));
    let Some(list) = list else {
        return Ok(vec![(Ipv4Addr::UNSPECIFIED.into(), true), (Ipv6Addr::UNSPECIFIED.into(), true)]);
    };
    let mut out = vec![(Ipv4Addr::LOCALHOST.into(), false), (Ipv6Addr::LOCALHOST.into(), false)];
    for token in list.split([',', ' ']).filter(|t| !t.is_empty()) {
        let ip: IpAddr = token.parse().map_err(|_| DaemonError::BadAddress(token.to_owned()))?;
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
fn listen(addr: SocketAddr) -> io::Result<Option<TcpListener>> {
    let socket = match Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) if matches!(e.raw_os_error(), Some(97 | 93)) => return Ok(None), // EAFNOSUPPORT, EPROTONOSUPPORT
        Err(e) => return Err(e),
    };
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(libc_somaxconn())?;
    TcpListener::from_std(socket.into()).map(Some)
}

fn libc_somaxconn() -> i32 {
    4096
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        if !shared.config.delay_accept.is_zero() {
            tokio::time::sleep(shared.config.delay_accept).await;
        }
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, peer, shared.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: say so, and let others finish.
                shared.log(0, &format!("error in accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `conn_local_peer_check`: a loopback peer, or a peer on the address it connected to.
fn is_local_peer(stream: &TcpStream, peer: SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) if ip.octets()[0] == 127 => true,
        IpAddr::V6(ip) if ip.is_loopback() => true,
        ip => stream.local_addr().is_ok_and(|local| local.ip() == ip),
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let id = ConnId::from(stream.as_raw_fd());
    let mut conn = Connection::new(id, is_local_peer(&stream, peer));
    shared.log(2, if conn.is_local() { "Local peer connected" } else { "Non-local peer connected" });
    let (close_tx, mut close_rx) = oneshot::channel();
    lock(&shared.conns).insert(id, close_tx);
    let mut buf = vec![0u8; epmd::server::INBUF_SIZE];
    loop {
        let limit = conn.read_limit();
        let read = async {
            if conn.keeps_alive() {
                Some(stream.read(&mut buf[..limit]).await)
            } else {
                tokio::time::timeout(shared.config.packet_timeout, stream.read(&mut buf[..limit]))
                    .await
                    .ok()
            }
        };
        let n = tokio::select! {
            r = read => r,
            _ = &mut close_rx => break, // STOP_REQ unregistered our node
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
        match conn.handle_data(&buf[..n]) {
            Framed::Incomplete => {}
            Framed::Close(why) => {
                shared.log(if conn.keeps_alive() { 1 } else { 0 }, why);
                unregister_conn(&shared, id);
                break;
            }
            Framed::Packet(packet) => {
                let reply = shared.server().handle_request(&mut conn, &packet, now_secs());
                for (level, line) in &reply.log {
                    shared.log(*level, line);
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
                    return;
                }
                if !written || !reply.keep {
                    break;
                }
            }
        }
    }
    lock(&shared.conns).remove(&id);
    shared.log(2, &format!("closing connection on file descriptor {id}"));
}

fn unregister_conn(shared: &Shared, id: ConnId) {
    if shared.server().connection_closed(id).is_some() {
        shared.table_changed();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
