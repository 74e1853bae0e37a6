//! Monitoring as the book has it, against the real things: the Grafana dashboards of
//! `deploy/grafana/` are dashboards Grafana 10/11 imports (a data source variable, a node
//! variable, every panel on it) whose every query Prometheus's own parser accepts (`promtool
//! check rules`, offline) with Grafana's variables put in; and three clustered Drip nodes are
//! scraped by a real Prometheus (Debian's), which finds them all up, holds samples of every
//! series the alert rules and the dashboards read, answers every dashboard query, and loads
//! the alert rules healthy. The series are checked against a live scrape of Drip too, so a
//! query naming a series Drip does not export fails here.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::monitoring::{
    alerts, base_rules, dashboards, exported, panel_queries, promtool_parses, series_read,
};

#[test]
fn the_dashboards_import_into_grafana_and_every_query_parses() {
    let all = dashboards();
    let files: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, ["drip.json", "rotp-node.json"]);
    let source = serde_json::json!({ "type": "prometheus", "uid": "${datasource}" });
    for (file, d) in &all {
        // What Grafana's import reads: a uid, a title, a schema version of Grafana 10/11.
        assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}");
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "{file}");
        let schema = d["schemaVersion"].as_i64().expect("a schemaVersion");
        assert!(
            (36..=41).contains(&schema),
            "{file}: schemaVersion {schema}"
        );
        // The data source is chosen on import (a `datasource` variable of Prometheus data
        // sources); the nodes shown are chosen with `instance`.
        let vars = d["templating"]["list"].as_array().expect("variables");
        let var = |name: &str| {
            vars.iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {name} variable"))
        };
        assert_eq!(var("datasource")["type"], "datasource", "{file}");
        assert_eq!(var("datasource")["query"], "prometheus", "{file}");
        assert_eq!(var("instance")["datasource"], source, "{file}");
        let mut ids = BTreeSet::new();
        for panel in d["panels"].as_array().expect("panels") {
            assert!(
                ids.insert(panel["id"].as_i64().expect("an id")),
                "{file}: ids repeat"
            );
            assert!(panel["gridPos"]["w"].as_i64().is_some(), "{file}: {panel}");
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(panel["datasource"], source, "{file}: {}", panel["title"]);
            let targets = panel["targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{file}: {} queries nothing",
                panel["title"]
            );
            for t in targets {
                assert_eq!(t["datasource"], source, "{file}: {}", panel["title"]);
                assert!(t["refId"].as_str().is_some(), "{file}: {}", panel["title"]);
            }
        }
        let queries = panel_queries(d);
        promtool_parses(file, &queries).unwrap_or_else(|e| panic!("{file}:\n{e}"));
        for (title, expr) in &queries {
            let names = series_read(expr).unwrap_or_else(|e| panic!("{file}: {title}: {e}"));
            assert!(!names.is_empty(), "{file}: {title} reads no series");
        }
        println!("{file}: {} queries parse", queries.len());
    }
    // The check does refuse a query Prometheus would not run.
    let broken = [("broken".to_owned(), "sum(rate(up[1m])".to_owned())];
    assert!(promtool_parses("broken", &broken).is_err());
}

/// Every series name the alert rules and the dashboards read, with where each is read.
fn series_wanted() -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (alert, expr) in alerts(&base_rules()) {
        for name in series_read(&expr).unwrap_or_else(|e| panic!("{alert}: {e}")) {
            wanted.push((name, alert.clone()));
        }
    }
    for (file, d) in dashboards() {
        for (title, expr) in panel_queries(&d) {
            for name in series_read(&expr).unwrap_or_else(|e| panic!("{title}: {e}")) {
                wanted.push((name, format!("{file}: {title}")));
            }
        }
    }
    wanted
}

/// Series only a node that answered a download request has (the others have the family,
/// without samples).
const AFTER_A_DOWNLOAD: [&str; 1] = ["drip_cache_lookups_total"];

/// Three Drip nodes on hosts of the multi-host test bed (`harness::bed`), each serving
/// /metrics on a listener of its own as the pods do, scraped by a real Prometheus on the
/// bed's client host.
#[test]
fn three_clustered_nodes_of_the_bed_scraped_by_a_real_prometheus() {
    let cluster = support::bed::Cluster::new("monitoring");
    let (hosts, names, list) = cluster.listed_hosts(3);
    let root = cluster.scratch.clone();
    let mut nodes = Vec::new();
    let mut targets: Vec<SocketAddr> = Vec::new();
    for h in &hosts {
        let metrics = SocketAddr::from((h.address, 9568));
        let metrics_arg = metrics.to_string();
        nodes.push(cluster.start(h, &[&list], &["--metrics", metrics_arg.as_str()]));
        targets.push(metrics);
    }
    let on_client = |f: &(dyn Fn() -> String + Sync)| cluster.client.run(f);
    let scrape_of = |addr: SocketAddr| {
        on_client(&|| {
            let (status, _, body) = harness::http::request_at(addr, "GET", "/metrics", &[], b"");
            assert!(status.contains("200"), "{addr}: {status}");
            String::from_utf8_lossy(&body).into_owned()
        })
    };
    // Each is connected to the other two (its scrape has their traffic).
    for (node, addr) in nodes.iter().zip(&targets) {
        harness::wait_until(
            &format!("{} to be connected to both others", node.name),
            Duration::from_secs(60),
            || {
                let scrape = scrape_of(*addr);
                names
                    .iter()
                    .filter(|n| **n != node.name)
                    .all(|n| scrape.contains(&format!("erlang_vm_dist_send_bytes{{peer=\"{n}\"}}")))
            },
        );
    }
    // One download request through the first node: its cache lookups get a sample.
    let client = support::bed::Client {
        host: &cluster.client,
    };
    let a = nodes[0].http();
    let token = client.account(a, "mona");
    let (status, body) = client.upload(a, &token, "m.bin", &support::bytes(10_000, 7));
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    let (status, _) = client.request(
        a,
        "POST",
        &format!("/api/files/{id}/download"),
        Some(&token),
        b"",
    );
    assert!(status.contains("202"), "{status}");
    // The upload's bytes count in its pipeline's throughput once its task is done.
    harness::wait_until(
        "the upload's bytes counted",
        Duration::from_secs(30),
        || scrape_of(targets[0]).contains("drip_pipeline_bytes_total{pipeline=\"upload\"} 10000\n"),
    );

    // Every series the rules and dashboards read is in a live scrape (`up` is Prometheus's).
    let wanted = series_wanted();
    // (Waited for at most 30 s, then what is missing is named.)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    harness::wait_until(
        "the first node's scrape to have every series read",
        Duration::from_secs(31),
        || {
            let have = exported(&scrape_of(targets[0]));
            std::time::Instant::now() > deadline
                || wanted
                    .iter()
                    .all(|(name, _)| name == "up" || have.contains(name))
        },
    );
    let have = exported(&scrape_of(targets[0]));
    for (name, by) in &wanted {
        assert!(
            name == "up" || have.contains(name),
            "{by}: Drip exports no {name}"
        );
    }

    // A real Prometheus scrapes the three every second, with the alert rules loaded.
    let rules_file = root.join("drip.rules.yml");
    std::fs::write(&rules_file, base_rules().to_string()).expect("written");
    // The job named as the ServiceMonitor's is, so DripNodeDown reads these targets.
    let mut options = harness::prometheus::Options::new(&targets, &[rules_file]);
    options.job = "drip-headless".into();
    options.listen = SocketAddr::from((cluster.client.address, 9090));
    options.wrapper = ["ip", "netns", "exec", cluster.client.netns.as_str()]
        .map(str::to_owned)
        .to_vec();
    // Its API is asked from the client host, where it runs.
    let prometheus = cluster
        .client
        .run(|| harness::prometheus::Prometheus::start_with(options));
    let prometheus = OnHost {
        prometheus,
        host: &cluster.client,
    };
    prometheus.wait_up(Duration::from_secs(60));

    // Every series read has samples: from every node, or (the cache's) from the node asked.
    let distinct: BTreeSet<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
    for name in &distinct {
        let want = if AFTER_A_DOWNLOAD.contains(name) {
            1
        } else {
            3
        };
        harness::wait_until(
            &format!("samples of {name} from {want} node(s)"),
            Duration::from_secs(30),
            || {
                prometheus
                    .query(&format!("count by (instance) ({{__name__=\"{name}\"}})"))
                    .is_ok_and(|r| r.len() >= want)
            },
        );
    }
    // Every dashboard query runs.
    for (file, d) in dashboards() {
        for (title, expr) in panel_queries(&d) {
            if let Err(e) = prometheus.query(&expr) {
                panic!("{file}: {title}: {expr}: {e}");
            }
        }
    }
    // The alert rules loaded, each evaluated without error.
    let expected: BTreeSet<String> = alerts(&base_rules()).into_iter().map(|(a, _)| a).collect();
    let loaded = harness::wait_until(
        "every alert rule evaluated",
        Duration::from_secs(30),
        || {
            let groups = prometheus.rules().ok()?;
            let rules: Vec<Value> = groups
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            rules
                .iter()
                .all(|r| r["health"] != "unknown")
                .then_some(rules)
        },
    );
    let names: BTreeSet<String> = loaded
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, expected);
    for r in &loaded {
        assert_eq!(r["health"], "ok", "{}: {}", r["name"], r["lastError"]);
    }
    // All three up and the cluster whole: the two rules about it are quiet.
    let firing = prometheus
        .query("ALERTS{alertstate=\"firing\"}")
        .expect("ALERTS");
    assert!(
        !firing
            .iter()
            .any(|a| a["metric"]["alertname"] == "DripNodeDown"
                || a["metric"]["alertname"] == "DripClusterSmaller"),
        "{firing:?}"
    );
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&root);
}

/// A Prometheus on a bed host, its API asked from there.
struct OnHost<'a> {
    prometheus: harness::prometheus::Prometheus,
    host: &'a harness::bed::Host,
}

impl OnHost<'_> {
    fn wait_up(&self, within: Duration) {
        self.host.run(|| self.prometheus.wait_up(within));
    }

    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        self.host.run(|| self.prometheus.query(expr))
    }

    fn rules(&self) -> Result<Vec<Value>, String> {
        self.host.run(|| self.prometheus.rules())
    }
}
