//! `GenStage.PartitionDispatcher` (`lib/gen_stage/dispatchers/partition_dispatcher.ex`): each
//! event goes to one partition, by a hash of the event; each partition has one consumer, which
//! names it in its subscription (`partition: p`).

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use etf::{Pid, Reference, Term, TermKey};

use super::{Deliveries, Dispatcher};
use crate::gen_stage::SubscribeOptions;

/// The partitions: `partitions: n` (numbered `0..n`) or a list of names.
#[derive(Clone, Debug, PartialEq)]
pub enum Partitions {
    /// `partitions: n`: partitions `0` to `n - 1`.
    Count(usize),
    /// `partitions: [...]`: named partitions (the hash must give these).
    Named(Vec<Term>),
}

impl From<usize> for Partitions {
    fn from(n: usize) -> Partitions {
        Partitions::Count(n)
    }
}

impl From<Vec<Term>> for Partitions {
    fn from(names: Vec<Term>) -> Partitions {
        Partitions::Named(names)
    }
}

/// A partition's demand, or the events waiting for its consumer to ask (`demand_or_queue`).
enum Slot<E> {
    Demand(usize),
    Queue(VecDeque<E>),
}

struct Partition<E> {
    name: Term,
    consumer: Option<(Pid, Reference)>,
    slot: Slot<E>,
}

type HashFn<E> = Box<dyn FnMut(&E) -> Option<Term> + Send>;

/// Events to partitions by hash. The producer is asked for what all consumers have asked for;
/// an event whose partition's consumer has no demand left (or that has no consumer yet) waits
/// in that partition's queue. An event the hash gives no partition for (`:none`) is discarded.
///
/// A hash that gives a partition not in the list is a bug in the hash: Elixir raises in the
/// producer; here the event is discarded and logged. A subscription without a `partition`, or
/// to a taken or unknown one, is cancelled with `{bad_opts, Message}` (Elixir raises there too).
pub struct PartitionDispatcher<E> {
    partitions: Vec<Partition<E>>,
    index: HashMap<TermKey, usize>,
    references: HashMap<Reference, usize>,
    hash: HashFn<E>,
    /// Events asked for by all consumers and not dispatched yet.
    waiting: usize,
    /// Demand of consumers that left, already asked of the producer.
    pending: usize,
}

impl<E: Hash + Send + 'static> PartitionDispatcher<E> {
    /// `partitions: n` with the default hash: a hash of the event, modulo `n` (Elixir hashes
    /// with `:erlang.phash2/2`; a rotp producer's own choice of partition need not match it).
    pub fn new(partitions: usize) -> PartitionDispatcher<E> {
        let n = partitions.max(1) as u64;
        PartitionDispatcher::with_hash(partitions, move |e: &E| {
            let mut h = DefaultHasher::new();
            e.hash(&mut h);
            Some(Term::Integer((h.finish() % n) as i64))
        })
    }
}

impl PartitionDispatcher<Term> {
    /// `partitions: n` for term events, hashed by their external form.
    pub fn terms(partitions: usize) -> PartitionDispatcher<Term> {
        let n = partitions.max(1) as u64;
        PartitionDispatcher::with_hash(partitions, move |e: &Term| {
            let mut h = DefaultHasher::new();
            TermKey::new(e).hash(&mut h);
            Some(Term::Integer((h.finish() % n) as i64))
        })
    }
}

impl<E: Send + 'static> PartitionDispatcher<E> {
    /// `partitions: ..., hash: fun`: `hash` gives an event's partition, or `None` to discard it.
    pub fn with_hash(
        partitions: impl Into<Partitions>,
        hash: impl FnMut(&E) -> Option<Term> + Send + 'static,
    ) -> PartitionDispatcher<E> {
        let names: Vec<Term> = match partitions.into() {
            Partitions::Count(n) => (0..n as i64).map(Term::Integer).collect(),
            Partitions::Named(names) => names,
        };
        let index = names
            .iter()
            .enumerate()
            .map(|(i, name)| (TermKey::new(name), i))
            .collect();
        PartitionDispatcher {
            partitions: names
                .into_iter()
                .map(|name| Partition {
                    name,
                    consumer: None,
                    slot: Slot::Demand(0),
                })
                .collect(),
            index,
            references: HashMap::new(),
            hash: Box::new(hash),
            waiting: 0,
            pending: 0,
        }
    }

    fn names(&self) -> String {
        let names: Vec<String> = self
            .partitions
            .iter()
            .map(|p| etf::text::write_limited(&p.name, 50))
            .collect();
        format!("[{}]", names.join(", "))
    }
}

impl<E: Send + 'static> Dispatcher<E> for PartitionDispatcher<E> {
    fn demand(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| match &p.slot {
                Slot::Demand(n) => *n,
                Slot::Queue(_) => 0,
            })
            .fold(0, usize::saturating_add)
    }

    fn queued(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| match &p.slot {
                Slot::Demand(_) => 0,
                Slot::Queue(q) => q.len(),
            })
            .sum()
    }

    fn subscribe(
        &mut self,
        opts: &SubscribeOptions,
        consumer: &Pid,
        reference: &Reference,
    ) -> Result<usize, Term> {
        let bad = |message: String| {
            tracing::error!("GenStage PartitionDispatcher refused {consumer:?}: {message}");
            Err(Term::Tuple(vec![
                Term::atom("bad_opts"),
                Term::Binary(message.into_bytes().into()),
            ]))
        };
        let Some(name) = &opts.partition else {
            return bad(
                "the :partition option is required when subscribing to a producer with partition dispatcher"
                    .to_string(),
            );
        };
        let Some(&i) = self.index.get(&TermKey::new(name)) else {
            return bad(format!(
                ":partition must be one of {}, got: {}",
                self.names(),
                etf::text::write_limited(name, 50)
            ));
        };
        let partition = &mut self.partitions[i];
        if let Some((taken, _)) = &partition.consumer {
            return bad(format!(
                "the partition {} is already taken by {taken:?}",
                etf::text::write_limited(name, 50)
            ));
        }
        partition.consumer = Some((consumer.clone(), reference.clone()));
        self.references.insert(reference.clone(), i);
        Ok(0)
    }

    fn ask(
        &mut self,
        counter: usize,
        _consumer: &Pid,
        reference: &Reference,
        out: &mut Deliveries<E>,
    ) -> usize {
        let Some(&i) = self.references.get(reference) else {
            return 0;
        };
        let partition = &mut self.partitions[i];
        partition.slot = match std::mem::replace(&mut partition.slot, Slot::Demand(0)) {
            Slot::Demand(d) => Slot::Demand(d.saturating_add(counter)),
            Slot::Queue(mut queue) => {
                let n = counter.min(queue.len());
                let now: Vec<E> = queue.drain(..n).collect();
                if let Some((pid, reference)) = &partition.consumer {
                    out.send(pid, reference, now);
                }
                if queue.is_empty() {
                    Slot::Demand(counter - n)
                } else {
                    Slot::Queue(queue)
                }
            }
        };
        let already = self.pending.min(counter);
        self.pending -= already;
        let demand = counter - already;
        self.waiting = self.waiting.saturating_add(demand);
        demand
    }

    fn cancel(&mut self, _consumer: &Pid, reference: &Reference) -> usize {
        let Some(i) = self.references.remove(reference) else {
            return 0;
        };
        let partition = &mut self.partitions[i];
        partition.consumer = None;
        match std::mem::replace(&mut partition.slot, Slot::Demand(0)) {
            Slot::Demand(d) => {
                self.pending = self.pending.saturating_add(d);
                0
            }
            Slot::Queue(queue) => {
                // The queued events go with the consumer; the producer makes as many again.
                self.waiting = self.waiting.saturating_add(queue.len());
                queue.len()
            }
        }
    }

    fn dispatch(&mut self, events: Vec<E>, out: &mut Deliveries<E>) -> Vec<E> {
        let mut per: Vec<Vec<E>> = (0..self.partitions.len()).map(|_| Vec::new()).collect();
        let mut events = events.into_iter();
        while self.waiting > 0 {
            let Some(event) = events.next() else { break };
            let Some(name) = (self.hash)(&event) else {
                continue;
            };
            match self.index.get(&TermKey::new(&name)) {
                Some(&i) => {
                    per[i].push(event);
                    self.waiting -= 1;
                }
                None => tracing::error!(
                    "unknown partition {} computed for GenStage event. The known partitions are {}. This event has been discarded.",
                    etf::text::write_limited(&name, 50),
                    self.names()
                ),
            }
        }
        for (partition, events) in self.partitions.iter_mut().zip(per) {
            if events.is_empty() {
                continue;
            }
            partition.slot = match std::mem::replace(&mut partition.slot, Slot::Demand(0)) {
                Slot::Demand(d) if d >= events.len() => {
                    let left = d - events.len();
                    if let Some((pid, reference)) = &partition.consumer {
                        out.send(pid, reference, events);
                    }
                    Slot::Demand(left)
                }
                Slot::Demand(d) => {
                    let mut now = events;
                    let later = now.split_off(d);
                    if let Some((pid, reference)) = &partition.consumer {
                        out.send(pid, reference, now);
                    }
                    Slot::Queue(later.into())
                }
                Slot::Queue(mut queue) => {
                    queue.extend(events);
                    Slot::Queue(queue)
                }
            };
        }
        events.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pid as pid;
    use super::*;

    fn on(partition: i64) -> SubscribeOptions {
        SubscribeOptions {
            partition: Some(Term::Integer(partition)),
            ..SubscribeOptions::default()
        }
    }

    #[test]
    fn events_go_to_their_partition_and_none_is_discarded() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        // Even numbers to 0, odd to 1, negatives nowhere.
        let mut d =
            PartitionDispatcher::with_hash(2, |e: &i64| (*e >= 0).then(|| Term::Integer(e % 2)));
        let mut out = Deliveries::default();
        assert_eq!(d.subscribe(&on(0), &pid(1), &a), Ok(0));
        assert_eq!(d.subscribe(&on(1), &pid(2), &b), Ok(0));
        assert!(d.subscribe(&on(1), &pid(3), &rt.make_ref()).is_err());
        assert!(d.subscribe(&on(7), &pid(3), &rt.make_ref()).is_err());
        assert!(d
            .subscribe(&SubscribeOptions::default(), &pid(3), &rt.make_ref())
            .is_err());
        assert_eq!(d.ask(2, &pid(1), &a, &mut out), 2);
        assert_eq!(d.ask(2, &pid(2), &b, &mut out), 2);
        let rest = d.dispatch(vec![-1, 0, 1, 2, 4, 3, 5], &mut out);
        // Four events fill the demand of four: 0, 1, 2 and 4; 4 waits for partition 0's
        // consumer to ask again; 3 and 5 go back to the producer's buffer.
        assert_eq!(rest, [3, 5]);
        let got: Vec<(bool, Vec<i64>)> = out.sends.drain(..).map(|(_, r, e)| (r == a, e)).collect();
        assert_eq!(got, [(true, vec![0, 2]), (false, vec![1])]);
        assert_eq!(d.ask(1, &pid(1), &a, &mut out), 1);
        assert_eq!(out.sends[0].2, [4]);
    }

    #[test]
    fn demand_past_the_largest_count_stays_at_it() {
        let rt = runtime::Runtime::default();
        let (a, b) = (rt.make_ref(), rt.make_ref());
        let mut d = PartitionDispatcher::with_hash(2, |e: &i64| Some(Term::Integer(e % 2)));
        let mut out = Deliveries::default();
        assert_eq!(d.subscribe(&on(0), &pid(1), &a), Ok(0));
        assert_eq!(d.subscribe(&on(1), &pid(2), &b), Ok(0));
        for r in [&a, &a, &b] {
            d.ask(usize::MAX, &pid(1), r, &mut out);
        }
        assert_eq!(Dispatcher::<i64>::demand(&d), usize::MAX);
        assert!(d.dispatch(vec![0, 1, 2], &mut out).is_empty());
        assert_eq!(Dispatcher::<i64>::cancel(&mut d, &pid(1), &a), 0);
    }
}
