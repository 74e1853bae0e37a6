//! A node's supervision trees, read as observer's Applications tab reads them: the top
//! supervisor of each running application (`application:which_applications/0`, then
//! `application_controller:get_master/1` and `application_master:get_child/1`, by rpc), and
//! under each supervisor its children, by the `which_children` call `supervisor:which_children/1`
//! makes. A node without OTP's application controller (a rotp node) is read from its
//! `kernel_sup`.
//!
//! ```
//! use std::time::Duration;
//! use rotp_window::tree::{trees, Child};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = node::NodeConfig::new(name, node::name::NameKind::Long, dist::Cookie::new("secret"));
//! #     config.epmd_port = epmd_port;
//! #     node::Node::start(config)
//! # };
//! // `me` reads `target`, a node started as `erl -name target@127.0.0.1` would be (a rotp one here).
//! let (me, target) = (start("me@127.0.0.1").await?, start("target@127.0.0.1").await?);
//! let roots = trees(&me, target.name(), Duration::from_secs(5)).await;
//! // Each root and its children, as observer draws them.
//! fn count(c: &Child) -> usize { 1 + c.children.iter().map(count).sum::<usize>() }
//! assert!(!roots.is_empty());
//! assert!(roots.iter().all(|r| r.kind == "supervisor"));
//! assert!(roots.iter().map(count).sum::<usize>() > roots.len());
//! # Ok(()) }
//! ```

use std::time::Duration;

use etf::{Atom, Pid, Term};
use node::Node;
use otp::gen_server::ServerRef;
use serde::Serialize;

/// How deep a tree is followed.
const MAX_DEPTH: usize = 12;
/// How many entries a node's trees may hold in all.
const MAX_ENTRIES: usize = 5000;

/// One supervisor's child (or a tree's root).
#[derive(Clone, Debug, Serialize)]
pub struct Child {
    /// The child's id (for a root, the application's name).
    pub id: String,
    /// Its pid, `<0.N.S>`, or `undefined` / `restarting`.
    pub pid: String,
    /// `worker` or `supervisor`.
    pub kind: String,
    /// A supervisor's children.
    pub children: Vec<Child>,
}

/// The supervision trees of `target`: one root per application with a top supervisor.
pub async fn trees(node: &Node, target: &Atom, timeout: Duration) -> Vec<Child> {
    let mut roots = Vec::new();
    if let Term::List(apps) = node
        .rpc(
            target,
            "application",
            "which_applications",
            Vec::new(),
            timeout,
        )
        .await
    {
        for app in apps {
            let Term::Tuple(t) = app else { continue };
            let Some(Term::Atom(name)) = t.first() else {
                continue;
            };
            let master = node
                .rpc(
                    target,
                    "application_controller",
                    "get_master",
                    vec![Term::Atom(name.clone())],
                    timeout,
                )
                .await;
            let Term::Pid(master) = master else { continue };
            if let Term::Tuple(c) = node
                .rpc(
                    target,
                    "application_master",
                    "get_child",
                    vec![Term::Pid(master)],
                    timeout,
                )
                .await
            {
                if let Some(Term::Pid(sup)) = c.first() {
                    roots.push((name.to_string(), sup.clone()));
                }
            }
        }
    }
    if roots.is_empty() {
        if let Term::Pid(sup) = node
            .rpc(
                target,
                "erlang",
                "whereis",
                vec![Term::atom("kernel_sup")],
                timeout,
            )
            .await
        {
            roots.push(("kernel".to_owned(), sup));
        }
    }
    let mut budget = MAX_ENTRIES;
    let mut out = Vec::new();
    for (name, sup) in roots {
        let children = children(node, &sup, timeout, 0, &mut budget).await;
        out.push(Child {
            id: name,
            pid: pid_text(&sup),
            kind: "supervisor".to_owned(),
            children,
        });
    }
    out
}

async fn children(
    node: &Node,
    sup: &Pid,
    timeout: Duration,
    depth: usize,
    budget: &mut usize,
) -> Vec<Child> {
    if depth >= MAX_DEPTH || *budget == 0 {
        return Vec::new();
    }
    let to = sup.clone();
    let reply = node
        .in_process(move |mut ctx| async move {
            otp::gen_server::try_call_term(
                &mut ctx,
                ServerRef::Pid(to),
                Term::atom("which_children"),
                timeout,
            )
            .await
        })
        .await;
    let Some(Ok(Term::List(rows))) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for row in rows {
        let Term::Tuple(v) = row else { continue };
        let [id, child, kind, _modules] = v.as_slice() else {
            continue;
        };
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let kind = kind.as_atom().unwrap_or("worker").to_owned();
        let (pid, grandchildren) = match child {
            Term::Pid(p) if kind == "supervisor" => (
                pid_text(p),
                Box::pin(children(node, p, timeout, depth + 1, budget)).await,
            ),
            Term::Pid(p) => (pid_text(p), Vec::new()),
            other => (etf::text::write_limited(other, 40), Vec::new()),
        };
        out.push(Child {
            id: etf::text::write_limited(id, 80),
            pid,
            kind,
            children: grandchildren,
        });
    }
    out
}

fn pid_text(p: &Pid) -> String {
    format!("<0.{}.{}>", p.id, p.serial)
}
