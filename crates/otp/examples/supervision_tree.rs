//! A supervision tree that survives crashing workers, printed as it heals.
//!
//! `cargo run -p rotp-otp --example supervision_tree [-- SECONDS]`: three workers under a
//! `rest_for_one` root; every so often one of them crashes and the supervisor restarts it (and
//! the ones after it). Stop it with Ctrl-C or SIGTERM: the tree shuts down in reverse order and
//! the program exits 0. With SECONDS it stops itself after that long.

use std::process::ExitCode;
use std::time::Duration;

use etf::Term;
use rotp_otp::application::{self, Stopped};
use rotp_otp::gen_server::{CallReply, GenServer, Init, NoReply};
use rotp_otp::supervisor::{ChildSpec, Flags, Strategy};
use runtime::{Context, ExitReason, Message, Runtime};

/// A worker that announces itself, ticks every 300 ms, crashes at tick `crash_after` (never
/// when 0), and says goodbye when its supervisor shuts it down.
#[derive(Clone)]
struct Ticker {
    name: &'static str,
    crash_after: u32,
}

/// The next tick, 300 ms from now.
fn tick_later(ctx: &Context) {
    let (runtime, me) = (ctx.runtime().clone(), ctx.pid().clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        runtime.send(&me, Message::Term(Term::atom("tick")));
    });
}

impl GenServer for Ticker {
    type Args = ();
    type State = u32;
    type Call = ();
    type Reply = ();
    type Cast = ();

    async fn init(&self, _: (), ctx: &mut Context) -> Init<u32> {
        // Trapping exits, the server gets its supervisor's shutdown through `terminate`.
        ctx.trap_exit(true);
        println!(
            "  {} started as {}",
            self.name,
            Term::Pid(ctx.pid().clone())
        );
        tick_later(ctx);
        Init::Ok(0)
    }

    async fn handle_call(
        &self,
        _: (),
        _: &rotp_otp::From,
        _: &mut u32,
        _: &mut Context,
    ) -> CallReply<()> {
        CallReply::Reply(())
    }

    async fn handle_info(&self, message: Message, ticks: &mut u32, ctx: &mut Context) -> NoReply {
        if message.as_term() == Some(&Term::atom("tick")) {
            *ticks += 1;
            if *ticks == self.crash_after {
                println!("  {} crashes!", self.name);
                return NoReply::Stop(ExitReason::atom("boom"));
            }
            tick_later(ctx);
        }
        NoReply::Continue
    }

    async fn terminate(&self, reason: &ExitReason, _: &mut u32, _: &mut Context) {
        if *reason != ExitReason::atom("boom") {
            println!("  {} stopping: {}", self.name, reason.to_term());
        }
    }
}

fn worker(name: &'static str, crash_after: u32) -> ChildSpec {
    ChildSpec::gen_server(name, Ticker { name, crash_after }, ())
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
