//! The registered processes a BEAM node has and other nodes talk to: `net_kernel` (answers
//! `is_auth`, which `net_adm:ping/1` asks) and `rex` (`rpc:call` through the rex server, as
//! `erl_call` and `rpc:block_call` use it).

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason, Message};

use crate::functions::{apply, stack, Exception};
use crate::Node;

/// Starts the services and registers their names.
pub(crate) fn start(node: &Node) {
    let rt = node.runtime();
    let kernel = rt.spawn(net_kernel);
    let _ = rt.register(Atom::from("net_kernel"), &kernel);
    let n = node.clone();
    let rex = rt.spawn(move |ctx| rex(ctx, n));
    let _ = rt.register(Atom::from("rex"), &rex);
}

/// `{'$gen_call', {From, Tag}, Request}`: the caller, its tag and the request.
fn gen_call(term: &Term) -> Option<(Pid, Term, &Term)> {
    let Term::Tuple(v) = term else { return None };
    let [label, Term::Tuple(from), request] = v.as_slice() else {
        return None;
    };
    if label.as_atom() != Some("$gen_call") {
        return None;
    }
    let [Term::Pid(pid), tag] = from.as_slice() else {
        return None;
    };
    Some((pid.clone(), tag.clone(), request))
}

/// `gen:reply/2`: `{Tag, Reply}` to the caller.
fn reply(ctx: &Context, to: &Pid, tag: Term, value: Term) {
    ctx.send(to, Message::Term(Term::Tuple(vec![tag, value])));
}

async fn net_kernel(mut ctx: Context) -> ExitReason {
    ctx.set_behaviour("gen_server", "net_kernel:init/1");
    loop {
        let message = ctx.recv().await;
        let Some((from, tag, request)) = message.as_term().and_then(gen_call) else {
            continue;
        };
        if let Term::Tuple(r) = request {
            if r.len() == 2 && r[0].as_atom() == Some("is_auth") {
                reply(&ctx, &from, tag, Term::atom("yes"));
            }
        }
    }
}

async fn rex(mut ctx: Context, node: Node) -> ExitReason {
    ctx.set_behaviour("gen_server", "rpc:init/1");
    loop {
        let message = ctx.recv().await;
        let Some(term) = message.as_term() else {
            continue;
        };
        if let Some((from, tag, request)) = gen_call(term) {
            let Some((m, f, a)) = rpc_request(request, &["call", "block_call"]) else {
                continue;
            };
            let node = node.clone();
            // A process per call, as rex spawns one, so a slow call does not hold up others.
            ctx.spawn(move |c| async move {
                let result = rex_result(apply(&node, &m, &f, a.clone()).await, &m, &f, &a);
                reply(&c, &from, tag, result);
                ExitReason::Normal
            });
        } else if let Term::Tuple(v) = term {
            // C nodes (`erl_call`, `ei_rpc`) send `{From, {call, M, F, A, GroupLeader}}` and
            // get `{rex, Reply}` (rpc.erl's "special for hidden C nodes").
            if let [Term::Pid(from), request] = v.as_slice() {
                if let Some((m, f, a)) = rpc_request(request, &["call", "block_call"]) {
                    let (node, from) = (node.clone(), from.clone());
                    ctx.spawn(move |c| async move {
                        let result = rex_result(apply(&node, &m, &f, a.clone()).await, &m, &f, &a);
                        reply(&c, &from, Term::atom("rex"), result);
                        ExitReason::Normal
                    });
                } else if request.as_atom() == Some("features_request") {
                    let features = Term::Tuple(vec![
                        Term::atom("features_reply"),
                        Term::Atom(node.name().clone()),
                        Term::List(vec![Term::atom("erpc")]),
                    ]);
                    ctx.send(from, Message::Term(features));
                }
                continue;
            }
            // `{'$gen_cast', {cast, M, F, A, GroupLeader}}`.
            if let [label, request] = v.as_slice() {
                if label.as_atom() == Some("$gen_cast") {
                    if let Some((m, f, a)) = rpc_request(request, &["cast"]) {
                        let node = node.clone();
                        ctx.spawn(move |_| async move {
                            let _ = apply(&node, &m, &f, a).await;
                            ExitReason::Normal
                        });
                    }
                }
            }
        }
    }
}

/// `{Kind, M, F, Args, GroupLeader}` with `Kind` one of `kinds`.
fn rpc_request(request: &Term, kinds: &[&str]) -> Option<(Atom, Atom, Vec<Term>)> {
    let Term::Tuple(v) = request else { return None };
    let [kind, Term::Atom(m), Term::Atom(f), args, _gl] = v.as_slice() else {
        return None;
    };
    if !kinds.contains(&kind.as_atom()?) {
        return None;
    }
    let args = match args {
        Term::List(a) => a.clone(),
        _ => return None,
    };
    Some((m.clone(), f.clone(), args))
}

/// What `rpc:call` returns for an outcome (rpc.erl's `execute_call/3` and `rpcify_exception`).
fn rex_result(result: Result<Term, Exception>, m: &Atom, f: &Atom, a: &[Term]) -> Term {
    let badrpc_exit = |r: Term| {
        Term::Tuple(vec![
            Term::atom("badrpc"),
            Term::Tuple(vec![Term::atom("EXIT"), r]),
        ])
    };
    match result {
        Ok(value) => value,
        Err(Exception::Throw(t)) => t,
        Err(Exception::Exit(r)) => badrpc_exit(r),
        Err(Exception::Error(r)) => badrpc_exit(Term::Tuple(vec![r, stack(m, f, a)])),
    }
}
