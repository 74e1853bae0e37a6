//! Drip's secrets on disk: `master.key` (the master key that wraps every file key, 64 hex
//! digits) and `session.key` (the HMAC key that signs session cookies), in the keys directory
//! (`--keys`, by default the data directory). Each is made on first start with mode 0600; a
//! cluster's nodes share one keys directory (or copies of it), so a file stored through one
//! node opens on another and a session cookie one node signed is good on every node.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::crypto::MasterKey;

/// The bytes of the secret file `path`, made from `make` if there is none. Two nodes making
/// it at once agree: only one creates it, the other reads what that one wrote.
pub fn read_or_make(path: &Path, make: impl FnOnce() -> Vec<u8>) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => return Ok(bytes),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let bytes = make();
    // Written aside, then linked into place only if no other process got there first.
    let aside = path.with_extension(format!("new-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
        Err(e) => Err(e),
    }
}

/// The master key in `keys/master.key`, made on first start.
pub fn master_key(keys: &Path) -> Result<MasterKey> {
    let path = keys.join("master.key");
    let text = read_or_make(&path, || {
        hex::encode(crate::crypto::random_key()).into_bytes()
    })
    .with_context(|| format!("cannot read or make the master key {}", path.display()))?;
    let bytes: [u8; 32] = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| hex::decode(t.trim()).ok())
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("the master key {} is not 64 hex digits", path.display()))?;
    Ok(MasterKey::new(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_is_made_once_with_mode_0600_and_read_after() {
        let dir = std::env::temp_dir().join(format!("drip-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a dir");
        let path = dir.join("session.key");
        let first = read_or_make(&path, || b"first".to_vec()).expect("made");
        let second = read_or_make(&path, || b"second".to_vec()).expect("read");
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
        std::fs::write(dir.join("master.key"), "not hex").expect("written");
        let Err(e) = master_key(&dir) else {
            panic!("a master key that is not hex was taken");
        };
        assert!(e.to_string().contains("is not 64 hex digits"), "{e}");
    }
}
