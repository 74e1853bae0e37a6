//! What `global` keeps in its ETS tables (global.erl's `global_names`, `global_pid_names`,
//! `global_names_ext`, `global_locks`, `global_pid_ids`): written by `global_name_server`
//! only, read by anyone (`whereis_name/1` and `registered_names/0` read them directly, as
//! global.erl reads ETS).

use std::collections::HashMap;

use etf::{Atom, Pid, Reference, Term, TermKey};

/// One registered name (`{Name, Pid, Method, Ref}` in `global_names`).
#[derive(Clone, Debug)]
pub(crate) struct NameEntry {
    pub(crate) name: Term,
    pub(crate) pid: Pid,
    /// The resolve function, as the registering node gave it (a fun term).
    pub(crate) method: Term,
    /// `global_name_server`'s monitor of `pid`.
    pub(crate) monitor: Reference,
}

/// One lock (`{ResourceId, LockRequesterId, [{Pid, Ref}]}` in `global_locks`).
#[derive(Clone, Debug)]
pub(crate) struct Lock {
    pub(crate) requester: Term,
    /// The processes holding it, each with the server's monitor of it.
    pub(crate) holders: Vec<(Pid, Reference)>,
}

/// The tables.
#[derive(Default)]
pub(crate) struct Tables {
    pub(crate) names: HashMap<TermKey, NameEntry>,
    /// `global_pid_names`: the names of a pid, and of a monitor.
    pub(crate) pid_names: HashMap<Pid, Vec<TermKey>>,
    pub(crate) ref_names: HashMap<Reference, TermKey>,
    /// `global_names_ext`: names registered for processes of C nodes, with the node that
    /// registered them.
    pub(crate) names_ext: Vec<(Term, Pid, Atom)>,
    /// `global_locks`, by resource.
    pub(crate) locks: HashMap<TermKey, Lock>,
    /// `global_pid_ids`: the resources a monitor holds.
    pub(crate) ref_locks: HashMap<Reference, Vec<TermKey>>,
}

impl Tables {
    /// The entry under `name`.
    pub(crate) fn lookup(&self, name: &Term) -> Option<&NameEntry> {
        self.names.get(&TermKey::new(name))
    }

    /// `[{Name, Pid, Method}]`, as the `exchange` message carries them.
    pub(crate) fn names(&self) -> Vec<(Term, Pid, Term)> {
        self.names
            .values()
            .map(|e| (e.name.clone(), e.pid.clone(), e.method.clone()))
            .collect()
    }

    /// Whether `pid` has a name.
    pub(crate) fn has_name(&self, pid: &Pid) -> bool {
        self.pid_names.get(pid).is_some_and(|n| !n.is_empty())
    }

    /// `can_set_lock/1`: the holders when `{resource, requester}` may be locked (none yet, or
    /// the same requester), `None` when another requester holds it.
    pub(crate) fn can_set_lock(
        &self,
        resource: &Term,
        requester: &Term,
    ) -> Option<Vec<(Pid, Reference)>> {
        match self.locks.get(&TermKey::new(resource)) {
            None => Some(Vec::new()),
            Some(lock) if lock.requester == *requester => Some(lock.holders.clone()),
            Some(_) => None,
        }
    }

    /// `is_lock_set/1`.
    pub(crate) fn is_lock_set(&self, resource: &Term) -> bool {
        self.locks.contains_key(&TermKey::new(resource))
    }
}
