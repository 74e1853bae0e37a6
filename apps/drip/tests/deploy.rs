//! The Kubernetes manifests (`deploy/kubernetes/`), offline: every kustomization rendered by
//! kustomize and validated strictly by kubernetes-validate against Kubernetes 1.33 (the
//! Prometheus Operator's two kinds listed as skipped: no schema of theirs ships with it), and
//! the manifests agreeing with the binary: every setting they give is one `drip --help`
//! names, every port they open is one those settings make Drip listen on, and a Drip started
//! with their settings answers their probes; the PrometheusRule's alerts pass `promtool check
//! rules` and fire as `deploy/prometheus/rules_test.yml` says, on series Drip exports. The
//! checkers are pinned; `./test --setup` installs them (under `target/test-tools`; promtool
//! from Debian's prometheus).

mod support;

use support::monitoring::{documents, exported, render, root, rules, scrape, series_read, tool};

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const KUSTOMIZATIONS: [&str; 4] = [
    "base",
    "statefulset",
    "overlays/staging",
    "overlays/production",
];

/// The kinds kubernetes-validate has no schema for, and says it skipped.
const SKIPPED: [&str; 2] = ["PrometheusRule", "ServiceMonitor"];

/// kubernetes-validate --strict on `yaml`: whether it passed, and what it said.
fn validate(name: &str, yaml: &str) -> (bool, String) {
    let file = std::env::temp_dir().join(format!(
        "drip-manifests-{}-{}.yaml",
        name.replace('/', "-"),
        std::process::id()
    ));
    std::fs::write(&file, yaml).expect("written");
    let out = Command::new(tool("kubernetes-validate/bin/kubernetes-validate"))
        .args(["--strict", "--quiet", "--kubernetes-version", "1.33.0"])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let _ = std::fs::remove_file(&file);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn every_kustomization_renders_and_validates_against_kubernetes_1_33() {
    for k in KUSTOMIZATIONS {
        let yaml = render(k);
        let (ok, said) = validate(k, &yaml);
        assert!(ok, "{k}:\n{said}");
        // Only the Prometheus Operator's kinds go unchecked, and it says so.
        for line in said.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                SKIPPED
                    .iter()
                    .any(|kind| line.contains(&format!("schema for kind {kind} "))),
                "{k}: {line}"
            );
        }
        println!("{k}: valid; skipped (no schema): {}", SKIPPED.join(", "));
    }
    // The validator does refuse what is wrong: a misspelt field.
    let wrong = render("base").replacen("replicas: 3", "replicaz: 3", 1);
    let (ok, said) = validate("wrong", &wrong);
    assert!(!ok, "a misspelt field passed:\n{said}");
}

/// The workloads' settings: the ConfigMap's, then each container's own `env` (names only
/// for those from Secrets), and their `args`.
struct Settings {
    env: Vec<(String, Option<String>)>,
    args: Vec<String>,
    ports: BTreeSet<i64>,
    probes: BTreeSet<String>,
}

fn settings(docs: &[Value]) -> Settings {
    let mut s = Settings {
        env: Vec::new(),
        args: Vec::new(),
        ports: BTreeSet::new(),
        probes: BTreeSet::new(),
    };
    for doc in docs {
        if doc["kind"] == "ConfigMap" {
            if let Some(data) = doc["data"].as_object() {
                for (k, v) in data {
                    s.env.push((k.clone(), v.as_str().map(str::to_owned)));
                }
            }
        }
        let pod = match doc["kind"].as_str() {
            Some("Deployment" | "StatefulSet" | "Job") => &doc["spec"]["template"]["spec"],
            _ => continue,
        };
        for c in pod["containers"].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                let name = e["name"].as_str().expect("a name").to_owned();
                s.env.push((name, e["value"].as_str().map(str::to_owned)));
            }
            for a in c["args"].as_array().into_iter().flatten() {
                s.args.push(a.as_str().expect("text").to_owned());
            }
            for p in c["ports"].as_array().into_iter().flatten() {
                s.ports.insert(p["containerPort"].as_i64().expect("a port"));
            }
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                if let Some(path) = c[probe]["httpGet"]["path"].as_str() {
                    s.probes.insert(path.to_owned());
                }
            }
        }
    }
    s
}

#[test]
fn the_manifests_name_only_what_drip_has_and_drip_serves_their_probes() {
    let help = Command::new(env!("CARGO_BIN_EXE_drip"))
        .arg("--help")
        .output()
        .expect("drip --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let subcommands = [
        "start", "migrate", "remote", "rpc", "stop", "pid", "version",
    ];
    for k in KUSTOMIZATIONS {
        let s = settings(&documents(&render(k)));
        for (name, _) in &s.env {
            // Drip's own settings; the pod's own facts; what object_store and the node read.
            // clap writes `[env: NAME=]`, or `[env: NAME]` for a secret's.
            let known = help.contains(&format!("[env: {name}="))
                || help.contains(&format!("[env: {name}]"))
                || (name == "RELEASE_COOKIE" && help.contains("the RELEASE_COOKIE variable"))
                || matches!(name.as_str(), "POD_IP" | "POD_NAME")
                || name.starts_with("AWS_");
            assert!(known, "{k}: {name} is not a setting drip --help names");
        }
        for a in &s.args {
            let known = if let Some(flag) = a.strip_prefix("--") {
                help.contains(&format!("--{} ", flag.split('=').next().unwrap_or(flag)))
            } else {
                subcommands.contains(&a.as_str())
            };
            assert!(known, "{k}: the argument {a} is not drip's");
        }
        let value = |name: &str| {
            s.env
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k}: {name} is not set"))
        };
        let port_of = |addr: String| -> i64 {
            addr.rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("ADDR:PORT")
        };
        let listened: BTreeSet<i64> = [
            port_of(value("DRIP_HTTP")),
            port_of(value("DRIP_METRICS")),
            value("DRIP_INET_DIST_LISTEN_MIN").parse().expect("a port"),
            4369,
        ]
        .into();
        assert_eq!(
            s.ports, listened,
            "{k}: the ports opened are those Drip listens on"
        );
        assert_eq!(
            s.probes,
            ["/health/live", "/health/ready"].map(String::from).into(),
            "{k}"
        );
    }

    // A Drip given the base's settings (its paths and storage made local, its name an
    // address) starts and answers the probes.
    let docs = documents(&render("base"));
    let s = settings(&docs);
    let data = support::scratch("manifests");
    let (http, metrics, dist, epmd) = (
        harness::free_port(),
        harness::free_port(),
        harness::free_port(),
        harness::free_port(),
    );
    let mut env: Vec<(String, String)> = s
        .env
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .filter(|(k, _)| k.starts_with("DRIP_") || k.starts_with("RELEASE_"))
        .collect();
    let local = [
        ("DRIP_HTTP", format!("127.0.0.1:{http}")),
        ("DRIP_METRICS", format!("127.0.0.1:{metrics}")),
        ("DRIP_DATA", data.display().to_string()),
        ("DRIP_KEYS", data.join("keys").display().to_string()),
        (
            "DRIP_STORAGE",
            format!("file://{}", data.join("objects").display()),
        ),
        ("DRIP_MIGRATE", "true".into()),
        ("DRIP_INET_DIST_LISTEN_MIN", dist.to_string()),
        ("DRIP_INET_DIST_LISTEN_MAX", dist.to_string()),
        ("RELEASE_NODE", "drip_manifests@127.0.0.1".into()),
        ("RELEASE_COOKIE", "manifestcookie".into()),
        ("ERL_EPMD_PORT", epmd.to_string()),
    ];
    for (k, v) in local {
        env.retain(|(n, _)| n != k);
        env.push((k.to_owned(), v));
    }
    let _drip = harness::Guard(
        Command::new(env!("CARGO_BIN_EXE_drip"))
            .envs(env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("drip starts"),
    );
    harness::wait_until("drip to answer", Duration::from_secs(60), || {
        harness::http::get(http, "/health/live").0.contains("200")
    });
    for probe in &s.probes {
        let (status, _, body) = harness::http::get(http, probe);
        assert!(status.contains("200"), "{probe}: {status} {body}");
    }
    let (status, _, body) = harness::http::get(metrics, "/metrics");
    assert!(
        status.contains("200") && body.contains("rotp_discovery"),
        "{status}"
    );
    // The distribution port is the one the settings fix.
    harness::wait_until(
        "the fixed distribution port",
        Duration::from_secs(10),
        || std::net::TcpStream::connect(("127.0.0.1", dist)).is_ok(),
    );
}

#[test]
fn the_alert_rules_check_and_fire_as_their_tests_say() {
    let rules = rules(&documents(&render("base")));
    let dir = std::env::temp_dir().join(format!("drip-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    std::fs::write(dir.join("drip.rules.yml"), rules.to_string()).expect("written");
    std::fs::copy(
        root().join("deploy/prometheus/rules_test.yml"),
        dir.join("rules_test.yml"),
    )
    .expect("copied");
    for args in [
        ["check", "rules", "drip.rules.yml"],
        ["test", "rules", "rules_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool must be installed (./test --setup installs Debian's prometheus)");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Every series the rules read is one Drip exports (`up` is Prometheus's own).
    // (Drip answered its start-up /health checks, so its request counters have samples.)
    let token = "rules-metrics-token";
    let d = support::drip(
        "rules",
        &["--discovery", "local-epmd", "--metrics-token", token],
    );
    let exported = exported(&scrape(d.http, token));
    for (alert, expr) in support::monitoring::alerts(&rules) {
        let names = series_read(&expr).unwrap_or_else(|e| panic!("{alert}: {e}"));
        assert!(!names.is_empty(), "{alert} reads nothing");
        for name in names.iter().filter(|n| n.as_str() != "up") {
            assert!(exported.contains(name), "{alert}: Drip exports no {name}");
        }
    }
}
