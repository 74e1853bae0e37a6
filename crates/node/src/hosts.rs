//! The addresses of the hosts the node connects to, as `inet_db` caches what the resolver
//! answers: bounded in entries ([`CAPACITY`], least recently used first out) and in age
//! ([`TTL`]), and an entry is forgotten as soon as a connection to its address fails, so that
//! a peer whose host moved to another address is reachable again at the next attempt (security
//! review of 2026-12-07, 0.3b: every host name ever resolved stayed for ever, and a host that
//! changed address stayed unreachable until the node restarted; the dashboard's picker makes
//! the node resolve any `name@host` it is given).
//!
//! Sans clock: every call takes `now`.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// At most this many hosts are remembered.
pub(crate) const CAPACITY: usize = 256;

/// How long an address is used before the host is looked up again (`inet_db`'s
/// `res_cache_refresh` is an hour; a minute keeps a moved host's wait short and costs one
/// lookup a minute per host the node talks to).
pub(crate) const TTL: Duration = Duration::from_secs(60);

/// Host name → its address and when it was looked up.
pub(crate) struct HostCache {
    entries: Mutex<LruCache<String, (IpAddr, Instant)>>,
}

impl Default for HostCache {
    fn default() -> Self {
        HostCache::with_capacity(CAPACITY)
    }
}

impl HostCache {
    fn with_capacity(capacity: usize) -> HostCache {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        HostCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, (IpAddr, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `host`'s address, if it was looked up less than [`TTL`] before `now`.
    pub(crate) fn get(&self, host: &str, now: Instant) -> Option<IpAddr> {
        let mut entries = self.lock();
        match entries.get(host) {
            Some((ip, at)) if now.saturating_duration_since(*at) < TTL => Some(*ip),
            Some(_) => {
                entries.pop(host);
                None
            }
            None => None,
        }
    }

    /// Remembers `host`'s address as looked up at `now`, dropping the least recently used
    /// host when full.
    pub(crate) fn insert(&self, host: &str, ip: IpAddr, now: Instant) {
        self.lock().put(host.to_owned(), (ip, now));
    }

    /// Forgets `host`: a connection to its address failed, so it may have moved.
    pub(crate) fn forget(&self, host: &str) {
        self.lock().pop(host);
    }

    /// How many hosts are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_is_used_for_its_ttl_then_looked_up_again() {
        let cache = HostCache::default();
        let t0 = Instant::now();
        cache.insert("h", ip(1), t0);
        assert_eq!(cache.get("h", t0 + TTL / 2), Some(ip(1)));
        assert_eq!(cache.get("h", t0 + TTL), None);
        // The host moved: the new address is used from the next lookup on.
        cache.insert("h", ip(2), t0 + TTL);
        assert_eq!(
            cache.get("h", t0 + TTL + Duration::from_secs(1)),
            Some(ip(2))
        );
    }

    #[test]
    fn a_failed_connection_forgets_the_address() {
        let cache = HostCache::default();
        let t0 = Instant::now();
        cache.insert("h", ip(1), t0);
        cache.forget("h");
        assert_eq!(cache.get("h", t0), None);
    }

    #[test]
    fn at_most_capacity_hosts_least_recently_used_out() {
        let cache = HostCache::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY {
            cache.insert(&format!("h{i}"), ip(1), t0);
        }
        // h0 is used again: h1 is now the least recently used, and the next host takes its
        // place.
        assert!(cache.get("h0", t0).is_some());
        cache.insert("next", ip(2), t0);
        assert_eq!(cache.get("h1", t0), None);
        assert_eq!(cache.get("h0", t0), Some(ip(1)));
        // Ten thousand names (a dashboard picker fed `x@host` by a script) stay bounded.
        for i in 0..10_000 {
            cache.insert(&format!("new{i}"), ip(2), t0);
        }
        assert_eq!(cache.len(), CAPACITY);
    }

    /// The host of a peer moved: its old address is still cached when the node next connects.
    /// That attempt fails (nothing answers there), and the next one looks the host up again
    /// and gets in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_whose_host_moved_is_reached_at_its_new_address() {
        use crate::name::NameKind;
        use crate::{Node, NodeConfig};

        let port = harness::free_port();
        // An EPMD on 127.0.0.1 only: 127.0.0.2 stands for the host's old address.
        let _epmd = harness::start_epmd(&harness::otp_epmd(), port, &["-address", "127.0.0.1"]);
        let start = |name: &str| {
            let mut config = NodeConfig::new(name, NameKind::Short, dist::Cookie::new("moved"));
            config.epmd_port = port;
            Node::start(config)
        };
        let b = start("moved_b@localhost").await.expect("b starts");
        let a = start("moved_a@localhost").await.expect("a starts");
        a.inner()
            .conns
            .hosts
            .insert("localhost", ip(2), Instant::now());
        assert!(!a.ping(b.name()).await, "reached at the old address");
        assert!(a.ping(b.name()).await, "not reached at the new address");
        assert_eq!(
            a.inner().conns.hosts.get("localhost", Instant::now()),
            Some(ip(1))
        );
    }
}
