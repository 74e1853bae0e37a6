//! The registered processes a BEAM node has and other nodes talk to, in the supervision tree
//! OTP 25's kernel application runs them in (`kernel.erl`, `erl_distribution.erl`):
//!
//! ```text
//! kernel_sup          one_for_all, intensity 0       (its end is the node's end)
//! ├── rex             rpc:call through the rex server, as erl_call and rpc:block_call use it
//! ├── global_name_server  cluster-wide names and locks (the `global` module)
//! ├── net_sup         one_for_all, intensity 0
//! │   └── net_kernel  answers is_auth, which net_adm:ping/1 asks
//! └── kernel_safe_sup one_for_one, 4 restarts an hour
//!     └── pg scopes   started with Node::pg_start
//! ```
//!
//! `net_kernel`, `rex` and `global_name_server` trap exits, as OTP's do: a peer that links to them and goes away
//! does not take them down. If one dies anyway, `kernel_sup`'s intensity of 0 stops the whole
//! tree and the node goes down, loudly, as an erl node halts with "Kernel pid terminated".
//! None of them waits for a busy connection: one peer that stops reading does not stop them
//! for the others.

use std::future::Future;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use otp::gen_server::Name;
use otp::supervisor::{self, ChildSpec, Flags, Shutdown, Strategy};
use runtime::{Context, ExitReason, Message};

use crate::functions::{apply, stack, Exception};
use crate::Node;

/// `kernel_sup`'s and `net_sup`'s flags: one for all, and no restart allowed.
fn one_for_all_no_restarts() -> Flags {
    Flags {
        strategy: Strategy::OneForAll,
        max_restarts: 0,
        max_seconds: Duration::from_secs(1),
    }
}

/// `kernel_safe_sup`'s flags.
fn kernel_safe_flags() -> Flags {
    Flags {
        strategy: Strategy::OneForOne,
        max_restarts: 4,
        max_seconds: Duration::from_secs(3600),
    }
}

/// Starts the kernel's tree under a process that plays the application controller: when
/// `kernel_sup` ends, it says so as erl does and takes the node down. Returns once every
/// service is registered, or why the tree could not start.
pub(crate) async fn start(node: &Node) -> Result<(), ExitReason> {
    let (started, result) = tokio::sync::oneshot::channel();
    let n = node.clone();
    node.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.set_behaviour("application_master", "application_master:init/4");
        let children = vec![
            worker(&n, "rex", rex),
            crate::global::child_spec(&n),
            ChildSpec::supervisor("net_sup", {
                let n = n.clone();
                move |ctx, _| {
                    let n = n.clone();
                    Box::pin(async move {
                        supervisor::start_link(
                            ctx,
                            one_for_all_no_restarts(),
                            vec![worker(&n, "net_kernel", net_kernel)],
                            Some(Name::Local(Atom::from("net_sup"))),
                        )
                        .await
                    })
                }
            }),
            ChildSpec::supervisor("kernel_safe_sup", |ctx, _| {
                Box::pin(async move {
                    supervisor::start_link(
                        ctx,
                        kernel_safe_flags(),
                        Vec::new(),
                        Some(Name::Local(Atom::from("kernel_safe_sup"))),
                    )
                    .await
                })
            }),
        ];
        let sup = supervisor::start_link(
            &mut ctx,
            one_for_all_no_restarts(),
            children,
            Some(Name::Local(Atom::from("kernel_sup"))),
        )
        .await;
        let reason = match sup {
            Ok(Some(sup)) => {
                let _ = started.send(Ok(()));
                loop {
                    let m = ctx.recv().await;
                    if let Some((from, reason)) = m.as_exit() {
                        if from == sup {
                            break reason;
                        }
                    }
                }
            }
            Ok(None) => ExitReason::Normal,
            Err(reason) => {
                let _ = started.send(Err(reason.clone()));
                reason
            }
        };
        tracing::error!(
            "Kernel pid terminated (application_controller) ({{application_terminated,kernel,{}}})",
            etf::text::write_limited(&reason.to_term(), 200)
        );
        n.halt();
        ExitReason::Normal
    });
    result.await.unwrap_or(Err(ExitReason::NoProc))
}

/// A permanent worker registered as `name`: `body` runs linked to its supervisor, which it
/// gets as `parent`, with a 2 s shutdown (OTP's for rex and net_kernel).
fn worker<F, Fut>(node: &Node, name: &'static str, body: F) -> ChildSpec
where
    F: Fn(Context, Pid, Node) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ExitReason> + Send + 'static,
{
    let node = node.clone();
    ChildSpec::worker(name, move |ctx, _| {
        let node = node.clone();
        Box::pin(async move {
            let parent = ctx.pid().clone();
            let pid = ctx.spawn_link(move |c| body(c, parent, node));
            // Registered before the start returns, as gen_server:start_link({local, Name}…).
            ctx.runtime()
                .register(Atom::from(name), &pid)
                .map_err(|_| {
                    ctx.exit(&pid, ExitReason::Kill);
                    ExitReason::Other(Term::Tuple(vec![
                        Term::atom("already_started"),
                        Term::atom(name),
                    ]))
                })?;
            Ok(Some(pid))
        })
    })
    .shutdown(Shutdown::Timeout(Duration::from_secs(2)))
}

/// What a service does with a message: `Some(reason)` when it must end (its parent's exit
/// signal, as a gen_server that traps exits ends with its parent's reason).
fn parent_exit(message: &Message, parent: &Pid) -> Option<ExitReason> {
    let (from, reason) = message.as_exit()?;
    (from == *parent).then_some(reason)
}

/// The set-up every service shares: it traps exits, never waits for a busy connection, and
/// says which module it stands for.
fn service(ctx: &Context, initial_call: &str) {
    ctx.trap_exit(true);
    ctx.set_suspend_on_busy(false);
    ctx.set_behaviour("gen_server", initial_call);
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

async fn net_kernel(mut ctx: Context, parent: Pid, _node: Node) -> ExitReason {
    service(&ctx, "net_kernel:init/1");
    loop {
        let message = ctx.recv().await;
        if let Some(reason) = parent_exit(&message, &parent) {
            return reason;
        }
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

async fn rex(mut ctx: Context, parent: Pid, node: Node) -> ExitReason {
    service(&ctx, "rpc:init/1");
    loop {
        let message = ctx.recv().await;
        if let Some(reason) = parent_exit(&message, &parent) {
            return reason;
        }
        let Some(term) = message.as_term() else {
            continue;
        };
        if let Some((from, tag, request)) = gen_call(term) {
            let Some((m, f, a)) = rpc_request(request, &["call", "block_call"]) else {
                continue;
            };
            // `shell:start/0` from `erl -remsh` (kernel's group.erl) or `rotp remsh`: the
            // node's own shell, with the call's group leader as its terminal.
            if (m.as_str(), f.as_str(), a.as_slice()) == ("shell", "start", &[]) {
                if let Some(gl) = group_leader(request) {
                    let shell = crate::shell::start(&node, gl);
                    reply(&ctx, &from, tag, Term::Pid(shell));
                    continue;
                }
            }
            let node = node.clone();
            // A process per call, as rex spawns one, so a slow call does not hold up others.
            // It is the one that waits if the caller's connection is busy, not rex.
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

/// The `GroupLeader` of a `{call, M, F, Args, GroupLeader}` request, when it is a pid.
fn group_leader(request: &Term) -> Option<Pid> {
    match request {
        Term::Tuple(v) => match v.get(4) {
            Some(Term::Pid(p)) => Some(p.clone()),
            _ => None,
        },
        _ => None,
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
