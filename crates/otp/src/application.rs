//! An application: the root supervision tree a node starts and stops. [`run`] starts the tree
//! and waits ([`start`] and [`Running::wait`], for a program with more to do meanwhile); SIGTERM (or SIGINT) shuts it down — children last-started first, each within its
//! shutdown timeout — and then `run` returns, so the program can exit 0, as an Erlang release
//! does on SIGTERM (`init:stop/0`).
//!
//! ```no_run
//! use rotp_otp::application::{self, Stopped};
//! use rotp_otp::supervisor::{ChildSpec, Flags, Strategy};
//!
//! # #[derive(Clone)] struct Counter;
//! # impl rotp_otp::GenServer for Counter {
//! #     type Args = i64; type State = i64; type Call = (); type Reply = i64; type Cast = ();
//! #     async fn init(&self, n: i64, _: &mut runtime::Context) -> rotp_otp::Init<i64> { rotp_otp::Init::Ok(n) }
//! #     async fn handle_call(&self, _: (), _: &rotp_otp::From, n: &mut i64, _: &mut runtime::Context) -> rotp_otp::CallReply<i64> { rotp_otp::CallReply::Reply(*n) }
//! # }
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let runtime = runtime::Runtime::default();
//!     // The tree of `mix new counter --sup`: Counter.Supervisor over one Counter.
//!     let children = vec![ChildSpec::gen_server("counter", Counter, 0)];
//!     match application::run(&runtime, "counter_sup", Flags::new(Strategy::OneForOne), children).await? {
//!         Stopped::Signal => Ok(()), // SIGTERM: the tree shut down in order
//!         stopped => Err(std::io::Error::other(format!("{stopped:?}"))),
//!     }
//! }
//! ```

use etf::{Atom, Pid, Term};
use runtime::{ExitReason, Message, Runtime};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::oneshot;

use crate::supervisor::{self, ChildSpec, Flags};

/// Why the application ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stopped {
    /// A signal asked it to stop, and the tree shut down.
    Signal,
    /// The root supervisor exited by itself (its restart intensity was exceeded, say).
    RootExited(ExitReason),
    /// The tree could not start.
    StartFailed(ExitReason),
}

/// Starts `children` under a root supervisor registered as `name`, and runs until a signal
/// or the root's exit: [`start`], then [`Running::wait`].
pub async fn run(
    runtime: &Runtime,
    name: &str,
    flags: Flags,
    children: Vec<ChildSpec>,
) -> std::io::Result<Stopped> {
    match start(runtime, name, flags, children).await? {
        Ok(running) => Ok(running.wait().await),
        Err(stopped) => Ok(stopped),
    }
}

/// A started application: its tree runs until [`Running::wait`] sees SIGTERM, SIGINT or the
/// root's exit, or [`Running::stop`] stops it.
pub struct Running {
    runtime: Runtime,
    master: Pid,
    ended: oneshot::Receiver<Stopped>,
    terminate: Signal,
    interrupt: Signal,
}

/// Starts `children` under a root supervisor registered as `name` and returns once they have
/// all started (`Ok(Err(Stopped::StartFailed(..)))` if one could not), with SIGTERM and SIGINT
/// already taken from their default (ending the program at once) so the tree can shut down in
/// order. `Err` only if the signal handlers could not be set up.
pub async fn start(
    runtime: &Runtime,
    name: &str,
    flags: Flags,
    children: Vec<ChildSpec>,
) -> std::io::Result<Result<Running, Stopped>> {
    let terminate = signal(SignalKind::terminate())?;
    let interrupt = signal(SignalKind::interrupt())?;
    let (started_tx, started_rx) = oneshot::channel();
    let (ended_tx, ended_rx) = oneshot::channel();
    let name = Atom::from(name);
    // The application master: owns the root supervisor and reports how it ended.
    let master = runtime.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let root = supervisor::start_link(&mut ctx, flags, children, Some(name.into())).await;
        let root = match root {
            Ok(Some(pid)) => pid,
            Ok(None) => {
                let _ = started_tx.send(Err(ExitReason::atom("ignore")));
                return ExitReason::Normal;
            }
            Err(reason) => {
                let _ = started_tx.send(Err(reason));
                return ExitReason::Normal;
            }
        };
        let _ = started_tx.send(Ok(()));
        let r = root.clone();
        let message = ctx
            .receive(|m| {
                m.as_exit().is_some_and(|(p, _)| p == r) || m.as_term() == Some(&Term::atom("stop"))
            })
            .await;
        let ended = match message.as_exit() {
            Some((_, reason)) => Stopped::RootExited(reason),
            None => {
                // Orderly stop: shut the root down (it stops its children in reverse order)
                // and wait for it.
                let monitor = ctx.monitor(&root);
                ctx.exit(&root, ExitReason::Shutdown);
                ctx.receive(|m: &Message| m.as_down().is_some_and(|(x, _, _)| x == monitor))
                    .await;
                Stopped::Signal
            }
        };
        let _ = ended_tx.send(ended);
        ExitReason::Normal
    });
    match started_rx.await {
        Ok(Ok(())) => Ok(Ok(Running {
            runtime: runtime.clone(),
            master,
            ended: ended_rx,
            terminate,
            interrupt,
        })),
        Ok(Err(reason)) => Ok(Err(Stopped::StartFailed(reason))),
        Err(_) => Ok(Err(Stopped::StartFailed(ExitReason::atom("master_died")))),
    }
}

impl Running {
    /// Waits for SIGTERM or SIGINT, then shuts the tree down in order ([`Stopped::Signal`]),
    /// or for the root supervisor to exit by itself ([`Stopped::RootExited`]).
    pub async fn wait(mut self) -> Stopped {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
            ended = &mut self.ended => {
                return ended.unwrap_or(Stopped::RootExited(ExitReason::atom("master_died")));
            }
        }
        self.stop().await
    }

    /// Shuts the tree down now, in order, as a signal would ([`Stopped::Signal`]; or how the
    /// root had already ended).
    pub async fn stop(self) -> Stopped {
        self.runtime.send(&self.master, Term::atom("stop"));
        self.ended.await.unwrap_or(Stopped::Signal)
    }
}
