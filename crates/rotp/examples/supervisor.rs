//! Chapter 3 of the guide: supervision trees and restart strategies.
//!
//! `cargo run -p rotp-erlang --example supervisor`
//!
//! What to watch:
//! 1. Three workers `a`, `b`, `c` under one supervisor, and `b` crashes. Which of them come
//!    back with a new pid depends on the strategy:
//!    `one_for_one` restarts `b` only; `one_for_all` restarts all three; `rest_for_one`
//!    restarts `b` and the ones started after it, `c`.
//! 2. Restart intensity, in a tree: `root` supervises `workers`, which supervises `a` and
//!    allows 3 restarts in 5 seconds. `a` crashes four times: three times `workers` restarts
//!    it; the fourth time `workers` gives up and exits, and `root` restarts `workers` — with
//!    a fresh `a` under it. A crash goes up the tree only as far as a supervisor that copes.

use std::time::Duration;

use rotp::prelude::*;
use rotp::tokio::sync::oneshot;

// ANCHOR: worker
/// A worker that crashes when told to: `GenServer.cast(pid, :crash)`.
#[derive(Clone)]
struct Worker;

struct Crash;

impl GenServer for Worker {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = Crash;

    async fn init(&self, _: (), _: &mut Context) -> Init<()> {
        Init::Ok(())
    }

    async fn handle_call(
        &self,
        _: (),
        _: &gen_server::From,
        _: &mut (),
        _: &mut Context,
    ) -> CallReply<()> {
        CallReply::Reply(())
    }

    async fn handle_cast(&self, _: Crash, _: &mut (), _: &mut Context) -> NoReply {
        // {:stop, :boom, state}
        NoReply::Stop(ExitReason::atom("boom"))
    }
}
// ANCHOR_END: worker

#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() {
    let (done, finished) = oneshot::channel();
    Runtime::default().spawn(|mut ctx| async move {
        for (strategy, name) in [
            (Strategy::OneForOne, "one_for_one"),
            (Strategy::OneForAll, "one_for_all"),
            (Strategy::RestForOne, "rest_for_one"),
        ] {
            crash_b(&mut ctx, strategy, name).await;
        }
        intensity(&mut ctx).await;
        let _ = done.send(());
        ExitReason::Normal
    });
    let _ = finished.await;
}

// ANCHOR: strategies
async fn crash_b(ctx: &mut Context, strategy: Strategy, name: &str) {
    let children = ["a", "b", "c"]
        .map(|id| ChildSpec::gen_server(id, Worker, ()))
        .to_vec();
    let Ok(Some(sup)) = supervisor::start_link(ctx, Flags::new(strategy), children, None).await
    else {
        return println!("{name}: the supervisor did not start");
    };
    let before = which_children(ctx, &sup).await;
    if let Some(b) = child(&before, "b") {
        crash(ctx, &b).await;
    }
    let after = which_children(ctx, &sup).await;

    let (restarted, kept): (Vec<&str>, Vec<&str>) = ["a", "b", "c"]
        .into_iter()
        .partition(|id| child(&before, id) != child(&after, id));
    println!("{name}: b crashed; restarted {restarted:?}, kept {kept:?}");
    let _ = gen_server::stop(ctx, &sup, ExitReason::Normal, gen_server::DEFAULT_TIMEOUT).await;
}
// ANCHOR_END: strategies

// ANCHOR: intensity
async fn intensity(ctx: &mut Context) {
    let workers = Flags {
        strategy: Strategy::OneForOne,
        max_restarts: 3,
        max_seconds: Duration::from_secs(5),
    };
    let tree = vec![ChildSpec::supervisor_of(
        "workers",
        workers,
        vec![ChildSpec::gen_server("a", Worker, ())],
        None,
    )];
    let Ok(Some(root)) =
        supervisor::start_link(ctx, Flags::new(Strategy::OneForOne), tree, None).await
    else {
        return println!("intensity: the tree did not start");
    };
    for n in 1..=4 {
        let Some(workers) = child(&which_children(ctx, &root).await, "workers") else {
            break;
        };
        let Some(a) = child(&which_children(ctx, &workers).await, "a") else {
            break;
        };
        let watch = ctx.monitor(&workers);
        crash(ctx, &a).await;
        // A supervisor answers after it has dealt with the crash: it is still there (it
        // restarted `a`), or it gave up.
        let asked = supervisor::Request::WhichChildren;
        match gen_server::try_call::<_, supervisor::Response>(
            ctx,
            &workers,
            asked,
            Duration::from_secs(5),
        )
        .await
        {
            Ok(_) => println!("intensity: crash {n} of a: workers restarted it"),
            Err(_) => {
                let down = ctx.receive(|m| m.is_down_for(&watch)).await;
                let reason = down.as_down().map(|(_, _, reason)| reason.to_term());
                let new = child(&which_children(ctx, &root).await, "workers");
                println!(
                    "intensity: crash {n} of a: workers gave up ({}), root restarted it (a new pid: {})",
                    reason.map(|r| r.to_string()).unwrap_or_default(),
                    new.is_some_and(|new| new != workers)
                );
            }
        }
        ctx.demonitor(&watch, true);
    }
    let _ = gen_server::stop(ctx, &root, ExitReason::Normal, gen_server::DEFAULT_TIMEOUT).await;
}
// ANCHOR_END: intensity

// ANCHOR: helpers
/// `Supervisor.which_children/1`, as (id, pid) pairs.
async fn which_children(ctx: &mut Context, sup: &Pid) -> Vec<(String, Option<Pid>)> {
    match supervisor::request(ctx, sup, supervisor::Request::WhichChildren).await {
        supervisor::Response::Children(children) => children
            .into_iter()
            .map(|c| (c.id.as_str().to_owned(), c.pid))
            .collect(),
        _ => Vec::new(),
    }
}

/// The pid of child `id`, if it runs.
fn child(children: &[(String, Option<Pid>)], id: &str) -> Option<Pid> {
    children
        .iter()
        .find(|(c, _)| c == id)
        .and_then(|(_, pid)| pid.clone())
}

/// Makes `pid` crash and waits until it is gone.
async fn crash(ctx: &mut Context, pid: &Pid) {
    let gone = ctx.monitor(pid);
    gen_server::cast(ctx, pid, Crash);
    ctx.receive(|m| m.is_down_for(&gone)).await;
}
// ANCHOR_END: helpers
