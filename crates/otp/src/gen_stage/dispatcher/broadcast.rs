//! `GenStage.BroadcastDispatcher` (`lib/gen_stage/dispatchers/broadcast_dispatcher.ex`): every
//! event goes to every consumer, as fast as the slowest asks; a consumer may take only the
//! events its `selector` picks.

use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use etf::{Pid, Reference, Term};

use super::{Deliveries, Dispatcher};
use crate::gen_stage::SubscribeOptions;

/// A subscription's `selector:` for a producer with the [`BroadcastDispatcher`]: the events
/// the consumer wants. An event of another type than the selector's is not selected.
#[derive(Clone)]
pub struct Selector(Arc<SelectFn>);

/// A selector's test, on an event of any type.
type SelectFn = dyn Fn(&dyn Any) -> bool + Send + Sync;

impl Selector {
    /// A selector of events of type `E`.
    pub fn new<E: 'static>(select: impl Fn(&E) -> bool + Send + Sync + 'static) -> Selector {
        Selector(Arc::new(move |event: &dyn Any| {
            event.downcast_ref::<E>().is_some_and(&select)
        }))
    }

    fn selects(&self, event: &dyn Any) -> bool {
        (self.0)(event)
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Selector(..)")
    }
}

/// Every event to every consumer. The producer is asked for what the consumer that asked least
/// has asked for; events a consumer's selector discards count as received, and the producer asks
/// itself again for them on the consumer's behalf.
///
/// Consumers that subscribe late miss what went before: start the producer with
/// `demand: :accumulate` ([`ProducerOptions::accumulate`]) and resume it with
/// [`demand`](crate::gen_stage::demand) once all have subscribed.
///
/// [`ProducerOptions::accumulate`]: crate::gen_stage::ProducerOptions::accumulate
#[derive(Default)]
pub struct BroadcastDispatcher {
    /// Each consumer's demand beyond what all have asked for (`waiting`).
    demands: Vec<(i64, Pid, Reference, Option<Selector>)>,
    /// Events all consumers have asked for and not received.
    waiting: i64,
    /// Events asked of the producer and not dispatched yet.
    requested: i64,
    subscribed: HashSet<Pid>,
}

impl BroadcastDispatcher {
    /// `GenStage.BroadcastDispatcher`.
    pub fn new() -> BroadcastDispatcher {
        BroadcastDispatcher::default()
    }

    /// `sync_demands/3`: what all consumers have asked for moves into `waiting`; the producer is
    /// asked for what it has not been asked yet.
    fn sync_demands(&mut self) -> usize {
        let min = self
            .demands
            .iter()
            .map(|(c, ..)| *c)
            .min()
            .unwrap_or(0)
            .max(0);
        for d in &mut self.demands {
            d.0 -= min;
        }
        self.waiting = self.waiting.saturating_add(min);
        let request = self.waiting.saturating_sub(self.requested).max(0);
        self.requested = self.requested.saturating_add(request);
        usize::try_from(request).unwrap_or(0)
    }
}

impl<E: Clone + Send + 'static> Dispatcher<E> for BroadcastDispatcher {
    fn demand(&self) -> usize {
        usize::try_from(self.waiting.max(0)).unwrap_or(0)
    }

    fn subscribe(
        &mut self,
        opts: &SubscribeOptions,
        consumer: &Pid,
        reference: &Reference,
    ) -> Result<usize, Term> {
        if self.subscribed.contains(consumer) {
            tracing::error!(
                "{consumer:?} is already registered with the producer. This subscription has been discarded."
            );
            return Err(Term::atom("already_subscribed"));
        }
        self.subscribed.insert(consumer.clone());
        // What the others were waiting for is theirs again; the newcomer starts at nothing.
        for d in &mut self.demands {
            d.0 = d.0.saturating_add(self.waiting);
        }
        self.waiting = 0;
        self.demands.push((
            0,
            consumer.clone(),
            reference.clone(),
            opts.selector.clone(),
        ));
        Ok(0)
    }

    fn ask(
        &mut self,
        counter: usize,
        consumer: &Pid,
        reference: &Reference,
        _out: &mut Deliveries<E>,
    ) -> usize {
        // Counted in i64, as `waiting` and `requested` are; an ask past i64::MAX, or a
        // sum past it, stays at it.
        let counter = i64::try_from(counter).unwrap_or(i64::MAX);
        match self.demands.iter_mut().find(|d| d.2 == *reference) {
            Some(d) => d.0 = d.0.saturating_add(counter),
            None => self
                .demands
                .push((counter, consumer.clone(), reference.clone(), None)),
        }
        self.sync_demands()
    }

    fn cancel(&mut self, consumer: &Pid, reference: &Reference) -> usize {
        self.subscribed.remove(consumer);
        self.demands.retain(|d| d.2 != *reference);
        if self.demands.is_empty() {
            self.waiting = 0;
            return 0;
        }
        self.sync_demands()
    }

    fn dispatch(&mut self, mut events: Vec<E>, out: &mut Deliveries<E>) -> Vec<E> {
        if self.waiting == 0 {
            return events;
        }
        let now = events.len().min(self.waiting as usize);
        let later = events.split_off(now);
        self.waiting -= now as i64;
        self.requested -= now as i64;
        for (_, pid, reference, selector) in &self.demands {
            let selected: Vec<E> = match selector {
                None => events.clone(),
                Some(selector) => {
                    let selected: Vec<E> = events
                        .iter()
                        .filter(|e| selector.selects(*e as &dyn Any))
                        .cloned()
                        .collect();
                    out.ask_self(pid, reference, events.len() - selected.len());
                    selected
                }
            };
            out.send(pid, reference, selected);
        }
        later
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pid as pid;
    use super::*;

    #[test]
    fn the_producer_is_asked_for_what_the_slowest_consumer_asked() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = BroadcastDispatcher::new();
        let mut out = Deliveries::<i32>::default();
        let opts = SubscribeOptions::default();
        assert_eq!(
            Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a),
            Ok(0)
        );
        assert_eq!(
            Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &b),
            Ok(0)
        );
        assert_eq!(
            Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &rt.make_ref()),
            Err(Term::atom("already_subscribed"))
        );
        assert_eq!(d.ask(10, &pid(1), &a, &mut out), 0);
        assert_eq!(d.ask(4, &pid(2), &b, &mut out), 4);
        let rest = d.dispatch(vec![1, 2, 3, 4, 5], &mut out);
        assert_eq!(rest, [5]);
        let got: Vec<Vec<i32>> = out.sends.into_iter().map(|(_, _, e)| e).collect();
        assert_eq!(got, [vec![1, 2, 3, 4], vec![1, 2, 3, 4]]);
        // `b` asks for 6 more: both have now asked for 10.
        let mut out = Deliveries::<i32>::default();
        assert_eq!(d.ask(6, &pid(2), &b, &mut out), 6);
    }

    #[test]
    fn a_selector_picks_events_and_the_rest_is_asked_for_again() {
        let rt = runtime::Runtime::default();
        let a = rt.make_ref();
        let mut d = BroadcastDispatcher::new();
        let mut out = Deliveries::<i32>::default();
        let opts = SubscribeOptions {
            selector: Some(Selector::new(|e: &i32| e % 2 == 0)),
            ..SubscribeOptions::default()
        };
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a).ok();
        assert_eq!(d.ask(4, &pid(1), &a, &mut out), 4);
        assert!(d.dispatch(vec![1, 2, 3, 4], &mut out).is_empty());
        assert_eq!(out.sends[0].2, [2, 4]);
        assert_eq!(out.asks, [(pid(1), a, 2)]);
    }

    #[test]
    fn demand_past_the_largest_count_stays_at_it() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = BroadcastDispatcher::new();
        let mut out = Deliveries::<i32>::default();
        let opts = SubscribeOptions::default();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a).ok();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &b).ok();
        for r in [&a, &a, &b, &b] {
            d.ask(usize::MAX, &pid(1), r, &mut out);
        }
        assert_eq!(Dispatcher::<i32>::demand(&d), i64::MAX as usize);
        assert_eq!(d.dispatch(vec![1, 2], &mut out), Vec::<i32>::new());
        assert_eq!(out.sends.len(), 2);
    }
}
