//! What arrives from other nodes: each control message applied to the runtime (erl_dist_protocol,
//! "Protocol between Connected Nodes"), and spawn requests (`erpc:call`, `rpc:call`,
//! `spawn/4` to this node) run as processes.

use std::sync::Arc;

use dist::{ControlMessage as C, DistMessage, ProcessRef};
use etf::{Atom, Pid, Reference, Term};
use net::dist::Invalid;
use runtime::{ExitReason, Message};

use crate::functions::{apply, stack, Exception};
use crate::node::Inner;

/// Where a pid named in a signal from a peer lives, as erts classes it when it decodes one.
#[derive(PartialEq)]
enum Whose {
    /// A process of this node (this incarnation).
    Ours,
    /// A pid with this node's name and another creation: an old incarnation's.
    OldIncarnation,
    /// Any other node's.
    Other,
}

impl Inner {
    fn whose(&self, pid: &Pid) -> Whose {
        if pid.node != *self.runtime.node() {
            Whose::Other
        } else if pid.creation == self.runtime.creation() {
            Whose::Ours
        } else {
            Whose::OldIncarnation
        }
    }

    /// What erts refuses before it applies a signal (`erts_net_message`): a link, unlink,
    /// exit or monitor whose sender is not a process of the peer, or whose target is not one of
    /// ours; a spawn request from one of our own processes. Such a message ends the
    /// connection. Messages to a pid that is not ours are dropped later, as erts drops them.
    fn check(&self, peer: &Atom, control: &C) -> Result<(), Invalid> {
        let from_peer = |from: &Pid| from.node == *peer;
        let to_us = |to: &Pid| self.whose(to) != Whose::Other;
        let ok = match control {
            C::Link { from, to }
            | C::Unlink { from, to }
            | C::UnlinkId { from, to, .. }
            | C::UnlinkIdAck { from, to, .. }
            | C::Exit2 { from, to, .. }
            | C::PayloadExit2 { from, to, .. } => from_peer(from) && to_us(to),
            // erts wants a process of this very incarnation here.
            C::Exit { from, to, .. } | C::PayloadExit { from, to, .. } => {
                from_peer(from) && self.whose(to) == Whose::Ours
            }
            C::MonitorP { from, to, .. } | C::DemonitorP { from, to, .. } => {
                from_peer(from)
                    && match to {
                        ProcessRef::Pid(p) => to_us(p),
                        ProcessRef::Name(_) => true,
                    }
            }
            C::MonitorPExit { to, .. } | C::PayloadMonitorPExit { to, .. } => to_us(to),
            C::SpawnRequest { from, .. } => self.whose(from) != Whose::Ours,
            // erts: the requester and the request's reference must be ours (an old
            // incarnation's are dropped later).
            C::SpawnReply { to, req_id, .. } => to_us(to) && req_id.node == *self.runtime.node(),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Invalid(etf::text::write_limited(&control.to_term(), 200)))
        }
    }

    /// Applies a message from `peer`; a message erts would refuse ends the connection.
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        peer: &Atom,
        m: DistMessage,
        route: &mut runtime::Route,
    ) -> Result<(), Invalid> {
        tracing::trace!(
            "from {peer}: {}",
            etf::text::write_limited(&m.control.to_term(), 200)
        );
        if let Err(invalid) = self.check(peer, &m.control) {
            tracing::error!("{invalid}");
            return Err(invalid);
        }
        let rt = &self.runtime;
        let reason = |t: &Term| ExitReason::from_term(t);
        match (m.control, m.payload) {
            // To a process of a third node, or of an old incarnation of ours: dropped, as erts
            // drops it (never relayed).
            (C::Send { to, .. } | C::SendSender { to, .. }, Some(_))
                if self.whose(&to) != Whose::Ours => {}
            (C::Send { to, .. } | C::SendSender { to, .. }, Some(msg)) => {
                rt.send_routed(route, &to, Message::Term(msg));
            }
            (C::RegSend { to, .. }, Some(msg)) => {
                // To a name nobody has: dropped, as erts drops it.
                let _ = rt.send_named(&to, Message::Term(msg));
            }
            (C::Link { from, to }, _) => rt.remote_link(&from, &to),
            (C::Unlink { from, to }, _) => rt.remote_unlink(&from, &to),
            (C::UnlinkId { id, from, to }, _) => {
                rt.remote_unlink(&from, &to);
                let ack = C::UnlinkIdAck {
                    id,
                    from: to,
                    to: from,
                };
                self.send_control(peer, ack, None, false);
            }
            (
                C::Exit {
                    from,
                    to,
                    reason: r,
                    ..
                },
                _,
            ) => rt.remote_exit(&from, &to, &reason(&r), true),
            (C::PayloadExit { from, to, .. }, Some(r)) => {
                rt.remote_exit(&from, &to, &reason(&r), true)
            }
            // To an old incarnation of ours: dropped.
            (C::Exit2 { to, .. } | C::PayloadExit2 { to, .. }, _)
                if self.whose(&to) != Whose::Ours => {}
            (
                C::Exit2 {
                    from,
                    to,
                    reason: r,
                    ..
                },
                _,
            ) => rt.remote_exit(&from, &to, &reason(&r), false),
            (C::PayloadExit2 { from, to, .. }, Some(r)) => {
                rt.remote_exit(&from, &to, &reason(&r), false)
            }
            (
                C::MonitorP {
                    from,
                    to,
                    reference,
                },
                _,
            ) => match &to {
                ProcessRef::Pid(p) => rt.remote_monitor(&from, Ok(p), &reference),
                ProcessRef::Name(n) => rt.remote_monitor(&from, Err(n), &reference),
            },
            (C::DemonitorP { to, reference, .. }, _) => match &to {
                ProcessRef::Pid(p) => rt.remote_demonitor(Ok(p), &reference),
                ProcessRef::Name(n) => rt.remote_demonitor(Err(n), &reference),
            },
            (
                C::MonitorPExit {
                    to,
                    reference,
                    reason: r,
                    ..
                },
                _,
            ) => rt.remote_down(&to, &reference, &reason(&r)),
            (C::PayloadMonitorPExit { to, reference, .. }, Some(r)) => {
                rt.remote_down(&to, &reference, &reason(&r))
            }
            (
                C::SpawnRequest {
                    req_id,
                    from,
                    group_leader,
                    module,
                    function,
                    arity,
                    options,
                    ..
                },
                Some(args),
            ) => self.spawn_request(
                peer,
                req_id,
                from,
                Spawned {
                    module,
                    function,
                    arity,
                    group_leader,
                },
                &options,
                args,
            ),
            (
                C::SpawnReply {
                    req_id,
                    to,
                    flags,
                    result,
                    ..
                },
                _,
            ) => self.spawn_reply(peer, &to, &req_id, flags, &result),
            // Aliases, group leaders, node links and acks need nothing from us; anything else
            // malformed is dropped without disturbing the connection.
            (other, _) => tracing::debug!(
                "ignored from {peer}: {}",
                etf::text::write_limited(&other.to_term(), 200)
            ),
        }
        Ok(())
    }

    /// `SPAWN_REPLY`: applied only to a request of `to` that went to `peer`
    /// ([`runtime::Runtime::remote_spawn_reply`]). A child of the peer that nobody waits for
    /// (its requester abandoned it or ended) is told so, as erts tells it: the link the peer
    /// set up gets an exit signal `abandoned`, the monitor is taken off.
    fn spawn_reply(
        self: &Arc<Self>,
        peer: &Atom,
        to: &Pid,
        req_id: &Reference,
        flags: i64,
        result: &Term,
    ) {
        let (link, monitor) = (flags & 1 != 0, flags & 2 != 0);
        let outcome = self
            .runtime
            .remote_spawn_reply(peer, to, req_id, link, monitor, result);
        if outcome == runtime::SpawnReply::Applied {
            return;
        }
        tracing::debug!(
            "SPAWN_REPLY from {peer} that nobody waits for: {}",
            etf::text::write_limited(result, 100)
        );
        let Term::Pid(child) = result else { return };
        if child.node != *peer {
            return;
        }
        if link {
            let abandoned = ExitReason::Other(Term::atom("abandoned"));
            self.exit_like(
                peer,
                C::Exit {
                    from: to.clone(),
                    to: child.clone(),
                    reason: abandoned.to_term(),
                    token: None,
                },
                C::PayloadExit {
                    from: to.clone(),
                    to: child.clone(),
                    token: None,
                },
                &abandoned,
                false,
            );
        }
        if monitor {
            let demonitor = C::DemonitorP {
                from: to.clone(),
                to: ProcessRef::Pid(child.clone()),
                reference: req_id.clone(),
            };
            self.send_control(peer, demonitor, None, false);
        }
    }

    /// `SPAWN_REQUEST`: runs `Module:Function(Args)` in a new process, linked to and/or
    /// monitored by the requester as its options ask, after answering with `SPAWN_REPLY`.
    fn spawn_request(
        self: &Arc<Self>,
        peer: &Atom,
        req_id: Reference,
        from: Pid,
        spawned: Spawned,
        options: &Term,
        args: Term,
    ) {
        let Spawned {
            module,
            function,
            arity,
            group_leader,
        } = spawned;
        let Term::List(args) = args else {
            self.spawn_error(peer, req_id, from, "badarg");
            return;
        };
        if args.len() != arity as usize {
            self.spawn_error(peer, req_id, from, "badarg");
            return;
        }
        let opts: Vec<&Term> = match options {
            Term::List(v) => v.iter().collect(),
            _ => Vec::new(),
        };
        let link = opts.iter().any(|o| o.as_atom() == Some("link"));
        let monitor = opts.iter().any(|o| o.as_atom() == Some("monitor"));
        let node = crate::Node::from_inner(self.clone());
        let flags = i64::from(link) | (i64::from(monitor) << 1);
        let requester = from.clone();
        let monitor_ref = req_id.clone();
        self.runtime.spawn_remote(
            move |mut ctx| async move {
                run_spawned(&node, &mut ctx, &group_leader, module, function, args).await
            },
            &requester,
            link,
            monitor.then_some(&monitor_ref),
            |pid| {
                let reply = C::SpawnReply {
                    req_id,
                    to: from,
                    flags,
                    result: Term::Pid(pid.clone()),
                    token: None,
                };
                self.send_control(peer, reply, None, false);
            },
        );
    }

    fn spawn_error(self: &Arc<Self>, peer: &Atom, req_id: Reference, to: Pid, error: &str) {
        let reply = C::SpawnReply {
            req_id,
            to,
            flags: 0,
            result: Term::atom(error),
            token: None,
        };
        self.send_control(peer, reply, None, false);
    }
}

/// What a `SPAWN_REQUEST` asks to run, and the group leader it names.
struct Spawned {
    module: Atom,
    function: Atom,
    arity: u32,
    group_leader: Pid,
}

/// The body of a spawned process: `erpc`'s `execute_call`/`execute_cast` as erpc.erl defines
/// them (the call's outcome is the exit reason the caller's monitor sees), else a plain call.
async fn run_spawned(
    node: &crate::Node,
    ctx: &mut runtime::Context,
    group_leader: &Pid,
    module: Atom,
    function: Atom,
    args: Vec<Term>,
) -> ExitReason {
    match (module.as_str(), function.as_str(), args.as_slice()) {
        ("erpc", "execute_call", [tag, Term::Atom(m), Term::Atom(f), Term::List(a)]) => {
            // `rpc:call(Node, shell, start, [])` from `erl -remsh` (kernel's group.erl) goes
            // through erpc: the node's own shell, on the request's group leader.
            let result = if (m.as_str(), f.as_str(), a.as_slice()) == ("shell", "start", &[]) {
                Ok(Term::Pid(crate::shell::start(node, group_leader.clone())))
            } else {
                apply(node, m, f, a.clone()).await
            };
            let reason = match result {
                Ok(value) => vec![tag.clone(), Term::atom("return"), value],
                Err(Exception::Throw(t)) => vec![tag.clone(), Term::atom("throw"), t],
                Err(Exception::Exit(r)) => vec![tag.clone(), Term::atom("exit"), r],
                Err(Exception::Error(r)) => {
                    vec![tag.clone(), Term::atom("error"), r, stack(m, f, a)]
                }
            };
            ExitReason::Other(Term::Tuple(reason))
        }
        ("erpc", "execute_cast", [Term::Atom(m), Term::Atom(f), Term::List(a)]) => {
            exit_of(apply(node, m, f, a.clone()).await, m, f, a)
        }
        ("observer_backend", f, a) => {
            if let Some(exit) = crate::observer_backend::spawned(node, ctx, f, a).await {
                return exit;
            }
            exit_of(
                apply(node, &module, &function, args.clone()).await,
                &module,
                &function,
                &args,
            )
        }
        _ => {
            let result = apply(node, &module, &function, args.clone()).await;
            exit_of(result, &module, &function, &args)
        }
    }
}

fn exit_of(result: Result<Term, Exception>, m: &Atom, f: &Atom, a: &[Term]) -> ExitReason {
    match result {
        Ok(_) => ExitReason::Normal,
        Err(Exception::Exit(r)) => ExitReason::from_term(&r),
        Err(Exception::Throw(t)) => ExitReason::Other(Term::Tuple(vec![
            Term::Tuple(vec![Term::atom("nocatch"), t]),
            stack(m, f, a),
        ])),
        Err(Exception::Error(r)) => ExitReason::Other(Term::Tuple(vec![r, stack(m, f, a)])),
    }
}
