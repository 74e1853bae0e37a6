//! A consumer's side of a stage (a consumer, or a producer_consumer's upstream side): its
//! subscriptions, their demand, and what a cancellation does (`lib/gen_stage.ex`'s
//! `consumer_subscribe`, `consumer_receive`, `consumer_dispatch`, `consumer_cancel`,
//! `invoke_cancel`, and for producer_consumers `take_pc_events` and `schedule_cancel`).

use etf::{Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};

use super::batches::split_batches;
use super::options::{CancelMode, SubscribeOptions};
use super::protocol::{self, LocalSubscribe};
use super::stage::{send_to, Queued, Stage, Step, Upstream};
use super::{CancelReason, Demand, GenStage, Return, Role, SubscribeError, Subscription};
use crate::gen_server::ServerRef;

impl<G: GenStage> Stage<G> {
    /// `consumer_subscribe/4`: `Ok(reference)`, `Err(Err(e))` for a refused subscription, or
    /// `Err(Ok(reason))` when the consumer must stop (a permanent or transient subscription to
    /// a stage that is not alive).
    pub(super) async fn subscribe(
        &mut self,
        ctx: &mut Context,
        current: Option<(Reference, Term)>,
        to: ServerRef,
        opts: SubscribeOptions,
    ) -> Result<Reference, Result<ExitReason, SubscribeError>> {
        if self.upstream.is_none() {
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
        let remote = matches!(&to, ServerRef::Remote(_, node) if node != ctx.runtime().node());
        let (reference, to) = if remote {
            let ServerRef::Remote(name, node) = &to else {
                unreachable!("matched above")
            };
            (ctx.monitor_name(name, node), to)
        } else {
            match to.resolve(ctx) {
                Some(pid) => (ctx.monitor(&pid), ServerRef::Pid(pid)),
                None => {
                    if opts.cancel == CancelMode::Temporary {
                        return Ok(ctx.make_ref());
                    }
                    tracing::error!(
                        "GenStage consumer {} was not able to subscribe to the process {} because that process is not alive",
                        std::any::type_name::<G>(),
                        etf::text::write_limited(&to.to_term(), 200)
                    );
                    return Err(Ok(ExitReason::NoProc));
                }
            }
        };
        match (&to, &opts.selector) {
            (ServerRef::Pid(pid), Some(_)) if pid.node == *ctx.runtime().node() => {
                let subscribe = LocalSubscribe {
                    consumer: ctx.pid().clone(),
                    reference: reference.clone(),
                    current,
                    opts: opts.clone(),
                };
                ctx.send(pid, Message::local(subscribe));
            }
            _ => {
                let subscribe = protocol::subscribe(&current, opts.to_term());
                send_to(
                    ctx,
                    &to,
                    protocol::to_producer(ctx.pid(), &reference, subscribe),
                );
            }
        }
        let from = Subscription {
            to: to.clone(),
            reference: reference.clone(),
        };
        let demand = match self
            .stage
            .handle_subscribe(Role::Producer, &opts, &from, &mut self.state, ctx)
            .await
        {
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
        if let Some(producers) = &mut self.upstream {
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

    /// Events from a producer: to `handle_events` at once in a consumer; queued until
    /// downstream asks in a producer_consumer.
    pub(super) async fn events(
        &mut self,
        ctx: &mut Context,
        producer: Pid,
        reference: Reference,
        events: Vec<G::In>,
    ) -> Step {
        let known = self
            .upstream
            .as_ref()
            .is_some_and(|u| u.contains_key(&reference));
        if let Some(pc) = &mut self.pc {
            if !known {
                let cancel = protocol::cancel(Term::atom("unknown_subscription"));
                let cancel = protocol::to_producer(ctx.pid(), &reference, cancel);
                ctx.send(&producer, Message::Term(cancel));
                return Ok(());
            }
            pc.queue
                .push_back(Queued::Events(producer, reference, events));
            return self.take_pc_events(ctx).await;
        }
        self.handle_events_from(ctx, producer, reference, events)
            .await
    }

    /// `take_pc_events/3`: queued events go to `handle_events` while downstream wants more.
    pub(super) async fn take_pc_events(&mut self, ctx: &mut Context) -> Step {
        loop {
            let Some(pc) = &mut self.pc else {
                return Ok(());
            };
            if pc.demand == 0 {
                return Ok(());
            }
            let Some(next) = pc.queue.pop_front() else {
                return Ok(());
            };
            match next {
                Queued::Events(producer, reference, events) => {
                    self.handle_events_from(ctx, producer, reference, events)
                        .await?
                }
                Queued::Cancel(reference, upstream, reason) => {
                    self.invoke_cancel(ctx, &reference, upstream, reason)
                        .await?
                }
            }
        }
    }

    /// `consumer_receive/4` and `consumer_dispatch/6`: events to `handle_events` in batches by
    /// the subscription's demand, asking for more after each.
    async fn handle_events_from(
        &mut self,
        ctx: &mut Context,
        producer: Pid,
        reference: Reference,
        events: Vec<G::In>,
    ) -> Step {
        let Some(producers) = &mut self.upstream else {
            tracing::error!(
                "GenStage producer {:?} received $gen_consumer message",
                ctx.pid()
            );
            return Ok(());
        };
        let Some(upstream) = producers.get_mut(&reference) else {
            if self.pc.is_some() {
                // Queued in a producer_consumer, and the producer went meanwhile: the events
                // are still handled (`send_pc_events/3`).
                let from = Subscription {
                    to: ServerRef::Pid(producer),
                    reference,
                };
                let r = self
                    .stage
                    .handle_events(events, &from, &mut self.state, ctx)
                    .await;
                return self.returned(ctx, r).await;
            }
            let cancel = protocol::to_producer(
                ctx.pid(),
                &reference,
                protocol::cancel(Term::atom("unknown_subscription")),
            );
            ctx.send(&producer, Message::Term(cancel));
            return Ok(());
        };
        // The producer's first message gives its pid (for a subscription to `{Name, Node}`).
        if !matches!(&upstream.to, ServerRef::Pid(p) if *p == producer) {
            upstream.to = ServerRef::Pid(producer.clone());
        }
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
        // The subscription as the callbacks see it, made of what came (not clones: every clone
        // of a pid or reference touches its node atom's count, which all threads share).
        let from = Subscription {
            to: ServerRef::Pid(producer),
            reference,
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

    /// `consumer_cancel/4`: a subscription to a producer ends (it cancelled, or went). Behind
    /// events still queued in a producer_consumer, the cancellation waits its turn
    /// (`schedule_cancel/4`).
    pub(super) async fn consumer_cancel(
        &mut self,
        ctx: &mut Context,
        reference: &Reference,
        reason: CancelReason,
    ) -> Step {
        let Some(producers) = &mut self.upstream else {
            return Ok(());
        };
        let Some(upstream) = producers.remove(reference) else {
            return Ok(());
        };
        ctx.demonitor(reference, true);
        if let Some(pc) = &mut self.pc {
            if !pc.queue.is_empty() {
                pc.queue
                    .push_back(Queued::Cancel(reference.clone(), upstream, reason));
                return Ok(());
            }
        }
        self.invoke_cancel(ctx, reference, upstream, reason).await
    }

    /// `invoke_cancel/4`: `handle_cancel`, then what the cancel mode says.
    async fn invoke_cancel(
        &mut self,
        ctx: &mut Context,
        reference: &Reference,
        upstream: Upstream,
        reason: CancelReason,
    ) -> Step {
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
