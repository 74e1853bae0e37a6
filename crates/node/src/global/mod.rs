//! `global`: names and locks across the cluster, speaking OTP 25's global protocol (kernel's
//! `global.erl`, protocol version 8) with erl and iex nodes.
//!
//! Every node runs `global_name_server`, with two helpers it links to: the locker (global's
//! own lock over a partition while two partitions join, `locker.rs`) and the registrar (names
//! are registered and unregistered on every known node under global's lock,
//! `registrar.rs`). When two nodes connect, their servers exchange their partitions' names
//! (`connect.rs`), resolving clashes (`resolve.rs`), and each node connects to the other's
//! partition, so the cluster stays fully connected. A node that loses a connection makes the
//! others drop it too (`partitions.rs`). Names and locks are kept per node in tables anyone
//! reads (`tables.rs`); a name goes when its process ends or its node goes down.
//!
//! ```
//! use etf::Term;
//! use rotp_node::{name::NameKind, Node, NodeConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! let mut config = NodeConfig::new("a@127.0.0.1", NameKind::Long, dist::Cookie::new("secret"));
//! config.epmd_port = epmd_port; // an EPMD of its own, on a free loopback port
//! let node = Node::start(config).await?;
//! let pid = node.runtime().spawn(|mut ctx| async move { loop { ctx.recv().await; } });
//!
//! // global:register_name({cache, 7}, Pid), then global:whereis_name({cache, 7})
//! let global = node.global();
//! let name = Term::Tuple(vec![Term::atom("cache"), Term::Integer(7)]);
//! assert!(global.register_name(name.clone(), &pid).await);
//! assert_eq!(global.whereis_name(&name), Some(pid.clone()));
//! assert!(!global.register_name(name.clone(), &pid).await); // taken: `no`
//! global.unregister_name(&name).await;
//! assert_eq!(global.whereis_name(&name), None);
//! # Ok(()) }
//! ```

mod calls;
mod connect;
mod locker;
mod partitions;
mod registrar;
mod resolve;
mod server;
mod sync;
mod tables;
mod terms;
mod whereis;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use etf::{Atom, Pid, Term};
use otp::supervisor::{ChildSpec, Shutdown};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::oneshot;

pub use calls::{LockId, Retries};
pub use resolve::Resolve;

use crate::functions::{CallResult, Exception};
use crate::Node;

/// The protocol version rotp speaks (`?vsn` in OTP 25's global.erl).
pub(crate) const VSN: i64 = 8;

/// What the server's helpers tell it.
pub(crate) enum ServerMsg {
    /// `{lock_is_set, Node, MyTag, LockId}`, from the locker.
    LockIsSet { node: Atom, tag: i64, lock: LockId },
    /// `{exchange_ops, Node, MyTag, Ops, Resolved}`, from a resolver.
    ExchangeOps {
        node: Atom,
        tag: i64,
        ops: Vec<resolve::Op>,
        resolved: Vec<resolve::Op>,
    },
    /// Time to forget the `lost_connection` reports older than an hour (`partitions.rs`).
    ForgetLostConnections,
    /// Time to answer the `whereis` requests that waited for global's lock (`whereis.rs`).
    WhereisAgain,
}

/// What the server shares with readers: the tables, the known nodes, the registrar.
#[derive(Default)]
pub(crate) struct Shared {
    tables: RwLock<tables::Tables>,
    known: RwLock<Vec<Atom>>,
    registrar: Mutex<Option<Pid>>,
    /// How many `lost_connection` reports the server remembers.
    lost_connections: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn known(&self) -> Vec<Atom> {
        self.known.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `where/1`: the holder of `name`; a local holder only while it lives.
    fn where_(&self, runtime: &Runtime, name: &Term) -> Option<Pid> {
        let pid = self.read().lookup(name).map(|e| e.pid.clone())?;
        (pid.node != *runtime.node() || runtime.is_alive(&pid)).then_some(pid)
    }
}

/// `erlang:unique_integer([monotonic])` for the server's tags and operation ids.
fn unique_integer() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(-(1 << 59) + 1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `global_name_server` as a child of `kernel_sup`: a permanent worker with a 2 s shutdown,
/// registered before its start returns.
pub(crate) fn child_spec(node: &Node) -> ChildSpec {
    let node = node.clone();
    ChildSpec::worker("global_name_server", move |ctx, _| {
        let node = node.clone();
        Box::pin(async move {
            let parent = ctx.pid().clone();
            let shared = node.inner().global.clone();
            let n = node.clone();
            // The start returns once the server's helpers are up, as gen_server's init
            // returns before start_link does.
            let (ready, started) = oneshot::channel();
            let pid = ctx.spawn_link(move |c| server::run(c, parent, n, shared, ready));
            ctx.runtime()
                .register(Atom::from(terms::SERVER), &pid)
                .map_err(|_| {
                    ctx.exit(&pid, ExitReason::Kill);
                    ExitReason::Other(Term::Tuple(vec![
                        Term::atom("already_started"),
                        Term::atom(terms::SERVER),
                    ]))
                })?;
            started.await.map_err(|_| ExitReason::NoProc)?;
            Ok(Some(pid))
        })
    })
    .shutdown(Shutdown::Timeout(Duration::from_secs(2)))
}

/// The node's `global`: cluster-wide names and locks. Cheap to clone; get it with
/// [`Node::global`]. A `Global` is also a registry for `{via, global, Name}` server names
/// ([`Global::via`]).
#[derive(Clone)]
pub struct Global {
    node: Node,
}

/// `global:send/2` found no process under the name (`exit({badarg, {Name, Msg}})`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("no process is registered globally as {0:?}")]
pub struct NotRegistered(pub Term);

impl Global {
    pub(crate) fn new(node: &Node) -> Global {
        Global { node: node.clone() }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.node.inner().global
    }

    /// `global:whereis_name/1`.
    pub fn whereis_name(&self, name: &Term) -> Option<Pid> {
        self.shared().where_(self.node.runtime(), name)
    }

    /// How many `lost_connection` reports ("prevent overlapping partitions") this node's
    /// `global` remembers: OTP keeps them for an hour in its `global_lost_connections` table;
    /// rotp keeps at most the last 16 384 of them that long.
    pub fn lost_connections(&self) -> usize {
        self.shared().lost_connections.load(Ordering::Relaxed)
    }

    /// `global:registered_names/0`.
    pub fn registered_names(&self) -> Vec<Term> {
        self.shared()
            .read()
            .names
            .values()
            .map(|e| e.name.clone())
            .collect()
    }

    /// `global:register_name/2`: `pid` takes `name` on every node, clashes to be resolved by
    /// [`Resolve::RandomExit`]; `false` (`no`) if the name is taken, or `pid` has a name.
    pub async fn register_name(&self, name: Term, pid: &Pid) -> bool {
        self.register(name, pid, Resolve::RandomExit.to_term(), false)
            .await
    }

    /// `global:register_name/3` with one of OTP's resolve functions.
    pub async fn register_name_with(&self, name: Term, pid: &Pid, resolve: Resolve) -> bool {
        self.register(name, pid, resolve.to_term(), false).await
    }

    /// `global:re_register_name/2`: `pid` takes `name`, whoever had it.
    pub async fn re_register_name(&self, name: Term, pid: &Pid) {
        self.register(name, pid, Resolve::RandomExit.to_term(), true)
            .await;
    }

    async fn register(&self, name: Term, pid: &Pid, method: Term, re: bool) -> bool {
        let (done, answer) = oneshot::channel();
        let request = registrar::Request::Register {
            name,
            pid: pid.clone(),
            method,
            re,
            done,
        };
        self.ask(request) && answer.await.unwrap_or(false)
    }

    /// `global:unregister_name/1`.
    pub async fn unregister_name(&self, name: &Term) {
        if self.whereis_name(name).is_none() {
            return;
        }
        let (done, answer) = oneshot::channel();
        if self.ask(registrar::Request::Unregister {
            name: name.clone(),
            done,
        }) {
            let _ = answer.await;
        }
    }

    fn ask(&self, request: registrar::Request) -> bool {
        let registrar = self
            .shared()
            .registrar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match registrar {
            Some(pid) if self.node.runtime().is_alive(&pid) => {
                self.node.runtime().send(&pid, Message::local(request));
                true
            }
            _ => false,
        }
    }

    /// `global:send/2`: `message` to the process registered as `name`, from `ctx`.
    pub fn send(&self, ctx: &Context, name: &Term, message: Term) -> Result<Pid, NotRegistered> {
        let pid = self
            .whereis_name(name)
            .ok_or_else(|| NotRegistered(name.clone()))?;
        ctx.send(&pid, Message::Term(message));
        Ok(pid)
    }

    /// This node and the visible nodes it is connected to (`[node() | nodes()]`).
    fn all_nodes(&self) -> Vec<Atom> {
        let mut nodes = vec![self.node.name().clone()];
        nodes.extend(self.node.nodes(false));
        nodes
    }

    /// `global:set_lock(Id, Nodes, Retries)`: `ctx`'s process holds the lock on `nodes`
    /// (this node and every visible node when `None`) when this returns `true`. Locks with the
    /// same requester are shared; the lock goes when every holder lets go of it or ends.
    pub async fn set_lock(
        &self,
        ctx: &mut Context,
        id: &LockId,
        nodes: Option<&[Atom]>,
        retries: Retries,
    ) -> bool {
        let nodes = nodes.map_or_else(|| self.all_nodes(), <[Atom]>::to_vec);
        calls::set_lock(ctx, self.shared(), id, &nodes, retries).await
    }

    /// `global:del_lock(Id, Nodes)`.
    pub async fn del_lock(&self, ctx: &mut Context, id: &LockId, nodes: Option<&[Atom]>) {
        let nodes = nodes.map_or_else(|| self.all_nodes(), <[Atom]>::to_vec);
        calls::del_lock(ctx, id, &nodes).await;
    }

    /// `global:trans(Id, Fun, Nodes, Retries)`: runs `body` holding the lock, then lets go of
    /// it; `None` (`aborted`) if the lock could not be set.
    pub async fn trans<T>(
        &self,
        ctx: &mut Context,
        id: &LockId,
        nodes: Option<&[Atom]>,
        retries: Retries,
        body: impl AsyncFnOnce(&mut Context) -> T,
    ) -> Option<T> {
        let nodes = nodes.map_or_else(|| self.all_nodes(), <[Atom]>::to_vec);
        if !calls::set_lock(ctx, self.shared(), id, &nodes, retries).await {
            return None;
        }
        let result = body(ctx).await;
        calls::del_lock(ctx, id, &nodes).await;
        Some(result)
    }

    /// `global:sync/0`: waits until this node's names are in sync with every node it is
    /// connected to.
    pub async fn sync(&self) {
        let nodes = atoms(&self.node.nodes(false));
        let me = self.node.name().clone();
        let _ = self
            .node
            .in_process(move |ctx| async move {
                crate::gen_call(
                    ctx,
                    &Atom::from(terms::SERVER),
                    &me,
                    terms::tagged("sync", vec![nodes]),
                    Duration::from_secs(u32::MAX as u64),
                )
                .await
            })
            .await;
    }

    /// `{via, global, Name}`, to start a server under or call it by.
    pub fn via(&self, name: Term) -> otp::Name {
        otp::Name::via(self.clone(), name)
    }
}

fn atoms(nodes: &[Atom]) -> Term {
    terms::atoms(nodes)
}

impl otp::Via for Global {
    fn module(&self) -> Atom {
        Atom::from("global")
    }

    fn register_name<'a>(
        &'a self,
        ctx: &'a mut Context,
        name: &'a Term,
    ) -> otp::via::ViaFuture<'a, Result<(), Option<Pid>>> {
        Box::pin(async move {
            if Global::register_name(self, name.clone(), ctx.pid()).await {
                Ok(())
            } else {
                Err(self.whereis_name(name))
            }
        })
    }

    fn unregister_name<'a>(
        &'a self,
        _: &'a mut Context,
        name: &'a Term,
    ) -> otp::via::ViaFuture<'a, ()> {
        Box::pin(async move { Global::unregister_name(self, name).await })
    }

    fn whereis_name(&self, name: &Term) -> Option<Pid> {
        Global::whereis_name(self, name)
    }
}

/// The `global` functions other nodes call by rpc (`global:whereis_name/1`, ...), and
/// `global:resolve_it/4`, which the resolving node calls on the holder's node.
pub(crate) async fn builtin(node: &Node, function: &str, args: &[Term]) -> Option<CallResult> {
    let global = node.global();
    let yes_no = |b: bool| Term::atom(if b { "yes" } else { "no" });
    let badarg = || Err(Exception::Error(Term::atom("badarg")));
    Some(match (function, args) {
        ("whereis_name", [name]) => Ok(global
            .whereis_name(name)
            .map_or_else(|| Term::atom("undefined"), Term::Pid)),
        ("registered_names", []) => Ok(Term::List(global.registered_names())),
        ("register_name", [name, Term::Pid(pid)]) => {
            Ok(yes_no(global.register_name(name.clone(), pid).await))
        }
        ("register_name", [name, Term::Pid(pid), method]) => Ok(yes_no(
            global
                .register(name.clone(), pid, method.clone(), false)
                .await,
        )),
        ("re_register_name", [name, Term::Pid(pid)]) => {
            global.re_register_name(name.clone(), pid).await;
            Ok(Term::atom("yes"))
        }
        ("unregister_name", [name]) => {
            global.unregister_name(name).await;
            Ok(Term::atom("ok"))
        }
        ("send", [name, message]) => match global.whereis_name(name) {
            Some(pid) => {
                node.runtime().send(&pid, Message::Term(message.clone()));
                Ok(Term::Pid(pid))
            }
            None => Err(Exception::Exit(Term::Tuple(vec![
                Term::atom("badarg"),
                Term::Tuple(vec![name.clone(), message.clone()]),
            ]))),
        },
        ("sync", []) => {
            global.sync().await;
            Ok(Term::atom("ok"))
        }
        ("resolve_it", [_, _, _, _]) => Ok(resolve::resolve_it(node, args).await),
        ("register_name" | "re_register_name", _) => badarg(),
        _ => return None,
    })
}
