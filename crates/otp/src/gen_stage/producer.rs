//! A producer's side of a stage (a producer, or a producer_consumer's downstream side):
//! subscriptions from consumers, their demand through the dispatcher, the buffer
//! (`lib/gen_stage.ex`'s `producer_subscribe`, `producer_cancel`, `dispatch_events`,
//! `take_from_buffer`, `buffer_events`).

use etf::{Pid, Reference, Term};
use runtime::{Context, Message};

use super::protocol::{self, LocalEvents, ToProducer};
use super::stage::{Stage, Step};
use super::{BufferKeep, CancelReason, GenStage, Role, Subscription};
use crate::gen_server::ServerRef;

impl<G: GenStage> Stage<G> {
    /// A `'$gen_producer'` message from a consumer.
    pub(super) async fn for_producer(
        &mut self,
        ctx: &mut Context,
        consumer: Pid,
        reference: Reference,
        m: ToProducer<'_>,
    ) -> Step {
        if self.producer.is_none() {
            tracing::error!(
                "GenStage consumer {:?} received $gen_producer message",
                ctx.pid()
            );
            return Ok(());
        }
        let refuse = |ctx: &Context, why: &str| {
            let cancel =
                protocol::to_consumer(ctx.pid(), &reference, protocol::cancel(Term::atom(why)));
            ctx.send(&consumer, Message::Term(cancel));
        };
        match m {
            ToProducer::Subscribe { current } => {
                // A resubscription cancels the subscription it replaces first.
                if let Term::Tuple(c) = current {
                    if let [Term::Reference(old), reason] = c.as_slice() {
                        let (old, reason) = (old.clone(), reason.clone());
                        self.producer_cancel(ctx, &old, CancelReason::Cancel(reason))
                            .await?;
                    }
                }
                let Some(p) = &mut self.producer else {
                    return Ok(());
                };
                if p.consumers.contains_key(&reference) {
                    tracing::error!(
                        "GenStage producer {:?} received duplicated subscription from: {consumer:?}",
                        ctx.pid()
                    );
                    refuse(ctx, "duplicated_subscription");
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
                if let Some(p) = &mut self.producer {
                    p.dispatcher.subscribe(consumer, reference);
                }
                Ok(())
            }
            ToProducer::Ask(counter) => {
                let Some(p) = &mut self.producer else {
                    return Ok(());
                };
                if !p.consumers.contains_key(&reference) {
                    refuse(ctx, "unknown_subscription");
                    return Ok(());
                }
                let counter = usize::try_from(counter).unwrap_or(0);
                let demand = p.dispatcher.ask(counter, &consumer, &reference);
                if let Some(pc) = &mut self.pc {
                    // A producer_consumer meets demand from its buffer, then from its queue.
                    pc.demand += demand;
                    self.take_from_buffer(ctx);
                    return self.take_pc_events(ctx).await;
                }
                self.take_from_buffer_or_handle_demand(ctx, demand).await
            }
            ToProducer::Cancel(reason) => {
                let reason = CancelReason::Cancel(reason.clone());
                self.producer_cancel(ctx, &reference, reason).await
            }
        }
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
    /// the rest.
    async fn take_from_buffer_or_handle_demand(
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
            return Ok(());
        }
        let r = self.stage.handle_demand(demand, &mut self.state, ctx).await;
        self.returned(ctx, r).await
    }

    /// Sends events to the consumers that asked, and buffers the rest (a producer_consumer's
    /// downstream demand goes down by what was sent).
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
        let (sends, rest) = p.dispatcher.dispatch(events);
        if let Some(pc) = &mut self.pc {
            pc.demand = pc.demand.saturating_sub(total - rest.len());
        }
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
        if let Some(p) = &mut self.producer {
            p.dispatcher.cancel(reference);
        }
        self.returned(ctx, r).await
    }
}
