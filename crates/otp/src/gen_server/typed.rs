//! Calls, casts and replies as `serde` types, on the wire as terms ([`etf::serde`]'s mapping:
//! structs as atom-keyed maps, unit variants as atoms, variants as tagged tuples, `Result` as
//! `{ok, _}`/`{error, _}`). The same code serves and calls rotp servers and BEAM `gen_server`s.
//!
//! - A server takes typed messages from terms with one line in its `impl GenServer`:
//!   [`serde_messages!()`](crate::serde_messages), which fills the three term hooks
//!   ([`GenServer::call_from_term`], [`GenServer::reply_to_term`],
//!   [`GenServer::cast_from_term`]) with [`call_from_term`], [`reply_to_term`] and
//!   [`cast_from_term`] (a server may also call these from hooks of its own).
//! - A caller uses [`call_typed`] and [`cast_typed`] against any server, here or on any node.
//!
//! **A request that does not fit** the server's `Call` (or `Cast`) type is not a call: it goes
//! to `handle_info` as the message it is (`{'$gen_call', From, Request}`), after a debug log
//! naming the path that did not fit. The server does not crash — unlike a `gen_server` with no
//! matching `handle_call` clause (`function_clause`) or Elixir's default `handle_call` (which
//! raises): a typed server's types are its contract, and a stranger's malformed request should
//! not restart it. The caller gets no reply and ends with its timeout, unless `handle_info`
//! answers it.
//!
//! ```
//! use rotp_otp::gen_server::typed::{call_from_term, reply_to_term};
//! use rotp_otp::gen_server::{CallReply, GenServer, Init};
//! use etf::text::parse;
//! use serde::{Deserialize, Serialize};
//!
//! struct Bank;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(rename_all = "snake_case")]
//! enum Request {
//!     Deposit { account: String, amount: u64 }, // {deposit, #{account => <<"a">>, amount => 5}}
//!     Balance(String),                          // {balance, <<"a">>}
//! }
//!
//! impl GenServer for Bank {
//!     type Args = ();
//!     type State = u64;
//!     type Call = Request;
//!     type Reply = Result<u64, String>; // {ok, 5} | {error, <<"...">>}
//!     type Cast = ();
//!
//!     rotp_otp::serde_messages!();
//!
//!     async fn init(&self, _: (), _: &mut runtime::Context) -> Init<u64> {
//!         Init::Ok(0)
//!     }
//!
//!     async fn handle_call(&self, _: Request, _: &rotp_otp::From, total: &mut u64, _: &mut runtime::Context) -> CallReply<Result<u64, String>> {
//!         CallReply::Reply(Ok(*total))
//!     }
//! }
//!
//! // What `gen_server:call(Bank, {balance, <<"a">>})` from erl becomes ...
//! let request = call_from_term::<Bank>(&parse(r#"{balance, <<"a">>}"#)?);
//! assert_eq!(request, Some(Request::Balance("a".into())));
//! // ... a request that does not fit goes to `handle_info` instead ...
//! assert_eq!(call_from_term::<Bank>(&parse("{balance, 42}")?), None);
//! // ... and the reply erl gets.
//! assert_eq!(reply_to_term::<Bank>(&Ok(5)), Some(parse("{ok, 5}")?));
//! # Ok::<(), etf::text::ParseError>(())
//! ```

use std::time::Duration;

use etf::serde::Error as SerdeError;
use etf::Term;
use runtime::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

use super::{term, CallError, GenServer, ServerRef};

/// What [`serde_messages!`](crate::serde_messages) names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use etf::Term;
}

/// Fills a [`GenServer`] impl's three term hooks so that its `Call`, `Reply` and `Cast` types
/// cross as terms through `serde`: one line inside the `impl`.
///
/// ```
/// use rotp_otp::gen_server::{CallReply, GenServer, Init};
/// use runtime::Context;
/// use serde::{Deserialize, Serialize};
///
/// struct Counter;
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(rename_all = "snake_case")]
/// enum Request {
///     Inc(i64), // {inc, 5}
///     Get,      // get
/// }
///
/// impl GenServer for Counter {
///     type Args = i64;
///     type State = i64;
///     type Call = Request;
///     type Reply = Result<i64, String>; // {ok, 6}
///     type Cast = ();
///
///     rotp_otp::serde_messages!();
///
///     async fn init(&self, start: i64, _: &mut Context) -> Init<i64> {
///         Init::Ok(start)
///     }
///
///     async fn handle_call(
///         &self,
///         request: Request,
///         _: &rotp_otp::From,
///         n: &mut i64,
///         _: &mut Context,
///     ) -> CallReply<Result<i64, String>> {
///         if let Request::Inc(k) = request {
///             *n += k;
///         }
///         CallReply::Reply(Ok(*n))
///     }
/// }
/// ```
///
/// `Call` and `Cast` must be `DeserializeOwned`, `Reply` `Serialize`. A server with no casts
/// can say `type Cast = ();` (the term `ok`).
#[macro_export]
macro_rules! serde_messages {
    () => {
        fn call_from_term(
            request: &$crate::gen_server::typed::__private::Term,
        ) -> ::core::option::Option<Self::Call> {
            $crate::gen_server::typed::call_from_term::<Self>(request)
        }

        fn reply_to_term(
            reply: Self::Reply,
        ) -> ::core::option::Option<$crate::gen_server::typed::__private::Term> {
            $crate::gen_server::typed::reply_to_term::<Self>(&reply)
        }

        fn cast_from_term(
            request: &$crate::gen_server::typed::__private::Term,
        ) -> ::core::option::Option<Self::Cast> {
            $crate::gen_server::typed::cast_from_term::<Self>(request)
        }
    };
}

/// A term request as `G::Call`, or `None` (logged at debug with the path that did not fit).
pub fn call_from_term<G: GenServer>(request: &Term) -> Option<G::Call>
where
    G::Call: DeserializeOwned,
{
    read::<G, G::Call>("call", request)
}

/// A term cast as `G::Cast`, or `None` (logged at debug with the path that did not fit).
pub fn cast_from_term<G: GenServer>(request: &Term) -> Option<G::Cast>
where
    G::Cast: DeserializeOwned,
{
    read::<G, G::Cast>("cast", request)
}

/// A reply as a term, or `None` when it has none (a float that is NaN): logged as a warning.
pub fn reply_to_term<G: GenServer>(reply: &G::Reply) -> Option<Term>
where
    G::Reply: Serialize,
{
    etf::serde::to_term(reply)
        .map_err(|e| {
            tracing::warn!(
                "{}: a reply has no term form: {e}",
                std::any::type_name::<G>()
            )
        })
        .ok()
}

fn read<G, T: DeserializeOwned>(kind: &str, request: &Term) -> Option<T> {
    etf::serde::from_term(request)
        .map_err(|e| {
            tracing::debug!(
                "{}: a {kind} {} is not a {}: {e}; left to handle_info",
                std::any::type_name::<G>(),
                etf::text::write(request),
                std::any::type_name::<T>(),
            )
        })
        .ok()
}

/// Why [`call_typed`] has no reply of the type asked for.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TypedCallError {
    /// The request has no term form (a NaN float, an atom too long).
    #[error("the request cannot be a term: {0}")]
    Request(#[source] SerdeError),
    /// The call failed as [`super::try_call_term`] fails: timeout, no such server, its exit,
    /// its node down.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A reply came but does not fit the type asked for; `error` names the path.
    #[error("the reply {} does not fit: {error}", etf::text::write(.reply))]
    Reply {
        /// Where and how it does not fit.
        #[source]
        error: SerdeError,
        /// The reply as it came.
        reply: Term,
    },
}

impl TypedCallError {
    /// The `serde` error, for [`TypedCallError::Request`] and [`TypedCallError::Reply`]
    /// (its [`path`](SerdeError::path) says where).
    pub fn serde_error(&self) -> Option<&SerdeError> {
        match self {
            TypedCallError::Request(e) | TypedCallError::Reply { error: e, .. } => Some(e),
            TypedCallError::Call(_) => None,
        }
    }
}

/// `GenServer.call/3` with a `serde` request and reply: `request` becomes a term, is sent as
/// `{'$gen_call', {Pid, Tag}, Request}` to a server here or on any node (a rotp server with
/// [`serde_messages!`](crate::serde_messages), a BEAM `gen_server`), and its reply is read as
/// `Rep`. Failures are returned, not exited with (as [`super::try_call`]).
///
/// ```no_run
/// # async fn f(ctx: &mut runtime::Context) -> Result<(), rotp_otp::gen_server::TypedCallError> {
/// use rotp_otp::gen_server::{call_typed, ServerRef};
/// use std::time::Duration;
///
/// let shop = ServerRef::Remote("shop".into(), "erl@host".into());
/// // {get, <<"apples">>} → {ok, 3} | {error, not_found}
/// let count: Result<u32, String> =
///     call_typed(ctx, shop, &("get", "apples"), Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
pub async fn call_typed<Rep: DeserializeOwned>(
    ctx: &mut Context,
    server: impl Into<ServerRef>,
    request: &(impl Serialize + ?Sized),
    timeout: Duration,
) -> Result<Rep, TypedCallError> {
    let request = etf::serde::to_term(request).map_err(TypedCallError::Request)?;
    let reply = term::try_call_term(ctx, server, request, timeout).await?;
    etf::serde::from_term(&reply).map_err(|error| TypedCallError::Reply { error, reply })
}

/// `GenServer.cast/2` with a `serde` request, to a server here or on any node: an error only
/// when the request has no term form (to a name nobody has, nothing happens, as for any cast).
pub fn cast_typed(
    ctx: &Context,
    server: impl Into<ServerRef>,
    request: &(impl Serialize + ?Sized),
) -> Result<(), SerdeError> {
    term::cast_term(ctx, server, etf::serde::to_term(request)?);
    Ok(())
}

/// `Dest ! Msg` with a `serde` message: to a pid, a local name, or `{Name, Node}` on any node
/// ([`ServerRef`]'s forms; a `via` name is looked up). An error only when the value has no term
/// form; a message to a name nobody has, or a node that cannot be reached, is dropped.
pub fn send_typed(
    ctx: &Context,
    dest: impl Into<ServerRef>,
    message: &(impl Serialize + ?Sized),
) -> Result<(), SerdeError> {
    let message = runtime::Message::Term(etf::serde::to_term(message)?);
    match dest.into() {
        ServerRef::Remote(name, node) => {
            let _ = ctx.send_to_name(&name, &node, message);
        }
        other => {
            if let Some(pid) = other.resolve(ctx) {
                ctx.send(&pid, message);
            }
        }
    }
    Ok(())
}
