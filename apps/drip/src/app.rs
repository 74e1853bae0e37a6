//! The running app: its settings, metadata store, object storage, master key, node and
//! pipelines, and what [`start`] does to bring them up.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use node::name::NameKind;
use node::{Node, NodeConfig};
use otp::supervisor::{self, ChildSpec, Flags, Strategy};
use runtime::ExitReason;

use crate::config::{Config, NodeName};
use crate::crypto::{CryptoError, MasterKeys};
use crate::db::uploads::UploadState;
use crate::db::{Media, Store};
use crate::metrics::Metrics;
use crate::notify::{Notice, Notices};
use crate::pipeline::download::{self, DownloadTask};
use crate::pipeline::queue::{self, Queue};
use crate::pipeline::upload::{self, UploadTask};
use crate::storage::Storage;

/// What the web layer and the pipelines share.
pub struct App {
    /// The settings.
    pub config: Config,
    /// The metadata.
    pub store: Store,
    /// The objects.
    pub storage: Storage,
    /// Wraps and unwraps file keys.
    pub master: MasterKeys,
    /// Where uploads wait for the pipeline.
    pub spool: PathBuf,
    /// Notices for users on this node.
    pub notices: Notices,
    /// Drip's own metrics.
    pub metrics: Metrics,
    /// The rotp node.
    pub node: Node,
    /// Browser sessions.
    pub sessions: crate::web::session::Sessions,
    /// Log-in and sign-up rate limits.
    pub throttle: crate::web::throttle::Throttle,
    /// Password hashing, a few at a time.
    pub hasher: crate::accounts::Hasher,
    /// Who is online, cluster-wide, as one task reads it twice a second for every socket.
    pub online: tokio::sync::watch::Receiver<Vec<crate::presence::OnlineUser>>,
    /// Live sockets open on this node, by user.
    pub sockets: crate::web::socket::SocketCount,
    /// Turns true when Drip is stopping: live sockets and streams close.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The upload requests waiting for their uploads to be stored.
    pub outcomes: crate::pipeline::outcome::Outcomes,
}

impl App {
    /// The file key of `media`, unwrapped (bound to the file and its owner).
    pub fn file_key(&self, media: &Media) -> Result<[u8; 32], CryptoError> {
        self.master.unwrap_hex(&media.wrapped_key, media.binding())
    }
}

/// Starts an EPMD in this process if none answers on the node's port: Drip on its embedded
/// defaults needs nothing else running.
async fn epmd(port: u16) -> Result<()> {
    // A listener on the port that never answers must not hang the start.
    let answers = || async move {
        matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                net::epmd::Client::localhost(port).names()
            )
            .await,
            Ok(Ok(_))
        )
    };
    if answers().await {
        return Ok(());
    }
    let daemon = net::epmd::Daemon::bind(net::epmd::DaemonConfig {
        port,
        addresses: Some("127.0.0.1".to_owned()),
        ..net::epmd::DaemonConfig::default()
    });
    match daemon {
        Ok(d) => {
            tracing::info!("no EPMD answered on port {port}: Drip runs its own");
            tokio::spawn(d.run());
            // Serving once it answers: the node registers with it next.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while !answers().await {
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!("the EPMD Drip started on port {port} does not answer");
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Ok(())
        }
        // Another process holds the port: use it if it answers.
        Err(net::epmd::DaemonError::AlreadyRunning { .. }) if answers().await => Ok(()),
        Err(net::epmd::DaemonError::AlreadyRunning { .. }) => anyhow::bail!(
            "something listens on the EPMD port {port} but does not answer as EPMD: stop it, or set ERL_EPMD_PORT"
        ),
        Err(e) => Err(e).context("cannot start an EPMD"),
    }
}

/// Brings Drip up: the data directory, the master key, the store, the storage, the node and
/// its pipelines. The web layer comes on top (`web`).
pub async fn start(config: Config) -> Result<Arc<App>> {
    // Drip's alone (0700): the spool holds uploads in plaintext.
    crate::private::dir(&config.data)
        .with_context(|| format!("cannot make the data directory {}", config.data.display()))?;
    let spool = config.data.join("spool");
    crate::private::dir(&spool).with_context(|| format!("cannot make {}", spool.display()))?;
    crate::private::dir(&config.keys)
        .with_context(|| format!("cannot make the keys directory {}", config.keys.display()))?;
    let master = MasterKeys {
        current: crate::keys::master_key(&config.keys)?,
        old: crate::keys::old_master_key(&config.keys)?,
    };
    if master.old.is_some() {
        tracing::warn!(
            "master.key.old is still in {}: remove it once `drip check` reports no file key wrapped under it",
            config.keys.display()
        );
    }
    let sessions = crate::web::session::Sessions::open(&config.keys, config.secure_cookies())?;
    crate::private::sqlite(&config.database).context("cannot make the database file")?;
    let store = if config.migrate {
        Store::open(&config.database).await?
    } else {
        Store::open_migrated_elsewhere(&config.database).await?
    };
    let storage = Storage::open(&config.storage)?;
    let node_config = match &config.node {
        NodeName::Short(n) => NodeConfig::new(
            n,
            NameKind::Short,
            node::cookie::find_cookie(config.cookie.as_deref())?,
        ),
        NodeName::Long(n) => NodeConfig::new(
            n,
            NameKind::Long,
            node::cookie::find_cookie(config.cookie.as_deref())?,
        ),
        // Nothing connects to it, so it needs no cookie (and makes no ~/.erlang.cookie).
        NodeName::None => {
            let mut c = NodeConfig::new(
                "nonode@nohost",
                NameKind::Short,
                node::cookie::find_cookie(Some(&crate::db::new_id()))?,
            );
            c.listen = false;
            c
        }
    };
    let mut node_config = node_config;
    node_config.listen_ports = config.dist_ports.clone();
    node_config.ticktime = config.net_ticktime;
    node_config.inet6 = config.inet6;
    node_config.tls = dist_tls(&config)?;
    if node_config.listen {
        epmd(node_config.epmd_port).await?;
    }
    let node = Node::start(node_config).await?;
    let notices = Notices::start(&node).await?;
    let online = crate::presence::watch(&node);
    let app_signup_limit = config.signup_limit;
    let app = Arc::new(App {
        config,
        store,
        storage,
        master,
        spool,
        notices,
        metrics: Metrics::default(),
        node,
        sessions,
        throttle: crate::web::throttle::Throttle::new(app_signup_limit),
        hasher: crate::accounts::Hasher::default(),
        online,
        sockets: crate::web::socket::SocketCount::default(),
        stopping: tokio::sync::watch::channel(false).0,
        outcomes: crate::pipeline::outcome::Outcomes::default(),
    });
    warn_about_admins(&app).await;
    start_pipelines(&app).await?;
    tokio::spawn(janitor(app.clone()));
    tokio::spawn(leases(app.clone()));
    // `--cluster` and `--discovery`: connected to what they find, again whenever a
    // connection is lost; `global` and `pg` then share names, notices and presence.
    node::discovery::start(&app.node, app.config.discovery.clone());
    tokio::spawn(give_back_when_quiet(app.clone()));
    Ok(app)
}

/// TLS distribution as `--ssl-dist-optfile` says, if it does.
pub fn dist_tls(config: &Config) -> Result<Option<net::dist::DistTls>> {
    config
        .ssl_dist_optfile
        .as_deref()
        .map(|file| {
            net::dist::DistTls::from_optfile(file)
                .with_context(|| format!("the TLS distribution options in {}", file.display()))
        })
        .transpose()
}

/// Once Drip has had no request for half a minute after a burst, gives the memory the burst
/// freed back to the system (`node::malloc::give_back_freed_memory`: glibc keeps freed blocks
/// that sit between live ones, and the heaps of the blocking threads a burst started, for
/// ever). Never under load, where keeping them is what makes the next request cheap.
async fn give_back_when_quiet(app: Arc<App>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
    let mut trimmed_at = 0;
    loop {
        every.tick().await;
        let last = app.metrics.last_request_ms();
        let quiet = crate::db::now_ms().saturating_sub(last) >= 30_000;
        if quiet && last > trimmed_at {
            trimmed_at = last;
            node::malloc::give_back_freed_memory();
        }
    }
}

/// Says at start which of `--admins` have no account or are not granted admin: the list
/// grants nothing (admin is a property of an account, `drip admin grant NAME`), so that a
/// stranger who signs up under a listed name gets nothing.
async fn warn_about_admins(app: &App) {
    for name in &app.config.admins {
        match app.store.user_named(name).await {
            Ok(None) => tracing::warn!(
                "--admins names {name:?}, which has no account: nobody is admin under that name (once its owner has signed up, run `drip admin grant {name}`)"
            ),
            Ok(Some(u)) if !u.admin => tracing::warn!(
                "--admins names {name:?}, which is not an admin: `drip admin grant {name}` makes it one"
            ),
            Ok(Some(_)) => {}
            Err(e) => tracing::warn!("cannot check the admins: {e}"),
        }
    }
}

/// How old a spool file or a receiving row must be before the janitor looks at it.
const JANITOR_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Every minute, removes what nothing will use: spool files whose file is stored or gone (a
/// minute old or more: an attempt killed mid-way may finish writing its file after the task
/// was done and cleaned up), and the rows of this node's uploads still `receiving` a minute
/// after they went in whose spool file is gone (their request ended without cleaning up,
/// the database being away then). A spool file whose row is receiving or queued is in use,
/// however long its client takes.
async fn janitor(app: Arc<App>) {
    let mut every = tokio::time::interval(JANITOR_AGE);
    loop {
        every.tick().await;
        sweep_spool(&app).await;
        sweep_receiving(&app).await;
    }
}

async fn sweep_spool(app: &App) {
    let Ok(mut entries) = tokio::fs::read_dir(&app.spool).await else {
        return;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        let name = e.file_name().to_string_lossy().into_owned();
        let id = name.split('.').next().unwrap_or(&name).to_owned();
        let old = e
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= JANITOR_AGE);
        if !old {
            continue;
        }
        let unused = match app.store.media_by_id(&id).await {
            Ok(Some(m)) => m.uploaded_at.is_some(),
            Ok(None) => true,
            Err(_) => false,
        };
        if unused {
            tracing::info!("the janitor removes the spool file {name}");
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}

async fn sweep_receiving(app: &App) {
    let before = crate::db::now_ms() - JANITOR_AGE.as_millis() as i64;
    let Ok(ids) = app
        .store
        .receiving_before(app.node.name().as_str(), before)
        .await
    else {
        return;
    };
    for id in ids {
        let part = app.spool.join(format!("{id}.part"));
        if !part.exists() && !app.spool.join(&id).exists() {
            tracing::info!(media = %id, "the janitor drops an upload whose request is gone");
            let _ = app.store.abandon(&id).await;
        }
    }
}

/// Every quarter of `--upload-lease`: moves this node's lease on its uploads under way on,
/// and removes the uploads under way whose lease ran out, whichever node held them (killed,
/// or cut off from the database for longer than the lease): each row goes (only if its lease
/// is still out, in one statement, so a node that came back and renewed or stored it in
/// time keeps it), then its attempts' objects. Its name and its quota are free again; its
/// node, if it comes back, finds the row gone at its next step and removes its own object.
async fn leases(app: Arc<App>) {
    let lease = app.config.upload_lease;
    let mut every = tokio::time::interval(lease / 4);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = crate::db::now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        if let Err(e) = app.store.renew(app.node.name().as_str(), until).await {
            tracing::warn!("cannot renew this node's lease on its uploads: {e}");
        }
        reap_expired(&app, now).await;
    }
}

/// Removes the uploads under way whose lease ran out before `now`, with their attempts'
/// objects: how many went.
pub async fn reap_expired(app: &App, now: i64) -> usize {
    let expired = match app.store.expired(now).await {
        Ok(expired) => expired,
        Err(e) => {
            tracing::warn!("cannot look for uploads whose lease ran out: {e}");
            return 0;
        }
    };
    let mut reaped = 0;
    for row in expired {
        match app.store.reap(&row.id, now).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(media = %row.id, "cannot remove an upload whose lease ran out: {e}");
                continue;
            }
        }
        reaped += 1;
        tracing::warn!(
            media = %row.id,
            node = row.node.as_deref().unwrap_or("?"),
            "an upload's lease ran out (its node stopped renewing it): removed"
        );
        // Its spool files, if they are here (its node was this one, or shares the directory).
        let _ = tokio::fs::remove_file(app.spool.join(&row.id)).await;
        let _ = tokio::fs::remove_file(app.spool.join(format!("{}.part", row.id))).await;
        if let Err(e) = delete_attempts(app, &row.storage_key).await {
            tracing::warn!(media = %row.id, "its attempts' objects are left for drip check: {e}");
        }
    }
    reaped
}

/// Deletes every attempt's object of the row whose key is `key` (`key.ATTEMPT`).
async fn delete_attempts(app: &App, key: &str) -> Result<(), crate::storage::StorageError> {
    for object in app.storage.attempts_of(key).await? {
        app.storage.delete(&object).await?;
    }
    Ok(())
}

/// An upload this node had under way when it stopped: one still arriving (`receiving`) is
/// dropped, its spool files with it (its request died with the node, unanswered); one whose
/// bytes were whole (`queued`) is the task to queue again, or is reported failed if its
/// bytes are gone.
async fn resume(app: &App, media: Media, state: UploadState) -> Option<UploadTask> {
    let spool = app.spool.join(&media.id);
    let part = app.spool.join(format!("{}.part", media.id));
    if state == UploadState::Receiving {
        let _ = tokio::fs::remove_file(&part).await;
        let _ = tokio::fs::remove_file(&spool).await;
        let dropped = crate::retry::database("dropping an unanswered upload", || {
            app.store.abandon(&media.id)
        })
        .await;
        if let Err(e) = dropped {
            tracing::warn!(media = %media.id, "an unanswered upload's row stays for now: {e}");
        }
        return None;
    }
    if spool.exists() {
        return Some(UploadTask {
            media,
            spool,
            attempts: 0,
            attempt: None,
            in_storage: false,
        });
    }
    let _ = app.store.delete_media(&media.id).await;
    app.notices.send(Notice {
        user_id: media.owner_id.clone(),
        kind: "upload_failed".into(),
        text: format!(
            "{} was lost when Drip stopped: upload it again",
            media.full_path
        ),
        media_id: Some(media.id.clone()),
        link: None,
    });
    None
}

/// A pipeline's `rest_for_one` supervisor: its queue, then its stages.
fn pipeline_sup<T: queue::Task>(
    id: &str,
    queue_name: etf::Atom,
    pipeline: otp::gen_stage::PipelineSpec,
    figures: crate::metrics::PipelineFigures,
) -> ChildSpec {
    let mut flags = Flags::new(Strategy::RestForOne);
    flags.max_restarts = 10;
    let queue = ChildSpec::gen_server_named(
        &format!("{queue_name}"),
        Queue::<T>::counted(figures),
        (),
        Some(queue_name.into()),
    );
    ChildSpec::supervisor_of(
        id,
        flags,
        vec![queue, pipeline.child_spec()],
        Some(etf::Atom::from(id).into()),
    )
}

/// `drip_sup` (one_for_one): the download caches' DynamicSupervisor, then each pipeline with
/// its queue under a `rest_for_one` supervisor of its own; then the uploads this node had
/// under way when it last stopped go in again (or are reported failed if their bytes are
/// gone).
async fn start_pipelines(app: &Arc<App>) -> Result<()> {
    let (started, ready) = tokio::sync::oneshot::channel();
    let children = vec![
        crate::cache::supervisor_spec(),
        pipeline_sup::<UploadTask>(
            "drip_upload_sup",
            upload::queue_name(),
            upload::pipeline(app),
            app.metrics.pipeline("upload"),
        ),
        pipeline_sup::<DownloadTask>(
            "drip_download_sup",
            download::queue_name(),
            download::pipeline(app),
            app.metrics.pipeline("download"),
        ),
    ];
    let resumed = app.store.unfinished(app.node.name().as_str()).await?;
    let app2 = app.clone();
    app.node.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let mut flags = Flags::new(Strategy::OneForOne);
        flags.max_restarts = 10;
        let sup = supervisor::start_link(
            &mut ctx,
            flags,
            children,
            Some(etf::Atom::from("drip_sup").into()),
        )
        .await;
        let Ok(Some(sup)) = sup else {
            let _ = started.send(false);
            return ExitReason::atom("drip_sup_failed");
        };
        // Listed as an application, so the dashboard's and observer's trees show Drip's.
        app2.node.application_started(
            "drip",
            "ElixirDrip on rotp",
            env!("CARGO_PKG_VERSION"),
            ctx.pid().clone(),
            sup,
        );
        let _ = started.send(true);
        for (media, state) in resumed {
            if let Some(task) = resume(&app2, media, state).await {
                queue::push(&ctx, &upload::queue_name(), task);
            }
        }
        // The supervisor's exit is this process's: it ends with it.
        loop {
            let m = ctx.recv().await;
            if let Some((_, reason)) = m.as_exit() {
                return reason;
            }
        }
    });
    if !ready.await.unwrap_or(false) {
        anyhow::bail!("the pipelines did not start");
    }
    Ok(())
}

/// Queues an upload whose bytes are in `spool` (its row says `queued`).
pub fn enqueue(app: &App, task: UploadTask) {
    let ctx_node = app.node.clone();
    ctx_node.runtime().spawn(move |ctx| async move {
        queue::push(&ctx, &upload::queue_name(), task);
        ExitReason::Normal
    });
}

/// What became of a download request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// Its cache runs: the "download ready" notice went at once.
    Ready,
    /// The download pipeline has it (now, or already from an earlier request).
    Queued,
    /// The user has [`download::MAX_ASKED`] downloads on their way already.
    TooMany,
    /// The download queue did not answer (it is starting again).
    Unavailable,
}

/// The book's two-step download, step one: `user_id` asks for `media` (stored, and theirs to
/// read). If its cache runs somewhere in the cluster, the "download ready" notice goes at
/// once; otherwise the task goes to the download pipeline, whose Notifier sends it — unless
/// the user has too many on their way.
pub async fn request_download(app: &App, media: Media, user_id: &str) -> Asked {
    let task = DownloadTask::new(media, user_id);
    if crate::cache::get(app, &task.media.id).await.is_some() {
        app.metrics.cache_hit();
        app.notices.send(download::ready(&task));
        return Asked::Ready;
    }
    app.metrics.cache_miss();
    let offered = app
        .node
        .in_process(move |mut ctx| async move {
            queue::offer(&mut ctx, &download::queue_name(), task, download::MAX_ASKED).await
        })
        .await
        .flatten();
    match offered {
        Some(queue::Offered::TooMany) => Asked::TooMany,
        Some(_) => Asked::Queued,
        None => Asked::Unavailable,
    }
}

/// Waits (at most `limit`) until the upload queue has nothing waiting and nothing out; whether
/// it got there.
pub async fn drain(app: &App, limit: std::time::Duration) -> bool {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.node.runtime().spawn(move |mut ctx| async move {
        let deadline = tokio::time::Instant::now() + limit;
        let drained = loop {
            let len = otp::gen_server::try_call(
                &mut ctx,
                otp::gen_server::ServerRef::Name(upload::queue_name()),
                queue::QueueCall::<UploadTask>::Len,
                std::time::Duration::from_secs(5),
            )
            .await;
            match len {
                Ok(queue::QueueReply::<UploadTask>::Len(0, 0)) => break true,
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                _ => break false,
            }
        };
        let _ = tx.send(drained);
        ExitReason::Normal
    });
    rx.await.unwrap_or(false)
}
