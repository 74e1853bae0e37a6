//! Browser sessions, kept server-side: the `drip_session` cookie (HttpOnly, SameSite=Lax,
//! `Secure` when Drip is served over https) holds a random 256-bit id, and the store keeps
//! only its SHA-256, with the user and an expiry. Log-out deletes that row, so a copied cookie
//! dies with it; "log out everywhere" deletes them all. Each session's CSRF token is derived
//! from its id with the session key (`keys/session.key`); the log-in and sign-up forms, before
//! there is a session, carry a token derived from a pre-session cookie (`drip_pre`), so a
//! cross-site form cannot log a victim into someone else's account.

use std::path::Path;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::db::{DbError, Store, User};

/// The session cookie's name.
pub const COOKIE: &str = "drip_session";
/// The pre-session cookie's name (log-in CSRF).
pub const PRE_COOKIE: &str = "drip_pre";
/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a pre-session cookie lasts (an open log-in form).
const PRE_LIFETIME: Duration = Duration::from_secs(3600);

/// Starts, finds and ends sessions; makes and checks CSRF tokens.
pub struct Sessions {
    key: Vec<u8>,
    /// Whether cookies carry `Secure` (Drip is served over https).
    secure: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// A random 256-bit id and the SHA-256 the store keeps of it.
fn new_secret() -> (String, String) {
    crate::accounts::new_token()
}

/// Whether `value` could be one of our ids (64 hex digits): anything else never reaches the
/// store.
fn well_formed(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Sessions {
    /// With the key in `keys/session.key` (made on first start, mode 0600; refused if empty,
    /// short or readable by others); cookies `Secure` if `secure`.
    pub fn open(keys: &Path, secure: bool) -> Result<Sessions, crate::keys::KeyError> {
        let key = crate::keys::read_or_make(&keys.join("session.key"), 32, || {
            crate::crypto::random_key().to_vec()
        })?;
        Ok(Sessions { key, secure })
    }

    fn mac(&self, what: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        m.update(what.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    fn flags(&self) -> &'static str {
        if self.secure {
            "; Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// Starts a session for `user_id`: the `Set-Cookie` value that carries it.
    pub async fn start(&self, store: &Store, user_id: &str) -> Result<String, DbError> {
        let (id, hash) = new_secret();
        let expires = crate::db::now_ms() + LIFETIME.as_millis() as i64;
        store.add_session(&hash, user_id, expires).await?;
        Ok(format!(
            "{COOKIE}={id}{}; Max-Age={}",
            self.flags(),
            LIFETIME.as_secs()
        ))
    }

    /// The `Set-Cookie` value that drops the session cookie.
    pub fn end_cookie(&self) -> String {
        format!("{COOKIE}={}; Max-Age=0", self.flags())
    }

    /// Ends the session `value` (a cookie's value) in the store.
    pub async fn end(&self, store: &Store, value: &str) -> Result<(), DbError> {
        if well_formed(value) {
            store
                .remove_session(&crate::accounts::token_hash(value))
                .await?;
        }
        Ok(())
    }

    /// The value of the cookie `name` in `headers`, if any.
    pub fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
    }

    /// The session cookie's value in `headers`, if any.
    pub fn cookie(headers: &HeaderMap) -> Option<&str> {
        Self::cookie_named(headers, COOKIE)
    }

    /// The user a live session cookie value belongs to.
    pub async fn user(&self, store: &Store, value: &str) -> Result<Option<User>, DbError> {
        if !well_formed(value) {
            return Ok(None);
        }
        store
            .session_user(&crate::accounts::token_hash(value))
            .await
    }

    /// The CSRF token of a session (by its cookie value).
    pub fn csrf(&self, session: &str) -> String {
        self.mac(&format!("csrf:{session}"))
    }

    /// Whether `token` is the CSRF token of `session`, compared in constant time.
    pub fn csrf_ok(&self, session: &str, token: &str) -> bool {
        bool::from(self.csrf(session).as_bytes().ct_eq(token.as_bytes()))
    }

    /// The pre-session value in `headers`, or a new one with the `Set-Cookie` that gives it:
    /// for the log-in and sign-up forms.
    pub fn pre_session(&self, headers: &HeaderMap) -> (String, Option<String>) {
        match Self::cookie_named(headers, PRE_COOKIE).filter(|v| well_formed(v)) {
            Some(v) => (v.to_owned(), None),
            None => {
                let (value, _) = new_secret();
                let set = format!(
                    "{PRE_COOKIE}={value}{}; Max-Age={}",
                    self.flags().replace("SameSite=Lax", "SameSite=Strict"),
                    PRE_LIFETIME.as_secs()
                );
                (value, Some(set))
            }
        }
    }

    /// The log-in and sign-up forms' CSRF token for a pre-session value.
    pub fn pre_csrf(&self, pre: &str) -> String {
        self.mac(&format!("pre:{pre}"))
    }

    /// Whether a log-in or sign-up form's `token` belongs to the pre-session cookie in
    /// `headers` (constant time).
    pub fn pre_csrf_ok(&self, headers: &HeaderMap, token: &str) -> bool {
        Self::cookie_named(headers, PRE_COOKIE)
            .filter(|v| well_formed(v))
            .is_some_and(|pre| bool::from(self.pre_csrf(pre).as_bytes().ct_eq(token.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_check_only_against_their_session() {
        let dir = std::env::temp_dir().join(format!("drip-sessions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a dir");
        let s = Sessions::open(&dir, true).expect("opens");
        let a = "a".repeat(64);
        let csrf = s.csrf(&a);
        assert!(s.csrf_ok(&a, &csrf));
        assert!(!s.csrf_ok(&"b".repeat(64), &csrf));
        assert!(!s.csrf_ok(&a, "nope"));
        assert!(s.end_cookie().contains("Secure"));
        let mut headers = HeaderMap::new();
        let (pre, set) = s.pre_session(&headers);
        assert!(set
            .as_deref()
            .is_some_and(|c| c.contains("SameSite=Strict")));
        headers.insert(
            header::COOKIE,
            format!("{PRE_COOKIE}={pre}").parse().expect("a header"),
        );
        assert!(s.pre_csrf_ok(&headers, &s.pre_csrf(&pre)));
        assert!(!s.pre_csrf_ok(&headers, &s.pre_csrf(&"c".repeat(64))));
        assert_eq!(s.pre_session(&headers), (pre, None));
        assert!(!well_formed("garbage") && !well_formed(&"g".repeat(64)));
    }
}
