//! Name clashes: when two partitions that each have a name join, the smaller node (in term
//! order) calls the resolve function of the name's holder on its partition, on the holder's
//! node (`rpc:call(Node2, global, resolve_it, [Method2, Name, Pid, Pid2])`, global.erl's
//! `exchange_names/4`), and both sides apply the outcome.

use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Export, Pid, Term};
use runtime::{Context, ExitReason, Message};

use super::terms::{node_less, tagged};
use super::{ServerMsg, Shared};
use crate::Node;

/// How a clash over a name is resolved: the resolve functions OTP offers
/// (`global:random_exit_name/3` is the default). On the wire a method is a fun; a fun of
/// Erlang code other than these cannot run on a rotp node.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolve {
    /// `random_exit_name/3`: of the two processes, the one on the greater node is killed
    /// (`exit(Pid, kill)`) and the other keeps the name.
    RandomExit,
    /// `random_notify_name/3`: the one on the greater node is sent
    /// `{global_name_conflict, Name}` and loses the name.
    RandomNotify,
    /// `notify_all_name/3`: both are sent `{global_name_conflict, Name, OtherPid}` and the
    /// name is unregistered.
    NotifyAll,
}

impl Resolve {
    /// The method as global's messages carry it: `fun global:F/3`.
    pub fn to_term(&self) -> Term {
        let function = match self {
            Resolve::RandomExit => "random_exit_name",
            Resolve::RandomNotify => "random_notify_name",
            Resolve::NotifyAll => "notify_all_name",
        };
        Term::Export(Export {
            module: Atom::from("global"),
            function: Atom::from(function),
            arity: 3,
        })
    }

    /// The method a fun term stands for, if it is one of OTP's (`fun global:F/3`, or the
    /// legacy `{global, F}` tuple fun).
    pub fn from_term(method: &Term) -> Option<Resolve> {
        let (module, function) = match method {
            Term::Export(e) if e.arity == 3 => (e.module.as_str(), e.function.as_str()),
            Term::Tuple(v) if v.len() == 2 => (v[0].as_atom()?, v[1].as_atom()?),
            _ => return None,
        };
        match (module, function) {
            ("global", "random_exit_name") => Some(Resolve::RandomExit),
            ("global", "random_notify_name") => Some(Resolve::RandomNotify),
            ("global", "notify_all_name") => Some(Resolve::NotifyAll),
            _ => None,
        }
    }
}

/// `minmax/2`: by node name; on the same node the second comes first.
fn minmax(p1: &Pid, p2: &Pid) -> (Pid, Pid) {
    if node_less(&p1.node, &p2.node) {
        (p1.clone(), p2.clone())
    } else {
        (p2.clone(), p1.clone())
    }
}

/// `global:resolve_it(Method, Name, Pid1, Pid2)` (`catch Method(Name, Pid1, Pid2)`) on this
/// node: the pid that keeps the name, `none`, or `{'EXIT', Reason}` for a method rotp cannot
/// run.
pub(crate) async fn resolve_it(node: &Node, args: &[Term]) -> Term {
    let [method, name, Term::Pid(p1), Term::Pid(p2)] = args else {
        return tagged("EXIT", vec![Term::atom("badarg")]);
    };
    let Some(resolve) = Resolve::from_term(method) else {
        let undef = Term::Tuple(vec![
            Term::atom("undef"),
            Term::List(vec![Term::Tuple(vec![
                method.clone(),
                Term::List(args[1..].to_vec()),
                Term::NIL,
            ])]),
        ]);
        return Term::Tuple(vec![Term::atom("EXIT"), undef]);
    };
    let (name, p1, p2) = (name.clone(), p1.clone(), p2.clone());
    node.in_process(move |ctx| async move {
        match resolve {
            Resolve::RandomExit => {
                let (min, max) = minmax(&p1, &p2);
                tracing::info!(
                    "global: Name conflict terminating {}",
                    etf::text::write_limited(&Term::Tuple(vec![name, Term::Pid(max.clone())]), 400)
                );
                ctx.exit(&max, ExitReason::Kill);
                Term::Pid(min)
            }
            Resolve::RandomNotify => {
                let (min, max) = minmax(&p1, &p2);
                ctx.send(
                    &max,
                    Message::Term(tagged("global_name_conflict", vec![name])),
                );
                Term::Pid(min)
            }
            Resolve::NotifyAll => {
                let conflict = |other: &Pid| {
                    tagged(
                        "global_name_conflict",
                        vec![name.clone(), Term::Pid(other.clone())],
                    )
                };
                ctx.send(&p1, Message::Term(conflict(&p2)));
                ctx.send(&p2, Message::Term(conflict(&p1)));
                Term::atom("none")
            }
        }
    })
    .await
    .unwrap_or_else(|| Term::atom("none"))
}

/// An operation on the name table, as `exchange_ops` and `resolved` carry them.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// `{insert, {Name, Pid, Method}}`.
    Insert(Term, Pid, Term),
    /// `{delete, Name}`.
    Delete(Term),
}

impl Op {
    pub(crate) fn to_term(&self) -> Term {
        match self {
            Op::Insert(name, pid, method) => tagged(
                "insert",
                vec![Term::Tuple(vec![
                    name.clone(),
                    Term::Pid(pid.clone()),
                    method.clone(),
                ])],
            ),
            Op::Delete(name) => tagged("delete", vec![name.clone()]),
        }
    }

    pub(crate) fn from_term(term: &Term) -> Option<Op> {
        if let Some([Term::Tuple(v)]) = super::terms::untag(term, "insert") {
            if let [name, Term::Pid(pid), method] = v.as_slice() {
                return Some(Op::Insert(name.clone(), pid.clone(), method.clone()));
            }
        }
        if let Some([name]) = super::terms::untag(term, "delete") {
            return Some(Op::Delete(name.clone()));
        }
        None
    }
}

/// What the resolver is given: the other partition's names.
pub(crate) struct ResolveNames(pub(crate) Vec<(Term, Pid, Term)>);

/// The resolver of one connect session (`resolver/2`): waits for the other side's names,
/// works out the operations (`exchange_names/4`) and hands them to the server.
pub(crate) async fn resolver(
    mut ctx: Context,
    node: Node,
    shared: Arc<Shared>,
    server: Pid,
    peer: Atom,
    tag: i64,
) -> ExitReason {
    ctx.set_behaviour("global", "global:resolver/2");
    ctx.set_suspend_on_busy(false);
    let message = ctx
        .receive(|m| m.downcast_ref::<ResolveNames>().is_some())
        .await;
    let Ok(ResolveNames(names)) = message.downcast::<ResolveNames>() else {
        return ExitReason::Normal;
    };
    let (ops, resolved) = exchange_names(&node, &shared, &peer, names).await;
    ctx.send(
        &server,
        Message::local(ServerMsg::ExchangeOps {
            node: peer,
            tag,
            ops,
            resolved,
        }),
    );
    ExitReason::Normal
}

/// `exchange_names/4`: `Ops` for us, `Resolved` for the other side too.
async fn exchange_names(
    node: &Node,
    shared: &Shared,
    peer: &Atom,
    names: Vec<(Term, Pid, Term)>,
) -> (Vec<Op>, Vec<Op>) {
    let me = node.name().clone();
    let (mut ops, mut res) = (Vec::new(), Vec::new());
    for (name, pid, method) in names {
        let ours = shared.read().lookup(&name).cloned();
        match ours {
            Some(e) if e.pid == pid => {}
            Some(e) if node_less(&me, peer) => {
                let args = vec![
                    e.method.clone(),
                    name.clone(),
                    Term::Pid(pid.clone()),
                    Term::Pid(e.pid.clone()),
                ];
                let outcome = if e.pid.node == me {
                    resolve_it(node, &args).await
                } else {
                    node.rpc(
                        &e.pid.node,
                        "global",
                        "resolve_it",
                        args,
                        Duration::from_secs(3600),
                    )
                    .await
                };
                match &outcome {
                    Term::Pid(p) if *p == pid => ops.push(Op::Insert(name, pid, method)),
                    Term::Pid(p) if *p == e.pid => res.push(Op::Insert(name, e.pid, e.method)),
                    Term::Atom(a) if a.as_str() == "none" => {
                        ops.push(Op::Delete(name.clone()));
                        res.push(Op::Delete(name));
                    }
                    Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("badrpc") => {
                        tracing::info!(
                            "global: badrpc {} received when conflicting name {} was found",
                            etf::text::write_limited(v.get(1).unwrap_or(&Term::NIL), 200),
                            etf::text::write_limited(&name, 200)
                        );
                        ops.push(Op::Insert(name, pid, method));
                    }
                    other => {
                        tracing::info!(
                            "global: Resolve method {} for conflicting name {} returned {}",
                            etf::text::write_limited(&e.method, 200),
                            etf::text::write_limited(&name, 200),
                            etf::text::write_limited(other, 200)
                        );
                        ops.push(Op::Delete(name.clone()));
                        res.push(Op::Delete(name));
                    }
                }
            }
            // The other side resolves this one.
            Some(_) => {}
            None => ops.push(Op::Insert(name, pid, method)),
        }
    }
    (ops, res)
}
