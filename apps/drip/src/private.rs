//! What Drip keeps on disk is its own: the data, spool and keys directories are made with
//! mode 0700 (and an existing one looser than that is tightened), spool files are made 0600,
//! and the SQLite file is made 0600 before SQLite opens it (SQLite gives its `-wal` and
//! `-shm` files the database file's mode). The spool is the one place Drip keeps plaintext.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Makes `path` (and any parent it lacks) a directory only its owner may enter.
pub fn dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    tighten(path, 0o700)
}

/// Takes group and other permissions off `path`, leaving it `mode` at most.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let now = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if now & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(now & mode))?;
    }
    Ok(())
}

/// A new file at `path` only its owner may read (an existing one is an error).
pub async fn new_file(path: &Path) -> io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
}

/// The file a `sqlite:` database URL names, if it names one (not `:memory:`).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next().unwrap_or(rest);
    (!file.is_empty() && !file.starts_with(":memory:")).then(|| PathBuf::from(file))
}

/// Makes the SQLite file `url` names, empty and 0600, if there is none yet (SQLite takes an
/// empty file as a new database); tightens an existing one to 0600.
pub fn sqlite(url: &str) -> io::Result<()> {
    let Some(file) = sqlite_file(url) else {
        return Ok(());
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(&file, 0o600),
        Err(e) => Err(e),
    }
}

/// Whether `e` says the disk (or the user's disk quota) is full.
pub fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_of_a_url() {
        assert_eq!(
            sqlite_file("sqlite://d/drip.sqlite?mode=rwc"),
            Some(PathBuf::from("d/drip.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
