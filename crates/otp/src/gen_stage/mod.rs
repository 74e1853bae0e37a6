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
//! Producers hand events out through a [`Dispatcher`]: [`DemandDispatcher`] (the default),
//! [`BroadcastDispatcher`] or [`PartitionDispatcher`]. Around the stages: [`call`] and
//! [`cast`] (a stage is a gen_server too), [`demand`] for `demand: :accumulate`,
//! [`ConsumerSupervisor`] (a child per event), [`stream`] (a stage's events as a Rust
//! `Stream`), [`from_enumerable`], and [`Pipeline`], a typed builder of supervised pipelines.
//! A stage whose events are `serde` types exchanges them with other nodes' stages (Elixir's
//! gen_stage included) with one line, [`serde_events!()`](crate::serde_events) (see [`typed`]).
//!
//! ```
//! use rotp_otp::gen_stage::{self, GenStage, Init, ProducerOptions, Return, SubscribeOptions};
//! use runtime::Context;
//!
//! /// A producer of 0, 1, 2, … made only as consumers ask (the `A` of gen_stage's README).
//! struct Counter;
//!
//! impl GenStage for Counter {
//!     type Args = u64;
//!     type State = u64;
//!     type In = ();
//!     type Out = u64;
//!
//!     async fn init(&self, start: u64, _: &mut Context) -> Init<u64, u64> {
//!         Init::Producer(start, ProducerOptions::default())
//!     }
//!
//!     async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<u64> {
//!         let events = (*next..*next + demand as u64).collect();
//!         *next += demand as u64;
//!         Return::NoReply(events)
//!     }
//! }
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! let counter = gen_stage::start_link(&mut ctx, Counter, 0, None).await.unwrap().unwrap();
//! // GenStage.stream([{counter, max_demand: 10}]) |> Enum.take(25)
//! let opts = SubscribeOptions { max_demand: 10, min_demand: Some(5), ..SubscribeOptions::default() };
//! let mut events = gen_stage::stream::<u64>(&mut ctx, vec![(counter.into(), opts)]).await.unwrap();
//! let mut first = Vec::new();
//! while first.len() < 25 {
//!     first.push(events.next().await.expect("the counter never ends"));
//! }
//! assert_eq!(first, (0..25).collect::<Vec<u64>>());
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

mod api;
mod batches;
mod calls;
mod consumer;
mod consumer_supervisor;
pub mod dispatcher;
mod downstream;
mod enumerable;
pub mod figures;
mod options;
mod pipeline;
mod producer;
mod protocol;
mod stage;
mod stream;
pub mod typed;

use std::future::Future;

use etf::{Reference, Term};
use runtime::{Context, ExitReason, Message};

use crate::gen_server::{From, ServerRef};

pub use api::{
    ask, async_resubscribe, async_subscribe, call, cancel, cast, demand, demand_mode,
    estimate_buffered_count, local, sync_resubscribe, sync_subscribe, try_call, SubscribeError,
};
pub use consumer_supervisor::{ConsumerSupervisor, ConsumerSupervisorOptions, EventStartFn};
pub use dispatcher::{
    BroadcastDispatcher, DemandDispatcher, Dispatcher, PartitionDispatcher, Partitions, Selector,
};
pub use downstream::MAX_REMOTE_DEMAND;
pub use enumerable::from_enumerable;
pub use options::{
    BufferKeep, CancelMode, ConsumerOptions, DemandMode, ProducerOptions, SubscribeOptions,
};
pub use pipeline::{Pipeline, PipelineSpec};
pub use stage::start_link;
pub use stream::{stream, Stream};

/// What `init` says the stage is.
pub enum Init<S, E> {
    /// `{:producer, state, opts}`.
    Producer(S, ProducerOptions<E>),
    /// `{:producer_consumer, state, opts}`: it takes events from its producers and hands what
    /// `handle_events` makes to its consumers, asking upstream only as fast as downstream asks.
    /// Its buffer is unbounded by default (`buffer_size: :infinity`).
    ProducerConsumer(S, ProducerOptions<E>, ConsumerOptions),
    /// `{:consumer, state, opts}`.
    Consumer(S, ConsumerOptions),
    /// `{:stop, reason}`.
    Stop(ExitReason),
    /// `:ignore`.
    Ignore,
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

/// What `handle_call` returns: `{:reply, reply, events, state}`, `{:noreply, events, state}`
/// (reply later with [`From::reply`]), or `{:stop, reason, reply, state}`. A reply to a caller
/// on another node (or one that called with a term) must be a [`Term`].
pub enum CallReturn<E> {
    /// Reply, and dispatch the events.
    Reply(Box<dyn std::any::Any + Send>, Vec<E>),
    /// Reply later; dispatch the events.
    NoReply(Vec<E>),
    /// Reply (if there is a reply), then stop.
    Stop(ExitReason, Option<Box<dyn std::any::Any + Send>>),
}

impl<E> CallReturn<E> {
    /// `{:reply, reply, events, state}`.
    pub fn reply<R: Send + 'static>(reply: R, events: Vec<E>) -> CallReturn<E> {
        CallReturn::Reply(Box::new(reply), events)
    }
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
    /// `Out` that is [`Term`]. A stage that gives its events a term form here says so in
    /// [`GenStage::serves_other_nodes`] too.
    fn event_to_term(event: Self::Out) -> Option<Term> {
        (Box::new(event) as Box<dyn std::any::Any>)
            .downcast::<Term>()
            .ok()
            .map(|e| *e)
    }

    /// Whether consumers of other nodes may subscribe: its events have a term form
    /// ([`GenStage::event_to_term`]). By default, when `Out` is [`Term`]. A stage whose events
    /// are Rust values only (a pipeline's structs) serves the stages of its own node; a
    /// subscription from another node is refused as gen_stage refuses one
    /// (`producer_subscribe/3`): the consumer gets `{'$gen_consumer', {Pid, Ref}, {cancel,
    /// {local_only, Message}}}`, and the stage's own consumers lose nothing.
    fn serves_other_nodes() -> bool {
        std::any::TypeId::of::<Self::Out>() == std::any::TypeId::of::<Term>()
    }

    /// `init/1`.
    fn init(
        &self,
        args: Self::Args,
        ctx: &mut Context,
    ) -> impl Future<Output = Init<Self::State, Self::Out>> + Send;

    /// `handle_demand/2`: consumers asked for `demand` more events. Its consumers choose it:
    /// one of another node is held to twice its `max_demand` (at most
    /// [`MAX_REMOTE_DEMAND`]), one of this node to nothing. A producer may return fewer events
    /// and owe the rest, making them later (as [`from_enumerable`] does, a chunk at a time),
    /// rather than allocate for all of a large demand at once.
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

    /// `handle_subscribe/4`: a subscription starts, with the options the consumer gave. A
    /// consumer may take `Manual` demand.
    fn handle_subscribe(
        &self,
        _role: Role,
        _opts: &SubscribeOptions,
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

    /// `handle_call/3`: a [`call`] (`GenStage.call/3`). A request from a rotp process of this
    /// node comes as the Rust value it sent (`Message::Local`), one from elsewhere as a term.
    /// By default the stage stops with `{bad_call, Request}`, as a GenServer without the clause
    /// crashes.
    fn handle_call(
        &self,
        request: Message,
        _from: &From,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = CallReturn<Self::Out>> + Send {
        async move {
            let request = request
                .as_term()
                .cloned()
                .unwrap_or(Term::atom("undefined"));
            CallReturn::Stop(
                ExitReason::from_term(&Term::Tuple(vec![Term::atom("bad_call"), request])),
                None,
            )
        }
    }

    /// `handle_cast/2`: a [`cast`] (`GenStage.cast/2`), as `handle_call` gets its request.
    fn handle_cast(
        &self,
        _request: Message,
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
