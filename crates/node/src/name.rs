//! Node names as `erl -sname` and `erl -name` make them (`net_kernel`): a short name gets this
//! host's name up to the first dot; a long name needs a fully qualified host.
//!
//! ```
//! use rotp_node::name::{full_name, split, NameError, NameKind};
//!
//! // erl -sname drip   =>  drip@HOST (this host's name up to the first dot)
//! let short = full_name("drip", NameKind::Short)?;
//! let (alive, host) = split(&short).expect("name@host");
//! assert_eq!(alive, "drip");
//! assert!(!host.contains('.'));
//! // erl -name drip@db.example.com
//! assert_eq!(full_name("drip@db.example.com", NameKind::Long)?, "drip@db.example.com");
//! // erl -sname drip@db.example.com: "Can't set short node name!"
//! assert_eq!(full_name("drip@db.example.com", NameKind::Short), Err(NameError::NoShortHost));
//! assert!(full_name("no spaces", NameKind::Short).is_err());
//! # Ok::<(), NameError>(())
//! ```

use thiserror::Error;

/// Short (`-sname`) or long (`-name`) names. Nodes of the two kinds cannot talk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// `-sname`.
    Short,
    /// `-name`.
    Long,
}

/// A bad node name.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name part is empty or holds characters `erl` refuses.
    #[error("invalid node name {0:?}")]
    Invalid(String),
    /// `-name` without a host, on a host whose name has no domain (erl says the same).
    #[error("Can't set long node name!\nPlease check your configuration")]
    NoLongHost,
    /// A short name given with a dotted host.
    #[error("Can't set short node name!\nPlease check your configuration")]
    NoShortHost,
}

/// This host's name, as `inet:gethostname/0` gives it.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The full node name for `name` (with or without `@host`).
pub fn full_name(name: &str, kind: NameKind) -> Result<String, NameError> {
    let (alive, host) = match name.split_once('@') {
        Some((alive, host)) => (alive, Some(host.to_owned())),
        None => (name, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid(alive) {
        return Err(NameError::Invalid(name.to_owned()));
    }
    let host = match (host, kind) {
        (Some(h), NameKind::Short) if h.contains('.') => return Err(NameError::NoShortHost),
        (Some(h), _) if !h.is_empty() => h,
        (Some(_), _) => return Err(NameError::Invalid(name.to_owned())),
        (None, NameKind::Short) => {
            let h = hostname();
            h.split('.').next().unwrap_or(&h).to_owned()
        }
        (None, NameKind::Long) => {
            let h = hostname();
            if !h.contains('.') {
                return Err(NameError::NoLongHost);
            }
            h
        }
    };
    Ok(format!("{alive}@{host}"))
}

/// `name@host` split in two.
pub fn split(node: &str) -> Option<(&str, &str)> {
    node.split_once('@')
        .filter(|(a, h)| !a.is_empty() && !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_get_the_short_host() {
        let host = hostname();
        let short = host.split('.').next().unwrap();
        assert_eq!(
            full_name("foo", NameKind::Short).unwrap(),
            format!("foo@{short}")
        );
        assert_eq!(full_name("foo@bar", NameKind::Short).unwrap(), "foo@bar");
        assert_eq!(
            full_name("foo@bar.example", NameKind::Short),
            Err(NameError::NoShortHost)
        );
        assert_eq!(
            full_name("foo@bar.example", NameKind::Long).unwrap(),
            "foo@bar.example"
        );
        assert!(full_name("", NameKind::Short).is_err());
        assert!(full_name("a b", NameKind::Short).is_err());
    }
}
