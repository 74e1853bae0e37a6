//! What became of an upload, for the request that brought its bytes: it is answered only once
//! the pipeline has stored it (the object written and the row marked) or failed it, so no
//! upload answered 2xx lives only on one node's disk.
//!
//! The request registers the upload's id ([`Outcomes::wait`]) before the task is queued; the
//! stage where the task ends (the Notifier, or the failure path of any stage) completes it
//! ([`Outcomes::complete`]). A request dropped meanwhile (its client gone) takes its entry
//! away with it; the task goes on regardless and ends stored or reported failed, as any
//! other. A task taken up again after a restart has nobody waiting: completing it is a no-op.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its object is in storage and its row says stored.
    Stored,
    /// It was reported failed and left nothing.
    Failed(Failure),
}

/// Why a task failed, as its waiting request answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The data directory had no room to seal it.
    NoRoom,
    /// The storage failed (after its retries).
    Storage,
    /// Its row went meanwhile: deleted, or its lease ran out and another node removed it.
    Gone,
    /// Anything else, in a sentence for its user.
    Other(String),
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

/// The requests waiting for their uploads' outcomes, by upload id.
#[derive(Clone, Default)]
pub struct Outcomes(Waiters);

/// One request's wait: dropping it (the request ended) takes its entry away.
pub struct Waiting {
    id: String,
    waiters: Waiters,
    outcome: oneshot::Receiver<Outcome>,
}

impl Waiting {
    /// The outcome, once [`Outcomes::complete`] tells it (`None` if the registry dropped it).
    pub async fn outcome(&mut self) -> Option<Outcome> {
        (&mut self.outcome).await.ok()
    }
}

impl Outcomes {
    /// Registers a wait for the upload `id`'s outcome.
    pub fn wait(&self, id: &str) -> Waiting {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id.to_owned(), tx);
        Waiting {
            id: id.to_owned(),
            waiters: self.0.clone(),
            outcome: rx,
        }
    }

    /// The upload `id` ended so: its waiting request, if any, is told.
    pub fn complete(&self, id: &str, outcome: Outcome) {
        if let Some(tx) = self.lock().remove(id) {
            let _ = tx.send(outcome);
        }
    }

    /// How many requests wait.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        // A panic while holding it leaves a map that is still whole: go on with it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiters = self
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        waiters.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_gets_its_outcome_once_and_a_dropped_wait_leaves_nothing() {
        let outcomes = Outcomes::default();
        let mut w = outcomes.wait("a");
        outcomes.complete("a", Outcome::Failed(Failure::Storage));
        // A second attempt's completion finds nobody.
        outcomes.complete("a", Outcome::Stored);
        assert_eq!(w.outcome().await, Some(Outcome::Failed(Failure::Storage)));
        let dropped = outcomes.wait("b");
        assert_eq!(outcomes.waiting(), 1);
        drop(dropped);
        assert_eq!(outcomes.waiting(), 0);
        outcomes.complete("b", Outcome::Stored);
    }
}
