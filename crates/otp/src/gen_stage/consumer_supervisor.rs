//! `ConsumerSupervisor` (gen_stage's `lib/consumer_supervisor.ex`): a consumer that starts a
//! child for each event, asking its producers for more only as children end, so that
//! `max_demand` bounds how many run at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etf::{Atom, Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};

use super::options::{ConsumerOptions, SubscribeOptions};
use super::{CallReturn, Demand, GenStage, Init, Return, Role, Subscription};
use crate::gen_server::{self, CallError, From, Name, ServerRef};
use crate::supervisor::{self, ChildCounts, Restart, Shutdown, StartFuture};

/// How a child is started for an event (the child spec's `start`, given the event as its last
/// argument), linked to the supervisor.
pub type EventStartFn<E> = Arc<dyn for<'a> Fn(&'a mut Context, E) -> StartFuture<'a> + Send + Sync>;

/// A ConsumerSupervisor's child template and options (`ConsumerSupervisor.init/2`): the
/// strategy is `:one_for_one`, the only one Elixir's allows.
pub struct ConsumerSupervisorOptions<E> {
    /// Starts a child for an event.
    pub start: EventStartFn<E>,
    /// `Transient` or `Temporary` (`Permanent` is refused, as Elixir refuses it: a child per
    /// event is expected to end).
    pub restart: Restart,
    /// How children are stopped when the supervisor stops (5 s, then `kill`, by default).
    pub shutdown: Shutdown,
    /// `max_restarts` (3).
    pub max_restarts: u32,
    /// `max_seconds` (5 s).
    pub max_seconds: Duration,
    /// `subscribe_to`.
    pub subscribe_to: Vec<(ServerRef, SubscribeOptions)>,
}

impl<E> Clone for ConsumerSupervisorOptions<E> {
    fn clone(&self) -> Self {
        ConsumerSupervisorOptions {
            start: self.start.clone(),
            restart: self.restart,
            shutdown: self.shutdown,
            max_restarts: self.max_restarts,
            max_seconds: self.max_seconds,
            subscribe_to: self.subscribe_to.clone(),
        }
    }
}

impl<E> ConsumerSupervisorOptions<E> {
    /// Children restarted by `restart`, started by `start`, and the default intensity.
    pub fn new(
        restart: Restart,
        start: impl for<'a> Fn(&'a mut Context, E) -> StartFuture<'a> + Send + Sync + 'static,
    ) -> ConsumerSupervisorOptions<E> {
        ConsumerSupervisorOptions {
            start: Arc::new(start),
            restart,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            max_restarts: 3,
            max_seconds: Duration::from_secs(5),
            subscribe_to: Vec::new(),
        }
    }

    /// The same, subscribing to `to` when it starts.
    pub fn subscribe_to(mut self, to: impl Into<ServerRef>, opts: SubscribeOptions) -> Self {
        self.subscribe_to.push((to.into(), opts));
        self
    }
}

/// The ConsumerSupervisor stage; `E` is its event type. Start it with
/// [`ConsumerSupervisor::start_link`] or as a supervisor's child with
/// [`ChildSpec::gen_stage`](crate::supervisor::ChildSpec::gen_stage).
pub struct ConsumerSupervisor<E>(std::marker::PhantomData<fn(E)>);

impl<E> Clone for ConsumerSupervisor<E> {
    fn clone(&self) -> Self {
        ConsumerSupervisor(std::marker::PhantomData)
    }
}

impl<E> Default for ConsumerSupervisor<E> {
    fn default() -> Self {
        ConsumerSupervisor(std::marker::PhantomData)
    }
}

impl<E: Clone + Send + 'static> ConsumerSupervisor<E> {
    /// `ConsumerSupervisor.start_link/3`.
    pub async fn start_link(
        ctx: &mut Context,
        opts: ConsumerSupervisorOptions<E>,
        name: Option<Name>,
    ) -> Result<Option<Pid>, ExitReason> {
        super::start_link(ctx, ConsumerSupervisor::default(), opts, name).await
    }

    /// `ConsumerSupervisor.count_children/1`.
    pub async fn count_children(
        ctx: &mut Context,
        supervisor: impl Into<ServerRef>,
    ) -> Result<ChildCounts, CallError> {
        gen_server::try_call(ctx, supervisor, CountChildren, gen_server::DEFAULT_TIMEOUT).await
    }

    /// `ConsumerSupervisor.start_child/2`: a child for `event`, outside any producer's demand.
    pub async fn start_child(
        ctx: &mut Context,
        supervisor: impl Into<ServerRef>,
        event: E,
    ) -> Result<Result<Option<Pid>, ExitReason>, CallError> {
        let request = StartChild(event);
        gen_server::try_call(ctx, supervisor, request, gen_server::DEFAULT_TIMEOUT).await
    }

    /// `ConsumerSupervisor.terminate_child/2`: stops a child as its shutdown says; `false` when
    /// it is not one of this supervisor's (`{:error, :not_found}`).
    pub async fn terminate_child(
        ctx: &mut Context,
        supervisor: impl Into<ServerRef>,
        child: Pid,
    ) -> Result<bool, CallError> {
        let request = TerminateChild(child);
        gen_server::try_call(ctx, supervisor, request, gen_server::DEFAULT_TIMEOUT).await
    }

    /// `ConsumerSupervisor.which_children/1`: the children's pids (`None` while one restarts).
    pub async fn which_children(
        ctx: &mut Context,
        supervisor: impl Into<ServerRef>,
    ) -> Result<Vec<Option<Pid>>, CallError> {
        gen_server::try_call(ctx, supervisor, WhichChildren, gen_server::DEFAULT_TIMEOUT).await
    }
}

struct CountChildren;
struct WhichChildren;
struct StartChild<E>(E);
struct TerminateChild(Pid);
/// A restart that failed, tried again (`{:"$gen_restart", pid}`).
struct RetryRestart(Pid);

struct Child<E> {
    /// The subscription the child's event came by; none for a child started with
    /// [`ConsumerSupervisor::start_child`] (`:dynamic`, outside any demand).
    producer: Option<Reference>,
    /// The event, to start the child again with (none for a temporary child).
    event: Option<E>,
    restarting: bool,
}

/// A producer's demand: `(subscription, running, ended and not asked for again, min, max)`.
struct Upstream {
    from: Subscription,
    count: usize,
    pending: usize,
    min: usize,
    max: usize,
}

/// The stage's state.
pub struct State<E> {
    opts: ConsumerSupervisorOptions<E>,
    name: Term,
    children: HashMap<Pid, Child<E>>,
    producers: HashMap<Reference, Upstream>,
    restarts: VecDeque<Instant>,
}

impl<E> State<E> {
    /// `maybe_ask/6`: `events` children started for the producer, `down` ended; once at least
    /// `min_demand` have ended, the producer is asked for as many.
    fn maybe_ask(&mut self, ctx: &Context, reference: &Reference, events: usize, down: usize) {
        let Some(p) = self.producers.get_mut(reference) else {
            return;
        };
        if p.count + events > p.max {
            tracing::error!(
                "ConsumerSupervisor has received {} events in excess from: {:?}",
                p.count + events - p.max,
                p.from.to
            );
        }
        let ask = p.pending + down;
        if ask >= p.min && ask > 0 {
            super::ask(ctx, &p.from, ask);
            p.pending = 0;
        } else {
            p.pending = ask;
        }
        p.count = (p.count + events).saturating_sub(down);
    }

    fn delete_and_ask(&mut self, ctx: &Context, pid: &Pid) {
        if let Some(Child {
            producer: Some(producer),
            ..
        }) = self.children.remove(pid)
        {
            self.maybe_ask(ctx, &producer, 0, 1);
        }
    }

    fn report(&self, context: &str, reason: &ExitReason, pid: &Pid) {
        supervisor::report(&self.name, context, reason, &Atom::from("undefined"), pid);
    }
}

impl<E: Clone + Send + 'static> GenStage for ConsumerSupervisor<E> {
    type Args = ConsumerSupervisorOptions<E>;
    type State = State<E>;
    type In = E;
    type Out = ();

    async fn init(&self, opts: Self::Args, ctx: &mut Context) -> Init<State<E>, ()> {
        if opts.restart == Restart::Permanent {
            return Init::Stop(super::stage::bad_opts(
                "a child specification with :restart set to :permanent is not supported in ConsumerSupervisor",
            ));
        }
        ctx.trap_exit(true);
        let subscribe_to = opts.subscribe_to.clone();
        let state = State {
            opts,
            name: Term::Pid(ctx.pid().clone()),
            children: HashMap::new(),
            producers: HashMap::new(),
            restarts: VecDeque::new(),
        };
        Init::Consumer(state, ConsumerOptions { subscribe_to })
    }

    async fn handle_subscribe(
        &self,
        role: Role,
        opts: &SubscribeOptions,
        from: &Subscription,
        state: &mut State<E>,
        ctx: &mut Context,
    ) -> Demand {
        if role == Role::Producer {
            let max = opts.max_demand;
            let min = opts.min_demand.unwrap_or(max / 2);
            super::ask(ctx, from, max);
            state.producers.insert(
                from.reference.clone(),
                Upstream {
                    from: from.clone(),
                    count: 0,
                    pending: 0,
                    min,
                    max,
                },
            );
        }
        Demand::Manual
    }

    async fn handle_cancel(
        &self,
        _reason: super::CancelReason,
        from: &Subscription,
        state: &mut State<E>,
        _ctx: &mut Context,
    ) -> Return<()> {
        state.producers.remove(&from.reference);
        Return::NoReply(Vec::new())
    }

    async fn handle_events(
        &self,
        events: Vec<E>,
        from: &Subscription,
        state: &mut State<E>,
        ctx: &mut Context,
    ) -> Return<()> {
        let (mut started, mut errors) = (0, 0);
        let keep = state.opts.restart != Restart::Temporary;
        for event in events {
            let kept = keep.then(|| event.clone());
            match (state.opts.start)(ctx, event).await {
                Ok(Some(pid)) => {
                    started += 1;
                    let child = Child {
                        producer: Some(from.reference.clone()),
                        event: kept,
                        restarting: false,
                    };
                    state.children.insert(pid, child);
                }
                Ok(None) => errors += 1,
                Err(reason) => {
                    tracing::error!(
                        "ConsumerSupervisor failed to start child from: {:?} with reason: {}",
                        from.to,
                        etf::text::write_limited(&reason.to_term(), 200)
                    );
                    errors += 1;
                }
            }
        }
        state.maybe_ask(ctx, &from.reference, started + errors, errors);
        Return::NoReply(Vec::new())
    }

    async fn handle_call(
        &self,
        request: Message,
        from: &From,
        state: &mut State<E>,
        ctx: &mut Context,
    ) -> CallReturn<()> {
        let request = match request.downcast::<StartChild<E>>() {
            Ok(StartChild(event)) => {
                let kept = (state.opts.restart != Restart::Temporary).then(|| event.clone());
                let started = (state.opts.start)(ctx, event).await;
                if let Ok(Some(pid)) = &started {
                    let child = Child {
                        producer: None,
                        event: kept,
                        restarting: false,
                    };
                    state.children.insert(pid.clone(), child);
                }
                return CallReturn::reply(started, Vec::new());
            }
            Err(request) => request,
        };
        let request = match request.downcast::<TerminateChild>() {
            Ok(TerminateChild(pid)) => {
                if !state.children.contains_key(&pid) {
                    return CallReturn::reply(false, Vec::new());
                }
                supervisor::shutdown(ctx, &pid, state.opts.shutdown).await;
                state.delete_and_ask(ctx, &pid);
                return CallReturn::reply(true, Vec::new());
            }
            Err(request) => request,
        };
        let restarting = state.children.values().filter(|c| c.restarting).count();
        let counts = ChildCounts {
            specs: 1,
            active: state.children.len() - restarting,
            supervisors: 0,
            workers: state.children.len(),
        };
        if request.downcast_ref::<CountChildren>().is_some() {
            return CallReturn::reply(counts, Vec::new());
        }
        if request.downcast_ref::<WhichChildren>().is_some() {
            let pids: Vec<Option<Pid>> = state
                .children
                .iter()
                .map(|(pid, c)| (!c.restarting).then(|| pid.clone()))
                .collect();
            return CallReturn::reply(pids, Vec::new());
        }
        // `supervisor:count_children/1` from erl: a proplist.
        if request.as_term().and_then(Term::as_atom) == Some("count_children") {
            let pair =
                |k: &str, v: usize| Term::Tuple(vec![Term::atom(k), Term::Integer(v as i64)]);
            let reply = Term::List(vec![
                pair("specs", counts.specs),
                pair("active", counts.active),
                pair("supervisors", counts.supervisors),
                pair("workers", counts.workers),
            ]);
            return CallReturn::reply(reply, Vec::new());
        }
        tracing::error!(
            "ConsumerSupervisor received an unexpected call from {:?}",
            from.pid()
        );
        CallReturn::NoReply(Vec::new())
    }

    async fn handle_info(
        &self,
        message: Message,
        state: &mut State<E>,
        ctx: &mut Context,
    ) -> Return<()> {
        if let Some(RetryRestart(pid)) = message.downcast_ref::<RetryRestart>() {
            let pid = pid.clone();
            return restart_within_intensity(state, ctx, pid).await;
        }
        let Some((pid, reason)) = message.as_exit() else {
            tracing::error!("ConsumerSupervisor received unexpected message");
            return Return::NoReply(Vec::new());
        };
        if !state.children.contains_key(&pid) {
            return Return::NoReply(Vec::new());
        }
        match state.opts.restart {
            Restart::Transient if reason.is_normal_or_shutdown() => state.delete_and_ask(ctx, &pid),
            Restart::Temporary => {
                if !reason.is_normal_or_shutdown() {
                    state.report("child_terminated", &reason, &pid);
                }
                state.delete_and_ask(ctx, &pid);
            }
            _ => {
                state.report("child_terminated", &reason, &pid);
                return restart_within_intensity(state, ctx, pid).await;
            }
        }
        Return::NoReply(Vec::new())
    }

    async fn terminate(&self, _reason: &ExitReason, state: &mut State<E>, ctx: &mut Context) {
        // All children are told at once, then waited for (`terminate_children/2`).
        let mut monitors = HashMap::new();
        for pid in state.children.keys() {
            let monitor = ctx.monitor(pid);
            ctx.unlink(pid);
            let how = match state.opts.shutdown {
                Shutdown::BrutalKill => ExitReason::Kill,
                _ => ExitReason::Shutdown,
            };
            ctx.exit(pid, how);
            monitors.insert(monitor, pid.clone());
        }
        let deadline = match state.opts.shutdown {
            Shutdown::Timeout(t) => Some(tokio::time::Instant::now() + t),
            _ => None,
        };
        while !monitors.is_empty() {
            let wait = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
            let down = |m: &Message| {
                m.as_down()
                    .is_some_and(|(r, _, _)| monitors.contains_key(&r))
            };
            let got = match wait {
                Some(w) => ctx.receive_timeout(w, down).await,
                None => Some(ctx.receive(down).await),
            };
            match got.and_then(|m| m.as_down()) {
                Some((r, _, _)) => {
                    monitors.remove(&r);
                }
                None => {
                    for pid in monitors.values() {
                        ctx.exit(pid, ExitReason::Kill);
                    }
                    while !monitors.is_empty() {
                        let m = ctx
                            .receive(|m: &Message| {
                                m.as_down()
                                    .is_some_and(|(r, _, _)| monitors.contains_key(&r))
                            })
                            .await;
                        if let Some((r, _, _)) = m.as_down() {
                            monitors.remove(&r);
                        }
                    }
                }
            }
        }
        state.children.clear();
    }
}

/// `restart_child/5`: a restart counts against the intensity; past it, the supervisor stops
/// with `shutdown`.
async fn restart_within_intensity<E: Clone + Send + 'static>(
    state: &mut State<E>,
    ctx: &mut Context,
    pid: Pid,
) -> Return<()> {
    let flags = supervisor::Flags {
        strategy: supervisor::Strategy::OneForOne,
        max_restarts: state.opts.max_restarts,
        max_seconds: state.opts.max_seconds,
    };
    if !supervisor::allow_restart(&mut state.restarts, &flags) {
        let reason = ExitReason::atom("reached_max_restart_intensity");
        state.report("shutdown", &reason, &pid);
        state.delete_and_ask(ctx, &pid);
        return Return::Stop(ExitReason::Shutdown);
    }
    restart_child(state, ctx, pid).await
}

/// `restart_child/6` (`:one_for_one`): the child again, with its event; a start that fails is
/// tried again later.
async fn restart_child<E: Clone + Send + 'static>(
    state: &mut State<E>,
    ctx: &mut Context,
    pid: Pid,
) -> Return<()> {
    let Some(child) = state.children.get(&pid) else {
        return Return::NoReply(Vec::new());
    };
    let Some(event) = child.event.clone() else {
        state.delete_and_ask(ctx, &pid);
        return Return::NoReply(Vec::new());
    };
    match (state.opts.start)(ctx, event).await {
        Ok(Some(new)) => {
            if let Some(mut child) = state.children.remove(&pid) {
                child.restarting = false;
                state.children.insert(new, child);
            }
        }
        Ok(None) => state.delete_and_ask(ctx, &pid),
        Err(reason) => {
            state.report("start_error", &reason, &pid);
            if let Some(child) = state.children.get_mut(&pid) {
                child.restarting = true;
            }
            ctx.send(ctx.pid(), Message::local(RetryRestart(pid)));
        }
    }
    Return::NoReply(Vec::new())
}
