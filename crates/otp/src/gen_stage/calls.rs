//! Calls and casts to a stage (`lib/gen_stage.ex`'s `handle_call/3` and `handle_cast/2`):
//! GenStage's own requests (`'$subscribe'`, `'$demand'`, `'$estimate_buffered_count'`,
//! `'$info'`), which Elixir's `GenStage.sync_subscribe/2`, `demand/1,2` and friends send, and
//! the stage's `handle_call`/`handle_cast` for the rest.

use etf::Term;
use runtime::{Context, Message};

use super::options::{DemandMode, SubscribeOptions};
use super::stage::{Stage, Step};
use super::{CallReturn, GenStage};
use crate::gen_server::term::Request;
use crate::gen_server::{From, ServerRef};

impl<G: GenStage> Stage<G> {
    /// A call for `handle_call`.
    pub(super) async fn call(&mut self, ctx: &mut Context, request: Message, from: From) -> Step {
        match self
            .stage
            .handle_call(request, &from, &mut self.state, ctx)
            .await
        {
            CallReturn::Reply(reply, events) => {
                from.reply_boxed(ctx, reply);
                self.dispatch(ctx, events);
                Ok(())
            }
            CallReturn::NoReply(events) => {
                self.dispatch(ctx, events);
                Ok(())
            }
            CallReturn::Stop(reason, reply) => {
                if let Some(reply) = reply {
                    from.reply_boxed(ctx, reply);
                }
                Err(reason)
            }
        }
    }

    /// `{'$gen_call', From, Request}` or `{'$gen_cast', Request}`.
    pub(super) async fn term_request(&mut self, ctx: &mut Context, request: Request<'_>) -> Step {
        match request {
            Request::Call(pid, tag, request) => {
                let from = From::from_term_call(pid, tag);
                match system(request) {
                    Some(System::Subscribe(current, to, opts)) => {
                        let (reply, step) = self.subscribe_request(ctx, current, to, opts).await;
                        from.reply_term(ctx, reply);
                        step
                    }
                    Some(System::Demand(None)) => {
                        let accumulating = self
                            .producer
                            .as_ref()
                            .is_some_and(|p| p.accumulated.is_some());
                        let mode = if accumulating {
                            DemandMode::Accumulate
                        } else {
                            DemandMode::Forward
                        };
                        from.reply_term(ctx, mode.to_term());
                        Ok(())
                    }
                    Some(System::Demand(Some(_))) => {
                        from.reply_term(ctx, Term::atom("badarg"));
                        Ok(())
                    }
                    Some(System::EstimateBufferedCount) => {
                        let n = self.producer.as_ref().map_or(0, |p| p.buffer.len());
                        from.reply_term(ctx, Term::Integer(n as i64));
                        Ok(())
                    }
                    Some(System::Info(message)) => {
                        ctx.send(ctx.pid(), Message::Term(message.clone()));
                        from.reply_term(ctx, Term::atom("ok"));
                        Ok(())
                    }
                    None => self.call(ctx, Message::Term(request.clone()), from).await,
                }
            }
            Request::Cast(request) => match system(request) {
                Some(System::Subscribe(current, to, opts)) => {
                    self.subscribe_request(ctx, current, to, opts).await.1
                }
                Some(System::Demand(Some(mode))) => self.set_demand(ctx, mode).await,
                Some(System::Info(message)) => {
                    ctx.send(ctx.pid(), Message::Term(message.clone()));
                    Ok(())
                }
                Some(_) => Ok(()),
                None => {
                    let r = self
                        .stage
                        .handle_cast(Message::Term(request.clone()), &mut self.state, ctx)
                        .await;
                    self.returned(ctx, r).await
                }
            },
        }
    }

    /// `{'$subscribe', Current, To, Opts}`: the reply (`{ok, Ref}`, `{error, not_a_consumer}`,
    /// `{error, {bad_opts, Message}}`) and whether the stage goes on.
    async fn subscribe_request(
        &mut self,
        ctx: &mut Context,
        current: &Term,
        to: &Term,
        opts: &Term,
    ) -> (Term, Step) {
        let error = |why: Term| Term::Tuple(vec![Term::atom("error"), why]);
        let bad_opts = |message: String| {
            tracing::error!(
                "GenStage consumer {:?} subscribe received invalid option: {message}",
                ctx.pid()
            );
            error(Term::Tuple(vec![
                Term::atom("bad_opts"),
                Term::Binary(message.into_bytes().into()),
            ]))
        };
        let current = match current {
            Term::Tuple(c) => match c.as_slice() {
                [Term::Reference(r), reason] => Some((r.clone(), reason.clone())),
                _ => None,
            },
            _ => None,
        };
        let Some(to) = server_ref(to) else {
            let message = format!(
                "expected :to to be a pid, a name or {{name, node}}, got: {}",
                etf::text::write_limited(to, 100)
            );
            return (bad_opts(message), Ok(()));
        };
        let opts = match SubscribeOptions::from_term(opts) {
            Ok(opts) => opts,
            Err(message) => return (bad_opts(message), Ok(())),
        };
        let ok = |r| Term::Tuple(vec![Term::atom("ok"), Term::Reference(r)]);
        match self.subscribe(ctx, current, to, opts).await {
            Ok(reference) => (ok(reference), Ok(())),
            Err(Ok(stop)) => (ok(ctx.make_ref()), Err(stop)),
            Err(Err(super::SubscribeError::NotAConsumer)) => {
                (error(Term::atom("not_a_consumer")), Ok(()))
            }
            Err(Err(super::SubscribeError::BadOpts(message))) => (
                error(Term::Tuple(vec![
                    Term::atom("bad_opts"),
                    Term::Binary(message.into_bytes().into()),
                ])),
                Ok(()),
            ),
            Err(Err(e)) => (
                error(Term::Binary(e.to_string().into_bytes().into())),
                Ok(()),
            ),
        }
    }

    /// `producer_demand/2`: `{'$demand', Mode}`.
    pub(super) async fn set_demand(&mut self, ctx: &mut Context, mode: DemandMode) -> Step {
        let Some(p) = &mut self.producer else {
            tracing::error!(
                "Demand mode can only be set for producers, GenStage {:?} is a consumer",
                ctx.pid()
            );
            return Ok(());
        };
        if self.pc.is_some() {
            if mode == DemandMode::Accumulate {
                tracing::error!(
                    "Demand mode can only be set for producers, GenStage {:?} is a producer_consumer",
                    ctx.pid()
                );
            }
            return Ok(());
        }
        match mode {
            DemandMode::Forward => self.forward_demand(ctx).await,
            DemandMode::Accumulate => {
                p.accumulated.get_or_insert_with(Vec::new);
                Ok(())
            }
        }
    }
}

/// GenStage's own requests.
enum System<'a> {
    Subscribe(&'a Term, &'a Term, &'a Term),
    /// `'$demand'` (a call: the mode) or `{'$demand', Mode}` (a cast: set it).
    Demand(Option<DemandMode>),
    EstimateBufferedCount,
    Info(&'a Term),
}

fn system(request: &Term) -> Option<System<'_>> {
    match request {
        Term::Atom(a) if a.as_str() == "$demand" => Some(System::Demand(None)),
        Term::Atom(a) if a.as_str() == "$estimate_buffered_count" => {
            Some(System::EstimateBufferedCount)
        }
        Term::Tuple(v) => match (
            v.first().and_then(Term::as_atom),
            v.get(1..).unwrap_or_default(),
        ) {
            (Some("$subscribe"), [current, to, opts]) => Some(System::Subscribe(current, to, opts)),
            (Some("$demand"), [mode]) => {
                DemandMode::from_term(mode).map(|m| System::Demand(Some(m)))
            }
            (Some("$info"), [message]) => Some(System::Info(message)),
            _ => None,
        },
        _ => None,
    }
}

/// A `to:` as `GenServer.whereis/1` takes it: a pid, a name, or `{Name, Node}`.
fn server_ref(to: &Term) -> Option<ServerRef> {
    match to {
        Term::Pid(p) => Some(ServerRef::Pid(p.clone())),
        Term::Atom(a) => Some(ServerRef::Name(a.clone())),
        Term::Tuple(v) => match v.as_slice() {
            [Term::Atom(name), Term::Atom(node)] => {
                Some(ServerRef::Remote(name.clone(), node.clone()))
            }
            _ => None,
        },
        _ => None,
    }
}
