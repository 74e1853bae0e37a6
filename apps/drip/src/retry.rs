//! Trying again with exponential back-off, for failures that pass: the metadata database
//! restarting or its connection lost, the object store briefly unreachable. Each kind of
//! failure has its [`Backoff`]: how long the first wait is, the longest wait, and how long
//! to keep trying in all before the failure is given back to the caller.
//!
//! The loop is the usual one (as Erlang's `backoff` library or Elixir's `Retry` have it):
//! wait, double the wait up to its cap, stop when patience runs out.

use std::future::Future;
use std::time::{Duration, Instant};

/// How to try again.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub most: Duration,
    /// Give up once this much time has passed since the first try.
    pub patience: Duration,
}

/// The metadata database: a restart of PostgreSQL, or its connections lost, within half a
/// minute (sqlx's pool itself waits for a server that refuses connections while it acquires
/// one, up to its own acquire timeout).
pub const DATABASE: Backoff = Backoff {
    first: Duration::from_millis(100),
    most: Duration::from_secs(5),
    patience: Duration::from_secs(30),
};

/// The object store: down and back within half a minute (each try also has object_store's
/// own few quick retries, within 15 s).
pub const STORAGE: Backoff = Backoff {
    first: Duration::from_millis(500),
    most: Duration::from_secs(8),
    patience: Duration::from_secs(30),
};

/// Runs `attempt` until it succeeds, fails in a way `passes` says will not pass, or
/// `backoff`'s patience runs out (then its last failure). Each failure tried again is logged
/// with `what`.
pub async fn again<T, E, F>(
    what: &str,
    backoff: Backoff,
    passes: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut wait = backoff.first;
    let mut tries = 1u32;
    loop {
        match attempt().await {
            Ok(v) => {
                if tries > 1 {
                    tracing::info!("{what}: done after {tries} tries");
                }
                return Ok(v);
            }
            Err(e) if passes(&e) && started.elapsed() + wait < backoff.patience => {
                tracing::warn!("{what} failed (try {tries}), trying again in {wait:?}: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(backoff.most);
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `what` on the metadata database, tried again (through [`DATABASE`]) while its failure
/// passes.
pub async fn database<T, F>(what: &str, attempt: impl FnMut() -> F) -> Result<T, crate::db::DbError>
where
    F: Future<Output = Result<T, crate::db::DbError>>,
{
    again(what, DATABASE, crate::db::DbError::is_transient, attempt).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tries_again_while_it_passes_then_gives_the_failure_back() {
        let quick = Backoff {
            first: Duration::from_millis(10),
            most: Duration::from_millis(40),
            patience: Duration::from_millis(300),
        };
        let mut n = 0;
        let got: Result<u32, String> = again(
            "a test",
            quick,
            |_| true,
            || {
                n += 1;
                let now = n;
                async move {
                    if now < 4 {
                        Err(format!("no {now}"))
                    } else {
                        Ok(now)
                    }
                }
            },
        )
        .await;
        assert_eq!(got, Ok(4));
        let mut n = 0;
        let got: Result<(), String> = again(
            "a test",
            quick,
            |e: &String| e != "fatal",
            || {
                n += 1;
                let now = n;
                async move {
                    Err(if now == 2 {
                        "fatal".to_owned()
                    } else {
                        "passing".to_owned()
                    })
                }
            },
        )
        .await;
        assert_eq!((got, n), (Err("fatal".to_owned()), 2));
        let mut n = 0u32;
        let got: Result<(), String> = again(
            "a test",
            quick,
            |_| true,
            || {
                n += 1;
                async { Err("down".to_owned()) }
            },
        )
        .await;
        assert_eq!(got, Err("down".to_owned()));
        // Waits of 10, 20, then 40 ms, within 300 ms of patience: nine tries at most.
        assert!((4..=9).contains(&n), "{n} tries");
    }
}
