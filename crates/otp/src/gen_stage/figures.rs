//! Live figures of every running stage in this OS process, for the window (its pipelines
//! page and `rotp_gen_stage_*` metrics): its kind, the events it buffers, the demand its
//! consumers have asked for and not received, and the events it still expects from its
//! producers. A stage publishes them after each message it handles: a few relaxed stores.
//!
//! Elixir's gen_stage has no such table; on a BEAM node the same figures are read from the
//! stage's state (`sys:get_state/1`).
//!
//! ```
//! use rotp_otp::gen_stage::{self, figures::{self, StageKind}};
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // A producer of five events, with no consumer yet.
//! let producer = gen_stage::from_enumerable(&mut ctx, vec![1, 2, 3, 4, 5], None).await.unwrap().unwrap();
//! let mine = figures::stages().into_iter().find(|s| s.pid == producer).expect("a running stage");
//! assert_eq!(mine.kind, StageKind::Producer);
//! assert_eq!((mine.consumers, mine.demand), (0, 0));
//! assert_eq!(mine.kind.word(), "producer");
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use etf::Pid;

/// What kind of stage it is (`init/1`'s first element in Elixir).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    /// `:producer`.
    Producer,
    /// `:producer_consumer`.
    ProducerConsumer,
    /// `:consumer`.
    Consumer,
}

impl StageKind {
    /// Elixir's word for it.
    pub fn word(self) -> &'static str {
        match self {
            StageKind::Producer => "producer",
            StageKind::ProducerConsumer => "producer_consumer",
            StageKind::Consumer => "consumer",
        }
    }
}

/// One stage's figures at the moment they were read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageFigures {
    /// The stage.
    pub pid: Pid,
    /// Its kind.
    pub kind: StageKind,
    /// Events it holds: its buffer, a producer_consumer's queue, a dispatcher's queues.
    pub buffered: usize,
    /// Events its consumers have asked for and not received.
    pub demand: usize,
    /// Events it has asked its producers for and not received yet (automatic demand).
    pub expected: usize,
    /// Its consumers' subscriptions.
    pub consumers: usize,
    /// Its subscriptions to producers.
    pub producers: usize,
}

/// What a running stage updates.
#[derive(Debug)]
pub(crate) struct Gauge {
    pid: Pid,
    kind: StageKind,
    buffered: AtomicUsize,
    demand: AtomicUsize,
    expected: AtomicUsize,
    consumers: AtomicUsize,
    producers: AtomicUsize,
}

/// The figures one publish sets.
pub(crate) struct Levels {
    pub(crate) buffered: usize,
    pub(crate) demand: usize,
    pub(crate) expected: usize,
    pub(crate) consumers: usize,
    pub(crate) producers: usize,
}

impl Gauge {
    pub(crate) fn publish(&self, l: Levels) {
        self.buffered.store(l.buffered, Ordering::Relaxed);
        self.demand.store(l.demand, Ordering::Relaxed);
        self.expected.store(l.expected, Ordering::Relaxed);
        self.consumers.store(l.consumers, Ordering::Relaxed);
        self.producers.store(l.producers, Ordering::Relaxed);
    }

    fn read(&self) -> StageFigures {
        StageFigures {
            pid: self.pid.clone(),
            kind: self.kind,
            buffered: self.buffered.load(Ordering::Relaxed),
            demand: self.demand.load(Ordering::Relaxed),
            expected: self.expected.load(Ordering::Relaxed),
            consumers: self.consumers.load(Ordering::Relaxed),
            producers: self.producers.load(Ordering::Relaxed),
        }
    }
}

/// The running stages; an entry dies with its stage (the stage holds the only `Arc`).
static LIVE: Mutex<Vec<Weak<Gauge>>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Weak<Gauge>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A gauge for a stage that has just started.
pub(crate) fn register(pid: Pid, kind: StageKind) -> Arc<Gauge> {
    let gauge = Arc::new(Gauge {
        pid,
        kind,
        buffered: AtomicUsize::new(0),
        demand: AtomicUsize::new(0),
        expected: AtomicUsize::new(0),
        consumers: AtomicUsize::new(0),
        producers: AtomicUsize::new(0),
    });
    let mut live = live();
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&gauge));
    gauge
}

/// The figures of every stage running in this OS process, in the order they started.
pub fn stages() -> Vec<StageFigures> {
    live()
        .iter()
        .filter_map(Weak::upgrade)
        .map(|g| g.read())
        .collect()
}
