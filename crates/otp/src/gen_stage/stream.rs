//! `GenStage.stream/2`: the events of stages as a Rust [`futures::Stream`]. A consumer process
//! subscribes for the stream and hands each batch over as the stream is read: it asks its
//! producers for more only once the stream has taken what came, so demand flows from the
//! reader. Dropping the stream cancels its subscriptions (`normal`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use etf::{Pid, Term};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::mpsc;

use super::options::{CancelMode, ConsumerOptions, SubscribeOptions};
use super::{CancelReason, GenStage, Init, Return, Subscription};
use crate::gen_server::ServerRef;

/// What the consumer hands the stream.
enum Item<E> {
    Events(Vec<E>),
    /// The last subscription ended: `None` normally, or the abnormal reason.
    End(Option<Term>),
}

/// The stream's end asks its consumer to cancel and stop.
struct Halt;

/// Events of the stages a [`stream`] subscribed to, in the order they came.
///
/// It ends (`None`) when every producer has cancelled; [`Stream::exit_reason`] then says whether
/// one ended abnormally (Elixir's stream exits the caller with it).
pub struct Stream<E> {
    rx: mpsc::Receiver<Item<E>>,
    batch: VecDeque<E>,
    consumer: Pid,
    runtime: Runtime,
    ended: Option<Option<Term>>,
}

impl<E> Stream<E> {
    /// The consumer process behind the stream.
    pub fn consumer(&self) -> &Pid {
        &self.consumer
    }

    /// After the end: the reason a producer cancelled with, if it was not `normal`,
    /// `shutdown` or `{shutdown, _}`.
    pub fn exit_reason(&self) -> Option<&Term> {
        self.ended.as_ref().and_then(|r| r.as_ref())
    }

    /// The next event (`futures::StreamExt::next`, without the import).
    pub async fn next(&mut self) -> Option<E> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    fn poll_next_event(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<E>> {
        loop {
            if let Some(e) = self.batch.pop_front() {
                return Poll::Ready(Some(e));
            }
            if self.ended.is_some() {
                return Poll::Ready(None);
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Item::Events(events))) => self.batch.extend(events),
                Poll::Ready(Some(Item::End(reason))) => self.ended = Some(reason),
                Poll::Ready(None) => self.ended = Some(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

// Nothing in a stream is pinned: the events are moved out of a queue.
impl<E> Unpin for Stream<E> {}

impl<E> futures::Stream for Stream<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<E>> {
        self.get_mut().poll_next_event(cx)
    }
}

impl<E> Drop for Stream<E> {
    fn drop(&mut self) {
        if self.ended.is_none() {
            self.runtime.send(&self.consumer, Message::local(Halt));
        }
    }
}

/// The consumer behind a stream.
struct StreamConsumer<E>(std::marker::PhantomData<fn(E)>);

struct State<E> {
    tx: mpsc::Sender<Item<E>>,
    subscriptions: Vec<Subscription>,
}

impl<E: Send + 'static> GenStage for StreamConsumer<E> {
    type Args = (mpsc::Sender<Item<E>>, Vec<(ServerRef, SubscribeOptions)>);
    type State = State<E>;
    type In = E;
    type Out = ();

    async fn init(&self, (tx, to): Self::Args, _: &mut Context) -> Init<State<E>, ()> {
        // The stream decides when it ends (`handle_cancel`); transient subscriptions still make
        // a producer that is not alive fail the start.
        let subscribe_to = to
            .into_iter()
            .map(|(to, opts)| (to, opts.cancel(CancelMode::Transient)))
            .collect();
        let state = State {
            tx,
            subscriptions: Vec::new(),
        };
        Init::Consumer(state, ConsumerOptions { subscribe_to })
    }

    async fn handle_subscribe(
        &self,
        _: super::Role,
        _: &SubscribeOptions,
        from: &Subscription,
        state: &mut State<E>,
        _: &mut Context,
    ) -> super::Demand {
        state.subscriptions.push(from.clone());
        super::Demand::Automatic
    }

    async fn handle_events(
        &self,
        events: Vec<E>,
        _: &Subscription,
        state: &mut State<E>,
        _: &mut Context,
    ) -> Return<()> {
        // Waits until the reader has taken the batch before: demand comes from reading.
        if state.tx.send(Item::Events(events)).await.is_err() {
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        from: &Subscription,
        state: &mut State<E>,
        _: &mut Context,
    ) -> Return<()> {
        state
            .subscriptions
            .retain(|s| s.reference != from.reference);
        let (CancelReason::Cancel(why) | CancelReason::Down(why)) = reason;
        let normal = ExitReason::from_term(&why).is_normal_or_shutdown();
        if !normal {
            let _ = state.tx.send(Item::End(Some(why))).await;
            return Return::Stop(ExitReason::Normal);
        }
        if state.subscriptions.is_empty() {
            let _ = state.tx.send(Item::End(None)).await;
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }

    async fn handle_info(
        &self,
        message: Message,
        state: &mut State<E>,
        ctx: &mut Context,
    ) -> Return<()> {
        if message.downcast_ref::<Halt>().is_some() {
            for s in &state.subscriptions {
                super::cancel(ctx, s, Term::atom("normal"));
            }
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }
}

/// `GenStage.stream/2`: subscribes to `subscriptions` and gives their events as a stream. The
/// consumer is linked to the caller; a producer that is not alive fails the start.
pub async fn stream<E: Send + 'static>(
    ctx: &mut Context,
    subscriptions: Vec<(ServerRef, SubscribeOptions)>,
) -> Result<Stream<E>, ExitReason> {
    let (tx, rx) = mpsc::channel(1);
    let consumer = StreamConsumer(std::marker::PhantomData);
    let pid = super::start_link(ctx, consumer, (tx, subscriptions), None)
        .await?
        .ok_or(ExitReason::atom("ignore"))?;
    Ok(Stream {
        rx,
        batch: VecDeque::new(),
        consumer: pid,
        runtime: ctx.runtime().clone(),
        ended: None,
    })
}
