//! Dispatchers: how a producer hands its events to its consumers (`GenStage.Dispatcher`, the
//! behaviour in `lib/gen_stage/dispatcher.ex`). A producer's [`ProducerOptions`] names one;
//! [`DemandDispatcher`] is the default.
//!
//! A dispatcher is told of every subscription, every ask and every cancellation, and answers
//! with the demand the producer must now meet (the `{:ok, demand, state}` of Elixir's
//! callbacks); [`Dispatcher::dispatch`] hands events out and gives back what nobody can take
//! yet, which the producer buffers.
//!
//! Two consumers of a producer with a [`BroadcastDispatcher`]: each gets every event. The
//! producer accumulates demand until both have subscribed (`demand: :accumulate`, then
//! `GenStage.demand(producer, :forward)`), as gen_stage's documentation suggests.
//!
//! ```
//! use rotp_otp::gen_stage::{self, BroadcastDispatcher, DemandMode, GenStage, Init, ProducerOptions, Return, SubscribeOptions};
//! use runtime::Context;
//!
//! struct Counter;
//!
//! impl GenStage for Counter {
//!     type Args = ();
//!     type State = u64;
//!     type In = ();
//!     type Out = u64;
//!
//!     async fn init(&self, _: (), _: &mut Context) -> Init<u64, u64> {
//!         let options = ProducerOptions::default().dispatcher(BroadcastDispatcher::new()).accumulate();
//!         Init::Producer(0, options)
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
//! let producer = gen_stage::start_link(&mut ctx, Counter, (), None).await.unwrap().unwrap();
//! let opts = || SubscribeOptions { max_demand: 5, ..SubscribeOptions::default() };
//! let mut a = gen_stage::stream::<u64>(&mut ctx, vec![(producer.clone().into(), opts())]).await.unwrap();
//! let mut b = gen_stage::stream::<u64>(&mut ctx, vec![(producer.clone().into(), opts())]).await.unwrap();
//! gen_stage::demand(&ctx, &producer, DemandMode::Forward);
//! for expected in 0..12 {
//!     assert_eq!((a.next().await, b.next().await), (Some(expected), Some(expected)));
//! }
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```
//!
//! [`ProducerOptions`]: super::ProducerOptions

mod broadcast;
mod demand;
mod partition;

use etf::{Pid, Reference, Term};

use super::SubscribeOptions;

pub use broadcast::{BroadcastDispatcher, Selector};
pub use demand::DemandDispatcher;
pub use partition::{PartitionDispatcher, Partitions};

/// A dispatcher (`GenStage.Dispatcher`'s callbacks, without `init/1`: a dispatcher is built
/// with its options). `E` is the producer's event type.
pub trait Dispatcher<E>: Send + 'static {
    /// `subscribe/3`: a consumer subscribed with `opts`. `Ok(demand)`, or `Err(reason)` to
    /// cancel the subscription with (BroadcastDispatcher's `already_subscribed`).
    fn subscribe(
        &mut self,
        opts: &SubscribeOptions,
        consumer: &Pid,
        reference: &Reference,
    ) -> Result<usize, Term>;

    /// `ask/3`: the consumer asked for `counter` more. The demand the producer must meet; events
    /// a dispatcher kept for this consumer go in `out`.
    fn ask(
        &mut self,
        counter: usize,
        consumer: &Pid,
        reference: &Reference,
        out: &mut Deliveries<E>,
    ) -> usize;

    /// `cancel/2`: the subscription ended. The demand the producer must now meet.
    fn cancel(&mut self, consumer: &Pid, reference: &Reference) -> usize;

    /// `dispatch/3`: hands `events` out (into `out`) and returns those nobody can take yet.
    fn dispatch(&mut self, events: Vec<E>, out: &mut Deliveries<E>) -> Vec<E>;

    /// Events its consumers have asked for and not received yet, for the window's figures
    /// (no part of Elixir's behaviour).
    fn demand(&self) -> usize {
        0
    }

    /// Events it holds back for consumers (a partition whose consumer has not asked), for the
    /// window's figures.
    fn queued(&self) -> usize {
        0
    }
}

/// What a dispatcher hands out: events for consumers, and asks the producer sends itself
/// (BroadcastDispatcher's demand for events a selector discarded).
pub struct Deliveries<E> {
    pub(crate) sends: Vec<(Pid, Reference, Vec<E>)>,
    pub(crate) asks: Vec<(Pid, Reference, usize)>,
}

impl<E> Default for Deliveries<E> {
    fn default() -> Self {
        Deliveries {
            sends: Vec::new(),
            asks: Vec::new(),
        }
    }
}

impl<E> Deliveries<E> {
    /// Sends `events` to the consumer of a subscription (nothing for an empty list).
    pub fn send(&mut self, consumer: &Pid, reference: &Reference, events: Vec<E>) {
        if !events.is_empty() {
            self.sends
                .push((consumer.clone(), reference.clone(), events));
        }
    }

    /// Has the producer ask itself for `demand` on a subscription, as if its consumer had
    /// (`send(self(), {:"$gen_producer", {pid, ref}, {:ask, n}})`).
    pub fn ask_self(&mut self, consumer: &Pid, reference: &Reference, demand: usize) {
        if demand > 0 {
            self.asks
                .push((consumer.clone(), reference.clone(), demand));
        }
    }
}

/// A pid for the dispatchers' unit tests.
#[cfg(test)]
fn test_pid(id: u32) -> Pid {
    Pid {
        node: etf::Atom::from("n@h"),
        id,
        serial: 0,
        creation: 1,
    }
}
