//! Sealing an upload's spool into its sealed spool (the upload pipeline's Encryption), on a
//! blocking thread, 64 chunks at a time so every core seals together. A sealing whose stage
//! stops before it is done (the future dropped, the process killed) tells the blocking
//! writer to stop and removes the file, so a killed attempt leaves no sealed spool behind.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use thiserror::Error;

use crate::crypto::{Encryptor, CHUNK};

/// Bytes read from the spool at once: 64 chunks, sealed on every core together.
const BATCH: usize = 64 * CHUNK;

/// Why a spool could not be sealed; each says it in a sentence for the user (the cause, for
/// the log, is its source).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The spool file is gone.
    #[error("its upload is gone")]
    Gone(#[source] std::io::Error),
    /// The disk is full.
    #[error("there is no room to store it now: try again later")]
    NoRoom(#[source] std::io::Error),
    /// Its wrapped key does not open.
    #[error("its key is damaged")]
    Key,
    /// Reading or writing failed otherwise.
    #[error("it could not be sealed")]
    Io(#[source] std::io::Error),
    /// Its stage stopped mid-way (the file was removed).
    #[error("its stage stopped")]
    Cancelled,
}

impl From<std::io::Error> for SealError {
    fn from(e: std::io::Error) -> SealError {
        if crate::private::is_full(&e) {
            SealError::NoRoom(e)
        } else {
            SealError::Io(e)
        }
    }
}

/// A sealed spool being written: removed (and its writer stopped) if dropped before done.
struct Sealing {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    done: bool,
}

impl Drop for Sealing {
    fn drop(&mut self) {
        if !self.done {
            self.stop.store(true, Ordering::SeqCst);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Seals `spool` into `sealed` (mode 0600, synced) under `key`, as the file `media_id`, on a
/// blocking thread; the plaintext size.
pub async fn seal(
    key: [u8; 32],
    media_id: String,
    spool: PathBuf,
    sealed: PathBuf,
) -> Result<u64, SealError> {
    let mut sealing = Sealing {
        path: sealed.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        done: false,
    };
    let stop = sealing.stop.clone();
    let result =
        runtime::blocking(move || seal_file(&key, &media_id, &spool, &sealed, &stop)).await;
    sealing.done = true;
    result
}

/// Seals `spool` into `sealed`; stops (and removes `sealed`) once `stop` is set.
fn seal_file(
    key: &[u8; 32],
    media_id: &str,
    spool: &Path,
    sealed: &Path,
    stop: &AtomicBool,
) -> Result<u64, SealError> {
    let written = write_sealed(key, media_id, spool, sealed, stop);
    let stopped = stop.load(Ordering::SeqCst);
    if written.is_err() || stopped {
        let _ = std::fs::remove_file(sealed);
    }
    if stopped {
        return Err(SealError::Cancelled);
    }
    written
}

fn write_sealed(
    key: &[u8; 32],
    media_id: &str,
    spool: &Path,
    sealed: &Path,
    stop: &AtomicBool,
) -> Result<u64, SealError> {
    let mut input = std::fs::File::open(spool).map_err(SealError::Gone)?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(sealed)?;
    let mut sealer = Encryptor::new(key, media_id);
    let too_large = |e: crate::crypto::CryptoError| SealError::Io(std::io::Error::other(e));
    let mut buf = vec![0u8; BATCH];
    let mut plain = 0u64;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(SealError::Cancelled);
        }
        let n = crate::storage::read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        plain += n as u64;
        output.write_all(&sealer.push(&buf[..n]).map_err(too_large)?)?;
    }
    output.write_all(&sealer.finish().map_err(too_large)?)?;
    output.sync_all()?;
    Ok(plain)
}
