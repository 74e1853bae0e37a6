//! An upload arriving, before the pipeline has it: the API's and the UI's uploads both come
//! through [`accept`].
//!
//! 1. Its row goes in first, `receiving`, holding room against its owner's quota: all of
//!    its length when the client gave one (so an upload over the quota, or under a name its
//!    folder has, is refused before any byte of its body), else [`STEP`] (or what is left).
//! 2. Its bytes go to `spool/{id}.part` (mode 0600) as they come; the room grows a step at a
//!    time when they pass it, and a step the quota cannot give refuses the upload.
//! 3. Whole, the file is synced and renamed `spool/{id}`, its row becomes `queued` with its
//!    real size, and only then is the client answered 202 and the task queued.
//!
//! An upload refused or broken off on the way leaves nothing: its spool file goes, then its
//! row (tried again while the database is briefly away). A request dropped mid-way (the
//! client gone) is cleaned up the same, in the background. A full disk is
//! [`ArrivalError::NoRoom`], which the web layer answers 507.

use std::path::PathBuf;

use futures::StreamExt;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

use crate::app::{self, App};
use crate::db::uploads::{Ask, Reserved};
use crate::db::{DbError, Media, Store, User};
use crate::paths::{self, PathError};
use crate::pipeline::upload::UploadTask;
use crate::{crypto, private, retry};

/// Room an upload of unknown length reserves at a time.
pub const STEP: u64 = 4 << 20;

/// Why an upload was refused. Each says what to do in one sentence; what failed inside (a
/// database's or a file system's own words) goes to the log only.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ArrivalError {
    /// A bad folder or name.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Over `--max-upload`.
    #[error("an upload is at most {0} bytes")]
    TooLarge(u64),
    /// Over the owner's quota.
    #[error("that is over your quota ({0} bytes left)")]
    OverQuota(u64),
    /// The folder has a file of that name.
    #[error("that name in this folder is taken")]
    Taken,
    /// The client's body ended in an error.
    #[error("the upload broke off: {0}")]
    BrokeOff(String),
    /// The spool's disk is full.
    #[error("there is no room for this upload now: try again later")]
    NoRoom,
    /// The spool could not be written.
    #[error("the upload could not be spooled: try again later")]
    Spool(#[source] std::io::Error),
    /// The metadata database failed (and did not come back in time).
    #[error("the metadata database is unavailable: try again later")]
    Db(#[source] DbError),
    /// Its row went meanwhile (the upload was given up).
    #[error("the upload was given up meanwhile: upload it again")]
    Gone,
}

impl From<DbError> for ArrivalError {
    fn from(e: DbError) -> ArrivalError {
        match e {
            DbError::Taken(_) => ArrivalError::Taken,
            e if e.is_full() => ArrivalError::NoRoom,
            e => ArrivalError::Db(e),
        }
    }
}

fn spool_error(e: std::io::Error) -> ArrivalError {
    if private::is_full(&e) {
        ArrivalError::NoRoom
    } else {
        ArrivalError::Spool(e)
    }
}

/// An upload not answered yet: until [`Arrival::keep`], dropping it removes its spool files
/// and its row.
struct Arrival {
    store: Store,
    id: String,
    part: PathBuf,
    spooled: PathBuf,
    kept: bool,
}

impl Arrival {
    /// Removes what the upload left: its spool files first (they free the disk the
    /// database may need), then its row.
    async fn clean_up(mut self) {
        self.kept = true;
        forget(
            self.store.clone(),
            self.id.clone(),
            [self.part.clone(), self.spooled.clone()],
        )
        .await;
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

async fn forget(store: Store, id: String, files: [PathBuf; 2]) {
    for f in files {
        let _ = tokio::fs::remove_file(f).await;
    }
    if let Err(e) = retry::database("dropping an upload's row", || store.abandon(&id)).await {
        // The janitor (or the next start) drops it.
        tracing::warn!(media = %id, "an upload's row is left for the janitor: {e}");
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let files = [self.part.clone(), self.spooled.clone()];
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(forget(self.store.clone(), self.id.clone(), files));
        }
    }
}

/// Takes an upload of `path/name` for `user`, its body `body` (of `expected` bytes, if the
/// client said): reserves, spools, hands it to the pipeline. Its id.
pub async fn accept<S, E>(
    app: &App,
    user: &User,
    path: &str,
    name: &str,
    expected: Option<u64>,
    body: S,
) -> Result<String, ArrivalError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    paths::check_path(path)?;
    paths::check_name(name)?;
    let max = app.config.max_upload;
    if expected.is_some_and(|n| n > max) {
        return Err(ArrivalError::TooLarge(max));
    }
    let id = crate::db::new_id();
    let mut media = Media {
        id: id.clone(),
        owner_id: user.id.clone(),
        name: name.to_owned(),
        path: path.to_owned(),
        full_path: paths::join(path, name),
        size: 0,
        uploaded_at: None,
        storage_key: format!("{}/{}", user.id, id),
        pipeline_node: Some(app.node.name().to_string()),
        wrapped_key: String::new(),
    };
    media.wrapped_key = hex::encode(app.master.wrap(&crypto::random_key(), media.binding()));
    let quota = app.config.quota;
    let first = match expected {
        Some(n) => Ask {
            needed: n,
            wanted: n,
            quota,
        },
        None => Ask {
            needed: 0,
            wanted: STEP.min(max),
            quota,
        },
    };
    let room =
        match retry::database("reserving an upload", || app.store.reserve(&media, first)).await? {
            Reserved::Granted(room) => room,
            Reserved::OverQuota { left } => return Err(ArrivalError::OverQuota(left)),
            Reserved::Gone => return Err(ArrivalError::Gone),
        };
    let arrival = Arrival {
        store: app.store.clone(),
        id: id.clone(),
        part: app.spool.join(format!("{id}.part")),
        spooled: app.spool.join(&id),
        kept: false,
    };
    match receive(app, &media, room, &arrival, body).await {
        Ok(size) => {
            arrival.keep();
            media.size = i64::try_from(size).unwrap_or(i64::MAX);
            app::enqueue(
                app,
                UploadTask {
                    media,
                    spool: app.spool.join(&id),
                    attempts: 0,
                    attempt: None,
                    in_storage: false,
                },
            );
            Ok(id)
        }
        Err(e) => {
            arrival.clean_up().await;
            Err(e)
        }
    }
}

/// Spools the body, growing the reservation as it passes `room`, and marks the row
/// `queued`: the body's size.
async fn receive<S, E>(
    app: &App,
    media: &Media,
    mut room: u64,
    arrival: &Arrival,
    mut body: S,
) -> Result<u64, ArrivalError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let max = app.config.max_upload;
    let file = private::new_file(&arrival.part)
        .await
        .map_err(spool_error)?;
    // Written a megabyte at a time: each write is a trip to a blocking thread.
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut size = 0u64;
    while let Some(piece) = body.next().await {
        let bytes = piece.map_err(|e| ArrivalError::BrokeOff(e.to_string()))?;
        size += bytes.len() as u64;
        if size > max {
            return Err(ArrivalError::TooLarge(max));
        }
        if size > room {
            let ask = Ask {
                needed: size,
                wanted: size.saturating_add(STEP).min(max),
                quota: app.config.quota,
            };
            room =
                match retry::database("reserving more room", || app.store.reserve_more(media, ask))
                    .await?
                {
                    Reserved::Granted(room) => room,
                    Reserved::OverQuota { left } => return Err(ArrivalError::OverQuota(left)),
                    Reserved::Gone => return Err(ArrivalError::Gone),
                };
        }
        file.write_all(&bytes).await.map_err(spool_error)?;
    }
    file.flush().await.map_err(spool_error)?;
    file.get_ref().sync_all().await.map_err(spool_error)?;
    drop(file);
    // Whole and on disk: its name says so, and the name lasts (the directory synced).
    let (part, spooled) = (arrival.part.clone(), arrival.spooled.clone());
    runtime::blocking(move || {
        std::fs::rename(&part, &spooled)?;
        let dir = spooled.parent().unwrap_or(std::path::Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    })
    .await
    .map_err(spool_error)?;
    if !retry::database("marking an upload received", || {
        app.store.received(&media.id, size)
    })
    .await?
    {
        return Err(ArrivalError::Gone);
    }
    Ok(size)
}
