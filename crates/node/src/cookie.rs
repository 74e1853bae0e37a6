//! Finding the cookie as OTP does (`auth.erl`, "Distributed Erlang" in the system
//! documentation): an explicit `--cookie`, else `RELEASE_COOKIE` as Elixir releases set it,
//! else `$HOME/.erlang.cookie` — created with 20 random upper-case letters and mode 0400 when
//! missing, refused when others can read it.
//!
//! ```
//! use rotp_node::cookie::{cookie_file, find_cookie, CookieError};
//! use std::os::unix::fs::PermissionsExt;
//!
//! // `--cookie secret` wins over everything else.
//! assert_eq!(find_cookie(Some("secret"))?.expose(), "secret");
//!
//! // A missing cookie file is created, as erl creates ~/.erlang.cookie: 20 letters, mode 0400.
//! let dir = std::env::temp_dir().join(format!("rotp-cookie-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join(".erlang.cookie");
//! let made = cookie_file(&path)?;
//! assert_eq!(made.expose().len(), 20);
//! assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o400);
//! assert_eq!(cookie_file(&path)?.expose(), made.expose()); // read back the same
//!
//! // One that others can read is refused, as auth.erl refuses it.
//! std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
//! assert!(matches!(cookie_file(&path), Err(CookieError::Permissions(_))));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dist::Cookie;
use thiserror::Error;

/// Why no cookie could be had.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CookieError {
    /// `$HOME` is not set, so there is no cookie file.
    #[error("no --cookie given and $HOME is not set, so there is no ~/.erlang.cookie")]
    NoHome,
    /// The cookie file can be read by others (`auth.erl` refuses it too).
    #[error("cookie file {0} must be accessible by owner only")]
    Permissions(PathBuf),
    /// The cookie file could not be read or created.
    #[error("cookie file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The cookie a node uses: `explicit` if given, else `RELEASE_COOKIE`, else the cookie file.
pub fn find_cookie(explicit: Option<&str>) -> Result<Cookie, CookieError> {
    if let Some(c) = explicit {
        return Ok(Cookie::new(c));
    }
    if let Ok(c) = std::env::var("RELEASE_COOKIE") {
        if !c.is_empty() {
            return Ok(Cookie::new(c));
        }
    }
    let home = std::env::var_os("HOME").ok_or(CookieError::NoHome)?;
    cookie_file(&Path::new(&home).join(".erlang.cookie"))
}

/// Reads the cookie file, creating it first if it is missing.
pub fn cookie_file(path: &Path) -> Result<Cookie, CookieError> {
    let io = |source| CookieError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(CookieError::Permissions(path.to_owned()));
            }
            let text = std::fs::read_to_string(path).map_err(io)?;
            // auth.erl takes the first line, without surrounding blanks.
            Ok(Cookie::new(text.lines().next().unwrap_or("").trim()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cookie = random_cookie().map_err(io)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(path)
                .map_err(io)?;
            file.write_all(cookie.expose().as_bytes()).map_err(io)?;
            Ok(cookie)
        }
        Err(e) => Err(io(e)),
    }
}

/// 20 random upper-case letters, as `auth:make_cookie/0`.
fn random_cookie() -> std::io::Result<Cookie> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Cookie::new(
        bytes
            .iter()
            .map(|b| char::from(b'A' + b % 26))
            .collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_created_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("rotp-cookie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".erlang.cookie");
        let _ = std::fs::remove_file(&path);
        let made = cookie_file(&path).unwrap();
        assert_eq!(made.expose().len(), 20);
        assert!(made.expose().bytes().all(|b| b.is_ascii_uppercase()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        assert_eq!(cookie_file(&path).unwrap(), made);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            cookie_file(&path),
            Err(CookieError::Permissions(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
