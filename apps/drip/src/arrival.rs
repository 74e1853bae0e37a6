//! An upload arriving, before the pipeline has it: the API's and the UI's uploads both come
//! through [`accept`].
//!
//! 1. Its row goes in first, `receiving`, holding room against its owner's quota: all of
//!    its length when the client gave one (so an upload over the quota, or under a name its
//!    folder has, is refused before any byte of its body), else [`STEP`] (or what is left).
//! 2. Its bytes go to `spool/{id}.part` (mode 0600) as they come; the room grows a step at a
//!    time when they pass it, and a step the quota cannot give refuses the upload.
//! 3. Whole, the file is synced and renamed `spool/{id}`, its row becomes `queued` with its
//!    real size, and the task is queued.
//! 4. The request waits for the pipeline to store it (its object written, its row marked
//!    stored), and only then is answered with the file (`201 Created`), or with the error
//!    that failed it (the task then left nothing). So nothing answered 2xx lives only on
//!    this node's disk: a node killed before the answer leaves its client unanswered, with
//!    the bytes still in hand to upload again (through another node), and the row it held
//!    is removed when its lease runs out (`app::reap_expired`).
//!
//! The wait is bounded by `--store-timeout` (the pipeline bounds its own retries: storage
//! for half a minute, then the task fails; only a database away for longer keeps a task
//! parked). Past it the client is answered 503 ([`ArrivalError::StillStoring`]) and the task
//! goes on: it ends stored or reported failed (a notice says which). A client that goes away
//! while it waits changes nothing either: the upload goes on and ends stored, as on any
//! server that has the whole body.
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
use crate::pipeline::outcome::{Failure, Outcome};
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
    /// The storage failed (after its retries): nothing of the upload is kept.
    #[error("{}", crate::storage::UNAVAILABLE)]
    Storage,
    /// The pipeline failed it otherwise (the sentence says why): nothing of it is kept.
    #[error("the upload could not be stored: {0}")]
    NotStored(String),
    /// Not stored within `--store-timeout`: it still may be (a notice will say).
    #[error("the upload is not stored yet (a notice will say when it is, or that it failed): look for it before uploading it again")]
    StillStoring,
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

/// The room a reservation asks, with the lease it holds from now.
fn ask(app: &App, needed: u64, wanted: u64) -> Ask {
    let lease = i64::try_from(app.config.upload_lease.as_millis()).unwrap_or(i64::MAX);
    Ask {
        needed,
        wanted,
        quota: app.config.quota,
        lease_until: crate::db::now_ms().saturating_add(lease),
    }
}

/// Takes an upload of `path/name` for `user`, its body `body` (of `expected` bytes, if the
/// client said): reserves, spools, hands it to the pipeline and waits until it is stored.
/// The file as stored.
pub async fn accept<S, E>(
    app: &App,
    user: &User,
    path: &str,
    name: &str,
    expected: Option<u64>,
    body: S,
) -> Result<Media, ArrivalError>
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
    let first = match expected {
        Some(n) => ask(app, n, n),
        None => ask(app, 0, STEP.min(max)),
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
    let size = match receive(app, &media, room, &arrival, body).await {
        Ok(size) => size,
        Err(e) => {
            arrival.clean_up().await;
            return Err(e);
        }
    };
    // Waiting before it is queued, so its outcome cannot come first.
    let mut waiting = app.outcomes.wait(&id);
    arrival.keep();
    media.size = i64::try_from(size).unwrap_or(i64::MAX);
    app::enqueue(
        app,
        UploadTask {
            media: media.clone(),
            spool: app.spool.join(&id),
            attempts: 0,
            attempt: None,
            in_storage: false,
        },
    );
    let outcome = tokio::time::timeout(app.config.store_timeout, waiting.outcome()).await;
    match outcome {
        Ok(Some(Outcome::Stored)) => Ok(stored(app, media).await),
        Ok(Some(Outcome::Failed(failure))) => Err(match failure {
            Failure::NoRoom => ArrivalError::NoRoom,
            Failure::Storage => ArrivalError::Storage,
            Failure::Gone => ArrivalError::Gone,
            Failure::Other(why) => ArrivalError::NotStored(why),
        }),
        Ok(None) | Err(_) => {
            tracing::warn!(media = %id, "an upload was not stored within --store-timeout: its client is answered 503");
            Err(ArrivalError::StillStoring)
        }
    }
}

/// The file `media` as its row says now it is stored (as the metadata endpoint shows it);
/// if the database cannot say at once, as this node knows it.
async fn stored(app: &App, mut media: Media) -> Media {
    match retry::database("reading a stored upload", || {
        app.store.media_by_id(&media.id)
    })
    .await
    {
        Ok(Some(row)) => row,
        _ => {
            media.uploaded_at = Some(crate::db::now_ms());
            media.pipeline_node = None;
            media
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
            let ask = ask(app, size, size.saturating_add(STEP).min(max));
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
