//! The registrar (global.erl's `loop_the_registrar/0`): the process, linked to
//! `global_name_server`, that registers and unregisters names on every known node under
//! global's own lock, `{global, Registrar}` (`trans_all_known/1`), one request at a time.

use std::sync::Arc;

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason};
use tokio::sync::oneshot;

use super::calls::{delete_global_lock, multi_call, random_sleep, set_lock_on_nodes, LockId};
use super::terms::{tagged, the_boss};
use super::Shared;

/// What the registrar is asked to do.
pub(crate) enum Request {
    /// `register_name/3` (`re: false`) or `re_register_name/3` (`re: true`).
    Register {
        name: Term,
        pid: Pid,
        method: Term,
        re: bool,
        done: oneshot::Sender<bool>,
    },
    /// `unregister_name/1`.
    Unregister {
        name: Term,
        done: oneshot::Sender<()>,
    },
}

pub(crate) async fn run(mut ctx: Context, shared: Arc<Shared>) -> ExitReason {
    ctx.set_behaviour("global", "global:loop_the_registrar/0");
    ctx.set_suspend_on_busy(false);
    loop {
        let message = ctx.recv().await;
        let Ok(request) = message.downcast::<Request>() else {
            continue;
        };
        let id = LockId::new(Term::atom("global"), Term::Pid(ctx.pid().clone()));
        let nodes = set_lock_known(&mut ctx, &shared, &id).await;
        match request {
            Request::Register {
                name,
                pid,
                method,
                re,
                done,
            } => {
                let free = re
                    || (shared.where_(ctx.runtime(), &name).is_none()
                        && check_dupname(&shared, &name, &pid));
                if free {
                    let request = tagged("register", vec![name, Term::Pid(pid), method]);
                    let _ = multi_call(&mut ctx, &nodes, &request).await;
                }
                delete_global_lock(&mut ctx, &id, &nodes).await;
                let _ = done.send(free);
            }
            Request::Unregister { name, done } => {
                let request = tagged("unregister", vec![name]);
                let _ = multi_call(&mut ctx, &nodes, &request).await;
                delete_global_lock(&mut ctx, &id, &nodes).await;
                let _ = done.send(());
            }
        }
    }
}

/// `set_lock_known/2`: global's lock on this node and every node it knows, the boss first,
/// and no node become known meanwhile. Returns the nodes locked.
async fn set_lock_known(ctx: &mut Context, shared: &Arc<Shared>, id: &LockId) -> Vec<Atom> {
    let mut times = 0;
    loop {
        let known = shared.known();
        let mut nodes = vec![ctx.runtime().node().clone()];
        nodes.extend(known.iter().cloned());
        let boss = the_boss(&nodes).into_iter().collect::<Vec<_>>();
        if set_lock_on_nodes(ctx, shared, id, &boss).await {
            if set_lock_on_nodes(ctx, shared, id, &nodes).await
                && shared.known().iter().all(|n| known.contains(n))
            {
                return nodes;
            }
            super::calls::del_lock(ctx, id, &boss).await;
        }
        random_sleep(times).await;
        times += 1;
    }
}

/// `check_dupname/2`: a process has one global name at most (unless the kernel says
/// `global_multi_name_action` is `allow`, which rotp does not offer).
fn check_dupname(shared: &Shared, name: &Term, pid: &Pid) -> bool {
    let tables = shared.read();
    if !tables.has_name(pid) {
        return true;
    }
    let mut names = vec![name.clone()];
    names.extend(
        tables
            .pid_names
            .get(pid)
            .into_iter()
            .flatten()
            .filter_map(|k| tables.names.get(k))
            .map(|e| e.name.clone()),
    );
    tracing::error!(
        "global: {} registered under several names: {}",
        etf::text::write_limited(&Term::Pid(pid.clone()), 100),
        etf::text::write_limited(&Term::List(names), 400)
    );
    false
}
