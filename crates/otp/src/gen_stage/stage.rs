//! The stage process: a producer's consumers, demand and buffer, or a consumer's producers and
//! their demand, around the behaviour's callbacks (`lib/gen_stage.ex`'s `handle_info/2`
//! clauses for `'$gen_producer'` and `'$gen_consumer'`, `producer_subscribe`, `producer_cancel`,
//! `consumer_subscribe`, `consumer_receive`, `consumer_cancel`).

use std::collections::{HashMap, VecDeque};

use etf::{Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};
use tokio::sync::oneshot;

use super::demand::{split_batches, DemandDispatcher};
use super::protocol::{self, LocalEvents, ToConsumer, ToProducer};
use super::{
    BufferKeep, CancelMode, CancelReason, Demand, GenStage, Init, ProducerOptions, Return, Role,
    SubscribeError, SubscribeOptions, Subscription,
};
use crate::gen_server::{Name, ServerRef};

/// A local request to a stage.
pub(crate) enum Request {
    /// `sync_subscribe` / `async_subscribe`.
    Subscribe {
        to: ServerRef,
        opts: SubscribeOptions,
        done: Option<oneshot::Sender<Result<Reference, SubscribeError>>>,
    },
}

/// Sends a protocol message to a stage: a pid, a local name, or `{Name, Node}`.
pub(crate) fn send_to(ctx: &Context, to: &ServerRef, term: Term) {
    match to {
        ServerRef::Remote(name, node) => {
            let _ = ctx.send_to_name(name, node, Message::Term(term));
        }
        other => {
            if let Some(pid) = other.resolve(ctx) {
                ctx.send(&pid, Message::Term(term));
            }
        }
    }
}

/// `GenStage.start_link/3`: starts a stage linked to the caller and waits for its `init`.
/// `Ok(Some(pid))`, `Ok(None)` for `ignore`, or why it stopped.
pub async fn start_link<G: GenStage>(
    ctx: &mut Context,
    stage: G,
    args: G::Args,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    let (ack, started) = oneshot::channel();
    let parent = ctx.pid().clone();
    let pid = ctx.spawn_link(move |c| run(stage, args, name, parent, c, ack));
    match started.await {
        Ok(Ok(true)) => Ok(Some(pid)),
        Ok(Ok(false)) => Ok(None),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(ExitReason::atom("init_failed")),
    }
}

struct Producer<E> {
    options: ProducerOptions,
    /// Subscriptions by reference: the consumer and our monitor of it.
    consumers: HashMap<Reference, (Pid, Reference)>,
    /// Our monitors of consumers, to their subscription.
    monitors: HashMap<Reference, Reference>,
    dispatcher: DemandDispatcher,
    buffer: VecDeque<E>,
}

/// A consumer's subscription: the producer, the cancel mode, and its demand (`None`: manual).
struct Upstream {
    to: ServerRef,
    cancel: CancelMode,
    demand: Option<(usize, usize, usize)>,
}

enum Side<E> {
    Producer(Producer<E>),
    Consumer(HashMap<Reference, Upstream>),
}

struct Stage<G: GenStage> {
    stage: G,
    state: G::State,
    side: Side<G::Event>,
}

async fn run<G: GenStage>(
    stage: G,
    args: G::Args,
    name: Option<Name>,
    parent: Pid,
    mut ctx: Context,
    ack: oneshot::Sender<Result<bool, ExitReason>>,
) -> ExitReason {
    ctx.set_behaviour("gen_stage", std::any::type_name::<G>());
    if let Some(name) = &name {
        let taken = match name {
            Name::Local(atom) => ctx
                .register(atom.clone())
                .err()
                .map(|_| ctx.runtime().whereis(atom)),
            Name::Via(registry, key) => registry.register_name(&mut ctx, key).await.err(),
        };
        if let Some(owner) = taken {
            let owner = owner.map_or(Term::atom("undefined"), Term::Pid);
            let reason = ExitReason::Other(Term::Tuple(vec![Term::atom("already_started"), owner]));
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
    }
    let (state, side, subscribe_to) = match stage.init(args, &mut ctx).await {
        Init::Producer(state, options) => (
            state,
            Side::Producer(Producer {
                options,
                consumers: HashMap::new(),
                monitors: HashMap::new(),
                dispatcher: DemandDispatcher::default(),
                buffer: VecDeque::new(),
            }),
            Vec::new(),
        ),
        Init::Consumer(state, options) => {
            (state, Side::Consumer(HashMap::new()), options.subscribe_to)
        }
        Init::Stop(reason) => {
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
        Init::Ignore => {
            let _ = ack.send(Ok(false));
            return ExitReason::Normal;
        }
    };
    let mut s = Stage { stage, state, side };
    for (to, opts) in subscribe_to {
        // A refused subscription (bad options) is logged and the stage starts without it, as
        // `consumer_init_subscribe/2` does; a producer that is not alive stops it.
        if let Err(Ok(reason)) = s.subscribe(&mut ctx, to, opts).await {
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
    }
    let _ = ack.send(Ok(true));
    loop {
        let message = ctx.recv().await;
        let step = s.message(&mut ctx, message, Some(&parent)).await;
        if let Err(reason) = step {
            s.stage.terminate(&reason, &mut s.state, &mut ctx).await;
            return reason;
        }
    }
}

type Step = Result<(), ExitReason>;

impl<G: GenStage> Stage<G> {
    async fn message(&mut self, ctx: &mut Context, message: Message, parent: Option<&Pid>) -> Step {
        if let Some((from, reason)) = message.as_exit() {
            if Some(&from) == parent {
                return Err(reason);
            }
        }
        let message = match message.downcast::<Request>() {
            Ok(Request::Subscribe { to, opts, done }) => {
                let result = self.subscribe(ctx, to, opts).await;
                let (answer, step) = match result {
                    Ok(reference) => (Ok(reference), Ok(())),
                    Err(Err(e)) => (Err(e), Ok(())),
                    Err(Ok(stop)) => (Err(SubscribeError::NoAnswer), Err(stop)),
                };
                if let Some(done) = done {
                    let _ = done.send(answer);
                }
                return step;
            }
            Err(m) => m,
        };
        if let Some((reference, _, reason)) = message.as_down_object() {
            return self.down(ctx, &reference, reason.to_term()).await;
        }
        let message = match message.downcast::<LocalEvents>() {
            Ok(local) => {
                let events = match local.events.downcast::<Vec<G::Event>>() {
                    Ok(events) => *events,
                    Err(_) => {
                        tracing::error!(
                            "GenStage consumer {:?} received events of another type from {:?}",
                            ctx.pid(),
                            local.producer
                        );
                        Vec::new()
                    }
                };
                return self
                    .events(ctx, local.producer, local.reference, events)
                    .await;
            }
            Err(m) => m,
        };
        if let Some(term) = message.as_term() {
            if let Some((pid, reference, m)) = protocol::read_to_producer(term) {
                return self.for_producer(ctx, pid, reference, m).await;
            }
            if let Some((pid, reference, m)) = protocol::read_to_consumer(term) {
                return match m {
                    ToConsumer::Events(events) => {
                        let events = events
                            .iter()
                            .filter_map(|e| {
                                let event = G::event_from_term(e.clone());
                                if event.is_none() {
                                    tracing::error!(
                                        "GenStage consumer {:?} cannot take event {} from {pid:?}",
                                        ctx.pid(),
                                        etf::text::write_limited(e, 200)
                                    );
                                }
                                event
                            })
                            .collect();
                        self.events(ctx, pid, reference, events).await
                    }
                    ToConsumer::Cancel(reason) => {
                        self.consumer_cancel(ctx, &reference, CancelReason::Cancel(reason.clone()))
                            .await
                    }
                };
            }
        }
        let r = self.stage.handle_info(message, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }

    /// What a callback returned: events to dispatch, or stop.
    async fn returned(&mut self, ctx: &mut Context, r: Return<G::Event>) -> Step {
        match r {
            Return::NoReply(events) => {
                self.dispatch(ctx, events);
                Ok(())
            }
            Return::Stop(reason) => Err(reason),
        }
    }

    // ---- producer ----

    async fn for_producer(
        &mut self,
        ctx: &mut Context,
        consumer: Pid,
        reference: Reference,
        m: ToProducer<'_>,
    ) -> Step {
        let Side::Producer(p) = &mut self.side else {
            tracing::error!(
                "GenStage consumer {:?} received $gen_producer message",
                ctx.pid()
            );
            return Ok(());
        };
        match m {
            ToProducer::Subscribe { current } => {
                if let Term::Tuple(c) = current {
                    if let [Term::Reference(old), reason] = c.as_slice() {
                        let (old, reason) = (old.clone(), reason.clone());
                        self.producer_cancel(ctx, &old, CancelReason::Cancel(reason))
                            .await?;
                    }
                }
                let Side::Producer(p) = &mut self.side else {
                    return Ok(());
                };
                if p.consumers.contains_key(&reference) {
                    tracing::error!(
                        "GenStage producer {:?} received duplicated subscription from: {consumer:?}",
                        ctx.pid()
                    );
                    let cancel = protocol::to_consumer(
                        ctx.pid(),
                        &reference,
                        protocol::cancel(Term::atom("duplicated_subscription")),
                    );
                    ctx.send(&consumer, Message::Term(cancel));
                    return Ok(());
                }
                let monitor = ctx.monitor(&consumer);
                p.monitors.insert(monitor.clone(), reference.clone());
                p.consumers
                    .insert(reference.clone(), (consumer.clone(), monitor));
                let from = Subscription {
                    to: ServerRef::Pid(consumer.clone()),
                    reference: reference.clone(),
                };
                let _ = self
                    .stage
                    .handle_subscribe(Role::Consumer, &from, &mut self.state, ctx)
                    .await;
                if let Side::Producer(p) = &mut self.side {
                    p.dispatcher.subscribe(consumer, reference);
                }
                Ok(())
            }
            ToProducer::Ask(counter) => {
                if !p.consumers.contains_key(&reference) {
                    let cancel = protocol::to_consumer(
                        ctx.pid(),
                        &reference,
                        protocol::cancel(Term::atom("unknown_subscription")),
                    );
                    ctx.send(&consumer, Message::Term(cancel));
                    return Ok(());
                }
                let counter = usize::try_from(counter).unwrap_or(0);
                let demand = p.dispatcher.ask(counter, &consumer, &reference);
                self.take_from_buffer_or_handle_demand(ctx, demand).await
            }
            ToProducer::Cancel(reason) => {
                self.producer_cancel(ctx, &reference, CancelReason::Cancel(reason.clone()))
                    .await
            }
        }
    }

    async fn take_from_buffer_or_handle_demand(
        &mut self,
        ctx: &mut Context,
        mut demand: usize,
    ) -> Step {
        if let Side::Producer(p) = &mut self.side {
            let n = demand.min(p.buffer.len());
            if n > 0 {
                let events: Vec<G::Event> = p.buffer.drain(..n).collect();
                demand -= n;
                self.dispatch(ctx, events);
            }
        }
        if demand == 0 {
            return Ok(());
        }
        let r = self.stage.handle_demand(demand, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }

    /// Sends events to the consumers that asked, and buffers the rest.
    fn dispatch(&mut self, ctx: &Context, events: Vec<G::Event>) {
        if events.is_empty() {
            return;
        }
        let Side::Producer(p) = &mut self.side else {
            tracing::error!(
                "GenStage consumer {:?} cannot dispatch events (an empty list must be returned)",
                ctx.pid()
            );
            return;
        };
        let (sends, rest) = p.dispatcher.dispatch(events);
        for (pid, reference, events) in sends {
            if pid.node == *ctx.runtime().node() {
                let local = LocalEvents {
                    producer: ctx.pid().clone(),
                    reference,
                    events: Box::new(events),
                };
                ctx.send(&pid, Message::local(local));
            } else {
                let terms: Vec<Term> = events.into_iter().filter_map(G::event_to_term).collect();
                let message = protocol::to_consumer(ctx.pid(), &reference, Term::List(terms));
                ctx.send(&pid, Message::Term(message));
            }
        }
        let mut excess = 0;
        for event in rest {
            match (p.options.buffer_size, p.options.buffer_keep) {
                (Some(0), _) => excess += 1,
                (Some(max), BufferKeep::First) if p.buffer.len() >= max => excess += 1,
                (Some(max), BufferKeep::Last) if p.buffer.len() >= max => {
                    p.buffer.pop_front();
                    p.buffer.push_back(event);
                    excess += 1;
                }
                _ => p.buffer.push_back(event),
            }
        }
        if excess > 0 {
            tracing::warn!(
                "GenStage producer {:?} has discarded {excess} events from buffer",
                ctx.pid()
            );
        }
    }

    /// `producer_cancel/4`.
    async fn producer_cancel(
        &mut self,
        ctx: &mut Context,
        reference: &Reference,
        reason: CancelReason,
    ) -> Step {
        let Side::Producer(p) = &mut self.side else {
            return Ok(());
        };
        let Some((pid, monitor)) = p.consumers.remove(reference) else {
            return Ok(());
        };
        p.monitors.remove(&monitor);
        ctx.demonitor(&monitor, true);
        let why = match &reason {
            CancelReason::Cancel(r) | CancelReason::Down(r) => r.clone(),
        };
        let cancel = protocol::to_consumer(ctx.pid(), reference, protocol::cancel(why));
        ctx.send(&pid, Message::Term(cancel));
        let from = Subscription {
            to: ServerRef::Pid(pid),
            reference: reference.clone(),
        };
        let r = self
            .stage
            .handle_cancel(reason, &from, &mut self.state, ctx)
            .await;
        if let Side::Producer(p) = &mut self.side {
            p.dispatcher.cancel(reference);
        }
        self.returned(ctx, r).await
    }

    async fn down(&mut self, ctx: &mut Context, monitor: &Reference, reason: Term) -> Step {
        enum Whose {
            Producer,
            Consumer(Reference),
            Nobody,
        }
        let whose = match &self.side {
            Side::Consumer(producers) if producers.contains_key(monitor) => Whose::Producer,
            Side::Producer(p) => p
                .monitors
                .get(monitor)
                .cloned()
                .map_or(Whose::Nobody, Whose::Consumer),
            _ => Whose::Nobody,
        };
        match whose {
            Whose::Producer => {
                self.consumer_cancel(ctx, monitor, CancelReason::Down(reason))
                    .await
            }
            Whose::Consumer(reference) => {
                self.producer_cancel(ctx, &reference, CancelReason::Down(reason))
                    .await
            }
            Whose::Nobody => {
                let down = Message::down(
                    monitor,
                    Term::atom("undefined"),
                    &ExitReason::from_term(&reason),
                );
                let r = self.stage.handle_info(down, &mut self.state, ctx).await;
                self.returned(ctx, r).await
            }
        }
    }

    // ---- consumer ----

    /// `consumer_subscribe/4`: `Ok(reference)`, `Err(Err(e))` for a refused subscription, or
    /// `Err(Ok(reason))` when the consumer must stop (a permanent or transient subscription to
    /// a stage that is not alive).
    async fn subscribe(
        &mut self,
        ctx: &mut Context,
        to: ServerRef,
        opts: SubscribeOptions,
    ) -> Result<Reference, Result<ExitReason, SubscribeError>> {
        if matches!(self.side, Side::Producer(_)) {
            tracing::error!(
                "GenStage producer {:?} cannot be subscribed to another stage: {to:?}",
                ctx.pid()
            );
            return Err(Err(SubscribeError::NotAConsumer));
        }
        let (max, min) = opts.validate().map_err(|message| {
            tracing::error!(
                "GenStage consumer {:?} subscribe received invalid option: {message}",
                ctx.pid()
            );
            Err(SubscribeError::BadOpts(message))
        })?;
        let reference = match &to {
            ServerRef::Remote(name, node) if node != ctx.runtime().node() => {
                ctx.monitor_name(name, node)
            }
            other => match other.resolve(ctx) {
                Some(pid) => ctx.monitor(&pid),
                None => {
                    if opts.cancel == CancelMode::Temporary {
                        return Ok(ctx.make_ref());
                    }
                    tracing::error!(
                        "GenStage consumer {} was not able to subscribe to the process {} because that process is not alive",
                        std::any::type_name::<G>(),
                        etf::text::write_limited(&other.to_term(), 200)
                    );
                    return Err(Ok(ExitReason::NoProc));
                }
            },
        };
        let to = match to {
            ServerRef::Remote(name, node) if node != *ctx.runtime().node() => {
                ServerRef::Remote(name, node)
            }
            other => other.resolve(ctx).map_or(other, ServerRef::Pid),
        };
        send_to(
            ctx,
            &to,
            protocol::to_producer(ctx.pid(), &reference, protocol::subscribe(opts.to_term())),
        );
        let from = Subscription {
            to: to.clone(),
            reference: reference.clone(),
        };
        let demand = self
            .stage
            .handle_subscribe(Role::Producer, &from, &mut self.state, ctx)
            .await;
        let demand = match demand {
            Demand::Automatic => {
                send_to(
                    ctx,
                    &to,
                    protocol::to_producer(ctx.pid(), &reference, protocol::ask(max)),
                );
                Some((max, min, max))
            }
            Demand::Manual => None,
        };
        if let Side::Consumer(producers) = &mut self.side {
            producers.insert(
                reference.clone(),
                Upstream {
                    to,
                    cancel: opts.cancel,
                    demand,
                },
            );
        }
        Ok(reference)
    }

    /// Events from a producer (`consumer_receive` and `consumer_dispatch`).
    async fn events(
        &mut self,
        ctx: &mut Context,
        producer: Pid,
        reference: Reference,
        events: Vec<G::Event>,
    ) -> Step {
        let Side::Consumer(producers) = &mut self.side else {
            tracing::error!(
                "GenStage producer {:?} received $gen_consumer message",
                ctx.pid()
            );
            return Ok(());
        };
        let Some(upstream) = producers.get_mut(&reference) else {
            let cancel = protocol::to_producer(
                ctx.pid(),
                &reference,
                protocol::cancel(Term::atom("unknown_subscription")),
            );
            ctx.send(&producer, Message::Term(cancel));
            return Ok(());
        };
        // The producer's first message gives its pid (for a subscription to `{Name, Node}`).
        upstream.to = ServerRef::Pid(producer.clone());
        let from = Subscription {
            to: upstream.to.clone(),
            reference: reference.clone(),
        };
        let batches = match upstream.demand {
            Some((demand, min, max)) => {
                let (batches, demand, excess) = split_batches(events, min, max, demand);
                upstream.demand = Some((demand, min, max));
                if excess > 0 {
                    tracing::error!(
                        "GenStage consumer {:?} has received {excess} events in excess from: {producer:?}",
                        ctx.pid()
                    );
                }
                batches
            }
            None => vec![(events, 0)],
        };
        for (batch, ask) in batches {
            match self
                .stage
                .handle_events(batch, &from, &mut self.state, ctx)
                .await
            {
                Return::NoReply(out) => self.dispatch(ctx, out),
                Return::Stop(reason) => return Err(reason),
            }
            if ask > 0 {
                super::ask(ctx, &from, ask);
            }
        }
        Ok(())
    }

    /// `consumer_cancel/4` and `invoke_cancel/4`.
    async fn consumer_cancel(
        &mut self,
        ctx: &mut Context,
        reference: &Reference,
        reason: CancelReason,
    ) -> Step {
        let Side::Consumer(producers) = &mut self.side else {
            return Ok(());
        };
        let Some(upstream) = producers.remove(reference) else {
            return Ok(());
        };
        ctx.demonitor(reference, true);
        let from = Subscription {
            to: upstream.to.clone(),
            reference: reference.clone(),
        };
        let why = match &reason {
            CancelReason::Cancel(r) | CancelReason::Down(r) => r.clone(),
        };
        match self
            .stage
            .handle_cancel(reason, &from, &mut self.state, ctx)
            .await
        {
            Return::Stop(reason) => return Err(reason),
            Return::NoReply(out) => self.dispatch(ctx, out),
        }
        let stop = match upstream.cancel {
            CancelMode::Permanent => true,
            CancelMode::Transient => !is_transient_shutdown(&why),
            CancelMode::Temporary => false,
        };
        if stop && why.as_atom() != Some("already_subscribed") {
            tracing::info!(
                "GenStage consumer {:?} is stopping after receiving cancel from producer {:?} with reason: {}",
                ctx.pid(),
                upstream.to,
                etf::text::write_limited(&why, 200)
            );
            return Err(ExitReason::from_term(&why));
        }
        Ok(())
    }
}

/// `normal`, `shutdown` or `{shutdown, _}`.
fn is_transient_shutdown(reason: &Term) -> bool {
    match reason {
        Term::Atom(a) => matches!(a.as_str(), "normal" | "shutdown"),
        Term::Tuple(v) => v.len() == 2 && v[0].as_atom() == Some("shutdown"),
        _ => false,
    }
}
