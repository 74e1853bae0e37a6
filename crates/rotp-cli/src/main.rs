//! `rotp`: the command line to rotp and to Erlang nodes.
//!
//! * `rotp epmd`: run the port mapper in the foreground and show its names as they change.
//! * `rotp names`: list the nodes registered with EPMD (`net_adm:names/0`).
//! * `rotp term encode|decode`: Erlang term text to external term format and back.
//! * `rotp node`: run a distributed node that Erlang and Elixir nodes can connect to.
//! * `rotp ping|rpc|send`: talk to any node, as `net_adm:ping/1`, `rpc:call/4` and `!` do.

mod dashboard_cli;
mod dist_cli;
mod remsh_cli;
mod stage_cli;
mod top_cli;
mod top_ui;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use etf::EncodeOptions;
use net::epmd::{Client, Daemon, DaemonConfig, DaemonError};

#[derive(Parser)]
#[command(name = "rotp", version, about = "Erlang/OTP, rebuilt in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run EPMD in the foreground and print the registered names whenever they change.
    Epmd {
        /// The port (default: ERL_EPMD_PORT, else 4369).
        #[arg(long)]
        port: Option<u16>,
        /// Allow `epmd -kill` with live nodes and `epmd -stop`.
        #[arg(long)]
        relaxed_command_check: bool,
        /// Serve Prometheus `/metrics` (requests by kind, registered nodes) on ADDR.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// List the nodes registered with EPMD on a host, as `net_adm:names/0`.
    Names {
        /// The host whose EPMD to ask.
        #[arg(default_value = "127.0.0.1")]
        host: String,
        /// The EPMD port (default: ERL_EPMD_PORT, else 4369).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Convert between Erlang term text and the external term format.
    Term {
        #[command(subcommand)]
        command: TermCmd,
    },
    /// Run a distributed node (as `erl -sname NAME`) until Ctrl-C or SIGTERM.
    Node(dist_cli::NodeArgs),
    /// Ping a node: prints pong or pang, as net_adm:ping/1.
    Ping {
        /// The node, NAME@HOST (or NAME for this host).
        node: String,
        #[command(flatten)]
        cookie: dist_cli::CookieArgs,
    },
    /// Call Module:Function(Args) on a node and print the result as ~p.
    Rpc {
        /// The node, NAME@HOST (or NAME for this host).
        node: String,
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The arguments, an Erlang list: '[1, two, "three"]'.
        #[arg(default_value = "[]", allow_hyphen_values = true)]
        args: String,
        /// Seconds to wait for the result.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        #[command(flatten)]
        cookie: dist_cli::CookieArgs,
    },
    /// A node's processes and memory, read over the distribution (BEAM or rotp).
    Top(top_cli::TopArgs),
    /// A remote shell into a node: its own Erlang shell, or IEx (as erl -remsh, iex --remsh).
    Remsh(remsh_cli::RemshArgs),
    /// An HTTP dashboard and Prometheus /metrics for nodes (BEAM or rotp), read over the
    /// distribution.
    Dashboard(dashboard_cli::DashboardArgs),
    /// GenStage taps: host a producer of integers, or print a producer's events.
    Stage {
        #[command(subcommand)]
        command: StageCmd,
    },
    /// Send a term to a registered name on a node ({Name, Node} ! Term).
    Send {
        /// The node, NAME@HOST (or NAME for this host).
        node: String,
        /// The registered name.
        name: String,
        /// The term, in Erlang syntax.
        #[arg(allow_hyphen_values = true)]
        term: String,
        #[command(flatten)]
        cookie: dist_cli::CookieArgs,
    },
}

#[derive(Subcommand)]
enum StageCmd {
    /// Run a node hosting a producer of FIRST..LAST (as GenStage.from_enumerable), until the
    /// range is exhausted and its consumers have been told.
    Produce(stage_cli::ProduceArgs),
    /// Subscribe to a producer on a node (Elixir's, erl's or rotp's) and print its events, one
    /// ~w per line.
    Subscribe(stage_cli::SubscribeArgs),
}

#[derive(Subcommand)]
enum TermCmd {
    /// Parse Erlang term text and write `term_to_binary` bytes to standard output.
    Encode {
        /// The term, e.g. '{ok, [1, 2.5, <<"bin">>, #{a => "x"}]}'.
        #[arg(allow_hyphen_values = true)]
        term: String,
        /// `{minor_version, 2}`: UTF-8 atom tags (OTP 26's default).
        #[arg(long)]
        utf8_atoms: bool,
        /// `{compressed, Level}` (6 when given without a level).
        #[arg(long, num_args = 0..=1, default_missing_value = "6", value_parser = clap::value_parser!(u32).range(0..=9))]
        compressed: Option<u32>,
        /// Write hex instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Read `term_to_binary` bytes (standard input, or a file) and print the term as `~w`.
    Decode {
        /// A file to read instead of standard input.
        file: Option<PathBuf>,
        /// The input is hex text, not raw bytes.
        #[arg(long)]
        hex: bool,
    },
}

fn main() -> ExitCode {
    // Before any thread starts: large messages keep their memory (node::malloc).
    node::malloc::keep_freed_memory();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rotp: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn epmd_port(port: Option<u16>) -> u16 {
    port.unwrap_or_else(net::epmd::port_from_env)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Term { command } => term(command),
        Cmd::Node(args) => runtime()?.block_on(dist_cli::run_node(args)),
        Cmd::Ping { node, cookie } => runtime()?.block_on(dist_cli::ping(&node, &cookie)),
        Cmd::Rpc {
            node,
            module,
            function,
            args,
            timeout,
            cookie,
        } => runtime()?.block_on(dist_cli::rpc(
            &node, &module, &function, &args, &cookie, timeout,
        )),
        Cmd::Send {
            node,
            name,
            term,
            cookie,
        } => runtime()?.block_on(dist_cli::send(&node, &name, &term, &cookie)),
        Cmd::Top(args) => runtime()?.block_on(top_cli::top(args)),
        Cmd::Remsh(args) => runtime()?.block_on(remsh_cli::remsh(args)),
        Cmd::Dashboard(args) => runtime()?.block_on(dashboard_cli::dashboard(args)),
        Cmd::Stage { command } => runtime()?.block_on(async move {
            match command {
                StageCmd::Produce(args) => stage_cli::produce(args).await,
                StageCmd::Subscribe(args) => stage_cli::subscribe(args).await,
            }
        }),
        Cmd::Names { host, port } => runtime()?.block_on(names(host, epmd_port(port))),
        Cmd::Epmd {
            port,
            relaxed_command_check,
            metrics,
        } => {
            let config = DaemonConfig {
                port: epmd_port(port),
                relaxed_command_check: relaxed_command_check
                    || std::env::var_os("ERL_EPMD_RELAXED_COMMAND_CHECK").is_some(),
                ..DaemonConfig::default()
            };
            runtime()?.block_on(epmd_foreground(config, metrics))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn names(host: String, port: u16) -> Result<ExitCode> {
    let ip = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let (_, names) = Client::new(ip).names().await?;
    for (name, port) in names {
        println!("{name}\t{port}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn epmd_foreground(
    config: DaemonConfig,
    metrics: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let port = config.port;
    let daemon = match Daemon::bind(config) {
        Ok(d) => d,
        Err(DaemonError::AlreadyRunning { .. }) => {
            println!("rotp epmd: an EPMD already listens on port {port} (set ERL_EPMD_PORT for another); its names:");
            return names("127.0.0.1".to_owned(), port).await;
        }
        Err(e) => return Err(e.into()),
    };
    println!("rotp epmd: listening on port {port}; start nodes with ERL_EPMD_PORT={port} erl -sname NAME");
    let mut changes = daemon.subscribe();
    let table = daemon.names_handle();
    if let Some(addr) = metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("the metrics cannot listen on {addr}"))?;
        println!("rotp epmd: metrics on http://{addr}/metrics");
        tokio::spawn(dashboard::epmd_metrics::serve(listener, table.clone()));
    }
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let names = table.names();
            println!(
                "--- names ---\n{}",
                if names.is_empty() { "(none)\n" } else { &names }
            );
        }
    });
    daemon.run().await?;
    Ok(ExitCode::SUCCESS)
}

fn term(command: TermCmd) -> Result<ExitCode> {
    match command {
        TermCmd::Encode {
            term,
            utf8_atoms,
            compressed,
            hex,
        } => {
            let term = etf::text::parse(&term)?;
            let bytes = etf::encode_with(
                &term,
                &EncodeOptions {
                    utf8_atoms,
                    compressed,
                },
            )?;
            let mut out = std::io::stdout().lock();
            if hex {
                writeln!(out, "{}", to_hex(&bytes))?;
            } else {
                out.write_all(&bytes)?;
            }
        }
        TermCmd::Decode { file, hex } => {
            let mut input = Vec::new();
            match file {
                Some(path) => {
                    input = std::fs::read(&path).with_context(|| path.display().to_string())?
                }
                None => {
                    std::io::stdin().read_to_end(&mut input)?;
                }
            }
            if hex {
                input = from_hex(&input)?;
            }
            println!("{}", etf::decode(&input)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn from_hex(text: &[u8]) -> Result<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).context("hex input is not text")?;
            u8::from_str_radix(s, 16).with_context(|| format!("bad hex digits {s:?}"))
        })
        .collect()
}
