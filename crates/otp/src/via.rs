//! `{via, Module, Name}` names: a process registry other than the local one, as gen.erl uses
//! it (`Module:register_name/2`, `unregister_name/1`, `whereis_name/1`, `send/2`). Elixir's
//! `Registry` and OTP's `global` are two such modules.
//!
//! ```
//! use rotp_otp::gen_server::{Name, ServerRef};
//! use rotp_otp::registry::{Keys, Registry};
//! use rotp_otp::{agent, Via};
//! use etf::Term;
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! let registry = Registry::start_link(&mut ctx, Keys::Unique, 1);
//! assert_eq!(registry.module().as_str(), "Elixir.Registry");
//! // GenServer.start_link(Stack, [], name: {:via, Registry, {MyRegistry, "stack"}})
//! let name = Name::via(registry.clone(), Term::from("stack"));
//! assert_eq!(name.to_term(), etf::text::parse(r#"{via, 'Elixir.Registry', <<"stack">>}"#).unwrap());
//! let stack = agent::start_link(&mut ctx, Vec::<i64>::new, Some(name)).await.unwrap().unwrap();
//! // Module:whereis_name/1, and calls by the name
//! assert_eq!(registry.whereis_name(&Term::from("stack")), Some(stack));
//! let by_name = ServerRef::via(registry, Term::from("stack"));
//! agent::update(&mut ctx, by_name.clone(), |s: &mut Vec<i64>| s.push(1)).await;
//! assert_eq!(agent::get(&mut ctx, by_name, |s: &Vec<i64>| s.len()).await, 1);
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;

use etf::{Atom, Pid, Term};
use runtime::Context;

/// What a registry call returns, boxed so that the trait can be used as `dyn Via`.
pub type ViaFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A registry module for `{via, Module, Name}` names.
pub trait Via: Send + Sync + 'static {
    /// The module, as `{via, Module, Name}` shows it (`global`, `'Elixir.Registry'`).
    fn module(&self) -> Atom;

    /// `Module:register_name(Name, self())`, called by the process that takes the name:
    /// `Err(holder)` when another process (if known) has it.
    fn register_name<'a>(
        &'a self,
        ctx: &'a mut Context,
        name: &'a Term,
    ) -> ViaFuture<'a, Result<(), Option<Pid>>>;

    /// `Module:unregister_name(Name)`, called by the process that has the name.
    fn unregister_name<'a>(&'a self, ctx: &'a mut Context, name: &'a Term) -> ViaFuture<'a, ()>;

    /// `Module:whereis_name(Name)`.
    fn whereis_name(&self, name: &Term) -> Option<Pid>;
}

impl std::fmt::Debug for dyn Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.module())
    }
}
