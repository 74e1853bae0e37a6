//! `rotp node --discovery kubernetes:…` (libcluster's Kubernetes strategy) against the
//! harness's Kubernetes API stand-in: real rotp nodes and a real erl node on 127.0.0.1 and a
//! real EPMD, the API over HTTPS with its own authority and a bearer token, in-cluster
//! configuration from `KUBERNETES_SERVICE_HOST`/`_PORT` and a service-account directory.
//!
//! All nodes share one address, and `mode=ip` names every pod `BASENAME@ADDRESS`, so each
//! node's spec selects the pods of one other node (`peer=NAME`) and names them with that
//! node's basename (as the DNS discovery test does).

mod support;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use harness::kubernetes::{ApiServer, Pod};
use support::*;

const COOKIE: &str = "k8scookie";
const DASHBOARD_TOKEN: &str = "k8s-metrics-token";
const NAMESPACE: &str = "drip";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WITHIN: Duration = Duration::from_secs(30);

/// A stand-in on `address` (port 0: any) requiring `token`.
fn api_server(address: &str, token: &str) -> ApiServer {
    ApiServer::start(
        TcpListener::bind(address).expect("a port for the API"),
        token,
    )
}

/// A fresh service-account directory for `tag`, written by `api`.
fn service_account(api: &ApiServer, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rotp-k8s-sa-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    api.write_service_account(&dir, NAMESPACE);
    dir
}

/// A pod of the node `NAME@127.0.0.1`, labelled `app=drip,peer=NAME`.
fn pod_of(name: &str) -> Pod {
    Pod::running(
        &format!("{name}-0"),
        NAMESPACE,
        &format!("app=drip,peer={name}"),
        LOCALHOST,
    )
}

/// `kubernetes:` finding `peer`'s pods through `api`, polling every 300 ms.
fn spec(peer: &str, api: &str, sa_dir: &Path) -> String {
    format!(
        "kubernetes:selector=app=drip,peer={peer},basename={peer},api={api},sa_dir={},interval=300",
        sa_dir.display()
    )
}

/// A running `rotp node`: its name, the dashboard's port and the file its console (standard
/// output and error) goes to.
struct RotpNode {
    name: String,
    dashboard: u16,
    log: PathBuf,
    _process: Guard,
}

impl RotpNode {
    /// `rotp node --name NAME@127.0.0.1` with `--discovery spec` (if any), the API `api`'s
    /// address in its environment, and a dashboard for its metrics.
    fn start(epmd: u16, name: &str, spec: Option<&str>, api: &ApiServer) -> RotpNode {
        let dashboard = free_port();
        let log = std::env::temp_dir().join(format!("rotp-k8s-{name}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_rotp"));
        command
            .args(["node", "--name", &format!("{name}@127.0.0.1")])
            .args(["--cookie", COOKIE])
            .args(["--dashboard", &format!("127.0.0.1:{dashboard}")])
            .args(["--dashboard-token", DASHBOARD_TOKEN])
            .env("ERL_EPMD_PORT", epmd.to_string())
            .envs(api.env())
            .env_remove("RELEASE_COOKIE")
            .env_remove("ROTP_DASHBOARD_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file again"))
            .stderr(file);
        if let Some(spec) = spec {
            command.args(["--discovery", spec]);
        }
        let node = RotpNode {
            name: format!("{name}@127.0.0.1"),
            dashboard,
            log,
            _process: Guard(command.spawn().expect("rotp node")),
        };
        wait_until(&format!("{name}'s dashboard"), WITHIN, || {
            node.metric("erlang_vm_process_count").is_some()
        });
        node
    }

    /// A sample of the node's `/metrics` (its first, for `name` with its labels).
    fn metric(&self, name: &str) -> Option<f64> {
        let (status, headers, body) = http::request(
            self.dashboard,
            "GET",
            "/metrics",
            &[("Authorization", &format!("Bearer {DASHBOARD_TOKEN}"))],
            "",
        );
        if !status.contains("200") {
            return None;
        }
        let body = http::unchunk(&headers, &body);
        body.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|v| v.trim().parse().ok())
    }

    /// `rotp_discovery_nodes{strategy="kubernetes"}`.
    fn discovered(&self) -> Option<f64> {
        self.metric(r#"rotp_discovery_nodes{strategy="kubernetes"}"#)
    }

    /// `rotp_discovery_errors_total{strategy="kubernetes"}`.
    fn errors(&self) -> f64 {
        self.metric(r#"rotp_discovery_errors_total{strategy="kubernetes"}"#)
            .unwrap_or(0.0)
    }

    /// What it has said.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RotpNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `erl -name NAME@127.0.0.1`, idle, on the EPMD at `epmd`.
fn erl_node(epmd: u16, name: &str) -> Guard {
    Guard(
        Command::new("erl")
            .args(["-name", &format!("{name}@127.0.0.1"), "-setcookie", COOKIE])
            .args(["-noshell", "-eval", "timer:sleep(infinity)."])
            .env("ERL_EPMD_PORT", epmd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("erl must be installed to run the interop tests"),
    )
}

fn rotp(epmd: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(args)
        .args(["--cookie", COOKIE])
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .output()
        .expect("rotp runs")
}

/// What `node`'s `erlang:nodes()` lists (asked with `rotp rpc`), or `None` while it does not
/// answer.
fn nodes_of(epmd: u16, node: &str) -> Option<String> {
    let out = rotp(epmd, &["rpc", node, "erlang", "nodes", "[]"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn connected(epmd: u16, node: &str, to: &str) -> bool {
    nodes_of(epmd, node).is_some_and(|n| n.contains(to))
}

#[test]
fn each_api_finds_its_peer_and_a_pod_added_later_is_connected() {
    let epmd = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd, &[]);
    let api = api_server("127.0.0.1:0", "token-one");
    let sa = service_account(&api, "apis");
    let _erl = erl_node(epmd, "kerl");
    wait_until("erl to register", WITHIN, || {
        rotp(epmd, &["ping", "kerl@127.0.0.1"]).status.success()
    });
    api.add_pod(pod_of("kslices"));
    api.add_pod(pod_of("kerl"));
    // Another Service's pod, in another namespace: neither is ever selected.
    api.add_pod(Pod::running("web-0", NAMESPACE, "app=web", LOCALHOST));
    api.add_pod(Pod::running(
        "kpods-0",
        "elsewhere",
        "app=drip,peer=kpods",
        LOCALHOST,
    ));
    // kendpoints finds kslices through Endpoints, kslices finds erl through EndpointSlices;
    // kpods looks for its own pods, which are not there yet.
    let kslices = RotpNode::start(
        epmd,
        "kslices",
        Some(&spec("kerl", "endpointslices", &sa)),
        &api,
    );
    let kendpoints = RotpNode::start(
        epmd,
        "kendpoints",
        Some(&spec("kslices", "endpoints", &sa)),
        &api,
    );
    let kpods = RotpNode::start(epmd, "kpods", None, &api);
    let watcher = RotpNode::start(epmd, "kwatch", Some(&spec("kpods", "pods", &sa)), &api);
    wait_until("erl to see kslices", WITHIN, || {
        connected(epmd, "kerl@127.0.0.1", &kslices.name)
    });
    wait_until("kslices to see kendpoints", WITHIN, || {
        connected(epmd, &kslices.name, &kendpoints.name)
    });
    assert_eq!(kslices.discovered(), Some(1.0));
    assert_eq!(kendpoints.discovered(), Some(1.0));
    // The watcher has asked for pods several times and found none.
    let asked = api.served("pods");
    wait_until("the watcher to ask again", WITHIN, || {
        api.served("pods") >= asked + 2
    });
    assert_eq!(watcher.discovered(), Some(0.0));
    assert_eq!(
        nodes_of(epmd, &watcher.name).as_deref().map(str::trim),
        Some("[]")
    );
    assert!(!connected(epmd, &kpods.name, &watcher.name));
    api.add_pod(pod_of("kpods"));
    wait_until("the watcher to connect to the pod added", WITHIN, || {
        connected(epmd, &kpods.name, &watcher.name)
    });
    assert_eq!(watcher.discovered(), Some(1.0));
    assert!(api.served("endpointslices") > 0 && api.served("endpoints") > 0);
    for node in [&kslices, &kendpoints, &watcher] {
        assert_eq!(node.errors(), 0.0, "{}: {}", node.name, node.log());
    }
    let _ = std::fs::remove_dir_all(sa);
}

#[test]
fn a_rotated_token_is_used_and_a_403_is_said_once_and_keeps_what_it_had() {
    let epmd = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd, &[]);
    // On IPv6: KUBERNETES_SERVICE_HOST=::1, which the URL writes in brackets.
    let api = api_server("[::1]:0", "token-one");
    let sa = service_account(&api, "rbac");
    let _erl = erl_node(epmd, "kerlrbac");
    wait_until("erl to register", WITHIN, || {
        rotp(epmd, &["ping", "kerlrbac@127.0.0.1"]).status.success()
    });
    api.add_pod(pod_of("kerlrbac"));
    let node = RotpNode::start(
        epmd,
        "krbac",
        Some(&spec("kerlrbac", "endpointslices", &sa)),
        &api,
    );
    wait_until("erl to see krbac", WITHIN, || {
        connected(epmd, "kerlrbac@127.0.0.1", &node.name)
    });
    assert!(api.served_with("token-one") > 0);

    // The kubelet writes a new token; the API takes only that one from now on.
    std::fs::write(sa.join("token"), "token-two").expect("token rotated");
    api.set_token("token-two");
    wait_until("lists served with the new token", WITHIN, || {
        api.served_with("token-two") >= 3
    });

    // The Role is gone: every list is forbidden.
    let errors = node.errors();
    api.forbid(true);
    wait_until("several polls forbidden", WITHIN, || {
        node.errors() >= errors + 4.0
    });
    let log = node.log();
    let forbidden: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("403 Forbidden"))
        .collect();
    assert_eq!(forbidden.len(), 1, "said once: {log}");
    assert!(
        forbidden[0].contains(
            "grant get/list on endpointslices.discovery.k8s.io in namespace drip to this \
             pod's service account"
        ),
        "{log}"
    );
    assert!(forbidden[0].contains("is forbidden: User"), "{log}");
    // What it had, it keeps.
    assert_eq!(node.discovered(), Some(1.0));
    assert!(connected(epmd, "kerlrbac@127.0.0.1", &node.name));

    api.forbid(false);
    wait_until("the API to answer again", WITHIN, || {
        node.log().contains("discovery kubernetes answers again")
    });
    let _ = std::fs::remove_dir_all(sa);
}

#[test]
fn an_api_whose_certificate_the_ca_did_not_sign_is_refused() {
    let epmd = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd, &[]);
    let api = api_server("127.0.0.1:0", "token-one");
    let sa = service_account(&api, "tls");
    // Another authority's certificate in ca.crt.
    let other = api_server("127.0.0.1:0", "token-one");
    std::fs::write(sa.join("ca.crt"), other.ca_pem()).expect("ca.crt replaced");
    let _erl = erl_node(epmd, "kerltls");
    api.add_pod(pod_of("kerltls"));
    let node = RotpNode::start(
        epmd,
        "ktls",
        Some(&spec("kerltls", "endpointslices", &sa)),
        &api,
    );
    wait_until("polls to fail", WITHIN, || node.errors() >= 3.0);
    let log = node.log();
    let tls: Vec<&str> = log.lines().filter(|l| l.contains("TLS")).collect();
    assert_eq!(tls.len(), 1, "said once: {log}");
    assert!(tls[0].contains("discovery kubernetes failed"), "{log}");
    assert_eq!(node.discovered(), Some(0.0));
    assert_eq!(api.served("endpointslices"), 0);
    assert_eq!(
        nodes_of(epmd, &node.name).as_deref().map(str::trim),
        Some("[]")
    );
    let _ = std::fs::remove_dir_all(sa);
}
