//! The commands other than `start`: those on the data directory and the database without a
//! node, as an Elixir release's `bin/app eval` tasks are (`check`, `admin`, `keys`,
//! `migrate`), and those that reach the running node ([`crate::release`]: `remote`, `rpc`,
//! `stop`, `pid`; and `version`).

use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{AdminAction, Command, Config, KeysAction};
use crate::db::Store;

/// Runs `command` (anything but `start`) and says how it went.
pub async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Start => anyhow::bail!("start is not an offline command"),
        Command::Check { repair } => crate::check::run(&config, repair).await,
        Command::Admin { action } => admin(&config, action).await,
        Command::Keys {
            action: KeysAction::Rotate,
        } => crate::rotate::run(&config).await,
        Command::Migrate => migrate(&config).await,
        Command::Remote => crate::release::remote(&config).await,
        Command::Rpc { expr } => crate::release::rpc(&config, &expr).await,
        Command::Stop => crate::release::stop(&config).await,
        Command::Pid => crate::release::pid(&config).await,
        Command::Version => Ok(crate::release::version()),
    }
}

/// `drip migrate`: the database's schema made this Drip's, then exit (a Kubernetes Job's
/// work before a rollout).
async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(file) = crate::private::sqlite_file(&config.database) {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::dir(dir).with_context(|| format!("cannot make {}", dir.display()))?;
        }
    }
    crate::private::sqlite(&config.database).context("cannot make the database file")?;
    let store = Store::open(&config.database)
        .await
        .context("cannot migrate the database")?;
    let (applied, wanted) = store.migrations().await;
    println!("the database is up to date ({applied} of {wanted} migrations applied)");
    Ok(ExitCode::SUCCESS)
}

/// `drip admin grant|revoke|list|invite`.
async fn admin(config: &Config, action: AdminAction) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.database).await?;
    match action {
        AdminAction::Grant { username: name } => {
            if !store.set_admin(&name, true).await? {
                anyhow::bail!("there is no account {name:?}: it must sign up first (or make it one with `drip admin invite --admin`)");
            }
            println!("{name} is an admin now");
        }
        AdminAction::Revoke { username: name } => {
            if !store.set_admin(&name, false).await? {
                anyhow::bail!("there is no account {name:?}");
            }
            println!("{name} is no longer an admin");
        }
        AdminAction::List => {
            for name in store.admins().await? {
                println!("{name}");
            }
        }
        AdminAction::Invite { admin } => {
            let (token, hash) = crate::accounts::new_token();
            let expires =
                crate::db::now_ms() + crate::web::account::INVITE_LIFETIME.as_millis() as i64;
            store
                .add_invite(&hash, None, admin, expires)
                .await
                .context("cannot store the invite")?;
            let base = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.http));
            println!("{base}/signup?invite={token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
