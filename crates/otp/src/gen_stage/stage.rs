//! The stage process: what it is (producer, producer_consumer or consumer), its start, and the
//! routing of its messages (`lib/gen_stage.ex`'s `init/1` and `handle_info/2` clauses for
//! `'$gen_producer'` and `'$gen_consumer'`). The producer side is `producer.rs`, the consumer
//! side `consumer.rs`.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

use etf::{Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};
use tokio::sync::oneshot;

use super::dispatcher::Dispatcher;
use super::downstream::Consumers;
use super::figures::{self, StageKind};
use super::options::{BufferKeep, CancelMode, DemandMode, ProducerOptions, SubscribeOptions};
use super::protocol::{self, LocalAsk, LocalEvents, LocalSubscribe, ToConsumer, ToProducer};
use super::{CancelReason, GenStage, Init, Return, SubscribeError};
use crate::gen_server::{self, CallEnvelope, CastEnvelope, Name, ServerRef, StopEnvelope};

/// A local request to a stage.
pub(crate) enum Request {
    /// `sync_subscribe` / `async_subscribe`.
    Subscribe {
        /// A subscription to cancel first (a resubscription).
        current: Option<(Reference, Term)>,
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
    start_link_with(ctx, stage, args, name, Vec::new()).await
}

/// [`start_link`], the stage subscribing to `also` after what its `init` subscribes to (a
/// pipeline's wiring).
pub(crate) async fn start_link_with<G: GenStage>(
    ctx: &mut Context,
    stage: G,
    args: G::Args,
    name: Option<Name>,
    also: Vec<(ServerRef, SubscribeOptions)>,
) -> Result<Option<Pid>, ExitReason> {
    let (ack, started) = oneshot::channel();
    let parent = ctx.pid().clone();
    let pid = ctx.spawn_link(move |c| run(stage, args, name, also, parent, c, ack));
    match started.await {
        Ok(Ok(true)) => Ok(Some(pid)),
        Ok(Ok(false)) => Ok(None),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(ExitReason::atom("init_failed")),
    }
}

/// A producer's side: its subscriptions, their demand, and the buffer.
pub(super) struct Producer<E> {
    pub(super) buffer_size: Option<usize>,
    pub(super) buffer_keep: BufferKeep,
    /// Its subscriptions.
    pub(super) consumers: Consumers,
    pub(super) dispatcher: Box<dyn Dispatcher<E>>,
    pub(super) buffer: VecDeque<E>,
    /// `demand: :accumulate`: demand and dispatches kept, in order, until `:forward`.
    pub(super) accumulated: Option<Vec<Accumulated<E>>>,
}

/// What an accumulating producer keeps (`{:demand, n}` and `{:dispatch, events, length}`).
pub(super) enum Accumulated<E> {
    Demand(usize),
    Dispatch(Vec<E>),
}

impl<E> Producer<E> {
    fn new(options: ProducerOptions<E>) -> Producer<E> {
        Producer {
            buffer_size: options.buffer_size,
            buffer_keep: options.buffer_keep,
            consumers: Consumers::default(),
            dispatcher: options.dispatcher,
            buffer: VecDeque::new(),
            accumulated: (options.demand == DemandMode::Accumulate).then(Vec::new),
        }
    }
}

/// A consumer's subscription: the producer, the cancel mode, and its demand (`None`: manual).
pub(super) struct Upstream {
    pub(super) to: ServerRef,
    pub(super) cancel: CancelMode,
    pub(super) demand: Option<(usize, usize, usize)>,
}

/// What waits in a producer_consumer until downstream asks: events from a producer, or the
/// cancellation of a subscription that came behind them.
pub(super) enum Queued<E> {
    Events(Pid, Reference, Vec<E>),
    Cancel(Reference, Upstream, CancelReason),
}

/// A producer_consumer's queue and the downstream demand not met yet.
pub(super) struct Pc<E> {
    pub(super) queue: VecDeque<Queued<E>>,
    pub(super) demand: usize,
}

pub(super) struct Stage<G: GenStage> {
    pub(super) stage: G,
    pub(super) state: G::State,
    /// A producer's (or producer_consumer's) side.
    pub(super) producer: Option<Producer<G::Out>>,
    /// A consumer's (or producer_consumer's) side: its subscriptions.
    pub(super) upstream: Option<HashMap<Reference, Upstream>>,
    pub(super) pc: Option<Pc<G::In>>,
}

pub(super) type Step = Result<(), ExitReason>;

async fn run<G: GenStage>(
    stage: G,
    args: G::Args,
    name: Option<Name>,
    also: Vec<(ServerRef, SubscribeOptions)>,
    parent: Pid,
    mut ctx: Context,
    ack: oneshot::Sender<Result<bool, ExitReason>>,
) -> ExitReason {
    ctx.set_behaviour("gen_stage", std::any::type_name::<G>());
    if let Some(name) = &name {
        if let Err(reason) = name.register(&mut ctx).await {
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
    }
    let (state, producer, upstream, pc, subscribe_to) = match stage.init(args, &mut ctx).await {
        Init::Producer(state, options) => {
            (state, Some(Producer::new(options)), None, None, Vec::new())
        }
        Init::ProducerConsumer(_, options, _) if options.demand == DemandMode::Accumulate => {
            // `:demand` is a producer's option only (`init_producer_consumer/3`).
            let reason = bad_opts("unknown options [demand: :accumulate]");
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
        Init::ProducerConsumer(state, options, consumer) => (
            state,
            Some(Producer::new(options)),
            Some(HashMap::default()),
            Some(Pc {
                queue: VecDeque::new(),
                demand: 0,
            }),
            consumer.subscribe_to,
        ),
        Init::Consumer(state, options) => (
            state,
            None,
            Some(HashMap::default()),
            None,
            options.subscribe_to,
        ),
        Init::Stop(reason) => {
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
        Init::Ignore => {
            let _ = ack.send(Ok(false));
            return ExitReason::Normal;
        }
    };
    let mut s = Stage {
        stage,
        state,
        producer,
        upstream,
        pc,
    };
    for (to, opts) in subscribe_to.into_iter().chain(also) {
        // A refused subscription (bad options) is logged and the stage starts without it, as
        // `consumer_init_subscribe/2` does; a producer that is not alive stops it.
        if let Err(Ok(reason)) = s.subscribe(&mut ctx, None, to, opts).await {
            let _ = ack.send(Err(reason.clone()));
            return reason;
        }
    }
    let _ = ack.send(Ok(true));
    let kind = match (&s.producer, &s.upstream) {
        (Some(_), Some(_)) => StageKind::ProducerConsumer,
        (Some(_), None) => StageKind::Producer,
        _ => StageKind::Consumer,
    };
    let gauge = figures::register(ctx.pid().clone(), kind);
    s.publish(&gauge);
    loop {
        let message = ctx.recv().await;
        let step = s.message(&mut ctx, message, &parent).await;
        s.publish(&gauge);
        if let Err(reason) = step {
            s.stage.terminate(&reason, &mut s.state, &mut ctx).await;
            return reason;
        }
    }
}

impl<G: GenStage> Stage<G> {
    /// Sets the window's figures (`figures`) from the stage as it is now.
    fn publish(&self, gauge: &figures::Gauge) {
        let (mut buffered, demand, consumers) = self.producer.as_ref().map_or((0, 0, 0), |p| {
            (
                p.buffer.len() + p.dispatcher.queued(),
                p.dispatcher.demand(),
                p.consumers.len(),
            )
        });
        if let Some(pc) = &self.pc {
            buffered += pc
                .queue
                .iter()
                .map(|q| match q {
                    Queued::Events(_, _, events) => events.len(),
                    Queued::Cancel(..) => 0,
                })
                .sum::<usize>();
        }
        let (expected, producers) = self.upstream.as_ref().map_or((0, 0), |up| {
            (
                up.values()
                    .filter_map(|u| u.demand.map(|(pending, _, _)| pending))
                    .fold(0, usize::saturating_add),
                up.len(),
            )
        });
        gauge.publish(figures::Levels {
            buffered,
            demand,
            expected,
            consumers,
            producers,
        });
    }

    async fn message(&mut self, ctx: &mut Context, message: Message, parent: &Pid) -> Step {
        if let Some((from, reason)) = message.as_exit() {
            if from == *parent {
                return Err(reason);
            }
        }
        // The hot messages of a pipeline first: events and asks between stages of this node.
        let message = match message.downcast::<LocalEvents>() {
            Ok(local) => return self.local_events(ctx, local).await,
            Err(m) => m,
        };
        let message = match message.downcast::<LocalAsk>() {
            Ok(LocalAsk {
                consumer,
                reference,
                demand,
            }) => {
                let ask = ToProducer::Ask(i64::try_from(demand).unwrap_or(i64::MAX));
                return self.for_producer(ctx, consumer, reference, ask).await;
            }
            Err(m) => m,
        };
        let message = match message.downcast::<Request>() {
            Ok(Request::Subscribe {
                current,
                to,
                opts,
                done,
            }) => {
                let (answer, step) = match self.subscribe(ctx, current, to, opts).await {
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
        let message = match message.downcast::<CallEnvelope>() {
            Ok(CallEnvelope { from, request }) => {
                return self.call(ctx, Message::Local(request), from).await;
            }
            Err(m) => m,
        };
        let message = match message.downcast::<CastEnvelope>() {
            Ok(CastEnvelope(request)) => {
                let r = self
                    .stage
                    .handle_cast(Message::Local(request), &mut self.state, ctx)
                    .await;
                return self.returned(ctx, r).await;
            }
            Err(m) => m,
        };
        let message = match message.downcast::<StopEnvelope>() {
            Ok(StopEnvelope { reason }) => return Err(reason),
            Err(m) => m,
        };
        let message = match message.downcast::<LocalSubscribe>() {
            Ok(LocalSubscribe {
                consumer,
                reference,
                current,
                opts,
            }) => {
                return self
                    .producer_subscribe(ctx, consumer, reference, current, Ok(opts))
                    .await;
            }
            Err(m) => m,
        };
        if let Some((reference, _, reason)) = message.as_down_object() {
            return self.down(ctx, &reference, reason.to_term()).await;
        }
        // Events from another node's stage: the list is taken, not copied.
        let message = match protocol::take_events(message) {
            Ok((pid, reference, events)) => {
                return self.remote_events(ctx, pid, reference, events).await;
            }
            Err(m) => m,
        };
        if let Some(term) = message.as_term() {
            if let Some((pid, tag, m)) = protocol::read_to_producer(term) {
                return self.tagged_for_producer(ctx, pid, tag, m).await;
            }
            if let Some((pid, reference, m)) = protocol::read_to_consumer(term) {
                return match m {
                    ToConsumer::Events(events) => {
                        self.remote_events(ctx, pid, reference, events.to_vec())
                            .await
                    }
                    ToConsumer::Cancel(reason) => {
                        let reason = CancelReason::Cancel(reason.clone());
                        self.consumer_cancel(ctx, &reference, reason).await
                    }
                };
            }
            if let Some(request) = gen_server::term::request(term) {
                return self.term_request(ctx, request).await;
            }
        }
        let r = self.stage.handle_info(message, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }

    /// Events from a rotp producer of this node, as the Rust values it made.
    async fn local_events(&mut self, ctx: &mut Context, local: LocalEvents) -> Step {
        let events = match local.events.downcast::<Vec<G::In>>() {
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
        self.events(ctx, local.producer, local.reference, events)
            .await
    }

    /// Events that came as terms, made the stage's `In` ([`GenStage::event_from_term`]).
    async fn remote_events(
        &mut self,
        ctx: &mut Context,
        producer: Pid,
        reference: Reference,
        terms: Vec<Term>,
    ) -> Step {
        let mut refused = 0;
        let events = terms
            .into_iter()
            .filter_map(|e| {
                let event = G::event_from_term(e);
                refused += usize::from(event.is_none());
                event
            })
            .collect();
        if refused > 0 {
            tracing::error!(
                "GenStage consumer {:?} cannot take {refused} events from {producer:?} as {}",
                ctx.pid(),
                std::any::type_name::<G::In>()
            );
        }
        self.events(ctx, producer, reference, events).await
    }

    /// What a callback returned: events to dispatch, or stop.
    pub(super) async fn returned(&mut self, ctx: &mut Context, r: Return<G::Out>) -> Step {
        match r {
            Return::NoReply(events) => {
                self.dispatch(ctx, events);
                Ok(())
            }
            Return::Stop(reason) => Err(reason),
        }
    }

    /// A monitor fired: a producer we consume from, a consumer of ours, or neither.
    async fn down(&mut self, ctx: &mut Context, monitor: &Reference, reason: Term) -> Step {
        if self
            .upstream
            .as_ref()
            .is_some_and(|u| u.contains_key(monitor))
        {
            return self
                .consumer_cancel(ctx, monitor, CancelReason::Down(reason))
                .await;
        }
        let consumer = self
            .producer
            .as_ref()
            .and_then(|p| p.consumers.by_monitor(monitor).cloned());
        if let Some(reference) = consumer {
            return self
                .producer_cancel(ctx, &reference, CancelReason::Down(reason))
                .await;
        }
        let down = Message::down(
            monitor,
            Term::atom("undefined"),
            &ExitReason::from_term(&reason),
        );
        let r = self.stage.handle_info(down, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }
}

/// `{bad_opts, Message}`, the reason a stage with bad options stops with.
pub(super) fn bad_opts(message: &str) -> ExitReason {
    ExitReason::from_term(&Term::Tuple(vec![
        Term::atom("bad_opts"),
        Term::Binary(message.as_bytes().to_vec().into()),
    ]))
}
