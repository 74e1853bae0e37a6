//! `drip check`: the database against the stored objects and the spool.

use std::process::ExitCode;

use crate::config::Config;

/// Checks (and with `repair`, mends) what `config` names.
pub async fn run(_config: &Config, _repair: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
