//! The upload pipeline, as the book has it but encrypting before storing (the book's running
//! app stored first): Starter → Encryption → RemoteStorage → Notifier, `min_demand: 1,
//! max_demand: 10`, one `rest_for_one` supervisor with the queue first.
//!
//! A task is an accepted upload: its row (no `uploaded_at` yet) and its spool file (the bytes
//! as they came, in the data directory, never in storage). Encryption seals the spool into a
//! second spool (on every core), RemoteStorage makes that the object (visible only once
//! complete: on local disk the sealed spool is renamed into place), the
//! Notifier marks the row stored, removes the spools and tells the user. A task that fails —
//! or has been tried [`MAX_ATTEMPTS`] times — is reported to its user and leaves nothing: no
//! row, no object, no spool. Either way the request that brought the bytes, waiting for its
//! answer, is told ([`Outcomes`](super::outcome::Outcomes)): it is answered only now.
//!
//! Failures that pass are not failures. The database is tried again with back-off
//! ([`retry::DATABASE`]); if it is still away the task goes back to the queue for
//! [`PARKED`] and comes round again — never reported failed, and an object already stored is
//! never deleted because the database blinked. Storage is tried again with back-off
//! ([`retry::STORAGE`], half a minute) before the task is reported failed. A full disk while
//! sealing is reported at once, in a sentence ("no room"). Users read sentences only: what
//! failed inside goes to the log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etf::Atom;
use otp::gen_stage::{
    CancelReason, ConsumerOptions, GenStage, Init, Pipeline, PipelineSpec, ProducerOptions, Return,
    Subscription,
};
use runtime::Context;

use super::outcome::{Failure, Outcome};
use super::queue::{self, Starter, Task};
use super::sealing::{self, SealError};
use crate::app::App;
use crate::db::uploads::Marked;
use crate::db::{DbError, Media};
use crate::metrics::StorageOp;
use crate::notify::Notice;
use crate::retry;

/// The upload queue's registered name.
pub const QUEUE: &str = "drip_upload_queue";
/// Tries before a task is reported failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// How long a task waits out of the pipeline when the database stays away.
pub const PARKED: Duration = Duration::from_secs(5);

/// An accepted upload.
#[derive(Clone, Debug)]
pub struct UploadTask {
    /// Its row.
    pub media: Media,
    /// The bytes as they came.
    pub spool: PathBuf,
    /// Attempts so far.
    pub attempts: u32,
    /// This attempt's id, once Encryption has begun it. Its sealed spool and its object are
    /// named after it, so an attempt running beside an earlier one (a stage restarted while
    /// another copy still had the task) never writes over the other's file or object: an
    /// object, once a row names it, never changes under a reader (on S3 a download reads it
    /// range by range). The attempt that marks the row first names its object there; the
    /// others delete theirs.
    pub attempt: Option<String>,
    /// Its object is in storage: only its row is left to mark.
    pub in_storage: bool,
}

impl UploadTask {
    fn sealed(&self) -> PathBuf {
        match &self.attempt {
            Some(attempt) => self.spool.with_extension(format!("sealed-{attempt}")),
            None => self.spool.with_extension("sealed"),
        }
    }

    /// This attempt's object key: the row's key, then `.` and the attempt.
    fn object(&self) -> String {
        match &self.attempt {
            Some(attempt) => format!("{}.{attempt}", self.media.storage_key),
            None => self.media.storage_key.clone(),
        }
    }
}

impl Task for UploadTask {
    fn id(&self) -> &str {
        &self.media.id
    }

    fn owner(&self) -> &str {
        &self.media.owner_id
    }

    fn retried(&mut self) {
        self.attempts += 1;
    }

    fn bytes(&self) -> u64 {
        u64::try_from(self.media.size).unwrap_or(0)
    }
}

/// The queue's name as an atom.
pub fn queue_name() -> Atom {
    Atom::from(QUEUE)
}

/// Removes the task's spool and every attempt's sealed spool (an attempt killed mid-way
/// leaves its own behind).
async fn clean_spool(task: &UploadTask) {
    let _ = tokio::fs::remove_file(&task.spool).await;
    let (Some(dir), Some(name)) = (task.spool.parent(), task.spool.file_name()) else {
        return;
    };
    let prefix = format!("{}.sealed", name.to_string_lossy());
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = entries.next_entry().await {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = tokio::fs::remove_file(e.path()).await;
            }
        }
    }
}

/// Hands `task` back to the queue for [`PARKED`]: the database is away.
fn park(ctx: &Context, task: &UploadTask, e: &DbError) {
    tracing::warn!(media = %task.media.id, "the database is away; the upload waits: {e}");
    queue::later(ctx, &queue_name(), task.clone(), PARKED);
}

/// `task` is over (stored, or given up elsewhere): its waiting request is told, the queue too.
fn over(app: &App, ctx: &Context, task: &UploadTask, outcome: Outcome) {
    app.outcomes.complete(&task.media.id, outcome);
    queue::done::<UploadTask>(ctx, &queue_name(), &task.media.id);
}

/// What a row found by id says of a task that is not to go on: stored (by another attempt),
/// or gone (deleted, or reaped when its lease ran out).
fn settled(row: Option<&Media>) -> Outcome {
    match row {
        Some(m) if m.uploaded_at.is_some() => Outcome::Stored,
        _ => Outcome::Failed(Failure::Gone),
    }
}

/// Reports `task` failed for `why` (`failure`, as a sentence for its user), and leaves
/// nothing of it: its row goes first, then its object and its spools. If the database
/// cannot say or do that now, the task waits and comes round again instead.
async fn fail(app: &App, ctx: &mut Context, task: &UploadTask, failure: Failure, why: &str) {
    let _ = tokio::fs::remove_file(task.sealed()).await;
    // Another attempt of the same task may have stored it meanwhile: then this one is moot.
    let row = retry::database("looking up a failed upload", || {
        app.store.media_by_id(&task.media.id)
    })
    .await;
    match row {
        Ok(Some(m)) if m.uploaded_at.is_some() => {
            clean_spool(task).await;
            over(app, ctx, task, Outcome::Stored);
            return;
        }
        Ok(_) => {}
        Err(e) => return park(ctx, task, &e),
    }
    tracing::warn!(media = %task.media.id, "upload failed: {why}");
    let removed = retry::database("removing a failed upload's row", || {
        app.store.delete_media(&task.media.id)
    })
    .await;
    if let Err(e) = removed {
        return park(ctx, task, &e);
    }
    let object = task.object();
    let deleted = retry::again(
        "deleting a failed upload's object",
        retry::STORAGE,
        |_| true,
        || async {
            let deleted = app.storage.delete(&object).await;
            if deleted.is_err() {
                app.metrics.storage_error(StorageOp::Delete);
            }
            deleted
        },
    )
    .await;
    if let Err(e) = deleted {
        tracing::warn!(media = %task.media.id, "an orphan object is left for drip check: {e}");
    }
    clean_spool(task).await;
    app.notices.send(Notice {
        user_id: task.media.owner_id.clone(),
        kind: "upload_failed".into(),
        text: format!("{} could not be stored: {why}", task.media.full_path),
        media_id: Some(task.media.id.clone()),
        link: None,
    });
    over(app, ctx, task, Outcome::Failed(failure));
}

/// Tells the queue this stage holds `tasks` now.
fn hold_all(ctx: &Context, tasks: &[UploadTask]) {
    for t in tasks {
        queue::holding::<UploadTask>(ctx, &queue_name(), &t.media.id);
    }
}

/// A step's options: it passes what it makes on, as fast as the next asks.
fn pass_on() -> Init<(), UploadTask> {
    Init::ProducerConsumer((), ProducerOptions::unbounded(), ConsumerOptions::default())
}

/// A subscription of this stage ended (a neighbour crashed): tasks sent its way may have died
/// in a mailbox after the restarted stages said they were back, so every task out goes in
/// again (a task done twice is done once).
fn lost_neighbour(ctx: &Context) -> Return<UploadTask> {
    queue::restarted::<UploadTask>(ctx, &queue_name());
    Return::NoReply(Vec::new())
}

/// Seals each spool with the file's own key.
#[derive(Clone)]
pub struct Encryption(pub Arc<App>);

impl Encryption {
    /// Seals the spool into this attempt's sealed spool, off the scheduler threads; the
    /// plaintext size.
    async fn seal(&self, task: &UploadTask) -> Result<u64, SealError> {
        let key = self.0.file_key(&task.media).map_err(|_| SealError::Key)?;
        sealing::seal(
            key,
            task.media.id.clone(),
            task.spool.clone(),
            task.sealed(),
        )
        .await
    }
}

impl GenStage for Encryption {
    type Args = ();
    type State = ();
    type In = UploadTask;
    type Out = UploadTask;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), UploadTask> {
        queue::restarted::<UploadTask>(ctx, &queue_name());
        pass_on()
    }

    async fn handle_cancel(
        &self,
        _: CancelReason,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<UploadTask> {
        lost_neighbour(ctx)
    }

    async fn handle_events(
        &self,
        tasks: Vec<UploadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<UploadTask> {
        hold_all(ctx, &tasks);
        let mut out = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            if task.attempts >= MAX_ATTEMPTS {
                let why = "it failed every time it was tried";
                fail(&self.0, ctx, &task, Failure::Other(why.into()), why).await;
                continue;
            }
            // A retry after a crash further down may find it done, or its upload given up.
            let row = retry::database("looking up an upload", || {
                self.0.store.media_by_id(&task.media.id)
            })
            .await;
            match row {
                Ok(Some(m)) if m.uploaded_at.is_none() => {}
                // Stored (an attempt's Notifier may have stopped before it cleaned up), or given
                // up: nothing of it is needed any more.
                Ok(row) => {
                    clean_spool(&task).await;
                    over(&self.0, ctx, &task, settled(row.as_ref()));
                    continue;
                }
                Err(e) => {
                    park(ctx, &task, &e);
                    continue;
                }
            }
            if task.in_storage {
                // Only its row is left to mark (the database was away last time round).
                out.push(task);
                continue;
            }
            task.attempt = Some(crate::db::new_id());
            match self.seal(&task).await {
                Ok(size) => {
                    task.media.size = size as i64;
                    out.push(task);
                }
                Err(e) => {
                    let cause = std::error::Error::source(&e).map(ToString::to_string);
                    tracing::warn!(media = %task.media.id, "sealing failed: {e} ({cause:?})");
                    let failure = match &e {
                        SealError::NoRoom(_) => Failure::NoRoom,
                        SealError::Gone(_) => Failure::Gone,
                        e => Failure::Other(e.to_string()),
                    };
                    fail(&self.0, ctx, &task, failure, &e.to_string()).await
                }
            }
        }
        Return::NoReply(out)
    }
}

/// Writes each sealed spool as the file's object.
#[derive(Clone)]
pub struct RemoteStorage(pub Arc<App>);

impl RemoteStorage {
    /// The sealed spool becomes the file's object (visible only once whole), tried again
    /// with back-off while the store is away.
    async fn store(&self, task: &UploadTask) -> Result<(), crate::storage::StorageError> {
        let started = std::time::Instant::now();
        let (key, sealed) = (task.object(), task.sealed());
        retry::again(
            "storing an object",
            retry::STORAGE,
            |_| true,
            || async {
                let stored = self.0.storage.put_file(&key, &sealed).await;
                if stored.is_err() {
                    self.0.metrics.storage_error(StorageOp::Write);
                }
                stored
            },
        )
        .await?;
        self.0.metrics.stored(started.elapsed());
        Ok(())
    }
}

impl GenStage for RemoteStorage {
    type Args = ();
    type State = ();
    type In = UploadTask;
    type Out = UploadTask;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), UploadTask> {
        queue::restarted::<UploadTask>(ctx, &queue_name());
        pass_on()
    }

    async fn handle_cancel(
        &self,
        _: CancelReason,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<UploadTask> {
        lost_neighbour(ctx)
    }

    async fn handle_events(
        &self,
        tasks: Vec<UploadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<UploadTask> {
        hold_all(ctx, &tasks);
        let mut out = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            if task.in_storage {
                out.push(task);
                continue;
            }
            // Another attempt of the task may have stored it while this one sealed: then its
            // object is not written over.
            let row = retry::database("looking up an upload", || {
                self.0.store.media_by_id(&task.media.id)
            })
            .await;
            if let Ok(Some(m)) = &row {
                if m.uploaded_at.is_some() {
                    let _ = tokio::fs::remove_file(task.sealed()).await;
                    over(&self.0, ctx, &task, Outcome::Stored);
                    continue;
                }
            }
            match self.store(&task).await {
                Ok(()) => {
                    task.in_storage = true;
                    out.push(task);
                }
                Err(why) => {
                    tracing::warn!(media = %task.media.id, "the storage failed: {why}");
                    let why = crate::storage::UNAVAILABLE;
                    fail(&self.0, ctx, &task, Failure::Storage, why).await
                }
            }
        }
        Return::NoReply(out)
    }
}

/// Marks each file stored and tells its owner.
#[derive(Clone)]
pub struct Notifier(pub Arc<App>);

impl GenStage for Notifier {
    type Args = ();
    type State = ();
    type In = UploadTask;
    type Out = ();

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), ()> {
        queue::restarted::<UploadTask>(ctx, &queue_name());
        Init::Consumer((), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        tasks: Vec<UploadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<()> {
        hold_all(ctx, &tasks);
        for task in tasks {
            let object = task.object();
            let marked = retry::database("marking an upload stored", || {
                self.0
                    .store
                    .stored(&task.media.id, task.media.size, &object)
            })
            .await;
            match marked {
                Ok(Marked::Stored) => {}
                // Another attempt of the task stored it first (its object is as good as
                // this one's, and the user was told once): this one's object goes. (Its
                // own, if an earlier try of this mark went through unanswered, stays.)
                Ok(Marked::AlreadyStored(named)) => {
                    if named != object {
                        tracing::info!(media = %task.media.id, "another attempt stored it first: this one's object goes");
                        let _ = self.0.storage.delete(&object).await;
                    }
                    let _ = tokio::fs::remove_file(task.sealed()).await;
                    over(&self.0, ctx, &task, Outcome::Stored);
                    continue;
                }
                // Its row went (deleted, given up by another attempt, or removed by a janitor
                // when this node's lease on it ran out): so does its object, and its request
                // is told it failed.
                Ok(Marked::Gone) => {
                    tracing::warn!(media = %task.media.id, "its row went while it was stored: its object goes");
                    let _ = self.0.storage.delete(&object).await;
                    clean_spool(&task).await;
                    over(&self.0, ctx, &task, Outcome::Failed(Failure::Gone));
                    continue;
                }
                // The object is stored and stays: its row is marked when the database is back.
                Err(e) => {
                    park(ctx, &task, &e);
                    continue;
                }
            }
            clean_spool(&task).await;
            self.0.notices.send(Notice {
                user_id: task.media.owner_id.clone(),
                kind: "upload_done".into(),
                text: format!(
                    "{} is stored ({} bytes)",
                    task.media.full_path, task.media.size
                ),
                media_id: Some(task.media.id.clone()),
                link: Some(format!("/files/{}", task.media.id)),
            });
            over(&self.0, ctx, &task, Outcome::Stored);
        }
        Return::NoReply(Vec::new())
    }
}

/// The upload pipeline under one `rest_for_one` supervisor, the book's demand: each step's
/// `count` copies subscribed to every copy of the step before.
pub fn pipeline(app: &Arc<App>) -> PipelineSpec {
    Pipeline::start(
        "upload",
        "starter",
        Starter::<UploadTask>::new(&queue_name()),
        (),
    )
    .demand(10, 1)
    .step("encryption", Encryption(app.clone()), (), 2)
    .step("storage", RemoteStorage(app.clone()), (), 2)
    .finish("notifier", Notifier(app.clone()), (), 1)
}
