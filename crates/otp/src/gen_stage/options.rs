//! A stage's options: a producer's (`init_producer/3` in `lib/gen_stage.ex`), a consumer's,
//! and a subscription's (`consumer_subscribe/4`, with `GenStage.Utils`'s validation messages).

use std::fmt;

use etf::Term;

use super::dispatcher::{DemandDispatcher, Dispatcher, Selector};
use crate::gen_server::ServerRef;

/// A producer's options. `E` is its event type.
pub struct ProducerOptions<E> {
    /// Events kept for consumers that have not asked yet (`buffer_size`, 10 000 by default;
    /// `None` is `:infinity`).
    pub buffer_size: Option<usize>,
    /// Which events a full buffer keeps (`buffer_keep`, `Last` by default).
    pub buffer_keep: BufferKeep,
    /// `demand: :forward` (the default) or `:accumulate`; a producer only.
    pub demand: DemandMode,
    /// `dispatcher:` ([`DemandDispatcher`] by default).
    pub dispatcher: Box<dyn Dispatcher<E>>,
}

impl<E: Send + 'static> ProducerOptions<E> {
    /// A producer_consumer's defaults: an unbounded buffer.
    pub fn unbounded() -> ProducerOptions<E> {
        ProducerOptions {
            buffer_size: None,
            ..ProducerOptions::default()
        }
    }

    /// `dispatcher: ...`.
    pub fn dispatcher(mut self, dispatcher: impl Dispatcher<E>) -> ProducerOptions<E> {
        self.dispatcher = Box::new(dispatcher);
        self
    }

    /// `buffer_size: n` (`None`: `:infinity`) and `buffer_keep: ...`.
    pub fn buffer(mut self, size: Option<usize>, keep: BufferKeep) -> ProducerOptions<E> {
        self.buffer_size = size;
        self.buffer_keep = keep;
        self
    }

    /// `demand: :accumulate`: demand (and events made meanwhile) wait until
    /// [`demand`](super::demand) sets the mode to `Forward`.
    pub fn accumulate(mut self) -> ProducerOptions<E> {
        self.demand = DemandMode::Accumulate;
        self
    }
}

impl<E: Send + 'static> Default for ProducerOptions<E> {
    fn default() -> Self {
        ProducerOptions {
            buffer_size: Some(10_000),
            buffer_keep: BufferKeep::Last,
            demand: DemandMode::Forward,
            dispatcher: Box::new(DemandDispatcher::new()),
        }
    }
}

impl<E> fmt::Debug for ProducerOptions<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerOptions")
            .field("buffer_size", &self.buffer_size)
            .field("buffer_keep", &self.buffer_keep)
            .field("demand", &self.demand)
            .finish_non_exhaustive()
    }
}

/// `buffer_keep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferKeep {
    /// `:first`: new events that do not fit are dropped.
    First,
    /// `:last`: the oldest events make room.
    Last,
}

/// A producer's `demand:` mode (`GenStage.demand/2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemandMode {
    /// `:forward`: demand goes to `handle_demand` as it comes.
    Forward,
    /// `:accumulate`: demand, and events dispatched meanwhile, wait.
    Accumulate,
}

impl DemandMode {
    pub(crate) fn to_term(self) -> Term {
        Term::atom(match self {
            DemandMode::Forward => "forward",
            DemandMode::Accumulate => "accumulate",
        })
    }

    pub(crate) fn from_term(term: &Term) -> Option<DemandMode> {
        match term.as_atom() {
            Some("forward") => Some(DemandMode::Forward),
            Some("accumulate") => Some(DemandMode::Accumulate),
            _ => None,
        }
    }
}

/// A consumer's options: the producers it subscribes to when it starts.
#[derive(Clone, Debug, Default)]
pub struct ConsumerOptions {
    /// `subscribe_to`.
    pub subscribe_to: Vec<(ServerRef, SubscribeOptions)>,
}

/// What a consumer does when a subscription is cancelled (`cancel:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelMode {
    /// `:permanent` (the default): the consumer stops with the reason.
    Permanent,
    /// `:transient`: it stops unless the reason is `normal`, `shutdown` or `{shutdown, _}`.
    Transient,
    /// `:temporary`: it carries on.
    Temporary,
}

/// A subscription's options.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// `max_demand` (1000 by default).
    pub max_demand: usize,
    /// `min_demand` (`max_demand / 2` by default).
    pub min_demand: Option<usize>,
    /// `cancel`.
    pub cancel: CancelMode,
    /// `partition`: the partition to take, from a producer with the
    /// [`PartitionDispatcher`](super::PartitionDispatcher).
    pub partition: Option<Term>,
    /// `selector`: the events to take from a producer with the
    /// [`BroadcastDispatcher`](super::BroadcastDispatcher) (a rotp producer of the same node
    /// only: a function does not cross nodes).
    pub selector: Option<Selector>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            max_demand: 1000,
            min_demand: None,
            cancel: CancelMode::Permanent,
            partition: None,
            selector: None,
        }
    }
}

impl SubscribeOptions {
    /// `max_demand: max, min_demand: min`.
    pub fn demand(max: usize, min: usize) -> SubscribeOptions {
        SubscribeOptions {
            max_demand: max,
            min_demand: Some(min),
            ..SubscribeOptions::default()
        }
    }

    /// The same with another cancel mode.
    pub fn cancel(mut self, cancel: CancelMode) -> SubscribeOptions {
        self.cancel = cancel;
        self
    }

    /// The same with `partition: p`.
    pub fn partition(mut self, partition: impl Into<Term>) -> SubscribeOptions {
        self.partition = Some(partition.into());
        self
    }

    /// The same with `selector: ...`.
    pub fn selector(mut self, selector: Selector) -> SubscribeOptions {
        self.selector = Some(selector);
        self
    }

    /// Elixir's checks (`GenStage.Utils.validate_integer/6`): `(max, min)`, or the message
    /// Elixir gives.
    pub(crate) fn validate(&self) -> Result<(usize, usize), String> {
        let max = self.max_demand;
        if max < 1 {
            return Err(format!(
                "expected :max_demand to be equal to or greater than 1, got: {max}"
            ));
        }
        let min = self.min_demand.unwrap_or(max / 2);
        if min > max - 1 {
            return Err(format!(
                "expected :min_demand to be equal to or less than {}, got: {min}",
                max - 1
            ));
        }
        Ok((max, min))
    }

    /// The options as the subscribe message carries them (a keyword list). A selector has no
    /// term form and is left out (a local subscription carries it as it is).
    pub(crate) fn to_term(&self) -> Term {
        let cancel = match self.cancel {
            CancelMode::Permanent => "permanent",
            CancelMode::Transient => "transient",
            CancelMode::Temporary => "temporary",
        };
        let pair = |k: &str, v: Term| Term::Tuple(vec![Term::atom(k), v]);
        let mut opts = vec![
            pair("max_demand", Term::Integer(self.max_demand as i64)),
            pair("cancel", Term::atom(cancel)),
        ];
        if let Some(min) = self.min_demand {
            opts.push(pair("min_demand", Term::Integer(min as i64)));
        }
        if let Some(partition) = &self.partition {
            opts.push(pair("partition", partition.clone()));
        }
        Term::List(opts)
    }

    /// Options from a keyword list (a subscribe message, or `GenStage.sync_subscribe` from
    /// another node), with Elixir's messages for bad values. Keys it does not know are left
    /// alone, as Elixir leaves them to the dispatcher.
    pub(crate) fn from_term(opts: &Term) -> Result<SubscribeOptions, String> {
        let items: &[Term] = match opts {
            Term::List(items) => items,
            _ => return Err(format!("expected a keyword list, got: {}", show(opts))),
        };
        let mut o = SubscribeOptions::default();
        let mut max_seen = false;
        for item in items {
            let Term::Tuple(kv) = item else { continue };
            let [k, v] = kv.as_slice() else { continue };
            match k.as_atom() {
                Some("max_demand") if !max_seen => {
                    max_seen = true;
                    o.max_demand = match v {
                        Term::Integer(n) if *n >= 1 => *n as usize,
                        _ => {
                            return Err(format!(
                                "expected :max_demand to be equal to or greater than 1, got: {}",
                                show(v)
                            ))
                        }
                    };
                }
                Some("min_demand") if o.min_demand.is_none() => {
                    o.min_demand = match v {
                        Term::Integer(n) if *n >= 0 => Some(*n as usize),
                        _ => {
                            return Err(format!(
                                "expected :min_demand to be equal to or greater than 0, got: {}",
                                show(v)
                            ))
                        }
                    };
                }
                Some("cancel") => {
                    o.cancel = match v.as_atom() {
                        Some("permanent") => CancelMode::Permanent,
                        Some("transient") => CancelMode::Transient,
                        Some("temporary") => CancelMode::Temporary,
                        _ => {
                            return Err(format!(
                                "expected :cancel to be one of [:temporary, :transient, :permanent], got: {}",
                                show(v)
                            ))
                        }
                    };
                }
                Some("partition") if o.partition.is_none() => o.partition = Some(v.clone()),
                Some("selector") if v.as_atom() != Some("nil") => {
                    return Err(
                        ":selector is a function of another node's: it cannot run here".to_string(),
                    )
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

fn show(term: &Term) -> String {
    etf::text::write_limited(term, 100)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cancel_mode() -> impl Strategy<Value = CancelMode> {
        prop_oneof![
            Just(CancelMode::Permanent),
            Just(CancelMode::Transient),
            Just(CancelMode::Temporary),
        ]
    }

    /// Terms a keyword list from another node may hold: the keys GenStage knows with values of
    /// any shape, and other keys.
    fn entry() -> impl Strategy<Value = Term> {
        let key = prop_oneof![
            Just("max_demand"),
            Just("min_demand"),
            Just("cancel"),
            Just("partition"),
            Just("selector"),
            Just("other"),
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(Term::Integer),
            "[a-z]{0,8}".prop_map(|a| Term::atom(&a)),
            Just(Term::NIL),
        ];
        prop_oneof![
            (key, value).prop_map(|(k, v)| Term::Tuple(vec![Term::atom(k), v])),
            any::<i64>().prop_map(Term::Integer),
        ]
    }

    proptest! {
        #[test]
        fn options_survive_their_keyword_list(
            max in 1usize..100_000,
            min in proptest::option::of(0usize..100_000),
            cancel in cancel_mode(),
            partition in proptest::option::of(any::<i64>()),
        ) {
            let o = SubscribeOptions {
                max_demand: max,
                min_demand: min,
                cancel,
                partition: partition.map(Term::Integer),
                selector: None,
            };
            let back = SubscribeOptions::from_term(&o.to_term()).expect("reads back");
            prop_assert_eq!(back.max_demand, o.max_demand);
            prop_assert_eq!(back.min_demand, o.min_demand);
            prop_assert_eq!(back.cancel, o.cancel);
            prop_assert_eq!(back.partition, o.partition);
        }

        #[test]
        fn any_keyword_list_is_read_or_refused_without_panicking(
            entries in proptest::collection::vec(entry(), 0..8),
        ) {
            if let Ok(o) = SubscribeOptions::from_term(&Term::List(entries)) {
                // What was read validates or gives Elixir's message, and never panics either.
                let _ = o.validate();
            }
        }
    }
}
