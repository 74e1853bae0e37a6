//! The magic cookie and the handshake's challenge digest (`dist_util:gen_digest/2`:
//! `erlang:md5([atom_to_list(Cookie) | integer_to_list(Challenge)])`).

use std::fmt;

use md5::{Digest as _, Md5};

/// A node's magic cookie. Never printed: `Debug` and `Display` show `<cookie>`, so it cannot
/// leak into logs or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie(String);

impl Cookie {
    /// A cookie with this text.
    pub fn new(text: impl Into<String>) -> Cookie {
        Cookie(text.into())
    }

    /// The cookie's text, for the digest and for writing the cookie file. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The 16-byte digest of `challenge` with this cookie.
    pub fn digest(&self, challenge: u32) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(self.0.as_bytes());
        md5.update(challenge.to_string().as_bytes());
        md5.finalize().into()
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cookie(<cookie>)")
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<cookie>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_md5_of_the_cookie_then_the_decimal_challenge() {
        // dist_util:gen_digest(16#DEADBEEF, secret) in OTP 25's erl.
        assert_eq!(
            Cookie::new("secret").digest(0xDEAD_BEEF),
            [195, 147, 155, 49, 215, 169, 19, 216, 46, 42, 206, 9, 36, 124, 123, 65]
        );
        assert_eq!(format!("{:?}", Cookie::new("secret")), "Cookie(<cookie>)");
    }
}
