//! The functions around stages (`GenStage.sync_subscribe/3` and friends, `ask/3`, `cancel/3`,
//! `call/3`, `cast/2`, `demand/1,2`, `estimate_buffered_count/2`). What goes to a stage of
//! another node goes as Elixir sends it (`{'$subscribe', Current, To, Opts}` and `'$demand'`
//! through `gen_server`'s call and cast), so they work on Elixir's stages too.

use std::time::Duration;

use etf::{Atom, Pid, Reference, Term};
use runtime::{Context, Message};
use thiserror::Error;

use super::options::{DemandMode, SubscribeOptions};
use super::{protocol, stage, Subscription};
use crate::gen_server::{self, CallError, Name, ServerRef};

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
    /// The consumer is on another node and its answer is not one of GenStage's.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Asks a consumer stage to subscribe to `to` (`GenStage.sync_subscribe/3`): the subscription's
/// reference once the consumer has sent its subscription. A consumer on another node (an Elixir
/// stage too) is asked with `{'$subscribe', nil, To, Opts}`.
pub async fn sync_subscribe(
    ctx: &mut Context,
    consumer: &Pid,
    to: impl Into<ServerRef>,
    opts: SubscribeOptions,
    timeout: Duration,
) -> Result<Reference, SubscribeError> {
    subscribe(ctx, consumer, None, to.into(), opts, timeout).await
}

/// `GenStage.sync_resubscribe/5`: cancels `subscription` with `reason` and subscribes again
/// with `opts` (the producer cancels the old subscription when the new one reaches it).
pub async fn sync_resubscribe(
    ctx: &mut Context,
    consumer: &Pid,
    subscription: &Subscription,
    reason: Term,
    opts: SubscribeOptions,
    timeout: Duration,
) -> Result<Reference, SubscribeError> {
    let current = Some((subscription.reference.clone(), reason));
    let to = subscription.to.clone();
    subscribe(ctx, consumer, current, to, opts, timeout).await
}

async fn subscribe(
    ctx: &mut Context,
    consumer: &Pid,
    current: Option<(Reference, Term)>,
    to: ServerRef,
    opts: SubscribeOptions,
    timeout: Duration,
) -> Result<Reference, SubscribeError> {
    if consumer.node != *ctx.runtime().node() {
        let request = subscribe_request(&current, &to, &opts);
        let reply = gen_server::try_call_term(ctx, consumer.clone(), request, timeout)
            .await
            .map_err(|_| SubscribeError::NoAnswer)?;
        return subscribe_reply(&reply);
    }
    let (done, answer) = tokio::sync::oneshot::channel();
    ctx.send(
        consumer,
        Message::local(stage::Request::Subscribe {
            current,
            to,
            opts,
            done: Some(done),
        }),
    );
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(result)) => result,
        _ => Err(SubscribeError::NoAnswer),
    }
}

/// `{'$subscribe', Current, To, Opts}`.
fn subscribe_request(
    current: &Option<(Reference, Term)>,
    to: &ServerRef,
    opts: &SubscribeOptions,
) -> Term {
    let current = match current {
        Some((r, reason)) => Term::Tuple(vec![Term::Reference(r.clone()), reason.clone()]),
        None => Term::atom("nil"),
    };
    Term::Tuple(vec![
        Term::atom("$subscribe"),
        current,
        to.to_term(),
        opts.to_term(),
    ])
}

/// `{ok, Ref}` or `{error, Why}`.
pub(crate) fn subscribe_reply(reply: &Term) -> Result<Reference, SubscribeError> {
    let unexpected = || SubscribeError::Unexpected(etf::text::write_limited(reply, 200));
    let Term::Tuple(v) = reply else {
        return Err(unexpected());
    };
    match (v.first().and_then(Term::as_atom), v.get(1)) {
        (Some("ok"), Some(Term::Reference(r))) => Ok(r.clone()),
        (Some("error"), Some(Term::Atom(a))) if a.as_str() == "not_a_consumer" => {
            Err(SubscribeError::NotAConsumer)
        }
        (Some("error"), Some(Term::Tuple(e)))
            if e.first().and_then(Term::as_atom) == Some("bad_opts") =>
        {
            let message = match e.get(1) {
                Some(Term::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(other) => etf::text::write_limited(other, 200),
                None => String::new(),
            };
            Err(SubscribeError::BadOpts(message))
        }
        _ => Err(unexpected()),
    }
}

/// `GenStage.async_subscribe/2`.
pub fn async_subscribe(
    ctx: &Context,
    consumer: &Pid,
    to: impl Into<ServerRef>,
    opts: SubscribeOptions,
) {
    async_request(ctx, consumer, None, to.into(), opts);
}

/// `GenStage.async_resubscribe/4`.
pub fn async_resubscribe(
    ctx: &Context,
    consumer: &Pid,
    subscription: &Subscription,
    reason: Term,
    opts: SubscribeOptions,
) {
    let current = Some((subscription.reference.clone(), reason));
    async_request(ctx, consumer, current, subscription.to.clone(), opts);
}

fn async_request(
    ctx: &Context,
    consumer: &Pid,
    current: Option<(Reference, Term)>,
    to: ServerRef,
    opts: SubscribeOptions,
) {
    if consumer.node != *ctx.runtime().node() {
        gen_server::cast_term(
            ctx,
            consumer.clone(),
            subscribe_request(&current, &to, &opts),
        );
        return;
    }
    ctx.send(
        consumer,
        Message::local(stage::Request::Subscribe {
            current,
            to,
            opts,
            done: None,
        }),
    );
}

/// `GenStage.ask/3`, from the consumer of a subscription with manual demand.
pub fn ask(ctx: &Context, subscription: &Subscription, demand: usize) {
    if demand == 0 {
        return;
    }
    match &subscription.to {
        ServerRef::Pid(producer) if producer.node == *ctx.runtime().node() => {
            let ask = protocol::LocalAsk {
                consumer: ctx.pid().clone(),
                reference: subscription.reference.clone(),
                demand,
            };
            ctx.send(producer, Message::local(ask));
        }
        to => {
            let ask =
                protocol::to_producer(ctx.pid(), &subscription.reference, protocol::ask(demand));
            stage::send_to(ctx, to, ask);
        }
    }
}

/// `GenStage.cancel/3`, from the consumer of a subscription.
pub fn cancel(ctx: &Context, subscription: &Subscription, reason: Term) {
    let cancel =
        protocol::to_producer(ctx.pid(), &subscription.reference, protocol::cancel(reason));
    stage::send_to(ctx, &subscription.to, cancel);
}

/// `GenStage.call/3`: a stage's `handle_call` answers; the caller exits as `gen_server:call/3`
/// makes it exit when there is no answer. To a stage of another node, request and reply are
/// terms.
pub async fn call<Req: Send + 'static, R: Send + 'static>(
    ctx: &mut Context,
    stage: impl Into<ServerRef>,
    request: Req,
    timeout: Duration,
) -> R {
    gen_server::call(ctx, stage, request, timeout).await
}

/// [`call`], returning the failure instead of exiting.
pub async fn try_call<Req: Send + 'static, R: Send + 'static>(
    ctx: &mut Context,
    stage: impl Into<ServerRef>,
    request: Req,
    timeout: Duration,
) -> Result<R, CallError> {
    gen_server::try_call(ctx, stage, request, timeout).await
}

/// `GenStage.cast/2`.
pub fn cast<Req: Send + 'static>(ctx: &Context, stage: impl Into<ServerRef>, request: Req) {
    gen_server::cast(ctx, stage, request)
}

/// `GenStage.demand/2`: sets a producer's demand mode; `Forward` hands what accumulated to
/// `handle_demand` and dispatches the events kept meanwhile, in the order they came.
pub fn demand(ctx: &Context, producer: impl Into<ServerRef>, mode: DemandMode) {
    let request = Term::Tuple(vec![Term::atom("$demand"), mode.to_term()]);
    gen_server::cast_term(ctx, producer, request);
}

/// `GenStage.demand/1`: a producer's demand mode.
pub async fn demand_mode(
    ctx: &mut Context,
    producer: impl Into<ServerRef>,
    timeout: Duration,
) -> Result<DemandMode, CallError> {
    let reply = gen_server::try_call_term(ctx, producer, Term::atom("$demand"), timeout).await?;
    DemandMode::from_term(&reply).ok_or(CallError::BadReply)
}

/// `GenStage.estimate_buffered_count/2`: the events a producer holds in its buffer.
pub async fn estimate_buffered_count(
    ctx: &mut Context,
    producer: impl Into<ServerRef>,
    timeout: Duration,
) -> Result<usize, CallError> {
    let request = Term::atom("$estimate_buffered_count");
    match gen_server::try_call_term(ctx, producer, request, timeout).await? {
        Term::Integer(n) if n >= 0 => Ok(n as usize),
        _ => Err(CallError::BadReply),
    }
}

/// A stage name (`{local, Name}`), for [`start_link`](super::start_link).
pub fn local(name: &str) -> Option<Name> {
    Some(Name::Local(Atom::from(name)))
}
