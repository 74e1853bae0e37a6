//! `GenStage.from_enumerable/2`: a producer of an iterator's events, as fast as consumers ask;
//! when the iterator runs out it hands on what is left and stops `normal`, so that its
//! consumers are told (`GenStage.Streamer`: the stop comes behind the last events).
//!
//! Elixir's `GenStage.Streamer` takes all of a demand from the stream at once; this one takes
//! at most [`CHUNK`] events a step and owes the rest, making the next chunk after the messages
//! already waiting (a consumer's cancel among them) and after a yield (a connection to a slow
//! consumer slows it down): a demand of billions never becomes one list of billions.

use std::sync::Mutex;

use etf::Pid;
use runtime::{Context, ExitReason, Message};

use super::{GenStage, Init, ProducerOptions, Return};
use crate::gen_server::Name;

/// The most events a step takes from the iterator.
const CHUNK: usize = 10_000;

/// The producer behind [`from_enumerable`].
struct Enumerable<I> {
    events: Mutex<Option<I>>,
}

/// Its state: the iterator (until it runs out) and the demand not met yet.
struct Source<I> {
    events: Option<I>,
    owed: usize,
}

/// The iterator ran out: stop, once what it gave last has gone out.
struct Exhausted;

/// Demand is owed: make the next chunk.
struct More;

/// What comes after a chunk.
#[derive(Debug, PartialEq)]
enum Then {
    /// Nothing is owed.
    Wait,
    /// More is owed: the next chunk ([`More`]).
    More,
    /// The iterator ran out ([`Exhausted`]).
    Stop,
}

impl<I: Iterator> Source<I> {
    /// Up to a chunk of what is owed, and what comes next.
    fn take(&mut self) -> (Vec<I::Item>, Then) {
        let Some(iter) = &mut self.events else {
            return (Vec::new(), Then::Wait);
        };
        let want = self.owed.min(CHUNK);
        let taken: Vec<I::Item> = iter.by_ref().take(want).collect();
        self.owed -= taken.len();
        if taken.len() < want {
            self.events = None;
            self.owed = 0;
            return (taken, Then::Stop);
        }
        let then = if self.owed > 0 {
            Then::More
        } else {
            Then::Wait
        };
        (taken, then)
    }

    /// [`Source::take`], telling itself what comes next.
    fn step(&mut self, ctx: &Context) -> Vec<I::Item> {
        let (taken, then) = self.take();
        match then {
            Then::Wait => {}
            Then::More => ctx.send(ctx.pid(), Message::local(More)),
            Then::Stop => ctx.send(ctx.pid(), Message::local(Exhausted)),
        }
        taken
    }
}

impl<I> GenStage for Enumerable<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Args = ();
    type State = Source<I>;
    type In = ();
    type Out = I::Item;

    async fn init(&self, _: (), _: &mut Context) -> Init<Source<I>, I::Item> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        Init::Producer(Source { events, owed: 0 }, ProducerOptions::default())
    }

    async fn handle_demand(
        &self,
        demand: usize,
        source: &mut Source<I>,
        ctx: &mut Context,
    ) -> Return<I::Item> {
        // A chunk is on its way already when something was owed.
        let idle = source.owed == 0;
        source.owed = source.owed.saturating_add(demand);
        if !idle {
            return Return::NoReply(Vec::new());
        }
        Return::NoReply(source.step(ctx))
    }

    async fn handle_info(
        &self,
        message: Message,
        source: &mut Source<I>,
        ctx: &mut Context,
    ) -> Return<I::Item> {
        if message.downcast_ref::<More>().is_some() {
            // Others' turn first: a process that sends in a loop yields now and then.
            ctx.yield_now().await;
            return Return::NoReply(source.step(ctx));
        }
        if message.downcast_ref::<Exhausted>().is_some() {
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }
}

/// `GenStage.from_enumerable(events, name: name)`: a producer linked to the caller, of the
/// iterator's events. Stages of this node take them as they are; [`Term`](etf::Term) events also go to
/// stages of other nodes (events of other types cannot, and are dropped with an error there).
pub async fn from_enumerable<I>(
    ctx: &mut Context,
    events: I,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    let stage = Enumerable {
        events: Mutex::new(Some(events.into_iter())),
    };
    super::start_link(ctx, stage, (), name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demand_of_trillions_is_met_a_chunk_at_a_time() {
        // An endless iterator that says so (its length hint is its upper bound): taking a
        // demand of 2^40 from it at once would ask for 8 TiB.
        let mut source = Source {
            events: Some(0u64..),
            owed: 1 << 40,
        };
        let (first, then) = source.take();
        assert_eq!(first, (0..CHUNK as u64).collect::<Vec<_>>());
        assert_eq!(then, Then::More);
        let (second, _) = source.take();
        assert_eq!(second.first(), Some(&(CHUNK as u64)));
        assert_eq!(source.owed, (1 << 40) - 2 * CHUNK);
        // What is owed is met, then the source waits; one that runs out says so.
        let mut short = Source {
            events: Some(0..3),
            owed: 2,
        };
        assert_eq!(short.take(), (vec![0, 1], Then::Wait));
        short.owed = 5;
        assert_eq!(short.take(), (vec![2], Then::Stop));
    }
}
