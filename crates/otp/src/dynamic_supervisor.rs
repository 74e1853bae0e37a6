//! `DynamicSupervisor`: children started on demand, each restarted on its own
//! (`one_for_one`), with `max_children` and `extra_arguments` (Elixir's `DynamicSupervisor`).
//!
//! ```
//! use rotp_otp::dynamic_supervisor::{self, Options, Request, Response};
//! use rotp_otp::supervisor::{ChildCounts, ChildSpec};
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // DynamicSupervisor.start_link(strategy: :one_for_one, max_children: 2)
//! let options = Options { max_children: Some(2), ..Options::default() };
//! let sup = dynamic_supervisor::start_link(&mut ctx, options, None).await.unwrap().unwrap();
//! // A child spec whose start function links a new process to the supervisor.
//! let worker = || ChildSpec::worker("worker", |ctx: &mut runtime::Context, _extra| {
//!     Box::pin(async move { Ok(Some(ctx.spawn_link(|mut ctx| async move { loop { ctx.recv().await; } }))) })
//! });
//! for _ in 0..2 {
//!     let started = dynamic_supervisor::request(&mut ctx, &sup, Request::StartChild(worker())).await;
//!     assert!(matches!(started, Response::Ok(Some(_))));
//! }
//! // The third is refused: {:error, :max_children}
//! let refused = dynamic_supervisor::request(&mut ctx, &sup, Request::StartChild(worker())).await;
//! assert_eq!(refused, Response::Error(etf::Term::atom("max_children")));
//! let counts = dynamic_supervisor::request(&mut ctx, &sup, Request::CountChildren).await;
//! assert_eq!(counts, Response::Counts(ChildCounts { specs: 2, active: 2, supervisors: 0, workers: 2 }));
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use etf::{Pid, Term};
use runtime::{Context, ExitReason, Message};

use crate::gen_server::{self, CallReply, From, GenServer, Init, Name, NoReply, ServerRef};
use crate::supervisor::{self, ChildCounts, ChildSpec, Flags, Strategy};

/// Options for [`start_link`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Restart intensity: `max_restarts` in `max_seconds` (defaults 3 in 5 s).
    pub flags: Flags,
    /// How many children may run at once (`:infinity` when `None`).
    pub max_children: Option<usize>,
    /// Arguments given to every child's start function, first.
    pub extra_arguments: Vec<Term>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: Flags::new(Strategy::OneForOne),
            max_children: None,
            extra_arguments: Vec::new(),
        }
    }
}

/// Requests a dynamic supervisor answers.
pub enum Request {
    /// `start_child/2`.
    StartChild(ChildSpec),
    /// `terminate_child/2`, by pid.
    TerminateChild(Pid),
    /// `which_children/1`: the running children's pids.
    WhichChildren,
    /// `count_children/1`.
    CountChildren,
}

/// Answers to [`Request`]s.
#[derive(Debug, PartialEq)]
pub enum Response {
    /// Started (or `ignore`d: `None`), or terminated.
    Ok(Option<Pid>),
    /// `{error, max_children}`, `{error, not_found}`, or a start failure.
    Error(Term),
    /// The running children.
    Children(Vec<Pid>),
    /// Counts.
    Counts(ChildCounts),
}

/// The behaviour.
pub struct DynamicSupervisor;

/// Its state: the running children in start order.
pub struct State {
    options: Options,
    children: Vec<(Pid, ChildSpec)>,
    restarts: VecDeque<Instant>,
}

/// `DynamicSupervisor.start_link/1`.
pub async fn start_link(
    ctx: &mut Context,
    options: Options,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    gen_server::start_link(ctx, DynamicSupervisor, options, name).await
}

/// Sends a request and waits for the answer.
pub async fn request(
    ctx: &mut Context,
    supervisor: impl Into<ServerRef>,
    request: Request,
) -> Response {
    gen_server::call(ctx, supervisor, request, Duration::from_secs(60)).await
}

impl State {
    async fn start(&mut self, ctx: &mut Context, spec: ChildSpec) -> Response {
        if self
            .options
            .max_children
            .is_some_and(|max| self.children.len() >= max)
        {
            return Response::Error(Term::atom("max_children"));
        }
        match supervisor::start_child(ctx, &spec, self.options.extra_arguments.clone()).await {
            Ok(Some(pid)) => {
                self.children.push((pid.clone(), spec));
                Response::Ok(Some(pid))
            }
            Ok(None) => Response::Ok(None),
            Err(reason) => Response::Error(reason.to_term()),
        }
    }
}

impl GenServer for DynamicSupervisor {
    type Args = Options;
    type State = State;
    type Call = Request;
    type Reply = Response;
    type Cast = ();

    async fn init(&self, options: Options, ctx: &mut Context) -> Init<State> {
        ctx.trap_exit(true);
        Init::Ok(State {
            options,
            children: Vec::new(),
            restarts: VecDeque::new(),
        })
    }

    async fn handle_call(
        &self,
        request: Request,
        _from: &From,
        state: &mut State,
        ctx: &mut Context,
    ) -> CallReply<Response> {
        CallReply::Reply(match request {
            Request::StartChild(spec) => state.start(ctx, spec).await,
            Request::TerminateChild(pid) => {
                match state.children.iter().position(|(p, _)| *p == pid) {
                    None => Response::Error(Term::atom("not_found")),
                    Some(i) => {
                        let (pid, spec) = state.children.remove(i);
                        supervisor::shutdown(ctx, &pid, spec.shutdown).await;
                        Response::Ok(None)
                    }
                }
            }
            Request::WhichChildren => {
                Response::Children(state.children.iter().map(|(p, _)| p.clone()).collect())
            }
            Request::CountChildren => Response::Counts(supervisor::count_children(
                state.children.iter().map(|(_, spec)| (spec, true)),
            )),
        })
    }

    async fn handle_info(&self, message: Message, state: &mut State, ctx: &mut Context) -> NoReply {
        let Some((pid, reason)) = message.as_exit() else {
            return NoReply::Continue;
        };
        let Some(i) = state.children.iter().position(|(p, _)| *p == pid) else {
            return NoReply::Continue;
        };
        let (_, spec) = state.children.remove(i);
        if !supervisor::restarts(spec.restart, &reason) {
            return NoReply::Continue;
        }
        if !supervisor::allow_restart(&mut state.restarts, &state.options.flags) {
            return NoReply::Stop(ExitReason::Shutdown);
        }
        match state.start(ctx, spec).await {
            Response::Error(_) => NoReply::Stop(ExitReason::Shutdown),
            _ => NoReply::Continue,
        }
    }

    async fn terminate(&self, _reason: &ExitReason, state: &mut State, ctx: &mut Context) {
        while let Some((pid, spec)) = state.children.pop() {
            supervisor::shutdown(ctx, &pid, spec.shutdown).await;
        }
    }
}
