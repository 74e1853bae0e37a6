//! A supervision tree that survives crashing workers, printed as it heals.
//!
//! `cargo run -p otp --example supervision_tree [-- SECONDS]`: three workers under a
//! `rest_for_one` root; every so often one of them crashes and the supervisor restarts it (and
//! the ones after it). Stop it with Ctrl-C or SIGTERM: the tree shuts down in reverse order and
//! the program exits 0. With SECONDS it stops itself after that long.

use std::process::ExitCode;
use std::time::Duration;

use etf::Term;
use otp::application::{self, Stopped};
use otp::supervisor::{ChildSpec, Flags, Strategy};
use runtime::{Context, ExitReason, Runtime};

/// A worker that announces itself, crashes after `crash_after` ticks, and says goodbye when
/// its supervisor shuts it down.
fn worker(name: &'static str, crash_after: u32) -> ChildSpec {
    ChildSpec::worker(name, move |ctx: &mut Context, _extra| {
        Box::pin(async move {
            let me = ctx.pid().clone();
            let pid = ctx.spawn_link(move |mut c| async move {
                c.trap_exit(true);
                println!("  {name} started as {}", Term::Pid(c.pid().clone()));
                c.send(&me, Term::atom("up"));
                for tick in 1.. {
                    if let Some(m) = c
                        .receive_timeout(Duration::from_millis(300), |m| m.as_exit().is_some())
                        .await
                    {
                        let (_, reason) = m
                            .as_exit()
                            .unwrap_or((c.pid().clone(), ExitReason::Shutdown));
                        println!("  {name} stopping: {}", reason.to_term());
                        return reason;
                    }
                    if tick == crash_after {
                        println!("  {name} crashes!");
                        return ExitReason::atom("boom");
                    }
                }
                ExitReason::Normal
            });
            ctx.receive(|m| m.as_term() == Some(&Term::atom("up")))
                .await;
            Ok(Some(pid))
        })
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let seconds: Option<u64> = std::env::args().nth(1).and_then(|s| s.parse().ok());
    let runtime = Runtime::default();
    let flags = Flags {
        max_restarts: 10,
        ..Flags::new(Strategy::RestForOne)
    };
    let children = vec![worker("database", 0), worker("cache", 7), worker("web", 4)];
    println!("starting the tree (rest_for_one: a crash restarts the worker and those after it)");
    if let Some(s) = seconds {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(s)).await;
            // As `kill -TERM` from outside would.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &std::process::id().to_string()])
                .status();
        });
    }
    match application::run(&runtime, "demo_sup", flags, children).await {
        Ok(Stopped::Signal) => {
            println!("tree stopped; bye");
            ExitCode::SUCCESS
        }
        Ok(other) => {
            println!("tree ended: {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("cannot watch signals: {e}");
            ExitCode::from(2)
        }
    }
}
