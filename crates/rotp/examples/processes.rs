//! Chapter 1 of the guide: processes, links and monitors.
//!
//! `cargo run -p rotp-erlang --example processes`
//!
//! What to watch:
//! 1. `spawn`, `send` and a selective `receive`: the echo process answers each ping, and the
//!    main process takes the pong it waits for even though another message came first.
//! 2. A link: when one of two linked processes exits with `boom`, the other dies with it.
//! 3. `trap_exit`: a process that traps exits gets `{'EXIT', Pid, boom}` as a message instead,
//!    and lives on.
//! 4. A monitor: the watcher gets `{'DOWN', Ref, process, Pid, Reason}` when the watched
//!    process ends; a monitor is one-way, and the watcher is not harmed.
//!
//! The program prints one line per step and exits.

use std::time::Duration;

use rotp::prelude::*;
use rotp::tokio::sync::oneshot;

// ANCHOR: messages
/// What the echo process understands: a Rust value, sent within the node without copying
/// into a term.
enum Echo {
    Ping(Pid, u32),
}

/// What it answers.
struct Pong(u32);
// ANCHOR_END: messages

// ANCHOR: main
#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() {
    // Everything happens in processes: the program's own work runs in a first one, and `main`
    // waits until it is done.
    let (done, finished) = oneshot::channel();
    Runtime::default().spawn(|mut ctx| async move {
        step_1_messages(&mut ctx).await;
        step_2_links(&mut ctx).await;
        step_3_trap_exit(&mut ctx).await;
        step_4_monitors(&mut ctx).await;
        let _ = done.send(());
        ExitReason::Normal
    });
    let _ = finished.await;
}
// ANCHOR_END: main

// ANCHOR: step_1
async fn step_1_messages(ctx: &mut Context) {
    let echo = ctx.spawn(|mut ctx| async move {
        while let Ok(Echo::Ping(from, n)) = ctx.recv().await.downcast::<Echo>() {
            ctx.send(&from, Message::local(Pong(n)));
        }
        ExitReason::Normal
    });
    let me = ctx.pid().clone();
    // A message nobody waits for yet: it stays in the mailbox.
    ctx.send(&me, atom!(unrelated));
    ctx.send(&echo, Message::local(Echo::Ping(me, 1)));
    // Selective receive: the first message that matches, whatever came before it.
    let pong = ctx.receive(|m| m.downcast_ref::<Pong>().is_some()).await;
    if let Ok(Pong(n)) = pong.downcast::<Pong>() {
        println!("1. messages: sent ping {n}, got pong {n}");
    }
    if let Some(left) = ctx.recv().await.as_term() {
        println!("1. messages: still in the mailbox: {left}");
    }
    ctx.exit(&echo, ExitReason::Kill);
}
// ANCHOR_END: step_1

// ANCHOR: step_2
async fn step_2_links(ctx: &mut Context) {
    // A process that would wait forever...
    let partner = ctx.spawn(|mut ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    let watch = ctx.monitor(&partner);
    // ...linked to one that exits with `boom`: the exit signal travels the link.
    let p = partner.clone();
    ctx.spawn(move |ctx| async move {
        ctx.link(&p);
        ExitReason::atom("boom")
    });
    let down = ctx.receive(|m| m.is_down_for(&watch)).await;
    if let Some((_, _, reason)) = down.as_down() {
        println!(
            "2. links: the partner died with the crasher: {}",
            reason.to_term()
        );
    }
}
// ANCHOR_END: step_2

// ANCHOR: step_3
async fn step_3_trap_exit(ctx: &mut Context) {
    ctx.trap_exit(true);
    let crasher = ctx.spawn_link(|_| async { ExitReason::atom("boom") });
    let exit = ctx.receive(|m| m.as_exit().is_some()).await;
    if let Some((from, reason)) = exit.as_exit() {
        assert_eq!(from, crasher);
        println!(
            "3. trap_exit: got {{'EXIT', {}, {}}} as a message, and live on",
            Term::from(from),
            reason.to_term()
        );
    }
    ctx.trap_exit(false);
}
// ANCHOR_END: step_3

// ANCHOR: step_4
async fn step_4_monitors(ctx: &mut Context) {
    let worker = ctx.spawn(|mut ctx| async move {
        // Works a little, then finishes.
        let _ = ctx
            .receive_timeout(Duration::from_millis(50), |_| false)
            .await;
        ExitReason::Normal
    });
    let reference = ctx.monitor(&worker);
    let down = ctx.receive(|m| m.is_down_for(&reference)).await;
    if let Some((_, pid, reason)) = down.as_down() {
        println!(
            "4. monitors: {{'DOWN', Ref, process, {}, {}}}",
            Term::from(pid),
            reason.to_term()
        );
    }
}
// ANCHOR_END: step_4
