//! `GenStage.DemandDispatcher` (`lib/gen_stage/dispatchers/demand_dispatcher.ex`): each batch
//! of events goes to the consumer that asked for most.

use etf::{Pid, Reference, Term};
use rand::seq::SliceRandom;

use super::{Deliveries, Dispatcher};
use crate::gen_stage::SubscribeOptions;

/// The default dispatcher: events go to the consumer with the greatest outstanding demand; the
/// demand of consumers that left still counts as asked for, so the producer is not asked twice
/// for it.
#[derive(Default)]
pub struct DemandDispatcher {
    /// Outstanding demand, greatest first.
    demands: Vec<(usize, Pid, Reference)>,
    pending: usize,
    max: Option<usize>,
    shuffle: bool,
}

impl DemandDispatcher {
    /// `GenStage.DemandDispatcher` with no options.
    pub fn new() -> DemandDispatcher {
        DemandDispatcher::default()
    }

    /// `shuffle_demands_on_first_dispatch: true`: the first dispatch goes to the consumers in a
    /// random order, so that consumers which subscribed at once are not always served in the
    /// order they subscribed.
    pub fn shuffle_demands_on_first_dispatch(mut self) -> DemandDispatcher {
        self.shuffle = true;
        self
    }

    /// `max_demand: n`: the greatest demand a consumer is expected to ask for; more is warned of
    /// (by default the first consumer's first ask sets it).
    pub fn max_demand(mut self, max: usize) -> DemandDispatcher {
        self.max = Some(max);
        self
    }

    fn pop(&mut self, reference: &Reference) -> Option<usize> {
        let i = self.demands.iter().position(|(_, _, r)| r == reference)?;
        Some(self.demands.remove(i).0)
    }

    fn add(&mut self, counter: usize, pid: Pid, reference: Reference) {
        let i = self
            .demands
            .iter()
            .position(|(c, _, _)| counter > *c)
            .unwrap_or(self.demands.len());
        self.demands.insert(i, (counter, pid, reference));
    }
}

impl<E: Send + 'static> Dispatcher<E> for DemandDispatcher {
    fn demand(&self) -> usize {
        self.demands
            .iter()
            .fold(0, |sum, (n, _, _)| sum.saturating_add(*n))
    }

    fn subscribe(
        &mut self,
        _opts: &SubscribeOptions,
        consumer: &Pid,
        reference: &Reference,
    ) -> Result<usize, Term> {
        self.demands.push((0, consumer.clone(), reference.clone()));
        Ok(0)
    }

    fn ask(
        &mut self,
        counter: usize,
        consumer: &Pid,
        reference: &Reference,
        _out: &mut Deliveries<E>,
    ) -> usize {
        let max = *self.max.get_or_insert(counter);
        if counter > max {
            tracing::warn!(
                "GenStage producer DemandDispatcher expects a maximum demand of {max}. Using different maximum demands will overload greedy consumers. Got demand for {counter} events from {consumer:?}"
            );
        }
        // The entry moves to its new place (no clone of its pid and reference).
        match self.demands.iter().position(|(_, _, r)| r == reference) {
            Some(i) => {
                let (current, pid, reference) = self.demands.remove(i);
                self.add(current.saturating_add(counter), pid, reference);
            }
            None => self.add(counter, consumer.clone(), reference.clone()),
        }
        let already = self.pending.min(counter);
        self.pending -= already;
        counter - already
    }

    fn cancel(&mut self, _consumer: &Pid, reference: &Reference) -> usize {
        if let Some(current) = self.pop(reference) {
            self.pending = self.pending.saturating_add(current);
        }
        0
    }

    fn dispatch(&mut self, mut events: Vec<E>, out: &mut Deliveries<E>) -> Vec<E> {
        if std::mem::take(&mut self.shuffle) {
            self.demands.shuffle(&mut rand::rng());
        }
        while !events.is_empty() {
            let Some(&(counter, _, _)) = self.demands.first() else {
                break;
            };
            if counter == 0 {
                break;
            }
            let (_, pid, reference) = self.demands.remove(0);
            let now: Vec<E> = if events.len() <= counter {
                std::mem::take(&mut events)
            } else {
                let later = events.split_off(counter);
                std::mem::replace(&mut events, later)
            };
            let left = counter - now.len();
            out.send(&pid, &reference, now);
            self.add(left, pid, reference);
        }
        self.pending = self.pending.saturating_sub(events.len());
        events
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pid as pid;
    use super::*;

    #[test]
    fn events_go_to_the_greatest_demand_and_the_rest_is_buffered() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = DemandDispatcher::new();
        let mut out = Deliveries::default();
        let opts = SubscribeOptions::default();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a).ok();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &b).ok();
        assert_eq!(d.ask(3, &pid(1), &a, &mut out), 3);
        assert_eq!(d.ask(2, &pid(2), &b, &mut out), 2);
        let rest = d.dispatch((0..7).collect::<Vec<i32>>(), &mut out);
        let got: Vec<(bool, Vec<i32>)> =
            out.sends.into_iter().map(|(_, r, e)| (r == a, e)).collect();
        assert_eq!(got, [(true, vec![0, 1, 2]), (false, vec![3, 4])]);
        assert_eq!(rest, [5, 6]);
    }

    #[test]
    fn a_cancelled_consumers_demand_is_not_asked_for_again() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = DemandDispatcher::new();
        let mut out = Deliveries::<i32>::default();
        let opts = SubscribeOptions::default();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a).ok();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &b).ok();
        assert_eq!(d.ask(10, &pid(1), &a, &mut out), 10);
        // The producer was asked for 10 for `a`; `a` leaves; `b`'s first 10 are already coming.
        assert_eq!(Dispatcher::<i32>::cancel(&mut d, &pid(1), &a), 0);
        assert_eq!(d.ask(10, &pid(2), &b, &mut out), 0);
        assert_eq!(d.ask(5, &pid(2), &b, &mut out), 5);
    }

    #[test]
    fn demand_past_the_largest_count_stays_at_it() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = DemandDispatcher::new();
        let mut out = Deliveries::<i32>::default();
        let opts = SubscribeOptions::default();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(1), &a).ok();
        Dispatcher::<i32>::subscribe(&mut d, &opts, &pid(2), &b).ok();
        for r in [&a, &a, &b] {
            d.ask(usize::MAX, &pid(1), r, &mut out);
        }
        assert_eq!(Dispatcher::<i32>::demand(&d), usize::MAX);
        Dispatcher::<i32>::cancel(&mut d, &pid(1), &a);
        Dispatcher::<i32>::cancel(&mut d, &pid(2), &b);
        assert_eq!(d.pending, usize::MAX);
    }
}
