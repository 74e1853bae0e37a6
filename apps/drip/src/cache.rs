//! The download cache (the book's `CacheWorker`): one GenServer per downloaded file, started
//! by the download pipeline's Notifier under the DynamicSupervisor `drip_cache_sup`, and
//! registered cluster-wide with `global` as the book's `{:global, {:cache, media_id}}`
//! (`{cache, <<MediaId>>}`), so the link one node hands out is served by any node.
//!
//! A cache holds the file's plaintext if it is at most `cache_max` bytes; a larger file's cache
//! holds nothing and the node serving the link streams it from storage, decrypting as it goes.
//! It stops after `cache_idle` without a hit (the book: 120 minutes); every hit starts the idle
//! time again. Its link lives as long as it does.
//!
//! It answers terms, so it is called the same from this node, another rotp node or erl
//! (`gen_server:call({global, {cache, Id}}, get)`): `get` → `{ok, Binary}` or `stream`.
//! The atom `expire` makes it stop at once (its file was deleted).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etf::Term;
use otp::dynamic_supervisor::{self, Request, Response};
use otp::gen_server::{self, CallError, ServerRef};
use otp::supervisor::{ChildSpec, Restart};
use otp::{CallReply, GenServer, Init, NoReply};
use runtime::{Context, ExitReason, Message};

use crate::app::App;

/// The cache DynamicSupervisor's registered name.
pub const SUPERVISOR: &str = "drip_cache_sup";

/// The global name of `media_id`'s cache: `{cache, <<MediaId>>}`.
pub fn name(media_id: &str) -> Term {
    Term::Tuple(vec![
        Term::atom("cache"),
        Term::Binary(Bytes::copy_from_slice(media_id.as_bytes())),
    ])
}

/// One file's cache.
#[derive(Clone)]
pub struct Cache {
    idle: Duration,
}

/// What a cache holds.
pub struct CacheState {
    content: Option<Bytes>,
    hit: Instant,
}

impl GenServer for Cache {
    type Args = Option<Bytes>;
    type State = CacheState;
    type Call = Term;
    type Reply = Term;
    type Cast = Term;

    async fn init(&self, content: Option<Bytes>, ctx: &mut Context) -> Init<CacheState> {
        // The idle clock: a tick a quarter of the idle time (at most 30 s) apart, for as long
        // as the cache lives.
        let me = ctx.pid().clone();
        let runtime = ctx.runtime().clone();
        let every = (self.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if !runtime.is_alive(&me) {
                    return;
                }
                runtime.send(&me, Message::Term(Term::atom("idle_check")));
            }
        });
        Init::Ok(CacheState {
            content,
            hit: Instant::now(),
        })
    }

    async fn handle_call(
        &self,
        request: Term,
        _: &otp::From,
        state: &mut CacheState,
        _: &mut Context,
    ) -> CallReply<Term> {
        match request.as_atom() {
            Some("get") => {
                state.hit = Instant::now();
                CallReply::Reply(match &state.content {
                    Some(bytes) => Term::Tuple(vec![Term::atom("ok"), Term::Binary(bytes.clone())]),
                    None => Term::atom("stream"),
                })
            }
            _ => CallReply::Reply(Term::Tuple(vec![
                Term::atom("error"),
                Term::atom("unknown_call"),
            ])),
        }
    }

    async fn handle_info(
        &self,
        message: Message,
        state: &mut CacheState,
        _: &mut Context,
    ) -> NoReply {
        match message.as_term().and_then(Term::as_atom) {
            Some("idle_check") if state.hit.elapsed() >= self.idle => {
                NoReply::Stop(ExitReason::Normal)
            }
            Some("expire") => NoReply::Stop(ExitReason::Normal),
            _ => NoReply::Continue,
        }
    }
}

/// What a cache gave.
pub enum Cached {
    /// The plaintext.
    Bytes(Bytes),
    /// Nothing kept: stream the file from storage.
    Stream,
}

/// Asks `media_id`'s cache, wherever in the cluster it runs, for the file (a hit, which
/// starts its idle time again). `None` if there is no cache (never made, or expired).
pub async fn get(app: &App, media_id: &str) -> Option<Cached> {
    let global = app.node.global();
    let server = ServerRef::via(global, name(media_id));
    app.node
        .in_process(move |mut ctx| async move {
            let reply: Result<Term, CallError> =
                gen_server::try_call(&mut ctx, server, Term::atom("get"), Duration::from_secs(30))
                    .await;
            match reply.ok()? {
                Term::Tuple(v) if v.len() == 2 && v[0].as_atom() == Some("ok") => match &v[1] {
                    Term::Binary(b) => Some(Cached::Bytes(b.clone())),
                    _ => None,
                },
                t if t.as_atom() == Some("stream") => Some(Cached::Stream),
                _ => None,
            }
        })
        .await
        .flatten()
}

/// Starts `media_id`'s cache on this node with `content`, unless one runs somewhere in the
/// cluster already; whether one runs now.
pub async fn start(
    app: &Arc<App>,
    ctx: &mut Context,
    media_id: &str,
    content: Option<Bytes>,
) -> bool {
    let cache = Cache {
        idle: app.config.cache_idle,
    };
    let spec = ChildSpec::gen_server_named(
        "cache",
        cache,
        content,
        Some(app.node.global().via(name(media_id))),
    )
    .restart(Restart::Temporary);
    match dynamic_supervisor::request(
        ctx,
        ServerRef::Name(etf::Atom::from(SUPERVISOR)),
        Request::StartChild(spec),
    )
    .await
    {
        Response::Ok(Some(_)) => true,
        // `{already_started, Pid}`: another request (or node) made it first.
        Response::Error(Term::Tuple(v))
            if v.first().and_then(Term::as_atom) == Some("already_started") =>
        {
            true
        }
        other => {
            tracing::warn!(media = %media_id, "the download cache did not start: {other:?}");
            false
        }
    }
}

/// Stops `media_id`'s cache wherever it runs (its file is gone).
pub async fn expire(app: &App, media_id: &str) {
    let global = app.node.global();
    let name = name(media_id);
    app.node
        .in_process(move |ctx| async move {
            let _ = global.send(&ctx, &name, Term::atom("expire"));
        })
        .await;
}

/// The cache supervisor's child spec.
pub fn supervisor_spec() -> ChildSpec {
    ChildSpec::supervisor(SUPERVISOR, |ctx, _| {
        Box::pin(async move {
            dynamic_supervisor::start_link(
                ctx,
                dynamic_supervisor::Options::default(),
                Some(etf::Atom::from(SUPERVISOR).into()),
            )
            .await
        })
    })
}
