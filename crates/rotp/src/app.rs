//! `Application`: a program's supervision tree run from `main`.

use rotp_otp::application::{self, Stopped};
use rotp_otp::supervisor::{ChildSpec, Flags, Strategy};
use rotp_runtime::{ExitReason, Runtime};

/// Why an [`Application`] did not run, or stopped by itself.
#[derive(thiserror::Error)]
pub enum Error {
    /// The tokio runtime or the signal handlers could not be set up.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// No cookie: `RELEASE_COOKIE` is not set and `~/.erlang.cookie` could not be read.
    #[cfg(feature = "dist")]
    #[error(transparent)]
    Cookie(#[from] rotp_node::cookie::CookieError),
    /// The node could not start (its name, its listen port, EPMD).
    #[cfg(feature = "dist")]
    #[error("the node could not start: {0}")]
    Node(#[from] rotp_node::StartError),
    /// The supervision tree could not start: a child's start failed.
    #[error("the application could not start: {0}")]
    StartFailed(ExitReason),
    /// The root supervisor exited by itself: a child crashed more often than the supervisor's
    /// restart intensity allows (`max_restarts` in `max_seconds`).
    #[error("the application's supervisor exited: {0}")]
    RootExited(ExitReason),
}

/// `main` returning `Err` prints the error with `Debug`: the sentence, not the enum.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A supervision tree under a root supervisor, and (with the `dist` feature) the node it runs
/// on. [`Application::run`] blocks until SIGTERM or SIGINT, then shuts the tree down —
/// children last-started first, each within its shutdown — and the node leaves its peers.
/// As `mix run --no-halt` or a release's `bin/app start` runs one.
///
/// ```no_run
/// use rotp::prelude::*;
///
/// #[derive(Clone)]
/// struct Greeter;
///
/// impl GenServer for Greeter {
///     type Args = ();
///     type State = ();
///     type Call = Term;
///     type Reply = Term;
///     type Cast = ();
///
///     async fn handle_call(&self, who: Term, _: &gen_server::From, _: &mut (), _: &mut Context) -> CallReply<Term> {
///         CallReply::Reply(tuple!(atom!(hello), who))
///     }
/// }
///
/// fn main() -> Result<(), rotp::Error> {
///     // erl -sname greeter, with the greeter registered: from iex,
///     // GenServer.call({:greeter, :"greeter@host"}, :joe) → {:hello, :joe}
///     Application::new("greeter")
///         .sname("greeter")
///         .child(ChildSpec::gen_server_named("greeter", Greeter, (), Some("greeter".into())))
///         .run()
/// }
/// ```
pub struct Application {
    name: String,
    flags: Flags,
    children: Vec<ChildSpec>,
    #[cfg(feature = "dist")]
    node: Option<NodeChoice>,
}

#[cfg(feature = "dist")]
enum NodeChoice {
    Named(String, rotp_node::name::NameKind),
    Config(Box<rotp_node::NodeConfig>),
}

impl Application {
    /// An application called `name` (its root supervisor is registered as `name`), with a
    /// `one_for_one` root supervisor and no children yet.
    pub fn new(name: &str) -> Application {
        Application {
            name: name.to_owned(),
            flags: Flags::new(Strategy::OneForOne),
            children: Vec::new(),
            #[cfg(feature = "dist")]
            node: None,
        }
    }

    /// Adds a child to the root supervisor (started in the order added).
    pub fn child(mut self, child: ChildSpec) -> Application {
        self.children.push(child);
        self
    }

    /// The root supervisor's strategy (`one_for_one` unless set).
    pub fn strategy(mut self, strategy: Strategy) -> Application {
        self.flags.strategy = strategy;
        self
    }

    /// The root supervisor's flags, whole (strategy and restart intensity).
    pub fn flags(mut self, flags: Flags) -> Application {
        self.flags = flags;
        self
    }

    /// Runs on a distributed node named as `erl -sname NAME` names one (`NAME@host`), with
    /// the cookie `erl` would use (`RELEASE_COOKIE`, else `~/.erlang.cookie`, made if missing).
    #[cfg(feature = "dist")]
    pub fn sname(mut self, name: &str) -> Application {
        self.node = Some(NodeChoice::Named(
            name.to_owned(),
            rotp_node::name::NameKind::Short,
        ));
        self
    }

    /// Runs on a node named as `erl -name NAME` (`NAME@host.domain`, or `NAME@ip`).
    #[cfg(feature = "dist")]
    pub fn name(mut self, name: &str) -> Application {
        self.node = Some(NodeChoice::Named(
            name.to_owned(),
            rotp_node::name::NameKind::Long,
        ));
        self
    }

    /// Runs on a node configured in full (TLS, ports, `net_ticktime`, hidden...).
    #[cfg(feature = "dist")]
    pub fn node(mut self, config: rotp_node::NodeConfig) -> Application {
        self.node = Some(NodeChoice::Config(Box::new(config)));
        self
    }

    /// Builds a tokio runtime, starts the node (if one was asked for) and the tree, and
    /// blocks until SIGTERM or SIGINT has shut them down (`Ok`), or the tree could not start
    /// or its root exited by itself (`Err`).
    pub fn run(self) -> Result<(), Error> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(self.run_async())
    }

    /// [`Application::run`] inside a tokio runtime the program already has.
    pub async fn run_async(self) -> Result<(), Error> {
        #[cfg(feature = "dist")]
        if let Some(choice) = self.node {
            let config = match choice {
                NodeChoice::Config(config) => *config,
                NodeChoice::Named(name, kind) => {
                    rotp_node::NodeConfig::new(&name, kind, rotp_node::cookie::find_cookie(None)?)
                }
            };
            let node = rotp_node::Node::start(config).await?;
            let ended = run_tree(node.runtime(), &self.name, self.flags, self.children).await;
            node.leave().await;
            return ended;
        }
        run_tree(&Runtime::default(), &self.name, self.flags, self.children).await
    }
}

async fn run_tree(
    runtime: &Runtime,
    name: &str,
    flags: Flags,
    children: Vec<ChildSpec>,
) -> Result<(), Error> {
    match application::run(runtime, name, flags, children).await? {
        Stopped::Signal => Ok(()),
        Stopped::StartFailed(reason) => Err(Error::StartFailed(reason)),
        Stopped::RootExited(reason) => Err(Error::RootExited(reason)),
    }
}
