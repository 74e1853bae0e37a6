//! The `os` and `file` calls the window's OS page makes (`window::os`), answered by a rotp
//! node about its own host and OS process as a BEAM node answers them:
//!
//! - `os:type/0` → `{unix, linux}` (`{unix, Os}` elsewhere), `os:version/0` →
//!   `{Major, Minor, Release}` from the kernel's release (`/proc/sys/kernel/osrelease`),
//!   `os:getpid/0` → the OS pid as a string;
//! - `file:read_file/1` and `file:list_dir/1`, for paths under `/proc` only (anything else is
//!   `{error, eacces}`): a rotp node lends the cookie's holders its introspection, not its
//!   file system.

use etf::Term;

/// `os:type/0`.
pub(crate) fn os_type() -> Term {
    let family = if cfg!(unix) { "unix" } else { "win32" };
    Term::Tuple(vec![Term::atom(family), Term::atom(std::env::consts::OS)])
}

/// `os:version/0`: the kernel release's first three numbers.
pub(crate) fn os_version() -> Term {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<i64>().unwrap_or(0));
    Term::Tuple(
        (0..3)
            .map(|_| Term::Integer(parts.next().unwrap_or(0)))
            .collect(),
    )
}

/// `os:getpid/0`.
pub(crate) fn os_getpid() -> Term {
    charlist(&std::process::id().to_string())
}

fn charlist(s: &str) -> Term {
    Term::List(
        s.chars()
            .map(|c| Term::Integer(i64::from(u32::from(c))))
            .collect(),
    )
}

fn error(reason: &str) -> Term {
    Term::Tuple(vec![Term::atom("error"), Term::atom(reason)])
}

/// A filename argument (a charlist or a binary) if it names something under `/proc`.
fn proc_path(name: &Term) -> Result<std::path::PathBuf, Term> {
    let text = match name {
        Term::Binary(b) => String::from_utf8(b.to_vec()).map_err(|_| error("einval"))?,
        Term::List(cs) => cs
            .iter()
            .map(|c| match c {
                Term::Integer(i) => u32::try_from(*i).ok().and_then(char::from_u32),
                _ => None,
            })
            .collect::<Option<String>>()
            .ok_or_else(|| error("einval"))?,
        _ => return Err(error("einval")),
    };
    let path = std::path::PathBuf::from(&text);
    let inside = path.starts_with("/proc")
        && path
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if inside {
        Ok(path)
    } else {
        Err(error("eacces"))
    }
}

fn io_error(e: &std::io::Error) -> Term {
    error(match e.kind() {
        std::io::ErrorKind::NotFound => "enoent",
        std::io::ErrorKind::PermissionDenied => "eacces",
        _ => "eio",
    })
}

/// `file:read_file/1`.
pub(crate) fn read_file(name: &Term) -> Term {
    match proc_path(name) {
        Ok(path) => match std::fs::read(path) {
            Ok(bytes) => Term::Tuple(vec![Term::atom("ok"), Term::Binary(bytes.into())]),
            Err(e) => io_error(&e),
        },
        Err(e) => e,
    }
}

/// `file:list_dir/1`.
pub(crate) fn list_dir(name: &Term) -> Term {
    match proc_path(name) {
        Ok(path) => match std::fs::read_dir(path) {
            Ok(entries) => Term::Tuple(vec![
                Term::atom("ok"),
                Term::List(
                    entries
                        .filter_map(Result::ok)
                        .map(|e| charlist(&e.file_name().to_string_lossy()))
                        .collect(),
                ),
            ]),
            Err(e) => io_error(&e),
        },
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proc_is_readable() {
        let ok = read_file(&charlist("/proc/self/status"));
        assert!(
            matches!(&ok, Term::Tuple(v) if v[0] == Term::atom("ok")),
            "{ok:?}"
        );
        assert_eq!(read_file(&charlist("/etc/passwd")), error("eacces"));
        assert_eq!(read_file(&charlist("/proc/../etc/passwd")), error("eacces"));
        assert_eq!(read_file(&charlist("/proc/no-such-file")), error("enoent"));
        assert_eq!(read_file(&Term::atom("x")), error("einval"));
        let fds = list_dir(&Term::Binary(b"/proc/self/fd".to_vec().into()));
        assert!(matches!(&fds, Term::Tuple(v) if matches!(&v[1], Term::List(l) if !l.is_empty())));
    }
}
