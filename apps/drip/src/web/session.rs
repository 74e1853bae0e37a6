//! Browser sessions: a signed cookie (`drip_session`, HttpOnly, SameSite=Lax, the user's id
//! and an expiry under HMAC-SHA256 with a key kept in the data directory), a CSRF token
//! derived from the session for every form and script request, and log-in rate limiting (five
//! failures per username and address in five minutes, then 429 until the window passes).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "drip_session";
/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
const FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(300);

/// Signs and checks sessions; counts failed log-ins.
pub struct Sessions {
    key: Vec<u8>,
    failures: Mutex<HashMap<(String, IpAddr), Vec<Instant>>>,
}

impl Sessions {
    /// With the key in `keys/session.key` (made on first start, mode 0600).
    pub fn open(keys: &Path) -> std::io::Result<Sessions> {
        let key = crate::keys::read_or_make(&keys.join("session.key"), || {
            crate::crypto::random_key().to_vec()
        })?;
        Ok(Sessions {
            key,
            failures: Mutex::default(),
        })
    }

    fn mac(&self, what: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        m.update(what.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// A `Set-Cookie` value for `user_id`'s new session.
    pub fn issue(&self, user_id: &str) -> String {
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + LIFETIME.as_secs();
        let body = format!("{user_id}.{expires}");
        format!(
            "{COOKIE}={body}.{}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            self.mac(&body),
            LIFETIME.as_secs()
        )
    }

    /// The `Set-Cookie` value that ends a session.
    pub fn end() -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }

    /// The session cookie's value in `headers`, if any.
    pub fn cookie(headers: &HeaderMap) -> Option<&str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    }

    /// The user id a session cookie value vouches for, if its signature holds and it has not
    /// expired.
    pub fn user_id(&self, value: &str) -> Option<String> {
        let (body, mac) = value.rsplit_once('.')?;
        if !bool::from(self.mac(body).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let (user, expires) = body.split_once('.')?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (expires.parse::<u64>().ok()? > now).then(|| user.to_owned())
    }

    /// The CSRF token of a session (by its cookie value).
    pub fn csrf(&self, session: &str) -> String {
        self.mac(&format!("csrf:{session}"))
    }

    /// Whether `token` is the CSRF token of `session`.
    pub fn csrf_ok(&self, session: &str, token: &str) -> bool {
        bool::from(self.csrf(session).as_bytes().ct_eq(token.as_bytes()))
    }

    /// Whether `username` from `from` may try to log in now.
    pub fn may_try(&self, username: &str, from: IpAddr) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let tries = f.entry((username.to_owned(), from)).or_default();
        tries.retain(|t| t.elapsed() < WINDOW);
        tries.len() < FAILURES
    }

    /// Counts a failed log-in.
    pub fn failed(&self, username: &str, from: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() > 100_000 {
            f.retain(|_, v| v.iter().any(|t| t.elapsed() < WINDOW));
        }
        f.entry((username.to_owned(), from))
            .or_default()
            .push(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_only_as_signed() {
        let dir = std::env::temp_dir().join(format!("drip-sessions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a dir");
        let s = Sessions::open(&dir).expect("opens");
        let set = s.issue("u1");
        let value = set
            .split(';')
            .next()
            .and_then(|c| c.strip_prefix("drip_session="))
            .expect("a value");
        assert_eq!(s.user_id(value).as_deref(), Some("u1"));
        assert_eq!(s.user_id(&value.replace("u1", "u2")), None);
        assert_eq!(s.user_id("garbage"), None);
        let csrf = s.csrf(value);
        assert!(s.csrf_ok(value, &csrf));
        assert!(!s.csrf_ok(value, "nope"));
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..FAILURES {
            assert!(s.may_try("ana", ip));
            s.failed("ana", ip);
        }
        assert!(!s.may_try("ana", ip));
        assert!(s.may_try("bob", ip));
    }
}
