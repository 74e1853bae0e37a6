//! `GenStage.from_enumerable/2`: a producer of an iterator's events, as fast as consumers ask;
//! when the iterator runs out it hands on what is left and stops `normal`, so that its
//! consumers are told (`GenStage.Streamer`: the stop comes behind the last events).

use std::sync::Mutex;

use etf::Pid;
use runtime::{Context, ExitReason, Message};

use super::{GenStage, Init, ProducerOptions, Return};
use crate::gen_server::Name;

/// The producer behind [`from_enumerable`].
struct Enumerable<I> {
    events: Mutex<Option<I>>,
}

/// The iterator ran out: stop, once what it gave last has gone out.
struct Exhausted;

impl<I> GenStage for Enumerable<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Args = ();
    type State = Option<I>;
    type In = ();
    type Out = I::Item;

    async fn init(&self, _: (), _: &mut Context) -> Init<Option<I>, I::Item> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        Init::Producer(events, ProducerOptions::default())
    }

    async fn handle_demand(
        &self,
        demand: usize,
        events: &mut Option<I>,
        ctx: &mut Context,
    ) -> Return<I::Item> {
        let Some(iter) = events else {
            return Return::NoReply(Vec::new());
        };
        let taken: Vec<I::Item> = iter.by_ref().take(demand).collect();
        if taken.len() < demand {
            *events = None;
            ctx.send(ctx.pid(), Message::local(Exhausted));
        }
        Return::NoReply(taken)
    }

    async fn handle_info(
        &self,
        message: Message,
        _: &mut Option<I>,
        _: &mut Context,
    ) -> Return<I::Item> {
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
