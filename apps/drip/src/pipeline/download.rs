//! The download pipeline, as the book has it: Starter → RemoteStorage → Decryption → Notifier,
//! `min_demand: 1, max_demand: 10`, under one `rest_for_one` supervisor with its queue first.
//!
//! A task is one user's request to download one stored file. RemoteStorage reads the sealed
//! object (a file over `cache_max` is only looked for: it will stream); Decryption opens it,
//! refusing a tampered object; the Notifier starts the file's cache ([`crate::cache`]) and
//! tells the user "download ready" with the link the cache serves. A task that fails is
//! reported to its user as `download_failed`. As for uploads, the queue keeps every task out
//! until the Notifier is done, and a stage that restarts or loses a neighbour sends them back.
//!
//! A user's request for a file already on its way is no new task (the queue drops it), a
//! user has at most [`MAX_ASKED`] tasks on their way (more are refused: 429), and
//! RemoteStorage looks for the file's cache again before it reads anything (another user's
//! task may have made it meanwhile): so no one can make the pipeline read a file over and
//! over, or queue it full for everyone.

use std::sync::Arc;

use bytes::Bytes;
use etf::Atom;
use futures::StreamExt;
use otp::gen_stage::{
    CancelReason, ConsumerOptions, GenStage, Init, Pipeline, PipelineSpec, ProducerOptions, Return,
    Subscription,
};
use runtime::Context;

use super::queue::{self, Starter, Task};
use crate::app::App;
use crate::crypto::Decryptor;
use crate::db::Media;
use crate::notify::Notice;

/// The download queue's registered name.
pub const QUEUE: &str = "drip_download_queue";
/// Tries before a task is reported failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// The most download tasks one user may have waiting or under way.
pub const MAX_ASKED: usize = 8;

/// The queue's name as an atom.
pub fn queue_name() -> Atom {
    Atom::from(QUEUE)
}

/// One user's request for one file.
#[derive(Clone, Debug)]
pub struct DownloadTask {
    /// The file (stored).
    pub media: Media,
    /// Who asked: the notice goes to them.
    pub user_id: String,
    /// `media/user`: two users asking for one file are two tasks.
    pub id: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The sealed object, once RemoteStorage read it (small files only).
    pub sealed: Option<Bytes>,
    /// The plaintext, once Decryption opened it (small files only).
    pub plain: Option<Bytes>,
}

impl DownloadTask {
    /// A new request by `user_id` for `media`.
    pub fn new(media: Media, user_id: &str) -> DownloadTask {
        DownloadTask {
            id: format!("{}/{user_id}", media.id),
            media,
            user_id: user_id.to_owned(),
            attempts: 0,
            sealed: None,
            plain: None,
        }
    }

    /// The link its notice carries: served from the cache while it lives.
    pub fn link(&self) -> String {
        format!("/files/{}/cached", self.media.id)
    }
}

impl Task for DownloadTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn owner(&self) -> &str {
        &self.user_id
    }

    fn retried(&mut self) {
        self.attempts += 1;
    }

    fn bytes(&self) -> u64 {
        u64::try_from(self.media.size).unwrap_or(0)
    }
}

/// Reports `task` failed for `why`.
fn fail(app: &App, ctx: &Context, task: &DownloadTask, why: &str) {
    tracing::warn!(media = %task.media.id, "download failed: {why}");
    app.notices.send(Notice {
        user_id: task.user_id.clone(),
        kind: "download_failed".into(),
        text: format!("{} could not be downloaded: {why}", task.media.full_path),
        media_id: Some(task.media.id.clone()),
        link: None,
    });
    queue::done::<DownloadTask>(ctx, &queue_name(), &task.id);
}

fn hold_all(ctx: &Context, tasks: &[DownloadTask]) {
    for t in tasks {
        queue::holding::<DownloadTask>(ctx, &queue_name(), &t.id);
    }
}

fn pass_on() -> Init<(), DownloadTask> {
    Init::ProducerConsumer((), ProducerOptions::unbounded(), ConsumerOptions::default())
}

/// Why an object could not be read.
enum ReadError {
    /// It is not in the store.
    Missing,
    /// The store failed.
    Store(String),
}

/// Reads each file's sealed object (or, for a file that will stream, checks it is there).
#[derive(Clone)]
pub struct RemoteStorage(pub Arc<App>);

impl RemoteStorage {
    /// Reads the task's object; a failure of the store counts in
    /// `drip_storage_errors_total{operation="read"}` (an object that is not there does not).
    async fn fetch(&self, task: &mut DownloadTask) -> Result<(), String> {
        let read = self.read(task).await;
        if let Err(ReadError::Store(_)) = &read {
            self.0
                .metrics
                .storage_error(crate::metrics::StorageOp::Read);
        }
        read.map_err(|e| match e {
            ReadError::Missing => "its stored object is missing".to_owned(),
            ReadError::Store(e) => e,
        })
    }

    async fn read(&self, task: &mut DownloadTask) -> Result<(), ReadError> {
        let key = &task.media.storage_key;
        if task.media.size as u64 > self.0.config.cache_max {
            return match self.0.storage.exists(key).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(ReadError::Missing),
                Err(e) => Err(ReadError::Store(e.to_string())),
            };
        }
        let store = |e: &dyn std::fmt::Display| ReadError::Store(e.to_string());
        let mut stream = self.0.storage.read(key).await.map_err(|e| store(&e))?;
        let mut sealed =
            Vec::with_capacity(crate::crypto::sealed_len(task.media.size as u64) as usize);
        while let Some(chunk) = stream.next().await {
            sealed.extend_from_slice(&chunk.map_err(|e| store(&e))?);
        }
        task.sealed = Some(Bytes::from(sealed));
        Ok(())
    }
}

impl GenStage for RemoteStorage {
    type Args = ();
    type State = ();
    type In = DownloadTask;
    type Out = DownloadTask;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), DownloadTask> {
        queue::restarted::<DownloadTask>(ctx, &queue_name());
        pass_on()
    }

    async fn handle_cancel(
        &self,
        _: CancelReason,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<DownloadTask> {
        queue::restarted::<DownloadTask>(ctx, &queue_name());
        Return::NoReply(Vec::new())
    }

    async fn handle_events(
        &self,
        tasks: Vec<DownloadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<DownloadTask> {
        hold_all(ctx, &tasks);
        let mut out = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            if task.attempts >= MAX_ATTEMPTS {
                fail(&self.0, ctx, &task, "it failed every time it was tried");
                continue;
            }
            // Its cache may have been made since it was asked for: then it is ready now.
            if crate::cache::get(&self.0, &task.media.id).await.is_some() {
                self.0.notices.send(ready(&task));
                queue::done::<DownloadTask>(ctx, &queue_name(), &task.id);
                continue;
            }
            match self.fetch(&mut task).await {
                Ok(()) => out.push(task),
                Err(why) => {
                    tracing::warn!(media = %task.media.id, "the storage failed: {why}");
                    fail(&self.0, ctx, &task, crate::storage::UNAVAILABLE)
                }
            }
        }
        Return::NoReply(out)
    }
}

/// Opens each sealed object with its file's key; a tampered one is refused.
#[derive(Clone)]
pub struct Decryption(pub Arc<App>);

impl Decryption {
    /// Opens the task's sealed bytes off the scheduler threads.
    async fn open(&self, task: &mut DownloadTask) -> Result<(), String> {
        let Some(sealed) = task.sealed.take() else {
            // A file that streams is opened as it is served.
            return Ok(());
        };
        let key = self.0.file_key(&task.media).map_err(|e| e.to_string())?;
        let id = task.media.id.clone();
        let plain = runtime::blocking(move || {
            let mut opener = Decryptor::new(&key, &id);
            let mut plain = opener.push(&sealed)?;
            plain.extend(opener.finish()?);
            Ok::<_, crate::crypto::CryptoError>(plain)
        })
        .await
        .map_err(|e| e.to_string())?;
        task.plain = Some(Bytes::from(plain));
        Ok(())
    }
}

impl GenStage for Decryption {
    type Args = ();
    type State = ();
    type In = DownloadTask;
    type Out = DownloadTask;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), DownloadTask> {
        queue::restarted::<DownloadTask>(ctx, &queue_name());
        pass_on()
    }

    async fn handle_cancel(
        &self,
        _: CancelReason,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<DownloadTask> {
        queue::restarted::<DownloadTask>(ctx, &queue_name());
        Return::NoReply(Vec::new())
    }

    async fn handle_events(
        &self,
        tasks: Vec<DownloadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<DownloadTask> {
        hold_all(ctx, &tasks);
        let mut out = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            match self.open(&mut task).await {
                Ok(()) => out.push(task),
                Err(why) => fail(&self.0, ctx, &task, &format!("it does not decrypt ({why})")),
            }
        }
        Return::NoReply(out)
    }
}

/// Starts each file's cache and tells its user the link.
#[derive(Clone)]
pub struct Notifier(pub Arc<App>);

impl GenStage for Notifier {
    type Args = ();
    type State = ();
    type In = DownloadTask;
    type Out = ();

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), ()> {
        queue::restarted::<DownloadTask>(ctx, &queue_name());
        Init::Consumer((), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        tasks: Vec<DownloadTask>,
        _: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<()> {
        hold_all(ctx, &tasks);
        for task in tasks {
            if !crate::cache::start(&self.0, ctx, &task.media.id, task.plain.clone()).await {
                fail(&self.0, ctx, &task, "its cache could not start");
                continue;
            }
            self.0.notices.send(ready(&task));
            queue::done::<DownloadTask>(ctx, &queue_name(), &task.id);
        }
        Return::NoReply(Vec::new())
    }
}

/// The "download ready" notice for `task`.
pub fn ready(task: &DownloadTask) -> Notice {
    Notice {
        user_id: task.user_id.clone(),
        kind: "download_ready".into(),
        text: format!("{} is ready to download", task.media.full_path),
        media_id: Some(task.media.id.clone()),
        link: Some(task.link()),
    }
}

/// The download pipeline, the book's demand.
pub fn pipeline(app: &Arc<App>) -> PipelineSpec {
    Pipeline::start(
        "download",
        "starter",
        Starter::<DownloadTask>::new(&queue_name()),
        (),
    )
    .demand(10, 1)
    .step("storage", RemoteStorage(app.clone()), (), 1)
    .step("decryption", Decryption(app.clone()), (), 1)
    .finish("notifier", Notifier(app.clone()), (), 1)
}
