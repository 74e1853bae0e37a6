//! A typed pipeline builder, after the book's `Pipeliner` DSL (chapter 5): a producer, steps of
//! `count` copies each subscribed to every copy of the step before, and a consumer step, all
//! under one `rest_for_one` supervisor. A step that crashes is restarted with every child
//! after it, and each restarted stage subscribes again, by name, to the step before.
//!
//! ```ignore
//! let spec = Pipeline::start("upload", "starter", Starter, queue)
//!     .demand(10, 1)
//!     .step("encryption", Encryption, (), 2)
//!     .step("storage", RemoteStorage, store, 2)
//!     .finish("notifier", Notifier, (), 1);
//! let supervisor = spec.start_link(ctx).await?;
//! ```
//!
//! Each stage is registered as `{pipeline}.{step}.{n}` (`n` from 1): [`Pipeline::name`].
//! A step whose events are Rust values (the book's upload tasks) serves its own node only: a
//! stage of another node that subscribes to it by that name is refused
//! ([`GenStage::serves_other_nodes`]) rather than sent events it cannot read.

use std::marker::PhantomData;

use etf::{Atom, Pid};
use runtime::{Context, ExitReason};

use super::options::SubscribeOptions;
use super::{stage, GenStage};
use crate::gen_server::{Name, ServerRef};
use crate::supervisor::{self, ChildSpec, Flags, Strategy};

/// A pipeline being built, whose last step makes events of type `T`.
pub struct Pipeline<T> {
    name: String,
    children: Vec<ChildSpec>,
    last: Vec<Atom>,
    opts: SubscribeOptions,
    _events: PhantomData<fn() -> T>,
}

/// A whole pipeline: its children, ready to start as one `rest_for_one` supervisor.
pub struct PipelineSpec {
    name: String,
    children: Vec<ChildSpec>,
}

impl Pipeline<()> {
    /// `start(producer)`: a pipeline named `name` (its supervisor is registered so) whose
    /// first step is one `producer`.
    pub fn start<P>(name: &str, step: &str, producer: P, args: P::Args) -> Pipeline<P::Out>
    where
        P: GenStage<In = ()> + Clone,
        P::Args: Clone + Sync,
    {
        let first: Pipeline<()> = Pipeline {
            name: name.to_string(),
            children: Vec::new(),
            last: Vec::new(),
            opts: SubscribeOptions::default(),
            _events: PhantomData,
        };
        first.add(step, producer, args, 1)
    }

    /// The name a pipeline's stage is registered under: `{pipeline}.{step}.{n}`.
    pub fn name(pipeline: &str, step: &str, n: usize) -> Atom {
        Atom::from(format!("{pipeline}.{step}.{n}").as_str())
    }
}

impl<T: Send + 'static> Pipeline<T> {
    /// The subscription options the steps after this take (`max_demand`, `min_demand`;
    /// Elixir's defaults until set).
    pub fn demand(mut self, max: usize, min: usize) -> Pipeline<T> {
        self.opts = SubscribeOptions {
            max_demand: max,
            min_demand: Some(min),
            ..self.opts
        };
        self
    }

    /// `step(stage, count)`: `count` copies of a producer_consumer, each subscribed to every
    /// copy of the step before.
    pub fn step<S>(self, step: &str, stage: S, args: S::Args, count: usize) -> Pipeline<S::Out>
    where
        S: GenStage<In = T> + Clone,
        S::Args: Clone + Sync,
    {
        self.add(step, stage, args, count)
    }

    /// `finish(consumer)`: the last step, `count` copies of a consumer.
    pub fn finish<C>(self, step: &str, consumer: C, args: C::Args, count: usize) -> PipelineSpec
    where
        C: GenStage<In = T> + Clone,
        C::Args: Clone + Sync,
    {
        let p = self.add(step, consumer, args, count);
        PipelineSpec {
            name: p.name,
            children: p.children,
        }
    }

    fn add<S, U>(self, step: &str, stage: S, args: S::Args, count: usize) -> Pipeline<U>
    where
        S: GenStage<Out = U> + Clone,
        S::Args: Clone + Sync,
    {
        let mut children = self.children;
        let mut names = Vec::new();
        for n in 1..=count.max(1) {
            let name = Pipeline::<()>::name(&self.name, step, n);
            let upstream: Vec<(ServerRef, SubscribeOptions)> = self
                .last
                .iter()
                .map(|p| (ServerRef::Name(p.clone()), self.opts.clone()))
                .collect();
            let (stage, args, registered) = (stage.clone(), args.clone(), name.clone());
            children.push(ChildSpec::worker(name.as_str(), move |ctx, _| {
                let (stage, args, upstream) = (stage.clone(), args.clone(), upstream.clone());
                let name = Some(Name::Local(registered.clone()));
                Box::pin(
                    async move { stage::start_link_with(ctx, stage, args, name, upstream).await },
                )
            }));
            names.push(name);
        }
        Pipeline {
            name: self.name,
            children,
            last: names,
            opts: self.opts,
            _events: PhantomData,
        }
    }
}

impl PipelineSpec {
    fn flags() -> Flags {
        Flags::new(Strategy::RestForOne)
    }

    /// The pipeline as a supervisor's child (a `rest_for_one` supervisor registered under the
    /// pipeline's name).
    pub fn child_spec(self) -> ChildSpec {
        let name = Some(Name::Local(Atom::from(self.name.as_str())));
        ChildSpec::supervisor_of(&self.name, PipelineSpec::flags(), self.children, name)
    }

    /// Starts the pipeline's supervisor, linked to the caller.
    pub async fn start_link(self, ctx: &mut Context) -> Result<Option<Pid>, ExitReason> {
        let name = Some(Name::Local(Atom::from(self.name.as_str())));
        supervisor::start_link(ctx, PipelineSpec::flags(), self.children, name).await
    }
}
