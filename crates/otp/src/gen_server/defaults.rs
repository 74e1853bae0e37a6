//! What the callbacks a server leaves out do, after the defaults Elixir's `use GenServer`
//! injects (`lib/elixir/lib/gen_server.ex`, `__using__/1` and `__before_compile__/1`), and
//! the report gen_server prints when a server stops abnormally (`gen_server:error_info/7`).

use std::any::Any;

use etf::Term;
use runtime::logger::{report, Kind};
use runtime::{Context, ExitReason, Message};

use super::{GenServer, Init};

/// The server as Elixir's defaults name it: its registered name, else its pid.
fn proc_name(ctx: &Context) -> Term {
    ctx.runtime()
        .process_info(ctx.pid())
        .and_then(|info| info.registered_name)
        .map_or_else(|| Term::Pid(ctx.pid().clone()), Term::Atom)
}

/// `init(init_arg) -> {:ok, init_arg}`, Elixir's default for a module without `init/1`:
/// the arguments are the state when `Args` is `State`; otherwise the start fails at once with
/// `{bad_init, <<"…">>}`, naming both types.
pub(super) fn init<G: GenServer>(args: G::Args) -> Init<G::State> {
    match (Box::new(args) as Box<dyn Any>).downcast::<G::State>() {
        Ok(state) => Init::Ok(*state),
        Err(_) => {
            let text = format!(
                "{} has no init: its Args ({}) are not its State ({}), so they cannot become it \
                 as they are; write init",
                std::any::type_name::<G>(),
                std::any::type_name::<G::Args>(),
                std::any::type_name::<G::State>(),
            );
            Init::Stop(ExitReason::Other(Term::Tuple(vec![
                Term::atom("bad_init"),
                Term::Binary(text.into_bytes().into()),
            ])))
        }
    }
}

/// Elixir's default `handle_call/3` and `handle_cast/2` raise
/// `"attempted to call GenServer … but no handle_call/3 clause was provided"`: the server
/// stops with that error as its reason (here a `{panic, <<"…">>}`, rotp's form of a raised
/// error), which the caller's call exits with.
pub(super) fn missing(ctx: &Context, what: &str, callback: &str) -> ExitReason {
    ExitReason::Panic(format!(
        "attempted to {what} GenServer {} but no {callback} clause was provided",
        proc_name(ctx)
    ))
}

/// Elixir's default `handle_info/2`: logs the message at the error level and goes on.
pub(super) fn unexpected_info<G: GenServer>(ctx: &Context, message: &Message) {
    report(
        Kind::Error,
        &format!(
            "{} {} received unexpected message in handle_info/2: {message:?}",
            std::any::type_name::<G>(),
            proc_name(ctx)
        ),
    );
}

/// The message a server handled last, as its terminating report names it (a Rust value has
/// no term to print, so calls and casts are named by their kind and caller).
#[derive(Clone, Debug, Default)]
pub(super) enum Last {
    /// None yet (`init`'s `{continue, _}` or timeout).
    #[default]
    None,
    /// A call from this pid.
    Call(etf::Pid),
    /// A cast.
    Cast,
    /// Another message (`handle_info`).
    Info,
    /// The `timeout` of a return's timeout.
    Timeout,
    /// A `{continue, _}`.
    Continue,
}

impl std::fmt::Display for Last {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Last::None => f.write_str("[]"),
            Last::Call(from) => write!(f, "a call from {}", Term::Pid(from.clone())),
            Last::Cast => f.write_str("a cast"),
            Last::Info => f.write_str("a message for handle_info"),
            Last::Timeout => f.write_str("timeout"),
            Last::Continue => f.write_str("a continue"),
        }
    }
}

/// `gen_server:error_info/7`: a server stopped with a reason other than `normal`, `shutdown`
/// or `{shutdown, _}`. The state is not shown: a `State` need not be printable.
pub(super) fn terminating(ctx: &Context, reason: &ExitReason, last: &Last) {
    if reason.is_normal_or_shutdown() {
        return;
    }
    report(
        Kind::Error,
        &format!(
            "** Generic server {} terminating \n** Last message in was {last}\n\
             ** Reason for termination ==\n** {}",
            proc_name(ctx),
            runtime::logger::format_term(&reason.to_term()),
        ),
    );
}
