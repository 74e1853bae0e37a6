//! Where encrypted objects live, through the `object_store` crate: a directory on local disk
//! by default, or an S3-compatible bucket. An object is written as a multipart upload that becomes visible only when it
//! completes (the local store writes a staging file and renames it), so a write that fails
//! leaves no object; a failed write is aborted.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use thiserror::Error;

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
}

/// The object store.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Bytes per part of a multipart write: S3 refuses parts under 5 MiB but the last.
    part: usize,
}

/// An object being written.
pub struct Writer {
    upload: WriteMultipart,
    written: u64,
}

impl Writer {
    /// Adds `bytes`, waiting while too many parts are in flight.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.upload.wait_for_capacity(2).await?;
        self.upload.write(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Completes the object: it is visible from now on. Its stored bytes.
    pub async fn finish(self) -> Result<u64, StorageError> {
        self.upload.finish().await?;
        Ok(self.written)
    }

    /// Gives up: nothing is left behind.
    pub async fn abort(self) {
        let _ = self.upload.abort().await;
    }
}

impl Storage {
    /// The store `url` names.
    pub fn open(url: &StorageUrl) -> Result<Storage, StorageError> {
        match url {
            StorageUrl::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StorageError::Dir(dir.display().to_string(), e))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
                Ok(Storage {
                    store: Arc::new(store),
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
                    part: 5 << 20,
                })
            }
        }
    }

    /// Starts writing the object `key`.
    pub async fn writer(&self, key: &str) -> Result<Writer, StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Writer {
            upload: WriteMultipart::new_with_chunk_size(upload, self.part),
            written: 0,
        })
    }

    /// The object `key`'s bytes, as they come.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let got = self.store.get(&Path::from(key)).await?;
        Ok(got
            .into_stream()
            .map(|r| r.map_err(StorageError::from))
            .boxed())
    }

    /// Removes the object `key` (a missing one is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
