//! `rotp remsh NODE [--elixir | --erlang]`: a remote shell into a BEAM node, as
//! `erl -remsh` and `iex --remsh` give one (the `window::remsh` I/O server and its console:
//! line editing, history and tab completion from rustyline).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use window::remsh::{self, Shell};

use crate::dist_cli::{client, CookieArgs};

/// `rotp remsh` options.
#[derive(Args, Debug)]
pub struct RemshArgs {
    /// The node, NAME@HOST (or NAME for this host).
    node: String,
    /// Start IEx on the target (detected when it runs IEx).
    #[arg(long, conflicts_with = "erlang")]
    elixir: bool,
    /// Start the Erlang shell on the target, even if it runs IEx.
    #[arg(long)]
    erlang: bool,
    #[command(flatten)]
    cookie: CookieArgs,
}

/// Runs `rotp remsh`.
pub async fn remsh(args: RemshArgs) -> Result<ExitCode> {
    eprintln!("connecting to {}…", args.node);
    let (node, target) = client(&args.node, &args.cookie).await?;
    if let Err(why) = node.connect_or_why(&target).await {
        anyhow::bail!("cannot connect to {target}: {why}");
    }
    let shell = if args.elixir {
        Shell::Elixir
    } else if args.erlang {
        Shell::Erlang
    } else {
        remsh::detect(&node, &target).await
    };
    Ok(remsh::console(&node, &target, shell).await?)
}
