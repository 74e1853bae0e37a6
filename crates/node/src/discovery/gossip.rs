//! libcluster's `Gossip` strategy, on its own datagrams, so rotp nodes and Elixir nodes
//! running it find each other.
//!
//! Every node sends a heartbeat to a multicast group (`233.252.1.32:45892` by default, TTL 1)
//! at random intervals of up to 5 s, and connects to each node whose heartbeat arrives. A
//! heartbeat is `"heartbeat::"` followed by `term_to_binary(%{node: NODE})`. With a `secret`,
//! the whole of that is sent encrypted: a random 16-byte IV, then AES-256-CBC (PKCS #7
//! padding) under the key SHA-256(secret). A node with another secret, or none, cannot read
//! it and is not joined. Anything else that arrives is passed over.
//!
//! ```
//! use rotp_node::discovery::gossip::{decode, heartbeat};
//! use etf::Atom;
//!
//! let me = Atom::from("drip@10.0.0.5");
//! // In the clear: "heartbeat::" ++ term_to_binary(%{node: :"drip@10.0.0.5"})
//! let plain = heartbeat(&me, None);
//! assert!(plain.starts_with(b"heartbeat::"));
//! assert_eq!(decode(&plain, None), Some(me.clone()));
//!
//! // With `secret: "s3cret"`: only nodes with the same secret read it.
//! let sealed = heartbeat(&me, Some("s3cret"));
//! assert_eq!(decode(&sealed, Some("s3cret")), Some(me));
//! assert_eq!(decode(&sealed, Some("other")), None);
//! assert_eq!(decode(b"hello", None), None);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use etf::{Atom, Term};
use sha2::{Digest, Sha256};

use super::SpecError;
use crate::Node;

/// libcluster's default port.
pub const PORT: u16 = 45892;
/// libcluster's default multicast group (`230.1.1.251` before libcluster 3.3: give
/// `multicast=230.1.1.251` to meet older ones).
pub const MULTICAST_ADDR: Ipv4Addr = Ipv4Addr::new(233, 252, 1, 32);
/// What every heartbeat starts with, before the term (and before encryption).
pub const PRELUDE: &[u8] = b"heartbeat::";
/// The longest wait between two heartbeats (libcluster's `:rand.uniform(5_000)` ms).
pub const HEARTBEAT_MAX: Duration = Duration::from_millis(5000);
/// How long a node stays among what gossip sees after its last heartbeat.
pub const FORGET_AFTER: Duration = Duration::from_secs(30);

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// `gossip:`'s settings, as libcluster's `Gossip` config names them.
#[derive(Clone, PartialEq, Eq)]
pub struct Gossip {
    /// The UDP port heartbeats go to and are heard on (`port`).
    pub port: u16,
    /// The address the socket is bound to (`if_addr`, default `0.0.0.0`).
    pub if_addr: Ipv4Addr,
    /// Where heartbeats go: the multicast group, or the broadcast address with
    /// `broadcast_only` (`multicast_addr`, here also `multicast`).
    pub multicast_addr: Ipv4Addr,
    /// The interface (by its address) to send and join on (`multicast_if`).
    pub multicast_if: Option<Ipv4Addr>,
    /// The heartbeats' TTL (`multicast_ttl`, here also `ttl`; default 1, the local network).
    pub ttl: u32,
    /// Broadcast, not multicast: no group is joined (`broadcast_only`).
    pub broadcast_only: bool,
    /// The secret heartbeats are encrypted with (`secret`).
    pub secret: Option<String>,
}

impl Default for Gossip {
    fn default() -> Self {
        Gossip {
            port: PORT,
            if_addr: Ipv4Addr::UNSPECIFIED,
            multicast_addr: MULTICAST_ADDR,
            multicast_if: None,
            ttl: 1,
            broadcast_only: false,
            secret: None,
        }
    }
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("port", &self.port)
            .field("if_addr", &self.if_addr)
            .field("multicast_addr", &self.multicast_addr)
            .field("multicast_if", &self.multicast_if)
            .field("ttl", &self.ttl)
            .field("broadcast_only", &self.broadcast_only)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// `gossip[:port=P][,multicast=ADDR][,ttl=N][,secret=S]…` after the kind.
pub(super) fn parse(positional: &[&str], settings: &[(&str, &str)]) -> Result<Gossip, SpecError> {
    let bad = |setting: String| {
        SpecError::Setting {
        strategy: "gossip",
        setting,
        expected: "port=P, multicast=ADDR, ttl=N, secret=S, multicast_if=IP, if_addr=IP, broadcast_only=true",
    }
    };
    if let Some(extra) = positional.first() {
        return Err(bad((*extra).to_owned()));
    }
    let mut gossip = Gossip::default();
    for &(key, value) in settings {
        let wrong = || bad(format!("{key}={value}"));
        match key {
            "port" => gossip.port = value.parse().map_err(|_| wrong())?,
            "multicast" | "multicast_addr" => {
                gossip.multicast_addr = value.parse().map_err(|_| wrong())?
            }
            "multicast_if" => gossip.multicast_if = Some(value.parse().map_err(|_| wrong())?),
            "if_addr" => gossip.if_addr = value.parse().map_err(|_| wrong())?,
            "ttl" | "multicast_ttl" => {
                gossip.ttl = value.parse().ok().filter(|t| *t <= 255).ok_or_else(wrong)?
            }
            "broadcast_only" => gossip.broadcast_only = value.parse().map_err(|_| wrong())?,
            "secret" if !value.is_empty() => gossip.secret = Some(value.to_owned()),
            _ => return Err(wrong()),
        }
    }
    if !gossip.broadcast_only && !gossip.multicast_addr.is_multicast() {
        return Err(bad(format!(
            "multicast={} (not a multicast address; broadcast_only=true to broadcast)",
            gossip.multicast_addr
        )));
    }
    Ok(gossip)
}

/// The datagram that tells the others about `node`, encrypted under `secret` if given.
pub fn heartbeat(node: &Atom, secret: Option<&str>) -> Vec<u8> {
    let term = Term::Map(etf::Map::from_entries([(
        Term::Atom(Atom::from("node")),
        Term::Atom(node.clone()),
    )]));
    let mut plain = PRELUDE.to_vec();
    // An atom always encodes.
    plain.extend(etf::encode(&term).unwrap_or_default());
    let Some(secret) = secret else { return plain };
    let mut iv = [0u8; 16];
    // Without randomness the IV is zeros: still decryptable, only less private.
    let _ = getrandom::fill(&mut iv);
    let sealed =
        Encryptor::new(&key(secret).into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&plain);
    let mut datagram = iv.to_vec();
    datagram.extend(sealed);
    datagram
}

/// The node a heartbeat datagram names, or `None` for anything else (garbage, another
/// secret, a term that is not `%{node: ATOM}`, an atom that is not `name@host`).
pub fn decode(datagram: &[u8], secret: Option<&str>) -> Option<Atom> {
    let plain;
    let plain = match secret {
        None => datagram,
        Some(secret) => {
            let iv: [u8; 16] = datagram.get(..16)?.try_into().ok()?;
            plain = Decryptor::new(&key(secret).into(), &iv.into())
                .decrypt_padded_vec_mut::<Pkcs7>(&datagram[16..])
                .ok()?;
            &plain
        }
    };
    let term = plain.strip_prefix(PRELUDE)?;
    let options = etf::DecodeOptions {
        max_depth: 4,
        max_inflated: 64 * 1024,
    };
    let Term::Map(map) = etf::decode_with(term, &options).ok()? else {
        return None;
    };
    match map.get(&Term::Atom(Atom::from("node")))? {
        Term::Atom(node) if crate::name::split(node.as_str()).is_some() => Some(node.clone()),
        _ => None,
    }
}

fn key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The socket as libcluster opens it: bound to `if_addr:port` with `SO_REUSEADDR` and
/// `SO_REUSEPORT` (so nodes on one host share the port), broadcast allowed, the group joined
/// with loopback on (so nodes on one host hear each other) unless `broadcast_only`.
fn open(gossip: &Gossip) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((gossip.if_addr, gossip.port)).into())?;
    if !gossip.broadcast_only {
        let interface = gossip.multicast_if.unwrap_or(Ipv4Addr::UNSPECIFIED);
        if let Some(interface) = gossip.multicast_if {
            socket.set_multicast_if_v4(&interface)?;
        }
        socket.set_multicast_ttl_v4(gossip.ttl)?;
        socket.set_multicast_loop_v4(true)?;
        socket.join_multicast_v4(&gossip.multicast_addr, &interface)?;
    }
    tokio::net::UdpSocket::from_std(socket.into())
}

/// Sends heartbeats and connects to the nodes whose heartbeats arrive, until the node goes
/// down. A socket that cannot be opened is tried again every 5 s (said once).
pub(super) async fn run(node: &Node, gossip: &Gossip) {
    let socket = loop {
        match open(gossip) {
            Ok(s) => break s,
            Err(e) => {
                node.record_discovery("gossip", |seen| {
                    if seen.failing.is_none() {
                        tracing::warn!(
                            "discovery gossip: cannot open UDP port {} for {}: {e}; trying again every 5 s",
                            gossip.port,
                            gossip.multicast_addr
                        );
                    }
                    seen.errors += 1;
                    seen.failing = Some(format!("port {}: {e}", gossip.port));
                });
                tokio::time::sleep(HEARTBEAT_MAX).await;
            }
        }
    };
    node.record_discovery("gossip", |seen| seen.failing = None);
    let socket = Arc::new(socket);
    tokio::select! {
        () = send_heartbeats(node, gossip, &socket) => {}
        () = hear(node, gossip, &socket) => {}
    }
}

async fn send_heartbeats(node: &Node, gossip: &Gossip, socket: &tokio::net::UdpSocket) {
    let to = SocketAddr::from((gossip.multicast_addr, gossip.port));
    let mut failing = false;
    loop {
        let datagram = heartbeat(node.name(), gossip.secret.as_deref());
        match socket.send_to(&datagram, to).await {
            Ok(_) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!("discovery gossip: a heartbeat to {to} failed: {e}");
                    failing = true;
                }
                node.record_discovery("gossip", |seen| seen.errors += 1);
            }
        }
        let mut r = [0u8; 2];
        let _ = getrandom::fill(&mut r);
        let ms = 1 + u64::from(u16::from_le_bytes(r)) % HEARTBEAT_MAX.as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn hear(node: &Node, gossip: &Gossip, socket: &tokio::net::UdpSocket) {
    let mut heard: BTreeMap<Atom, Instant> = BTreeMap::new();
    let connecting: Arc<Mutex<BTreeSet<Atom>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    // Nodes whose heartbeats stopped are forgotten even when nothing else arrives.
    let mut prune = tokio::time::interval(HEARTBEAT_MAX);
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = prune.tick() => {
                forget_silent(node, &mut heard);
                continue;
            }
        };
        let len = match received {
            Ok((len, _from)) => len,
            Err(e) => {
                // As an ICMP error reported on the socket; not worth more than a pause.
                tracing::debug!("discovery gossip: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(peer) = decode(&buf[..len], gossip.secret.as_deref()) else {
            continue;
        };
        if &peer == node.name() {
            continue;
        }
        heard.insert(peer.clone(), Instant::now());
        forget_silent(node, &mut heard);
        if node.nodes(true).contains(&peer) {
            continue;
        }
        // One attempt at a time per node; the next heartbeat tries again.
        if !connecting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.clone())
        {
            continue;
        }
        let (node, connecting) = (node.clone(), connecting.clone());
        tokio::spawn(async move {
            if node.connect(&peer).await {
                tracing::info!("discovery gossip: connected to {peer}");
            }
            connecting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&peer);
        });
    }
}

/// Drops the nodes not heard for [`FORGET_AFTER`] and records the rest as what gossip sees.
fn forget_silent(node: &Node, heard: &mut BTreeMap<Atom, Instant>) {
    let now = Instant::now();
    heard.retain(|_, at| now.duration_since(*at) < FORGET_AFTER);
    let nodes: Vec<Atom> = heard.keys().cloned().collect();
    node.record_discovery("gossip", |seen| seen.nodes = nodes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn heartbeats_decode_with_the_same_secret_only() {
        let node = Atom::from("drip@10.0.0.5");
        let plain = heartbeat(&node, None);
        assert!(plain.starts_with(b"heartbeat::\x83t\0\0\0\x01"));
        assert_eq!(decode(&plain, None), Some(node.clone()));
        assert_eq!(decode(&plain, Some("s")), None);
        let sealed = heartbeat(&node, Some("s3cret"));
        assert_eq!(sealed.len() % 16, 0);
        assert!(!sealed.windows(PRELUDE.len()).any(|w| w == PRELUDE));
        assert_eq!(decode(&sealed, Some("s3cret")), Some(node.clone()));
        assert_eq!(decode(&sealed, Some("other")), None);
        assert_eq!(decode(&sealed, None), None);
        // Two heartbeats differ by their IVs.
        assert_ne!(sealed, heartbeat(&node, Some("s3cret")));
        // A term that is not %{node: name@host}.
        let mut odd = PRELUDE.to_vec();
        odd.extend(etf::encode(&Term::Atom(Atom::from("drip@h"))).expect("encodes"));
        assert_eq!(decode(&odd, None), None);
        assert_eq!(decode(&heartbeat(&Atom::from("nohost"), None), None), None);
    }

    #[test]
    fn settings_parse_as_libcluster_names_them() {
        let spec: super::super::Spec =
            "gossip:port=45900,multicast=239.1.2.3,ttl=2,secret=pw,multicast_if=10.0.0.1"
                .parse()
                .expect("gossip");
        let super::super::Strategy::Gossip(g) = spec.strategy else {
            panic!("not gossip: {spec:?}")
        };
        assert_eq!(
            g,
            Gossip {
                port: 45900,
                multicast_addr: Ipv4Addr::new(239, 1, 2, 3),
                ttl: 2,
                secret: Some("pw".into()),
                multicast_if: Some(Ipv4Addr::new(10, 0, 0, 1)),
                ..Gossip::default()
            }
        );
        assert!(!format!("{g:?}").contains("pw"));
        let plain: super::super::Spec = "gossip".parse().expect("gossip alone");
        assert_eq!(
            plain.strategy,
            super::super::Strategy::Gossip(Gossip::default())
        );
        let broadcast: super::super::Spec = "gossip:multicast=255.255.255.255,broadcast_only=true"
            .parse()
            .expect("broadcast");
        assert!(matches!(
            broadcast.strategy,
            super::super::Strategy::Gossip(Gossip {
                broadcast_only: true,
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, None);
            let _ = decode(&bytes, Some("secret"));
            let mut prefixed = PRELUDE.to_vec();
            prefixed.extend(&bytes);
            let _ = decode(&prefixed, None);
        }
    }
}
