//! Drip's secrets on disk: `master.key` (the master key that wraps every file key, 64 hex
//! digits) and `session.key` (the key CSRF tokens are derived with), in the keys directory
//! (`--keys`, by default the data directory). Each is made on first start with mode 0600; a
//! cluster's nodes share one keys directory (or copies of it), so a file stored through one
//! node opens on another.
//!
//! A key file that is empty, shorter than its key, or readable by anyone but its owner is
//! refused with one sentence (an empty file is what a failed copy leaves, and an empty HMAC key
//! would let anyone forge tokens). `master.key.old`, left by `drip keys rotate`, is read too:
//! file keys still wrapped under it keep opening until every one has been re-wrapped.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::crypto::MasterKey;

/// Why a key file is refused.
#[derive(Debug, Error)]
pub enum KeyError {
    /// It cannot be read or made.
    #[error("cannot read or make the key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Others may read it.
    #[error("the key file {0} can be read by other users (mode {1:o}): run `chmod 600 {0}`")]
    Readable(PathBuf, u32),
    /// Empty or short.
    #[error("the key file {0} holds {1} bytes, fewer than its key needs ({2}): restore it from a backup or remove it to make a new one (files stored under an old master key will not open)")]
    Short(PathBuf, usize, usize),
    /// Not a master key.
    #[error("the master key {0} is not 64 hex digits")]
    NotHex(PathBuf),
}

/// Refuses a key file others may read.
fn private(path: &Path, file: &std::fs::File) -> Result<(), KeyError> {
    let mode = file
        .metadata()
        .map_err(|e| KeyError::Io(path.into(), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Readable(path.into(), mode & 0o777));
    }
    Ok(())
}

/// The bytes of the secret file `path` (at least `min` of them), made from `make` if there is
/// none. Two nodes making it at once agree: only one creates it, the other reads what that one
/// wrote.
pub fn read_or_make(
    path: &Path,
    min: usize,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, KeyError> {
    match read(path, min) {
        Err(KeyError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let io = |e| KeyError::Io(path.into(), e);
    let bytes = make();
    // Written aside, then linked into place only if no other process got there first.
    let aside = path.with_extension(format!("new-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)
        .map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path, min),
        Err(e) => Err(io(e)),
    }
}

/// The bytes of the key file `path`, refused if others may read it or it holds fewer than
/// `min` bytes.
pub fn read(path: &Path, min: usize) -> Result<Vec<u8>, KeyError> {
    let io = |e| KeyError::Io(path.into(), e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    private(path, &file)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(io)?;
    if bytes.len() < min {
        return Err(KeyError::Short(path.into(), bytes.len(), min));
    }
    Ok(bytes)
}

/// The master key in a key file's text.
fn parse_master(path: &Path, text: &[u8]) -> Result<MasterKey, KeyError> {
    let bytes: [u8; 32] = std::str::from_utf8(text)
        .ok()
        .and_then(|t| hex::decode(t.trim()).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::NotHex(path.into()))?;
    Ok(MasterKey::new(&bytes))
}

/// The master key in `keys/master.key`, made on first start.
pub fn master_key(keys: &Path) -> Result<MasterKey, KeyError> {
    let path = keys.join("master.key");
    let text = read_or_make(&path, 64, || {
        hex::encode(crate::crypto::random_key()).into_bytes()
    })?;
    parse_master(&path, &text)
}

/// The master key a rotation left in `keys/master.key.old`, if there is one.
pub fn old_master_key(keys: &Path) -> Result<Option<MasterKey>, KeyError> {
    let path = keys.join("master.key.old");
    match read(&path, 64) {
        Ok(text) => parse_master(&path, &text).map(Some),
        Err(KeyError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a new master key as `keys/master.key`, the current one becoming
/// `keys/master.key.old` (refused if one is there already: a rotation not finished); the new
/// key.
pub fn replace_master_key(keys: &Path) -> Result<MasterKey, KeyError> {
    let (current, old) = (keys.join("master.key"), keys.join("master.key.old"));
    if old.exists() {
        return Err(KeyError::Io(
            old,
            std::io::Error::other(
                "a previous rotation's old key is still here: run `drip check`, and remove it once no file key is wrapped under it",
            ),
        ));
    }
    let new = keys.join("master.key.new");
    let _ = std::fs::remove_file(&new);
    let text = read_or_make(&new, 64, || {
        hex::encode(crate::crypto::random_key()).into_bytes()
    })?;
    let key = parse_master(&new, &text)?;
    let io = |p: &Path, e| KeyError::Io(p.into(), e);
    std::fs::hard_link(&current, &old).map_err(|e| io(&old, e))?;
    std::fs::rename(&new, &current).map_err(|e| io(&current, e))?;
    std::fs::File::open(keys)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(keys, e))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("drip-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a dir");
        dir
    }

    #[test]
    fn a_secret_is_made_once_with_mode_0600_and_read_after() {
        let dir = dir("once");
        let path = dir.join("session.key");
        let first = read_or_make(&path, 5, || b"first".to_vec()).expect("made");
        let second = read_or_make(&path, 5, || b"second".to_vec()).expect("read");
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&b"first"[..], &b"first"[..])
        );
        let mode = std::fs::metadata(&path)
            .expect("there")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(&dir).expect("listed").count(), 1);
    }

    #[test]
    fn empty_short_foreign_readable_and_non_hex_keys_are_refused_in_one_sentence() {
        let dir = dir("refused");
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("written");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
            path
        };
        // What `: > session.key` leaves: refused, never taken as an empty HMAC key.
        let empty = write("session.key", b"", 0o600);
        let e = read_or_make(&empty, 32, || vec![7; 32]).unwrap_err();
        assert!(e.to_string().contains("holds 0 bytes"), "{e}");
        write("session.key", &[1; 16], 0o600);
        assert!(matches!(
            read_or_make(&empty, 32, || vec![7; 32]),
            Err(KeyError::Short(_, 16, 32))
        ));
        write("session.key", &[1; 32], 0o644);
        let e = read_or_make(&empty, 32, || vec![7; 32]).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        write(
            "master.key",
            b"not hex, and long enough to pass the length check: xxxxxxxxxxxxxxx",
            0o600,
        );
        let e = master_key(&dir).expect_err("refused");
        assert!(e.to_string().contains("is not 64 hex digits"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn a_rotation_keeps_the_old_key_beside_the_new_one() {
        let dir = dir("rotate");
        let first = master_key(&dir).expect("made");
        assert!(old_master_key(&dir).expect("read").is_none());
        let second = replace_master_key(&dir).expect("rotated");
        assert_ne!(first.id(), second.id());
        assert_eq!(master_key(&dir).expect("read").id(), second.id());
        assert_eq!(
            old_master_key(&dir).expect("read").map(|k| k.id()),
            Some(first.id())
        );
        // Not twice while the old one is still needed.
        assert!(replace_master_key(&dir).is_err());
    }
}
