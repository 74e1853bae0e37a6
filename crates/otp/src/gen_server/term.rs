//! Calls and casts as terms, the way `gen_server.erl` sends them: `{'$gen_call', {Pid, Tag},
//! Request}` answered by `{Tag, Reply}`, and `{'$gen_cast', Request}`. Servers on other nodes
//! (erl's, iex's, other rotp nodes') are called this way; a rotp server takes such requests
//! when its `Call`/`Cast` come from terms ([`super::GenServer::call_from_term`]).

use std::time::Duration;

use etf::{Pid, Term};
use runtime::{Context, ExitReason, Message};

use super::{CallError, ServerRef};

/// A request that came as a term.
pub(crate) enum Request<'a> {
    /// `{'$gen_call', {Pid, Tag}, Request}`.
    Call(Pid, Term, &'a Term),
    /// `{'$gen_cast', Request}`.
    Cast(&'a Term),
}

/// Reads `term` as a `gen_server` request.
pub(crate) fn request(term: &Term) -> Option<Request<'_>> {
    let Term::Tuple(v) = term else { return None };
    match v.as_slice() {
        [label, Term::Tuple(from), request] if label.as_atom() == Some("$gen_call") => {
            match from.as_slice() {
                [Term::Pid(pid), tag] => Some(Request::Call(pid.clone(), tag.clone(), request)),
                _ => None,
            }
        }
        [label, request] if label.as_atom() == Some("$gen_cast") => Some(Request::Cast(request)),
        _ => None,
    }
}

/// `Timeout` as `gen_server:call/3`'s exit reasons show it: milliseconds.
fn timeout_term(timeout: Duration) -> Term {
    Term::Integer(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
}

/// `gen_server:call(Server, Request, Timeout)` with the request and the reply as terms, to a
/// server here or on another node: the reply, or why there is none. The server is monitored
/// while the call lasts, so a server that dies, does not exist, or whose node goes ends the
/// call at once (`NoProc`, `Exited`, `NodeDown`), as `gen:do_call/4` does.
pub async fn try_call_term(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    request: Term,
    timeout: Duration,
) -> Result<Term, CallError> {
    let server = server.into();
    let (monitor, node, to) = match &server {
        ServerRef::Remote(name, node) if node != ctx.runtime().node() => {
            (ctx.monitor_name(name, node), node.clone(), None)
        }
        other => {
            let pid = other.resolve(ctx).ok_or(CallError::NoProc)?;
            (ctx.monitor(&pid), pid.node.clone(), Some(pid))
        }
    };
    let tag = Term::Reference(monitor.clone());
    let from = Term::Tuple(vec![Term::Pid(ctx.pid().clone()), tag.clone()]);
    let call = Message::Term(Term::Tuple(vec![Term::atom("$gen_call"), from, request]));
    match (&to, &server) {
        (Some(pid), _) => ctx.send(pid, call),
        (None, ServerRef::Remote(name, node)) => {
            let _ = ctx.send_to_name(name, node, call);
        }
        (None, _) => {}
    }
    let t = tag.clone();
    let answer = ctx
        .receive_timeout(timeout, |m| {
            m.is_down_for(&monitor)
                || matches!(m.as_term(), Some(Term::Tuple(v)) if v.len() == 2 && v[0] == t)
        })
        .await;
    ctx.demonitor(&monitor, true);
    let answer = answer.ok_or(CallError::Timeout)?;
    if let Some((_, _, reason)) = answer.as_down_object() {
        return Err(match reason {
            ExitReason::NoProc => CallError::NoProc,
            ExitReason::NoConnection => CallError::NodeDown(node),
            reason => CallError::Exited(reason),
        });
    }
    match answer {
        Message::Term(Term::Tuple(mut v)) if v.len() == 2 => Ok(v.pop().unwrap_or(Term::NIL)),
        _ => Err(CallError::BadReply),
    }
}

/// [`try_call_term`], exiting as `gen_server:call/3` makes the caller exit:
/// `{Reason, {gen_server, call, [Server, Request, Timeout]}}`, `Reason` one of `timeout`,
/// `noproc`, `{nodedown, Node}` or the server's exit reason.
pub async fn call_term(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    request: Term,
    timeout: Duration,
) -> Term {
    let server = server.into();
    match try_call_term(ctx, server.clone(), request.clone(), timeout).await {
        Ok(reply) => reply,
        Err(e) => {
            let me = ctx.pid().clone();
            ctx.exit(
                &me,
                e.exit_reason_for(&server, vec![request, timeout_term(timeout)]),
            );
            std::future::pending().await
        }
    }
}

/// `gen_server:cast(Server, Request)` with the request as a term: to a name nobody has, or a
/// node that cannot be reached, nothing happens.
pub fn cast_term(ctx: &Context, server: impl Into<ServerRef>, request: Term) {
    let server = server.into();
    let cast = Message::Term(Term::Tuple(vec![Term::atom("$gen_cast"), request]));
    match &server {
        ServerRef::Remote(name, node) if node != ctx.runtime().node() => {
            let _ = ctx.send_to_name(name, node, cast);
        }
        other => {
            if let Some(pid) = other.resolve(ctx) {
                ctx.send(&pid, cast);
            }
        }
    }
}
