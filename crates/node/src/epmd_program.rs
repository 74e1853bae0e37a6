//! Starting an EPMD when none answers, as `erl` does: `erl -sname` runs `epmd -daemon` (from
//! `erts/etc/common/erlexec.c`, `start_epmd_daemon`) before it registers, and the daemon
//! outlives the node.

use std::path::{Path, PathBuf};

use crate::node::NodeConfig;

/// A program that runs an EPMD when started, or where to find one.
///
/// [`NodeConfig::new`] picks [`EpmdProgram::Auto`], so a node started with defaults behaves as
/// `erl -sname` does. A test that wants no EPMD started sets
/// `config.epmd_program = None`: the start then fails with `StartError::NoEpmd` when none
/// answers.
///
/// ```
/// use rotp_node::{name::NameKind, EpmdProgram, NodeConfig};
///
/// let mut config = NodeConfig::new("app", NameKind::Short, dist::Cookie::new("secret"));
/// assert!(matches!(config.epmd_program, Some(EpmdProgram::Auto)));
/// config.epmd_program = None; // never start one: fail if none answers
/// ```
#[derive(Clone, Debug)]
pub enum EpmdProgram {
    /// An `epmd` that detaches with `-daemon` (OTP's or rotp's), as `erl` starts it.
    Daemon(PathBuf),
    /// A program that runs an EPMD in the foreground with these arguments (`rotp epmd`): started
    /// detached from the node, in its own process group, so it outlives the node.
    Foreground(PathBuf, Vec<String>),
    /// rotp's own EPMD (`net::epmd::Daemon`) served by this program, on every address as
    /// epmd listens: it answers other nodes of the host too, and serves until the program
    /// exits (or an `epmd -kill`), not only while the node runs.
    InProcess,
    /// What `erl` does: the `epmd` on `PATH` with `-daemon` (OTP's, when Erlang is installed),
    /// else [`EpmdProgram::InProcess`], so that a program on a host without Erlang still
    /// starts as a node.
    Auto,
}

/// The first executable `name` in the directories of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Starts an EPMD on the configured port as `config.epmd_program` says.
pub(crate) fn start(config: &NodeConfig) -> Result<(), String> {
    let port = config.epmd_port;
    match &config.epmd_program {
        None => Err("no epmd program configured".to_owned()),
        Some(EpmdProgram::Daemon(program)) => daemon(program, port),
        Some(EpmdProgram::Foreground(program, args)) => foreground(program, args, port),
        Some(EpmdProgram::InProcess) => in_process(port),
        Some(EpmdProgram::Auto) => match on_path("epmd") {
            Some(program) => daemon(&program, port),
            None => in_process(port),
        },
    }
}

fn daemon(program: &Path, port: u16) -> Result<(), String> {
    let status = std::process::Command::new(program)
        .arg("-daemon")
        .env("ERL_EPMD_PORT", port.to_string())
        // The daemon outlives the node and has no use for the cookie.
        .env_remove("RELEASE_COOKIE")
        .status()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} -daemon: {status}", program.display()))
    }
}

fn foreground(program: &Path, args: &[String], port: u16) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    Command::new(program)
        .args(args)
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("{}: {e}", program.display()))
}

fn in_process(port: u16) -> Result<(), String> {
    let daemon = net::epmd::Daemon::bind(net::epmd::DaemonConfig {
        port,
        ..net::epmd::DaemonConfig::default()
    })
    .map_err(|e| format!("rotp's EPMD: {e}"))?;
    tracing::info!("no EPMD answered on port {port} and none is on PATH: serving rotp's own");
    tokio::spawn(async move {
        if let Err(e) = daemon.run().await {
            tracing::error!("rotp's EPMD on port {port} stopped: {e}");
        }
    });
    Ok(())
}
