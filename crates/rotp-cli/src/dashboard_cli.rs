//! `rotp dashboard NODE... [--listen ADDR]`: the `dashboard` crate's HTTP server over a hidden
//! client node, watching BEAM or rotp nodes through the distribution; and the dashboard that
//! `rotp node --dashboard` serves beside its node.
//!
//! Both always have a token: the operator's (`--token`, `ROTP_DASHBOARD_TOKEN`: a Bearer token
//! for scripts and Prometheus, the password of the login page for browsers), or one made at
//! start and printed in a login link, as Jupyter prints its own
//! (`http://127.0.0.1:4040/?token=…`: it logs the browser in and leads on to the clean URL).
//! They answer only to loopback addresses, `localhost`, the listen address and the names
//! given with `--allow-host`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use etf::Atom;
use node::Node;

use crate::dist_cli::{client, CookieArgs};

/// `rotp dashboard` options. Its `Debug` never shows the token (`dashboard::Token`'s).
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
    /// /login). Read from ROTP_DASHBOARD_TOKEN if not given; without either, one is made and
    /// printed in a login link.
    #[arg(long, env = "ROTP_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<dashboard::Token>,
    /// Also answer to this Host name or address (repeatable): the dashboard answers only to
    /// loopback addresses, localhost and its listen address otherwise (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
    #[command(flatten)]
    cookie: CookieArgs,
}

/// `rotp node`'s dashboard options. Their `Debug` never shows the token.
#[derive(Args, Clone, Debug)]
pub struct NodeDashboardArgs {
    /// Serve this node's dashboard and `/metrics` over HTTP on ADDR (default 127.0.0.1:4040).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:4040")]
    dashboard: Option<SocketAddr>,
    /// The dashboard's access token: requests must show it (`Authorization: Bearer`, or a
    /// login at /login). Read from ROTP_DASHBOARD_TOKEN if not given; without either, one is
    /// made and printed in a login link.
    #[arg(long, env = "ROTP_DASHBOARD_TOKEN", hide_env_values = true)]
    dashboard_token: Option<dashboard::Token>,
    /// Also answer to this Host name or address on the dashboard (repeatable).
    #[arg(long, value_name = "NAME")]
    dashboard_allow_host: Vec<String>,
}

/// The access of a dashboard on `listen`: the token given, or a new one; the Host names
/// allowed; and what to print: where it is, with the login link if the token was made.
fn access(
    token: Option<dashboard::Token>,
    listen: SocketAddr,
    allow: &[String],
) -> (dashboard::Access, String) {
    let token = token.unwrap_or_else(dashboard::Token::generate);
    let hosts = allow
        .iter()
        .fold(dashboard::AllowedHosts::new(listen.ip()), |h, n| h.allow(n));
    // A browser on this machine reaches a wildcard listener at loopback.
    let at = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(v6) if v6.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    };
    let banner = if token.is_chosen() {
        format!(
            "dashboard on http://{at}/ (log in with its token; metrics at /metrics with \
             Authorization: Bearer TOKEN)"
        )
    } else {
        format!(
            "dashboard on http://{at}/ ; open it logged in with:\n    http://{at}/?token={}\n\
             (metrics at /metrics with Authorization: Bearer and that token; it changes each \
             start unless --token or ROTP_DASHBOARD_TOKEN gives one)",
            token.secret()
        )
    };
    (dashboard::Access::Token { token, hosts }, banner)
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
    let (access, banner) = access(args.token, args.listen, &args.allow_host);
    println!("{banner}\nCtrl-C stops it");
    tokio::select! {
        served = dashboard::serve(listener, node, dashboard::Config::new(targets, access)) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves `node`'s own dashboard in the background if `args` ask for one.
pub async fn beside(node: &Node, args: &NodeDashboardArgs) -> Result<()> {
    let Some(addr) = args.dashboard else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("the dashboard cannot listen on {addr}"))?;
    let (access, banner) = access(
        args.dashboard_token.clone(),
        addr,
        &args.dashboard_allow_host,
    );
    println!("{banner}");
    tokio::spawn(dashboard::serve(
        listener,
        node.clone(),
        dashboard::Config::new(vec![node.name().clone()], access),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Dashboard {
        #[command(flatten)]
        args: DashboardArgs,
    }

    #[derive(Parser, Debug)]
    struct Beside {
        #[command(flatten)]
        args: NodeDashboardArgs,
    }

    #[test]
    fn debug_never_shows_the_dashboard_token() {
        let secret = "an-operator-token-1234";
        let d = Dashboard::try_parse_from(["rotp", "a@h", "--token", secret]).expect("parses");
        let b = Beside::try_parse_from(["rotp", "--dashboard", "--dashboard-token", secret])
            .expect("parses");
        for shown in [format!("{d:?}"), format!("{:?}", d.args), format!("{b:?}")] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert!(d.args.token.is_some_and(|t| t.is(secret) && t.is_chosen()));
    }

    #[test]
    fn an_empty_token_is_refused() {
        let e = Dashboard::try_parse_from(["rotp", "a@h", "--token", ""]).expect_err("refused");
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn without_a_token_one_is_made_and_printed_in_a_login_link() {
        let listen: SocketAddr = "0.0.0.0:4040".parse().expect("an address");
        let (made, banner) = access(None, listen, &["dash.example".to_owned()]);
        let dashboard::Access::Token { token, hosts } = made else {
            panic!("the rotp binaries always have a token");
        };
        assert!(!token.is_chosen());
        assert!(banner.contains(&format!("http://127.0.0.1:4040/?token={}", token.secret())));
        assert!(hosts.admits("dash.example:4040") && !hosts.admits("evil.example:4040"));
        let (_, banner) = access(Some("chosen-one".parse().expect("a token")), listen, &[]);
        assert!(!banner.contains("chosen-one"), "{banner}");
    }
}
