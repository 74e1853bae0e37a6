//! `{via, Module, Name}` names: a process registry other than the local one, as gen.erl uses
//! it (`Module:register_name/2`, `unregister_name/1`, `whereis_name/1`, `send/2`). Elixir's
//! `Registry` and OTP's `global` are two such modules.

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
