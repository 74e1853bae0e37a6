//! The commands other than `start`, each on the data directory and the database without a
//! node, as an Elixir release's `bin/app eval` tasks are: `check`, `admin`, `keys`.

use std::process::ExitCode;

use crate::config::{Command, Config};

/// Runs `command` (anything but `start`) and says how it went.
pub async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Start => anyhow::bail!("start is not an offline command"),
        Command::Check { repair } => crate::check::run(&config, repair).await,
        Command::Admin { .. } | Command::Keys { .. } => {
            anyhow::bail!("not yet")
        }
    }
}
