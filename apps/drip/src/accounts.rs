//! Users: the sign-up rules (a username of 1–30 letters, digits, `.`, `_` or `-`, unique; a
//! password of 8–100 characters; an email), argon2id password hashes (PHC strings, the
//! `argon2` crate's defaults) made and checked a few at a time, and API bearer tokens (random,
//! kept only as their SHA-256 in the database, good for thirty days).
//!
//! The rules are regular expressions, the same ones the API's OpenAPI document states
//! ([`USERNAME`], [`EMAIL`]), so what the document allows is exactly what is accepted.
//! Usernames are plain ASCII: no look-alike letters or invisible format characters to pass
//! one user off as another in shares and the online list.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use regex::Regex;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::db::{DbError, Store, User};

/// What a username is.
pub const USERNAME: &str = r"^[A-Za-z0-9._-]{1,30}$";
/// What an email address is: one `@`, a dotted domain, no spaces or control characters.
pub const EMAIL: &str = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f.][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s\x00-\x1f\x7f-\x9f.]$";
/// The longest email address.
pub const EMAIL_MAX: usize = 254;
/// A password's length in characters.
pub const PASSWORD: std::ops::RangeInclusive<usize> = 8..=100;
/// How long an API token lasts.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

static USERNAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(USERNAME).expect("the username rule compiles"));
static EMAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(EMAIL).expect("the email rule compiles"));

/// Why a sign-up or log-in is refused.
#[derive(Debug, Error)]
pub enum AccountError {
    /// A field breaks the rules.
    #[error("{0}")]
    Invalid(&'static str),
    /// Wrong username or password (which is not said).
    #[error("wrong username or password")]
    BadLogin,
    /// Too many passwords are being checked at once.
    #[error("Drip is busy checking passwords: try again in a moment")]
    Busy,
    /// Sign-up needs an invite, or is closed.
    #[error("sign-up is by invitation only: ask an admin for an invite link")]
    InviteOnly,
    /// The invite is unknown, used or expired.
    #[error("this invite link has been used or has expired: ask for a new one")]
    BadInvite,
    /// The store failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether `username` is one.
pub fn valid_username(username: &str) -> bool {
    USERNAME_RE.is_match(username)
}

/// Checks a sign-up's fields.
pub fn validate(username: &str, password: &str, email: &str) -> Result<(), AccountError> {
    if !valid_username(username) {
        return Err(AccountError::Invalid(
            "a username has 1 to 30 letters (a-z, A-Z), digits, dots, dashes or underscores",
        ));
    }
    if !PASSWORD.contains(&password.chars().count()) {
        return Err(AccountError::Invalid("a password has 8 to 100 characters"));
    }
    if email.chars().count() > EMAIL_MAX || !EMAIL_RE.is_match(email) {
        return Err(AccountError::Invalid("that is not an email address"));
    }
    Ok(())
}

/// Makes and checks password hashes, at most one per core at a time: argon2id takes 19 MiB
/// and a core's worth of work per hash, so without a bound a burst of log-ins or sign-ups
/// would take every core and gigabytes. A request that cannot start within half a minute is
/// told Drip is busy.
#[derive(Debug)]
pub struct Hasher {
    permits: tokio::sync::Semaphore,
    wait: Duration,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Hasher::new(cores, Duration::from_secs(30))
    }
}

impl Hasher {
    /// `permits` hashes at a time; a request waits at most `wait` for its turn.
    pub fn new(permits: usize, wait: Duration) -> Hasher {
        Hasher {
            permits: tokio::sync::Semaphore::new(permits.max(1)),
            wait,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let _turn = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| AccountError::Busy)?
            .map_err(|_| AccountError::Busy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| AccountError::Busy)
    }

    /// An argon2id hash of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let password = password.to_owned();
        self.run(move || hash_password(&password)).await
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: &str, hash: String) -> Result<bool, AccountError> {
        let password = password.to_owned();
        self.run(move || verify_password(&password, &hash)).await
    }
}

/// An argon2id hash of `password`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the system's randomness");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with its defaults hashes")
        .to_string()
}

/// Whether `password` matches `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Signs a user up, through the invite `invite` (its token) if one is given.
pub async fn sign_up(
    store: &Store,
    hasher: &Hasher,
    username: &str,
    password: &str,
    email: &str,
    invite: Option<&str>,
) -> Result<User, AccountError> {
    validate(username, password, email)?;
    if let Some(token) = invite {
        // A dead invite is said before the password is hashed.
        if !store.invite_open(&token_hash(token)).await? {
            return Err(AccountError::BadInvite);
        }
    }
    let hash = hasher.hash(password).await?;
    match invite {
        None => Ok(store.create_user(username, email, &hash).await?),
        Some(token) => store
            .create_invited_user(&token_hash(token), username, email, &hash)
            .await?
            .ok_or(AccountError::BadInvite),
    }
}

/// The user these credentials are, if they are right. The hash is checked even for an
/// unknown name, so timing does not tell which names exist (a name that breaks the rules
/// cannot exist, and is refused at once).
pub async fn log_in(
    store: &Store,
    hasher: &Hasher,
    username: &str,
    password: &str,
) -> Result<User, AccountError> {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Y3t7Bq7H2bYkLNo3A6Wb8r6PY0sUw0YqY1oU6u1mUM";
    if username.is_empty() || username.chars().count() > 30 || password.len() > 1000 {
        return Err(AccountError::BadLogin);
    }
    let user = store.user_named(username).await?;
    let hash = user
        .as_ref()
        .map_or(DUMMY.to_owned(), |u| u.password_hash.clone());
    let ok = hasher.verify(password, hash).await?;
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(AccountError::BadLogin),
    }
}

/// A new bearer token and the hash the store keeps of it.
pub fn new_token() -> (String, String) {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the system's randomness");
    let token = hex::encode(b);
    let hash = token_hash(&token);
    (token, hash)
}

/// What the store keeps of `token`.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules() {
        assert!(validate("ana", "12345678", "ana@example.com").is_ok());
        assert!(validate("ana.b-c_9", "12345678", "a@b.c").is_ok());
        assert!(validate("", "12345678", "a@b.c").is_err());
        assert!(validate(&"x".repeat(30), "12345678", "a@b.c").is_ok());
        assert!(validate(&"x".repeat(31), "12345678", "a@b.c").is_err());
        assert!(validate("ana", "1234567", "a@b.c").is_err());
        assert!(validate("ana", &"p".repeat(101), "a@b.c").is_err());
        assert!(validate("ana", &"é".repeat(100), "a@b.c").is_ok());
        for email in [
            "nope",
            "a@b",
            "a@.b",
            "a@b.",
            "a b@c.d",
            "a@b@c.d",
            "a@b.c\u{85}",
        ] {
            assert!(validate("ana", "12345678", email).is_err(), "{email}");
        }
        // Look-alikes and invisible characters pass no one off as "alice".
        for name in [
            "a b",
            "alice\u{202e}",
            "al\u{200b}ice",
            "аlice",
            "alice/x",
            "élise",
        ] {
            assert!(validate(name, "12345678", "a@b.c").is_err(), "{name}");
        }
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        let (t, hash) = new_token();
        assert_eq!(token_hash(&t), hash);
        assert_ne!(t, hash);
    }

    #[tokio::test]
    async fn the_hasher_runs_a_bounded_number_at_once_and_says_busy_past_its_wait() {
        let hasher = std::sync::Arc::new(Hasher::new(1, Duration::from_millis(1)));
        let busy = {
            let h = hasher.clone();
            let _turn = h.permits.acquire().await.expect("a permit");
            hasher.hash("password").await
        };
        assert!(matches!(busy, Err(AccountError::Busy)), "{busy:?}");
        assert!(hasher.hash("password").await.is_ok());
    }
}
