//! Where encrypted objects live, through the `object_store` crate: a directory on local disk
//! by default, or an S3-compatible bucket. An object is written as a multipart upload that becomes visible only when it
//! completes (the local store writes a staging file and renames it), so a write that fails
//! leaves no object; a failed write is aborted.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetResultPayload, MultipartUpload, ObjectStore, PutPayload};
use thiserror::Error;
use tokio::io::AsyncReadExt;

use crate::config::StorageUrl;

/// What a user is told when storage fails: the details (paths, addresses) go to the log only.
pub const UNAVAILABLE: &str =
    "the storage failed (it is unreachable or refused the request): try again later";

/// What storage could not do.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The store refused or is unreachable.
    #[error("the storage failed: {0}")]
    Store(#[from] object_store::Error),
    /// The local directory could not be made.
    #[error("the storage directory {0} cannot be used: {1}")]
    Dir(String, std::io::Error),
    /// Reading or moving a local file failed.
    #[error("the storage failed: {0}")]
    Io(std::io::Error),
    /// The object's write was given up (a part failed) before this.
    #[error("the storage failed: the write was aborted")]
    Aborted,
}

/// The object store.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory: [`Storage::put_file`] renames into it.
    local: Option<Arc<LocalFileSystem>>,
    /// Bytes per part of a multipart write: S3 refuses parts under 5 MiB but the last.
    part: usize,
}

/// Bytes read from a local object at once (`object_store`'s own stream reads 8 KiB at a time,
/// each a trip to a blocking thread).
const READ: usize = 4 << 20;

/// Parts of one object in flight at once.
const IN_FLIGHT: usize = 2;

/// An object being written, as a multipart upload whose parts this drives itself (each part
/// a task, two at a time). object_store's own `WriteMultipart` is not used: its
/// `finish` (0.12.5, `upload.rs`) returns early without aborting when a part fails, and one
/// dropped mid-way (its stage killed) aborts nothing, and either leaves an incomplete
/// multipart upload in the bucket (billed, never seen). Here a failure aborts the upload, and
/// so does dropping a `Writer` before it finished (in the background, tried again while the
/// store is away). A bucket's `AbortIncompleteMultipartUpload` lifecycle rule is the net
/// under this (a process killed outright aborts nothing).
pub struct Writer {
    upload: Option<Box<dyn MultipartUpload>>,
    parts: tokio::task::JoinSet<object_store::Result<()>>,
    buffer: Vec<u8>,
    part: usize,
    written: u64,
}

impl Writer {
    /// Adds `bytes`, waiting while too many parts are in flight.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.buffer.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        while self.buffer.len() >= self.part {
            let rest = self.buffer.split_off(self.part);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.put_part(part).await?;
        }
        Ok(())
    }

    /// Sends `part` once fewer than [`IN_FLIGHT`] are on their way.
    async fn put_part(&mut self, part: Vec<u8>) -> Result<(), StorageError> {
        self.wait_for(IN_FLIGHT - 1).await?;
        let Some(upload) = self.upload.as_mut() else {
            return Err(StorageError::Aborted);
        };
        self.parts
            .spawn(upload.put_part(PutPayload::from(Bytes::from(part))));
        Ok(())
    }

    /// Waits until at most `most` parts are in flight; the first that failed aborts all.
    async fn wait_for(&mut self, most: usize) -> Result<(), StorageError> {
        while self.parts.len() > most {
            let done = match self.parts.join_next().await {
                Some(Ok(done)) => done.map_err(StorageError::from),
                Some(Err(e)) => Err(StorageError::Io(std::io::Error::other(e))),
                None => Ok(()),
            };
            if let Err(e) = done {
                self.abort_now().await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Completes the object: it is visible from now on. Its stored bytes.
    pub async fn finish(mut self) -> Result<u64, StorageError> {
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.put_part(last).await?;
        }
        self.wait_for(0).await?;
        let Some(upload) = self.upload.as_mut() else {
            return Err(StorageError::Aborted);
        };
        if let Err(e) = upload.complete().await {
            self.abort_now().await;
            return Err(e.into());
        }
        self.upload = None;
        Ok(self.written)
    }

    /// Gives up: nothing is left behind.
    pub async fn abort(mut self) {
        self.abort_now().await;
    }

    async fn abort_now(&mut self) {
        self.parts.shutdown().await;
        if let Some(upload) = self.upload.take() {
            abort(upload).await;
        }
    }
}

/// Aborts `upload`, trying again while the store is away.
async fn abort(upload: Box<dyn MultipartUpload>) {
    let upload = tokio::sync::Mutex::new(upload);
    let aborted = crate::retry::again(
        "aborting a multipart upload",
        crate::retry::STORAGE,
        |_| true,
        || {
            let upload = &upload;
            async move { upload.lock().await.abort().await }
        },
    )
    .await;
    if let Err(e) = aborted {
        tracing::warn!(
            "a multipart upload is left open (the bucket's lifecycle rule ends it): {e}"
        );
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Dropped unfinished (its stage killed mid-write): abort in the background.
        if let Some(upload) = self.upload.take() {
            self.parts.abort_all();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(abort(upload));
            }
        }
    }
}

impl Storage {
    /// The store `url` names.
    pub fn open(url: &StorageUrl) -> Result<Storage, StorageError> {
        match url {
            StorageUrl::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StorageError::Dir(dir.display().to_string(), e))?;
                let store = Arc::new(LocalFileSystem::new_with_prefix(dir)?);
                Ok(Storage {
                    store: store.clone(),
                    local: Some(store),
                    part: 1 << 20,
                })
            }
            StorageUrl::S3(url) => {
                // A store that does not answer is an error within about 15 s (three tries),
                // not the three minutes object_store would keep trying by default: the user is
                // told, and the upload's task is reported failed.
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: std::time::Duration::from_secs(15),
                    ..object_store::RetryConfig::default()
                };
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_retry(retry)
                    .build()?;
                Ok(Storage {
                    store: Arc::new(store),
                    local: None,
                    part: 5 << 20,
                })
            }
        }
    }

    /// Starts writing the object `key`.
    pub async fn writer(&self, key: &str) -> Result<Writer, StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Writer {
            upload: Some(upload),
            parts: tokio::task::JoinSet::new(),
            buffer: Vec::with_capacity(self.part),
            part: self.part,
            written: 0,
        })
    }

    /// Makes the file at `path` (complete, synced) the object `key`, taking the file. On
    /// local disk it is renamed into place (atomic: the local store's own staging-and-rename
    /// with `path` as the staging file), else it is written as a multipart upload. Its bytes.
    pub async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<u64, StorageError> {
        if let Some(local) = &self.local {
            let target = local.path_to_filesystem(&Path::from(key))?;
            let from = path.to_owned();
            match blocking(move || rename_into(&from, &target)).await? {
                Ok(size) => return Ok(size),
                // Another file system (a --storage elsewhere): written across below.
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {}
                Err(e) => return Err(StorageError::Io(e)),
            }
        }
        let mut input = tokio::fs::File::open(path)
            .await
            .map_err(StorageError::Io)?;
        let mut writer = self.writer(key).await?;
        let mut buf = vec![0u8; self.part];
        loop {
            let n = match input.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    writer.abort().await;
                    return Err(StorageError::Io(e));
                }
            };
            if let Err(e) = writer.write(&buf[..n]).await {
                writer.abort().await;
                return Err(e);
            }
        }
        let size = writer.finish().await?;
        let _ = tokio::fs::remove_file(path).await;
        Ok(size)
    }

    /// The object `key`'s bytes, as they come: from local disk 4 MiB at a time; from a
    /// remote store in ranges of 8 MiB, each a request of its own. One GET streaming the
    /// whole object would be cut by the HTTP client's request timeout (object_store's 30 s)
    /// whenever its reader is slower than that in all (a large file to a slow client); a
    /// range is fetched whole in far less, whatever the reader's pace.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let path = Path::from(key);
        if self.local.is_none() {
            let size = self.store.head(&path).await?.size;
            return Ok(read_ranges(self.store.clone(), path, size));
        }
        let got = self.store.get(&path).await?;
        match got.payload {
            GetResultPayload::File(file, _) => Ok(read_file(file)),
            GetResultPayload::Stream(stream) => {
                Ok(stream.map(|r| r.map_err(StorageError::from)).boxed())
            }
        }
    }

    /// Removes the object `key` (a missing one is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object's key (for `drip check`).
    pub async fn keys(&self) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut listed = self.store.list(None);
        while let Some(meta) = listed.next().await {
            keys.push(meta?.location.to_string());
        }
        Ok(keys)
    }

    /// The keys of the attempts' objects of a row whose key is `key`: `key.ATTEMPT`.
    pub async fn attempts_of(&self, key: &str) -> Result<Vec<String>, StorageError> {
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
        let prefix = format!("{name}.");
        let mut found = Vec::new();
        let mut listed = self.store.list(Some(&Path::from(dir)));
        while let Some(meta) = listed.next().await {
            let location = meta?.location;
            if location.filename().is_some_and(|f| f.starts_with(&prefix)) {
                found.push(location.to_string());
            }
        }
        Ok(found)
    }

    /// Whether the object `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// `work` on a blocking thread (file I/O is blocking).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))
}

/// Renames `from` to `to` (making `to`'s directory), then syncs that directory so the name
/// lasts; the file's size.
fn rename_into(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<u64> {
    let dir = to.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let size = std::fs::metadata(from)?.len();
    std::fs::rename(from, to)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(size)
}

/// Bytes of a remote object fetched by one range request.
const RANGE: u64 = 8 << 20;

/// A remote object of `size` bytes, [`RANGE`] at a time.
fn read_ranges(
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    futures::stream::try_unfold(0u64, move |from| {
        let (store, path) = (store.clone(), path.clone());
        async move {
            if from >= size {
                return Ok(None);
            }
            let to = (from + RANGE).min(size);
            let bytes = store.get_range(&path, from..to).await?;
            Ok(Some((bytes, to)))
        }
    })
    .boxed()
}

/// A local object's bytes, [`READ`] at a time, each read on a blocking thread.
fn read_file(file: std::fs::File) -> BoxStream<'static, Result<Bytes, StorageError>> {
    futures::stream::try_unfold(Some(file), |file| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        let (file, read) = blocking(move || {
            let mut buf = vec![0u8; READ];
            let read = read_full(&mut file, &mut buf).map(|got| {
                buf.truncate(got);
                buf
            });
            (file, read)
        })
        .await?;
        let buf = read.map_err(StorageError::Io)?;
        if buf.is_empty() {
            return Ok(None);
        }
        let more = buf.len() == READ;
        Ok(Some((Bytes::from(buf), more.then_some(file))))
    })
    .boxed()
}

/// Reads until `buf` is full or the input ends; how much it read.
pub(crate) fn read_full(input: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
