//! The runtime's way to other nodes ([`runtime::Remote`]): each signal a local process sends
//! to a process of another node becomes its control message (erl_dist_protocol, "Protocol
//! between Connected Nodes"), queued on the connection to that node (made on first use); a
//! link or monitor that cannot be carried fires at once with `noconnection`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;

use dist::ControlMessage;
use etf::{Atom, Pid, Reference, Term};
use runtime::ExitReason;

use crate::node::Inner;

/// The runtime's way to other nodes (held weakly: the node owns the runtime).
pub(crate) struct RemoteLink(pub(crate) Weak<Inner>);

static NEXT_UNLINK_ID: AtomicU64 = AtomicU64::new(1);

impl RemoteLink {
    /// `MONITOR_P` (`on`) or `DEMONITOR_P` from `from` to `to` on `node`. A monitor the node
    /// cannot carry (no connection and none to be made) fires at once with `noconnection`.
    fn monitor_p(
        &self,
        from: &Pid,
        node: &Atom,
        to: dist::ProcessRef,
        reference: &Reference,
        on: bool,
    ) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let (pid, r) = (from.clone(), reference.clone());
        let control = if on {
            ControlMessage::MonitorP {
                from: pid,
                to,
                reference: r,
            }
        } else {
            ControlMessage::DemonitorP {
                from: pid,
                to,
                reference: r,
            }
        };
        if !inner.send_control(node, control, None, on) && on {
            inner
                .runtime
                .remote_down(from, reference, &ExitReason::NoConnection);
        }
    }
}

impl runtime::Remote for RemoteLink {
    fn send(&self, to: &Pid, message: Term) -> Option<runtime::Busy> {
        self.0.upgrade()?.send_from_process(
            &to.node,
            ControlMessage::Send {
                to: to.clone(),
                token: None,
            },
            Some(message),
        )
    }

    fn send_named(
        &self,
        from: &Pid,
        node: &Atom,
        name: &Atom,
        message: Term,
    ) -> Option<runtime::Busy> {
        self.0.upgrade()?.send_from_process(
            node,
            ControlMessage::RegSend {
                from: from.clone(),
                to: name.clone(),
                token: None,
            },
            Some(message),
        )
    }

    fn link(&self, from: &Pid, to: &Pid) {
        if let Some(inner) = self.0.upgrade() {
            let link = ControlMessage::Link {
                from: from.clone(),
                to: to.clone(),
            };
            if !inner.send_control(&to.node, link, None, true) {
                inner
                    .runtime
                    .remote_exit(to, from, &ExitReason::NoConnection, true);
            }
        }
    }

    fn unlink(&self, from: &Pid, to: &Pid) {
        if let Some(inner) = self.0.upgrade() {
            let id = Term::Integer(NEXT_UNLINK_ID.fetch_add(1, Ordering::Relaxed) as i64);
            let unlink = ControlMessage::UnlinkId {
                id,
                from: from.clone(),
                to: to.clone(),
            };
            inner.send_control(&to.node, unlink, None, false);
        }
    }

    fn exit_linked(&self, from: &Pid, to: &Pid, reason: &ExitReason) {
        if let Some(inner) = self.0.upgrade() {
            inner.exit_like(
                &to.node,
                ControlMessage::Exit {
                    from: from.clone(),
                    to: to.clone(),
                    reason: reason.to_term(),
                    token: None,
                },
                ControlMessage::PayloadExit {
                    from: from.clone(),
                    to: to.clone(),
                    token: None,
                },
                reason,
                false,
            );
        }
    }

    fn exit2(&self, from: &Pid, to: &Pid, reason: &ExitReason) {
        if let Some(inner) = self.0.upgrade() {
            inner.exit_like(
                &to.node,
                ControlMessage::Exit2 {
                    from: from.clone(),
                    to: to.clone(),
                    reason: reason.to_term(),
                    token: None,
                },
                ControlMessage::PayloadExit2 {
                    from: from.clone(),
                    to: to.clone(),
                    token: None,
                },
                reason,
                true,
            );
        }
    }

    fn monitor(&self, from: &Pid, to: &Pid, reference: &Reference) {
        self.monitor_p(
            from,
            &to.node,
            dist::ProcessRef::Pid(to.clone()),
            reference,
            true,
        );
    }

    fn demonitor(&self, from: &Pid, to: &Pid, reference: &Reference) {
        self.monitor_p(
            from,
            &to.node,
            dist::ProcessRef::Pid(to.clone()),
            reference,
            false,
        );
    }

    fn monitor_name(&self, from: &Pid, name: &Atom, node: &Atom, reference: &Reference) {
        self.monitor_p(
            from,
            node,
            dist::ProcessRef::Name(name.clone()),
            reference,
            true,
        );
    }

    fn demonitor_name(&self, from: &Pid, name: &Atom, node: &Atom, reference: &Reference) {
        self.monitor_p(
            from,
            node,
            dist::ProcessRef::Name(name.clone()),
            reference,
            false,
        );
    }

    fn down(
        &self,
        from: Result<&Pid, &Atom>,
        to: &Pid,
        reference: &Reference,
        reason: &ExitReason,
    ) {
        if let Some(inner) = self.0.upgrade() {
            let from_ref = match from {
                Ok(pid) => dist::ProcessRef::Pid(pid.clone()),
                Err(name) => dist::ProcessRef::Name(name.clone()),
            };
            inner.exit_like(
                &to.node,
                ControlMessage::MonitorPExit {
                    from: from_ref.clone(),
                    to: to.clone(),
                    reference: reference.clone(),
                    reason: reason.to_term(),
                },
                ControlMessage::PayloadMonitorPExit {
                    from: from_ref,
                    to: to.clone(),
                    reference: reference.clone(),
                },
                reason,
                false,
            );
        }
    }
}
