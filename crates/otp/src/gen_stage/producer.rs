//! A producer's side of a stage (a producer, or a producer_consumer's downstream side):
//! subscriptions from consumers, their demand through the dispatcher, the buffer, and
//! `demand: :accumulate` (`lib/gen_stage.ex`'s `producer_subscribe`, `producer_cancel`,
//! `handle_dispatcher_result`, `dispatch_events`, `take_from_buffer`, `buffer_events`).

use etf::{Pid, Reference, Term};
use runtime::{Context, Message};

use super::dispatcher::Deliveries;
use super::downstream::{Downstream, MAX_REMOTE_DEMAND};
use super::options::{BufferKeep, SubscribeOptions};
use super::protocol::{self, LocalEvents, ToProducer};
use super::stage::{Accumulated, Stage, Step};
use super::{CancelReason, GenStage, Role, Subscription};
use crate::gen_server::ServerRef;

impl<G: GenStage> Stage<G> {
    /// A `'$gen_producer'` message from a consumer that named the subscription `tag`: a
    /// reference, or another term (Elixir's `GenStage.stream/2` sends `{MonitorRef,
    /// InnerRef}`), which stands for a reference of ours (`downstream.rs`).
    pub(super) async fn tagged_for_producer(
        &mut self,
        ctx: &mut Context,
        consumer: Pid,
        tag: &Term,
        m: ToProducer<'_>,
    ) -> Step {
        if let Term::Reference(reference) = tag {
            return self.for_producer(ctx, consumer, reference.clone(), m).await;
        }
        let Some(p) = &mut self.producer else {
            tracing::error!(
                "GenStage consumer {:?} received $gen_producer message",
                ctx.pid()
            );
            return Ok(());
        };
        match m {
            ToProducer::Subscribe { .. } => {
                let reference = p.consumers.alias(tag, || ctx.make_ref());
                let step = self.for_producer(ctx, consumer, reference.clone(), m).await;
                if let Some(p) = &mut self.producer {
                    p.consumers.forget_unsubscribed(&reference);
                }
                step
            }
            m => match p.consumers.resolve(tag) {
                Some(reference) => self.for_producer(ctx, consumer, reference, m).await,
                None => {
                    if let ToProducer::Ask(_) = m {
                        refuse(ctx, &consumer, tag.clone(), unknown_subscription());
                    }
                    Ok(())
                }
            },
        }
    }

    /// A `'$gen_producer'` message from a consumer, about our subscription `reference`.
    pub(super) async fn for_producer(
        &mut self,
        ctx: &mut Context,
        consumer: Pid,
        reference: Reference,
        m: ToProducer<'_>,
    ) -> Step {
        let Some(p) = &mut self.producer else {
            tracing::error!(
                "GenStage consumer {:?} received $gen_producer message",
                ctx.pid()
            );
            return Ok(());
        };
        match m {
            ToProducer::Subscribe { current, opts } => {
                let current = match current {
                    Term::Tuple(c) => match c.as_slice() {
                        [old, reason] => p.consumers.resolve(old).map(|old| (old, reason.clone())),
                        _ => None,
                    },
                    _ => None,
                };
                let opts = SubscribeOptions::from_term(opts);
                self.producer_subscribe(ctx, consumer, reference, current, opts)
                    .await
            }
            ToProducer::Ask(counter) => {
                // A negative ask is no demand; a consumer of another node gets what keeps it
                // within twice its max_demand (`downstream.rs`).
                let asked = usize::try_from(counter).unwrap_or(0);
                let Some(counter) = p.consumers.allow(&reference, asked) else {
                    let tag = p.consumers.tag(&reference);
                    refuse(ctx, &consumer, tag, unknown_subscription());
                    return Ok(());
                };
                if counter < asked {
                    tracing::warn!(
                        "GenStage producer {:?} cut an ask for {asked} events from {consumer:?} to {counter}: a consumer of another node may be owed at most {} (twice its max_demand)",
                        ctx.pid(),
                        p.consumers.most(&reference).unwrap_or(0)
                    );
                }
                let mut out = Deliveries::default();
                let demand = p.dispatcher.ask(counter, &consumer, &reference, &mut out);
                self.dispatcher_result(ctx, demand, out).await
            }
            ToProducer::Cancel(reason) => {
                let reason = CancelReason::Cancel(reason.clone());
                self.producer_cancel(ctx, &reference, reason).await
            }
        }
    }

    /// A consumer subscribes (`{subscribe, Current, Opts}`): a resubscription cancels the
    /// subscription it replaces first; then `handle_subscribe`, then the dispatcher, which may
    /// refuse it. A consumer of another node is refused when the stage's events have no term
    /// form ([`GenStage::serves_other_nodes`]) or its `max_demand` is above
    /// [`MAX_REMOTE_DEMAND`].
    pub(super) async fn producer_subscribe(
        &mut self,
        ctx: &mut Context,
        consumer: Pid,
        reference: Reference,
        current: Option<(Reference, Term)>,
        opts: Result<SubscribeOptions, String>,
    ) -> Step {
        let Some(p) = &mut self.producer else {
            tracing::error!(
                "GenStage consumer {:?} received $gen_producer message",
                ctx.pid()
            );
            return Ok(());
        };
        let tag = p.consumers.tag(&reference);
        if p.consumers.contains(&reference) {
            tracing::error!(
                "GenStage producer {:?} received duplicated subscription from: {consumer:?}",
                ctx.pid()
            );
            refuse(ctx, &consumer, tag, Term::atom("duplicated_subscription"));
            return Ok(());
        }
        if let Some((old, reason)) = current {
            self.producer_cancel(ctx, &old, CancelReason::Cancel(reason))
                .await?;
        }
        let remote = consumer.node != *ctx.runtime().node();
        let opts = match opts {
            Ok(_) if remote && !G::serves_other_nodes() => {
                let message = format!(
                    "the events of this stage have no term form: only stages of node {} may subscribe to it",
                    ctx.runtime().node()
                );
                tracing::error!(
                    "GenStage producer {:?} refused a subscription from {consumer:?}: {message}",
                    ctx.pid()
                );
                let why = Term::Tuple(vec![
                    Term::atom("local_only"),
                    Term::Binary(message.into_bytes().into()),
                ]);
                refuse(ctx, &consumer, tag, why);
                return Ok(());
            }
            Ok(opts) if remote && opts.max_demand > MAX_REMOTE_DEMAND => Err(format!(
                "expected :max_demand to be at most {MAX_REMOTE_DEMAND} for a consumer of another node, got: {}",
                opts.max_demand
            )),
            opts => opts,
        };
        let opts = match opts {
            Ok(opts) => opts,
            Err(message) => {
                tracing::error!(
                    "GenStage producer {:?} refused a subscription from {consumer:?}: {message}",
                    ctx.pid()
                );
                let why = Term::Tuple(vec![
                    Term::atom("bad_opts"),
                    Term::Binary(message.into_bytes().into()),
                ]);
                refuse(ctx, &consumer, tag, why);
                return Ok(());
            }
        };
        let Some(p) = &mut self.producer else {
            return Ok(());
        };
        let monitor = ctx.monitor(&consumer);
        let max_demand = remote.then_some(opts.max_demand);
        p.consumers
            .insert(reference.clone(), consumer.clone(), monitor, max_demand);
        let from = Subscription {
            to: ServerRef::Pid(consumer.clone()),
            reference: reference.clone(),
        };
        let _ = self
            .stage
            .handle_subscribe(Role::Consumer, &opts, &from, &mut self.state, ctx)
            .await;
        // The dispatcher after the callback: it may make demand, and the stage must know of the
        // consumer by then.
        let Some(p) = &mut self.producer else {
            return Ok(());
        };
        match p.dispatcher.subscribe(&opts, &consumer, &reference) {
            Ok(demand) => {
                self.dispatcher_result(ctx, demand, Deliveries::default())
                    .await
            }
            Err(reason) => {
                self.producer_cancel(ctx, &reference, CancelReason::Cancel(reason))
                    .await
            }
        }
    }

    /// `handle_dispatcher_result/2`: what the dispatcher handed out goes; the demand it gives
    /// is met from the buffer, then by `handle_demand` (a producer_consumer: from its queue).
    pub(super) async fn dispatcher_result(
        &mut self,
        ctx: &mut Context,
        demand: usize,
        out: Deliveries<G::Out>,
    ) -> Step {
        self.deliver(ctx, out);
        if let Some(pc) = &mut self.pc {
            pc.demand = pc.demand.saturating_add(demand);
            self.take_from_buffer(ctx);
            return self.take_pc_events(ctx).await;
        }
        self.take_from_buffer_or_handle_demand(ctx, demand).await
    }

    /// A producer_consumer's buffered events, as far as its downstream demand goes.
    fn take_from_buffer(&mut self, ctx: &Context) {
        let (Some(p), Some(pc)) = (&mut self.producer, &self.pc) else {
            return;
        };
        let n = pc.demand.min(p.buffer.len());
        if n > 0 {
            let events: Vec<G::Out> = p.buffer.drain(..n).collect();
            self.dispatch(ctx, events);
        }
    }

    /// `take_from_buffer_or_handle_demand/2`: buffered events first, then `handle_demand` for
    /// the rest (kept while the producer accumulates demand).
    pub(super) async fn take_from_buffer_or_handle_demand(
        &mut self,
        ctx: &mut Context,
        mut demand: usize,
    ) -> Step {
        if let Some(p) = &mut self.producer {
            let n = demand.min(p.buffer.len());
            if n > 0 {
                let events: Vec<G::Out> = p.buffer.drain(..n).collect();
                demand -= n;
                self.dispatch(ctx, events);
            }
        }
        if demand == 0 {
            // No new demand, but a dispatcher's consumers may have room for what is buffered
            // (a broadcast whose slowest consumer caught up, a consumer taking over demand of
            // one that left): offer it again, in order.
            let buffered = self
                .producer
                .as_mut()
                .filter(|p| !p.buffer.is_empty() && p.accumulated.is_none())
                .map(|p| p.buffer.drain(..).collect::<Vec<_>>());
            if let Some(events) = buffered {
                self.dispatch(ctx, events);
            }
            return Ok(());
        }
        if let Some(kept) = self.producer.as_mut().and_then(|p| p.accumulated.as_mut()) {
            kept.push(Accumulated::Demand(demand));
            return Ok(());
        }
        let r = self.stage.handle_demand(demand, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }

    /// Sends events to the consumers that asked, and buffers the rest (a producer_consumer's
    /// downstream demand goes down by what was sent). An accumulating producer keeps them.
    pub(super) fn dispatch(&mut self, ctx: &Context, events: Vec<G::Out>) {
        if events.is_empty() {
            return;
        }
        let total = events.len();
        let Some(p) = &mut self.producer else {
            tracing::error!(
                "GenStage consumer {:?} cannot dispatch events (an empty list must be returned)",
                ctx.pid()
            );
            return;
        };
        if let Some(kept) = &mut p.accumulated {
            kept.push(Accumulated::Dispatch(events));
            return;
        }
        let mut out = Deliveries::default();
        let rest = p.dispatcher.dispatch(events, &mut out);
        if let Some(pc) = &mut self.pc {
            pc.demand = pc.demand.saturating_sub(total - rest.len());
        }
        self.deliver(ctx, out);
        let Some(p) = &mut self.producer else {
            return;
        };
        let mut excess = 0;
        for event in rest {
            match (p.buffer_size, p.buffer_keep) {
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

    /// Sends what a dispatcher handed out: a `Vec` to a rotp stage of this node, terms to any
    /// other (named as the consumer named the subscription); and the asks the producer makes
    /// of itself.
    fn deliver(&mut self, ctx: &Context, out: Deliveries<G::Out>) {
        for (pid, reference, events) in out.sends {
            if pid.node == *ctx.runtime().node() {
                let local = LocalEvents {
                    producer: ctx.pid().clone(),
                    reference,
                    events: Box::new(events),
                };
                ctx.send(&pid, Message::local(local));
            } else {
                let made = events.len();
                let terms: Vec<Term> = events.into_iter().filter_map(G::event_to_term).collect();
                if terms.len() < made {
                    tracing::error!(
                        "GenStage producer {:?} dropped {} events for {pid:?}: they have no term form",
                        ctx.pid(),
                        made - terms.len()
                    );
                }
                let tag = self.producer.as_mut().map_or_else(
                    || Term::Reference(reference.clone()),
                    |p| {
                        p.consumers.delivered(&reference, made);
                        p.consumers.tag(&reference)
                    },
                );
                let message = protocol::to_consumer(ctx.pid(), tag, Term::List(terms));
                ctx.send(&pid, Message::Term(message));
            }
        }
        for (pid, reference, demand) in out.asks {
            let ask = protocol::to_producer(&pid, &reference, protocol::ask(demand));
            ctx.send(ctx.pid(), Message::Term(ask));
        }
    }

    /// `producer_demand/2`, forward: what accumulated is handled in the order it came.
    pub(super) async fn forward_demand(&mut self, ctx: &mut Context) -> Step {
        let Some(kept) = self.producer.as_mut().and_then(|p| p.accumulated.take()) else {
            return Ok(());
        };
        for k in kept {
            match k {
                Accumulated::Demand(d) => self.take_from_buffer_or_handle_demand(ctx, d).await?,
                Accumulated::Dispatch(events) => self.dispatch(ctx, events),
            }
        }
        Ok(())
    }

    /// `producer_cancel/4`: a consumer's subscription ends (it cancelled, or went).
    pub(super) async fn producer_cancel(
        &mut self,
        ctx: &mut Context,
        reference: &Reference,
        reason: CancelReason,
    ) -> Step {
        let Some(p) = &mut self.producer else {
            return Ok(());
        };
        let tag = p.consumers.tag(reference);
        let Some(Downstream { pid, monitor, .. }) = p.consumers.remove(reference) else {
            return Ok(());
        };
        ctx.demonitor(&monitor, true);
        let why = match &reason {
            CancelReason::Cancel(r) | CancelReason::Down(r) => r.clone(),
        };
        refuse(ctx, &pid, tag, why);
        let from = Subscription {
            to: ServerRef::Pid(pid.clone()),
            reference: reference.clone(),
        };
        let r = self
            .stage
            .handle_cancel(reason, &from, &mut self.state, ctx)
            .await;
        self.returned(ctx, r).await?;
        // The dispatcher after the callback, as for a subscription.
        let Some(p) = &mut self.producer else {
            return Ok(());
        };
        let demand = p.dispatcher.cancel(&pid, reference);
        self.dispatcher_result(ctx, demand, Deliveries::default())
            .await
    }
}

/// `{'$gen_consumer', {self(), Tag}, {cancel, Why}}` to a consumer.
fn refuse(ctx: &Context, consumer: &Pid, tag: Term, why: Term) {
    let cancel = protocol::to_consumer(ctx.pid(), tag, protocol::cancel(why));
    ctx.send(consumer, Message::Term(cancel));
}

fn unknown_subscription() -> Term {
    Term::atom("unknown_subscription")
}
