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
    /// An application called `name` (its root supervisor is registered as `NAME_sup`, as OTP
    /// names an application's top supervisor), with a
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
        self.start().await?.wait().await
    }

    /// Starts the node (if one was asked for) and the tree, and returns once every child has
    /// started: the program goes on (serving HTTP with [`Running::runtime`], say) and ends
    /// with [`Running::wait`] or [`Running::stop`]. SIGTERM and SIGINT no longer end the
    /// program at once from here on: `wait` turns them into an orderly stop.
    pub async fn start(self) -> Result<Running, Error> {
        let root_name = format!("{}_sup", self.name);
        #[cfg(feature = "dist")]
        let node = match self.node {
            None => None,
            Some(choice) => {
                let config = match choice {
                    NodeChoice::Config(config) => *config,
                    NodeChoice::Named(name, kind) => rotp_node::NodeConfig::new(
                        &name,
                        kind,
                        rotp_node::cookie::find_cookie(None)?,
                    ),
                };
                Some(rotp_node::Node::start(config).await?)
            }
        };
        #[cfg(feature = "dist")]
        let runtime = match &node {
            Some(node) => node.runtime().clone(),
            None => Runtime::default(),
        };
        #[cfg(not(feature = "dist"))]
        let runtime = Runtime::default();
        let started = application::start(&runtime, &root_name, self.flags, self.children).await;
        let tree = match started {
            Ok(Ok(tree)) => tree,
            Ok(Err(stopped)) => {
                #[cfg(feature = "dist")]
                if let Some(node) = &node {
                    node.leave().await;
                }
                return Err(stopped_error(stopped));
            }
            Err(e) => return Err(Error::Io(e)),
        };
        Ok(Running {
            tree,
            runtime,
            #[cfg(feature = "dist")]
            node,
        })
    }
}

/// A started [`Application`]: its tree (and node) run until [`Running::wait`] sees SIGTERM,
/// SIGINT or the root supervisor's exit, or [`Running::stop`] stops them.
pub struct Running {
    tree: application::Running,
    runtime: Runtime,
    #[cfg(feature = "dist")]
    node: Option<rotp_node::Node>,
}

impl Running {
    /// The runtime the tree's processes run on: [`Runtime::in_process`] calls into them
    /// from plain async code (an HTTP handler, say).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The node the application runs on, if it was given one.
    #[cfg(feature = "dist")]
    pub fn node(&self) -> Option<&rotp_node::Node> {
        self.node.as_ref()
    }

    /// Waits for SIGTERM or SIGINT and shuts the tree down in order (`Ok`), or for the root
    /// supervisor to exit by itself (`Err`); then the node leaves its peers.
    pub async fn wait(self) -> Result<(), Error> {
        let stopped = self.tree.wait().await;
        #[cfg(feature = "dist")]
        if let Some(node) = &self.node {
            node.leave().await;
        }
        result(stopped)
    }

    /// Shuts the tree down now, in order, as SIGTERM would; then the node leaves its peers.
    pub async fn stop(self) -> Result<(), Error> {
        let stopped = self.tree.stop().await;
        #[cfg(feature = "dist")]
        if let Some(node) = &self.node {
            node.leave().await;
        }
        result(stopped)
    }
}

fn result(stopped: Stopped) -> Result<(), Error> {
    match stopped {
        Stopped::Signal => Ok(()),
        other => Err(stopped_error(other)),
    }
}

fn stopped_error(stopped: Stopped) -> Error {
    match stopped {
        Stopped::StartFailed(reason) => Error::StartFailed(reason),
        Stopped::RootExited(reason) => Error::RootExited(reason),
        // Not an error; never asked for.
        Stopped::Signal => Error::RootExited(ExitReason::Shutdown),
    }
}
