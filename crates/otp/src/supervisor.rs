//! `Supervisor`: starts children in order, restarts them by strategy within a restart
//! intensity, and stops them in reverse order (`lib/stdlib/src/supervisor.erl`; Elixir's
//! `Supervisor`). A supervisor is a [`GenServer`] that traps exits.
//!
//! ```
//! use rotp_otp::supervisor::{self, ChildInfo, ChildSpec, Flags, Request, Response, Strategy};
//! use runtime::ExitReason;
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // A worker: a process linked to the supervisor that waits for messages forever.
//! let worker = |id: &str| ChildSpec::worker(id, |ctx: &mut runtime::Context, _| {
//!     Box::pin(async move { Ok(Some(ctx.spawn_link(|mut ctx| async move { loop { ctx.recv().await; } }))) })
//! });
//! // Supervisor.init([cache, web], strategy: :rest_for_one)
//! let children = vec![worker("cache"), worker("web")];
//! let sup = supervisor::start_link(&mut ctx, Flags::new(Strategy::RestForOne), children, None)
//!     .await
//!     .unwrap()
//!     .unwrap();
//! let pids = |children: &[ChildInfo]| children.iter().map(|c| (c.id.to_string(), c.pid.clone().unwrap())).collect::<std::collections::HashMap<_, _>>();
//! let Response::Children(before) = supervisor::request(&mut ctx, &sup, Request::WhichChildren).await else { panic!() };
//! let before = pids(&before);
//!
//! // `cache` is killed: rest_for_one restarts it and `web`, started after it.
//! let down = ctx.monitor(&before["cache"]);
//! ctx.exit(&before["cache"], ExitReason::Kill);
//! ctx.receive(|m| m.is_down_for(&down)).await;
//! let Response::Children(after) = supervisor::request(&mut ctx, &sup, Request::WhichChildren).await else { panic!() };
//! let after = pids(&after);
//! assert_ne!(after["cache"], before["cache"]);
//! assert_ne!(after["web"], before["web"]);
//! assert!(!ctx.runtime().is_alive(&before["web"]));
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason, Message};

use crate::gen_server::{self, CallReply, From, GenServer, Init, Name, NoReply, ServerRef};

/// A boxed future borrowing the supervisor's context.
pub type StartFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Pid>, ExitReason>> + Send + 'a>>;

/// How a child is started: linked to the supervisor (the `start` of a child spec), given the
/// supervisor's extra arguments (a `DynamicSupervisor`'s `extra_arguments`; none for a
/// `Supervisor`). `Ok(None)` is `ignore`.
pub type StartFn = Arc<dyn for<'a> Fn(&'a mut Context, Vec<Term>) -> StartFuture<'a> + Send + Sync>;

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (not `normal`, `shutdown` or `{shutdown, _}`).
    Transient,
    /// Never.
    Temporary,
}

/// How a child is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `exit(Child, kill)` at once.
    BrutalKill,
    /// `exit(Child, shutdown)`, then `kill` if it has not ended in time.
    Timeout(Duration),
    /// `exit(Child, shutdown)` and wait for as long as it takes (supervisors).
    Infinity,
}

/// A child's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildType {
    /// A worker.
    Worker,
    /// A supervisor.
    Supervisor,
}

/// A child specification (`child_spec()`).
#[derive(Clone)]
pub struct ChildSpec {
    /// The child's id, unique within its supervisor.
    pub id: Atom,
    /// How to start it.
    pub start: StartFn,
    /// When to restart it.
    pub restart: Restart,
    /// How to stop it.
    pub shutdown: Shutdown,
    /// Worker or supervisor.
    pub child_type: ChildType,
}

impl ChildSpec {
    /// A permanent worker with a 5 s shutdown, as Elixir's defaults.
    pub fn worker(
        id: &str,
        start: impl for<'a> Fn(&'a mut Context, Vec<Term>) -> StartFuture<'a> + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec {
            id: Atom::from(id),
            start: Arc::new(start),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            child_type: ChildType::Worker,
        }
    }

    /// A child that is itself a supervisor: shutdown `infinity`.
    pub fn supervisor(
        id: &str,
        start: impl for<'a> Fn(&'a mut Context, Vec<Term>) -> StartFuture<'a> + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec {
            shutdown: Shutdown::Infinity,
            child_type: ChildType::Supervisor,
            ..ChildSpec::worker(id, start)
        }
    }

    /// `{MyServer, args}`: a GenServer worker started with `gen_server::start_link(server,
    /// args)` each time (Elixir's `child_spec/1` of a `use GenServer` module, id and all).
    pub fn gen_server<G>(id: &str, server: G, args: G::Args) -> ChildSpec
    where
        G: GenServer + Clone,
        G::Args: Clone + Sync,
    {
        ChildSpec::gen_server_named(id, server, args, None)
    }

    /// [`ChildSpec::gen_server`] registered under `name` (`{local, Name}` or `{via, M, N}`).
    pub fn gen_server_named<G>(id: &str, server: G, args: G::Args, name: Option<Name>) -> ChildSpec
    where
        G: GenServer + Clone,
        G::Args: Clone + Sync,
    {
        ChildSpec::worker(id, move |ctx, _| {
            let (server, args, name) = (server.clone(), args.clone(), name.clone());
            Box::pin(async move { gen_server::start_link(ctx, server, args, name).await })
        })
    }

    /// `{MyStage, args}`: a GenStage worker started with `gen_stage::start_link(stage, args,
    /// name)` each time.
    pub fn gen_stage<G>(id: &str, stage: G, args: G::Args, name: Option<Name>) -> ChildSpec
    where
        G: crate::gen_stage::GenStage + Clone,
        G::Args: Clone + Sync,
    {
        ChildSpec::worker(id, move |ctx, _| {
            let (stage, args, name) = (stage.clone(), args.clone(), name.clone());
            Box::pin(async move { crate::gen_stage::start_link(ctx, stage, args, name).await })
        })
    }

    /// A supervisor child with these flags and children (`{Supervisor, children}`).
    pub fn supervisor_of(
        id: &str,
        flags: Flags,
        children: Vec<ChildSpec>,
        name: Option<Name>,
    ) -> ChildSpec {
        ChildSpec::supervisor(id, move |ctx, _| {
            let (children, name) = (children.clone(), name.clone());
            Box::pin(async move { start_link(ctx, flags, children, name).await })
        })
    }

    /// The same spec with another restart policy.
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// The same spec with another shutdown.
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }
}

/// Restart strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the child that ended.
    OneForOne,
    /// Stop all the others, then restart all.
    OneForAll,
    /// Stop the children started after it, then restart it and them.
    RestForOne,
}

/// Supervisor flags: the strategy and the restart intensity (`max_restarts` restarts in
/// `max_seconds`; more, and the supervisor stops its children and exits with `shutdown`).
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// The strategy.
    pub strategy: Strategy,
    /// Restarts allowed in the period (default 3).
    pub max_restarts: u32,
    /// The period (default 5 s).
    pub max_seconds: Duration,
}

impl Flags {
    /// `strategy` with the default intensity (3 restarts in 5 seconds).
    pub fn new(strategy: Strategy) -> Flags {
        Flags {
            strategy,
            max_restarts: 3,
            max_seconds: Duration::from_secs(5),
        }
    }
}

/// One row of `which_children/1`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildInfo {
    /// The id.
    pub id: Atom,
    /// The pid, or `None` when not running (`undefined`/`restarting`).
    pub pid: Option<Pid>,
    /// Worker or supervisor.
    pub child_type: ChildType,
}

/// `count_children/1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChildCounts {
    /// All child specs.
    pub specs: usize,
    /// Running children.
    pub active: usize,
    /// Supervisors among the specs.
    pub supervisors: usize,
    /// Workers among the specs.
    pub workers: usize,
}

struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
}

/// The supervisor's state.
pub struct State {
    /// `{local, Name}` or the pid, as its reports name it.
    me: Term,
    flags: Flags,
    children: Vec<Child>,
    restarts: VecDeque<Instant>,
}

/// Requests a running supervisor answers.
pub enum Request {
    /// `which_children/1`.
    WhichChildren,
    /// `count_children/1`.
    CountChildren,
    /// `terminate_child/2`.
    TerminateChild(Atom),
    /// `restart_child/2`.
    RestartChild(Atom),
    /// `delete_child/2`.
    DeleteChild(Atom),
    /// `start_child/2`.
    StartChild(ChildSpec),
}

/// Answers to [`Request`]s.
#[derive(Debug, PartialEq)]
pub enum Response {
    /// For `WhichChildren`.
    Children(Vec<ChildInfo>),
    /// For `CountChildren`.
    Counts(ChildCounts),
    /// Done; with the child's pid where one was started.
    Ok(Option<Pid>),
    /// `{error, Reason}`: `not_found`, `running`, `already_present`, or a start failure.
    Error(Term),
}

/// The supervisor behaviour.
pub struct Supervisor;

/// What `start_link` gets.
pub struct Args {
    /// Flags.
    pub flags: Flags,
    /// Children, started in this order.
    pub children: Vec<ChildSpec>,
    /// The name the supervisor is registered under, for its reports.
    pub name: Option<Name>,
}

/// `Supervisor.start_link/2`.
pub async fn start_link(
    ctx: &mut Context,
    flags: Flags,
    children: Vec<ChildSpec>,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    let args = Args {
        flags,
        children,
        name: name.clone(),
    };
    gen_server::start_link(ctx, Supervisor, args, name).await
}

/// Sends a request to a supervisor and waits for the answer.
pub async fn request(
    ctx: &mut Context,
    supervisor: impl Into<ServerRef>,
    request: Request,
) -> Response {
    gen_server::call(ctx, supervisor, request, Duration::from_secs(60)).await
}

fn error(reason: &str) -> Response {
    Response::Error(Term::atom(reason))
}

impl State {
    fn find(&self, id: &Atom) -> Option<usize> {
        self.children.iter().position(|c| c.spec.id == *id)
    }

    /// Records a restart; `false` when the intensity is exceeded.
    fn allow_restart(&mut self) -> bool {
        allow_restart(&mut self.restarts, &self.flags)
    }
}

pub(crate) async fn start_child(
    ctx: &mut Context,
    spec: &ChildSpec,
    extra: Vec<Term>,
) -> Result<Option<Pid>, ExitReason> {
    (spec.start)(ctx, extra).await
}

/// Stops one child as its spec says (`supervisor:shutdown/2`): unlink, monitor, exit signal,
/// wait for `'DOWN'` (then `kill` after a timeout), and drop any `'EXIT'` it left behind.
pub(crate) async fn shutdown(ctx: &mut Context, pid: &Pid, how: Shutdown) {
    let monitor = ctx.monitor(pid);
    ctx.unlink(pid);
    let down = |m: &Message| m.as_down().is_some_and(|(r, _, _)| r == monitor);
    match how {
        Shutdown::BrutalKill => {
            ctx.exit(pid, ExitReason::Kill);
            ctx.receive(down).await;
        }
        Shutdown::Timeout(t) => {
            ctx.exit(pid, ExitReason::Shutdown);
            if ctx.receive_timeout(t, down).await.is_none() {
                ctx.exit(pid, ExitReason::Kill);
                ctx.receive(|m: &Message| m.as_down().is_some_and(|(r, _, _)| r == monitor))
                    .await;
            }
        }
        Shutdown::Infinity => {
            ctx.exit(pid, ExitReason::Shutdown);
            ctx.receive(down).await;
        }
    }
    let p = pid.clone();
    while ctx
        .receive_timeout(Duration::ZERO, |m| {
            m.as_exit().is_some_and(|(from, _)| from == p)
        })
        .await
        .is_some()
    {}
}

/// Restarts asked of every supervisor in this OS process (each counted when its supervisor
/// records it, before the intensity check: the `rotp_supervisor_restarts_total` metric).
static RESTARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many restarts the supervisors of this OS process (Supervisor, DynamicSupervisor,
/// ConsumerSupervisor) have recorded.
pub fn restarts_total() -> u64 {
    RESTARTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Records a restart in `history`; `false` when that exceeds the intensity in `flags`.
pub(crate) fn allow_restart(history: &mut VecDeque<Instant>, flags: &Flags) -> bool {
    RESTARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = Instant::now();
    history.push_back(now);
    while history
        .front()
        .is_some_and(|t| now.duration_since(*t) > flags.max_seconds)
    {
        history.pop_front();
    }
    history.len() as u32 <= flags.max_restarts
}

/// Whether a child that ended with `reason` is restarted.
pub(crate) fn restarts(restart: Restart, reason: &ExitReason) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Transient => !reason.is_normal_or_shutdown(),
        Restart::Temporary => false,
    }
}

/// `count_children/1` over `(spec, running)` pairs.
pub(crate) fn count_children<'a>(
    children: impl Iterator<Item = (&'a ChildSpec, bool)>,
) -> ChildCounts {
    let mut counts = ChildCounts::default();
    for (spec, running) in children {
        counts.specs += 1;
        counts.active += usize::from(running);
        match spec.child_type {
            ChildType::Supervisor => counts.supervisors += 1,
            ChildType::Worker => counts.workers += 1,
        }
    }
    counts
}

/// Stops the children in `range`, last first.
async fn stop_children(ctx: &mut Context, state: &mut State, range: std::ops::Range<usize>) {
    for i in range.rev() {
        if let Some(pid) = state.children[i].pid.take() {
            shutdown(ctx, &pid, state.children[i].spec.shutdown).await;
        }
    }
}

/// Starts the children in `range` that are not running, first first; the first failure.
async fn start_children(
    ctx: &mut Context,
    state: &mut State,
    range: std::ops::Range<usize>,
) -> Result<(), (Atom, ExitReason)> {
    for i in range {
        if state.children[i].pid.is_some() {
            continue;
        }
        let spec = state.children[i].spec.clone();
        match start_child(ctx, &spec, Vec::new()).await {
            Ok(pid) => state.children[i].pid = pid,
            Err(reason) => return Err((spec.id, reason)),
        }
    }
    Ok(())
}

/// A supervisor report, as OTP's `supervisor:report_error/4` logs it: the supervisor, what
/// happened, why, and the child it happened to.
pub(crate) fn report(supervisor: &Term, context: &str, reason: &ExitReason, id: &Atom, pid: &Pid) {
    runtime::logger::report(
        runtime::logger::Kind::Supervisor,
        &format!(
            "    supervisor: {}\n    errorContext: {context}\n    reason: {}\n    \
             offender: [{{pid,{}}},\n               {{id,{}}}]",
            runtime::logger::format_term(supervisor),
            runtime::logger::format_term(&reason.to_term()),
            Term::Pid(pid.clone()),
            Term::Atom(id.clone()),
        ),
    );
}

impl GenServer for Supervisor {
    type Args = Args;
    type State = State;
    type Call = Request;
    type Reply = Response;
    type Cast = ();

    /// `supervisor:which_children/1` and `count_children/1` from erl, or from the window's
    /// tree readers, as the calls stdlib's supervisor.erl makes (`which_children`,
    /// `count_children`).
    fn call_from_term(request: &Term) -> Option<Request> {
        match request.as_atom()? {
            "which_children" => Some(Request::WhichChildren),
            "count_children" => Some(Request::CountChildren),
            _ => None,
        }
    }

    /// Their replies as supervisor.erl gives them: `[{Id, Child, Type, Modules}]` (`Child` a
    /// pid or `undefined`; the modules are not tracked, so `[]`), and the counts' proplist.
    fn reply_to_term(reply: Response) -> Option<Term> {
        let kv = |k: &str, n: usize| Term::Tuple(vec![Term::atom(k), Term::Integer(n as i64)]);
        match reply {
            Response::Children(children) => Some(Term::List(
                children
                    .into_iter()
                    .map(|c| {
                        Term::Tuple(vec![
                            Term::Atom(c.id),
                            c.pid.map_or_else(|| Term::atom("undefined"), Term::Pid),
                            Term::atom(match c.child_type {
                                ChildType::Worker => "worker",
                                ChildType::Supervisor => "supervisor",
                            }),
                            Term::NIL,
                        ])
                    })
                    .collect(),
            )),
            Response::Counts(c) => Some(Term::List(vec![
                kv("specs", c.specs),
                kv("active", c.active),
                kv("supervisors", c.supervisors),
                kv("workers", c.workers),
            ])),
            _ => None,
        }
    }

    async fn init(&self, args: Args, ctx: &mut Context) -> Init<State> {
        ctx.trap_exit(true);
        let me = match args.name {
            Some(name) => name.to_term(),
            None => Term::Pid(ctx.pid().clone()),
        };
        let mut state = State {
            me,
            flags: args.flags,
            children: args
                .children
                .into_iter()
                .map(|spec| Child { spec, pid: None })
                .collect(),
            restarts: VecDeque::new(),
        };
        let all = 0..state.children.len();
        if let Err((id, reason)) = start_children(ctx, &mut state, all.clone()).await {
            stop_children(ctx, &mut state, all).await;
            let failed = Term::Tuple(vec![
                Term::atom("failed_to_start_child"),
                Term::Atom(id),
                reason.to_term(),
            ]);
            return Init::Stop(ExitReason::ShutdownWith(failed));
        }
        Init::Ok(state)
    }

    async fn handle_call(
        &self,
        request: Request,
        _from: &From,
        state: &mut State,
        ctx: &mut Context,
    ) -> CallReply<Response> {
        CallReply::Reply(match request {
            Request::WhichChildren => Response::Children(
                state
                    .children
                    .iter()
                    .map(|c| ChildInfo {
                        id: c.spec.id.clone(),
                        pid: c.pid.clone(),
                        child_type: c.spec.child_type,
                    })
                    .collect(),
            ),
            Request::CountChildren => Response::Counts(count_children(
                state.children.iter().map(|c| (&c.spec, c.pid.is_some())),
            )),
            Request::TerminateChild(id) => match state.find(&id) {
                None => error("not_found"),
                Some(i) => {
                    stop_children(ctx, state, i..i + 1).await;
                    if state.children[i].spec.restart == Restart::Temporary {
                        state.children.remove(i);
                    }
                    Response::Ok(None)
                }
            },
            Request::RestartChild(id) => match state.find(&id) {
                None => error("not_found"),
                Some(i) if state.children[i].pid.is_some() => error("running"),
                Some(i) => match start_children(ctx, state, i..i + 1).await {
                    Ok(()) => Response::Ok(state.children[i].pid.clone()),
                    Err((_, reason)) => Response::Error(reason.to_term()),
                },
            },
            Request::DeleteChild(id) => match state.find(&id) {
                None => error("not_found"),
                Some(i) if state.children[i].pid.is_some() => error("running"),
                Some(i) => {
                    state.children.remove(i);
                    Response::Ok(None)
                }
            },
            Request::StartChild(spec) => {
                if state.find(&spec.id).is_some() {
                    error("already_present")
                } else {
                    state.children.push(Child { spec, pid: None });
                    let i = state.children.len() - 1;
                    match start_children(ctx, state, i..i + 1).await {
                        Ok(()) => Response::Ok(state.children[i].pid.clone()),
                        Err((_, reason)) => {
                            state.children.remove(i);
                            Response::Error(reason.to_term())
                        }
                    }
                }
            }
        })
    }

    async fn handle_info(&self, message: Message, state: &mut State, ctx: &mut Context) -> NoReply {
        let Some((pid, reason)) = message.as_exit() else {
            return NoReply::Continue;
        };
        let Some(i) = state
            .children
            .iter()
            .position(|c| c.pid.as_ref() == Some(&pid))
        else {
            return NoReply::Continue; // not a child of ours (any more)
        };
        state.children[i].pid = None;
        let restart = state.children[i].spec.restart;
        if restart == Restart::Permanent || !reason.is_normal_or_shutdown() {
            report(
                &state.me,
                "child_terminated",
                &reason,
                &state.children[i].spec.id,
                &pid,
            );
        }
        if !restarts(restart, &reason) {
            if state.children[i].spec.restart == Restart::Temporary {
                state.children.remove(i);
            }
            return NoReply::Continue;
        }
        if !state.allow_restart() {
            // reached_max_restart_intensity: stop everything (terminate does, in reverse order).
            let intensity = ExitReason::Other(Term::atom("reached_max_restart_intensity"));
            report(
                &state.me,
                "shutdown",
                &intensity,
                &state.children[i].spec.id,
                &pid,
            );
            return NoReply::Stop(ExitReason::Shutdown);
        }
        let range = match state.flags.strategy {
            Strategy::OneForOne => i..i + 1,
            Strategy::OneForAll => 0..state.children.len(),
            Strategy::RestForOne => i..state.children.len(),
        };
        let span = tracing::info_span!(
            "supervisor_restart",
            supervisor = %state.me,
            child = %state.children[i].spec.id,
            strategy = ?state.flags.strategy,
        );
        let restart = async {
            stop_children(ctx, state, range.clone()).await;
            start_children(ctx, state, range).await
        };
        match tracing::Instrument::instrument(restart, span).await {
            Ok(()) => NoReply::Continue,
            Err(_) => NoReply::Stop(ExitReason::Shutdown),
        }
    }

    async fn terminate(&self, _reason: &ExitReason, state: &mut State, ctx: &mut Context) {
        let all = 0..state.children.len();
        stop_children(ctx, state, all).await;
    }
}
