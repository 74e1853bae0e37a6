//! The dashboard's access token, as Jupyter's: made at start when the operator gives none (and
//! then printed in a login link), or chosen by the operator (`--token`, `ROTP_DASHBOARD_TOKEN`).
//! It is never shown by `Debug`, and it is compared in constant time.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// Random bytes in a made token: 192 bits, as Jupyter's 48 hex digits.
const MADE_BYTES: usize = 24;

/// A dashboard's access token: requests show it as `Authorization: Bearer TOKEN`, or log in
/// with it once (the login form, or a `?token=` link) and then show a session cookie.
#[derive(Clone)]
pub struct Token {
    secret: String,
    chosen: bool,
}

/// Why a chosen token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// An empty token would admit anyone who sends an empty one.
    #[error("the dashboard's token is empty")]
    Empty,
    /// A bearer token travels in a header: visible ASCII only.
    #[error("the dashboard's token has a character other than visible ASCII (no spaces)")]
    NotVisibleAscii,
}

impl Token {
    /// A token of 48 random hex digits, made from the system's randomness.
    ///
    /// # Panics
    ///
    /// If the system has no randomness to give (as Drip's keys do): a guessable token is
    /// worse than none.
    pub fn generate() -> Token {
        Token {
            secret: crate::random_hex(MADE_BYTES),
            chosen: false,
        }
    }

    /// The token the operator chose: printable ASCII, not empty. Guesses at a chosen token
    /// are rate-limited, as it may be short.
    pub fn chosen(secret: impl Into<String>) -> Result<Token, TokenError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(TokenError::Empty);
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotVisibleAscii);
        }
        Ok(Token {
            secret,
            chosen: true,
        })
    }

    /// The token itself, to print in a login link or give to a script.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether the operator chose it (else it was [made](Token::generate)).
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// Whether `given` is this token, in time that does not depend on where they differ.
    pub fn is(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.secret.as_bytes()))
    }
}

impl FromStr for Token {
    type Err = TokenError;

    /// A [chosen](Token::chosen) token, as the command line gives it.
    fn from_str(s: &str) -> Result<Token, TokenError> {
        Token::chosen(s)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("chosen", &self.chosen)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_token_is_48_hex_digits_and_differs_each_time() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_eq!(a.secret().len(), 48);
        assert!(a.secret().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.secret(), b.secret());
        assert!(!a.is_chosen());
    }

    #[test]
    fn a_chosen_token_is_visible_ascii_and_not_empty() {
        assert_eq!(Token::chosen("").err(), Some(TokenError::Empty));
        assert_eq!(
            Token::chosen("two words").err(),
            Some(TokenError::NotVisibleAscii)
        );
        assert_eq!(
            Token::chosen("naïve").err(),
            Some(TokenError::NotVisibleAscii)
        );
        let t: Token = "s3cret".parse().expect("a token");
        assert!(t.is_chosen() && t.is("s3cret") && !t.is("s3cre") && !t.is("s3cret!"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = Token::chosen("hunter2-is-my-token").expect("a token");
        let shown = format!("{t:?} {:?}", Token::generate());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
