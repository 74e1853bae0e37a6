//! Program 1 in kameo: a counter actor supervised one_for_one (kameo's `supervise`), whose
//! `Boom` handler returns an error: a `tell` that errs is a panic, and the supervisor restarts
//! the actor behind the same `ActorRef`, from a clone of its first state.

use std::time::Duration;

use kameo::actor::{ActorRef, Spawn};
use kameo::message::{Context, Message};
use kameo::Actor;

/// The counter.
#[derive(Actor, Clone, Default)]
pub struct Counter {
    n: i64,
}

/// Add one.
pub struct Inc;
/// The count.
pub struct Get;
/// Crash.
pub struct Boom;

impl Message<Inc> for Counter {
    type Reply = ();

    async fn handle(&mut self, _: Inc, _: &mut Context<Self, ()>) {
        self.n += 1;
    }
}

impl Message<Get> for Counter {
    type Reply = i64;

    async fn handle(&mut self, _: Get, _: &mut Context<Self, i64>) -> i64 {
        self.n
    }
}

impl Message<Boom> for Counter {
    type Reply = Result<(), &'static str>;

    async fn handle(&mut self, _: Boom, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        Err("boom")
    }
}

/// The supervisor.
#[derive(Actor)]
pub struct Supervisor;

/// Starts the supervisor and the counter under it.
pub async fn start() -> (ActorRef<Supervisor>, ActorRef<Counter>) {
    let supervisor = Supervisor::spawn(Supervisor);
    // The bench crashes it a thousand times in a row; kameo's default allows 5 in 5 s.
    let counter = Counter::supervise(&supervisor, Counter::default())
        .restart_limit(100_000, Duration::from_secs(5))
        .spawn()
        .await;
    (supervisor, counter)
}
