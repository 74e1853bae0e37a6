//! A producer's consumers (`lib/gen_stage.ex`'s `consumers` and `monitors` maps): each
//! subscription by its reference, with the consumer, our monitor of it, the term the consumer
//! named the subscription with when that is not a reference, and for a consumer of another node
//! the demand it may still ask for.
//!
//! **Tags.** gen_stage treats the `Ref` of `{'$gen_producer', {Pid, Ref}, Message}` as an
//! opaque term: a GenStage consumer names a subscription with its monitor of the producer, but
//! Elixir's `GenStage.stream/2` (`lib/gen_stage/stream.ex`, `subscriptions_monitor/3`) names
//! it `{MonitorRef, InnerRef}`. A rotp producer keys subscriptions by [`Reference`] (as its
//! dispatchers do), so a subscription named otherwise gets a reference of the producer's own,
//! and the term the consumer chose goes back in every message to it ([`Consumers::tag`]).
//!
//! **Allowance.** Elixir's consumers never have more than `max_demand` asked for and not
//! received, and Elixir's producers add any ask to what is owed (bignums: nothing wraps, but an
//! ask of 2^63 reaches `handle_demand/2` whole). A consumer of another node is held to twice its
//! `max_demand` ([`Consumers::allow`]): an ask beyond that is cut down with a warning, so no
//! single ask, and no pile of asks, makes the producer owe more than that to one consumer. Its
//! `max_demand` may be at most [`MAX_REMOTE_DEMAND`].

use rustc_hash::FxHashMap as HashMap;

use etf::{Pid, Reference, Term, TermKey};

/// The greatest `max_demand` a consumer of another node may subscribe with: a larger one is
/// refused (`{bad_opts, Message}`). Elixir's default is 1000.
pub const MAX_REMOTE_DEMAND: usize = 100_000;

/// One consumer's subscription.
pub(super) struct Downstream {
    /// The consumer.
    pub(super) pid: Pid,
    /// Our monitor of it.
    pub(super) monitor: Reference,
    /// A consumer of another node: what it may still be owed.
    allowance: Option<Allowance>,
}

/// Demand a consumer of another node asked for and has not received, and the most it may be.
struct Allowance {
    owed: usize,
    most: usize,
}

/// A producer's subscriptions.
#[derive(Default)]
pub(super) struct Consumers {
    by_reference: HashMap<Reference, Downstream>,
    /// Our monitors of consumers, to their subscription.
    monitors: HashMap<Reference, Reference>,
    /// The terms consumers named subscriptions with, where not a reference, by our reference.
    tags: HashMap<Reference, Term>,
    /// Our references for those terms.
    aliases: HashMap<TermKey, Reference>,
}

impl Consumers {
    /// How many subscriptions there are.
    pub(super) fn len(&self) -> usize {
        self.by_reference.len()
    }

    /// Whether `reference` is a subscription.
    pub(super) fn contains(&self, reference: &Reference) -> bool {
        self.by_reference.contains_key(reference)
    }

    /// The subscription our monitor `monitor` watches the consumer of.
    pub(super) fn by_monitor(&self, monitor: &Reference) -> Option<&Reference> {
        self.monitors.get(monitor)
    }

    /// Adds a subscription; `max_demand` for a consumer of another node (it is held to twice
    /// that), `None` for one of this node.
    pub(super) fn insert(
        &mut self,
        reference: Reference,
        pid: Pid,
        monitor: Reference,
        max_demand: Option<usize>,
    ) {
        self.monitors.insert(monitor.clone(), reference.clone());
        let allowance = max_demand.map(|max| Allowance {
            owed: 0,
            most: max.saturating_mul(2),
        });
        self.by_reference.insert(
            reference,
            Downstream {
                pid,
                monitor,
                allowance,
            },
        );
    }

    /// Ends a subscription (and forgets the term it was named with).
    pub(super) fn remove(&mut self, reference: &Reference) -> Option<Downstream> {
        let gone = self.by_reference.remove(reference)?;
        self.monitors.remove(&gone.monitor);
        self.forget_tag(reference);
        Some(gone)
    }

    /// The term the consumer named `reference` with: the reference itself, or the term it gave.
    pub(super) fn tag(&self, reference: &Reference) -> Term {
        match self.tags.get(reference) {
            Some(tag) => tag.clone(),
            None => Term::Reference(reference.clone()),
        }
    }

    /// Our reference for a subscription the consumer named `tag`, if it is one.
    pub(super) fn resolve(&self, tag: &Term) -> Option<Reference> {
        match tag {
            Term::Reference(r) => Some(r.clone()),
            other => self.aliases.get(&TermKey::new(other)).cloned(),
        }
    }

    /// Our reference for `tag`, a term other than a reference: the one it has, or `fresh`,
    /// remembered until the subscription ends (or [`Consumers::forget_unsubscribed`]).
    pub(super) fn alias(&mut self, tag: &Term, fresh: impl FnOnce() -> Reference) -> Reference {
        let key = TermKey::new(tag);
        if let Some(reference) = self.aliases.get(&key) {
            return reference.clone();
        }
        let reference = fresh();
        self.aliases.insert(key, reference.clone());
        self.tags.insert(reference.clone(), tag.clone());
        reference
    }

    /// Forgets the term `reference` stands for unless it is a subscription (a refused one).
    pub(super) fn forget_unsubscribed(&mut self, reference: &Reference) {
        if !self.contains(reference) {
            self.forget_tag(reference);
        }
    }

    fn forget_tag(&mut self, reference: &Reference) {
        if let Some(tag) = self.tags.remove(reference) {
            self.aliases.remove(&TermKey::new(&tag));
        }
    }

    /// Of `asked` more events, what the consumer of `reference` may have (`None`: no such
    /// subscription): all of it for a consumer of this node; for one of another node, as much
    /// as keeps what it is owed within twice its `max_demand`.
    pub(super) fn allow(&mut self, reference: &Reference, asked: usize) -> Option<usize> {
        let downstream = self.by_reference.get_mut(reference)?;
        let Some(a) = &mut downstream.allowance else {
            return Some(asked);
        };
        let allowed = asked.min(a.most.saturating_sub(a.owed));
        a.owed += allowed;
        Some(allowed)
    }

    /// The most a consumer of another node may be owed (`None` for one of this node).
    pub(super) fn most(&self, reference: &Reference) -> Option<usize> {
        self.by_reference
            .get(reference)
            .and_then(|d| d.allowance.as_ref())
            .map(|a| a.most)
    }

    /// `n` events went to the consumer of `reference`.
    pub(super) fn delivered(&mut self, reference: &Reference, n: usize) {
        if let Some(a) = self
            .by_reference
            .get_mut(reference)
            .and_then(|d| d.allowance.as_mut())
        {
            a.owed = a.owed.saturating_sub(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(id: u32) -> Pid {
        Pid {
            node: etf::Atom::from("other@h"),
            id,
            serial: 0,
            creation: 1,
        }
    }

    #[test]
    fn a_consumer_of_another_node_is_owed_at_most_twice_its_max_demand() {
        let rt = runtime::Runtime::default();
        let (r, m) = (rt.make_ref(), rt.make_ref());
        let mut c = Consumers::default();
        c.insert(r.clone(), pid(1), m, Some(10));
        assert_eq!(c.allow(&r, usize::MAX), Some(20));
        assert_eq!(
            c.allow(&r, usize::MAX),
            Some(0),
            "nothing more until events go"
        );
        c.delivered(&r, 15);
        assert_eq!(c.allow(&r, 3), Some(3));
        assert_eq!(c.allow(&r, usize::MAX), Some(12));
        // A consumer of this node asks what it likes; no subscription, no ask.
        let (local, m) = (rt.make_ref(), rt.make_ref());
        c.insert(local.clone(), pid(2), m, None);
        assert_eq!(c.allow(&local, usize::MAX), Some(usize::MAX));
        assert_eq!(c.allow(&rt.make_ref(), 1), None);
    }

    #[test]
    fn a_subscription_named_by_a_term_is_known_by_it_until_it_ends() {
        let rt = runtime::Runtime::default();
        let tag = Term::Tuple(vec![
            Term::Reference(rt.make_ref()),
            Term::Reference(rt.make_ref()),
        ]);
        let mut c = Consumers::default();
        let ours = c.alias(&tag, || rt.make_ref());
        assert_eq!(
            c.alias(&tag, || rt.make_ref()),
            ours,
            "the same term, the same one"
        );
        c.insert(ours.clone(), pid(1), rt.make_ref(), Some(5));
        assert_eq!(c.resolve(&tag), Some(ours.clone()));
        assert_eq!(c.tag(&ours), tag);
        assert!(c.remove(&ours).is_some());
        assert_eq!(c.resolve(&tag), None);
        // Refused before it was a subscription: forgotten too.
        let refused = c.alias(&tag, || rt.make_ref());
        c.forget_unsubscribed(&refused);
        assert_eq!(c.resolve(&tag), None);
        assert_eq!(c.tag(&refused), Term::Reference(refused));
    }
}
