//! `Registry`: a local key → process store with unique or duplicate keys, partitions, entries
//! removed when their process dies, dispatch, and `via` names for servers (Elixir's
//! `Registry`). Lookups read a shared table directly, as Elixir reads ETS; a registry process
//! monitors every registrant and cleans up after it.
//!
//! ```
//! use rotp_otp::registry::{Keys, Registry};
//! use rotp_otp::gen_server::{Name, ServerRef};
//! use rotp_otp::agent;
//! use etf::Term;
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // Registry.start_link(keys: :unique, name: Rooms)
//! let rooms = Registry::start_link(&mut ctx, Keys::Unique, 1);
//! rooms.register(&ctx, &Term::from("lobby"), Term::atom("open")).unwrap();
//! assert_eq!(rooms.lookup(&Term::from("lobby")), [(ctx.pid().clone(), Term::atom("open"))]);
//! // The key is taken: {:error, {:already_registered, pid}}
//! assert!(rooms.register(&ctx, &Term::from("lobby"), Term::atom("again")).is_err());
//!
//! // A server named {:via, Registry, {Rooms, "kitchen"}}, then called by that name.
//! let name = Name::via(rooms.clone(), Term::from("kitchen"));
//! agent::start_link(&mut ctx, || 0, Some(name)).await.unwrap();
//! let kitchen = ServerRef::via(rooms.clone(), Term::from("kitchen"));
//! agent::update(&mut ctx, kitchen.clone(), |n: &mut i32| *n += 1).await;
//! assert_eq!(agent::get(&mut ctx, kitchen, |n: &i32| *n).await, 1);
//! assert!(rooms.whereis(&Term::from("kitchen")).is_some());
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use etf::{Pid, Term, TermKey};
use runtime::{Context, ExitReason, Message};

/// Whether a key has at most one process, or any number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// One process per key.
    Unique,
    /// Any number of processes per key (a process may register a key more than once).
    Duplicate,
}

/// A key with its process and value (`{pid, value}`).
pub type Entry = (Pid, Term);

/// A handle on a registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    pid: std::sync::OnceLock<Pid>,
    partitions: Vec<RwLock<HashMap<TermKey, Vec<Entry>>>>,
}

/// `register/3` on a unique registry whose key another process has.
#[derive(Debug, Clone, PartialEq)]
pub struct AlreadyRegistered(pub Pid);

struct Watch(Pid);

impl Registry {
    /// `Registry.start_link/1`: a registry of `partitions` shards, owned by a new process
    /// linked to the caller.
    pub fn start_link(ctx: &mut Context, keys: Keys, partitions: usize) -> Registry {
        let partitions = (0..partitions.max(1))
            .map(|_| RwLock::new(HashMap::new()))
            .collect::<Vec<_>>();
        let registry = Registry {
            inner: Arc::new(Inner {
                keys,
                pid: std::sync::OnceLock::new(),
                partitions,
            }),
        };
        let owner = registry.clone();
        let pid = ctx.spawn_link(move |c| owner.run(c));
        let _ = registry.inner.pid.set(pid);
        registry
    }

    /// The registry's process.
    pub fn pid(&self) -> &Pid {
        self.inner.pid.get().expect("set when the registry starts")
    }

    fn partition(&self, key: &TermKey) -> usize {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % self.inner.partitions.len()
    }

    fn read(&self, i: usize) -> RwLockReadGuard<'_, HashMap<TermKey, Vec<Entry>>> {
        self.inner.partitions[i]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, i: usize) -> RwLockWriteGuard<'_, HashMap<TermKey, Vec<Entry>>> {
        self.inner.partitions[i]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `Registry.register/3`: the calling process under `key` with `value`.
    pub fn register(
        &self,
        ctx: &Context,
        key: &Term,
        value: Term,
    ) -> Result<(), AlreadyRegistered> {
        self.register_pid(ctx.pid(), key, value)?;
        ctx.send(self.pid(), Message::local(Watch(ctx.pid().clone())));
        Ok(())
    }

    fn register_pid(&self, pid: &Pid, key: &Term, value: Term) -> Result<(), AlreadyRegistered> {
        let k = TermKey::new(key);
        let mut table = self.write(self.partition(&k));
        let entries = table.entry(k).or_default();
        if self.inner.keys == Keys::Unique {
            if let Some((owner, _)) = entries.first() {
                return Err(AlreadyRegistered(owner.clone()));
            }
        }
        entries.push((pid.clone(), value));
        Ok(())
    }

    /// `Registry.unregister/2`: the calling process's entries under `key`.
    pub fn unregister(&self, ctx: &Context, key: &Term) {
        let k = TermKey::new(key);
        let mut table = self.write(self.partition(&k));
        if let Some(entries) = table.get_mut(&k) {
            entries.retain(|(p, _)| p != ctx.pid());
            if entries.is_empty() {
                table.remove(&k);
            }
        }
    }

    /// `Registry.lookup/2`.
    pub fn lookup(&self, key: &Term) -> Vec<Entry> {
        let k = TermKey::new(key);
        self.read(self.partition(&k))
            .get(&k)
            .cloned()
            .unwrap_or_default()
    }

    /// `Registry.whereis_name/1` for `via` names: the process of a unique key.
    pub fn whereis(&self, key: &Term) -> Option<Pid> {
        self.lookup(key).into_iter().next().map(|(p, _)| p)
    }

    /// `Registry.dispatch/3`: calls `f` with the entries under `key` (not at all if none).
    pub fn dispatch(&self, key: &Term, f: impl FnOnce(&[Entry])) {
        let entries = self.lookup(key);
        if !entries.is_empty() {
            f(&entries);
        }
    }

    /// `Registry.keys/2`: the keys `pid` is registered under.
    pub fn keys(&self, pid: &Pid) -> Vec<Term> {
        let mut out = Vec::new();
        for i in 0..self.inner.partitions.len() {
            for (k, entries) in self.read(i).iter() {
                if entries.iter().any(|(p, _)| p == pid) {
                    if let Some(term) = k.term() {
                        out.push(term);
                    }
                }
            }
        }
        out
    }

    /// `Registry.count/1`: entries in all.
    pub fn count(&self) -> usize {
        (0..self.inner.partitions.len())
            .map(|i| self.read(i).values().map(Vec::len).sum::<usize>())
            .sum()
    }

    fn remove_pid(&self, pid: &Pid) {
        for i in 0..self.inner.partitions.len() {
            self.write(i).retain(|_, entries| {
                entries.retain(|(p, _)| p != pid);
                !entries.is_empty()
            });
        }
    }

    /// The registry process: monitors registrants and removes their entries when they end.
    async fn run(self, mut ctx: Context) -> ExitReason {
        let mut watched = std::collections::HashSet::new();
        loop {
            let message = ctx.recv().await;
            let message = match message.downcast::<Watch>() {
                Ok(Watch(pid)) => {
                    if watched.insert(pid.clone()) {
                        ctx.monitor(&pid);
                    }
                    continue;
                }
                Err(other) => other,
            };
            if let Some((_, pid, _)) = message.as_down() {
                watched.remove(&pid);
                self.remove_pid(&pid);
            }
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Registry({:?}, {:?})",
            self.inner.keys,
            self.inner.pid.get()
        )
    }
}

impl PartialEq for Registry {
    fn eq(&self, other: &Registry) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// `{via, Registry, Key}` names: the process that starts takes the key (a unique registry),
/// with `nil` as its value, and loses it when it exits.
impl crate::via::Via for Registry {
    fn module(&self) -> etf::Atom {
        etf::Atom::from("Elixir.Registry")
    }

    fn register_name<'a>(
        &'a self,
        ctx: &'a mut Context,
        name: &'a Term,
    ) -> crate::via::ViaFuture<'a, Result<(), Option<Pid>>> {
        Box::pin(async move {
            self.register(ctx, name, Term::NIL)
                .map_err(|AlreadyRegistered(holder)| Some(holder))
        })
    }

    fn unregister_name<'a>(
        &'a self,
        ctx: &'a mut Context,
        name: &'a Term,
    ) -> crate::via::ViaFuture<'a, ()> {
        Box::pin(async move { self.unregister(ctx, name) })
    }

    fn whereis_name(&self, name: &Term) -> Option<Pid> {
        self.whereis(name)
    }
}
