//! `rotp top NODE [--interval MS] [--once --format json|table]`: the interactive top
//! (`top_ui`), or one snapshot of a BEAM or rotp node (the `window` crate) printed for people
//! or scripts.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::dist_cli::{client, CookieArgs};

/// `rotp top` options.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// The node, NAME@HOST (or NAME for this host).
    node: String,
    /// Print one snapshot and exit, instead of the interactive view.
    #[arg(long)]
    once: bool,
    /// Milliseconds between refreshes of the interactive view (+ and - change it there).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(200..=600_000))]
    interval: u64,
    /// How to print the snapshot.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Processes a table shows (largest memory first).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    cookie: CookieArgs,
}

/// `--format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Every section as one JSON document.
    Json,
    /// A summary and the largest processes, as columns.
    Table,
}

/// Runs `rotp top`.
pub async fn top(args: TopArgs) -> Result<ExitCode> {
    let (node, target) = client(&args.node, &args.cookie).await?;
    if !args.once {
        if !node.connect(&target).await {
            bail!(
                "cannot connect to {target}: is it up, is EPMD reachable, and is the cookie right?"
            );
        }
        crate::top_ui::run(node, target, Duration::from_millis(args.interval)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let snapshot = window::collect(&node, &target, Duration::from_secs(10)).await?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&snapshot)? + "\n",
        Format::Table => table(&snapshot, args.limit),
    };
    // One write, as the other printing commands do.
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn table(s: &window::Snapshot, limit: usize) -> String {
    let mut out = format!(
        "{}  {}\nprocesses {} / {}   memory total {} processes {}\n\n{:<16} {:<28} {:>12} {:>8} {:>14}\n",
        s.node,
        s.system_version,
        s.process_count,
        s.process_limit,
        s.memory.get("total").copied().unwrap_or(0),
        s.memory.get("processes").copied().unwrap_or(0),
        "pid",
        "name",
        "memory",
        "mqueue",
        "reductions"
    );
    for p in s.processes.iter().take(limit) {
        out.push_str(&format!(
            "{:<16} {:<28} {:>12} {:>8} {:>14}\n",
            p.pid,
            p.registered_name.as_deref().unwrap_or(""),
            p.memory,
            p.message_queue_len,
            p.reductions
        ));
    }
    out
}
