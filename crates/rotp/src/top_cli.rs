//! `rotp top NODE --once [--format json|table]`: one snapshot of a BEAM or rotp node (the
//! `window` crate), printed for people or scripts. The interactive top is still to come
//! (issue 14).

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
    /// Print one snapshot and exit (the interactive view is not built yet).
    #[arg(long)]
    once: bool,
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
    if !args.once {
        bail!(
            "the interactive top is not built yet: run `rotp top {} --once`",
            args.node
        );
    }
    let (node, target) = client(&args.node, &args.cookie).await?;
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
