//! Typed handles on servers: what `start_link` started, called with the server's own request
//! and reply types, so that a wrong request is a compile error rather than a
//! [`CallError::BadReply`] at run time.

use std::marker::PhantomData;
use std::time::Duration;

use etf::Pid;
use runtime::{Context, ExitReason};

use super::{CallError, GenServer, Name, ServerRef};

/// A running server of behaviour `G`: its pid, and calls and casts of `G`'s types.
pub struct Handle<G: GenServer> {
    pid: Pid,
    server: PhantomData<fn() -> G>,
}

impl<G: GenServer> Clone for Handle<G> {
    fn clone(&self) -> Self {
        Handle {
            pid: self.pid.clone(),
            server: PhantomData,
        }
    }
}

impl<G: GenServer> std::fmt::Debug for Handle<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle<{}>({:?})", std::any::type_name::<G>(), self.pid)
    }
}

impl<G: GenServer> Handle<G> {
    /// [`super::start_link`], returning a handle: `Ok(None)` when `init` said `ignore`.
    pub async fn start_link(
        ctx: &mut Context,
        server: G,
        args: G::Args,
        name: Option<Name>,
    ) -> Result<Option<Handle<G>>, ExitReason> {
        Ok(super::start_link(ctx, server, args, name)
            .await?
            .map(Handle::from_pid))
    }

    /// A handle on a server known to be a `G` (a child a supervisor started, say).
    pub fn from_pid(pid: Pid) -> Handle<G> {
        Handle {
            pid,
            server: PhantomData,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// [`super::call`]: the reply, or the caller exits as `gen_server:call/3` makes it.
    pub async fn call(&self, ctx: &mut Context, request: G::Call, timeout: Duration) -> G::Reply {
        super::call(ctx, ServerRef::Pid(self.pid.clone()), request, timeout).await
    }

    /// [`super::try_call`].
    pub async fn try_call(
        &self,
        ctx: &mut Context,
        request: G::Call,
        timeout: Duration,
    ) -> Result<G::Reply, CallError> {
        super::try_call(ctx, ServerRef::Pid(self.pid.clone()), request, timeout).await
    }

    /// [`super::cast`].
    pub fn cast(&self, ctx: &Context, request: G::Cast) {
        super::cast(ctx, ServerRef::Pid(self.pid.clone()), request);
    }
}
