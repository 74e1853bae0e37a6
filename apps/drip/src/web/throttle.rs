//! Rate limits for what a stranger can make Drip do at will — log in and sign up — bounded in
//! memory whatever the stranger sends:
//!
//! - per client address ([`ClientAddr::key`]: an IPv4 address or an IPv6 /64): log-ins from
//!   a token bucket of [`LOG_INS`] (refilled one every six seconds) that a right password
//!   gives back, so only wrong ones count (an office behind one address is not locked out by
//!   its own users); sign-ups, `--signup-limit` an hour (10 by default);
//! - all sign-ups together: twenty times that an hour, so changing addresses does not fill
//!   the disk with accounts;
//! - per username, back-off rather than lock-out: after [`FREE_FAILURES`] wrong passwords each
//!   further try must wait twice as long as the one before (2 s, 4 s, … at most five minutes)
//!   after the last failure; a right password clears it, and it is forgotten after fifteen
//!   quiet minutes. Only names that could exist are counted.
//!
//! Each table is an LRU of at most [`ENTRIES`] keys: a flood of new addresses or names pushes
//! out the oldest instead of growing, and no lookup scans the table.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::client::ClientAddr;

/// Keys each table holds at most.
pub const ENTRIES: usize = 65_536;
/// Log-ins a client address may try at once (then one more every six seconds).
pub const LOG_INS: f64 = 10.0;
/// Sign-ups a client address may make an hour, unless `--signup-limit` says otherwise.
pub const SIGN_UPS: u32 = 10;
/// Wrong passwords for a username before it backs off.
pub const FREE_FAILURES: u32 = 5;
const LONGEST_WAIT: Duration = Duration::from_secs(300);
const FORGET_AFTER: Duration = Duration::from_secs(900);

/// A token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64) -> Bucket {
        Bucket {
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token if there is one; else how long until there is.
    fn take(&mut self, burst: f64, per_second: f64) -> Result<(), Duration> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * per_second).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second)
                .max(Duration::from_secs(1)))
        }
    }
}

/// A username's recent failures.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    fn wait(&self) -> Duration {
        if self.count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doubling = (self.count - FREE_FAILURES + 1).min(16);
        Duration::from_secs(1u64 << doubling).min(LONGEST_WAIT)
    }
}

/// The limits.
#[derive(Debug)]
pub struct Throttle {
    /// Sign-ups an address may make an hour.
    sign_ups_per_hour: f64,
    log_ins: Mutex<LruCache<IpAddr, Bucket>>,
    sign_ups: Mutex<LruCache<IpAddr, Bucket>>,
    all_sign_ups: Mutex<Bucket>,
    usernames: Mutex<LruCache<String, Failures>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(SIGN_UPS)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(
    table: &Mutex<LruCache<IpAddr, Bucket>>,
    key: IpAddr,
    burst: f64,
    per_second: f64,
) -> Result<(), Duration> {
    lock(table)
        .get_or_insert_mut(key, || Bucket::full(burst))
        .take(burst, per_second)
}

impl Throttle {
    /// With `sign_ups` sign-ups an hour per address (and twenty times that for all).
    pub fn new(sign_ups: u32) -> Throttle {
        let n = NonZeroUsize::new(ENTRIES).expect("ENTRIES is not zero");
        let per_hour = f64::from(sign_ups.max(1));
        Throttle {
            sign_ups_per_hour: per_hour,
            log_ins: Mutex::new(LruCache::new(n)),
            sign_ups: Mutex::new(LruCache::new(n)),
            all_sign_ups: Mutex::new(Bucket::full(20.0 * per_hour)),
            usernames: Mutex::new(LruCache::new(n)),
        }
    }

    /// Whether `from` may try to log in as `username` now; else how long to wait.
    pub fn log_in(&self, from: ClientAddr, username: &str) -> Result<(), Duration> {
        take(&self.log_ins, from.key(), LOG_INS, 1.0 / 6.0)?;
        let mut names = lock(&self.usernames);
        match names.get(username) {
            Some(f) if f.last.elapsed() >= FORGET_AFTER => {
                names.pop(username);
                Ok(())
            }
            Some(f) => {
                let since = f.last.elapsed();
                let wait = f.wait();
                if since < wait {
                    Err(wait - since)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Counts a wrong password for `username` (only a name that could exist is counted).
    pub fn failed(&self, username: &str) {
        if !crate::accounts::valid_username(username) {
            return;
        }
        let mut names = lock(&self.usernames);
        let f = names.get_or_insert_mut(username.to_owned(), || Failures {
            count: 0,
            last: Instant::now(),
        });
        f.count = f.count.saturating_add(1);
        f.last = Instant::now();
    }

    /// A right password: `username`'s failures are forgotten, and `from`'s try given back.
    pub fn succeeded(&self, from: ClientAddr, username: &str) {
        lock(&self.usernames).pop(username);
        if let Some(b) = lock(&self.log_ins).get_mut(&from.key()) {
            b.tokens = (b.tokens + 1.0).min(LOG_INS);
        }
    }

    /// A try that never reached a password check (Drip was busy, the database failed): `from`'s
    /// try is given back, nothing is counted against the name.
    pub fn not_tried(&self, from: ClientAddr) {
        if let Some(b) = lock(&self.log_ins).get_mut(&from.key()) {
            b.tokens = (b.tokens + 1.0).min(LOG_INS);
        }
    }

    /// Whether `from` may sign up now; else how long to wait.
    pub fn sign_up(&self, from: ClientAddr) -> Result<(), Duration> {
        let per_hour = self.sign_ups_per_hour;
        take(&self.sign_ups, from.key(), per_hour, per_hour / 3600.0)?;
        lock(&self.all_sign_ups).take(20.0 * per_hour, 20.0 * per_hour / 3600.0)
    }

    /// Keys held, in all tables (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.log_ins).len() + lock(&self.sign_ups).len() + lock(&self.usernames).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> ClientAddr {
        ClientAddr(IpAddr::from(i.to_be_bytes()))
    }

    #[test]
    fn an_address_gets_a_burst_then_waits() {
        let t = Throttle::default();
        for _ in 0..LOG_INS as usize {
            assert!(t.log_in(addr(1), "ana").is_ok());
        }
        let wait = t.log_in(addr(1), "ana").unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(t.log_in(addr(2), "ana").is_ok());
    }

    #[test]
    fn right_passwords_give_their_try_back() {
        let t = Throttle::default();
        for _ in 0..3 * LOG_INS as usize {
            assert!(t.log_in(addr(1), "ana").is_ok());
            t.succeeded(addr(1), "ana");
        }
    }

    #[test]
    fn a_username_backs_off_and_a_right_password_clears_it() {
        let t = Throttle::default();
        for i in 0..FREE_FAILURES {
            assert!(t.log_in(addr(i), "ana").is_ok());
            t.failed("ana");
        }
        // From any address: the name backs off, it is not locked for good.
        let wait = t.log_in(addr(99), "ana").unwrap_err();
        assert!(wait <= Duration::from_secs(2), "{wait:?}");
        assert!(t.log_in(addr(99), "bob").is_ok());
        t.succeeded(addr(98), "ana");
        assert!(t.log_in(addr(98), "ana").is_ok());
        // Names that cannot exist are not counted at all.
        t.failed(&"x".repeat(10_000));
        t.failed("no such name!");
        assert_eq!(lock(&t.usernames).len(), 0);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_addresses_and_names() {
        let t = Throttle::default();
        for i in 0..(ENTRIES as u32 + 5_000) {
            let _ = t.log_in(addr(i), &format!("user{i}"));
            t.failed(&format!("user{i}"));
        }
        assert!(t.len() <= 2 * ENTRIES, "{}", t.len());
    }

    #[test]
    fn sign_ups_are_limited_per_address() {
        let t = Throttle::default();
        for _ in 0..SIGN_UPS {
            assert!(t.sign_up(addr(7)).is_ok());
        }
        assert!(t.sign_up(addr(7)).is_err());
        assert!(t.sign_up(addr(8)).is_ok());
    }
}
