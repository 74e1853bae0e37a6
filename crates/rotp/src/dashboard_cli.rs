//! `rotp dashboard NODE... [--listen ADDR]`: the `dashboard` crate's HTTP server over a hidden
//! client node, watching BEAM or rotp nodes through the distribution.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use etf::Atom;

use crate::dist_cli::{client, CookieArgs};

/// `rotp dashboard` options.
#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// The nodes to watch, NAME@HOST (or NAME for this host); `/metrics` alone is the first's,
    /// `/metrics?node=NAME@HOST` any of them.
    #[arg(required = true)]
    nodes: Vec<String>,
    /// Where to serve HTTP.
    #[arg(long, default_value = "127.0.0.1:4040")]
    listen: SocketAddr,
    /// An access token: requests must show it (`Authorization: Bearer`, or a login at
    /// /login). Read from ROTP_DASHBOARD_TOKEN if not given.
    #[arg(long, env = "ROTP_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    cookie: CookieArgs,
}

/// Runs `rotp dashboard` until Ctrl-C.
pub async fn dashboard(args: DashboardArgs) -> Result<ExitCode> {
    let (node, first) = client(&args.nodes[0], &args.cookie).await?;
    let mut targets = vec![first];
    for name in &args.nodes[1..] {
        let full = if name.contains('@') {
            name.clone()
        } else {
            node::name::full_name(name, node::name::NameKind::Short)?
        };
        targets.push(Atom::from(full.as_str()));
    }
    for t in &targets {
        eprintln!("connecting to {t}…");
        if !node.connect(t).await {
            eprintln!("{t} is not reachable now: its metrics answer 503 until it is");
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "dashboard on http://{}/ (metrics at /metrics); Ctrl-C stops it",
        args.listen
    );
    tokio::select! {
        served = dashboard::serve(listener, node, dashboard::Config { targets, token: args.token, base: String::new() }) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
