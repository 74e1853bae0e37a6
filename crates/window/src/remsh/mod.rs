//! `rotp remsh`: a remote shell into a BEAM node, as `erl -remsh` and `iex --remsh` give one.
//!
//! The shell runs on the target, as erl's own does: rotp asks the target's `rex` to start
//! `shell:start/0` (or `IEx.start/2`) with a rotp process as its group leader, and that process
//! is the local side of the Erlang I/O protocol (`io_request`/`io_reply`, as kernel's
//! `group.erl` is for erl). Output the target writes reaches the local terminal; lines the
//! user types go back as the shell's requests ask for them. Bindings, history numbers, `v(N)`
//! and `f()` live in the target's shell, so they behave as in erl. The terminal itself (line
//! editing, history, completion keys) is the caller's, behind [`Terminal`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use rotp_window::remsh::{self, Ended, Expander, Read, Shell, Terminal};
//!
//! /// A bare terminal: standard input and output, no line editing.
//! struct Plain;
//!
//! impl Terminal for Plain {
//!     fn read_line(&self, prompt: &str, _password: bool) -> Read {
//!         print!("{prompt}");
//!         let _ = std::io::Write::flush(&mut std::io::stdout());
//!         let mut line = String::new();
//!         match std::io::stdin().read_line(&mut line) {
//!             Ok(0) | Err(_) => Read::Eof,
//!             Ok(_) => Read::Line(line.trim_end_matches('\n').to_owned()),
//!         }
//!     }
//!     fn print(&self, text: &str) {
//!         print!("{text}");
//!     }
//!     fn geometry(&self) -> (u16, u16) {
//!         (80, 24)
//!     }
//!     fn set_expander(&self, _: Expander) {}
//! }
//!
//! # async fn demo(node: node::Node) -> Result<(), rotp_window::remsh::RemshError> {
//! // `iex --remsh drip@db1 --cookie secret`, from a running rotp node.
//! let target = etf::Atom::from("drip@db1");
//! let shell = remsh::detect(&node, &target).await; // IEx if the target runs Elixir
//! let (_ctrl_c, interrupts) = tokio::sync::mpsc::unbounded_channel();
//! match remsh::run(&node, &target, shell, Arc::new(Plain), interrupts).await? {
//!     Ended::Left => println!("left the shell; the node runs on"),
//!     Ended::ShellExited(reason) => println!("the shell ended: {reason}"),
//!     Ended::NodeDown => println!("the node went down"),
//! }
//! # Ok(()) }
//! ```

mod chardata;
mod console;
mod io_server;

pub use chardata::to_string as chardata_to_string;
pub use console::console;
pub use io_server::{Expander, Expansion};

use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use node::Node;
use otp::gen_server::ServerRef;
use runtime::{Context, ExitReason};
use tokio::sync::mpsc;

/// Which shell to start on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    /// The Erlang shell, `shell:start/0`.
    Erlang,
    /// IEx, `IEx.start/2` (what `iex --remsh` starts).
    Elixir,
}

/// What reading a line gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// A line, without its newline.
    Line(String),
    /// Ctrl-C while reading.
    Interrupted,
    /// Ctrl-D on an empty line, or the input ended.
    Eof,
}

/// The local terminal: it reads lines (with editing, history and completion if it can) and
/// prints what the target writes, also while a line is being read.
pub trait Terminal: Send + Sync + 'static {
    /// Reads one line after `prompt`, blocking; with `password`, what is typed is not shown.
    fn read_line(&self, prompt: &str, password: bool) -> Read;
    /// Prints `text` as it is (it carries its own newlines).
    fn print(&self, text: &str);
    /// Columns and rows, for `get_geometry`.
    fn geometry(&self) -> (u16, u16);
    /// Tab completion from now on asks `expander` (the target's `expand_fun`).
    fn set_expander(&self, expander: Expander);
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// The user left (Ctrl-D): the shell on the target was stopped, the node runs on.
    Left,
    /// The shell on the target ended with this reason (`q()` stops the node itself, as it
    /// does under `erl -remsh`).
    ShellExited(Term),
    /// The connection to the node was lost.
    NodeDown,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemshError {
    /// The node could not be reached.
    #[error("cannot connect to {0} (is it up, and is the cookie right?)")]
    NoConnection(Atom),
    /// This process's terminal could not be set up for line editing.
    #[error("the terminal: {0}")]
    Terminal(String),
    /// The target did not start a shell.
    #[error("{node} did not start a shell: {reason}")]
    NoShell {
        /// The target.
        node: Atom,
        /// What `rex` answered, as Erlang text.
        reason: String,
    },
}

/// What the target runs for each shell: `{M, F, Args}`.
fn start_mfa(shell: Shell) -> (&'static str, &'static str, Vec<Term>) {
    match shell {
        Shell::Erlang => ("shell", "start", Vec::new()),
        // As `iex --remsh` asks for it: IEx's server with no extra options, showing no
        // result for its start function.
        Shell::Elixir => (
            "Elixir.IEx",
            "start",
            vec![
                Term::NIL,
                Term::Tuple(vec![
                    Term::atom("Elixir.IEx"),
                    Term::atom("dont_display_result"),
                    Term::NIL,
                ]),
            ],
        ),
    }
}

/// Whether `target` runs IEx (an `iex` node has `Elixir.IEx` loaded; a plain `erl` node does
/// not).
pub async fn detect(node: &Node, target: &Atom) -> Shell {
    let loaded = node
        .rpc(
            target,
            "code",
            "is_loaded",
            vec![Term::atom("Elixir.IEx")],
            Duration::from_secs(10),
        )
        .await;
    match loaded {
        Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("file") => Shell::Elixir,
        _ => Shell::Erlang,
    }
}

/// Runs a shell on `target` until the user leaves, the shell ends or the node goes down.
/// Each `()` on `interrupts` (the CLI's Ctrl-C while the shell evaluates) interrupts the
/// evaluator, as erl's job control does (`exit(Shell, interrupt)`, kernel's `group.erl`).
pub async fn run(
    node: &Node,
    target: &Atom,
    shell: Shell,
    terminal: Arc<dyn Terminal>,
    mut interrupts: mpsc::UnboundedReceiver<()>,
) -> Result<Ended, RemshError> {
    if !node.connect(target).await {
        return Err(RemshError::NoConnection(target.clone()));
    }
    let (node, target) = (node.clone(), target.clone());
    let outcome = node
        .clone()
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            let shell_pid = start_shell(&mut ctx, &target, shell).await?;
            ctx.link(&shell_pid);
            terminal.set_expander(Expander::default_for(&node, &target));
            let mut server = io_server::IoServer::new(node, target, terminal);
            let ended = server.serve(&mut ctx, &shell_pid, &mut interrupts).await;
            if ended == Ended::Left {
                ctx.exit(&shell_pid, ExitReason::Kill);
            }
            Ok(ended)
        })
        .await;
    outcome.unwrap_or(Ok(Ended::NodeDown))
}

/// `rpc:call(Target, M, F, A)` with this process as the call's group leader, as group.erl
/// starts a remote shell (`{call, M, F, A, GroupLeader}` to `rex`): the shell it spawns
/// inherits it.
async fn start_shell(ctx: &mut Context, target: &Atom, shell: Shell) -> Result<Pid, RemshError> {
    let (m, f, a) = start_mfa(shell);
    let request = Term::Tuple(vec![
        Term::atom("call"),
        Term::atom(m),
        Term::atom(f),
        Term::List(a),
        Term::Pid(ctx.pid().clone()),
    ]);
    let rex = ServerRef::Remote(Atom::from("rex"), target.clone());
    match otp::gen_server::try_call_term(ctx, rex, request, Duration::from_secs(30)).await {
        Ok(Term::Pid(p)) => Ok(p),
        Ok(other) => Err(RemshError::NoShell {
            node: target.clone(),
            reason: etf::text::write_limited(&other, 300),
        }),
        Err(e) => Err(RemshError::NoShell {
            node: target.clone(),
            reason: format!("{e:?}"),
        }),
    }
}
