//! The live pages' event streams, shared: one poller per target and kind of figures reads the
//! target every interval while anyone watches, and every open stream of that page gets its
//! readings (a `tokio::sync::watch` channel: the newest reading, and a note when it changes).
//! N viewers of a node's home page cost that node one `window::collect` per interval, not N.
//! A poller stops when its last viewer leaves. Open streams are capped
//! ([`Config::max_streams`](crate::Config::max_streams)): one past the cap is answered
//! `503` in a sentence, before any poller starts.
//!
//! As bottom keeps collecting apart from drawing: the pollers collect, the streams only send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etf::Atom;
use futures::Stream;
use node::Node;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::pages;

/// How long a reading may wait for a node's answers.
const READ: Duration = Duration::from_secs(10);

/// Which figures a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// The home page's (`window::collect`), as `summary` events.
    Summary,
    /// The OS page's (`window::os::collect`), as `summary` events.
    Os,
    /// The pipelines page's (`window::stages`), as `stages` events.
    Stages,
}

impl Kind {
    /// How often its figures are read.
    fn every(self) -> Duration {
        match self {
            Kind::Summary | Kind::Os => Duration::from_secs(2),
            Kind::Stages => Duration::from_secs(1),
        }
    }

    /// One reading of `target`: the event's kind and data, or a `down` event saying why not.
    async fn read(self, node: &Node, target: &Atom) -> Reading {
        let read = match self {
            Kind::Summary => window::collect(node, target, READ)
                .await
                .map(|s| ("summary", pages::summary_fields(&s).to_string())),
            Kind::Os => window::os::collect(node, target, READ)
                .await
                .map(|o| ("summary", pages::os_fields(&o).to_string())),
            Kind::Stages => window::stages(node, target, READ).await.map(|st| {
                (
                    "stages",
                    serde_json::to_string(&st).unwrap_or_else(|_| "[]".to_owned()),
                )
            }),
        };
        match read {
            Ok((event, data)) => Reading { event, data },
            Err(e) => Reading {
                event: "down",
                data: format!("{e}; retrying"),
            },
        }
    }
}

/// One reading, as a server-sent event: its `event:` and `data:`.
#[derive(Clone, Debug)]
pub(crate) struct Reading {
    /// `summary`, `stages` or `down`.
    pub(crate) event: &'static str,
    /// The figures (JSON), or why there are none.
    pub(crate) data: String,
}

type Channel = Arc<watch::Sender<Option<Reading>>>;
type Pollers = Arc<Mutex<HashMap<(Kind, Atom), Channel>>>;

/// Every poller, and the streams' slots.
pub(crate) struct Live {
    pollers: Pollers,
    slots: Arc<Semaphore>,
    max: usize,
}

/// One past [`Config::max_streams`](crate::Config::max_streams).
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} live views are open, the most this dashboard serves at once: close one (a tab of a \
     home, OS or pipelines page) and reload"
)]
pub(crate) struct TooMany(pub(crate) usize);

impl Live {
    /// At most `max` streams open at once.
    pub(crate) fn new(max: usize) -> Live {
        Live {
            pollers: Arc::default(),
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A stream of `kind`'s readings of `target`: the newest one now (if any), then each new
    /// one. Starts the poller if no one else watches.
    pub(crate) fn subscribe(
        &self,
        node: &Node,
        kind: Kind,
        target: Atom,
    ) -> Result<impl Stream<Item = Reading> + Send + 'static, TooMany> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| TooMany(self.max))?;
        let rx = {
            let mut pollers = self.pollers.lock().unwrap_or_else(|e| e.into_inner());
            let key = (kind, target);
            match pollers.get(&key) {
                Some(channel) => channel.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let channel = Arc::new(tx);
                    pollers.insert(key.clone(), channel.clone());
                    tokio::spawn(poll(self.pollers.clone(), key, channel, node.clone()));
                    rx
                }
            }
        };
        Ok(readings(rx, slot))
    }
}

/// Reads `key`'s target every interval while anyone watches, then forgets itself.
async fn poll(pollers: Pollers, key: (Kind, Atom), channel: Channel, node: Node) {
    let (kind, target) = (key.0, key.1.clone());
    loop {
        let reading = kind.read(&node, &target).await;
        channel.send_replace(Some(reading));
        tokio::select! {
            () = tokio::time::sleep(kind.every()) => {}
            () = channel.closed() => {}
        }
        // Under the lock a new viewer subscribes with: either it sees this poller and is
        // counted here, or it finds none and starts another.
        let mut pollers = pollers.lock().unwrap_or_else(|e| e.into_inner());
        if channel.receiver_count() == 0 {
            if pollers.get(&key).is_some_and(|c| Arc::ptr_eq(c, &channel)) {
                pollers.remove(&key);
            }
            return;
        }
    }
}

/// Each reading `rx` sees, the current one first if there is one; holding `slot` while the
/// stream lives.
fn readings(
    rx: watch::Receiver<Option<Reading>>,
    slot: OwnedSemaphorePermit,
) -> impl Stream<Item = Reading> + Send + 'static {
    futures::stream::unfold((rx, slot, false), |(mut rx, slot, mut wait)| async move {
        loop {
            if wait {
                // The poller is gone only when no one watches: not while this stream does.
                rx.changed().await.ok()?;
            }
            let reading = rx.borrow_and_update().clone();
            if let Some(reading) = reading {
                return Some((reading, (rx, slot, true)));
            }
            wait = true;
        }
    })
}
