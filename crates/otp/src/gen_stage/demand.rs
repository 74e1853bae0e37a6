//! Demand: the default dispatcher (`GenStage.DemandDispatcher`: events go to the consumer that
//! asked for most) and a consumer's accounting of what it asks for
//! (`GenStage.Utils.split_batches/5`).

use etf::{Pid, Reference};

/// Events for one consumer: its pid, the subscription, the events.
pub(crate) type Delivery<E> = (Pid, Reference, Vec<E>);

/// `GenStage.DemandDispatcher`'s state: each consumer's outstanding demand, greatest first,
/// and the demand of consumers that left, which still counts as asked for.
#[derive(Default)]
pub(crate) struct DemandDispatcher {
    demands: Vec<(usize, Pid, Reference)>,
    pending: usize,
    max: Option<usize>,
}

impl DemandDispatcher {
    pub(crate) fn subscribe(&mut self, pid: Pid, reference: Reference) {
        self.demands.push((0, pid, reference));
    }

    pub(crate) fn cancel(&mut self, reference: &Reference) {
        if let Some(current) = self.pop(reference) {
            self.pending += current;
        }
    }

    /// A consumer asks for `counter` more: how many more events the producer should make
    /// (what consumers that left had asked for and not received counts first).
    pub(crate) fn ask(&mut self, counter: usize, pid: &Pid, reference: &Reference) -> usize {
        let max = *self.max.get_or_insert(counter);
        if counter > max {
            tracing::warn!(
                "GenStage producer DemandDispatcher expects a maximum demand of {max}. Using different maximum demands will overload greedy consumers. Got demand for {counter} events from {pid:?}"
            );
        }
        let current = self.pop(reference).unwrap_or(0);
        self.add(current + counter, pid.clone(), reference.clone());
        let already = self.pending.min(counter);
        self.pending -= already;
        counter - already
    }

    /// Hands `events` out by demand: `(consumer, events)` to send, and the events nobody asked
    /// for (to buffer).
    pub(crate) fn dispatch<E>(&mut self, mut events: Vec<E>) -> (Vec<Delivery<E>>, Vec<E>) {
        let mut sends = Vec::new();
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
            sends.push((pid.clone(), reference.clone(), now));
            self.add(left, pid, reference);
        }
        let buffered = events.len();
        self.pending = self.pending.saturating_sub(buffered);
        (sends, events)
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

/// `split_batches/5`: `events` received from a producer, cut into batches of at most
/// `max - min` events, each with how much to ask for once it is handled: the consumer asks
/// again only when what it still expects falls to `min_demand`, and then tops it up to
/// `max_demand`. Returns the batches and the demand still expected after them. Events beyond
/// the demand are an excess (logged, as Elixir logs it).
pub(crate) fn split_batches<E>(
    mut events: Vec<E>,
    min: usize,
    max: usize,
    demand: usize,
) -> (Vec<(Vec<E>, usize)>, usize, usize) {
    let (mut old, mut new) = (demand, demand);
    let mut excess = 0;
    let mut batches = Vec::new();
    let limit = (max - min).max(1);
    while !events.is_empty() {
        let rest = if events.len() > limit {
            events.split_off(limit)
        } else {
            Vec::new()
        };
        let batch = std::mem::replace(&mut events, rest);
        let mut size = batch.len();
        if size > old {
            excess += size - old;
            size = old;
            old = 0;
        } else {
            old -= size;
        }
        let ask = if new.saturating_sub(size) <= min {
            let diff = new.saturating_sub(size);
            new = max;
            max - diff
        } else {
            new -= size;
            0
        };
        batches.push((batch, ask));
    }
    (batches, new, excess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_asks_again_at_min_demand_and_tops_up_to_max() {
        // max 10, min 5: batches of at most 5; the demand of 10 falls to 5 after the first
        // batch, so it asks for 5 more.
        let (batches, demand, excess) = split_batches((0..10).collect(), 5, 10, 10);
        let shape: Vec<(usize, usize)> = batches.iter().map(|(b, a)| (b.len(), *a)).collect();
        assert_eq!(shape, [(5, 5), (5, 5)]);
        assert_eq!((demand, excess), (10, 0));
        // Three events of ten expected: no ask yet.
        let (batches, demand, _) = split_batches(vec![1, 2, 3], 5, 10, 10);
        assert_eq!(batches[0].1, 0);
        assert_eq!(demand, 7);
    }

    #[test]
    fn events_go_to_the_greatest_demand_and_the_rest_is_buffered() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let pid = etf::Pid {
            node: etf::Atom::from("n@h"),
            id: 1,
            serial: 0,
            creation: 1,
        };
        let mut d = DemandDispatcher::default();
        d.subscribe(pid.clone(), a.clone());
        d.subscribe(pid.clone(), b.clone());
        assert_eq!(d.ask(3, &pid, &a), 3);
        assert_eq!(d.ask(2, &pid, &b), 2);
        let (sends, rest) = d.dispatch((0..7).collect::<Vec<i32>>());
        let got: Vec<(bool, Vec<i32>)> = sends.into_iter().map(|(_, r, e)| (r == a, e)).collect();
        assert_eq!(got, [(true, vec![0, 1, 2]), (false, vec![3, 4])]);
        assert_eq!(rest, [5, 6]);
    }
}
