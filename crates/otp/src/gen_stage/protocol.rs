//! GenStage's message protocol, as Elixir's `gen_stage` sends it (`lib/gen_stage.ex`):
//!
//! ```text
//! consumer → producer  {'$gen_producer', {ConsumerPid, Ref}, {subscribe, Current, Opts}}
//!                      {'$gen_producer', {ConsumerPid, Ref}, {ask, Demand}}
//!                      {'$gen_producer', {ConsumerPid, Ref}, {cancel, Reason}}
//! producer → consumer  {'$gen_consumer', {ProducerPid, Ref}, Events}          (a list)
//!                      {'$gen_consumer', {ProducerPid, Ref}, {cancel, Reason}}
//! ```
//!
//! `Ref` is the consumer's monitor of the producer; it names the subscription on both sides.
//! gen_stage never looks inside it: Elixir's `GenStage.stream/2` names its subscriptions
//! `{MonitorRef, InnerRef}` (`lib/gen_stage/stream.ex`), and a rotp producer answers such a
//! consumer with the term it gave (`downstream.rs`).
//! Between two rotp stages of one node the events travel as Rust values ([`LocalEvents`]), and
//! so do asks ([`LocalAsk`]), and a subscription whose options hold a Rust closure goes as a
//! [`LocalSubscribe`].

use std::any::Any;

use etf::{Pid, Reference, Term};
use runtime::Message;

use super::SubscribeOptions;

/// A message for a producer.
pub(crate) enum ToProducer<'a> {
    /// `{subscribe, Current, Opts}`: `Current` is `nil`, or `{Ref, Reason}`, a subscription of
    /// the same consumer to cancel first (a resubscription).
    Subscribe {
        current: &'a Term,
        opts: &'a Term,
    },
    Ask(i64),
    Cancel(&'a Term),
}

/// A message for a consumer.
pub(crate) enum ToConsumer<'a> {
    Events(&'a [Term]),
    Cancel(&'a Term),
}

fn from(pid: &Pid, reference: &Reference) -> Term {
    Term::Tuple(vec![
        Term::Pid(pid.clone()),
        Term::Reference(reference.clone()),
    ])
}

fn tuple(tag: &str, rest: Term) -> Term {
    Term::Tuple(vec![Term::atom(tag), rest])
}

/// `{'$gen_producer', {Pid, Ref}, Message}`.
pub(crate) fn to_producer(pid: &Pid, reference: &Reference, message: Term) -> Term {
    Term::Tuple(vec![
        Term::atom("$gen_producer"),
        from(pid, reference),
        message,
    ])
}

/// `{'$gen_consumer', {Pid, Tag}, Message}`: `Tag` as the consumer named the subscription.
pub(crate) fn to_consumer(pid: &Pid, tag: Term, message: Term) -> Term {
    Term::Tuple(vec![
        Term::atom("$gen_consumer"),
        Term::Tuple(vec![Term::Pid(pid.clone()), tag]),
        message,
    ])
}

/// `{subscribe, Current, Opts}`: `Current` is `nil` or `{Ref, Reason}`.
pub(crate) fn subscribe(current: &Option<(Reference, Term)>, opts: Term) -> Term {
    let current = match current {
        Some((r, reason)) => Term::Tuple(vec![Term::Reference(r.clone()), reason.clone()]),
        None => Term::atom("nil"),
    };
    Term::Tuple(vec![Term::atom("subscribe"), current, opts])
}

pub(crate) fn ask(demand: usize) -> Term {
    tuple("ask", Term::Integer(demand as i64))
}

pub(crate) fn cancel(reason: Term) -> Term {
    tuple("cancel", reason)
}

/// The `{Pid, Ref}` and body of a `'$gen_producer'` or `'$gen_consumer'` message. `Ref` is
/// any term: gen_stage never looks inside it, and Elixir's `GenStage.stream/2` sends
/// `{MonitorRef, InnerRef}` (`lib/gen_stage/stream.ex`, `subscriptions_monitor/3`).
fn parts<'a>(term: &'a Term, label: &str) -> Option<(Pid, &'a Term, &'a Term)> {
    let Term::Tuple(v) = term else { return None };
    let [l, Term::Tuple(f), body] = v.as_slice() else {
        return None;
    };
    if l.as_atom() != Some(label) {
        return None;
    }
    match f.as_slice() {
        [Term::Pid(p), tag] => Some((p.clone(), tag, body)),
        _ => None,
    }
}

/// Reads a message for a producer: the consumer, the term it names the subscription with, and
/// what it says.
pub(crate) fn read_to_producer(term: &Term) -> Option<(Pid, &Term, ToProducer<'_>)> {
    let (pid, tag, body) = parts(term, "$gen_producer")?;
    let Term::Tuple(b) = body else { return None };
    let message = match (
        b.first().and_then(Term::as_atom),
        b.get(1..).unwrap_or_default(),
    ) {
        (Some("subscribe"), [current, opts @ Term::List(_)]) => {
            ToProducer::Subscribe { current, opts }
        }
        (Some("ask"), [Term::Integer(n)]) => ToProducer::Ask(*n),
        (Some("cancel"), [reason]) => ToProducer::Cancel(reason),
        _ => return None,
    };
    Some((pid, tag, message))
}

/// Reads a message for a consumer (whose subscriptions are named by references: the stage's
/// monitors of its producers).
pub(crate) fn read_to_consumer(term: &Term) -> Option<(Pid, Reference, ToConsumer<'_>)> {
    let (pid, tag, body) = parts(term, "$gen_consumer")?;
    let Term::Reference(reference) = tag else {
        return None;
    };
    let message = match body {
        Term::List(events) => ToConsumer::Events(events),
        Term::Tuple(b) if b.len() == 2 && b[0].as_atom() == Some("cancel") => {
            ToConsumer::Cancel(&b[1])
        }
        _ => return None,
    };
    Some((pid, reference.clone(), message))
}

/// Takes the events out of `{'$gen_consumer', {Pid, Ref}, Events}` (the list, not a copy), or
/// gives the message back.
pub(crate) fn take_events(message: Message) -> Result<(Pid, Reference, Vec<Term>), Message> {
    let Message::Term(Term::Tuple(v)) = message else {
        return Err(message);
    };
    match <[Term; 3]>::try_from(v) {
        Ok([Term::Atom(label), Term::Tuple(from), Term::List(events)])
            if label.as_str() == "$gen_consumer" =>
        {
            match <[Term; 2]>::try_from(from) {
                Ok([Term::Pid(pid), Term::Reference(reference)]) => Ok((pid, reference, events)),
                Ok(from) => Err(events_message(label, from.into(), events)),
                Err(from) => Err(events_message(label, from, events)),
            }
        }
        Ok(parts) => Err(Message::Term(Term::Tuple(parts.into()))),
        Err(v) => Err(Message::Term(Term::Tuple(v))),
    }
}

/// The message [`take_events`] took apart, put back together.
fn events_message(label: etf::Atom, from: Vec<Term>, events: Vec<Term>) -> Message {
    Message::Term(Term::Tuple(vec![
        Term::Atom(label),
        Term::Tuple(from),
        Term::List(events),
    ]))
}

/// Events between two rotp stages of one node: a `Vec` of the producer's event type.
pub(crate) struct LocalEvents {
    pub(crate) producer: Pid,
    pub(crate) reference: Reference,
    pub(crate) events: Box<dyn Any + Send>,
}

/// A subscription between two rotp stages of one node whose options hold what has no term
/// form (a [`Selector`](super::Selector)): the subscribe message, with the options as they are.
pub(crate) struct LocalSubscribe {
    pub(crate) consumer: Pid,
    pub(crate) reference: Reference,
    pub(crate) current: Option<(Reference, Term)>,
    pub(crate) opts: SubscribeOptions,
}

/// An ask between two rotp stages of one node (`{'$gen_producer', {Pid, Ref}, {ask, N}}` without
/// building the term): the hot message of a pipeline at small demands.
pub(crate) struct LocalAsk {
    pub(crate) consumer: Pid,
    pub(crate) reference: Reference,
    pub(crate) demand: usize,
}
