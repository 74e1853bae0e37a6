//! What a server's callbacks return: [`Init`], [`CallReply`] and [`NoReply`], each with the
//! optional last element of gen_server's return tuples, an [`Action`]: a `timeout()`,
//! `hibernate` or `{continue, Term}`.
//!
//! The variants name the tuples; the methods [`timeout`](CallReply::timeout),
//! [`hibernate`](CallReply::hibernate) and [`continue_with`](CallReply::continue_with) add
//! the action to a return that has none, as writing the fourth element does in Elixir:
//!
//! ```
//! use rotp_otp::gen_server::{Action, CallReply, NoReply};
//! use std::time::Duration;
//!
//! // {:reply, 5, state, 1000}
//! let reply = CallReply::Reply(5).timeout(Duration::from_secs(1));
//! assert!(matches!(reply, CallReply::ReplyThen(5, Action::Timeout(_))));
//! // {:noreply, state, :hibernate}
//! assert!(matches!(NoReply::Continue.hibernate(), NoReply::Then(Action::Hibernate)));
//! ```

use std::time::Duration;

use etf::Term;
use runtime::ExitReason;

/// What the server does before it takes its next message: the last element of a
/// `{reply, R, S, Action}`, `{noreply, S, Action}` or `{ok, S, Action}`.
///
/// gen_server's loop (`gen_server:loop/7`) reads it so: a timeout waits that long for a
/// message and, if none comes, hands `handle_info` the atom `timeout`; `hibernate` waits
/// without limit; `{continue, Term}` runs `handle_continue` before any message.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `timeout()`: if no message at all arrives within it, `handle_info` gets
    /// `Message::Term(Term::atom("timeout"))`, the atom `timeout` as OTP delivers it. Any
    /// message that arrives first (a call, a cast, anything) cancels it: it does not run
    /// again unless that message's callback asks again. It is no timer: no reference, no
    /// `cancel_timer`; for a periodic tick that messages do not reset, use
    /// [`Context::send_after`](runtime::Context::send_after).
    Timeout(Duration),
    /// `hibernate`: in OTP, `proc_lib:hibernate/3` throws the process's stack away and
    /// compacts its heap until a message comes. A rotp process has nothing to compact: its
    /// state is a Rust value owned by the server's task, whose size the compiler fixed, and
    /// its memory is returned to the allocator as the value drops, not by a collector. So
    /// this waits for the next message as [`NoReply::Continue`] does; it is accepted so that
    /// servers written after Elixir's read the same. A server holding large buffers it can
    /// give back should do so itself (`Vec::shrink_to_fit`) before returning this.
    Hibernate,
    /// `{continue, Term}`: [`GenServer::handle_continue`](super::GenServer::handle_continue)
    /// runs with `Term` before the server takes any message.
    Continue(Term),
}

/// What `init` decides (`init/1`'s return values).
pub enum Init<S> {
    /// `{ok, State}`.
    Ok(S),
    /// `{ok, State, {continue, Continue}}`: `handle_continue` runs before any message (the
    /// same as `OkThen(State, Action::Continue(Continue))`).
    Continue(S, Term),
    /// `{ok, State, Action}`: a timeout, `hibernate` or `{continue, Term}` after `init`.
    OkThen(S, Action),
    /// `{stop, Reason}`: the start fails with `Reason` and the process exits with it.
    Stop(ExitReason),
    /// `ignore`: the start returns `ignore` and the process exits normally.
    Ignore,
}

/// What `handle_call` decides.
pub enum CallReply<R> {
    /// `{reply, Reply, State}`.
    Reply(R),
    /// `{reply, Reply, State, Action}`: reply, then the action.
    ReplyThen(R, Action),
    /// `{noreply, State}`: someone replies later with
    /// [`From::reply`](super::From::reply) — this process or any other it hands the
    /// `From` to.
    NoReply,
    /// `{noreply, State, Action}`.
    NoReplyThen(Action),
    /// `{stop, Reason, Reply, State}`: reply, then stop.
    StopReply(ExitReason, R),
    /// `{stop, Reason, State}`: stop without replying.
    Stop(ExitReason),
}

/// What `handle_cast`, `handle_info` and `handle_continue` decide.
pub enum NoReply {
    /// `{noreply, State}`.
    Continue,
    /// `{noreply, State, {continue, Term}}` (the same as `Then(Action::Continue(Term))`).
    ContinueWith(Term),
    /// `{noreply, State, Action}`: a timeout, `hibernate` or `{continue, Term}`.
    Then(Action),
    /// `{stop, Reason, State}`.
    Stop(ExitReason),
}

impl<S> Init<S> {
    /// `{ok, State, Timeout}`: `handle_info` gets `timeout` if no message comes within
    /// `timeout` of the start. Leaves `Stop` and `Ignore` as they are; replaces an action.
    pub fn timeout(self, timeout: Duration) -> Init<S> {
        self.then(Action::Timeout(timeout))
    }

    /// `{ok, State, hibernate}` (see [`Action::Hibernate`]).
    pub fn hibernate(self) -> Init<S> {
        self.then(Action::Hibernate)
    }

    /// `{ok, State, {continue, Term}}`.
    pub fn continue_with(self, term: Term) -> Init<S> {
        self.then(Action::Continue(term))
    }

    fn then(self, action: Action) -> Init<S> {
        match self {
            Init::Ok(s) | Init::Continue(s, _) | Init::OkThen(s, _) => Init::OkThen(s, action),
            other => other,
        }
    }

    /// The state and what to do first, or how the start ends.
    pub(crate) fn into_parts(self) -> Result<(S, Option<Action>), Option<ExitReason>> {
        match self {
            Init::Ok(s) => Ok((s, None)),
            Init::Continue(s, c) => Ok((s, Some(Action::Continue(c)))),
            Init::OkThen(s, action) => Ok((s, Some(action))),
            Init::Stop(reason) => Err(Some(reason)),
            Init::Ignore => Err(None),
        }
    }
}

impl<R> CallReply<R> {
    /// `{reply, R, State, Timeout}` or `{noreply, State, Timeout}`: `handle_info` gets
    /// `timeout` if no message comes within `timeout`. Leaves the stops as they are;
    /// replaces an action.
    ///
    /// ```
    /// use rotp_otp::gen_server::CallReply;
    /// use std::time::Duration;
    ///
    /// let idle: CallReply<()> = CallReply::NoReply.timeout(Duration::from_millis(100));
    /// # assert!(matches!(idle, CallReply::NoReplyThen(_)));
    /// ```
    pub fn timeout(self, timeout: Duration) -> CallReply<R> {
        self.then(Action::Timeout(timeout))
    }

    /// `… hibernate}` (see [`Action::Hibernate`]).
    pub fn hibernate(self) -> CallReply<R> {
        self.then(Action::Hibernate)
    }

    /// `… {continue, Term}}`: `handle_continue` runs after the reply is sent.
    pub fn continue_with(self, term: Term) -> CallReply<R> {
        self.then(Action::Continue(term))
    }

    fn then(self, action: Action) -> CallReply<R> {
        match self {
            CallReply::Reply(r) | CallReply::ReplyThen(r, _) => CallReply::ReplyThen(r, action),
            CallReply::NoReply | CallReply::NoReplyThen(_) => CallReply::NoReplyThen(action),
            stop => stop,
        }
    }
}

impl NoReply {
    /// `{noreply, State, Timeout}`: `handle_info` gets `timeout` if no message comes within
    /// `timeout`. Leaves `Stop` as it is; replaces an action.
    ///
    /// ```
    /// use rotp_otp::gen_server::NoReply;
    /// use std::time::Duration;
    ///
    /// let idle = NoReply::Continue.timeout(Duration::from_secs(30));
    /// # assert!(matches!(idle, NoReply::Then(_)));
    /// ```
    pub fn timeout(self, timeout: Duration) -> NoReply {
        self.then(Action::Timeout(timeout))
    }

    /// `{noreply, State, hibernate}` (see [`Action::Hibernate`]).
    pub fn hibernate(self) -> NoReply {
        self.then(Action::Hibernate)
    }

    /// `{noreply, State, {continue, Term}}`.
    pub fn continue_with(self, term: Term) -> NoReply {
        self.then(Action::Continue(term))
    }

    fn then(self, action: Action) -> NoReply {
        match self {
            NoReply::Stop(reason) => NoReply::Stop(reason),
            _ => NoReply::Then(action),
        }
    }

    /// What to do next: go on (with an action, or none), or stop.
    pub(crate) fn into_next(self) -> Result<Option<Action>, ExitReason> {
        match self {
            NoReply::Continue => Ok(None),
            NoReply::ContinueWith(term) => Ok(Some(Action::Continue(term))),
            NoReply::Then(action) => Ok(Some(action)),
            NoReply::Stop(reason) => Err(reason),
        }
    }
}
