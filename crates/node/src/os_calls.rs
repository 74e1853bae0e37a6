//! The `os` and `file` calls the window's OS page makes (`window::os`), answered by a rotp
//! node about its own host and OS process as a BEAM node answers them:
//!
//! - `os:type/0` → `{unix, linux}` (`{unix, Os}` elsewhere), `os:version/0` →
//!   `{Major, Minor, Release}` from the kernel's release (`/proc/sys/kernel/osrelease`),
//!   `os:getpid/0` → the OS pid as a string;
//! - `file:read_file/1` of exactly the files the OS page reads ([`READABLE`]) and
//!   `file:list_dir/1` of exactly `/proc/self/fd` ([`LISTABLE`]); any other name is
//!   `{error, eacces}`. A rotp node lends the cookie's holders its introspection, not its file
//!   system: the names are compared as they are, never resolved, so no symbolic link in
//!   `/proc` (`/proc/self/cwd`, `/proc/self/root`, `/proc/self/fd/N`) leads anywhere else
//!   (security review of 2026-12-07, H1: `/proc/self/cwd/drip-data/master.key` was read).
//!
//! The files are read on one of tokio's blocking threads, never a scheduler thread, and at
//! most [`MAX_READ`] bytes of them.

use std::io::Read;

use etf::Term;

use crate::functions::CallResult;

/// The files `file:read_file/1` answers: those `window::os` reads (`proc(5)`).
pub(crate) const READABLE: [&str; 4] = [
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/meminfo",
    "/proc/self/status",
];

/// The directories `file:list_dir/1` answers: `window::os` counts the node's open files.
pub(crate) const LISTABLE: [&str; 1] = ["/proc/self/fd"];

/// At most this much of a file is read: the files above are a few kilobytes; one that is
/// larger is `{error, efbig}`.
pub(crate) const MAX_READ: usize = 64 << 10;

/// `os:*` and `file:*` calls, or `None` for a function this module does not answer.
pub(crate) async fn call(module: &str, function: &str, args: &[Term]) -> Option<CallResult> {
    let reply = match (module, function, args) {
        ("os", "type", []) => os_type(),
        ("os", "getpid", []) => charlist(&std::process::id().to_string()),
        ("os", "version", []) => blocking(os_version).await,
        ("file", "read_file", [name]) => match allowed(name, &READABLE) {
            Ok(path) => blocking(move || read_file(path)).await,
            Err(refused) => refused,
        },
        ("file", "list_dir", [name]) => match allowed(name, &LISTABLE) {
            Ok(path) => blocking(move || list_dir(path)).await,
            Err(refused) => refused,
        },
        _ => return None,
    };
    Some(Ok(reply))
}

/// Runs `f` on a blocking thread: `{error, eio}` if it cannot.
async fn blocking(f: impl FnOnce() -> Term + Send + 'static) -> Term {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| error("eio"))
}

/// `os:type/0`.
fn os_type() -> Term {
    let family = if cfg!(unix) { "unix" } else { "win32" };
    Term::Tuple(vec![Term::atom(family), Term::atom(std::env::consts::OS)])
}

/// `os:version/0`: the kernel release's first three numbers.
fn os_version() -> Term {
    let release = read_capped("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = String::from_utf8_lossy(&release);
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

/// The filename argument (a charlist or a binary) if it is one of `names`, exactly.
fn allowed(name: &Term, names: &[&'static str]) -> Result<&'static str, Term> {
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
    names
        .iter()
        .find(|n| **n == text)
        .copied()
        .ok_or_else(|| error("eacces"))
}

fn io_error(e: &std::io::Error) -> Term {
    error(match e.kind() {
        std::io::ErrorKind::NotFound => "enoent",
        std::io::ErrorKind::PermissionDenied => "eacces",
        std::io::ErrorKind::FileTooLarge => "efbig",
        _ => "eio",
    })
}

/// The file's bytes, or `FileTooLarge` past [`MAX_READ`].
fn read_capped(path: &str) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_READ as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_READ {
        return Err(std::io::ErrorKind::FileTooLarge.into());
    }
    Ok(bytes)
}

/// `file:read_file/1` of an allowed file.
fn read_file(path: &str) -> Term {
    match read_capped(path) {
        Ok(bytes) => Term::Tuple(vec![Term::atom("ok"), Term::Binary(bytes.into())]),
        Err(e) => io_error(&e),
    }
}

/// `file:list_dir/1` of an allowed directory.
fn list_dir(path: &str) -> Term {
    match std::fs::read_dir(path) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(function: &str, name: Term) -> Term {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        match rt.block_on(call("file", function, &[name])) {
            Some(Ok(t)) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_os_pages_files_are_readable() {
        for path in READABLE {
            let ok = file("read_file", charlist(path));
            assert!(
                matches!(&ok, Term::Tuple(v) if v[0] == Term::atom("ok")),
                "{path}: {ok:?}"
            );
        }
        for path in [
            "/etc/passwd",
            "/proc/../etc/passwd",
            "/proc/self/cwd/Cargo.toml",
            "/proc/self/root/etc/passwd",
            "/proc/self/environ",
            "/proc/self/cmdline",
            "/proc/self/pagemap",
            "/proc/self/fd/0",
            "/proc//loadavg",
            "/proc/self/../self/status",
            "/proc/no-such-file",
        ] {
            assert_eq!(file("read_file", charlist(path)), error("eacces"), "{path}");
        }
        assert_eq!(file("read_file", Term::atom("x")), error("einval"));
        let fds = file("list_dir", Term::Binary(b"/proc/self/fd".to_vec().into()));
        assert!(matches!(&fds, Term::Tuple(v) if matches!(&v[1], Term::List(l) if !l.is_empty())));
        for dir in ["/proc/self/root/tmp", "/proc/self/cwd", "/proc", "/"] {
            assert_eq!(file("list_dir", charlist(dir)), error("eacces"), "{dir}");
        }
    }
}
