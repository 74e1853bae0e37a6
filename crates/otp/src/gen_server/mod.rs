//! `GenServer`: a process that keeps state and answers calls, casts and other messages, after
//! `lib/stdlib/src/gen_server.erl` and Elixir's `GenServer`.
//!
//! The behaviour (a `GenServer` impl) is apart from its state (`Self::State`), as `init/1`
//! turns arguments into state. Calls and casts between rotp processes are Rust values sent
//! without serialising; the caller monitors the server, so a server that dies or does not
//! exist ends the call at once.
//!
//! Calls from other nodes (erl, iex, rotp) come as terms. A server whose messages are `serde`
//! types takes them with one line, [`serde_messages!()`](crate::serde_messages), and
//! [`call_typed`] / [`cast_typed`] call any server — a BEAM `gen_server` too — with `serde`
//! types (see [`typed`]):
//!
//! What the callbacks return ([`Init`], [`CallReply`], [`NoReply`]) are gen_server's return
//! tuples, with the optional last element, an [`Action`] (a timeout, `hibernate` or
//! `{continue, Term}`), added by a method: `CallReply::Reply(n).timeout(d)` is
//! `{reply, N, State, Timeout}`. A server writes only the callbacks it uses; the others do what
//! Elixir's `use GenServer` injects (see each callback's doc): a call to a server without
//! `handle_call` stops it with `attempted to call GenServer … but no handle_call/3 clause was
//! provided`, and without `init` a server whose `Args` type is its `State` starts with its
//! arguments as its state. A server that stops abnormally prints gen_server's error report
//! (see [`runtime::logger`]).
//!
//! ```
//! use rotp_otp::gen_server::{self, CallReply, GenServer, Init};
//! use runtime::{Context, ExitReason};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! struct Counter;
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! enum Request {
//!     Inc(i64), // erl: gen_server:call(counter, {inc, 5})
//!     Get,      // erl: gen_server:call(counter, get)
//! }
//!
//! impl GenServer for Counter {
//!     type Args = ();
//!     type State = i64;
//!     type Call = Request;
//!     type Reply = Result<i64, String>; // {ok, 5}
//!     type Cast = ();
//!
//!     rotp_otp::serde_messages!();
//!
//!     async fn init(&self, _: (), _: &mut Context) -> Init<i64> {
//!         Init::Ok(0)
//!     }
//!
//!     async fn handle_call(
//!         &self,
//!         request: Request,
//!         _: &rotp_otp::From,
//!         n: &mut i64,
//!         _: &mut Context,
//!     ) -> CallReply<Result<i64, String>> {
//!         if let Request::Inc(k) = request {
//!             *n += k;
//!         }
//!         CallReply::Reply(Ok(*n))
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let (tx, rx) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! let pid = gen_server::start_link(&mut ctx, Counter, (), None).await.unwrap().unwrap();
//! // Through terms, as erl calls it: {inc, 5} → {ok, 5}.
//! let reply: Result<i64, String> =
//!     gen_server::call_typed(&mut ctx, &pid, &Request::Inc(5), Duration::from_secs(5))
//!         .await
//!         .unwrap();
//! assert_eq!(reply, Ok(5));
//! # let _ = tx.send(reply);
//! # ExitReason::Normal
//! # });
//! # assert_eq!(rx.await.unwrap(), Ok(5));
//! # });
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Pid, Reference, Term};

use crate::via::Via;
use defaults::Last;
use futures::FutureExt;
use runtime::{Context, ExitReason, Message};

mod defaults;
mod handle;
mod returns;
pub(crate) mod term;
pub mod typed;

pub use handle::Handle;
pub use returns::{Action, CallReply, Init, NoReply};
pub use term::{call_term, cast_term, try_call_term};
use thiserror::Error;
pub use typed::{call_typed, cast_typed, send_typed, TypedCallError};

/// The caller of a call, to reply to later (`GenServer.reply/2`).
///
/// A `From` is `Clone + Send`: the server can keep it in its state, or hand it to another
/// process, return [`CallReply::NoReply`] and take its next message while that process
/// works; whichever process holds it replies, once, with [`From::reply`] (a rotp caller's
/// Rust value), [`From::reply_term`] or [`From::reply_typed`] (which suit a caller on erl or
/// iex as well). The caller's `call` still ends at its timeout if no reply comes.
///
/// ```
/// use rotp_otp::gen_server::{CallReply, From, GenServer};
/// use runtime::{Context, ExitReason};
///
/// struct Slow;
///
/// impl GenServer for Slow {
///     type Args = ();
///     type State = ();
///     type Call = u64;
///     type Reply = u64;
///     type Cast = ();
///
///     async fn handle_call(&self, n: u64, from: &From, _: &mut (), ctx: &mut Context) -> CallReply<u64> {
///         let from = from.clone();
///         ctx.spawn(move |ctx| async move {
///             from.reply(&ctx, n * 2); // a worker answers the caller
///             ExitReason::Normal
///         });
///         CallReply::NoReply
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct From {
    pid: Pid,
    tag: Tag,
}

/// How the caller waits for its reply.
#[derive(Clone, Debug)]
enum Tag {
    /// A rotp caller: a Rust value, in a `ReplyEnvelope`.
    Local(Reference),
    /// A caller that sent `{'$gen_call', {Pid, Tag}, Request}` (erl, iex, another node, or a
    /// term call): `{Tag, Reply}`, whatever the tag is (a reference, or OTP 25's
    /// `[alias | Ref]`).
    Term(Term),
}

impl From {
    /// The calling process.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Sends the reply to a call the server answered with [`CallReply::NoReply`]. A caller
    /// that called with a term gets the reply as a term: `reply` must then be a [`Term`] (see
    /// [`From::reply_term`] for a server whose replies convert).
    pub fn reply<R: Send + 'static>(&self, ctx: &Context, reply: R) {
        self.reply_boxed(ctx, Box::new(reply));
    }

    /// Sends a reply that is a term, to either kind of caller.
    pub fn reply_term(&self, ctx: &Context, reply: Term) {
        match &self.tag {
            Tag::Local(_) => self.reply(ctx, reply),
            Tag::Term(tag) => ctx.send(
                &self.pid,
                Message::Term(Term::Tuple(vec![tag.clone(), reply])),
            ),
        }
    }

    /// Sends a reply that is a `serde` value, to either kind of caller: as it is to a rotp
    /// caller that called with a Rust value, as a term to one that called with a term (a
    /// server using [`serde_messages!`](crate::serde_messages) that answers later). A reply with
    /// no term form is not sent (logged as a warning).
    pub fn reply_typed<R: serde::Serialize + Send + 'static>(&self, ctx: &Context, reply: R) {
        match &self.tag {
            Tag::Local(_) => self.reply(ctx, reply),
            Tag::Term(_) => match etf::serde::to_term(&reply) {
                Ok(term) => self.reply_term(ctx, term),
                Err(e) => tracing::warn!("a reply to {:?} has no term form: {e}", self.pid),
            },
        }
    }

    /// The caller of a `{'$gen_call', {Pid, Tag}, Request}`.
    pub(crate) fn from_term_call(pid: Pid, tag: Term) -> From {
        From {
            pid,
            tag: Tag::Term(tag),
        }
    }

    /// Sends a reply that is already boxed (a stage's `CallReturn`): as it is to a rotp caller,
    /// as a term to a term caller.
    pub(crate) fn reply_boxed(&self, ctx: &Context, reply: Box<dyn Any + Send>) {
        match &self.tag {
            Tag::Local(tag) => ctx.send(
                &self.pid,
                Message::local(ReplyEnvelope {
                    tag: tag.clone(),
                    reply,
                }),
            ),
            Tag::Term(_) => match reply.downcast::<Term>() {
                Ok(term) => self.reply_term(ctx, *term),
                Err(_) => tracing::warn!(
                    "a reply to {:?}, which called with a term, is not a term: not sent",
                    self.pid
                ),
            },
        }
    }

    fn is_term(&self) -> bool {
        matches!(self.tag, Tag::Term(_))
    }
}

/// A server to call: its pid, its registered name, or a name in a [`Via`] registry.
#[derive(Clone, Debug)]
pub enum ServerRef {
    /// A pid.
    Pid(Pid),
    /// A locally registered name.
    Name(Atom),
    /// `{via, Module, Name}`.
    Via(Arc<dyn Via>, Term),
    /// `{Name, Node}`: a name registered on a node (this one or another).
    Remote(Atom, Atom),
}

impl PartialEq for ServerRef {
    fn eq(&self, other: &ServerRef) -> bool {
        match (self, other) {
            (ServerRef::Pid(a), ServerRef::Pid(b)) => a == b,
            (ServerRef::Name(a), ServerRef::Name(b)) => a == b,
            (ServerRef::Via(r, a), ServerRef::Via(s, b)) => r.module() == s.module() && a == b,
            (ServerRef::Remote(a, n), ServerRef::Remote(b, m)) => a == b && n == m,
            _ => false,
        }
    }
}

impl ServerRef {
    /// `{via, Module, Name}`.
    pub fn via(registry: impl Via, name: Term) -> ServerRef {
        ServerRef::Via(Arc::new(registry), name)
    }
}

/// A name to start a server under: local, or `{via, Module, Name}`.
#[derive(Clone, Debug)]
pub enum Name {
    /// `{local, Name}`.
    Local(Atom),
    /// `{via, Module, Name}` (a registry with unique names).
    Via(Arc<dyn Via>, Term),
}

impl Name {
    /// `{via, Module, Name}`.
    pub fn via(registry: impl Via, name: Term) -> Name {
        Name::Via(Arc::new(registry), name)
    }

    /// Registers the calling process under the name, as a starting server does:
    /// `{already_started, Pid}` when another process has it.
    pub async fn register(&self, ctx: &mut Context) -> Result<(), ExitReason> {
        let taken = match self {
            Name::Local(atom) => ctx
                .register(atom.clone())
                .err()
                .map(|_| ctx.runtime().whereis(atom)),
            Name::Via(registry, key) => registry.register_name(ctx, key).await.err(),
        };
        match taken {
            None => Ok(()),
            Some(owner) => {
                let owner = owner.map_or(Term::atom("undefined"), Term::Pid);
                Err(ExitReason::Other(Term::Tuple(vec![
                    Term::atom("already_started"),
                    owner,
                ])))
            }
        }
    }

    /// The name as gen_server's reports show it: `{local, Name}` or `{via, Module, Name}`.
    pub fn to_term(&self) -> Term {
        match self {
            Name::Local(n) => Term::Tuple(vec![Term::atom("local"), Term::Atom(n.clone())]),
            Name::Via(r, n) => {
                Term::Tuple(vec![Term::atom("via"), Term::Atom(r.module()), n.clone()])
            }
        }
    }
}

impl std::convert::From<&Name> for ServerRef {
    fn from(name: &Name) -> ServerRef {
        match name {
            Name::Local(n) => ServerRef::Name(n.clone()),
            Name::Via(r, n) => ServerRef::Via(r.clone(), n.clone()),
        }
    }
}

impl std::convert::From<Atom> for Name {
    fn from(name: Atom) -> Name {
        Name::Local(name)
    }
}

/// `{local, Name}` from a name's text: `Some("counter".into())`.
impl std::convert::From<&str> for Name {
    fn from(name: &str) -> Name {
        Name::Local(Atom::from(name))
    }
}

impl std::convert::From<Pid> for ServerRef {
    fn from(pid: Pid) -> ServerRef {
        ServerRef::Pid(pid)
    }
}

impl std::convert::From<&Pid> for ServerRef {
    fn from(pid: &Pid) -> ServerRef {
        ServerRef::Pid(pid.clone())
    }
}

impl std::convert::From<Atom> for ServerRef {
    fn from(name: Atom) -> ServerRef {
        ServerRef::Name(name)
    }
}

/// A locally registered name: `gen_server::call(ctx, "counter", ...)`.
impl std::convert::From<&str> for ServerRef {
    fn from(name: &str) -> ServerRef {
        ServerRef::Name(Atom::from(name))
    }
}

impl ServerRef {
    /// The server as `gen_server:call`'s exit reasons name it.
    pub fn to_term(&self) -> Term {
        match self {
            ServerRef::Pid(p) => Term::Pid(p.clone()),
            ServerRef::Name(n) => Term::Atom(n.clone()),
            ServerRef::Remote(n, node) => {
                Term::Tuple(vec![Term::Atom(n.clone()), Term::Atom(node.clone())])
            }
            ServerRef::Via(registry, key) => Term::Tuple(vec![
                Term::atom("via"),
                Term::Atom(registry.module()),
                key.clone(),
            ]),
        }
    }

    /// The pid behind the reference, if there is one now (a name on another node has none
    /// here: it is called by name).
    pub fn resolve(&self, ctx: &Context) -> Option<Pid> {
        match self {
            ServerRef::Pid(p) => Some(p.clone()),
            ServerRef::Name(n) => ctx.runtime().whereis(n),
            ServerRef::Via(registry, key) => registry.whereis_name(key),
            ServerRef::Remote(n, node) if node == ctx.runtime().node() => ctx.runtime().whereis(n),
            ServerRef::Remote(..) => None,
        }
    }

    /// Whether the server is another node's (its requests and replies must be terms).
    pub fn is_remote(&self, ctx: &Context) -> bool {
        match self {
            ServerRef::Pid(p) => p.node != *ctx.runtime().node(),
            ServerRef::Remote(_, node) => node != ctx.runtime().node(),
            ServerRef::Via(registry, key) => registry
                .whereis_name(key)
                .is_some_and(|p| p.node != *ctx.runtime().node()),
            ServerRef::Name(_) => false,
        }
    }
}

/// Why a call failed; [`call`] makes the caller exit with [`CallError::exit_reason`], as
/// `gen_server:call/3` does.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the timeout.
    #[error("call timed out")]
    Timeout,
    /// The server did not exist.
    #[error("no such server")]
    NoProc,
    /// The server exited before replying.
    #[error("server exited: {0:?}")]
    Exited(ExitReason),
    /// The reply was not of the type the caller expected.
    #[error("reply of an unexpected type")]
    BadReply,
    /// The server's node went away (or could not be reached) before it replied.
    #[error("node {0} is down")]
    NodeDown(Atom),
    /// A call to another node's server must be a term, and expect a term.
    #[error("a call to another node's server must be a term")]
    NotATerm,
}

impl CallError {
    /// The reason a caller exits with: `{Reason, {gen_server, call, [Server, Request]}}` (the
    /// request shown as `'$rust'`: a Rust value has no term).
    pub fn exit_reason(&self, server: &ServerRef) -> ExitReason {
        self.exit_reason_for(server, vec![Term::atom("$rust")])
    }

    /// [`CallError::exit_reason`] with the call's arguments as `gen_server:call/3` lists
    /// them: `{Reason, {gen_server, call, [Server | Args]}}`.
    pub fn exit_reason_for(&self, server: &ServerRef, args: Vec<Term>) -> ExitReason {
        let reason = match self {
            CallError::Timeout => Term::atom("timeout"),
            CallError::NoProc => Term::atom("noproc"),
            CallError::Exited(r) => r.to_term(),
            CallError::BadReply => Term::atom("bad_reply"),
            CallError::NodeDown(node) => {
                Term::Tuple(vec![Term::atom("nodedown"), Term::Atom(node.clone())])
            }
            CallError::NotATerm => Term::atom("badarg"),
        };
        let mut list = vec![server.to_term()];
        list.extend(args);
        let location = Term::Tuple(vec![
            Term::atom("gen_server"),
            Term::atom("call"),
            Term::List(list),
        ]);
        ExitReason::Other(Term::Tuple(vec![reason, location]))
    }
}

pub(crate) struct CallEnvelope {
    pub(crate) from: From,
    pub(crate) request: Box<dyn Any + Send>,
}

pub(crate) struct CastEnvelope(pub(crate) Box<dyn Any + Send>);

/// The reply to a call whose request is not of the server's `Call` type.
struct WrongRequest;

struct ReplyEnvelope {
    tag: Reference,
    reply: Box<dyn Any + Send>,
}

pub(crate) struct StopEnvelope {
    pub(crate) reason: ExitReason,
}

struct InitAck {
    result: Result<(), Option<ExitReason>>,
}

/// A server's callbacks. `Self` is the behaviour; the state it keeps is `Self::State`.
pub trait GenServer: Send + Sync + Sized + 'static {
    /// What `init` gets.
    type Args: Send + 'static;
    /// The server's state.
    type State: Send + 'static;
    /// Requests `handle_call` answers.
    type Call: Send + 'static;
    /// What calls return.
    type Reply: Send + 'static;
    /// Requests `handle_cast` handles.
    type Cast: Send + 'static;

    /// A request that came as a term (`{'$gen_call', From, Request}`: from erl, iex, another
    /// node, or [`call_term`]) as this server's `Call`, or `None` to leave the message to
    /// `handle_info`. By default a server whose `Call` is [`Term`] takes every term request.
    fn call_from_term(request: &Term) -> Option<Self::Call> {
        (Box::new(request.clone()) as Box<dyn Any>)
            .downcast::<Self::Call>()
            .ok()
            .map(|r| *r)
    }

    /// The reply to a term request, as a term (`None`: the caller gets no reply). By default a
    /// `Reply` that is a [`Term`].
    fn reply_to_term(reply: Self::Reply) -> Option<Term> {
        (Box::new(reply) as Box<dyn Any>)
            .downcast::<Term>()
            .ok()
            .map(|r| *r)
    }

    /// A cast that came as a term (`{'$gen_cast', Request}`), or `None` to leave it to
    /// `handle_info`. By default a server whose `Cast` is [`Term`] takes every term cast.
    fn cast_from_term(request: &Term) -> Option<Self::Cast> {
        (Box::new(request.clone()) as Box<dyn Any>)
            .downcast::<Self::Cast>()
            .ok()
            .map(|r| *r)
    }

    /// `init/1`: the state from the arguments, and what to do first ([`Init`]).
    ///
    /// Left out, it is Elixir's injected default, `{:ok, init_arg}`: a server whose `Args`
    /// type is its `State` type starts with its arguments as its state. A server whose `Args`
    /// are something else must write `init`; left out there, every start fails at once with
    /// `{bad_init, <<"… write init">>}` naming both types (Rust has no way to make that a
    /// compile error while the trait keeps one `init` for both cases).
    ///
    /// ```
    /// # use rotp_otp::gen_server::GenServer;
    /// struct Counter;
    ///
    /// impl GenServer for Counter {
    ///     type Args = i64; // start_link(ctx, Counter, 0, None): the state starts at 0
    ///     type State = i64;
    ///     type Call = ();
    ///     type Reply = i64;
    ///     type Cast = ();
    /// }
    /// ```
    fn init(
        &self,
        args: Self::Args,
        _ctx: &mut Context,
    ) -> impl Future<Output = Init<Self::State>> + Send {
        let init = defaults::init::<Self>(args);
        async move { init }
    }

    /// `handle_call/3`: answers a call ([`CallReply`]). Through `from` the reply can also be
    /// sent later, by this process or any other ([`From::reply`]).
    ///
    /// Left out, a call stops the server, as Elixir's default does: with the reason
    /// `{panic, <<"attempted to call GenServer counter but no handle_call/3 clause was
    /// provided">>}`, which the caller's `call` exits with and the server's report shows.
    fn handle_call(
        &self,
        _request: Self::Call,
        _from: &From,
        _state: &mut Self::State,
        ctx: &mut Context,
    ) -> impl Future<Output = CallReply<Self::Reply>> + Send {
        let reason = defaults::missing(ctx, "call", "handle_call/3");
        async move { CallReply::Stop(reason) }
    }

    /// `handle_cast/2`.
    ///
    /// Left out, a cast stops the server, as Elixir's default does: `{panic, <<"attempted to
    /// cast GenServer … but no handle_cast/2 clause was provided">>}`.
    fn handle_cast(
        &self,
        _request: Self::Cast,
        _state: &mut Self::State,
        ctx: &mut Context,
    ) -> impl Future<Output = NoReply> + Send {
        let reason = defaults::missing(ctx, "cast", "handle_cast/2");
        async move { NoReply::Stop(reason) }
    }

    /// `handle_info/2`: any other message (exit messages when trapping, `'DOWN'`s, terms from
    /// other nodes, the atom `timeout` after a return's [`Action::Timeout`]).
    ///
    /// Left out, the message is logged at the error level, as Elixir's default does
    /// (`… received unexpected message in handle_info/2: …`), and the server goes on.
    fn handle_info(
        &self,
        message: Message,
        _state: &mut Self::State,
        ctx: &mut Context,
    ) -> impl Future<Output = NoReply> + Send {
        defaults::unexpected_info::<Self>(ctx, &message);
        async { NoReply::Continue }
    }

    /// `handle_continue/2`: runs with the `Term` of a `{continue, Term}` that `init`
    /// ([`Init::Continue`]), `handle_call` ([`CallReply::continue_with`]), or `handle_cast`,
    /// `handle_info` or `handle_continue` itself ([`NoReply::ContinueWith`]) returned, before
    /// the server takes any message (after the reply, for a call).
    ///
    /// ```
    /// # use rotp_otp::gen_server::{GenServer, Init, NoReply};
    /// # use runtime::Context;
    /// # use etf::Term;
    /// struct Loader;
    ///
    /// impl GenServer for Loader {
    ///     type Args = ();
    ///     type State = Vec<String>;
    ///     type Call = ();
    ///     type Reply = ();
    ///     type Cast = ();
    ///
    ///     // Returns at once, so start_link does not wait for the load.
    ///     async fn init(&self, _: (), _: &mut Context) -> Init<Vec<String>> {
    ///         Init::Ok(Vec::new()).continue_with(Term::atom("load"))
    ///     }
    ///
    ///     async fn handle_continue(&self, _: Term, rows: &mut Vec<String>, _: &mut Context) -> NoReply {
    ///         rows.push("loaded".into());
    ///         NoReply::Continue
    ///     }
    /// }
    /// ```
    ///
    /// Left out, a `{continue, _}` does nothing (OTP has no default: an undefined
    /// `handle_continue` crashes the server; there is no use in that here).
    fn handle_continue(
        &self,
        _continue: Term,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = NoReply> + Send {
        async { NoReply::Continue }
    }

    /// `terminate/2`: called when the server stops itself, and when its parent shuts it down
    /// while it traps exits.
    fn terminate(
        &self,
        _reason: &ExitReason,
        _state: &mut Self::State,
        _ctx: &mut Context,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// `GenServer.start_link/3`: starts a server linked to the caller, runs `init` and waits for
/// it. `Ok(Some(pid))`, `Ok(None)` for `ignore`, or the reason `init` stopped with (the linked
/// caller then also gets that exit signal, as in OTP 25).
pub async fn start_link<G: GenServer>(
    ctx: &mut Context,
    server: G,
    args: G::Args,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    let parent = ctx.pid().clone();
    let pid = ctx.spawn_link(move |child| serve(server, args, parent, name, child));
    start_ack(ctx, &pid).await
}

/// `GenServer.start/3`: as [`start_link`], without the link.
pub async fn start<G: GenServer>(
    ctx: &mut Context,
    server: G,
    args: G::Args,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    let parent = ctx.pid().clone();
    let pid = ctx.spawn(move |child| serve(server, args, parent, name, child));
    start_ack(ctx, &pid).await
}

async fn start_ack(ctx: &mut Context, pid: &Pid) -> Result<Option<Pid>, ExitReason> {
    let monitor = ctx.monitor(pid);
    let p = pid.clone();
    let answer = ctx
        .receive(|m| {
            m.downcast_ref::<(Pid, InitAck)>()
                .is_some_and(|(from, _)| *from == p)
                || m.as_down().is_some_and(|(r, _, _)| r == monitor)
        })
        .await;
    ctx.demonitor(&monitor, true);
    if let Some((_, _, reason)) = answer.as_down() {
        return Err(reason);
    }
    match answer.downcast::<(Pid, InitAck)>() {
        Ok((_, InitAck { result: Ok(()) })) => Ok(Some(pid.clone())),
        Ok((_, InitAck { result: Err(None) })) => Ok(None),
        Ok((
            _,
            InitAck {
                result: Err(Some(reason)),
            },
        )) => Err(reason),
        Err(_) => Err(ExitReason::atom("bad_init_ack")),
    }
}

/// The server loop (`gen_server:loop/7`).
async fn serve<G: GenServer>(
    server: G,
    args: G::Args,
    parent: Pid,
    name: Option<Name>,
    mut ctx: Context,
) -> ExitReason {
    ctx.set_behaviour("gen_server", std::any::type_name::<G>());
    let me = ctx.pid().clone();
    let ack =
        |ctx: &Context, result| ctx.send(&parent, Message::local((me.clone(), InitAck { result })));
    if let Some(name) = name {
        if let Err(reason) = name.register(&mut ctx).await {
            ack(&ctx, Err(Some(reason.clone())));
            return reason;
        }
    }
    let (mut state, mut next) = match server.init(args, &mut ctx).await.into_parts() {
        Ok(parts) => parts,
        Err(stop) => {
            ack(&ctx, Err(stop.clone()));
            return stop.unwrap_or(ExitReason::Normal);
        }
    };
    ack(&ctx, Ok(()));
    let mut last = Last::None;
    loop {
        let action = next.take();
        // A panic in a callback stops the server through terminate, as gen_server catches
        // what a callback raises (`try_dispatch/4`).
        let step = AssertUnwindSafe(step(
            &server, action, &parent, &mut state, &mut ctx, &mut last,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Dispatch::Stopped(ExitReason::Panic(panic_message(&*panic))));
        let reason = match step {
            Dispatch::Step(step) => match step.into_next() {
                Ok(action) => {
                    next = action;
                    continue;
                }
                Err(reason) => reason,
            },
            Dispatch::Stopped(reason) => reason,
        };
        server.terminate(&reason, &mut state, &mut ctx).await;
        defaults::terminating(&ctx, &reason, &last);
        return reason;
    }
}

/// One turn of the loop (`gen_server:loop/7`): the action the last callback returned, else
/// the next message.
async fn step<G: GenServer>(
    server: &G,
    action: Option<Action>,
    parent: &Pid,
    state: &mut G::State,
    ctx: &mut Context,
    last: &mut Last,
) -> Dispatch {
    let message = match action {
        Some(Action::Continue(cont)) => {
            *last = Last::Continue;
            return Dispatch::Step(server.handle_continue(cont, state, ctx).await);
        }
        // `receive Input -> Input after Time -> timeout end`: any message cancels it.
        Some(Action::Timeout(timeout)) => match ctx.receive_timeout(timeout, |_| true).await {
            Some(message) => message,
            None => {
                *last = Last::Timeout;
                let timeout = Message::Term(Term::atom("timeout"));
                return Dispatch::Step(server.handle_info(timeout, state, ctx).await);
            }
        },
        // Hibernating has nothing to do in rotp (see `Action::Hibernate`).
        Some(Action::Hibernate) | None => ctx.recv().await,
    };
    dispatch(server, message, parent, state, ctx, last).await
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

enum Dispatch {
    Step(NoReply),
    /// Stop now (asked by `stop/3`, the parent's exit, or a panic), running `terminate`.
    Stopped(ExitReason),
}

async fn dispatch<G: GenServer>(
    server: &G,
    message: Message,
    parent: &Pid,
    state: &mut G::State,
    ctx: &mut Context,
    last: &mut Last,
) -> Dispatch {
    let message = match message.downcast::<CallEnvelope>() {
        Ok(CallEnvelope { from, request }) => {
            *last = Last::Call(from.pid.clone());
            let Ok(request) = request.downcast::<G::Call>() else {
                // A request of another type than this server's: the caller learns at once
                // (`CallError::BadReply`) instead of waiting for its timeout.
                from.reply(ctx, WrongRequest);
                return Dispatch::Step(NoReply::Continue);
            };
            return Dispatch::Step(handle_call(server, *request, &from, state, ctx).await);
        }
        Err(other) => other,
    };
    let message = match message.downcast::<CastEnvelope>() {
        Ok(CastEnvelope(request)) => {
            *last = Last::Cast;
            return Dispatch::Step(match request.downcast::<G::Cast>() {
                Ok(request) => server.handle_cast(*request, state, ctx).await,
                Err(_) => NoReply::Continue,
            });
        }
        Err(other) => other,
    };
    let message = match message.downcast::<StopEnvelope>() {
        Ok(StopEnvelope { reason }) => return Dispatch::Stopped(reason),
        Err(other) => other,
    };
    // The parent's exit signal, when trapping, stops the server through terminate (as
    // gen_server does for `{'EXIT', Parent, Reason}`).
    if let Some((from, reason)) = message.as_exit() {
        if from == *parent {
            return Dispatch::Stopped(reason);
        }
    }
    // Calls and casts that came as terms, when the server takes them.
    if let Some(term) = message.as_term() {
        match term::request(term) {
            Some(term::Request::Call(pid, tag, request)) => {
                if let Some(request) = G::call_from_term(request) {
                    *last = Last::Call(pid.clone());
                    let from = From {
                        pid,
                        tag: Tag::Term(tag),
                    };
                    return Dispatch::Step(handle_call(server, request, &from, state, ctx).await);
                }
            }
            Some(term::Request::Cast(request)) => {
                if let Some(request) = G::cast_from_term(request) {
                    *last = Last::Cast;
                    return Dispatch::Step(server.handle_cast(request, state, ctx).await);
                }
            }
            None => {}
        }
    }
    *last = Last::Info;
    Dispatch::Step(server.handle_info(message, state, ctx).await)
}

/// Runs `handle_call` and sends what it replies: a Rust value to a rotp caller, a term to a
/// caller that called with a term.
async fn handle_call<G: GenServer>(
    server: &G,
    request: G::Call,
    from: &From,
    state: &mut G::State,
    ctx: &mut Context,
) -> NoReply {
    let send = |ctx: &Context, reply: G::Reply| {
        if from.is_term() {
            match G::reply_to_term(reply) {
                Some(term) => from.reply_term(ctx, term),
                None => tracing::warn!(
                    "{}: a reply to a term call has no term form: not sent",
                    std::any::type_name::<G>()
                ),
            }
        } else {
            from.reply(ctx, reply);
        }
    };
    match server.handle_call(request, from, state, ctx).await {
        CallReply::Reply(reply) => {
            send(ctx, reply);
            NoReply::Continue
        }
        CallReply::ReplyThen(reply, action) => {
            send(ctx, reply);
            NoReply::Then(action)
        }
        CallReply::NoReply => NoReply::Continue,
        CallReply::NoReplyThen(action) => NoReply::Then(action),
        CallReply::StopReply(reason, reply) => {
            send(ctx, reply);
            NoReply::Stop(reason)
        }
        CallReply::Stop(reason) => NoReply::Stop(reason),
    }
}

/// The default call timeout (`gen_server:call/2`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// `GenServer.call/3` returning the failure instead of exiting.
pub async fn try_call<Req: Send + 'static, R: Send + 'static>(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    request: Req,
    timeout: Duration,
) -> Result<R, CallError> {
    let server = server.into();
    if server.is_remote(ctx) {
        // Another node's server: the request and the reply travel as terms.
        let request = (Box::new(request) as Box<dyn Any>)
            .downcast::<Term>()
            .map_err(|_| CallError::NotATerm)?;
        let reply = term::try_call_term(ctx, server, *request, timeout).await?;
        return (Box::new(reply) as Box<dyn Any>)
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| CallError::NotATerm);
    }
    let pid = server.resolve(ctx).ok_or(CallError::NoProc)?;
    let tag = ctx.monitor(&pid);
    let from = From {
        pid: ctx.pid().clone(),
        tag: Tag::Local(tag.clone()),
    };
    ctx.send(
        &pid,
        Message::local(CallEnvelope {
            from,
            request: Box::new(request),
        }),
    );
    let t = tag.clone();
    let answer = ctx
        .receive_timeout(timeout, |m| {
            m.downcast_ref::<ReplyEnvelope>()
                .is_some_and(|r| r.tag == t)
                || m.as_down().is_some_and(|(r, _, _)| r == t)
        })
        .await;
    ctx.demonitor(&tag, true);
    let answer = answer.ok_or(CallError::Timeout)?;
    if let Some((_, _, reason)) = answer.as_down() {
        return Err(match reason {
            ExitReason::NoProc => CallError::NoProc,
            reason => CallError::Exited(reason),
        });
    }
    match answer.downcast::<ReplyEnvelope>() {
        Ok(envelope) => envelope
            .reply
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| CallError::BadReply),
        Err(_) => Err(CallError::BadReply),
    }
}

/// `GenServer.call/3`: the reply, or the caller exits as `gen_server:call/3` makes it exit
/// (`{timeout, {gen_server, call, …}}`, `{noproc, …}`, or the server's exit reason).
pub async fn call<Req: Send + 'static, R: Send + 'static>(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    request: Req,
    timeout: Duration,
) -> R {
    let server = server.into();
    match try_call(ctx, server.clone(), request, timeout).await {
        Ok(reply) => reply,
        Err(e) => {
            let me = ctx.pid().clone();
            ctx.exit(&me, e.exit_reason(&server));
            // The exit signal ends this process; nothing after it runs.
            std::future::pending().await
        }
    }
}

/// `GenServer.cast/2`: fire and forget; to a name nobody has, nothing happens.
pub fn cast<Req: Send + 'static>(ctx: &Context, server: impl Into<ServerRef>, request: Req) {
    let server = server.into();
    if server.is_remote(ctx) {
        // Another node's server takes terms only: anything else is dropped, as a cast to
        // nowhere is.
        if let Ok(request) = (Box::new(request) as Box<dyn Any>).downcast::<Term>() {
            term::cast_term(ctx, server, *request);
        }
        return;
    }
    let message = Message::local(CastEnvelope(Box::new(request)));
    if let Some(pid) = server.resolve(ctx) {
        ctx.send(&pid, message);
    }
}

/// `GenServer.stop/3`: stops the server with `reason` (running `terminate`) and waits until
/// it has.
pub async fn stop(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    reason: ExitReason,
    timeout: Duration,
) -> Result<(), CallError> {
    let pid = server.into().resolve(ctx).ok_or(CallError::NoProc)?;
    let monitor = ctx.monitor(&pid);
    ctx.send(&pid, Message::local(StopEnvelope { reason }));
    let down = ctx
        .receive_timeout(timeout, |m| {
            m.as_down().is_some_and(|(r, _, _)| r == monitor)
        })
        .await;
    match down.and_then(|m| m.as_down()) {
        Some((_, _, ExitReason::NoProc)) => Err(CallError::NoProc),
        Some(_) => Ok(()),
        None => {
            ctx.demonitor(&monitor, true);
            Err(CallError::Timeout)
        }
    }
}
