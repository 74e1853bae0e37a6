//! The commands of an Elixir release's `bin/app` that reach the node already running —
//! `remote`, `rpc`, `stop`, `pid` — and `version`. Each starts a hidden node that only
//! connects out, named as the release script names its own (`rpc-PID-NAME@HOST`,
//! `rem-PID-NAME@HOST`), with the settings' node name and cookie (`RELEASE_NODE`,
//! `RELEASE_DISTRIBUTION`, `RELEASE_COOKIE` as a release reads them). A node that cannot be
//! reached is one sentence saying which step failed: the host's name, its EPMD, the name
//! registered there, the port, TLS or the cookie ([`node::Unreachable`]).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use etf::{Atom, Term};
use node::name::NameKind;
use node::{Node, NodeConfig};
use thiserror::Error;

use crate::config::{Config, NodeName};

/// How long an `rpc` may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// `drip version`: the name and version, as `bin/app version` prints them.
pub fn version() -> ExitCode {
    println!("drip {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}

/// `drip remote`: a shell into the running node, in this terminal.
pub async fn remote(config: &Config) -> anyhow::Result<ExitCode> {
    let (node, target) = reach(config, "rem").await?;
    let shell = window::remsh::detect(&node, &target).await;
    Ok(window::remsh::console(&node, &target, shell).await?)
}

/// `drip rpc EXPR`: the call's result, printed as `~p`; exit 1 if it raised.
pub async fn rpc(config: &Config, expr: &str) -> anyhow::Result<ExitCode> {
    let call = Call::parse(expr)?;
    let (node, target) = reach(config, "rpc").await?;
    let result = node
        .rpc(
            &target,
            &call.module,
            &call.function,
            call.args,
            RPC_TIMEOUT,
        )
        .await;
    println!("{}", etf::text::pretty(&result));
    Ok(if is_badrpc(&result) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `drip pid`: the running node's OS pid.
pub async fn pid(config: &Config) -> anyhow::Result<ExitCode> {
    let (node, target) = reach(config, "rpc").await?;
    let got = node
        .rpc(&target, "os", "getpid", Vec::new(), RPC_TIMEOUT)
        .await;
    match got.text() {
        Some(pid) => {
            println!("{pid}");
            Ok(ExitCode::SUCCESS)
        }
        None => bail!(
            "{target} answered os:getpid() with {}",
            etf::text::write(&got)
        ),
    }
}

/// `drip stop`: `init:stop()` on the running node (it stops as on SIGTERM), then waits until
/// it has left, for as long as its stop may take and a little more.
pub async fn stop(config: &Config) -> anyhow::Result<ExitCode> {
    let (node, target) = reach(config, "rpc").await?;
    let got = node
        .rpc(&target, "init", "stop", Vec::new(), RPC_TIMEOUT)
        .await;
    if is_badrpc(&got) && node.nodes(true).contains(&target) {
        bail!(
            "{target} answered init:stop() with {}",
            etf::text::write(&got)
        );
    }
    let limit = config.limits.shutdown_timeout + Duration::from_secs(10);
    let deadline = tokio::time::Instant::now() + limit;
    while node.nodes(true).contains(&target) {
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{target} is still up {} s after it was told to stop",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// A hidden node (`PREFIX-PID-NAME@HOST`) connected to the node the settings name.
async fn reach(config: &Config, prefix: &str) -> anyhow::Result<(Node, Atom)> {
    let (name, kind) = match &config.node {
        NodeName::Short(n) => (n, NameKind::Short),
        NodeName::Long(n) => (n, NameKind::Long),
        NodeName::None => bail!(
            "this Drip runs without distribution (RELEASE_DISTRIBUTION=none): there is no node to reach"
        ),
    };
    let target = node::name::full_name(name, kind)?;
    let (alive, host) = node::name::split(&target).unwrap_or((name, ""));
    let own = format!("{prefix}-{}-{alive}@{host}", std::process::id());
    let cookie = node::cookie::find_cookie(config.cookie.as_deref())?;
    let mut own = NodeConfig::new(&own, kind, cookie);
    own.hidden = true;
    own.listen = false;
    own.tls = crate::app::dist_tls(config)?;
    let node = Node::start(own)
        .await
        .context("cannot start the node that reaches Drip's")?;
    let target = Atom::from(target.as_str());
    if let Err(why) = node.connect_or_why(&target).await {
        bail!("cannot reach {target}: {why}");
    }
    Ok((node, target))
}

/// `{badrpc, Reason}`.
fn is_badrpc(result: &Term) -> bool {
    matches!(result, Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("badrpc"))
}

/// A call `drip rpc` makes: `mod:fun(Args…)` as Erlang writes it, or `:mod.fun(Args…)` /
/// `Mod.Sub.fun(Args…)` as Elixir does; the arguments are Erlang terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The module (`Elixir.Mod.Sub` for an Elixir alias).
    pub module: String,
    /// The function.
    pub function: String,
    /// The arguments.
    pub args: Vec<Term>,
}

/// Why an `rpc` expression is not a call.
#[derive(Debug, Error, PartialEq)]
pub enum CallError {
    /// Not `mod:fun(…)`.
    #[error("{0:?} is not a call: write mod:fun(Args) (erlang:memory(), application:which_applications()) or :mod.fun(Args)")]
    NotACall(String),
    /// The arguments do not parse.
    #[error("the arguments of {expr:?} are not Erlang terms: {error}")]
    Args {
        /// The expression.
        expr: String,
        /// What the parser said.
        error: String,
    },
}

impl Call {
    /// Parses `expr` (a trailing `.` is fine).
    pub fn parse(expr: &str) -> Result<Call, CallError> {
        let not_a_call = || CallError::NotACall(expr.to_owned());
        let text = expr.trim().trim_end_matches('.').trim_end();
        let open = text.find('(').ok_or_else(not_a_call)?;
        let inner = text[open + 1..].strip_suffix(')').ok_or_else(not_a_call)?;
        let head = text[..open].trim();
        let (module, function) = if let Some(elixir) = head.strip_prefix(':') {
            let (m, f) = elixir.rsplit_once('.').ok_or_else(not_a_call)?;
            (m.to_owned(), f)
        } else if let Some((m, f)) = head.split_once(':') {
            (m.to_owned(), f)
        } else {
            let (m, f) = head.rsplit_once('.').ok_or_else(not_a_call)?;
            (format!("Elixir.{m}"), f)
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '?' | '!'))
        };
        if !word(&module) || !word(function) || function.contains('.') {
            return Err(not_a_call());
        }
        let args = match etf::text::parse(&format!("[{inner}]")) {
            Ok(Term::List(args)) => args,
            Ok(_) => return Err(not_a_call()),
            Err(e) => {
                return Err(CallError::Args {
                    expr: expr.to_owned(),
                    error: e.to_string(),
                })
            }
        };
        Ok(Call {
            module,
            function: function.to_owned(),
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(m: &str, f: &str, args: Vec<Term>) -> Call {
        Call {
            module: m.into(),
            function: f.into(),
            args,
        }
    }

    #[test]
    fn erlang_and_elixir_calls_parse() {
        assert_eq!(
            Call::parse("erlang:memory()."),
            Ok(call("erlang", "memory", vec![]))
        );
        assert_eq!(
            Call::parse(" :erlang.memory(total) "),
            Ok(call("erlang", "memory", vec![Term::atom("total")]))
        );
        assert_eq!(
            Call::parse("Drip.Stats.count(1, \"a\")"),
            Ok(call(
                "Elixir.Drip.Stats",
                "count",
                vec![Term::Integer(1), Term::charlist("a")]
            ))
        );
        assert_eq!(
            Call::parse("lists:seq(1, 3)"),
            Ok(call(
                "lists",
                "seq",
                vec![Term::Integer(1), Term::Integer(3)]
            ))
        );
    }

    #[test]
    fn what_is_not_a_call_says_so() {
        for bad in [
            "",
            "memory",
            "erlang:memory",
            "1 + 2",
            "a:b(",
            "a:b:c()",
            "a b:c()",
        ] {
            assert!(
                matches!(Call::parse(bad), Err(CallError::NotACall(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Call::parse("erlang:memory(<<)"),
            Err(CallError::Args { .. })
        ));
    }
}
