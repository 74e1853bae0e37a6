//! `rotp node`, `rotp ping`, `rotp rpc`, `rotp send`: a node of our own, and a short-lived
//! hidden client node that talks to any Erlang or rotp node (as `erl_call` does).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use etf::{Atom, Term};
use node::name::NameKind;
use node::{Node, NodeConfig};

/// How the node reaches others: its cookie (`--cookie`, else `RELEASE_COOKIE`, else
/// `~/.erlang.cookie`), the EPMD port, and TLS distribution (`-proto_dist inet_tls`). Its
/// `Debug` never shows the cookie.
#[derive(Args, Clone)]
pub struct CookieArgs {
    /// The magic cookie (default: RELEASE_COOKIE, else ~/.erlang.cookie, created if missing).
    /// Visible in `ps` to every user of the machine, as `erl -setcookie` is: prefer the cookie
    /// file or RELEASE_COOKIE.
    #[arg(long)]
    cookie: Option<String>,
    /// The EPMD port (default: ERL_EPMD_PORT, else 4369).
    #[arg(long)]
    epmd_port: Option<u16>,
    /// TLS distribution with the options of this file, as erl's -ssl_dist_optfile.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "tls_cacert"])]
    tls_optfile: Option<PathBuf>,
    /// TLS distribution with this certificate (PEM), for both ends.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM; default: in the certificate file).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require and verify peers' certificates against these authorities (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_cacert: Option<PathBuf>,
}

/// `Some("***")` for a secret that is set: what a `Debug` shows of it.
fn hidden(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "***")
}

impl std::fmt::Debug for CookieArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieArgs")
            .field("cookie", &hidden(&self.cookie))
            .field("epmd_port", &self.epmd_port)
            .field("tls_optfile", &self.tls_optfile)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_cacert", &self.tls_cacert)
            .finish()
    }
}

/// The TLS the arguments ask for, if any.
fn tls(args: &CookieArgs) -> Result<Option<net::dist::DistTls>> {
    if let Some(file) = &args.tls_optfile {
        return Ok(Some(net::dist::DistTls::from_optfile(file)?));
    }
    let Some(cert) = &args.tls_cert else {
        return Ok(None);
    };
    let mutual = args.tls_cacert.is_some();
    let side = net::dist::TlsOptions {
        certfile: Some(cert.clone()),
        keyfile: args.tls_key.clone(),
        cacertfile: args.tls_cacert.clone(),
        verify_peer: mutual,
        fail_if_no_peer_cert: mutual,
    };
    Ok(Some(net::dist::DistTls::new(&side, &side)?))
}

/// `rotp node` options. Their `Debug` shows neither the cookie nor the dashboard's token.
#[derive(Args)]
pub struct NodeArgs {
    /// A short node name (`-sname`): NAME or NAME@HOST.
    #[arg(long, conflicts_with = "name", required_unless_present = "name")]
    sname: Option<String>,
    /// A long node name (`-name`): NAME or NAME@FQDN.
    #[arg(long)]
    name: Option<String>,
    /// A hidden node: not in other nodes' `nodes()`.
    #[arg(long)]
    hidden: bool,
    /// Lowest distribution listen port (`inet_dist_listen_min`).
    #[arg(long)]
    listen_min: Option<u16>,
    /// Highest distribution listen port (`inet_dist_listen_max`).
    #[arg(long)]
    listen_max: Option<u16>,
    /// `net_ticktime` in seconds.
    #[arg(long, default_value_t = 60)]
    net_ticktime: u64,
    /// As erl's `-proto_dist`: `inet6_tcp` listens on `::` (IPv4 peers too) and reaches hosts
    /// by IPv6 first, for nodes named `NAME@IPV6`; `inet_tcp` (the default) listens on IPv4.
    /// TLS (`--tls-*`) runs over either.
    #[arg(long, value_name = "inet_tcp|inet6_tcp", value_parser = ["inet_tcp", "inet6_tcp"])]
    proto_dist: Option<String>,
    /// How the node finds others, as libcluster's strategies (repeatable): `epmd:NODE,NODE…`,
    /// `local-epmd`, `erlang-hosts[:FILE]`,
    /// `dns:QUERY[,basename=B][,types=a,aaaa,srv][,nameserver=IP[:PORT]]`,
    /// `kubernetes-dns:service=S,basename=B[,namespace=N]`,
    /// `kubernetes-dnssrv:service=S,namespace=N,basename=B`,
    /// `kubernetes:selector=LABELS,basename=B[,namespace=N][,mode=ip|dns|hostname][,service=S][,api=endpointslices|endpoints|pods][,sa_dir=PATH]`
    /// (LABELS runs on, commas and all, until the next of these settings),
    /// `gossip[:port=P][,multicast=ADDR][,ttl=N][,secret=S]`; the polling ones take
    /// `interval=MS` (default 5000).
    #[arg(long, value_name = "SPEC")]
    discovery: Vec<node::discovery::Spec>,
    #[command(flatten)]
    dashboard: crate::dashboard_cli::NodeDashboardArgs,
    #[command(flatten)]
    cookie: CookieArgs,
}

impl std::fmt::Debug for NodeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeArgs")
            .field("sname", &self.sname)
            .field("name", &self.name)
            .field("hidden", &self.hidden)
            .field("listen_min", &self.listen_min)
            .field("listen_max", &self.listen_max)
            .field("net_ticktime", &self.net_ticktime)
            .field("proto_dist", &self.proto_dist)
            .field("discovery", &self.discovery)
            .field("dashboard", &self.dashboard)
            .field("cookie", &self.cookie)
            .finish()
    }
}

fn cookie(args: &CookieArgs) -> Result<dist::Cookie> {
    Ok(node::cookie::find_cookie(args.cookie.as_deref())?)
}

/// What to start when no EPMD answers: the `epmd` beside this program (`epmd -daemon`, as
/// `erl` does), else this program's own `rotp epmd`.
fn epmd_program() -> Option<node::EpmdProgram> {
    let exe = std::env::current_exe().ok()?;
    let epmd = exe.parent()?.join("epmd");
    Some(if epmd.exists() {
        node::EpmdProgram::Daemon(epmd)
    } else {
        node::EpmdProgram::Foreground(exe, vec!["epmd".to_owned()])
    })
}

/// The node's console: by default one plain line per event (`nodeup a@host`, refusals with
/// the texts erl uses), information on standard output and warnings and errors on standard
/// error; with `RUST_LOG` set, tracing's own format at the levels it asks for, on standard
/// error.
fn console() {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .event_format(PlainLines)
        .with_writer(
            std::io::stderr
                .with_max_level(tracing::Level::WARN)
                .or_else(std::io::stdout),
        )
        .try_init();
}

/// An event as a plain line: its message (and fields), `warning:` or `error:` first when it is
/// one.
struct PlainLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for PlainLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        match *event.metadata().level() {
            tracing::Level::ERROR => write!(writer, "error: ")?,
            tracing::Level::WARN => write!(writer, "warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// `rotp node`: runs a node until Ctrl-C or SIGTERM, or until it goes down (exit status 1, as
/// erl's when its kernel ends).
pub async fn run_node(args: NodeArgs) -> Result<ExitCode> {
    console();
    let (name, kind) = match (&args.sname, &args.name) {
        (Some(s), _) => (s.clone(), NameKind::Short),
        (None, Some(n)) => (n.clone(), NameKind::Long),
        (None, None) => bail!("give --sname or --name"),
    };
    let mut config = node_config(&name, kind, &args.cookie)?;
    config.hidden = args.hidden;
    let min = args.listen_min.unwrap_or(0);
    config.listen_ports = min..=args.listen_max.unwrap_or(min).max(min);
    config.ticktime = Duration::from_secs(args.net_ticktime.max(4));
    config.inet6 = args.proto_dist.as_deref() == Some("inet6_tcp");
    let node = Node::start(config).await?;
    println!(
        "rotp node {} is up (distribution port {}); Ctrl-C stops it",
        node.name(),
        node.listen_port().unwrap_or(0)
    );
    crate::dashboard_cli::beside(&node, &args.dashboard).await?;
    node::discovery::start(&node, args.discovery.clone());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stopped = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = term.recv() => true,
        () = node.stop_requested() => true,
        () = node.down() => false,
    };
    if !stopped {
        return Ok(ExitCode::from(1));
    }
    // Its global names released and its peers told at once, as erl's init:stop() ends.
    node.leave().await;
    Ok(ExitCode::SUCCESS)
}

/// A node named `name` with the cookie, EPMD and TLS the options say, starting an EPMD if
/// none answers.
pub(crate) fn node_config(name: &str, kind: NameKind, args: &CookieArgs) -> Result<NodeConfig> {
    let mut config = NodeConfig::new(name, kind, cookie(args)?);
    if let Some(port) = args.epmd_port {
        config.epmd_port = port;
    }
    config.epmd_program = epmd_program();
    config.tls = tls(args)?;
    Ok(config)
}

/// A hidden client node that reaches `target`: short or long names as the target's host.
pub(crate) async fn client(target: &str, args: &CookieArgs) -> Result<(Node, Atom)> {
    let target = if target.contains('@') {
        target.to_owned()
    } else {
        node::name::full_name(target, NameKind::Short)?
    };
    let kind = match node::name::split(&target) {
        // A dotted host, or an IPv6 address (`drip@fd00::5`), is a long name's.
        Some((_, host)) if host.contains('.') || host.contains(':') => NameKind::Long,
        Some(_) => NameKind::Short,
        None => bail!("bad node name {target}"),
    };
    let host = node::name::split(&target)
        .map(|(_, h)| h)
        .unwrap_or_default();
    let own = format!(
        "rotp_{}@{}",
        std::process::id(),
        if kind == NameKind::Short {
            host.split('.').next().unwrap_or(host).to_owned()
        } else {
            node::name::hostname()
        }
    );
    let mut config = NodeConfig::new(&own, kind, cookie(args)?);
    config.hidden = true;
    config.listen = false;
    config.tls = tls(args)?;
    if let Some(port) = args.epmd_port {
        config.epmd_port = port;
    }
    let node = Node::start(config).await?;
    Ok((node, Atom::from(target.as_str())))
}

/// `rotp ping NODE`: prints `pong` (exit 0) or `pang` (exit 1), as `net_adm:ping/1`.
pub async fn ping(target: &str, args: &CookieArgs) -> Result<ExitCode> {
    let (node, target) = client(target, args).await?;
    if node.ping(&target).await {
        println!("pong");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("pang");
        Ok(ExitCode::from(1))
    }
}

/// `rotp rpc NODE MOD FUN 'ARGS'`: prints the result as `~p`.
pub async fn rpc(
    target: &str,
    module: &str,
    function: &str,
    call_args: &str,
    args: &CookieArgs,
    timeout: u64,
) -> Result<ExitCode> {
    let list = etf::text::parse(call_args).with_context(|| format!("arguments {call_args:?}"))?;
    let Term::List(call_args) = list else {
        bail!("the arguments must be a list, like '[1, two, \"three\"]'");
    };
    let (node, target) = client(target, args).await?;
    let result = node
        .rpc(
            &target,
            module,
            function,
            call_args,
            Duration::from_secs(timeout),
        )
        .await;
    println!("{}", etf::text::pretty(&result));
    let failed =
        matches!(&result, Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("badrpc"));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `rotp send NODE NAME 'TERM'`: `{Name, Node} ! Term`.
pub async fn send(target: &str, name: &str, term: &str, args: &CookieArgs) -> Result<ExitCode> {
    let term = etf::text::parse(term).with_context(|| format!("term {term:?}"))?;
    let (node, target) = client(target, args).await?;
    if node.send(&target, &Atom::from(name), term).await {
        // Let the writer flush before the process exits.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("rotp: cannot reach {target}");
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{CookieArgs, NodeArgs};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    /// Security review 2026-12-07, C1: a `{:?}` of the arguments (a log line, a panic
    /// message) shows that a secret was given, never the secret.
    #[test]
    fn debug_never_shows_the_cookie_or_the_token() {
        let cli = Cli::try_parse_from([
            "node",
            "--sname",
            "a",
            "--cookie",
            "c00kie-s3cret",
            "--dashboard-token",
            "t0ken-s3cret",
            "--epmd-port",
            "4370",
        ])
        .expect("the arguments parse");
        let shown = format!("{:?} {:#?}", cli.node, cli.node);
        assert!(!shown.contains("c00kie-s3cret"), "{shown}");
        assert!(!shown.contains("t0ken-s3cret"), "{shown}");
        assert!(shown.contains("***") && shown.contains("4370"), "{shown}");
        let cookie: &CookieArgs = &cli.node.cookie;
        assert!(!format!("{cookie:?}").contains("s3cret"));
    }
}
