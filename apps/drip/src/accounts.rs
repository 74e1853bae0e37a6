//! Users: the book's sign-up rules (username 1–30 characters, unique; password 8–100; an
//! email), argon2id password hashes (PHC strings, the `argon2` crate's defaults), and API
//! bearer tokens (random, kept only as their SHA-256 in the database).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::db::{DbError, Store, User};

/// Why a sign-up or log-in is refused.
#[derive(Debug, Error)]
pub enum AccountError {
    /// A field breaks the rules.
    #[error("{0}")]
    Invalid(&'static str),
    /// Wrong username or password (which is not said).
    #[error("wrong username or password")]
    BadLogin,
    /// The store failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Checks a sign-up's fields by the book's rules.
pub fn validate(username: &str, password: &str, email: &str) -> Result<(), AccountError> {
    let n = username.chars().count();
    if n == 0 || n > 30 {
        return Err(AccountError::Invalid("a username has 1 to 30 characters"));
    }
    if username
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        return Err(AccountError::Invalid(
            "a username has no spaces, slashes or control characters",
        ));
    }
    let p = password.chars().count();
    if !(8..=100).contains(&p) {
        return Err(AccountError::Invalid("a password has 8 to 100 characters"));
    }
    let email_ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(a, d)| {
            !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !email_ok {
        return Err(AccountError::Invalid("that is not an email address"));
    }
    Ok(())
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

/// Signs a user up.
pub async fn sign_up(
    store: &Store,
    username: &str,
    password: &str,
    email: &str,
) -> Result<User, AccountError> {
    validate(username, password, email)?;
    let hash = {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| AccountError::Invalid("the password could not be hashed"))?
    };
    Ok(store.create_user(username, email, &hash).await?)
}

/// The user these credentials are, if they are right. The hash is checked even for an
/// unknown name, so timing does not tell which names exist.
pub async fn log_in(store: &Store, username: &str, password: &str) -> Result<User, AccountError> {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Y3t7Bq7H2bYkLNo3A6Wb8r6PY0sUw0YqY1oU6u1mUM";
    let user = store.user_named(username).await?;
    let hash = user
        .as_ref()
        .map_or(DUMMY.to_owned(), |u| u.password_hash.clone());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
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
    fn the_books_rules() {
        assert!(validate("ana", "12345678", "ana@example.com").is_ok());
        assert!(validate("", "12345678", "a@b.c").is_err());
        assert!(validate(&"x".repeat(31), "12345678", "a@b.c").is_err());
        assert!(validate(&"é".repeat(30), "12345678", "a@b.c").is_ok());
        assert!(validate("ana", "1234567", "a@b.c").is_err());
        assert!(validate("ana", &"p".repeat(101), "a@b.c").is_err());
        assert!(validate("ana", "12345678", "nope").is_err());
        assert!(validate("a b", "12345678", "a@b.c").is_err());
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
}
