//! Wrong guesses at an operator-chosen token, limited per client address: each address may
//! get [`BURST`] wrong in a row, then one more every [`REFILL`]; while it has none left, its
//! token checks are not even made (`429 Too Many Requests` with `Retry-After`), so a right
//! guess is not told apart from a wrong one. A session already open is not affected, nor are
//! other addresses. IPv6 clients count by their /64, as one host usually owns one. Sans-IO:
//! every call takes `now`.
//!
//! Hand-made rather than `governor`'s keyed limiter: it must say whether an address is
//! throttled without spending a guess (right guesses cost nothing), which `governor` cannot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong guesses an address may make in a row.
pub(crate) const BURST: u32 = 10;
/// How long one more guess takes to come back.
pub(crate) const REFILL: Duration = Duration::from_secs(6);
/// Addresses remembered at once; past this, addresses that are not throttled are forgotten,
/// and if all are, the newest share one count.
const MAX_CLIENTS: usize = 4096;

/// Whose guesses: an address (IPv6 by its /64), or everyone whose address is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// A known address.
    Address(IpAddr),
    /// No address (a router called without `ConnectInfo`), or one past [`MAX_CLIENTS`].
    Unknown,
}

impl Client {
    /// The client at `ip`.
    pub(crate) fn at(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::Address(IpAddr::V4(v4)),
                None => {
                    let mut bits = v6.octets();
                    bits[8..].fill(0);
                    Client::Address(IpAddr::from(bits))
                }
            },
            v4 => Client::Address(v4),
        }
    }
}

/// Guesses left, as of `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    left: u32,
    at: Instant,
}

impl Bucket {
    /// Refilled up to `now`.
    fn now(self, now: Instant) -> Bucket {
        let back = now.saturating_duration_since(self.at).as_secs() / REFILL.as_secs();
        let back = u32::try_from(back).unwrap_or(u32::MAX);
        if back == 0 {
            return self;
        }
        Bucket {
            left: self.left.saturating_add(back).min(BURST),
            at: if self.left.saturating_add(back) >= BURST {
                now
            } else {
                self.at + REFILL * back
            },
        }
    }
}

/// The wrong guesses of every client.
#[derive(Debug, Default)]
pub(crate) struct Guesses {
    buckets: Mutex<HashMap<Client, Bucket>>,
}

impl Guesses {
    /// `Some(wait)` if `client` has no guess left now: the time until it has one.
    pub(crate) fn throttled(&self, client: Client, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.get(&client)?.now(now);
        (bucket.left == 0).then(|| (bucket.at + REFILL).saturating_duration_since(now))
    }

    /// `client` guessed wrong at `now`.
    pub(crate) fn wrong(&self, client: Client, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let client = if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| b.now(now).left < BURST);
            if buckets.len() >= MAX_CLIENTS {
                Client::Unknown
            } else {
                client
            }
        } else {
            client
        };
        let bucket = buckets.get(&client).map_or(
            Bucket {
                left: BURST,
                at: now,
            },
            |b| b.now(now),
        );
        buckets.insert(
            client,
            Bucket {
                left: bucket.left.saturating_sub(1),
                at: if bucket.left == BURST { now } else { bucket.at },
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Client {
        Client::at(s.parse().expect("an address"))
    }

    #[test]
    fn ten_wrong_guesses_then_one_every_six_seconds() {
        let g = Guesses::default();
        let t0 = Instant::now();
        let me = ip("192.0.2.1");
        for _ in 0..BURST {
            assert_eq!(g.throttled(me, t0), None);
            g.wrong(me, t0);
        }
        let wait = g.throttled(me, t0).expect("throttled");
        assert!(wait > Duration::ZERO && wait <= REFILL, "{wait:?}");
        // Another address is not.
        assert_eq!(g.throttled(ip("192.0.2.2"), t0), None);
        // One guess back after REFILL, and only one.
        let t1 = t0 + REFILL;
        assert_eq!(g.throttled(me, t1), None);
        g.wrong(me, t1);
        assert!(g.throttled(me, t1).is_some());
        // All back after a quiet while.
        let t2 = t1 + REFILL * BURST;
        for _ in 0..BURST {
            assert_eq!(g.throttled(me, t2), None);
            g.wrong(me, t2);
        }
        assert!(g.throttled(me, t2).is_some());
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64() {
        let g = Guesses::default();
        let t0 = Instant::now();
        for i in 0..BURST {
            g.wrong(ip(&format!("2001:db8:1:2::{i:x}")), t0);
        }
        assert!(g.throttled(ip("2001:db8:1:2:ffff::1"), t0).is_some());
        assert_eq!(g.throttled(ip("2001:db8:1:3::1"), t0), None);
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    }

    #[test]
    fn many_addresses_stay_bounded_and_the_excess_shares_one_count() {
        let g = Guesses::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            g.wrong(
                Client::at(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))),
                t0,
            );
        }
        let len = g.buckets.lock().expect("the lock").len();
        assert!(len <= MAX_CLIENTS + 1, "{len}");
        assert!(g
            .buckets
            .lock()
            .expect("the lock")
            .contains_key(&Client::Unknown));
    }
}
