//! GenStage: stages that exchange events only as fast as consumers ask for them, after
//! Elixir's `gen_stage` (v1.2: `lib/gen_stage.ex`) and speaking its message protocol
//! (`protocol.rs`), so a rotp stage and an Elixir or Erlang stage on another node subscribe to
//! each other.
//!
//! A stage is a process whose [`GenStage::init`] says what it is: a producer (it makes events
//! in [`GenStage::handle_demand`]), a consumer (it takes them in [`GenStage::handle_events`]),
//! or a producer_consumer (what `handle_events` returns goes on to its own consumers). A consumer subscribes to producers ([`ConsumerOptions`]'s
//! `subscribe_to`, or [`sync_subscribe`]) with a `max_demand` and `min_demand`: it asks for
//! `max_demand` events, and asks again, topping up to `max_demand`, whenever what it still
//! expects falls to `min_demand`. A producer hands events to the consumers that asked for
//! most (`GenStage.DemandDispatcher`) and buffers what nobody asked for yet.
//!
//! Not yet here (issue 13 goes on): the broadcast and partition
//! dispatchers, `demand: :accumulate`, `GenStage.call` and friends, ConsumerSupervisor,
//! streams and the pipeline builder. [`from_enumerable`] makes terms only.

mod consumer;
mod demand;
mod enumerable;
mod producer;
mod protocol;
mod stage;

use std::future::Future;
use std::time::Duration;

use etf::{Atom, Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};
use thiserror::Error;

use crate::gen_server::{Name, ServerRef};

pub use enumerable::from_enumerable;
pub use stage::start_link;

/// What `init` says the stage is.
pub enum Init<S> {
    /// `{:producer, state, opts}`.
    Producer(S, ProducerOptions),
    /// `{:producer_consumer, state, opts}`: it takes events from its producers and hands what
    /// `handle_events` makes to its consumers, asking upstream only as fast as downstream asks.
    /// Its buffer is unbounded by default (`buffer_size: :infinity`).
    ProducerConsumer(S, ProducerOptions, ConsumerOptions),
    /// `{:consumer, state, opts}`.
    Consumer(S, ConsumerOptions),
    /// `{:stop, reason}`.
    Stop(ExitReason),
    /// `:ignore`.
    Ignore,
}

/// A producer's options.
#[derive(Clone, Debug)]
pub struct ProducerOptions {
    /// Events kept for consumers that have not asked yet (`buffer_size`, 10 000 by default;
    /// `None` is `:infinity`).
    pub buffer_size: Option<usize>,
    /// Which events a full buffer keeps (`buffer_keep`, `Last` by default).
    pub buffer_keep: BufferKeep,
}

impl ProducerOptions {
    /// A producer_consumer's defaults: an unbounded buffer.
    pub fn unbounded() -> ProducerOptions {
        ProducerOptions {
            buffer_size: None,
            ..ProducerOptions::default()
        }
    }
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            buffer_size: Some(10_000),
            buffer_keep: BufferKeep::Last,
        }
    }
}

/// `buffer_keep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferKeep {
    /// `:first`: new events that do not fit are dropped.
    First,
    /// `:last`: the oldest events make room.
    Last,
}

/// A consumer's options: the producers it subscribes to when it starts.
#[derive(Clone, Debug, Default)]
pub struct ConsumerOptions {
    /// `subscribe_to`.
    pub subscribe_to: Vec<(ServerRef, SubscribeOptions)>,
}

/// What a consumer does when a subscription is cancelled (`cancel:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelMode {
    /// `:permanent` (the default): the consumer stops with the reason.
    Permanent,
    /// `:transient`: it stops unless the reason is `normal`, `shutdown` or `{shutdown, _}`.
    Transient,
    /// `:temporary`: it carries on.
    Temporary,
}

/// A subscription's options.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// `max_demand` (1000 by default).
    pub max_demand: usize,
    /// `min_demand` (`max_demand / 2` by default).
    pub min_demand: Option<usize>,
    /// `cancel`.
    pub cancel: CancelMode,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            max_demand: 1000,
            min_demand: None,
            cancel: CancelMode::Permanent,
        }
    }
}

impl SubscribeOptions {
    /// `max_demand: max, min_demand: min`.
    pub fn demand(max: usize, min: usize) -> SubscribeOptions {
        SubscribeOptions {
            max_demand: max,
            min_demand: Some(min),
            ..SubscribeOptions::default()
        }
    }

    /// The same with another cancel mode.
    pub fn cancel(mut self, cancel: CancelMode) -> SubscribeOptions {
        self.cancel = cancel;
        self
    }

    /// Elixir's checks (`GenStage.Utils.validate_integer/6`): `(max, min)`, or the message
    /// Elixir gives.
    pub(crate) fn validate(&self) -> Result<(usize, usize), String> {
        let max = self.max_demand;
        if max < 1 {
            return Err(format!(
                "expected :max_demand to be equal to or greater than 1, got: {max}"
            ));
        }
        let min = self.min_demand.unwrap_or(max / 2);
        if min > max - 1 {
            return Err(format!(
                "expected :min_demand to be equal to or less than {}, got: {min}",
                max - 1
            ));
        }
        Ok((max, min))
    }

    /// The options as the subscribe message carries them (a keyword list).
    pub(crate) fn to_term(&self) -> Term {
        let cancel = match self.cancel {
            CancelMode::Permanent => "permanent",
            CancelMode::Transient => "transient",
            CancelMode::Temporary => "temporary",
        };
        let mut opts = vec![
            Term::Tuple(vec![
                Term::atom("max_demand"),
                Term::Integer(self.max_demand as i64),
            ]),
            Term::Tuple(vec![Term::atom("cancel"), Term::atom(cancel)]),
        ];
        if let Some(min) = self.min_demand {
            opts.push(Term::Tuple(vec![
                Term::atom("min_demand"),
                Term::Integer(min as i64),
            ]));
        }
        Term::List(opts)
    }
}

/// One subscription, as both ends name it: `{pid, ref}` (the other stage, and the consumer's
/// monitor of the producer). A consumer that subscribed to `{Name, Node}` names its producer
/// so, as Elixir's does, until the producer's first message gives its pid.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// The other stage.
    pub to: ServerRef,
    /// The subscription's reference.
    pub reference: Reference,
}

/// Which end of a subscription a stage is, in `handle_subscribe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The stage is the consumer; the other end is a producer.
    Producer,
    /// The stage is the producer; the other end is a consumer.
    Consumer,
}

/// Whether a consumer asks by itself (`:automatic`) or with [`ask`] (`:manual`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demand {
    /// `:automatic`.
    Automatic,
    /// `:manual`.
    Manual,
}

/// Why a subscription ended, in `handle_cancel`: `{:cancel, reason}` (the other end cancelled)
/// or `{:down, reason}` (it went).
#[derive(Clone, Debug, PartialEq)]
pub enum CancelReason {
    /// `{:cancel, reason}`.
    Cancel(Term),
    /// `{:down, reason}`.
    Down(Term),
}

/// What a callback returns: `{:noreply, events, state}` or `{:stop, reason, state}`.
pub enum Return<E> {
    /// Events to dispatch (a producer's; a consumer returns none).
    NoReply(Vec<E>),
    /// Stop.
    Stop(ExitReason),
}

/// A stage's callbacks. `Self::In` is what it takes (a consumer's or producer_consumer's
/// events), `Self::Out` what it makes (a producer's or producer_consumer's); a stage that does
/// not take or make events can say `()`.
pub trait GenStage: Send + Sync + Sized + 'static {
    /// What `init` gets.
    type Args: Send + 'static;
    /// The stage's state.
    type State: Send + 'static;
    /// The events it takes.
    type In: Send + 'static;
    /// The events it makes.
    type Out: Send + 'static;

    /// An event from a stage of another node: `None` drops it with an error. By default an
    /// `In` that is [`Term`] takes it as it is.
    fn event_from_term(event: Term) -> Option<Self::In> {
        (Box::new(event) as Box<dyn std::any::Any>)
            .downcast::<Self::In>()
            .ok()
            .map(|e| *e)
    }

    /// An event for a stage of another node: `None` drops it with an error. By default an
    /// `Out` that is [`Term`].
    fn event_to_term(event: Self::Out) -> Option<Term> {
        (Box::new(event) as Box<dyn std::any::Any>)
            .downcast::<Term>()
            .ok()
            .map(|e| *e)
    }

    /// `init/1`.
    fn init(
        &self,
        args: Self::Args,
        ctx: &mut Context,
    ) -> impl Future<Output = Init<Self::State>> + Send;

    /// `handle_demand/2`: consumers asked for `demand` more events.
    fn handle_demand(
        &self,
        _demand: usize,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = Return<Self::Out>> + Send {
        async { Return::NoReply(Vec::new()) }
    }

    /// `handle_events/3`: events from a producer.
    fn handle_events(
        &self,
        _events: Vec<Self::In>,
        _from: &Subscription,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = Return<Self::Out>> + Send {
        async { Return::NoReply(Vec::new()) }
    }

    /// `handle_subscribe/4`: a subscription starts. A consumer may take `Manual` demand.
    fn handle_subscribe(
        &self,
        _role: Role,
        _from: &Subscription,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = Demand> + Send {
        async { Demand::Automatic }
    }

    /// `handle_cancel/3`: a subscription ended.
    fn handle_cancel(
        &self,
        _reason: CancelReason,
        _from: &Subscription,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = Return<Self::Out>> + Send {
        async { Return::NoReply(Vec::new()) }
    }

    /// `handle_info/2`: any other message.
    fn handle_info(
        &self,
        _message: Message,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = Return<Self::Out>> + Send {
        async { Return::NoReply(Vec::new()) }
    }

    /// `terminate/2`.
    fn terminate(
        &self,
        _reason: &ExitReason,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Why a subscription could not be made.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The options are not valid (`{:error, {:bad_opts, message}}`).
    #[error("bad options: {0}")]
    BadOpts(String),
    /// The stage is a producer (`{:error, :not_a_consumer}`).
    #[error("not a consumer")]
    NotAConsumer,
    /// The stage did not answer.
    #[error("the consumer did not answer")]
    NoAnswer,
}

/// Asks a consumer stage to subscribe to `to` (`GenStage.sync_subscribe/3`): the subscription's
/// reference once the consumer has sent its subscription.
pub async fn sync_subscribe(
    ctx: &mut Context,
    consumer: &Pid,
    to: impl Into<ServerRef>,
    opts: SubscribeOptions,
    timeout: Duration,
) -> Result<Reference, SubscribeError> {
    let (done, answer) = tokio::sync::oneshot::channel();
    ctx.send(
        consumer,
        Message::local(stage::Request::Subscribe {
            to: to.into(),
            opts,
            done: Some(done),
        }),
    );
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(result)) => result,
        _ => Err(SubscribeError::NoAnswer),
    }
}

/// `GenStage.async_subscribe/2`.
pub fn async_subscribe(
    ctx: &Context,
    consumer: &Pid,
    to: impl Into<ServerRef>,
    opts: SubscribeOptions,
) {
    ctx.send(
        consumer,
        Message::local(stage::Request::Subscribe {
            to: to.into(),
            opts,
            done: None,
        }),
    );
}

/// `GenStage.ask/3`, from the consumer of a subscription with manual demand.
pub fn ask(ctx: &Context, subscription: &Subscription, demand: usize) {
    if demand > 0 {
        let ask = protocol::to_producer(ctx.pid(), &subscription.reference, protocol::ask(demand));
        stage::send_to(ctx, &subscription.to, ask);
    }
}

/// `GenStage.cancel/3`, from the consumer of a subscription.
pub fn cancel(ctx: &Context, subscription: &Subscription, reason: Term) {
    let cancel =
        protocol::to_producer(ctx.pid(), &subscription.reference, protocol::cancel(reason));
    stage::send_to(ctx, &subscription.to, cancel);
}

/// A stage name (`{local, Name}`), for [`start_link`].
pub fn local(name: &str) -> Option<Name> {
    Some(Name::Local(Atom::from(name)))
}
